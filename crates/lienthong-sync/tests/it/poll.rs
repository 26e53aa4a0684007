//! Polling by `(updated_at, key)`: SQLite → SQLite, PostgreSQL → PostgreSQL, MariaDB →
//! SQLite.

use lienthong_dictionary::catalog::CITIZEN;
use lienthong_sync::{Pipeline, PipelineConfig, Replica, SourceConfig, SyncError};

use super::*;

async fn contract(source: &str, replica: &str) {
    let s = suffix();
    let (src_table, rep_table) = (format!("src_{s}"), format!("rep_{s}"));
    let mysql = source.starts_with("mysql");
    exec(source, &citizen_table(&src_table, mysql)).await;
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
    let mut cfg = config(
        &format!("citizen-{s}"),
        SourceConfig::Poll {
            url: source.into(),
            table: src_table.clone(),
            updated_at_column: "updated_at".into(),
        },
        replica,
        &rep_table,
    );
    cfg.batch_rows_max = 2;
    let mut p = open(&cfg).await;
    let first = p.step(Duration::ZERO).await.unwrap();
    assert_eq!(first.applied, 2, "batches are bounded");
    let total = p.catch_up().await.unwrap();
    assert_eq!((total.applied, total.quarantined), (1, 1));
    let st = p.status().await.unwrap();
    assert_eq!((st.state.rows_applied, st.quarantined_open), (3, 1));
    assert_eq!(st.state.backlog, 0);

    // Normalised in the replica; the invalid row waits in quarantine with its reason.
    let got = names(replica, &rep_table).await;
    assert_eq!(got["001090000001"], "Nguyễn Văn An");
    assert_eq!(got.len(), 3);
    let reasons = quarantine(&p).await;
    assert!(reasons[0].contains("id.length"), "{reasons:?}");

    // A schema change on the source (an added column) does not stop the pipeline.
    exec(
        source,
        &format!(
            "ALTER TABLE {src_table} ADD COLUMN extra_note {}",
            if mysql { "VARCHAR(20)" } else { "TEXT" }
        ),
    )
    .await;
    assert_eq!(p.step(Duration::ZERO).await.unwrap().applied, 0);
    // A restart resumes from the position: only new and updated rows are applied.
    p.close().await;
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
    // Fix the invalid row at the source: its new version supersedes the quarantined one.
    exec(source, &format!("UPDATE {src_table} SET personal_id = '001090000005', updated_at = '2025-08-02T11:00:00+07:00' WHERE personal_id = '12345'")).await;
    let mut p = open(&cfg).await;
    let again = p.catch_up().await.unwrap();
    assert_eq!((again.applied, again.quarantined), (3, 0));
    let got = names(replica, &rep_table).await;
    assert_eq!(
        got.len(),
        5,
        "the update replaced its row: nothing applied twice"
    );
    assert_eq!(got["001090000001"], "Nguyễn Văn Ân");
    assert_eq!(p.catch_up().await.unwrap().applied, 0, "caught up");
    let st = p.status().await.unwrap();
    assert_eq!(st.state.rows_applied, 6);
    assert_eq!(
        st.quarantined_open, 1,
        "a fixed row under a new key leaves the old one open"
    );

    // An invalid update is quarantined and the replica keeps the key's last valid version;
    // a later valid version replaces it.
    exec(source, &format!("UPDATE {src_table} SET full_name = 'Sai Ngày Sinh', birth_date = '2990-01-01', updated_at = '2025-08-03T10:00:00+07:00' WHERE personal_id = '001090000002'")).await;
    let bad = p.catch_up().await.unwrap();
    assert_eq!((bad.applied, bad.quarantined), (0, 1));
    assert_eq!(
        names(replica, &rep_table).await["001090000002"],
        "Lê Thị Bình"
    );
    exec(source, &format!("UPDATE {src_table} SET full_name = 'Lê Thị Bính', birth_date = '1990-03-25', updated_at = '2025-08-03T11:00:00+07:00' WHERE personal_id = '001090000002'")).await;
    let good = p.catch_up().await.unwrap();
    assert_eq!((good.applied, good.quarantined), (1, 0));
    assert_eq!(
        names(replica, &rep_table).await["001090000002"],
        "Lê Thị Bính"
    );
    p.close().await;
    exec(source, &format!("DROP TABLE {src_table}")).await;
    exec(replica, &format!("DROP TABLE {rep_table}")).await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    contract(
        &sqlite(dir.path(), "agency.db"),
        &sqlite(dir.path(), "center.db"),
    )
    .await;
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
        contract(&maria, &sqlite(dir.path(), "center.db")).await;
    }
}

#[tokio::test]
async fn postgres_to_mariadb() {
    if let (Some(pg), Some(maria)) = (
        url("LIENTHONG_TEST_POSTGRES_URL"),
        url("LIENTHONG_TEST_MARIADB_URL"),
    ) {
        contract(&pg, &maria).await;
    }
}

