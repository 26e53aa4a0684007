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
    /// Every row of the target goes.
    Truncate,
    Apply {
        /// (change, normalised values)
        upserts: Vec<(&'a Change, &'a [String])>,
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

/// The SQL a batch needs from a database: the generic statements go through any sqlx
/// database; upserts take the fastest path each one has.
trait BatchDb: sqlx::Database {
    fn affected(r: &Self::QueryResult) -> u64;

    async fn upsert(
        tx: &mut sqlx::Transaction<'_, Self>,
        d: Dialect,
        target: &Target,
        rows: &[(&Change, &[String])],
    ) -> Result<(), SyncError>;
}

impl BatchDb for sqlx::Any {
    fn affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    async fn upsert(
        tx: &mut sqlx::Transaction<'_, Self>,
        d: Dialect,
        target: &Target,
        rows: &[(&Change, &[String])],
    ) -> Result<(), SyncError> {
        let per = (d.params_max() / target.names.len()).max(1);
        for chunk in rows.chunks(per) {
            let sql = d.upsert_sql(&target.table, &target.names, &target.key, chunk.len());
            let mut q = sqlx::query(&sql);
            for (c, values) in chunk {
                for (i, v) in values.iter().enumerate() {
                    // Key parts are bound as text even when empty (never NULL).
                    q = if target.key_indexes.contains(&i) {
                        q.bind(v.clone())
                    } else {
                        q.bind(none_if_empty(v))
                    };
                }
                q = q.bind(c.id.clone());
            }
            q.execute(&mut **tx).await.map_err(err)?;
        }
        Ok(())
    }
}

impl BatchDb for sqlx::Postgres {
    fn affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    /// `COPY` into a session-local staging table, then one `INSERT … ON CONFLICT` from it:
    /// measured at half the cost of any parameter-based upsert.
    async fn upsert(
        tx: &mut sqlx::Transaction<'_, Self>,
        _d: Dialect,
        target: &Target,
        rows: &[(&Change, &[String])],
    ) -> Result<(), SyncError> {
        if rows.is_empty() {
            return Ok(());
        }
        let stage = format!("\"lt_stage_{}\"", target.table_name);
        sqlx::query(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            target.table
        ))
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        let cols = target.names.join(", ");
        let mut copy = tx
            .copy_in_raw(&format!("COPY {stage} ({cols}) FROM STDIN"))
            .await
            .map_err(err)?;
        let mut buf = Vec::with_capacity(64 * 1024);
        for (c, values) in rows {
            for (i, v) in values.iter().enumerate() {
                if v.is_empty() && !target.key_indexes.contains(&i) {
                    buf.extend_from_slice(b"\\N");
                } else {
                    copy_text(&mut buf, v);
                }
                buf.push(b'\t');
            }
            copy_text(&mut buf, &c.id);
            buf.push(b'\n');
            if buf.len() > 60 * 1024 {
                copy.send(std::mem::take(&mut buf)).await.map_err(err)?;
            }
        }
        if !buf.is_empty() {
            copy.send(buf).await.map_err(err)?;
        }
        copy.finish().await.map_err(err)?;
        let set = target
            .names
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(&format!(
            "INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({key}) DO UPDATE SET {set}",
            t = target.table,
            key = target.key.join(", ")
        ))
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        sqlx::query(&format!("TRUNCATE {stage}"))
            .execute(&mut **tx)
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// A value in COPY's text format (backslash escapes for the separators).
fn copy_text(buf: &mut Vec<u8>, v: &str) {
    for b in v.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

/// Everything one batch writes, in one transaction of any of the replica databases.
pub struct Commit<'a, 'b> {
    pub target: &'a Target,
    pub steps: &'a [Step<'b>],
    pub quarantine: &'a [Quarantined],
    /// The keys with a valid change in the batch: their older open quarantine rows are
    /// superseded (empty when none is open).
    pub touched_keys: &'a [String],
    pub changelog: &'a [Logged],
    pub state: &'a State,
    /// The lease owner: the commit renews its lease, and fails when it is not held.
    pub owner: &'a str,
}

impl Commit<'_, '_> {
    async fn write<DB>(
        &self,
        d: Dialect,
        tx: &mut sqlx::Transaction<'_, DB>,
    ) -> Result<(), SyncError>
    where
        DB: BatchDb,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let target = self.target;
        fence(d, tx, &target.pipeline, self.owner).await?;
        if target.changelog && !self.changelog.is_empty() {
            // One writer at a time: sequence numbers are then in commit order, so a reader
            // that saw seq N will never find a smaller one appear later.
            sqlx::query(changelog::LOCK)
                .execute(&mut **tx)
                .await
                .map_err(err)?;
            append_changelog(d, tx, target, self.changelog).await?;
        }
        for step in self.steps {
            match step {
                Step::Truncate => {
                    sqlx::query(&format!("DELETE FROM {}", target.table))
                        .execute(&mut **tx)
                        .await
                        .map_err(err)?;
                    // Rows quarantined before are moot: what the source still holds comes
                    // again after the truncate, and is quarantined again if still invalid.
                    let sql = format!("UPDATE lt_quarantine SET state = 'superseded' WHERE pipeline = {} AND state = 'open'", d.param(1));
                    sqlx::query(&sql)
                        .bind(target.pipeline.clone())
                        .execute(&mut **tx)
                        .await
                        .map_err(err)?;
                }
                Step::Apply { upserts, deletes } => {
                    let per = (d.params_max() / target.key.len()).max(1);
                    for chunk in deletes.chunks(per) {
                        let sql = d.delete_sql(&target.table, &target.key, chunk.len());
                        let mut q = sqlx::query(&sql);
                        for (_, values) in chunk {
                            for &i in &target.key_indexes {
                                q = q.bind(values.get(i).cloned().unwrap_or_default());
                            }
                        }
                        q.execute(&mut **tx).await.map_err(err)?;
                    }
                    DB::upsert(tx, d, target, upserts).await?;
                }
            }
        }
        if !self.touched_keys.is_empty() {
            for chunk in self.touched_keys.chunks(d.params_max() - 2) {
                let ps: Vec<String> = (0..chunk.len()).map(|i| d.param(i + 2)).collect();
                let sql = format!("UPDATE lt_quarantine SET state = 'superseded' WHERE pipeline = {} AND state = 'open' AND record_key IN ({})", d.param(1), ps.join(", "));
                let mut q = sqlx::query(&sql).bind(target.pipeline.clone());
                for k in chunk {
                    q = q.bind(k.clone());
                }
                q.execute(&mut **tx).await.map_err(err)?;
            }
        }
        for chunk in self.quarantine.chunks(d.params_max() / 7) {
            let cols = "pipeline, change_id, record_key, record, reasons, at_ms, state";
            let rows = d.rows_of_params(chunk.len(), 7);
            // A change read again (a repeated batch, or the same snapshot position after a
            // reset) takes its row's place again: open if it still is, even when a truncate
            // earlier in this transaction marked the old row superseded.
            let sql = match d {
                Dialect::MySql => format!(
                    "INSERT INTO lt_quarantine ({cols}) VALUES {rows} ON DUPLICATE KEY UPDATE record_key = VALUES(record_key), record = VALUES(record), reasons = VALUES(reasons), at_ms = VALUES(at_ms), state = VALUES(state)"
                ),
                _ => format!(
                    "INSERT INTO lt_quarantine ({cols}) VALUES {rows} ON CONFLICT (pipeline, change_id) DO UPDATE SET record_key = excluded.record_key, record = excluded.record, reasons = excluded.reasons, at_ms = excluded.at_ms, state = excluded.state"
                ),
            };
            let mut q = sqlx::query(&sql);
            for row in chunk {
                q = q
                    .bind(target.pipeline.clone())
                    .bind(row.change_id.clone())
                    .bind(row.key.clone())
                    .bind(row.record.clone())
                    .bind(row.reasons.clone())
                    .bind(self.state.applied_at_ms)
                    .bind(if row.open { "open" } else { "superseded" }.to_owned());
            }
            q.execute(&mut **tx).await.map_err(err)?;
        }
        write_state(d, tx, &target.pipeline, self.state).await
    }
}

/// Appends rows to the change log (its lock taken by the caller).
async fn append_changelog<DB>(
    d: Dialect,
    tx: &mut sqlx::Transaction<'_, DB>,
    target: &Target,
    rows: &[Logged],
) -> Result<(), SyncError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for chunk in rows.chunks(d.params_max() / changelog::PARAMS_PER_CHANGE) {
        let sql = changelog::insert_sql(d, chunk.len());
        let mut q = sqlx::query(&sql);
        for l in chunk {
            q = q
                .bind(target.table_name.clone())
                .bind(l.change_id.clone())
                .bind(l.op.as_str().to_owned())
                .bind(l.record.clone())
                .bind(l.committed_at_ms);
        }
        q.execute(&mut **tx).await.map_err(err)?;
    }
    Ok(())
}

