//! Seeded kill -9 of `lienthong sync run` streaming a real PostgreSQL (logical
//! replication) and a real MariaDB (binlog) into the replica and JetStream while a writer
//! inserts, updates and deletes: afterwards the replica equals the source row for row, and
//! the JetStream stream, replayed, gives the same rows with every key's versions in order
//! and none twice. 20 kills per source here; `LIENTHONG_SYNC_KILLS` sets more, the seed is
//! printed and `LIENTHONG_SYNC_SEED` replays it.

use std::collections::{BTreeMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::Row;

use crate::lienthong;

struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const NAMES: [&str; 5] = [
    "Nguyễn Văn An",
    "Lê Thị Bình",
    "Phạm Văn Cường",
    "Trần Thị Dung",
    "Hoàng Văn Hà",
];

fn pid(i: u64) -> String {
    format!("001090{i:06}")
}

fn email(version: u64) -> String {
    format!("v{version}@dancu.gov.vn")
}

fn values(i: u64, version: u64) -> String {
    format!(
        "('{}', '{}', '1990-03-25', '1', '01', '00004', '{}')",
        pid(i),
        NAMES[(i % 5) as usize],
        email(version)
    )
}

const COLS: &str = "personal_id, full_name, birth_date, sex, province_code, commune_code, email";

/// (full_name, email) per personal id.
async fn rows(url: &str, table: &str) -> BTreeMap<String, (String, String)> {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let out = sqlx::query(&format!(
        "SELECT personal_id, full_name, email FROM {table}"
    ))
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>(0),
            (r.get::<String, _>(1), r.get::<String, _>(2)),
        )
    })
    .collect();
    pool.close().await;
    out
}

/// Inserts, updates (a new version in `email`) and deletes in random transactions.
async fn writer(url: String, table: String, seed: u64, first_new: u64, txns: u32) {
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let mut rng = Rng(seed ^ 0xabcdef);
    let mut alive: Vec<(u64, u64)> = (0..first_new).map(|i| (i, 0)).collect();
    let mut next = first_new;
    for _ in 0..txns {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..1 + rng.next(12) {
            let op = rng.next(100);
            if op < 25 || alive.is_empty() {
                sqlx::query(&format!(
                    "INSERT INTO {table} ({COLS}) VALUES {}",
                    values(next, 0)
                ))
                .execute(&mut *tx)
                .await
                .unwrap();
                alive.push((next, 0));
                next += 1;
            } else if op < 85 {
                let k = rng.next(alive.len() as u64) as usize;
                alive[k].1 += 1;
                let (i, v) = alive[k];
                sqlx::query(&format!(
                    "UPDATE {table} SET email = '{}' WHERE personal_id = '{}'",
                    email(v),
                    pid(i)
                ))
                .execute(&mut *tx)
                .await
                .unwrap();
            } else {
                let k = rng.next(alive.len() as u64) as usize;
                let (i, _) = alive.swap_remove(k);
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE personal_id = '{}'",
                    pid(i)
                ))
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5 + rng.next(40))).await;
    }
    pool.close().await;
}

/// Replays the pipeline's stream: key → (full_name, email), checking that each key's
/// versions only grow, that a delete removes a present key, and that no id repeats.
async fn replay_stream(nats: &str, stream: &str, seed: u64) -> BTreeMap<String, (String, String)> {
    let js = async_nats::jetstream::new(async_nats::connect(nats).await.unwrap());
    let mut st = js.get_stream(stream).await.unwrap();
    let last = st.info().await.unwrap().state.last_sequence;
    let mut state: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut version: BTreeMap<String, u64> = BTreeMap::new();
    let mut ids = HashSet::new();
    for seq in 1..=last {
        let m = st.get_raw_message(seq).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert!(
            ids.insert(v["id"].as_str().unwrap().to_owned()),
            "seed {seed}: id {} twice",
            v["id"]
        );
        match v["op"].as_str().unwrap() {
            "truncate" => {
                state.clear();
                version.clear();
            }
            "delete" => {
                let k = v["key"]["personal_id"].as_str().unwrap().to_owned();
                assert!(
                    state.remove(&k).is_some(),
                    "seed {seed}: delete of absent {k} at {seq}"
                );
                version.remove(&k);
            }
            "upsert" => {
                let r = &v["record"];
                let k = r["personal_id"].as_str().unwrap().to_owned();
                let e = r["email"].as_str().unwrap().to_owned();
                let n: u64 = e[1..e.find('@').unwrap()].parse().unwrap();
                if let Some(prev) = version.insert(k.clone(), n) {
                    assert!(
                        n > prev,
                        "seed {seed}: {k} went from v{prev} to v{n} at {seq}"
                    );
                }
                state.insert(k, (r["full_name"].as_str().unwrap().to_owned(), e));
            }
            op => panic!("unknown op {op}"),
        }
    }
    state
}

