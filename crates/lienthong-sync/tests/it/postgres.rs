//! PostgreSQL logical replication: snapshot at the slot's start, then pgoutput; inserts,
//! updates, deletes, key changes, truncates, a transaction split over batches and a
//! restart inside it, an added column, heartbeats that free WAL.

use std::time::Duration;

use lienthong_sync::SourceConfig;
use sqlx::Row;

use super::*;

struct Source {
    url: String,
    table: String,
    slot: String,
}

impl Source {
    async fn new(url: &str) -> Source {
        let s = suffix();
        let table = format!("pgsrc_{s}");
        exec(url, &citizen_table(&table, false)).await;
        Source {
            url: url.into(),
            table,
            slot: format!("lt_test_{s}"),
        }
    }

    fn config(&self) -> SourceConfig {
        SourceConfig::Postgres {
            url: self.url.clone(),
            table: self.table.clone(),
            slot: self.slot.clone(),
            publication: self.slot.clone(),
        }
    }

    async fn sql(&self, sql: &str) {
        exec(&self.url, &sql.replace("@T", &self.table)).await;
    }

    async fn confirmed_flush(&self) -> u64 {
        let pool = sqlx::AnyPool::connect(&self.url).await.unwrap();
        let n: i64 = sqlx::query("SELECT CAST(confirmed_flush_lsn - CAST('0/0' AS pg_lsn) AS BIGINT) FROM pg_replication_slots WHERE slot_name = $1")
            .bind(self.slot.clone())
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        pool.close().await;
        n as u64
    }

    async fn wal_now(&self) -> u64 {
        let pool = sqlx::AnyPool::connect(&self.url).await.unwrap();
        let n: i64 =
            sqlx::query("SELECT CAST(pg_current_wal_lsn() - CAST('0/0' AS pg_lsn) AS BIGINT)")
                .fetch_one(&pool)
                .await
                .unwrap()
                .get(0);
        pool.close().await;
        n as u64
    }

    async fn drop(self) {
        drop_slot(&self.url, &self.slot, &self.table).await;
    }
}

fn v(pid: &str, name: &str) -> String {
    row(pid, name, "2025-08-01T10:00:00+07:00")
}

