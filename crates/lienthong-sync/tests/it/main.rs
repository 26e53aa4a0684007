//! The polling pipeline against real databases: SQLite → SQLite, PostgreSQL → PostgreSQL,
//! MariaDB → SQLite. Resumes from its checkpoint, quarantines invalid rows with reasons,
//! never applies a change twice, picks up updates.

use lienthong_dictionary::catalog::CITIZEN;
use lienthong_sync::{Pipeline, PipelineConfig};
use sqlx::Row;

fn url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set under CI=true")
        }
        _ => {
            eprintln!("skipping: {var} is not set (run the tests through scripts/test.sh)");
            None
        }
    }
}

async fn exec(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

fn row(pid: &str, name: &str, updated_at: &str) -> String {
    format!("('{pid}', '{name}', '1990-03-25', '1', '01', '00004', '{updated_at}')")
}

async fn insert(url: &str, table: &str, rows: &[String]) {
    exec(url, &format!("INSERT INTO {table} (personal_id, full_name, birth_date, sex, province_code, commune_code, updated_at) VALUES {}", rows.join(", "))).await;
}

async fn contract(source: &str, replica: &str) {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let (src_table, rep_table) = (format!("src_{suffix}"), format!("rep_{suffix}"));
    let text = if source.starts_with("mysql") {
        "VARCHAR(255)"
    } else {
        "TEXT"
    };
    let cols: Vec<String> = CITIZEN
        .fields
        .iter()
        .map(|f| format!("{} {text}", f.name))
        .collect();
    exec(
        source,
        &format!("CREATE TABLE {src_table} ({})", cols.join(", ")),
    )
    .await;
    insert(
        source,
        &src_table,
        &[
            row("001090000001", "NGUYỄN VĂN AN", "2025-08-01T10:00:00+07:00"),
            row("001090000002", "Lê Thị Bình", "2025-08-01T10:00:00+07:00"),
            row("12345", "Invalid Id", "2025-08-01T11:00:00+07:00"),
            row(
                "001090000003",
                "Phạm Văn Cường",
                "2025-08-01T12:00:00+07:00",
            ),
        ],
    )
    .await;
    let config = PipelineConfig {
        name: format!("citizen-{suffix}"),
        dataset: &CITIZEN,
        source_url: source.into(),
        source_table: src_table.clone(),
        updated_at_column: "updated_at".into(),
        replica_url: replica.into(),
        replica_table: rep_table.clone(),
        batch_rows_max: 2,
    };
    let p = Pipeline::open(config.clone(), "2026-11-23".into())
        .await
        .unwrap();
    let status = p.status().await.unwrap();
    assert_eq!((status.rows_applied, status.lag_rows), (0, Some(4)));
    let first = p.step().await.unwrap();
    assert_eq!(first.applied, 2, "batches are bounded");
    let total = p.catch_up().await.unwrap();
    assert_eq!((total.applied, total.quarantined), (1, 1));
    let status = p.status().await.unwrap();
    assert_eq!(
        (status.rows_applied, status.quarantined, status.lag_rows),
        (3, 1, Some(0))
    );

    // Normalised in the replica; the invalid row waits in quarantine with its reason.
    let rpool = sqlx::AnyPool::connect(replica).await.unwrap();
    let name: String = sqlx::query(&format!(
        "SELECT full_name FROM {rep_table} WHERE personal_id = '001090000001'"
    ))
    .fetch_one(&rpool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(name, "Nguyễn Văn An");
    let reasons: String = sqlx::query(
        "SELECT reasons FROM lt_sync_quarantine WHERE pipeline = $1"
            .replace(
                "$1",
                if replica.starts_with("postgres") {
                    "$1"
                } else {
                    "?"
                },
            )
            .as_str(),
    )
    .bind(config.name.clone())
    .fetch_one(&rpool)
    .await
    .unwrap()
    .get(0);
    assert!(reasons.contains("id.length"), "{reasons}");

    // A schema change on the source (an added column) does not stop the pipeline.
    exec(
        source,
        &format!("ALTER TABLE {src_table} ADD COLUMN extra_note {text}"),
    )
    .await;
    assert_eq!(p.step().await.unwrap().applied, 0);
    // A restart resumes from the checkpoint: only new and updated rows are applied.
    drop(p);
    insert(
        source,
        &src_table,
        &[row(
            "001090000004",
            "Đỗ Thị Dung",
            "2025-08-02T09:00:00+07:00",
        )],
    )
    .await;
    exec(source, &format!("UPDATE {src_table} SET full_name = 'Nguyễn Văn Ân', updated_at = '2025-08-02T10:00:00+07:00' WHERE personal_id = '001090000001'")).await;
    let p = Pipeline::open(config.clone(), "2026-11-23".into())
        .await
        .unwrap();
    let again = p.catch_up().await.unwrap();
    assert_eq!((again.applied, again.quarantined), (2, 0));
    let count: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {rep_table}"))
        .fetch_one(&rpool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        count, 4,
        "the update replaced its row: nothing applied twice"
    );
    let name: String = sqlx::query(&format!(
        "SELECT full_name FROM {rep_table} WHERE personal_id = '001090000001'"
    ))
    .fetch_one(&rpool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(name, "Nguyễn Văn Ân");
    assert_eq!(p.catch_up().await.unwrap().applied, 0, "caught up");
    rpool.close().await;
    exec(source, &format!("DROP TABLE {src_table}")).await;
    exec(replica, &format!("DROP TABLE {rep_table}")).await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("agency.db").display()
    );
    let rep = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("center.db").display()
    );
    contract(&src, &rep).await;
}

#[tokio::test]
async fn postgres_to_postgres() {
    if let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") {
        contract(&pg, &pg).await;
    }
}

#[tokio::test]
async fn mariadb_to_sqlite() {
    if let Some(maria) = url("LIENTHONG_TEST_MARIADB_URL") {
        let dir = tempfile::tempdir().unwrap();
        contract(
            &maria,
            &format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("center.db").display()
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let config = PipelineConfig {
        name: "x".into(),
        dataset: &CITIZEN,
        source_url: src.clone(),
        source_table: "no_such_table".into(),
        updated_at_column: "updated_at".into(),
        replica_url: src.clone(),
        replica_table: "rep".into(),
        batch_rows_max: 10,
    };
    assert!(Pipeline::open(config.clone(), String::new()).await.is_err());
    let bad = PipelineConfig {
        source_table: "a; DROP TABLE b".into(),
        ..config.clone()
    };
    assert!(Pipeline::open(bad, String::new())
        .await
        .err()
        .unwrap()
        .to_string()
        .contains("letters, digits"));
    let bad = PipelineConfig {
        source_url: "oracle://x".into(),
        ..config
    };
    assert!(Pipeline::open(bad, String::new()).await.is_err());
}