async fn crash_run(kind: &str, source_url: &str) {
    let Some(nats) = crate::service("LIENTHONG_TEST_NATS_URL") else {
        return;
    };
    let (seed, kills) = crate::crash_seed_and_kills();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    eprintln!("{kind} stream crash seed {seed} (replay with LIENTHONG_SYNC_SEED={seed}), {kills} kills, tag {tag}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = format!("crash_{tag}");
    let pool =
        crate::dataset_table_keyed(source_url, &table, &lienthong_dictionary::catalog::CITIZEN)
            .await;
    let initial = 1500;
    let vals: Vec<String> = (0..initial).map(|i| values(i, 0)).collect();
    for chunk in vals.chunks(500) {
        sqlx::query(&format!(
            "INSERT INTO {table} ({COLS}) VALUES {}",
            chunk.join(", ")
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let rep = format!("sqlite://{}?mode=rwc", d.join("center.db").display());
    let name = format!("crash-{kind}-{tag}");
    std::fs::write(
        d.join("sync.toml"),
        format!("replica_url = \"{rep}\"\npoll_interval_ms = 100\n[jetstream]\nurl = \"{nats}\"\n[[pipelines]]\nname = \"{name}\"\ndataset = \"citizen\"\nsource = \"{kind}\"\nsource_url = \"{source_url}\"\nsource_table = \"{table}\"\nslot = \"lt_test_{tag}\"\npublication = \"lt_test_{tag}\"\nbatch_rows_max = 200\njetstream = true\n"),
    )
    .unwrap();
    let write = tokio::spawn(writer(
        source_url.to_owned(),
        table.clone(),
        seed,
        initial,
        150,
    ));
    let dd = d.to_owned();
    let (rep2, name2) = (rep.clone(), name.clone());
    let runtime = tokio::runtime::Handle::current();
    let killing = tokio::task::spawn_blocking(move || {
        let mut rng = Rng(seed);
        let mut progress = vec![0i64];
        for _ in 0..kills {
            let wait = 150 + rng.next(600);
            let mut child = Command::new(env!("CARGO_BIN_EXE_lienthong"))
                .args(["sync", "run", "--config", "sync.toml"])
                .current_dir(&dd)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(wait));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            progress.push(runtime.block_on(crate::rows_applied(&rep2, &name2)));
        }
        progress
    });
    write.await.unwrap();
    let progress = killing.await.unwrap();
    // The source kept changing: runs made progress between kills, more than once (a
    // restarted process that could not resume would make none; the shortest runs may end
    // before their first batch, more of them on a loaded machine).
    eprintln!("seed {seed}: rows applied after each kill {progress:?}");
    let moved = progress.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        moved >= 2,
        "seed {seed}: too little progress between kills: {progress:?}"
    );
    let out = lienthong(&["sync", "run", "--config", "sync.toml", "--once"], d);
    assert!(
        out.status.success(),
        "seed {seed}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = rows(source_url, &table).await;
    let replica = rows(&rep, "citizen").await;
    assert_eq!(source.len(), replica.len(), "seed {seed}: row count");
    for (k, v) in &source {
        assert_eq!(replica.get(k), Some(v), "seed {seed}: row {k}");
    }
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" 0 quarantined"),
        "seed {seed}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let streamed = replay_stream(&nats, &lienthong_sync::jetstream::stream_name(&name), seed).await;
    assert_eq!(
        streamed, source,
        "seed {seed}: the stream replays to the source"
    );

    // Clean up the source (and, for PostgreSQL, the slot once the last run let it go).
    let pool = sqlx::AnyPool::connect(source_url).await.unwrap();
    if kind == "postgres" {
        for _ in 0..20 {
            let ok = sqlx::query(&format!("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'lt_test_{tag}'"))
                .execute(&pool)
                .await
                .is_ok();
            if ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = sqlx::query(&format!("DROP PUBLICATION IF EXISTS lt_test_{tag}"))
            .execute(&pool)
            .await;
    }
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let js = async_nats::jetstream::new(async_nats::connect(&nats).await.unwrap());
    let _ = js
        .delete_stream(lienthong_sync::jetstream::stream_name(&name))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_streaming_postgres_loses_and_repeats_nothing() {
    if let Some(pg) = crate::service("LIENTHONG_TEST_POSTGRES_URL") {
        crash_run("postgres", &pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_streaming_mariadb_loses_and_repeats_nothing() {
    if let Some(maria) = crate::service("LIENTHONG_TEST_MARIADB_URL") {
        crash_run("mariadb", &maria).await;
    }
}
