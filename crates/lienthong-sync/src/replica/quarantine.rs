//! Replaying quarantined changes after a fix, and resetting a pipeline.

use super::*;

/// Quarantine rows replayed per transaction.
pub(super) const REPLAY_ROWS_PER_TX: usize = 500;

impl Replica {
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
                            inserted: false,
                        };
                        sqlx::Any::upsert(&mut tx, d, target, &[], &[(&change, values.as_slice())])
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
}
