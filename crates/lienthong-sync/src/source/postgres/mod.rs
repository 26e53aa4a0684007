//! PostgreSQL logical replication: an initial snapshot exactly at the replication slot's
//! start, then the pgoutput stream.
//!
//! First start: the slot is created on a replication session with `SNAPSHOT 'export'`; a
//! second session reads the table in that exported snapshot (REPEATABLE READ, a cursor),
//! while the replication session waits; then streaming starts at the slot's consistent
//! point. Every change committed after the snapshot is in the stream, none before it.
//!
//! Position: `R/C/I` = the LSN to restart streaming from (end of the last transaction
//! handed out whole), and the (commit LSN, index) of the last change handed out, so a
//! transaction split over batches resumes after its last applied change. The slot's
//! confirmed position is raised only to what the replica has committed.
//!
//! Keepalives move the position forward when no transaction is open, so a quiet table does
//! not make the slot hold WAL that other tables write.

use std::time::Duration;

use futures_util::FutureExt;
use lienthong_dictionary::catalog::Dataset;
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent};
use sqlx::{AnyPool, Row};

use super::{field_columns, Backlog};
use crate::change::{hex16, Batch, Change, Op};
use crate::db::{connect, identifier_ok};
use crate::pgoutput::{self, Datum, Message};
use crate::state::State;
use crate::SyncError;

mod stream;

use stream::*;
mod session;
use session::*;

