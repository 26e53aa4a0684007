//! The center's replica (SQLite, PostgreSQL or MariaDB/MySQL): the dataset tables, the
//! quarantine and each pipeline's state. The replica is the record of truth for a
//! pipeline's position: data, quarantine rows and the new position commit in one
//! transaction.

use lienthong_dictionary::catalog::Dataset;
use lienthong_store::changelog;
use sqlx::{AnyPool, Row};

use crate::change::Change;
use crate::db::{connect, text_at, Dialect};
use crate::lease::{holder_is_gone, LEASE_MS};
pub use crate::state::State;
use crate::SyncError;

mod claim;
mod quarantine;
mod write;

pub use write::*;

/// A quarantined change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub change_id: String,
    pub key: String,
    /// The raw record as JSON (field → value).
    pub record: String,
    /// The errors as JSON (`[{field, rule, message}]`).
    pub reasons: String,
    /// Still the newest change of its key (a later valid change supersedes it).
    pub open: bool,
}

/// A valid change as the replica's change log keeps it, for subscribers downstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub change_id: String,
    pub op: crate::change::Op,
    /// The normalised record (upserts) or the key (deletes) as a JSON object.
    pub record: String,
    pub committed_at_ms: i64,
}

/// One pipeline's table in the replica.
#[derive(Debug, Clone)]
pub struct Target {
    pub pipeline: String,
    pub dataset: &'static Dataset,
    table: String,
    names: Vec<String>,
    key: Vec<String>,
    pub key_indexes: Vec<usize>,
    /// The table's name unquoted (the change log's `tbl`).
    table_name: String,
    /// Valid changes are also kept in `lt_changes`, in commit order.
    pub changelog: bool,
}

/// What one batch does, in order.
pub enum Step<'a> {
    /// Every row of the target that this pipeline wrote goes (pipelines may share a table).
    Truncate,
    Apply {
        /// (change, normalised values)
        upserts: Vec<(&'a Change, &'a [String])>,
        /// Upserts of keys the source reported new (see `change::Net::inserts`).
        inserts: Vec<(&'a Change, &'a [String])>,
        /// (change, normalised key record)
        deletes: Vec<(&'a Change, &'a [String])>,
    },
}

#[derive(Clone)]
pub struct Replica {
    pool: AnyPool,
    /// PostgreSQL replicas also get a native pool: batches commit through it, with `COPY`.
    pg: Option<sqlx::PgPool>,
    d: Dialect,
}

fn err(e: sqlx::Error) -> SyncError {
    SyncError::Replica(e.to_string())
}

