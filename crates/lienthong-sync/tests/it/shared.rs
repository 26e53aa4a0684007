//! Pipelines that share a replica table (one per province, one national table) touch only
//! their own rows: one province's re-snapshot after `sync reset`, or a TRUNCATE of its source
//! table, leaves every other province's rows where they are; a key another pipeline wrote
//! last is that pipeline's row.

use std::time::Duration;

use lienthong_sync::{Replica, SourceConfig};

use super::*;

/// A PostgreSQL source table of one province, with its slot and publication.
struct Province {
    url: String,
    table: String,
    slot: String,
}

impl Province {
    async fn new(url: &str, rows: &[String]) -> Province {
        let s = suffix();
        let p = Province {
            url: url.into(),
            table: format!("prov_{s}"),
            slot: format!("lt_shared_{s}"),
        };
        exec(url, &citizen_table(&p.table, false)).await;
        insert(url, &p.table, rows).await;
        p
    }

    fn source(&self) -> SourceConfig {
        SourceConfig::Postgres {
            url: self.url.clone(),
            table: self.table.clone(),
            slot: self.slot.clone(),
            publication: self.slot.clone(),
        }
    }

    async fn drop(self) {
        drop_slot(&self.url, &self.slot, &self.table).await;
    }
}

fn v(pid: &str, name: &str) -> String {
    row(pid, name, "2025-08-01T10:00:00+07:00")
}

async fn shared_contract(pg: &str, replica: &str) {
    let table = format!("rep_{}", suffix());
    let a = Province::new(
        pg,
        &[
            v("001090000001", "Nguyễn Văn An"),
            v("001090000002", "Lê Thị Bình"),
        ],
    )
    .await;
    let b = Province::new(
        pg,
        &[
            v("079090000001", "Trần Văn Cường"),
            v("079090000002", "Phạm Thị Dung"),
        ],
    )
    .await;
    let (name_a, name_b) = (format!("{}-a", a.table), format!("{}-b", b.table));
    let cfg_a = config(&name_a, a.source(), replica, &table);
    let cfg_b = config(&name_b, b.source(), replica, &table);
    let mut pa = open(&cfg_a).await;
    let mut pb = open(&cfg_b).await;
    until(&mut pa, "A's snapshot", |s| s.snapshot_done).await;
    until(&mut pb, "B's snapshot", |s| s.snapshot_done).await;
    assert_eq!(names(replica, &table).await.len(), 4);

    // Province A is reset and reads its snapshot again: B's rows stay.
    pa.close().await;
    Replica::open(replica)
        .await
        .unwrap()
        .reset(&name_a)
        .await
        .unwrap();
    let mut pa = open(&cfg_a).await;
    until(&mut pa, "A's snapshot again", |s| s.snapshot_done).await;
    let got = names(replica, &table).await;
    assert_eq!(got.len(), 4, "A's re-snapshot kept B's rows: {got:?}");
    assert_eq!(got["079090000002"], "Phạm Thị Dung");

    // A person registered in B moves to A: the row is A's now, and B's delete of its old
    // record does not remove it.
    exec(
        pg,
        &format!(
            "INSERT INTO {} ({COLUMNS}) VALUES {}",
            a.table,
            v("079090000001", "Trần Văn Cường")
        ),
    )
    .await;
    let applied = pa.state().rows_applied;
    until(&mut pa, "the move reaches the replica", |s| {
        s.rows_applied > applied
    })
    .await;
    exec(
        pg,
        &format!("DELETE FROM {} WHERE personal_id = '079090000001'", b.table),
    )
    .await;
    until(&mut pb, "B's delete", |s| s.rows_deleted == 1).await;
    assert!(
        names(replica, &table).await.contains_key("079090000001"),
        "B's delete left A's row of the person who moved"
    );

    // A TRUNCATE of A's source empties A's rows only.
    exec(pg, &format!("TRUNCATE {}", a.table)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        pa.step(Duration::from_millis(300)).await.unwrap();
        let got = names(replica, &table).await;
        if !got.contains_key("001090000001") {
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                ["079090000002"],
                "A's truncate left B's row only"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A's truncate never arrived"
        );
    }
    pa.close().await;
    pb.close().await;
    a.drop().await;
    b.drop().await;
    exec(replica, &format!("DROP TABLE {table}")).await;
}

#[tokio::test]
async fn provinces_sharing_a_replica_table_keep_each_others_rows_sqlite() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    shared_contract(&pg, &sqlite(dir.path(), "replica.db")).await;
    // The replica holds the agencies' records: the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("replica.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn provinces_sharing_a_replica_table_keep_each_others_rows_postgres() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    shared_contract(&pg, &pg).await;
}

