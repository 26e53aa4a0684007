//! MariaDB/MySQL row-based binlog: an initial snapshot at a binlog position, then the
//! binlog from there.
//!
//! The snapshot is `START TRANSACTION WITH CONSISTENT SNAPSHOT`, whose binlog position
//! MariaDB reports (`binlog_snapshot_file`, `binlog_snapshot_position`) without a global
//! lock; it is read by key in pages. The stream is `mysql_async`'s binlog client with
//! MariaDB's GTID events understood (`@mariadb_slave_capability = 4`).
//!
//! Position: `file/START/I` = the binlog file, the offset where the last transaction handed
//! out began (or the end of the last event outside a transaction), and the index of the
//! last change handed out inside it; with the GTID (`domain-server-sequence`) last seen.
//! Needs `log_bin`, `binlog_format=ROW`, `binlog_row_image=FULL`; column names come from
//! `binlog_row_metadata=FULL` when set, else from `information_schema`.

use std::time::Duration;

use futures_util::StreamExt;
use lienthong_dictionary::catalog::Dataset;
use mysql_async::binlog::events::{EventData, OptionalMetadataField, TableMapEvent};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Value};
use sqlx::{AnyPool, Row};

use super::{field_columns, Backlog};
use crate::change::{Batch, Change, Op};
use crate::db::{connect, identifier_ok};
use crate::state::State;
use crate::SyncError;

mod rows;
mod stream;

use stream::*;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Pos {
    file: String,
    /// Where the transaction of the last change began (or the end of the last event
    /// outside a transaction).
    start: u64,
    /// Index of the last change handed out in that transaction (0: none yet).
    index: u32,
}

impl Pos {
    fn encode(&self) -> String {
        format!("{}/{:016X}/{:08X}", self.file, self.start, self.index)
    }

    fn decode(s: &str) -> Option<Pos> {
        let mut it = s.rsplitn(3, '/');
        let index = u32::from_str_radix(it.next()?, 16).ok()?;
        let start = u64::from_str_radix(it.next()?, 16).ok()?;
        let file = it.next()?;
        (!file.is_empty() && !file.starts_with("snapshot")).then(|| Pos {
            file: file.to_owned(),
            start,
            index,
        })
    }
}