/// Quarantine rows replayed per transaction.
const REPLAY_ROWS_PER_TX: usize = 500;

fn held_by(pipeline: &str, holder: &str, until: i64, now: i64) -> String {
    format!(
        "pipeline {pipeline} is run by another process ({holder}, lease for {} s more); stop that `sync run` first (one that crashed on another host is taken over once its lease expires)",
        ((until - now).max(0) as u64).div_ceil(1000)
    )
}

/// Renews the lease inside the transaction, or fails it when another owner holds it: the
/// row stays locked to this transaction until it commits, so no claim slips in between.
async fn fence<DB>(
    d: Dialect,
    tx: &mut sqlx::Transaction<'_, DB>,
    pipeline: &str,
    owner: &str,
) -> Result<(), SyncError>
where
    DB: BatchDb,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    // `n` always changes, so MySQL counts the row as affected.
    let sql = format!(
        "UPDATE lt_sync_lease SET until_ms = {}, n = n + 1 WHERE pipeline = {} AND owner = {}",
        d.param(1),
        d.param(2),
        d.param(3)
    );
    let r = sqlx::query(&sql)
        .bind(crate::state::now_ms() + LEASE_MS)
        .bind(pipeline.to_owned())
        .bind(owner.to_owned())
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    if DB::affected(&r) != 1 {
        return Err(SyncError::Lease(format!(
            "pipeline {pipeline}: this process no longer holds its lease (another `sync run` took it over, or it was reset); nothing was committed"
        )));
    }
    Ok(())
}

