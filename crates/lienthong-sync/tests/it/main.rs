//! Sync against real databases and a real NATS JetStream: one module per source, the same
//! expectations for each (resume from the stored position, quarantine with reasons,
//! nothing applied twice), and the JetStream sink.

mod faults;
mod files;
mod jetstream;
mod mariadb;
mod poll;
mod postgres;
mod shared;
mod typed;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lienthong_dictionary::catalog::CITIZEN;
use lienthong_sync::db::text_at;
use lienthong_sync::{Pipeline, PipelineConfig, SourceConfig, State};

/// A service URL from the environment; under `CI=true` a missing one fails the test.
pub fn url(var: &str) -> Option<String> {
    lienthong_testkit::service(var)
}

pub fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

pub fn sqlite(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(name).display())
}

pub async fn exec(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::raw_sql(sql)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    pool.close().await;
}

/// `(personal_id, full_name, …, updated_at)` as SQL values.
pub fn row(pid: &str, name: &str, updated_at: &str) -> String {
    format!("('{pid}', '{name}', '1990-03-25', '1', '01', '00004', '{updated_at}')")
}

pub const COLUMNS: &str =
    "personal_id, full_name, birth_date, sex, province_code, commune_code, updated_at";

pub async fn insert(url: &str, table: &str, rows: &[String]) {
    exec(
        url,
        &format!("INSERT INTO {table} ({COLUMNS}) VALUES {}", rows.join(", ")),
    )
    .await;
}

/// `CREATE TABLE` for the citizen dataset with the key as primary key.
pub fn citizen_table(table: &str, mysql: bool) -> String {
    let text = if mysql { "VARCHAR(255)" } else { "TEXT" };
    let cols: Vec<String> = CITIZEN
        .fields
        .iter()
        .map(|f| format!("{} {text}", f.name))
        .collect();
    format!(
        "CREATE TABLE {table} ({}, PRIMARY KEY (personal_id))",
        cols.join(", ")
    )
}

/// personal_id → full_name in a replica table.
pub async fn names(replica: &str, table: &str) -> BTreeMap<String, String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(replica).await.unwrap();
    let rows = sqlx::query(&format!("SELECT personal_id, full_name FROM {table}"))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| (text_at(r, 0).unwrap(), text_at(r, 1).unwrap()))
        .collect()
}

pub fn config(name: &str, source: SourceConfig, replica: &str, table: &str) -> PipelineConfig {
    PipelineConfig {
        name: name.into(),
        dataset: &CITIZEN,
        source,
        replica_url: replica.into(),
        replica_table: table.into(),
        batch_rows_max: 1000,
        jetstream: None,
        changelog: false,
    }
}

pub async fn open(config: &PipelineConfig) -> Pipeline {
    Pipeline::open(config.clone(), "2026-11-23".into())
        .await
        .unwrap_or_else(|e| panic!("opening {}: {e}", config.name))
}

/// Steps until `done(state)` holds (20 s at most).
pub async fn until(p: &mut Pipeline, what: &str, done: impl Fn(&State) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(p.state()) {
        assert!(
            Instant::now() < deadline,
            "{what}: state stayed at {:?}",
            p.state()
        );
        p.step(Duration::from_millis(300)).await.unwrap();
    }
}

/// The open quarantine's reasons, in change order.
pub async fn quarantine(p: &Pipeline) -> Vec<String> {
    p.replica()
        .quarantine_list(p.name(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.reasons)
        .collect()
}

/// Drops a PostgreSQL source's slot (released once its pipeline closes, which may take a
/// moment), its publication (named like the slot) and its table.
pub async fn drop_slot(url: &str, slot: &str, table: &str) {
    for _ in 0..30 {
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let r = sqlx::query(&format!("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}'"))
            .execute(&pool)
            .await;
        pool.close().await;
        if r.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    exec(
        url,
        &format!("DROP PUBLICATION IF EXISTS {slot}; DROP TABLE IF EXISTS {table}"),
    )
    .await;
}