/// Session settings both the snapshot and the stream use, so values read the same. Instants
/// (TIMESTAMPTZ) are written in Vietnam time, +07:00 all year (`Etc/GMT-7` is that fixed
/// offset; POSIX names count the sign the other way), as the dictionary reads a time without
/// an offset: the same instant reads the same from every source.
const SESSION: [(&str, &str); 3] = [
    ("datestyle", "ISO"),
    ("TimeZone", "Etc/GMT-7"),
    ("extra_float_digits", "1"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Pos {
    /// Restart streaming here: everything committed before it has been handed out.
    resume: u64,
    /// (commit LSN, index in the transaction) of the last change handed out.
    last: (u64, u32),
}

impl Pos {
    fn encode(self) -> String {
        format!(
            "{}/{}/{:08X}",
            hex16(self.resume),
            hex16(self.last.0),
            self.last.1
        )
    }

    fn decode(s: &str) -> Option<Pos> {
        let mut it = s.split('/');
        let resume = u64::from_str_radix(it.next()?, 16).ok()?;
        let commit = u64::from_str_radix(it.next()?, 16).ok()?;
        let idx = u32::from_str_radix(it.next()?, 16).ok()?;
        it.next().is_none().then_some(Pos {
            resume,
            last: (commit, idx),
        })
    }
}

struct Snapshot {
    /// Read through PostgreSQL's own driver: a page of rows is decoded in place, where the
    /// any-database driver converted every row and its columns first (measured in
    /// docs/benchmarks.md, issue 13).
    read: super::log::SnapshotRead<sqlx::Postgres>,
    /// The snapshot's one connection, closed when the snapshot is read.
    pool: sqlx::PgPool,
    lsn: u64,
}

pub struct PgSource {
    pipeline: String,
    table: String,
    /// The table's schema, as the Relation message names it.
    namespace: String,
    dataset: &'static Dataset,
    key_indexes: Vec<usize>,
    control: AnyPool,
    /// The source's address, for the snapshot's own connection.
    url: String,
    repl: Option<ReplicationClient>,
    repl_config: ReplicationConfig,
    snapshot: Option<Snapshot>,
    relation: Option<Relation>,
    txn: Option<Txn>,
    pos: Pos,
    /// Changes at or before this (commit LSN, index) were applied before a restart.
    skip_through: (u64, u32),
    /// The server's WAL end, from the latest message.
    wal_end: u64,
}

fn src(pipeline: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Source(format!("{pipeline}: {e}"))
}

/// Microseconds since 2000-01-01 (PostgreSQL's epoch) to ms since 1970-01-01.
fn pg_time_ms(us: i64) -> i64 {
    us / 1000 + 946_684_800_000
}

fn text<B: AsRef<[u8]>>(row: &[Option<B>], i: usize) -> String {
    row.get(i)
        .and_then(|c| c.as_ref())
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .unwrap_or_default()
}

impl PgSource {
    pub async fn open(
        pipeline: &str,
        url: &str,
        table: &str,
        slot: &str,
        publication: &str,
        dataset: &'static Dataset,
        state: Option<&State>,
    ) -> Result<PgSource, SyncError> {
        for (what, ident) in [
            ("table", table),
            ("slot", slot),
            ("publication", publication),
        ] {
            if !identifier_ok(ident) {
                return Err(SyncError::Config(format!(
                    "pipeline {pipeline}: {what} {ident:?} must be letters, digits and _"
                )));
            }
        }
        if slot.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(SyncError::Config(format!(
                "pipeline {pipeline}: slot {slot:?} must be lower case (PostgreSQL slot names are)"
            )));
        }
        let repl_config = replication_config(url, slot, publication)
            .map_err(|e| SyncError::Config(format!("pipeline {pipeline}: {e}")))?;
        let control = connect(url, 2).await.map_err(|e| src(pipeline, e))?;
        let key_indexes = dataset
            .key
            .iter()
            .map(|k| dataset.index(k).expect("dataset keys name its fields"))
            .collect();
        let mut s = PgSource {
            pipeline: pipeline.to_owned(),
            table: table.to_owned(),
            namespace: String::new(),
            dataset,
            key_indexes,
            control,
            url: url.to_owned(),
            repl: None,
            repl_config,
            snapshot: None,
            relation: None,
            txn: None,
            pos: Pos::default(),
            skip_through: (0, 0),
            wal_end: 0,
        };
        s.check_server().await?;
        s.namespace = s
            .one_text(
                "SELECT CAST(n.nspname AS TEXT) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
                &[table],
            )
            .await?
            .unwrap_or_else(|| "public".into());
        s.ensure_publication(publication).await?;
        let resume = state
            .filter(|st| st.snapshot_done)
            .map(|st| {
                Pos::decode(&st.position).ok_or_else(|| {
                    SyncError::Source(format!(
                        "{pipeline}: stored position {:?} is not a PostgreSQL position (was the pipeline's source changed?)",
                        st.position
                    ))
                })
            })
            .transpose()?;
        match resume {
            Some(pos) => s.resume(slot, pos).await?,
            None => s.start_snapshot(slot).await?,
        }
        Ok(s)
    }

    async fn one_text(&self, sql: &str, bind: &[&str]) -> Result<Option<String>, SyncError> {
        let mut q = sqlx::query(sql);
        for b in bind {
            q = q.bind(b.to_string());
        }
        let row = q
            .fetch_optional(&self.control)
            .await
            .map_err(|e| src(&self.pipeline, e))?;
        row.map(|r| {
            r.try_get::<Option<String>, _>(0)
                .map(Option::unwrap_or_default)
        })
        .transpose()
        .map_err(|e| src(&self.pipeline, e))
    }

    /// wal_level, the table, and whether deletes can be keyed.
    async fn check_server(&self) -> Result<(), SyncError> {
        let p = &self.pipeline;
        let wal = self
            .one_text("SELECT CAST(current_setting('wal_level') AS TEXT)", &[])
            .await?;
        if wal.as_deref() != Some("logical") {
            return Err(SyncError::Source(format!(
                "{p}: the source database has wal_level={}; logical replication needs wal_level=logical (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)",
                wal.unwrap_or_default()
            )));
        }
        let ident = self
            .one_text(
                "SELECT CAST(relreplident AS TEXT) FROM pg_class WHERE oid = to_regclass($1)",
                &[&self.table],
            )
            .await?;
        let Some(ident) = ident else {
            return Err(SyncError::Source(format!(
                "{p}: table {} does not exist in the source database",
                self.table
            )));
        };
        if ident == "f" {
            return Ok(());
        }
        // Deletes carry only the replica identity: it must hold the dataset key.
        let rows = sqlx::query(
            "SELECT CAST(a.attname AS TEXT) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass($1) AND ((i.indisprimary AND $2 = 'd') OR (i.indisreplident AND $2 = 'i'))",
        )
        .bind(self.table.clone())
        .bind(ident.clone())
        .fetch_all(&self.control)
        .await
        .map_err(|e| src(p, e))?;
        let cols: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect();
        if !self.dataset.key.iter().all(|k| cols.iter().any(|c| c == k)) {
            return Err(SyncError::Source(format!(
                "{p}: the replica identity of {} ({}) does not hold the dataset key ({}), so deletes could not be applied; run ALTER TABLE {} REPLICA IDENTITY FULL (or make the key the primary key)",
                self.table,
                if cols.is_empty() { "none".to_owned() } else { cols.join(", ") },
                self.dataset.key.join(", "),
                self.table
            )));
        }
        Ok(())
    }

    async fn ensure_publication(&self, publication: &str) -> Result<(), SyncError> {
        let p = &self.pipeline;
        let exists = self
            .one_text(
                "SELECT CAST(pubname AS TEXT) FROM pg_publication WHERE pubname = $1",
                &[publication],
            )
            .await?
            .is_some();
        let run = |sql: String| async move {
            sqlx::query(&sql)
                .execute(&self.control)
                .await
                .map(|_| ())
                .map_err(|e| {
                    SyncError::Source(format!(
                        "{p}: {sql}: {e} (create the publication as the table owner, or grant it)"
                    ))
                })
        };
        if !exists {
            return run(format!(
                "CREATE PUBLICATION {publication} FOR TABLE {}",
                self.table
            ))
            .await;
        }
        let has = self
            .one_text(
                "SELECT CAST(tablename AS TEXT) FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2",
                &[publication, &self.table],
            )
            .await?
            .is_some();
        if !has {
            run(format!(
                "ALTER PUBLICATION {publication} ADD TABLE {}",
                self.table
            ))
            .await?;
        }
        Ok(())
    }

    async fn slot_exists(&self, slot: &str) -> Result<bool, SyncError> {
        Ok(self
            .one_text(
                "SELECT CAST(slot_name AS TEXT) FROM pg_replication_slots WHERE slot_name = $1",
                &[slot],
            )
            .await?
            .is_some())
    }

    async fn start_snapshot(&mut self, slot: &str) -> Result<(), SyncError> {
        let p = self.pipeline.clone();
        // A slot left by an interrupted snapshot is taken again from scratch.
        if self.slot_exists(slot).await? {
            sqlx::query("SELECT pg_drop_replication_slot($1)")
                .bind(slot.to_owned())
                .execute(&self.control)
                .await
                .map_err(|e| src(&p, format!("dropping the unfinished slot {slot}: {e}")))?;
        }
        let mut repl = ReplicationClient::connect_gated(self.repl_config.clone())
            .await
            .map_err(|e| src(&p, e))?;
        let rows = repl
            .simple_query(&format!(
                "CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput (SNAPSHOT 'export')"
            ))
            .await
            .map_err(|e| src(&p, format!("creating replication slot {slot}: {e}")))?;
        let row = rows
            .first()
            .ok_or_else(|| src(&p, "CREATE_REPLICATION_SLOT returned no row"))?;
        let lsn = Lsn::parse(&text(row, 1))
            .map_err(|e| src(&p, format!("consistent point: {e}")))?
            .as_u64();
        let snapshot_name = text(row, 2);
        if snapshot_name.is_empty()
            || !snapshot_name
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(src(
                &p,
                format!("unexpected snapshot name {snapshot_name:?}"),
            ));
        }
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url)
            .await
            .map_err(|e| src(&p, e))?;
        let mut tx = pool.begin().await.map_err(|e| src(&p, e))?;
        let mut setup = vec![
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY".to_owned(),
            format!("SET TRANSACTION SNAPSHOT '{snapshot_name}'"),
        ];
        setup.extend(
            SESSION
                .iter()
                .map(|(k, v)| format!("SET LOCAL {k} = '{v}'")),
        );
        for sql in setup {
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| src(&p, format!("{sql}: {e}")))?;
        }
        let columns = self.source_columns(&mut tx).await?;
        let map = field_columns(self.dataset, &columns);
        let select: Vec<String> = map
            .iter()
            .map(|m| match m {
                Some(i) => format!("CAST(\"{}\" AS TEXT)", columns[*i]),
                None => "CAST(NULL AS TEXT)".into(),
            })
            .collect();
        let declare = format!(
            "DECLARE lt_snapshot NO SCROLL CURSOR FOR SELECT {} FROM {}",
            select.join(", "),
            self.table
        );
        sqlx::query(&declare)
            .execute(&mut *tx)
            .await
            .map_err(|e| src(&p, format!("{declare}: {e}")))?;
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {}", self.table))
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| src(&p, e))?;
        tracing::info!(pipeline = %p, slot, lsn = %Lsn(lsn), rows = total, "initial snapshot started");
        self.repl_config.start_lsn = Lsn(lsn);
        self.repl = Some(repl);
        // Nothing of the stream is applied yet: (0, 0) skips nothing, not even the first
        // change of a transaction whose commit record starts at the consistent point.
        self.pos = Pos {
            resume: lsn,
            last: (0, 0),
        };
        self.skip_through = (0, 0);
        self.snapshot = Some(Snapshot {
            read: super::log::SnapshotRead::new(tx, total as u64),
            pool,
            lsn,
        });
        Ok(())
    }

    /// Column names of the table, in order (read inside the snapshot).
    async fn source_columns(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    ) -> Result<Vec<String>, SyncError> {
        let rows = sqlx::query("SELECT CAST(attname AS TEXT) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
            .bind(self.table.clone())
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| src(&self.pipeline, e))?;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>(0)
                    .map_err(|e| src(&self.pipeline, e))
            })
            .collect()
    }

    async fn resume(&mut self, slot: &str, pos: Pos) -> Result<(), SyncError> {
        if !self.slot_exists(slot).await? {
            return Err(SyncError::Source(format!(
                "{}: replication slot {slot} is gone, so the changes after position {} cannot be read; drop the pipeline's state (lienthong sync reset) to take a new snapshot",
                self.pipeline,
                pos.encode()
            )));
        }
        self.pos = pos;
        self.skip_through = pos.last;
        let mut cfg = self.repl_config.clone();
        cfg.start_lsn = Lsn(pos.resume);
        cfg.ack_lsn = Some(Lsn(pos.resume));
        self.start_stream(cfg).await
    }

    async fn start_stream(&mut self, cfg: ReplicationConfig) -> Result<(), SyncError> {
        let p = self.pipeline.clone();
        let mut repl = match self.repl.take() {
            Some(r) => r,
            None => ReplicationClient::connect_gated(cfg)
                .await
                .map_err(|e| src(&p, e))?,
        };
        repl.start().await.map_err(|e| src(&p, e))?;
        repl.wait_started()
            .await
            .map_err(|e| src(&p, format!("starting replication: {e}")))?;
        self.repl = Some(repl);
        Ok(())
    }

    pub fn snapshot_progress(&self) -> Option<(u64, u64)> {
        self.snapshot.as_ref().map(|s| s.read.progress())
    }

    pub async fn next(&mut self, rows_max: usize, wait: Duration) -> Result<Batch, SyncError> {
        if self.snapshot.is_some() {
            return self.next_snapshot(rows_max).await;
        }
        self.next_stream(rows_max, wait).await
    }

    async fn next_snapshot(&mut self, rows_max: usize) -> Result<Batch, SyncError> {
        let p = self.pipeline.clone();
        let Some(snap) = self.snapshot.as_mut() else {
            return Err(src(&p, "no snapshot is being read"));
        };
        let rows = sqlx::query(&format!("FETCH {rows_max} FROM lt_snapshot"))
            .fetch_all(&mut **snap.read.tx())
            .await
            .map_err(|e| src(&p, e))?;
        let n_fields = self.dataset.fields.len();
        let prefix = format!("{}-S{}", hex16(snap.lsn), snap.read.attempt());
        let (changes, first) = snap
            .read
            .page_with(|done| {
                super::snapshot_changes(
                    &rows,
                    n_fields,
                    done,
                    |n| {
                        use std::fmt::Write;
                        let mut id = String::with_capacity(prefix.len() + 12);
                        id.push_str(&prefix);
                        let _ = write!(id, "{n:012}");
                        id
                    },
                    // Every column is cast to text in the cursor, so its type is not
                    // checked again per value; NULL reads as empty.
                    |r, i| {
                        Ok(r.try_get_unchecked::<Option<&str>, _>(i)?
                            .unwrap_or_default()
                            .to_owned())
                    },
                )
            })
            .map_err(|e| src(&p, e))?;
        let finished = rows.len() < rows_max;
        if let Some(snap) = self.snapshot.take_if(|_| finished) {
            snap.read.finish(&p).await?;
            snap.pool.close().await;
            let cfg = self.repl_config.clone();
            self.start_stream(cfg).await?;
        }
        Ok(super::log::page_batch(
            changes,
            first,
            finished,
            format!("snapshot/{}", hex16(self.pos.resume)),
            self.pos.encode(),
        ))
    }

    pub async fn backlog(&self) -> Option<Backlog> {
        if let Some(s) = &self.snapshot {
            return Some(Backlog {
                amount: {
                    let (done, total) = s.read.progress();
                    (total - done) as i64
                },
                unit: "rows",
            });
        }
        let now: i64 =
            sqlx::query("SELECT CAST(pg_current_wal_lsn() - CAST('0/0' AS pg_lsn) AS BIGINT)")
                .fetch_one(&self.control)
                .await
                .and_then(|r| r.try_get(0))
                .ok()?;
        Some(Backlog {
            amount: (now as u64).saturating_sub(self.pos.resume) as i64,
            unit: "wal bytes",
        })
    }

    pub async fn close(mut self) {
        if let Some(mut r) = self.repl.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), r.shutdown()).await;
        }
        // A snapshot stopped part-way: its transaction ends (rolled back) with its connection.
        if let Some(snap) = self.snapshot.take() {
            drop(snap.read);
            let _ = tokio::time::timeout(Duration::from_secs(2), snap.pool.close()).await;
        }
        self.control.close().await;
    }
}

#[cfg(test)]
mod tests;
