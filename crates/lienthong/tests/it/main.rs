//! End-to-end tests of the `lienthong` binary on real files.

mod cli_errors;
mod crash;
mod demo;
mod exchange;
mod hop;
mod recall;
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

/// Creates a table with a dataset's columns (text; VARCHAR on MySQL) and returns the pool.
pub async fn dataset_table(
    url: &str,
    table: &str,
    dataset: &lienthong_dictionary::catalog::Dataset,
) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let text = if url.starts_with("mysql") {
        "VARCHAR(255)"
    } else {
        "TEXT"
    };
    let cols: Vec<String> = dataset
        .fields
        .iter()
        .map(|f| format!("{} {text}", f.name))
        .collect();
    sqlx::query(&format!("CREATE TABLE {table} ({})", cols.join(", ")))
        .execute(&pool)
        .await
        .unwrap();
    pool
}

/// Like [`dataset_table`], with the dataset key as the primary key (log-based sync needs it).
pub async fn dataset_table_keyed(
    url: &str,
    table: &str,
    dataset: &lienthong_dictionary::catalog::Dataset,
) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let text = if url.starts_with("mysql") {
        "VARCHAR(255)"
    } else {
        "TEXT"
    };
    let cols: Vec<String> = dataset
        .fields
        .iter()
        .map(|f| format!("{} {text}", f.name))
        .collect();
    sqlx::query(&format!(
        "CREATE TABLE {table} ({}, PRIMARY KEY ({}))",
        cols.join(", "),
        dataset.key.join(", ")
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool
}

/// A service URL from the environment; under `CI=true` a missing one fails the test.
pub fn service(var: &str) -> Option<String> {
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