#[tokio::test]
async fn bad_configuration_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let src = sqlite(dir.path(), "a.db");
    let poll = |table: &str, url: &str| SourceConfig::Poll {
        url: url.into(),
        table: table.into(),
        updated_at_column: "updated_at".into(),
    };
    let cfg = |source| PipelineConfig {
        name: "x".into(),
        dataset: &CITIZEN,
        source,
        replica_url: src.clone(),
        replica_table: "rep".into(),
        batch_rows_max: 10,
        jetstream: None,
        changelog: false,
    };
    let err = |c: PipelineConfig| async move {
        Pipeline::open(c, String::new())
            .await
            .err()
            .expect("refused")
            .to_string()
    };
    assert!(err(cfg(poll("no_such_table", &src)))
        .await
        .contains("no_such_table"));
    assert!(err(cfg(poll("a; DROP TABLE b", &src)))
        .await
        .contains("letters, digits"));
    assert!(err(cfg(poll("t", "oracle://x")))
        .await
        .contains("must start with"));
    let mut bad = cfg(poll("t", &src));
    bad.batch_rows_max = 0;
    assert!(err(bad).await.contains("batch_rows_max"));
    let files = SourceConfig::Files {
        dir: dir.path().join("missing"),
    };
    assert!(err(cfg(files)).await.contains("does not exist"));
}

/// Quarantine after a reset and a replay: a valid new version supersedes an open row even
/// when the counters start over; a row that validates now (a birth date that was in the
/// future on the day it arrived) is replayed into the replica and into its change log.
async fn replay_contract(source: &str, replica: &str) {
    let s = suffix();
    let (src_table, rep_table) = (format!("src_{s}"), format!("rep_{s}"));
    exec(source, &citizen_table(&src_table, false)).await;
    let dated = |pid: &str, birth: &str| {
        format!(
            "('{pid}', 'Trần Văn Hải', '{birth}', '1', '01', '00004', '2025-08-01T10:00:00+07:00')"
        )
    };
    insert(
        source,
        &src_table,
        &[
            dated("001090000001", "1990-03-25"),
            dated("001090000002", "2026-11-25"),
            dated("001090000003", "2026-11-25"),
            dated("12345", "1990-03-25"),
        ],
    )
    .await;
    let mut cfg = config(
        &format!("replay-{s}"),
        SourceConfig::Poll {
            url: source.into(),
            table: src_table.clone(),
            updated_at_column: "updated_at".into(),
        },
        replica,
        &rep_table,
    );
    cfg.changelog = true;
    let mut p = open(&cfg).await; // today = 2026-11-23
    let first = p.catch_up().await.unwrap();
    assert_eq!((first.applied, first.quarantined), (1, 3));
    let reasons = quarantine(&p).await;
    assert!(reasons[0].contains("date.future"), "{reasons:?}");

    // Reset: the counters start over, the open quarantine stays, and a valid new version
    // of a quarantined key still supersedes its row. (Refused while the pipeline runs.)
    let err = p.replica().reset(p.name()).await.unwrap_err().to_string();
    assert!(err.contains("stop it before resetting"), "{err}");
    p.close().await;
    Replica::open(replica)
        .await
        .unwrap()
        .reset(&cfg.name)
        .await
        .unwrap();
    // (Dated first, in a batch of its own: no quarantine counted yet when it commits.)
    exec(source, &format!("UPDATE {src_table} SET birth_date = '1990-01-02', updated_at = '2025-07-31T10:00:00+07:00' WHERE personal_id = '001090000003'")).await;
    cfg.batch_rows_max = 1;
    let mut p = open(&cfg).await;
    p.catch_up().await.unwrap();
    assert_eq!(
        p.state().rows_quarantined,
        2,
        "counted again after the reset"
    );
    assert_eq!(p.status().await.unwrap().quarantined_open, 2);
    p.close().await;

    // Days later the birth date is no longer in the future: replay applies it.
    let mut p = Pipeline::open(cfg.clone(), "2026-11-30".into())
        .await
        .unwrap();
    assert_eq!(p.replay_quarantine().await.unwrap(), (1, 1));
    assert_eq!(p.status().await.unwrap().quarantined_open, 1);
    let left = quarantine(&p).await;
    assert!(left[0].contains("id.length"), "the bad id stays: {left:?}");
    let got = names(replica, &rep_table).await;
    assert_eq!(got.len(), 3);
    assert!(got.contains_key("001090000002"));
    // Subscribers of the change log see the replayed record as a new change.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(replica).await.unwrap();
    let sql = format!(
        "SELECT op, record FROM lt_changes WHERE tbl = '{rep_table}' ORDER BY seq DESC LIMIT 1"
    );
    let last = sqlx::query(&sql).fetch_one(&pool).await.unwrap();
    let (op, record) = (text_at(&last, 0).unwrap(), text_at(&last, 1).unwrap());
    assert_eq!(op, "upsert");
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["personal_id"], "001090000002");
    assert_eq!(record["birth_date"], "2026-11-25");
    pool.close().await;
    // A second replay finds nothing more to do.
    assert_eq!(p.replay_quarantine().await.unwrap(), (0, 1));
    p.close().await;
    exec(source, &format!("DROP TABLE {src_table}")).await;
    exec(replica, &format!("DROP TABLE {rep_table}")).await;
}

