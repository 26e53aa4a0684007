//! The replication stream: pgoutput messages decoded into changes, transactions kept whole
//! across batches, positions acknowledged to the slot after the replica commit.

use super::*;

/// The table's columns as the current Relation message describes them.
pub(super) struct Relation {
    oid: u32,
    /// Dataset field → column index in tuples.
    map: Vec<Option<usize>>,
    /// Key fields' columns.
    key_columns: Vec<Option<usize>>,
    /// Per field: whether a later field reads the same column (its text is then copied, not
    /// moved out of the tuple).
    shared: Vec<bool>,
    /// Columns of type boolean: pgoutput sends `t`/`f`, the snapshot's `CAST(… AS TEXT)`
    /// gives `true`/`false`; the stream is written like the snapshot.
    booleans: Vec<bool>,
}

/// `pg_type` oid of `boolean`.
const BOOLOID: u32 = 16;

/// A column's text as the snapshot reads it.
fn as_snapshot(rel: &Relation, column: usize, text: &str) -> String {
    match (rel.booleans.get(column), text) {
        (Some(true), "t") => "true".to_owned(),
        (Some(true), "f") => "false".to_owned(),
        _ => text.to_owned(),
    }
}

/// As [`as_snapshot`], taking the decoded text instead of copying it.
fn into_snapshot(rel: &Relation, column: usize, text: String) -> String {
    match rel.booleans.get(column) {
        Some(true) => as_snapshot(rel, column, &text),
        _ => text,
    }
}

pub(super) struct Txn {
    commit_lsn: u64,
    committed_at_ms: i64,
    next_index: u32,
}