/// The number in `mariadb-bin.000123`, so change ids order across files.
fn file_number(file: &str) -> u64 {
    file.rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

struct Snapshot {
    read: super::log::SnapshotRead,
    /// `SELECT … WHERE key > (?) ORDER BY key LIMIT ` and the same without the `WHERE`.
    select_after: String,
    select_first: String,
    after: Option<Vec<String>>,
    pos: Pos,
}

pub struct BinlogSource {
    pipeline: String,
    db: String,
    table: String,
    dataset: &'static Dataset,
    key_indexes: Vec<usize>,
    control: AnyPool,
    url: String,
    server_id: u32,
    snapshot: Option<Snapshot>,
    stream: Option<BinlogStream>,
    /// Dataset field → binlog column, for the table id it was built for.
    map: Option<(u64, Vec<Option<usize>>)>,
    txn: Option<Txn>,
    pos: Pos,
    /// The restart position's transaction start and index: changes at or before it in that
    /// transaction were applied before the restart.
    skip: Option<(String, u64, u32)>,
    gtid: String,
    /// Decoded changes not yet handed out: (change, transaction start, index).
    pending: std::collections::VecDeque<(Change, u64, u32)>,
}

fn src(pipeline: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Source(format!("{pipeline}: {e}"))
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time in Vietnam time (+07:00), for TIMESTAMP columns: what
/// the snapshot's `+07:00` session shows, and how the dictionary reads a time without an
/// offset (a TIMESTAMP is an instant; shown in UTC it would be read seven hours early).
fn vietnam_text(secs: i64, micros: &str) -> String {
    let mut s = lienthong_core::time::utc_datetime(secs + 7 * 3600);
    if !micros.is_empty() {
        s.push('.');
        s.push_str(micros);
    }
    s
}

/// As [`value_text`], taking the value: text bytes that are UTF-8 become the string
/// without a copy.
fn value_into_text(v: Option<BinlogValue<'_>>, ty: Option<ColumnType>) -> String {
    match v {
        Some(BinlogValue::Value(Value::Bytes(b)))
            if ty != Some(ColumnType::MYSQL_TYPE_TIMESTAMP2)
                && ty != Some(ColumnType::MYSQL_TYPE_TIMESTAMP) =>
        {
            String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
        v => value_text(v.as_ref(), ty),
    }
}

/// A binlog value as the text `CAST(col AS CHAR)` gives in a `+07:00` session.
fn value_text(v: Option<&BinlogValue<'_>>, ty: Option<ColumnType>) -> String {
    let Some(BinlogValue::Value(v)) = v else {
        return match v {
            Some(BinlogValue::Jsonb(j)) => serde_json::Value::try_from(j.clone())
                .map(|j| j.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
    };
    match v {
        Value::NULL => String::new(),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b).into_owned();
            if ty == Some(ColumnType::MYSQL_TYPE_TIMESTAMP2)
                || ty == Some(ColumnType::MYSQL_TYPE_TIMESTAMP)
            {
                let (secs, micros) = s.split_once('.').unwrap_or((&s, ""));
                match secs.parse::<i64>() {
                    Ok(secs) => vietnam_text(secs, micros),
                    Err(_) => s,
                }
            } else {
                s
            }
        }
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Date(y, m, d, h, mi, s, us) => {
            if ty == Some(ColumnType::MYSQL_TYPE_DATE) || ty == Some(ColumnType::MYSQL_TYPE_NEWDATE)
            {
                format!("{y:04}-{m:02}-{d:02}")
            } else if *us == 0 {
                format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
            }
        }
        Value::Time(neg, days, h, m, s, us) => {
            let hours = u32::from(*h) + days * 24;
            let sign = if *neg { "-" } else { "" };
            if *us == 0 {
                format!("{sign}{hours:02}:{m:02}:{s:02}")
            } else {
                format!("{sign}{hours:02}:{m:02}:{s:02}.{us:06}")
            }
        }
    }
}

impl BinlogSource {
    pub async fn open(
        pipeline: &str,
        url: &str,
        table: &str,
        server_id: u32,
        dataset: &'static Dataset,
        state: Option<&State>,
    ) -> Result<BinlogSource, SyncError> {
        if !identifier_ok(table) {
            return Err(SyncError::Config(format!(
                "pipeline {pipeline}: table {table:?} must be letters, digits and _"
            )));
        }
        if server_id <= 1 {
            return Err(SyncError::Config(format!(
                "pipeline {pipeline}: server_id must be above 1 and unique among the server's replicas"
            )));
        }
        let url = url.replacen("mariadb:", "mysql:", 1);
        let control = connect(&url, 2).await.map_err(|e| src(pipeline, e))?;
        let key_indexes = dataset
            .key
            .iter()
            .map(|k| dataset.index(k).expect("dataset keys name its fields"))
            .collect();
        let db: String = sqlx::query("SELECT CAST(DATABASE() AS CHAR)")
            .fetch_one(&control)
            .await
            .and_then(|r| r.try_get::<Option<String>, _>(0))
            .map_err(|e| src(pipeline, e))?
            .ok_or_else(|| {
                SyncError::Config(format!(
                    "pipeline {pipeline}: source_url must name a database (mysql://user@host/DB)"
                ))
            })?;
        let mut s = BinlogSource {
            pipeline: pipeline.to_owned(),
            db,
            table: table.to_owned(),
            dataset,
            key_indexes,
            control,
            url,
            server_id,
            snapshot: None,
            stream: None,
            map: None,
            txn: None,
            pos: Pos::default(),
            skip: None,
            gtid: String::new(),
            pending: Default::default(),
        };
        s.check_server().await?;
        let resume = state
            .filter(|st| st.snapshot_done)
            .map(|st| {
                Pos::decode(&st.position).ok_or_else(|| {
                    SyncError::Source(format!(
                        "{pipeline}: stored position {:?} is not a binlog position (was the pipeline's source changed?)",
                        st.position
                    ))
                })
            })
            .transpose()?;
        match resume {
            Some(pos) => {
                s.skip = Some((pos.file.clone(), pos.start, pos.index));
                s.pos = pos;
                s.start_stream().await?;
            }
            None => s.start_snapshot().await?,
        }
        Ok(s)
    }

    async fn check_server(&self) -> Result<(), SyncError> {
        let p = &self.pipeline;
        let row = sqlx::query("SELECT CAST(@@log_bin AS CHAR), CAST(@@binlog_format AS CHAR), CAST(@@binlog_row_image AS CHAR)")
            .fetch_one(&self.control)
            .await
            .map_err(|e| src(p, e))?;
        let get = |i| {
            row.try_get::<Option<String>, _>(i)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        let (log_bin, format, image) = (get(0), get(1), get(2));
        if !(log_bin == "1" || log_bin.eq_ignore_ascii_case("on"))
            || format != "ROW"
            || image != "FULL"
        {
            return Err(SyncError::Source(format!(
                "{p}: the source server has log_bin={log_bin}, binlog_format={format}, binlog_row_image={image}; binlog capture needs log_bin=1 (--log-bin), binlog_format=ROW and binlog_row_image=FULL"
            )));
        }
        // MariaDB's compressed binlog events are not decoded by the binlog reader.
        if let Ok(r) = sqlx::query("SELECT CAST(@@log_bin_compress AS CHAR)")
            .fetch_one(&self.control)
            .await
        {
            let v = r
                .try_get::<Option<String>, _>(0)
                .ok()
                .flatten()
                .unwrap_or_default();
            if v == "1" || v.eq_ignore_ascii_case("on") {
                return Err(SyncError::Source(format!(
                    "{p}: the source server compresses its binlog (log_bin_compress=ON), which this reader cannot decode; turn it off"
                )));
            }
        }
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?")
            .bind(self.db.clone())
            .bind(self.table.clone())
            .fetch_one(&self.control)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| src(p, e))?;
        if n == 0 {
            return Err(SyncError::Source(format!(
                "{p}: table {}.{} does not exist in the source database",
                self.db, self.table
            )));
        }
        Ok(())
    }

    async fn columns(&self) -> Result<Vec<String>, SyncError> {
        let rows = sqlx::query("SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION")
            .bind(self.db.clone())
            .bind(self.table.clone())
            .fetch_all(&self.control)
            .await
            .map_err(|e| src(&self.pipeline, e))?;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>(0)
                    .map_err(|e| src(&self.pipeline, e))
            })
            .collect()
    }

    async fn start_snapshot(&mut self) -> Result<(), SyncError> {
        let p = self.pipeline.clone();
        let columns = self.columns().await?;
        let map = field_columns(self.dataset, &columns);
        if let Some(f) = self.key_indexes.iter().find(|&&i| map[i].is_none()) {
            return Err(SyncError::Source(format!(
                "{p}: table {} has no key column {}",
                self.table, self.dataset.fields[*f].name
            )));
        }
        let mut tx = self.control.begin().await.map_err(|e| src(&p, e))?;
        // `begin` already opened a transaction: end it and open one at a binlog position.
        for sql in [
            "COMMIT",
            "SET SESSION time_zone = '+07:00'",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        ] {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| src(&p, format!("{sql}: {e}")))?;
        }
        let status = sqlx::query("SHOW STATUS LIKE 'binlog_snapshot_%'")
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| src(&p, e))?;
        let mut file = String::new();
        let mut offset = 0u64;
        for r in &status {
            let k: String = r.try_get(0).map_err(|e| src(&p, e))?;
            let v: String = r.try_get(1).map_err(|e| src(&p, e))?;
            match k.to_ascii_lowercase().as_str() {
                "binlog_snapshot_file" => file = v,
                "binlog_snapshot_position" => offset = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        if file.is_empty() {
            return Err(src(
                &p,
                "the server reported no binlog snapshot position (is this MariaDB with log_bin?)",
            ));
        }
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM `{}`", self.table))
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| src(&p, e))?;
        let cols: Vec<String> = map
            .iter()
            .map(|m| match m {
                Some(i) => format!("CAST(`{}` AS CHAR)", columns[*i]),
                None => "CAST(NULL AS CHAR)".into(),
            })
            .collect();
        let key: Vec<String> = self.dataset.key.iter().map(|k| format!("`{k}`")).collect();
        let select_after = format!(
            "SELECT {} FROM `{}` WHERE ({}) > ({}) ORDER BY {} LIMIT ",
            cols.join(", "),
            self.table,
            key.join(", "),
            key.iter().map(|_| "?").collect::<Vec<_>>().join(", "),
            key.join(", ")
        );
        let select_first = format!(
            "SELECT {} FROM `{}` ORDER BY {} LIMIT ",
            cols.join(", "),
            self.table,
            key.join(", ")
        );
        tracing::info!(pipeline = %p, file = %file, offset, rows = total, "initial snapshot started");
        let pos = Pos {
            file,
            start: offset,
            index: 0,
        };
        self.pos = pos.clone();
        self.snapshot = Some(Snapshot {
            read: super::log::SnapshotRead::new(tx, total as u64),
            select_after,
            select_first,
            after: None,
            pos,
        });
        Ok(())
    }

    async fn start_stream(&mut self) -> Result<(), SyncError> {
        let p = self.pipeline.clone();
        let opts = mysql_async::Opts::from_url(&self.url)
            .map_err(|e| SyncError::Config(format!("pipeline {p}: source_url: {e}")))?;
        let mut conn = mysql_async::Conn::new(opts).await.map_err(|e| src(&p, e))?;
        conn.query_drop("SET @mariadb_slave_capability = 4")
            .await
            .map_err(|e| src(&p, e))?;
        let req = BinlogStreamRequest::new(self.server_id)
            .with_filename(self.pos.file.as_bytes())
            .with_pos(self.pos.start);
        let stream = conn
            .get_binlog_stream(req)
            .await
            .map_err(|e| src(&p, format!("requesting the binlog: {e}")))?;
        self.stream = Some(stream);
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
        let n_fields = self.dataset.fields.len();
        let snap = self.snapshot.as_mut().expect("in snapshot");
        let sql = match &snap.after {
            Some(_) => format!("{}{rows_max}", snap.select_after),
            None => format!("{}{rows_max}", snap.select_first),
        };
        let mut q = sqlx::query(&sql);
        for k in snap.after.iter().flatten() {
            q = q.bind(k.clone());
        }
        let rows = q
            .fetch_all(&mut **snap.read.tx())
            .await
            .map_err(|e| src(&p, e))?;
        let (file, start) = (file_number(&snap.pos.file), snap.pos.start);
        let attempt = snap.read.attempt();
        let (changes, first) = snap
            .read
            .page(&rows, n_fields, |n| {
                format!("{file:08}{start:016X}S{attempt}{n:012}")
            })
            .map_err(|e| src(&p, e))?;
        if let Some(last) = changes.last() {
            snap.after = Some(
                self.key_indexes
                    .iter()
                    .map(|&i| last.values[i].clone())
                    .collect(),
            );
        }
        let finished = rows.len() < rows_max;
        if let Some(snap) = self.snapshot.take_if(|_| finished) {
            snap.read.finish(&p).await?;
            self.start_stream().await?;
        }
        Ok(super::log::page_batch(
            changes,
            first,
            finished,
            format!("snapshot/{}", self.pos.encode()),
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
        let row = sqlx::query("SHOW MASTER STATUS")
            .fetch_optional(&self.control)
            .await
            .ok()??;
        let file: String = row.try_get(0).ok()?;
        let at: u64 = row.try_get::<i64, _>(1).ok()? as u64;
        let behind = if file == self.pos.file {
            at.saturating_sub(self.pos.start)
        } else {
            at
        };
        Some(Backlog {
            amount: behind as i64,
            unit: "binlog bytes",
        })
    }

    /// The last MariaDB GTID seen (`domain-server-sequence`), for operators.
    pub fn gtid(&self) -> &str {
        &self.gtid
    }

    pub async fn close(mut self) {
        if let Some(s) = self.stream.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), s.close()).await;
        }
        self.control.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let p = Pos {
            file: "mariadb-bin.000012".into(),
            start: 4096,
            index: 3,
        };
        assert_eq!(p.encode(), "mariadb-bin.000012/0000000000001000/00000003");
        assert_eq!(Pos::decode(&p.encode()), Some(p));
        assert_eq!(Pos::decode("snapshot"), None);
        assert_eq!(
            Pos::decode("0000000001D9DD30/0000000001D9DCD0/00000007").map(|p| p.file),
            Some("0000000001D9DD30".into()),
            "only the shape is checked here; open checks the file exists"
        );
        assert_eq!(file_number("mariadb-bin.000012"), 12);
    }

    #[test]
    fn binlog_values_read_like_cast_as_char() {
        let v = |x: Value| BinlogValue::Value(x);
        assert_eq!(
            value_text(
                Some(&v(Value::Date(2020, 1, 31, 0, 0, 0, 0))),
                Some(ColumnType::MYSQL_TYPE_DATE)
            ),
            "2020-01-31"
        );
        assert_eq!(
            value_text(
                Some(&v(Value::Date(2020, 1, 31, 7, 5, 9, 0))),
                Some(ColumnType::MYSQL_TYPE_DATETIME2)
            ),
            "2020-01-31 07:05:09"
        );
        assert_eq!(
            value_text(
                Some(&v(Value::Bytes(b"1700000000".to_vec()))),
                Some(ColumnType::MYSQL_TYPE_TIMESTAMP2)
            ),
            "2023-11-15 05:13:20"
        );
        assert_eq!(
            value_text(
                Some(&v(Value::Bytes(b"0.250000".to_vec()))),
                Some(ColumnType::MYSQL_TYPE_TIMESTAMP2)
            ),
            "1970-01-01 07:00:00.250000"
        );
        assert_eq!(value_text(Some(&v(Value::Int(-5))), None), "-5");
        assert_eq!(value_text(Some(&v(Value::NULL)), None), "");
        assert_eq!(value_text(None, None), "");
        assert_eq!(vietnam_text(951_782_400, ""), "2000-02-29 07:00:00");
    }
}
