//! Faults on a PostgreSQL cluster of the tests' own (`LIENTHONG_TEST_FAULT_PG_URL`, set up by
//! scripts/test.sh): the replica goes down while changes keep coming, then comes back; the
//! source database restarts mid-stream. Both times everything arrives, once.

use std::time::{Duration, Instant};

use lienthong_sync::{Pipeline, SourceConfig};
use sqlx::Row;

use super::*;

fn pg_ctl(cluster: &str, action: &str) {
    let (version, name) = cluster.split_once('/').expect("VERSION/NAME");
    let ok = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", version, name, action])
        .status()
        .expect("pg_ctlcluster")
        .success();
    assert!(ok, "pg_ctlcluster {cluster} {action}");
}

/// Steps (errors allowed while the fault lasts) until `done`, 60 s at most.
async fn recover_until(
    p: &mut Pipeline,
    what: &str,
    done: impl Fn(&lienthong_sync::State) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(p.state()) {
        assert!(
            Instant::now() < deadline,
            "{what}: stuck at {:?}",
            p.state()
        );
        if p.step(Duration::from_millis(300)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

async fn count(url: &str, table: &str) -> i64 {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    pool.close().await;
    n
}

fn rows(from: u32, to: u32) -> String {
    (from..to)
        .map(|i| {
            row(
                &format!("0010900{i:05}"),
                "Nguyễn Văn An",
                "2025-08-01T10:00:00+07:00",
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_down_then_source_restart_lose_and_repeat_nothing() {
    let (Some(pg), Some(fault)) = (
        url("LIENTHONG_TEST_POSTGRES_URL"),
        url("LIENTHONG_TEST_FAULT_PG_URL"),
    ) else {
        return;
    };
    let cluster =
        std::env::var("LIENTHONG_TEST_FAULT_PG_CLUSTER").unwrap_or_else(|_| "15/fault".into());
    let s = suffix();

    // 1. The replica (on the fault cluster) goes down while the source keeps changing.
    let table = format!("f1_{s}");
    exec(&pg, &citizen_table(&table, false)).await;
    exec(
        &pg,
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES {}", rows(0, 50)),
    )
    .await;
    let slot = format!("lt_test_{s}a");
    let rep_table = format!("rep_{s}");
    let cfg = config(
        &format!("fault-replica-{s}"),
        SourceConfig::Postgres {
            url: pg.clone(),
            table: table.clone(),
            slot: slot.clone(),
            publication: slot.clone(),
        },
        &fault,
        &rep_table,
    );
    let mut p = open(&cfg).await;
    recover_until(&mut p, "snapshot", |st| {
        st.snapshot_done && st.rows_applied == 50
    })
    .await;
    pg_ctl(&cluster, "stop");
    exec(
        &pg,
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES {}", rows(50, 80)),
    )
    .await;
    exec(
        &pg,
        &format!("DELETE FROM {table} WHERE personal_id = '001090000007'"),
    )
    .await;
    assert!(
        p.step(Duration::from_millis(500)).await.is_err(),
        "the replica is down"
    );
    pg_ctl(&cluster, "start");
    exec(
        &pg,
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES {}", rows(80, 100)),
    )
    .await;
    recover_until(&mut p, "after the replica came back", |st| {
        st.rows_applied == 100 && st.rows_deleted == 1
    })
    .await;
    p.step(Duration::from_millis(500)).await.unwrap();
    assert_eq!(p.state().rows_applied, 100, "nothing applied twice");
    assert_eq!(count(&fault, &rep_table).await, 99, "nothing lost");
    p.close().await;
    drop_slot(&pg, &slot, &table).await;
    exec(&fault, &format!("DROP TABLE {rep_table}")).await;

    // 2. The source database (the fault cluster) restarts mid-stream.
    let dir = tempfile::tempdir().unwrap();
    let replica = sqlite(dir.path(), "center.db");
    let table = format!("f2_{s}");
    exec(&fault, &citizen_table(&table, false)).await;
    exec(
        &fault,
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES {}", rows(0, 40)),
    )
    .await;
    let slot = format!("lt_test_{s}b");
    let cfg = config(
        &format!("fault-source-{s}"),
        SourceConfig::Postgres {
            url: fault.clone(),
            table: table.clone(),
            slot: slot.clone(),
            publication: slot.clone(),
        },
        &replica,
        "rep",
    );
    let mut p = open(&cfg).await;
    recover_until(&mut p, "snapshot", |st| {
        st.snapshot_done && st.rows_applied == 40
    })
    .await;
    exec(
        &fault,
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES {}", rows(40, 60)),
    )
    .await;
    recover_until(&mut p, "stream", |st| st.rows_applied == 60).await;
    pg_ctl(&cluster, "restart");
    exec(
        &fault,
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES {}", rows(60, 90)),
    )
    .await;
    exec(
        &fault,
        &format!("UPDATE {table} SET full_name = 'Lê Thị Bình' WHERE personal_id = '001090000003'"),
    )
    .await;
    recover_until(&mut p, "after the source restarted", |st| {
        st.rows_applied == 91
    })
    .await;
    p.step(Duration::from_millis(500)).await.unwrap();
    assert_eq!(p.state().rows_applied, 91, "nothing applied twice");
    let got = names(&replica, "rep").await;
    assert_eq!(got.len(), 90, "nothing lost");
    assert_eq!(got["001090000003"], "Lê Thị Bình");
    p.close().await;
    drop_slot(&fault, &slot, &table).await;
}