fn none_if_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl Replica {
    pub async fn open(url: &str) -> Result<Replica, SyncError> {
        let d = Dialect::of(url)?;
        // The replica holds the agencies' records: a SQLite replica is the owner's only.
        if let Some(file) = lienthong_store::private::sqlite_file(url) {
            if lienthong_store::private::private_file(&file)
                .map_err(|e| SyncError::Config(format!("replica {}: {e}", file.display())))?
            {
                tracing::warn!(replica = %file.display(), "replica was readable by others: set to 0600");
            }
        }
        let pool = connect(url, 4).await.map_err(err)?;
        let text = "TEXT";
        let ddl = [
            format!("CREATE TABLE IF NOT EXISTS lt_sync_state (pipeline VARCHAR(200) PRIMARY KEY, pos {text} NOT NULL, last_change {text} NOT NULL, snapshot_done INTEGER NOT NULL, rows_applied BIGINT NOT NULL, rows_deleted BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL, committed_at_ms BIGINT NOT NULL, applied_at_ms BIGINT NOT NULL, backlog BIGINT NOT NULL, backlog_unit VARCHAR(16) NOT NULL, jet_last {text} NOT NULL)"),
            "CREATE TABLE IF NOT EXISTS lt_sync_lease (pipeline VARCHAR(200) PRIMARY KEY, owner VARCHAR(200) NOT NULL, until_ms BIGINT NOT NULL, n BIGINT NOT NULL)".to_owned(),
            format!("CREATE TABLE IF NOT EXISTS lt_quarantine (pipeline VARCHAR(200) NOT NULL, change_id VARCHAR(250) NOT NULL, record_key {text} NOT NULL, record {text} NOT NULL, reasons {text} NOT NULL, at_ms BIGINT NOT NULL, state VARCHAR(16) NOT NULL, PRIMARY KEY (pipeline, change_id))"),
        ];
        for sql in ddl {
            sqlx::query(&sql).execute(&pool).await.map_err(err)?;
        }
        // Superseding finds a key's open rows by index (MySQL indexes TEXT by a prefix).
        let key_col = match d {
            Dialect::MySql => "record_key(255)",
            _ => "record_key",
        };
        sqlx::query(&format!(
            "CREATE INDEX IF NOT EXISTS lt_quarantine_key ON lt_quarantine (pipeline, {key_col})"
        ))
        .execute(&pool)
        .await
        .map_err(err)?;
        let pg = match d {
            Dialect::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(std::time::Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(err)?,
            ),
            _ => None,
        };
        Ok(Replica { pool, pg, d })
    }

    /// Opens a replica to read pipelines' state only: no table is created (the dashboard's
    /// and `sync status`' view; a replica no pipeline has written yet reads as empty).
    pub async fn open_read_only(url: &str) -> Result<Replica, SyncError> {
        let d = Dialect::of(url)?;
        let pool = connect(url, 2).await.map_err(err)?;
        Ok(Replica { pool, pg: None, d })
    }

    /// Whether the pipelines' tables exist (a replica no pipeline has opened has none).
    pub async fn has_state(&self) -> bool {
        sqlx::query("SELECT pipeline FROM lt_sync_state WHERE 1 = 0")
            .fetch_all(&self.pool)
            .await
            .is_ok()
    }

    pub fn dialect(&self) -> Dialect {
        self.d
    }

    /// Creates the dataset table (if missing) and returns the pipeline's target.
    pub async fn target(
        &self,
        pipeline: &str,
        dataset: &'static Dataset,
        table: &str,
        changelog: bool,
    ) -> Result<Target, SyncError> {
        if changelog {
            self.create_changelog().await?;
        }
        let d = self.d;
        let key_indexes: Vec<usize> = dataset
            .key
            .iter()
            .map(|k| dataset.index(k).expect("dataset keys name its fields"))
            .collect();
        // MySQL cannot index TEXT without a prefix: key columns are VARCHAR there.
        let cols: Vec<String> = dataset
            .fields
            .iter()
            .map(|f| {
                let ty = if d == Dialect::MySql && dataset.key.contains(&f.name) {
                    "VARCHAR(255)"
                } else {
                    "TEXT"
                };
                format!("{} {ty}", d.quote(f.name))
            })
            .collect();
        let key: Vec<String> = dataset.key.iter().map(|k| d.quote(k)).collect();
        let qtable = d.quote(table);
        // Each row carries the pipeline that wrote it last (`lt_pipeline`): pipelines sharing a
        // table (one per province) truncate, re-snapshot and delete only their own rows.
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {qtable} ({}, {} TEXT NOT NULL, {} VARCHAR(200) NOT NULL DEFAULT '', PRIMARY KEY ({}))",
            cols.join(", "),
            d.quote("lt_change"),
            d.quote("lt_pipeline"),
            key.join(", ")
        );
        sqlx::query(&ddl).execute(&self.pool).await.map_err(err)?;
        self.add_pipeline_column(&qtable, pipeline).await?;
        let names = dataset
            .fields
            .iter()
            .map(|f| d.quote(f.name))
            .chain([d.quote("lt_change"), d.quote("lt_pipeline")])
            .collect();
        Ok(Target {
            pipeline: pipeline.to_owned(),
            dataset,
            table: qtable,
            names,
            key,
            key_indexes,
            table_name: table.to_owned(),
            changelog,
        })
    }

    /// A table made before rows carried their pipeline gets the column. Its rows are then
    /// the opening pipeline's when it is the only pipeline this replica has ever run;
    /// otherwise they stay unowned (`''`): deletes of their keys still apply, no truncate or
    /// re-snapshot removes them, and the next upsert of a key makes its row its pipeline's.
    async fn add_pipeline_column(&self, qtable: &str, pipeline: &str) -> Result<(), SyncError> {
        let d = self.d;
        // Unquoted: SQLite reads an unknown double-quoted name as a string, not an error.
        let has = sqlx::query(&format!("SELECT lt_pipeline FROM {qtable} WHERE 1 = 0"))
            .fetch_all(&self.pool)
            .await
            .is_ok();
        if has {
            return Ok(());
        }
        sqlx::query(&format!(
            "ALTER TABLE {qtable} ADD COLUMN {} VARCHAR(200) NOT NULL DEFAULT ''",
            d.quote("lt_pipeline")
        ))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        let pipelines: Vec<String> = sqlx::query("SELECT pipeline FROM lt_sync_state")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .filter_map(|r| text_at(r, 0).ok())
            .collect();
        if pipelines.iter().all(|p| p == pipeline) {
            sqlx::query(&format!(
                "UPDATE {qtable} SET {} = {}",
                d.quote("lt_pipeline"),
                d.param(1)
            ))
            .bind(pipeline.to_owned())
            .execute(&self.pool)
            .await
            .map_err(err)?;
        } else {
            tracing::warn!(table = qtable, "replica rows written before rows carried their pipeline stay unowned: no truncate or re-snapshot removes them");
        }
        Ok(())
    }

    /// `lt_changes` (the change log subscribers read through a node) and its lock row.
    async fn create_changelog(&self) -> Result<(), SyncError> {
        for sql in changelog::ddl(self.d) {
            sqlx::query(&sql).execute(&self.pool).await.map_err(err)?;
        }
        let n: i64 = sqlx::query(changelog::LOCK_ROWS)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(err)?;
        if n == 0 {
            sqlx::query(changelog::LOCK_INIT)
                .execute(&self.pool)
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    pub async fn state(&self, pipeline: &str) -> Result<Option<State>, SyncError> {
        let sql = format!("SELECT pos, last_change, snapshot_done, rows_applied, rows_deleted, rows_quarantined, committed_at_ms, applied_at_ms, backlog, backlog_unit, jet_last FROM lt_sync_state WHERE pipeline = {}", self.d.param(1));
        let row = sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some(r) = row else { return Ok(None) };
        let s = |i| text_at(&r, i).map_err(err);
        let n = |i| r.try_get::<i64, _>(i).map_err(err);
        Ok(Some(State {
            position: s(0)?,
            last_change: s(1)?,
            snapshot_done: r.try_get::<i32, _>(2).map_err(err)? != 0,
            rows_applied: n(3)? as u64,
            rows_deleted: n(4)? as u64,
            rows_quarantined: n(5)? as u64,
            committed_at_ms: n(6)?,
            applied_at_ms: n(7)?,
            backlog: n(8)?,
            backlog_unit: s(9)?,
            jet_last: s(10)?,
        }))
    }

    /// Open quarantine rows of a pipeline.
    pub async fn quarantine_open(&self, pipeline: &str) -> Result<u64, SyncError> {
        let sql = format!(
            "SELECT COUNT(*) FROM lt_quarantine WHERE pipeline = {} AND state = 'open'",
            self.d.param(1)
        );
        let n: i64 = sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(err)?;
        Ok(n as u64)
    }

    /// The keys of the pipeline's open quarantine rows; `None` when there are more than
    /// `max`.
    pub async fn quarantine_open_keys(
        &self,
        pipeline: &str,
        max: usize,
    ) -> Result<Option<std::collections::HashSet<String>>, SyncError> {
        let sql = format!(
            "SELECT DISTINCT record_key FROM lt_quarantine WHERE pipeline = {} AND state = 'open' LIMIT {}",
            self.d.param(1),
            max + 1
        );
        let rows = sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        if rows.len() > max {
            return Ok(None);
        }
        rows.iter()
            .map(|r| text_at(r, 0).map_err(err))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    pub async fn quarantine_list(
        &self,
        pipeline: &str,
        limit: u32,
    ) -> Result<Vec<Quarantined>, SyncError> {
        let sql = format!("SELECT change_id, record_key, record, reasons FROM lt_quarantine WHERE pipeline = {} AND state = 'open' ORDER BY change_id LIMIT {limit}", self.d.param(1));
        let rows = sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(Quarantined {
                    change_id: text_at(r, 0).map_err(err)?,
                    key: text_at(r, 1).map_err(err)?,
                    record: text_at(r, 2).map_err(err)?,
                    reasons: text_at(r, 3).map_err(err)?,
                    open: true,
                })
            })
            .collect()
    }

    /// Commits one batch: its steps, its quarantine rows, its change-log rows and the new
    /// state, atomically, under the pipeline's lease.
    pub async fn commit(&self, batch: &Commit<'_, '_>) -> Result<(), SyncError> {
        match &self.pg {
            Some(pg) => {
                let mut tx = pg.begin().await.map_err(err)?;
                batch.write(self.d, &mut tx).await?;
                tx.commit().await.map_err(err)
            }
            None => {
                let mut tx = self.pool.begin().await.map_err(err)?;
                batch.write(self.d, &mut tx).await?;
                tx.commit().await.map_err(err)
            }
        }
    }

    /// Stores a pipeline's state alone (backlog measurements between batches), under its
    /// lease.
    pub async fn save_state(
        &self,
        pipeline: &str,
        owner: &str,
        state: &State,
    ) -> Result<(), SyncError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        fence(self.d, &mut tx, pipeline, owner).await?;
        write_state(self.d, &mut tx, pipeline, state).await?;
        tx.commit().await.map_err(err)
    }

    /// Rows in a pipeline's table (for status and tests).
    pub async fn rows(&self, target: &Target) -> Result<u64, SyncError> {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {}", target.table))
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(err)?;
        Ok(n as u64)
    }
}
