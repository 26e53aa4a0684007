//! Writing a batch: upserts (COPY through a staging table on PostgreSQL, multi-row
//! statements elsewhere), deletes, the change log, the lease fence and the state row, in one
//! transaction.

use super::*;

/// The SQL a batch needs from a database: the generic statements go through any sqlx
/// database; upserts take the fastest path each one has.
pub(super) trait BatchDb: sqlx::Database {
    fn affected(r: &Self::QueryResult) -> u64;

    /// Upserts `new` and `rows`. The keys of `new` are expected to be absent from the table
    /// (an initial snapshot, or records the source reported inserted): a database may try a
    /// faster plain insert for them, upserting them with the rest when a key exists.
    async fn upsert(
        tx: &mut sqlx::Transaction<'_, Self>,
        d: Dialect,
        target: &Target,
        new: &[(&Change, &[String])],
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
        new: &[(&Change, &[String])],
        rows: &[(&Change, &[String])],
    ) -> Result<(), SyncError> {
        let per = (d.params_max() / target.names.len()).max(1);
        for chunk in new.chunks(per).chain(rows.chunks(per)) {
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
                q = q.bind(c.id.clone()).bind(target.pipeline.clone());
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
    /// measured at half the cost of any parameter-based upsert. Rows expected to be new (an
    /// initial snapshot, inserts at the source) are first copied straight into the table
    /// inside a savepoint — half the cost again (docs/benchmarks.md, issue 13); if any key
    /// exists already (a row another pipeline of a shared table wrote, an insert reported over
    /// a row the replica still holds), that copy is rolled back and those rows are upserted
    /// with the rest.
    async fn upsert(
        tx: &mut sqlx::Transaction<'_, Self>,
        _d: Dialect,
        target: &Target,
        new: &[(&Change, &[String])],
        rows: &[(&Change, &[String])],
    ) -> Result<(), SyncError> {
        let cols = target.names.join(", ");
        let mut buf = Vec::with_capacity(new.len().max(rows.len()) * 256);
        // Rows of `pending` already encoded into `buf`.
        let mut encoded = 0;
        let both: Vec<(&Change, &[String])>;
        let pending: &[(&Change, &[String])] = if new.is_empty() {
            rows
        } else {
            sqlx::query("SAVEPOINT lt_new_rows")
                .execute(&mut **tx)
                .await
                .map_err(err)?;
            let mut copy = CopyRows {
                rows: new,
                target,
                buf,
                encoded: 0,
            };
            let copied = copy_in(
                tx,
                &format!("COPY {} ({cols}) FROM STDIN", target.table),
                &mut copy,
            )
            .await;
            buf = copy.buf;
            match copied {
                Ok(()) => {
                    sqlx::query("RELEASE SAVEPOINT lt_new_rows")
                        .execute(&mut **tx)
                        .await
                        .map_err(err)?;
                    buf.clear();
                    rows
                }
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                    tracing::debug!(table = %target.table, "a key of the batch exists already: upserting instead");
                    sqlx::query("ROLLBACK TO SAVEPOINT lt_new_rows")
                        .execute(&mut **tx)
                        .await
                        .map_err(err)?;
                    // The rows encoded for the failed copy go first, not encoded again.
                    encoded = copy.encoded;
                    both = [new, rows].concat();
                    &both
                }
                Err(e) => return Err(err(e)),
            }
        };
        if pending.is_empty() {
            return Ok(());
        }
        let mut rest = CopyRows {
            rows: pending,
            target,
            buf,
            encoded,
        };
        let stage = format!("\"lt_stage_{}\"", target.table_name);
        sqlx::query(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            target.table
        ))
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        copy_in(tx, &format!("COPY {stage} ({cols}) FROM STDIN"), &mut rest)
            .await
            .map_err(err)?;
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

/// A batch's upserts in COPY's text format, encoded as they are sent — the server copies
/// the first rows while the next are encoded — and kept, to be sent again if the first copy
/// is rolled back.
struct CopyRows<'a, 'b> {
    rows: &'a [(&'b Change, &'b [String])],
    target: &'a Target,
    buf: Vec<u8>,
    /// Rows encoded into `buf` so far.
    encoded: usize,
}

impl CopyRows<'_, '_> {
    fn encode_next(&mut self) {
        let (c, values) = self.rows[self.encoded];
        let buf = &mut self.buf;
        for (i, v) in values.iter().enumerate() {
            if v.is_empty() && !self.target.key_indexes.contains(&i) {
                buf.extend_from_slice(b"\\N");
            } else {
                copy_text(buf, v);
            }
            buf.push(b'\t');
        }
        copy_text(buf, &c.id);
        buf.push(b'\t');
        copy_text(buf, &self.target.pipeline);
        buf.push(b'\n');
        self.encoded += 1;
    }
}

/// COPY messages of this size at most.
const COPY_CHUNK_BYTES: usize = 64 * 1024;

/// Sends the rows with `statement`; a database error in the rows comes back from the finish.
async fn copy_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    statement: &str,
    rows: &mut CopyRows<'_, '_>,
) -> Result<(), sqlx::Error> {
    let mut copy = tx.copy_in_raw(statement).await?;
    let mut sent = 0;
    loop {
        while rows.encoded < rows.rows.len() && rows.buf.len() < sent + COPY_CHUNK_BYTES {
            rows.encode_next();
        }
        let end = rows.buf.len().min(sent + COPY_CHUNK_BYTES);
        if end == sent {
            break;
        }
        copy.send(&rows.buf[sent..end]).await?;
        sent = end;
    }
    copy.finish().await?;
    Ok(())
}

/// A value in COPY's text format (backslash escapes for the separators).
/// Runs of ordinary bytes are copied whole (most values have no separator at all).
pub(super) fn copy_text(buf: &mut Vec<u8>, v: &str) {
    let bytes = v.as_bytes();
    // Most values hold no separator: one pass without an early exit (the compiler does it
    // many bytes at a time) says so, and the value is copied whole — a snapshot writes
    // every value of every row through here.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & !matches!(b, b'\\' | b'\t' | b'\n' | b'\r')
    });
    if plain {
        buf.extend_from_slice(bytes);
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[from..i]);
        buf.extend_from_slice(escaped);
        from = i + 1;
    }
    buf.extend_from_slice(&bytes[from..]);
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
    /// Every upsert is expected to be a new row (a batch of an initial snapshot).
    pub new_rows: bool,
}

