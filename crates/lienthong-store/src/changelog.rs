//! The change log (`lt_changes`): every valid change a sync pipeline applied to a replica
//! table, in commit order, beside the table; a node serves it as the table's change feed
//! (`/changes`). Sync writes it (one writer at a time, through the lock row, so sequence
//! numbers are in commit order); the gateway reads it. Both go through this module.

use sqlx::{AnyPool, Row};

use crate::{text_at, Dialect};

/// Statements that create the log, its index and its lock row's table (idempotent).
pub fn ddl(d: Dialect) -> [String; 3] {
    let seq = match d {
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        Dialect::MySql => "BIGINT AUTO_INCREMENT PRIMARY KEY",
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    [
        format!("CREATE TABLE IF NOT EXISTS lt_changes (seq {seq}, tbl VARCHAR(64) NOT NULL, change_id VARCHAR(250) NOT NULL, op VARCHAR(10) NOT NULL, record TEXT NOT NULL, committed_at_ms BIGINT NOT NULL)"),
        "CREATE INDEX IF NOT EXISTS lt_changes_tbl ON lt_changes (tbl, seq)".to_owned(),
        "CREATE TABLE IF NOT EXISTS lt_changes_lock (n BIGINT NOT NULL)".to_owned(),
    ]
}

/// Counts the lock rows (one is inserted when there is none).
pub const LOCK_ROWS: &str = "SELECT COUNT(*) FROM lt_changes_lock";
/// Inserts the lock row.
pub const LOCK_INIT: &str = "INSERT INTO lt_changes_lock (n) VALUES (0)";
/// Taken first by every transaction that appends: one writer at a time.
pub const LOCK: &str = "UPDATE lt_changes_lock SET n = n + 1";

/// Appends `rows` changes: bind (table, change id, op, record JSON, committed at ms) each.
pub fn insert_sql(d: Dialect, rows: usize) -> String {
    format!(
        "INSERT INTO lt_changes (tbl, change_id, op, record, committed_at_ms) VALUES {}",
        d.rows_of_params(rows, 5)
    )
}

/// Parameters one append carries per change.
pub const PARAMS_PER_CHANGE: usize = 5;

/// One change as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub seq: i64,
    pub op: String,
    pub change_id: String,
    /// The record (upserts) or the key (deletes) as a JSON object of field → text.
    pub record: String,
    pub committed_at_ms: i64,
}

/// Fails unless the log exists in the database behind `pool`.
pub async fn check(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT seq, tbl, change_id, op, record, committed_at_ms FROM lt_changes WHERE 1 = 0",
    )
    .fetch_all(pool)
    .await
    .map(|_| ())
}

/// The changes of `table` after sequence number `after`, oldest first, at most `limit`.
pub async fn read(
    pool: &AnyPool,
    d: Dialect,
    table: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<Logged>, sqlx::Error> {
    let sql = format!(
        "SELECT seq, op, change_id, record, committed_at_ms FROM lt_changes WHERE tbl = {} AND seq > {} ORDER BY seq LIMIT {limit}",
        d.param(1),
        d.param(2),
    );
    let rows = sqlx::query(&sql)
        .bind(table.to_owned())
        .bind(after)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Logged {
                seq: r.try_get(0)?,
                op: text_at(r, 1)?,
                change_id: text_at(r, 2)?,
                record: text_at(r, 3)?,
                committed_at_ms: r.try_get(4)?,
            })
        })
        .collect()
}
