//! End-to-end tests of the `lienthong` binary on real files.

mod cli_errors;
mod crash;
mod demo;
mod demo_citizen;
mod documents;
mod exchange;
mod guide;
mod hop;
mod linkage;
mod recall;
mod registry_tls;
mod report;
mod stream_crash;
mod sync;
mod sync_crash;

use std::path::Path;
use std::process::{Command, Output};

pub fn lienthong(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("running lienthong")
}

/// The standard output of a command that must have succeeded (`what` names it otherwise).
pub fn succeeded(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Creates a table with a dataset's columns (text; VARCHAR on MySQL) and returns the pool.
pub async fn dataset_table(
    url: &str,
    table: &str,
    dataset: &lienthong_dictionary::catalog::Dataset,
) -> sqlx::AnyPool {
    create_table(url, table, dataset, false).await
}

/// Like [`dataset_table`], with the dataset key as the primary key (log-based sync needs it).
pub async fn dataset_table_keyed(
    url: &str,
    table: &str,
    dataset: &lienthong_dictionary::catalog::Dataset,
) -> sqlx::AnyPool {
    create_table(url, table, dataset, true).await
}

async fn create_table(
    url: &str,
    table: &str,
    dataset: &lienthong_dictionary::catalog::Dataset,
    keyed: bool,
) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let text = if url.starts_with("mysql") {
        "VARCHAR(255)"
    } else {
        "TEXT"
    };
    let mut cols: Vec<String> = dataset
        .fields
        .iter()
        .map(|f| format!("{} {text}", f.name))
        .collect();
    if keyed {
        cols.push(format!("PRIMARY KEY ({})", dataset.key.join(", ")));
    }
    sqlx::query(&format!("CREATE TABLE {table} ({})", cols.join(", ")))
        .execute(&pool)
        .await
        .unwrap();
    pool
}

/// A service URL from the environment; under `CI=true` a missing one fails the test.
pub fn service(var: &str) -> Option<String> {
    lienthong_testkit::service(var)
}

/// The seed of a seeded crash test (`LIENTHONG_SYNC_SEED` replays one) and its kill count
/// (`LIENTHONG_SYNC_KILLS`, 20 by default).
pub fn crash_seed_and_kills() -> (u64, u64) {
    let seed = std::env::var("LIENTHONG_SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 ^ 0x5eed);
    let kills = std::env::var("LIENTHONG_SYNC_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    (seed, kills)
}

/// Rows a sync pipeline has applied, from its replica's state table (0 before its first
/// commit): the crash tests read it between kills to see that work went on.
pub async fn rows_applied(replica: &str, pipeline: &str) -> i64 {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let Ok(pool) = sqlx::AnyPool::connect(replica).await else {
        return 0;
    };
    let n = sqlx::query("SELECT rows_applied FROM lt_sync_state WHERE pipeline = $1")
        .bind(pipeline.to_owned())
        .fetch_optional(&pool)
        .await
        .ok()
        .flatten()
        .map_or(0, |r| r.get::<i64, _>(0));
    pool.close().await;
    n
}