async fn write_state<DB>(
    d: Dialect,
    tx: &mut sqlx::Transaction<'_, DB>,
    pipeline: &str,
    s: &State,
) -> Result<(), SyncError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let cols = "pipeline, pos, last_change, snapshot_done, rows_applied, rows_deleted, rows_quarantined, committed_at_ms, applied_at_ms, backlog, backlog_unit, jet_last";
    let ps = d.rows_of_params(1, 12);
    let set = cols
        .split(", ")
        .skip(1)
        .map(|c| match d {
            Dialect::MySql => format!("{c} = VALUES({c})"),
            _ => format!("{c} = excluded.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = match d {
        Dialect::MySql => {
            format!("INSERT INTO lt_sync_state ({cols}) VALUES {ps} ON DUPLICATE KEY UPDATE {set}")
        }
        _ => format!(
            "INSERT INTO lt_sync_state ({cols}) VALUES {ps} ON CONFLICT (pipeline) DO UPDATE SET {set}"
        ),
    };
    sqlx::query(&sql)
        .bind(pipeline.to_owned())
        .bind(s.position.clone())
        .bind(s.last_change.clone())
        .bind(s.snapshot_done as i32)
        .bind(s.rows_applied as i64)
        .bind(s.rows_deleted as i64)
        .bind(s.rows_quarantined as i64)
        .bind(s.committed_at_ms)
        .bind(s.applied_at_ms)
        .bind(s.backlog)
        .bind(s.backlog_unit.clone())
        .bind(s.jet_last.clone())
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    Ok(())
}

impl Replica {
    pub async fn open(url: &str) -> Result<Replica, SyncError> {
        let d = Dialect::of(url)?;
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
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {qtable} ({}, {} TEXT NOT NULL, PRIMARY KEY ({}))",
            cols.join(", "),
            d.quote("lt_change"),
            key.join(", ")
        );
        sqlx::query(&ddl).execute(&self.pool).await.map_err(err)?;
        let names = dataset
            .fields
            .iter()
            .map(|f| d.quote(f.name))
            .chain([d.quote("lt_change")])
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

    /// Who holds a pipeline's lease, and until when (ms); `None` when nobody ever did.
    pub async fn lease_holder(&self, pipeline: &str) -> Result<Option<(String, i64)>, SyncError> {
        let sql = format!(
            "SELECT owner, until_ms FROM lt_sync_lease WHERE pipeline = {}",
            self.d.param(1)
        );
        let row = sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| Ok((text_at(&r, 0).map_err(err)?, r.try_get(1).map_err(err)?)))
            .transpose()
    }

    /// Claims a pipeline's lease for `owner`: free, expired, or held by a process of this
    /// host that is gone. Otherwise says who holds it.
    pub async fn claim(&self, pipeline: &str, owner: &str) -> Result<(), SyncError> {
        let d = self.d;
        let now = crate::state::now_ms();
        let insert = match d {
            Dialect::MySql => "INSERT IGNORE INTO lt_sync_lease (pipeline, owner, until_ms, n) VALUES (?, ?, ?, 0)".to_owned(),
            _ => format!("INSERT INTO lt_sync_lease (pipeline, owner, until_ms, n) VALUES ({}, {}, {}, 0) ON CONFLICT DO NOTHING", d.param(1), d.param(2), d.param(3)),
        };
        let inserted = sqlx::query(&insert)
            .bind(pipeline.to_owned())
            .bind(owner.to_owned())
            .bind(now + LEASE_MS)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected();
        if inserted == 1 {
            return Ok(());
        }
        let (holder, until) = self.lease_holder(pipeline).await?.ok_or_else(|| {
            SyncError::Lease(format!(
                "pipeline {pipeline}: lease row vanished while claiming it; try again"
            ))
        })?;
        if !(holder.is_empty() || until < now || holder_is_gone(&holder)) {
            return Err(SyncError::Lease(held_by(pipeline, &holder, until, now)));
        }
        // Compare and swap on what was read: of two claimants, one wins.
        let sql = format!(
            "UPDATE lt_sync_lease SET owner = {}, until_ms = {}, n = n + 1 WHERE pipeline = {} AND owner = {} AND until_ms = {}",
            d.param(1),
            d.param(2),
            d.param(3),
            d.param(4),
            d.param(5)
        );
        let swapped = sqlx::query(&sql)
            .bind(owner.to_owned())
            .bind(now + LEASE_MS)
            .bind(pipeline.to_owned())
            .bind(holder)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected();
        if swapped != 1 {
            return Err(SyncError::Lease(format!(
                "pipeline {pipeline}: another process claimed it at the same moment"
            )));
        }
        Ok(())
    }

    /// Renews a held lease between commits (an idle pipeline).
    pub async fn renew(&self, pipeline: &str, owner: &str) -> Result<(), SyncError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        fence(self.d, &mut tx, pipeline, owner).await?;
        tx.commit().await.map_err(err)
    }

    /// Gives a lease back (at close), when still held by `owner`.
    pub async fn release(&self, pipeline: &str, owner: &str) -> Result<(), SyncError> {
        let sql = format!(
            "UPDATE lt_sync_lease SET owner = '', until_ms = 0, n = n + 1 WHERE pipeline = {} AND owner = {}",
            self.d.param(1),
            self.d.param(2)
        );
        sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .bind(owner.to_owned())
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Replays open quarantine rows after a fix: `decide` gets each row (the newest per
    /// key) and returns, when it now validates, the normalised values and the record as
    /// the change log keeps it; or new reasons. Valid rows are upserted and marked
    /// `replayed` (and logged in `lt_changes` when the table keeps a change log); older
    /// rows of the same key `superseded`. A row that a running pipeline superseded in the
    /// meantime is left alone: the newer change it saw wins. Returns (replayed, still open).
    pub async fn replay<F>(&self, target: &Target, mut decide: F) -> Result<(u64, u64), SyncError>
    where
        F: FnMut(&Quarantined) -> Result<(Vec<String>, String), String>,
    {
        let d = self.d;
        let rows = self
            .quarantine_list(&target.pipeline, u32::MAX >> 1)
            .await?;
        let mut newest: std::collections::BTreeMap<&str, &Quarantined> = Default::default();
        for r in &rows {
            newest.insert(&r.key, r); // ordered by change_id: the last one wins
        }
        let mark = |state: &'static str| {
            format!(
                "UPDATE lt_quarantine SET state = '{state}' WHERE pipeline = {} AND change_id = {} AND state = 'open'",
                d.param(1),
                d.param(2)
            )
        };
        let (mut replayed, mut open) = (0, 0);
        // Transactions of a bounded size: a running pipeline's commits wait for one at most.
        for chunk in rows.chunks(REPLAY_ROWS_PER_TX) {
            let mut tx = self.pool.begin().await.map_err(err)?;
            // The pipeline's lease row first, as every commit locks it first (without claiming
            // it: a replay runs beside the holder): the two queue rather than deadlock.
            let sql = format!(
                "UPDATE lt_sync_lease SET n = n + 1 WHERE pipeline = {}",
                d.param(1)
            );
            sqlx::query(&sql)
                .bind(target.pipeline.clone())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            if target.changelog {
                // Then the change log's one-writer lock, as commits do: sequence numbers stay
                // in commit order.
                sqlx::query(changelog::LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
            }
            let mut logged = Vec::new();
            for r in chunk {
                if !std::ptr::eq(newest[r.key.as_str()], r) {
                    sqlx::query(&mark("superseded"))
                        .bind(target.pipeline.clone())
                        .bind(r.change_id.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(err)?;
                    continue;
                }
                match decide(r) {
                    Ok((values, record)) => {
                        // Only a row still open: a commit before this transaction may have
                        // superseded it with a newer change of the key.
                        let marked = sqlx::query(&mark("replayed"))
                            .bind(target.pipeline.clone())
                            .bind(r.change_id.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(err)?
                            .rows_affected();
                        if marked == 0 {
                            continue;
                        }
                        let change = Change {
                            op: crate::change::Op::Upsert,
                            id: r.change_id.clone(),
                            values: Vec::new(),
                            committed_at_ms: None,
                            defect: None,
                        };
                        sqlx::Any::upsert(&mut tx, d, target, &[(&change, values.as_slice())])
                            .await?;
                        logged.push(Logged {
                            change_id: r.change_id.clone(),
                            op: crate::change::Op::Upsert,
                            record,
                            committed_at_ms: crate::state::now_ms(),
                        });
                        replayed += 1;
                    }
                    Err(reasons) => {
                        let sql = format!(
                            "UPDATE lt_quarantine SET reasons = {} WHERE pipeline = {} AND change_id = {} AND state = 'open'",
                            d.param(1),
                            d.param(2),
                            d.param(3)
                        );
                        // (Counted whatever the database reports: a row whose reasons did not
                        // change may count as unaffected.)
                        sqlx::query(&sql)
                            .bind(reasons)
                            .bind(target.pipeline.clone())
                            .bind(r.change_id.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(err)?;
                        open += 1;
                    }
                }
            }
            if target.changelog {
                // Subscribers of the change log get the replayed records as new changes.
                append_changelog(d, &mut tx, target, &logged).await?;
            }
            tx.commit().await.map_err(err)?;
        }
        Ok((replayed, open))
    }

    /// Forgets a pipeline's position and counters (its quarantine stays for the record).
    /// Refused while a running process holds the pipeline's lease.
    pub async fn reset(&self, pipeline: &str) -> Result<(), SyncError> {
        let now = crate::state::now_ms();
        if let Some((holder, until)) = self.lease_holder(pipeline).await? {
            if !holder.is_empty() && until >= now && !holder_is_gone(&holder) {
                return Err(SyncError::Lease(format!(
                    "{}; stop it before resetting",
                    held_by(pipeline, &holder, until, now)
                )));
            }
        }
        for table in ["lt_sync_state", "lt_sync_lease"] {
            let sql = format!("DELETE FROM {table} WHERE pipeline = {}", self.d.param(1));
            sqlx::query(&sql)
                .bind(pipeline.to_owned())
                .execute(&self.pool)
                .await
                .map_err(err)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    #[test]
    fn copy_text_escapes_its_separators() {
        let mut b = Vec::new();
        super::copy_text(&mut b, "a\tb\\c\nd\re Việt");
        assert_eq!(String::from_utf8(b).unwrap(), "a\\tb\\\\c\\nd\\re Việt");
    }
}
