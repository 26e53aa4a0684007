//! One contract suite for the table service, run against SQLite and the real PostgreSQL and
//! MariaDB on this machine (`LIENTHONG_TEST_POSTGRES_URL`, `LIENTHONG_TEST_MARIADB_URL`).
//! Without a URL the suite says so and skips locally; under `CI=true` it fails.

use lienthong_gateway::backend::{TableConfig, TableService};
use lienthong_gateway::error::GatewayError;

use crate::harness::PID;

fn url(var: &str) -> Option<String> {
    lienthong_testkit::service(var)
}

async fn create_table(url: &str, table: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url.replacen("mariadb:", "mysql:", 1))
        .await
        .unwrap();
    let text = if url.starts_with("mysql") || url.starts_with("mariadb") {
        "VARCHAR(255)"
    } else {
        "TEXT"
    };
    let cols: Vec<String> = lienthong_dictionary::catalog::CITIZEN
        .fields
        .iter()
        .map(|f| format!("{} {text}", f.name))
        .collect();
    sqlx::query(&format!("CREATE TABLE {table} ({})", cols.join(", ")))
        .execute(&pool)
        .await
        .unwrap();
    for (i, pid) in [PID, "001190123457", "001090123459"].iter().enumerate() {
        sqlx::query(&format!("INSERT INTO {table} (personal_id, full_name, birth_date, sex, province_code, commune_code) VALUES ('{pid}', 'Lê Văn {i}', '19900325', '1', '01', '00004')"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

async fn drop_table(url: &str, table: &str) {
    let pool = sqlx::AnyPool::connect(&url.replacen("mariadb:", "mysql:", 1))
        .await
        .unwrap();
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn contract(url: &str) {
    let table = format!("citizen_{}", uuid::Uuid::new_v4().simple());
    create_table(url, &table).await;
    let config = TableConfig {
        code: "citizen".into(),
        dataset: &lienthong_dictionary::catalog::CITIZEN,
        database_url: url.into(),
        table: table.clone(),
        filters: vec!["province_code".into()],
        columns: Default::default(),
        connections_max: 2,
        changes: false,
    };
    let service = TableService::connect(config.clone()).await.unwrap();
    let row = service.get(PID).await.unwrap();
    let get = |f: &str| {
        row.iter()
            .find(|(k, _)| *k == f)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        get("birth_date"),
        "1990-03-25",
        "normalised by the dictionary"
    );
    assert_eq!(get("full_name"), "Lê Văn 0");
    assert!(matches!(
        service.get("nobody").await,
        Err(GatewayError::NotFound)
    ));
    assert!(
        matches!(
            service.get("' OR '1'='1").await,
            Err(GatewayError::NotFound)
        ),
        "values are bound, never spliced"
    );
    let (page, next) = service
        .query(&[("province_code".into(), "01".into())], 2, None)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let (rest, end) = service
        .query(&[("province_code".into(), "01".into())], 2, next.as_deref())
        .await
        .unwrap();
    assert_eq!((rest.len(), end), (1, None));
    assert!(service
        .query(&[("full_name".into(), "x".into())], 2, None)
        .await
        .is_err());
    let missing = TableService::connect(TableConfig {
        table: "no_such_table".into(),
        ..config.clone()
    })
    .await;
    assert!(missing.is_err());
    let bad_name = TableService::connect(TableConfig {
        table: "x; DROP TABLE y".into(),
        ..config.clone()
    })
    .await;
    assert!(bad_name.err().unwrap().contains("table name"));
    drop_table(url, &table).await;
    missing_columns_refused(url, &config).await;
    mapped_columns(url, &config).await;
}

async fn exec(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url.replacen("mariadb:", "mysql:", 1))
        .await
        .unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

fn text_type(url: &str) -> &'static str {
    if url.starts_with("mysql") || url.starts_with("mariadb") {
        "VARCHAR(255)"
    } else {
        "TEXT"
    }
}

/// A table lacking some of the dataset's columns is refused at start, naming them: SQLite
/// would otherwise read `"email"` as the string 'email' and publish it as a value.
async fn missing_columns_refused(url: &str, config: &TableConfig) {
    let table = format!("partial_{}", uuid::Uuid::new_v4().simple());
    let lacking = ["religion", "nationality", "email", "updated_at"];
    let cols: Vec<String> = lienthong_dictionary::catalog::CITIZEN
        .fields
        .iter()
        .filter(|f| !lacking.contains(&f.name))
        .map(|f| format!("{} {}", f.name, text_type(url)))
        .collect();
    exec(url, &format!("CREATE TABLE {table} ({})", cols.join(", "))).await;
    exec(url, &format!("INSERT INTO {table} (personal_id, full_name, birth_date, sex, province_code, commune_code) VALUES ('{PID}', 'Lê Văn An', '1990-03-25', '1', '01', '00004')")).await;
    let err = TableService::connect(TableConfig {
        table: table.clone(),
        ..config.clone()
    })
    .await
    .err()
    .expect("a table without the dataset's columns must be refused");
    for c in lacking {
        assert!(err.contains(c), "{c} named in: {err}");
    }
    assert!(!err.contains("full_name"), "{err}");
    exec(url, &format!("DROP TABLE {table}")).await;
}

/// An agency's own column names, mapped to the dataset's fields.
async fn mapped_columns(url: &str, config: &TableConfig) {
    let table = format!("congdan_{}", uuid::Uuid::new_v4().simple());
    let rename = |f: &str| match f {
        "personal_id" => "so_dinh_danh".to_owned(),
        "full_name" => "ho_ten".to_owned(),
        "province_code" => "ma_tinh".to_owned(),
        other => other.to_owned(),
    };
    let cols: Vec<String> = lienthong_dictionary::catalog::CITIZEN
        .fields
        .iter()
        .map(|f| format!("{} {}", rename(f.name), text_type(url)))
        .collect();
    exec(url, &format!("CREATE TABLE {table} ({})", cols.join(", "))).await;
    exec(url, &format!("INSERT INTO {table} (so_dinh_danh, ho_ten, birth_date, sex, ma_tinh, commune_code) VALUES ('{PID}', 'Lê Văn An', '19900325', '1', '01', '00004')")).await;
    let unmapped = TableService::connect(TableConfig {
        table: table.clone(),
        ..config.clone()
    })
    .await
    .err()
    .unwrap();
    assert!(
        unmapped.contains("personal_id") && unmapped.contains("columns"),
        "{unmapped}"
    );
    let columns = [
        ("personal_id", "so_dinh_danh"),
        ("full_name", "ho_ten"),
        ("province_code", "ma_tinh"),
    ]
    .into_iter()
    .map(|(f, c)| (f.to_owned(), c.to_owned()))
    .collect();
    let service = TableService::connect(TableConfig {
        table: table.clone(),
        columns,
        ..config.clone()
    })
    .await
    .unwrap();
    let row = service.get(PID).await.unwrap();
    assert!(
        row.contains(&("full_name", "Lê Văn An".to_owned())),
        "{row:?}"
    );
    assert!(
        row.contains(&("birth_date", "1990-03-25".to_owned())),
        "{row:?}"
    );
    let (page, _) = service
        .query(&[("province_code".into(), "01".into())], 10, None)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let bad = TableService::connect(TableConfig {
        table: table.clone(),
        columns: [("no_field".to_owned(), "x".to_owned())]
            .into_iter()
            .collect(),
        ..config.clone()
    })
    .await
    .err()
    .unwrap();
    assert!(bad.contains("not a field of dataset"), "{bad}");
    exec(url, &format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn table_contract_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    contract(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.db").display()
    ))
    .await;
}

#[tokio::test]
async fn table_contract_postgres() {
    if let Some(url) = url("LIENTHONG_TEST_POSTGRES_URL") {
        contract(&url).await;
    }
}

#[tokio::test]
async fn table_contract_mariadb() {
    if let Some(url) = url("LIENTHONG_TEST_MARIADB_URL") {
        contract(&url).await;
    }
}