/// A snapshot into a PostgreSQL replica copies its rows straight into the table, expecting
/// them new; when another pipeline wrote one of its keys before (a person who moved
/// province), that copy is rolled back and the page is upserted: the row is the
/// snapshotting pipeline's, with its values, and nothing else changes.
#[tokio::test]
async fn a_snapshot_over_keys_another_pipeline_wrote_takes_those_rows_over() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let table = format!("rep_{}", suffix());
    let a = Province::new(
        &pg,
        &[
            v("001090000011", "Nguyễn Văn An"),
            v("079090000011", "Trần Văn Cường"),
        ],
    )
    .await;
    let b = Province::new(
        &pg,
        &[
            v("079090000011", "Trần Văn Cường Mới"),
            v("079090000012", "Phạm Thị Dung"),
        ],
    )
    .await;
    let (name_a, name_b) = (format!("{}-a", a.table), format!("{}-b", b.table));
    let mut pa = open(&config(&name_a, a.source(), &pg, &table)).await;
    until(&mut pa, "A's snapshot", |s| s.snapshot_done).await;
    // One row a page: every row of B's snapshot comes in a page that is not its last (the
    // last one is applied as a stream batch).
    let mut cfg_b = config(&name_b, b.source(), &pg, &table);
    cfg_b.batch_rows_max = 1;
    let mut pb = open(&cfg_b).await;
    until(&mut pb, "B's snapshot", |s| s.snapshot_done).await;
    assert_eq!(pb.state().rows_applied, 2);
    let want = [
        ["001090000011", "Nguyễn Văn An", name_a.as_str()],
        ["079090000011", "Trần Văn Cường Mới", name_b.as_str()],
        ["079090000012", "Phạm Thị Dung", name_b.as_str()],
    ];
    assert_eq!(owned_rows(&pg, &table).await, want);
    close_two(&pg, &table, [pa, pb], [a, b]).await;
}

/// A record the source reports inserted is copied straight into a PostgreSQL replica, like
/// a snapshot's; when another pipeline holds its key already (a person who moved province),
/// that copy is rolled back and the batch's inserts are upserted with its updates: in one
/// source transaction, an insert over B's key, a fresh insert and an update all land.
#[tokio::test]
async fn a_streamed_insert_over_a_key_another_pipeline_wrote_takes_that_row_over() {
    let Some(pg) = url("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let table = format!("rep_{}", suffix());
    let a = Province::new(&pg, &[v("001090000021", "Nguyễn Văn An")]).await;
    let b = Province::new(&pg, &[v("079090000021", "Phạm Thị Dung")]).await;
    let (name_a, name_b) = (format!("{}-a", a.table), format!("{}-b", b.table));
    let mut pa = open(&config(&name_a, a.source(), &pg, &table)).await;
    until(&mut pa, "A's snapshot", |s| s.snapshot_done).await;
    let mut pb = open(&config(&name_b, b.source(), &pg, &table)).await;
    until(&mut pb, "B's snapshot", |s| s.snapshot_done).await;
    let before = pa.state().rows_applied;
    exec(
        &pg,
        &format!(
            "INSERT INTO {t} ({COLUMNS}) VALUES {}, {}; UPDATE {t} SET full_name = 'Nguyễn Văn An Hai' WHERE personal_id = '001090000021'",
            v("079090000021", "Phạm Thị Dung Mới"),
            v("001090000022", "Lê Văn Em"),
            t = a.table
        ),
    )
    .await;
    until(&mut pa, "A's three changes", |s| {
        s.rows_applied >= before + 3
    })
    .await;
    assert_eq!(pa.state().rows_quarantined, 0);
    let want = [
        ["001090000021", "Nguyễn Văn An Hai", name_a.as_str()],
        ["001090000022", "Lê Văn Em", name_a.as_str()],
        ["079090000021", "Phạm Thị Dung Mới", name_a.as_str()],
    ];
    assert_eq!(owned_rows(&pg, &table).await, want);
    close_two(&pg, &table, [pa, pb], [a, b]).await;
}

/// Closes both pipelines, drops both provinces' slots and tables, and the replica table.
async fn close_two(
    pg: &str,
    table: &str,
    pipelines: [lienthong_sync::Pipeline; 2],
    provinces: [Province; 2],
) {
    for p in pipelines {
        p.close().await;
    }
    for p in provinces {
        p.drop().await;
    }
    exec(pg, &format!("DROP TABLE {table}")).await;
}

/// `(personal_id, full_name, lt_pipeline)` of every row of a replica table, by key.
async fn owned_rows(url: &str, table: &str) -> Vec<[String; 3]> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let rows = sqlx::query(&format!(
        "SELECT personal_id, full_name, lt_pipeline FROM {table} ORDER BY personal_id"
    ))
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| [0usize, 1, 2].map(|i| sqlx::Row::get::<String, _>(r, i)))
    .collect();
    pool.close().await;
    rows
}

/// A replica table made before rows carried their pipeline: the column is added, and the
/// rows become the pipeline's when it is the only one the replica has run.
#[tokio::test]
async fn an_older_replica_table_gets_the_pipeline_column() {
    let dir = tempfile::tempdir().unwrap();
    let replica = sqlite(dir.path(), "replica.db");
    let source = sqlite(dir.path(), "source.db");
    exec(&source, &citizen_table("src", false)).await;
    insert(&source, "src", &[v("001090000001", "Nguyễn Văn An")]).await;
    let cols: Vec<String> = lienthong_dictionary::catalog::CITIZEN
        .fields
        .iter()
        .map(|f| format!("{} TEXT", f.name))
        .collect();
    exec(
        &replica,
        &format!(
            "CREATE TABLE rep ({}, lt_change TEXT NOT NULL, PRIMARY KEY (personal_id)); INSERT INTO rep (personal_id, full_name, lt_change) VALUES ('001090000009', 'Cũ', 'old')",
            cols.join(", ")
        ),
    )
    .await;
    let cfg = config(
        "old-table",
        SourceConfig::Poll {
            url: source.clone(),
            table: "src".into(),
            updated_at_column: "updated_at".into(),
        },
        &replica,
        "rep",
    );
    let mut p = open(&cfg).await;
    p.catch_up().await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&replica).await.unwrap();
    let owners: Vec<String> = sqlx::query("SELECT lt_pipeline FROM rep ORDER BY personal_id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get(r, 0))
        .collect();
    pool.close().await;
    assert_eq!(owners, ["old-table", "old-table"]);
    p.close().await;
}
