//! The binlog stream: row events decoded into changes (MariaDB GTID events parsed here),
//! transactions kept whole across batches, table maps followed.

use super::*;

/// MariaDB's GTID event (not in mysql_common's enum), and MySQL's two GTID events.
pub(super) const MARIADB_GTID_EVENT: u8 = 162;

pub(super) const MYSQL_GTID_EVENTS: [u8; 2] = [33, 34];

pub(super) struct Txn {
    start: u64,
    next_index: u32,
    committed_at_ms: i64,
    /// A BEGIN opened it: only XID, COMMIT or ROLLBACK end it (not a SAVEPOINT).
    began: bool,
}

impl BinlogSource {
    pub(super) async fn next_stream(
        &mut self,
        rows_max: usize,
        wait: Duration,
    ) -> Result<Batch, SyncError> {
        let p = self.pipeline.clone();
        let mut changes = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // A rows event may hold many rows: they wait here until handed out.
            while changes.len() < rows_max {
                let Some((c, start, index)) = self.pending.pop_front() else {
                    break;
                };
                self.pos.start = start;
                self.pos.index = index;
                changes.push(c);
            }
            if changes.len() >= rows_max || !self.pending.is_empty() {
                break;
            }
            let stream = self.stream.as_mut().expect("streaming");
            let ev = if !changes.is_empty() && self.txn.is_none() {
                match futures_util::FutureExt::now_or_never(stream.next()) {
                    Some(ev) => ev,
                    None => break,
                }
            } else {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(ev) => ev,
                    Err(_) => break,
                }
            };
            let ev = match ev {
                Some(Ok(ev)) => ev,
                Some(Err(e)) => return Err(src(&p, format!("binlog stream: {e}"))),
                None => return Err(src(&p, "binlog stream ended")),
            };
            let h = ev.header();
            let end = u64::from(h.log_pos());
            let begin = end.saturating_sub(u64::from(h.event_size()));
            let raw = h.event_type_raw();
            if raw == MARIADB_GTID_EVENT || MYSQL_GTID_EVENTS.contains(&raw) {
                // MariaDB: seq_no (8), domain_id (4), flags (1). A new event group begins; one
                // without BEGIN (standalone DDL) ends at its one statement.
                let d = ev.data();
                if raw == MARIADB_GTID_EVENT && d.len() >= 13 {
                    let seq = u64::from_le_bytes(d[0..8].try_into().expect("8 bytes"));
                    let domain = u32::from_le_bytes(d[8..12].try_into().expect("4 bytes"));
                    self.gtid = format!("{domain}-{}-{seq}", h.server_id());
                }
                self.txn = Some(Txn {
                    start: begin,
                    next_index: 0,
                    committed_at_ms: i64::from(h.timestamp()) * 1000,
                    began: false,
                });
                self.pos.start = begin;
                self.pos.index = 0;
                continue;
            }
            let data = ev
                .read_data()
                .map_err(|e| src(&p, format!("binlog event: {e}")))?;
            match data {
                // The fake rotate that opens a stream (log_pos 0) names the file we asked
                // for; it comes before the format description, so its name may still carry
                // the 4 checksum bytes. Only real rotates move to the next file.
                Some(EventData::RotateEvent(r)) if h.log_pos() != 0 => {
                    self.pos.file = r.name().into_owned();
                    if self.txn.is_none() {
                        self.pos.start = r.position();
                        self.pos.index = 0;
                    }
                }
                Some(EventData::XidEvent(_)) => {
                    self.txn = None;
                    self.pos.start = end;
                    self.pos.index = 0;
                }
                Some(EventData::QueryEvent(q)) => {
                    let sql = q.query();
                    let upper = sql.trim().to_ascii_uppercase();
                    let ends = match upper.as_str() {
                        "BEGIN" => {
                            if let Some(t) = self.txn.as_mut() {
                                t.began = true;
                            }
                            false
                        }
                        "COMMIT" | "ROLLBACK" => true,
                        // Savepoints live inside a transaction (ORMs nest with them).
                        _ if upper.starts_with("SAVEPOINT")
                            || upper.starts_with("ROLLBACK TO")
                            || upper.starts_with("RELEASE SAVEPOINT") =>
                        {
                            false
                        }
                        // DDL and other lone statements are their own event group.
                        _ => !self.txn.as_ref().is_some_and(|t| t.began),
                    };
                    if ends {
                        self.txn = None;
                        self.pos.start = end;
                        self.pos.index = 0;
                    }
                }
                Some(EventData::TableMapEvent(_)) => {}
                Some(EventData::RowsEvent(rows)) => {
                    let Some(tme) = stream_tme(self.stream.as_ref(), rows.table_id()) else {
                        continue;
                    };
                    if tme.database_name() != self.db || tme.table_name() != self.table {
                        continue;
                    }
                    let tme = tme.clone().into_owned();
                    self.remap(&tme).await?;
                    let map = &self.map.as_ref().expect("remapped").1;
                    let types: Vec<Option<ColumnType>> = map
                        .iter()
                        .map(|c| c.and_then(|c| tme.get_column_type(c).ok().flatten()))
                        .collect();
                    // A column two fields read is copied for the first, taken by the last.
                    let shared: Vec<bool> = map
                        .iter()
                        .enumerate()
                        .map(|(f, c)| c.is_some() && map[f + 1..].contains(c))
                        .collect();
                    let decoded = rows::decode(&rows, &tme, |image| {
                        map.iter()
                            .zip(&types)
                            .zip(&shared)
                            .map(|((c, ty), shared)| match c {
                                Some(c) if *shared => value_text(image[*c].as_ref(), *ty),
                                Some(c) => value_into_text(image[*c].take(), *ty),
                                None => String::new(),
                            })
                            .collect::<Vec<String>>()
                    })
                    .map_err(|e| src(&p, format!("binlog row: {e}")))?;
                    for (before, after) in decoded {
                        match (before, after) {
                            (None, Some(new)) => self.push(Op::Upsert, new, true),
                            (Some(old), Some(new)) => {
                                if self.key_indexes.iter().any(|&i| old[i] != new[i]) {
                                    self.push(Op::Delete, old, false);
                                }
                                self.push(Op::Upsert, new, false);
                            }
                            (Some(old), None) => self.push(Op::Delete, old, false),
                            (None, None) => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Batch {
            changes,
            position: self.pos.encode(),
            snapshot: false,
            snapshot_start: false,
        })
    }

    /// Builds the column map for a table map (binlog metadata, else information_schema).
    pub(super) async fn remap(&mut self, tme: &TableMapEvent<'static>) -> Result<(), SyncError> {
        if self
            .map
            .as_ref()
            .is_some_and(|(id, _)| *id == tme.table_id())
        {
            return Ok(());
        }
        let mut names: Vec<String> = Vec::new();
        for m in tme.iter_optional_meta() {
            if let Ok(OptionalMetadataField::ColumnName(cn)) = m {
                names = cn
                    .iter_names()
                    .filter_map(|n| n.ok().map(|n| n.name().into_owned()))
                    .collect();
            }
        }
        if names.len() != tme.columns_count() as usize {
            names = self.columns().await?;
            if names.len() != tme.columns_count() as usize {
                return Err(src(
                    &self.pipeline,
                    format!(
                        "table {} has {} columns but the binlog row has {}; set binlog_row_metadata=FULL so rows carry their column names",
                        self.table,
                        names.len(),
                        tme.columns_count()
                    ),
                ));
            }
        }
        self.map = Some((tme.table_id(), field_columns(self.dataset, &names)));
        Ok(())
    }

    pub(super) fn push(&mut self, op: Op, values: Vec<String>, inserted: bool) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        txn.next_index += 1;
        let idx = txn.next_index;
        if let Some((file, start, index)) = &self.skip {
            if *file == self.pos.file && *start == txn.start {
                if idx <= *index {
                    return;
                }
            } else {
                self.skip = None;
            }
        }
        let values = if op == Op::Delete {
            let mut v = vec![String::new(); values.len()];
            for &i in &self.key_indexes {
                v[i] = values[i].clone();
            }
            v
        } else {
            values
        };
        let change = Change {
            op,
            id: format!(
                "{:08}{:016X}-{:08X}",
                file_number(&self.pos.file),
                txn.start,
                idx
            ),
            values,
            committed_at_ms: Some(txn.committed_at_ms),
            defect: None,
            inserted,
        };
        self.pending.push_back((change, txn.start, idx));
    }
}

pub(super) fn stream_tme(
    stream: Option<&BinlogStream>,
    id: u64,
) -> Option<&TableMapEvent<'static>> {
    stream?.get_tme(id)
}