#[tokio::test]
async fn replay_and_reset_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    replay_contract(
        &sqlite(dir.path(), "agency.db"),
        &sqlite(dir.path(), "center.db"),
    )
    .await;
}

#[tokio::test]
async fn replay_and_reset_postgres() {
    if let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") {
        replay_contract(&pg, &pg).await;
    }
}

#[tokio::test]
async fn replay_and_reset_mariadb() {
    if let Some(maria) = url("LIENTHONG_TEST_MARIADB_URL") {
        let dir = tempfile::tempdir().unwrap();
        replay_contract(&sqlite(dir.path(), "agency.db"), &maria).await;
    }
}

/// One process at a time per pipeline: a second open is refused naming the holder; a
/// holder that died on this host is taken over at once, one elsewhere once its lease has
/// expired; a process whose lease was taken commits nothing and says so.
async fn lease_contract(replica: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite(dir.path(), "agency.db");
    let s = suffix();
    let (src_table, rep_table) = (format!("src_{s}"), format!("rep_{s}"));
    exec(&source, &citizen_table(&src_table, false)).await;
    insert(
        &source,
        &src_table,
        &[row(
            "001090000001",
            "Nguyễn Văn An",
            "2025-08-01T10:00:00+07:00",
        )],
    )
    .await;
    let cfg = config(
        &format!("lease-{s}"),
        SourceConfig::Poll {
            url: source.clone(),
            table: src_table.clone(),
            updated_at_column: "updated_at".into(),
        },
        replica,
        &rep_table,
    );
    let refused = |r: Result<Pipeline, SyncError>| match r {
        Err(SyncError::Lease(m)) => m,
        Err(e) => panic!("expected a lease refusal, got {e}"),
        Ok(_) => panic!("a second process was let in"),
    };
    let today = || "2026-11-23".to_owned();
    let mut p = open(&cfg).await;
    let m = refused(Pipeline::open(cfg.clone(), today()).await);
    assert!(m.contains("is run by another process"), "{m}");
    // A replay needs no lease: it runs beside.
    let mut beside = Pipeline::open_for_replay(cfg.clone(), today())
        .await
        .unwrap();
    assert_eq!(beside.replay_quarantine().await.unwrap(), (0, 0));
    beside.close().await;
    assert_eq!(p.catch_up().await.unwrap().applied, 1);
    p.close().await;
    // Closed: the next one gets it.
    let p = open(&cfg).await;

    // Another host holds an unexpired lease: refused; expired: taken over. A holder on
    // this host whose process is gone: taken over at once.
    let pool = {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(replica).await.unwrap()
    };
    let set_holder = |owner: String, until_ms: i64| {
        let pool = pool.clone();
        let name = cfg.name.clone();
        async move {
            sqlx::query(&format!(
                "UPDATE lt_sync_lease SET owner = '{owner}', until_ms = {until_ms}, n = n + 1 WHERE pipeline = '{name}'"
            ))
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    set_holder("elsewhere:42:abcd".into(), now + 60_000).await;
    // The process that lost its lease commits nothing, and is told why.
    insert(
        &source,
        &src_table,
        &[row(
            "001090000002",
            "Lê Thị Bình",
            "2025-08-02T10:00:00+07:00",
        )],
    )
    .await;
    let mut p = p;
    match p.step(Duration::ZERO).await {
        Err(SyncError::Lease(m)) => assert!(m.contains("no longer holds its lease"), "{m}"),
        other => panic!("a fenced-off process committed: {other:?}"),
    }
    assert_eq!(
        names(replica, &rep_table).await.len(),
        1,
        "nothing committed"
    );
    p.close().await; // releases nothing: the lease is not its own
    let m = refused(Pipeline::open(cfg.clone(), today()).await);
    assert!(m.contains("elsewhere:42:abcd"), "{m}");
    set_holder("elsewhere:42:abcd".into(), now - 1).await;
    let p = open(&cfg).await;
    p.close().await;
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let dead = lienthong_sync::lease::owner_id_for(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    set_holder(dead, now + 60_000).await;
    let mut p = open(&cfg).await;
    assert_eq!(p.catch_up().await.unwrap().applied, 1, "the new row, once");
    assert_eq!(names(replica, &rep_table).await.len(), 2);
    p.close().await;
    pool.close().await;
    exec(replica, &format!("DROP TABLE {rep_table}")).await;
}

#[tokio::test]
async fn one_process_per_pipeline_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    lease_contract(&sqlite(dir.path(), "center.db")).await;
}

#[tokio::test]
async fn one_process_per_pipeline_postgres() {
    if let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") {
        lease_contract(&pg).await;
    }
}

#[tokio::test]
async fn one_process_per_pipeline_mariadb() {
    if let Some(maria) = url("LIENTHONG_TEST_MARIADB_URL") {
        lease_contract(&maria).await;
    }
}