impl Commit<'_, '_> {
    pub(super) async fn write<DB>(
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
                    // This pipeline's rows only: a province's truncate or re-snapshot leaves
                    // the other provinces' rows of a shared table alone.
                    sqlx::query(&format!(
                        "DELETE FROM {} WHERE {} = {}",
                        target.table,
                        d.quote("lt_pipeline"),
                        d.param(1)
                    ))
                    .bind(target.pipeline.clone())
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
                Step::Apply {
                    upserts,
                    inserts,
                    deletes,
                } => {
                    let per = ((d.params_max() - 1) / target.key.len()).max(1);
                    for chunk in deletes.chunks(per) {
                        // A key another pipeline wrote last is that pipeline's row now (a
                        // person who moved province): not this pipeline's to delete.
                        let sql = format!(
                            "{} AND {} IN ({}, '')",
                            d.delete_sql(&target.table, &target.key, chunk.len()),
                            d.quote("lt_pipeline"),
                            d.param(chunk.len() * target.key.len() + 1)
                        );
                        let mut q = sqlx::query(&sql);
                        for (_, values) in chunk {
                            for &i in &target.key_indexes {
                                q = q.bind(values.get(i).cloned().unwrap_or_default());
                            }
                        }
                        q = q.bind(target.pipeline.clone());
                        q.execute(&mut **tx).await.map_err(err)?;
                    }
                    if self.new_rows {
                        let all = [&inserts[..], &upserts[..]].concat();
                        DB::upsert(tx, d, target, &all, &[]).await?;
                    } else {
                        DB::upsert(tx, d, target, inserts, upserts).await?;
                    }
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
pub(super) async fn append_changelog<DB>(
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

pub(super) fn held_by(pipeline: &str, holder: &str, until: i64, now: i64) -> String {
    format!(
        "pipeline {pipeline} is run by another process ({holder}, lease for {} s more); stop that `sync run` first (one that crashed on another host is taken over once its lease expires)",
        ((until - now).max(0) as u64).div_ceil(1000)
    )
}

/// Renews the lease inside the transaction, or fails it when another owner holds it: the
/// row stays locked to this transaction until it commits, so no claim slips in between.
pub(super) async fn fence<DB>(
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

pub(super) async fn write_state<DB>(
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

#[cfg(test)]
mod tests {
    #[test]
    fn copy_text_escapes_its_separators() {
        let mut b = Vec::new();
        super::copy_text(&mut b, "a\tb\\c\nd\re Việt");
        assert_eq!(String::from_utf8(b).unwrap(), "a\\tb\\\\c\\nd\\re Việt");
        for (value, copied) in [
            ("", ""),
            ("plain Việt", "plain Việt"),
            ("\t", "\\t"),
            ("\\\\", "\\\\\\\\"),
            ("\nx\r", "\\nx\\r"),
            ("\u{b}\u{c} kept", "\u{b}\u{c} kept"),
            (
                "a long value of thirty-two bytes\\",
                "a long value of thirty-two bytes\\\\",
            ),
        ] {
            let mut b = b"before|".to_vec();
            super::copy_text(&mut b, value);
            assert_eq!(String::from_utf8(b).unwrap(), format!("before|{copied}"));
        }
        // Each separator at every place of a value longer than a vector register, and a
        // multi-byte letter beside it.
        let escape = |v: &str| {
            v.replace('\\', "\\\\")
                .replace('\t', "\\t")
                .replace('\n', "\\n")
                .replace('\r', "\\r")
        };
        for sep in ['\\', '\t', '\n', '\r', 'x'] {
            for at in 0..70 {
                let mut v: String = "ab".repeat(35);
                v.insert(at, sep);
                v.insert_str(0, "Việt ");
                let mut b = Vec::new();
                super::copy_text(&mut b, &v);
                assert_eq!(String::from_utf8(b).unwrap(), escape(&v), "{sep:?} at {at}");
            }
        }
    }
}