async fn stream_contract(pg: &str, replica: &str) {
    let src = Source::new(pg).await;
    let rep_table = format!("rep_{}", suffix());
    src.sql(&format!(
        "INSERT INTO @T ({COLUMNS}) VALUES {}, {}, {}",
        v("001090000001", "NGUYỄN VĂN AN"),
        v("001090000002", "Lê Thị Bình"),
        v("12345", "Số sai")
    ))
    .await;
    let mut cfg = config(
        &format!("pg-{}", src.slot),
        src.config(),
        replica,
        &rep_table,
    );
    cfg.batch_rows_max = 2;
    let mut p = open(&cfg).await;
    // The snapshot: rows that were there before the slot, in pages of two.
    assert_eq!(p.snapshot_progress(), Some((0, 3)));
    until(&mut p, "snapshot", |s| s.snapshot_done).await;
    let got = names(replica, &rep_table).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got["001090000001"], "Nguyễn Văn An", "normalised");
    assert!(quarantine(&p).await[0].contains("id.length"));

    // Streaming: insert, update, delete, each its own transaction.
    src.sql(&format!(
        "INSERT INTO @T ({COLUMNS}) VALUES {}",
        v("001090000003", "Phạm Văn Cường")
    ))
    .await;
    src.sql("UPDATE @T SET full_name = 'Lê Thị Bính' WHERE personal_id = '001090000002'")
        .await;
    src.sql("DELETE FROM @T WHERE personal_id = '001090000001'")
        .await;
    until(&mut p, "stream", |s| s.rows_deleted == 1).await;
    let got = names(replica, &rep_table).await;
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        [
            ("001090000002".to_owned(), "Lê Thị Bính".to_owned()),
            ("001090000003".to_owned(), "Phạm Văn Cường".to_owned())
        ]
    );
    let applied_before = p.state().rows_applied;
    assert!(p.state().committed_at_ms > 0, "source commit time is known");

    // One transaction of 25 rows, read in batches of 2: stop after the first batch (as a
    // crash would), reopen, and the rest arrives exactly once.
    let rows: Vec<String> = (10..35)
        .map(|i| v(&format!("0010900000{i}"), "Đinh Văn Giáp"))
        .collect();
    src.sql(&format!(
        "INSERT INTO @T ({COLUMNS}) VALUES {}",
        rows.join(", ")
    ))
    .await;
    until(&mut p, "part of a transaction", |s| {
        s.rows_applied > applied_before
    })
    .await;
    assert_eq!(p.state().rows_applied, applied_before + 2);
    p.close().await;
    let mut p = open(&cfg).await;
    until(&mut p, "resume inside a transaction", |s| {
        s.rows_applied == applied_before + 25
    })
    .await;
    assert_eq!(
        names(replica, &rep_table).await.len(),
        27,
        "nothing lost, nothing twice"
    );
    p.step(Duration::from_millis(500)).await.unwrap();
    assert_eq!(p.state().rows_applied, applied_before + 25);

    // A key change deletes the old key; an added column changes nothing.
    src.sql("UPDATE @T SET personal_id = '001090000099' WHERE personal_id = '001090000003'")
        .await;
    src.sql("ALTER TABLE @T ADD COLUMN note TEXT").await;
    src.sql(&format!("INSERT INTO @T ({COLUMNS}, note) VALUES ('001090000100', 'Hà Văn Mới', '1990-03-25', '1', '01', '00004', '2025-08-01T10:00:00+07:00', 'x')")).await;
    until(&mut p, "key change and new column", |s| {
        s.rows_applied == applied_before + 27
    })
    .await;
    let got = names(replica, &rep_table).await;
    assert!(!got.contains_key("001090000003") && got.contains_key("001090000099"));
    assert_eq!(got["001090000100"], "Hà Văn Mới");

    // An invalid update is quarantined; the replica keeps the last valid version.
    src.sql("UPDATE @T SET birth_date = '2990-01-01' WHERE personal_id = '001090000002'")
        .await;
    until(&mut p, "invalid update", |s| s.rows_quarantined == 2).await;
    assert_eq!(
        names(replica, &rep_table).await["001090000002"],
        "Lê Thị Bính"
    );
    // A later valid version supersedes it.
    src.sql("UPDATE @T SET birth_date = '1990-03-25', full_name = 'Lê Thị Bình' WHERE personal_id = '001090000002'").await;
    until(&mut p, "valid again", |s| {
        s.rows_applied == applied_before + 28
    })
    .await;
    assert_eq!(
        p.status().await.unwrap().quarantined_open,
        1,
        "only the snapshot's bad id is open"
    );

    // TRUNCATE empties the replica table.
    src.sql("TRUNCATE @T").await;
    until(&mut p, "truncate", |_| true).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !names(replica, &rep_table).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "truncate reached the replica"
        );
        p.step(Duration::from_millis(300)).await.unwrap();
    }
    assert_eq!(
        p.status().await.unwrap().quarantined_open,
        0,
        "a truncate makes the open quarantine moot"
    );
    p.close().await;
    src.drop().await;
    exec(replica, &format!("DROP TABLE {rep_table}")).await;
}

#[tokio::test]
async fn postgres_stream_into_sqlite() {
    if let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") {
        let dir = tempfile::tempdir().unwrap();
        stream_contract(&pg, &sqlite(dir.path(), "center.db")).await;
    }
}

#[tokio::test]
async fn postgres_stream_into_postgres() {
    if let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") {
        stream_contract(&pg, &pg).await;
    }
}

/// A quiet table does not make the slot hold the WAL other tables write.
#[tokio::test]
async fn heartbeats_free_wal_of_a_quiet_table() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = Source::new(&pg).await;
    let busy = format!("busy_{}", suffix());
    exec(&pg, &format!("CREATE TABLE {busy} (n INT)")).await;
    let cfg = config(
        &format!("hb-{}", src.slot),
        src.config(),
        &sqlite(dir.path(), "c.db"),
        "rep",
    );
    let mut p = open(&cfg).await;
    until(&mut p, "snapshot", |s| s.snapshot_done).await;
    for _ in 0..20 {
        exec(
            &pg,
            &format!("INSERT INTO {busy} SELECT generate_series(1, 500)"),
        )
        .await;
    }
    let target = src.wal_now().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        p.step(Duration::from_millis(500)).await.unwrap();
        if src.confirmed_flush().await >= target {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slot stayed at {} below {target}",
            src.confirmed_flush().await
        );
    }
    assert_eq!(p.state().rows_applied, 0);
    p.close().await;
    src.drop().await;
    exec(&pg, &format!("DROP TABLE {busy}")).await;
}

#[tokio::test]
async fn a_table_without_a_usable_key_is_refused_with_the_fix() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = suffix();
    let table = format!("nokey_{s}");
    exec(
        &pg,
        &format!("CREATE TABLE {table} (personal_id TEXT, full_name TEXT)"),
    )
    .await;
    let cfg = config(
        "nokey",
        SourceConfig::Postgres {
            url: pg.clone(),
            table: table.clone(),
            slot: format!("lt_test_{s}"),
            publication: format!("lt_test_{s}"),
        },
        &sqlite(dir.path(), "c.db"),
        "rep",
    );
    let e = lienthong_sync::Pipeline::open(cfg, String::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("REPLICA IDENTITY FULL"), "{e}");
    exec(&pg, &format!("DROP TABLE {table}")).await;
}