impl PgSource {
    pub(super) async fn next_stream(
        &mut self,
        rows_max: usize,
        wait: Duration,
    ) -> Result<Batch, SyncError> {
        let p = self.pipeline.clone();
        let mut changes: Vec<Change> = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if changes.len() >= rows_max {
                break;
            }
            let repl = self.repl.as_mut().expect("streaming");
            // Return what we have as soon as nothing more is waiting at a commit boundary.
            let ev = if !changes.is_empty() && self.txn.is_none() {
                match repl.recv().now_or_never() {
                    Some(ev) => ev,
                    None => break,
                }
            } else {
                match tokio::time::timeout_at(deadline, repl.recv()).await {
                    Ok(ev) => ev,
                    Err(_) => break,
                }
            };
            let ev = ev.map_err(|e| src(&p, format!("replication stream: {e}")))?;
            let Some(ev) = ev else {
                return Err(src(&p, "replication stream ended"));
            };
            match ev {
                ReplicationEvent::Begin {
                    final_lsn,
                    commit_time_micros,
                    ..
                } => {
                    self.txn = Some(Txn {
                        commit_lsn: final_lsn.as_u64(),
                        committed_at_ms: pg_time_ms(commit_time_micros),
                        next_index: 0,
                    });
                }
                ReplicationEvent::Commit { end_lsn, .. } => {
                    self.txn = None;
                    self.pos.resume = self.pos.resume.max(end_lsn.as_u64());
                    self.wal_end = self.wal_end.max(end_lsn.as_u64());
                }
                ReplicationEvent::KeepAlive { wal_end, .. } => {
                    self.wal_end = self.wal_end.max(wal_end.as_u64());
                    if self.txn.is_none() && changes.is_empty() {
                        let before = self.pos.resume;
                        self.pos.resume = self.pos.resume.max(wal_end.as_u64());
                        if self.pos.resume != before {
                            break; // a heartbeat batch: the position moved
                        }
                    }
                }
                ReplicationEvent::XLogData { data, wal_end, .. } => {
                    self.wal_end = self.wal_end.max(wal_end.as_u64());
                    let msg = pgoutput::decode(&data).map_err(|e| src(&p, e))?;
                    self.on_message(msg, &mut changes)?;
                }
                ReplicationEvent::Message { .. } => {}
                ReplicationEvent::StoppedAt { .. } => {
                    return Err(src(&p, "replication stream stopped"));
                }
            }
        }
        Ok(Batch {
            changes,
            position: self.pos.encode(),
            snapshot: false,
            snapshot_start: false,
        })
    }

    pub(super) fn on_message(
        &mut self,
        msg: Message,
        out: &mut Vec<Change>,
    ) -> Result<(), SyncError> {
        let ours = |oid: u32, rel: &Option<Relation>| rel.as_ref().is_some_and(|r| r.oid == oid);
        match msg {
            Message::Relation {
                oid,
                namespace,
                name,
                columns,
                ..
            } if name == self.table && namespace == self.namespace => {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                let map = field_columns(self.dataset, &names);
                let key_columns = self.key_indexes.iter().map(|&i| map[i]).collect();
                let booleans = columns.iter().map(|c| c.type_oid == BOOLOID).collect();
                let shared = map
                    .iter()
                    .enumerate()
                    .map(|(f, c)| c.is_some() && map[f + 1..].contains(c))
                    .collect();
                self.relation = Some(Relation {
                    oid,
                    map,
                    key_columns,
                    shared,
                    booleans,
                });
            }
            Message::Insert { oid, new } if ours(oid, &self.relation) => {
                let values = self.values(new, None);
                self.push(Op::Upsert, values, true, out);
            }
            Message::Update { oid, old, new } if ours(oid, &self.relation) => {
                let new_values = self.values(new, old.as_deref());
                if let Some(old) = &old {
                    let old_key = self.key_values(old);
                    let new_key: Vec<&String> =
                        self.key_indexes.iter().map(|&i| &new_values.0[i]).collect();
                    if old_key.iter().zip(&new_key).any(|(a, b)| a != *b) {
                        let mut values = vec![String::new(); self.dataset.fields.len()];
                        for (&i, v) in self.key_indexes.iter().zip(old_key) {
                            values[i] = v;
                        }
                        self.push(Op::Delete, (values, None), false, out);
                    }
                }
                self.push(Op::Upsert, new_values, false, out);
            }
            Message::Delete { oid, old } if ours(oid, &self.relation) => {
                let mut values = vec![String::new(); self.dataset.fields.len()];
                for (&i, v) in self.key_indexes.iter().zip(self.key_values(&old)) {
                    values[i] = v;
                }
                self.push(Op::Delete, (values, None), false, out);
            }
            Message::Truncate { oids } => {
                if let Some(r) = &self.relation {
                    if oids.contains(&r.oid) {
                        let values = vec![String::new(); self.dataset.fields.len()];
                        self.push(Op::Truncate, (values, None), false, out);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn key_values(&self, tuple: &[Datum]) -> Vec<String> {
        let rel = self
            .relation
            .as_ref()
            .expect("a relation precedes its rows");
        rel.key_columns
            .iter()
            .map(|c| match c.and_then(|c| tuple.get(c).map(|d| (c, d))) {
                Some((c, Datum::Text(s))) => as_snapshot(rel, c, s),
                _ => String::new(),
            })
            .collect()
    }

    /// Dataset values of a tuple (its texts moved, not copied); an unchanged TOAST value is
    /// taken from the old row when the publisher sent it, else the change is marked
    /// defective.
    pub(super) fn values(
        &self,
        mut tuple: Vec<Datum>,
        old: Option<&[Datum]>,
    ) -> (Vec<String>, Option<String>) {
        let rel = self
            .relation
            .as_ref()
            .expect("a relation precedes its rows");
        let mut defect = None;
        let values = rel
            .map
            .iter()
            .enumerate()
            .map(|(f, c)| match c.and_then(|c| tuple.get_mut(c).map(|d| (c, d))) {
                Some((c, Datum::Text(s))) if !rel.shared[f] => {
                    into_snapshot(rel, c, std::mem::take(s))
                }
                Some((c, Datum::Text(s))) => as_snapshot(rel, c, s),
                Some((c, Datum::Unchanged)) => match old.and_then(|o| o.get(c)) {
                    Some(Datum::Text(s)) => as_snapshot(rel, c, s),
                    _ => {
                        defect = Some(format!(
                            "column {}: unchanged large (TOAST) value not sent by PostgreSQL; set REPLICA IDENTITY FULL on the source table",
                            self.dataset.fields[f].name
                        ));
                        String::new()
                    }
                },
                _ => String::new(),
            })
            .collect();
        (values, defect)
    }

    pub(super) fn push(
        &mut self,
        op: Op,
        (values, defect): (Vec<String>, Option<String>),
        inserted: bool,
        out: &mut Vec<Change>,
    ) {
        let Some(txn) = self.txn.as_mut() else {
            return; // rows outside a transaction do not occur in pgoutput
        };
        let idx = txn.next_index;
        txn.next_index += 1;
        let here = (txn.commit_lsn, idx);
        if here <= self.skip_through {
            return; // applied before the restart
        }
        self.pos.last = here;
        out.push(Change {
            op,
            id: format!("{}-{:08X}", hex16(txn.commit_lsn), idx),
            values,
            committed_at_ms: Some(txn.committed_at_ms),
            defect,
            inserted,
        });
    }

    pub fn acknowledged(&mut self, position: &str) -> Result<(), SyncError> {
        if let (Some(pos), Some(repl)) = (Pos::decode(position), self.repl.as_ref()) {
            repl.update_applied_lsn(Lsn(pos.resume));
        }
        Ok(())
    }
}