/// Regression: keys are compared as the replica stores them (normalised). A `CHAR(14)` key
/// arrives padded in the stream; its delete must still find the trimmed row, and a padded
/// and an unpadded version of one key in one batch are one record.
#[tokio::test]
async fn deletes_find_keys_in_their_normalised_form() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let replica = sqlite(dir.path(), "c.db");
    let s = suffix();
    let table = format!("padded_{s}");
    let cols: Vec<String> = lienthong_dictionary::catalog::CITIZEN
        .fields
        .iter()
        .map(|f| {
            if f.name == "personal_id" {
                "personal_id CHAR(14) PRIMARY KEY".to_owned()
            } else {
                format!("{} TEXT", f.name)
            }
        })
        .collect();
    exec(&pg, &format!("CREATE TABLE {table} ({})", cols.join(", "))).await;
    let slot = format!("lt_test_{s}");
    let cfg = config(
        &format!("padded-{s}"),
        SourceConfig::Postgres {
            url: pg.clone(),
            table: table.clone(),
            slot: slot.clone(),
            publication: slot.clone(),
        },
        &replica,
        "rep",
    );
    let mut p = open(&cfg).await;
    until(&mut p, "snapshot", |st| st.snapshot_done).await;
    exec(
        &pg,
        &format!(
            "INSERT INTO {table} ({COLUMNS}) VALUES {}, {}",
            v("001090000001", "An"),
            v("001090000002", "Bình")
        ),
    )
    .await;
    until(&mut p, "inserts", |st| st.rows_applied == 2).await;
    assert_eq!(names(&replica, "rep").await.len(), 2);
    exec(
        &pg,
        &format!("DELETE FROM {table} WHERE personal_id = '001090000001'"),
    )
    .await;
    until(&mut p, "delete", |st| st.rows_deleted == 1).await;
    let left = names(&replica, "rep").await;
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        ["001090000002"],
        "the padded delete found the trimmed row"
    );
    p.close().await;
    let src = Source {
        url: pg.clone(),
        table,
        slot,
    };
    src.drop().await;
}

/// `sslmode` in the source URL: the snapshot's connection and the replication session both
/// speak TLS (the walsender of the slot is on an SSL connection); a CA that did not issue the
/// server's certificate is refused.
#[tokio::test]
async fn the_replication_session_speaks_tls_when_the_url_asks() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let sep = if pg.contains('?') { '&' } else { '?' };
    let tls_url = format!("{pg}{sep}sslmode=require");
    let src = Source::new(&tls_url).await;
    src.sql(&format!(
        "INSERT INTO @T ({COLUMNS}) VALUES {}",
        v("001090000001", "Nguyễn Văn An")
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let replica = sqlite(dir.path(), "center.db");
    let cfg = config(&format!("tls-{}", src.slot), src.config(), &replica, "rep");
    let mut p = open(&cfg).await;
    until(&mut p, "snapshot over TLS", |s| s.snapshot_done).await;
    src.sql(&format!(
        "INSERT INTO @T ({COLUMNS}) VALUES {}",
        v("001090000002", "Lê Thị Bình")
    ))
    .await;
    until(&mut p, "stream over TLS", |s| s.rows_applied >= 2).await;
    let pool = sqlx::AnyPool::connect(&pg).await.unwrap();
    let ssl: bool = sqlx::query("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_replication_slots r ON r.active_pid = s.pid WHERE r.slot_name = $1")
        .bind(src.slot.clone())
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    pool.close().await;
    assert!(ssl, "the replication session is on TLS");
    p.close().await;
    // Verification against a CA that did not issue the server's certificate fails.
    let other = lienthong_trust::Ca::generate("VN").unwrap();
    let ca = dir.path().join("other-ca.pem");
    std::fs::write(&ca, &other.cert_pem).unwrap();
    let mut wrong = cfg.clone();
    wrong.name = format!("tls-wrong-{}", src.slot);
    wrong.source = SourceConfig::Postgres {
        url: format!("{pg}{sep}sslmode=verify-ca&sslrootcert={}", ca.display()),
        table: src.table.clone(),
        slot: format!("{}_w", src.slot),
        publication: src.slot.clone(),
    };
    let refused = match Pipeline::open(wrong, "2026-11-23".into()).await {
        Ok(mut p) => {
            let r = p.step(Duration::from_millis(300)).await;
            p.close().await;
            r.is_err()
        }
        Err(_) => true,
    };
    assert!(refused, "a server certificate from another CA was accepted");
    src.drop().await;
}
