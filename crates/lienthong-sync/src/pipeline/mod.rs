//! A pipeline: one source → dictionary validation and normalisation → JetStream (when
//! configured) → the replica, whose transaction also stores the new position.
//!
//! A source position advances only after every sink has durably acknowledged: JetStream
//! first (acknowledged), then the replica commit (fsync'd: SQLite `synchronous=FULL` in
//! WAL mode, PostgreSQL and MariaDB commits), then the source is told
//! ([`Source::acknowledged`]: PostgreSQL's slot position, a finished file's move). After
//! any error the source is reopened from the replica's position.

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::finding::Severity;
use lienthong_dictionary::validate::{Options, Validator};
use serde_json::{json, Value};

use crate::change::{Batch, Change, Op};
use crate::jetstream::{body, JetSink, JetStreamConfig};
use crate::replica::{Commit, Replica, State, Target};
use crate::source::{now_ms, Source, SourceConfig};
use crate::SyncError;

mod check;
mod open_keys;
mod plan;

use check::*;
use open_keys::OpenKeys;

/// Times [`Pipeline::catch_up`] reopens and repeats after a failed step.
const CATCH_UP_RETRIES: u32 = 5;

/// Typed configuration of one pipeline (the CLI builds it from TOML).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Stable name; the state and quarantine are keyed by it.
    pub name: String,
    pub dataset: &'static Dataset,
    pub source: SourceConfig,
    pub replica_url: String,
    pub replica_table: String,
    pub batch_rows_max: u32,
    /// Also publish every valid change to JetStream.
    pub jetstream: Option<JetStreamConfig>,
    /// Keep every valid change in the replica's change log (`lt_changes`), so that a node
    /// publishing the replica table can forward them to subscribers (hop by hop).
    pub changelog: bool,
}

/// Where a pipeline stands (for `sync status`, the dashboard and `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    pub source: &'static str,
    pub state: State,
    /// Open quarantine rows (invalid changes not yet superseded or replayed).
    pub quarantined_open: u64,
    /// Until when (ms since the epoch) a running process holds the pipeline's lease; 0 when
    /// none does (stopped, released, or never run). A running pipeline renews it.
    pub lease_until_ms: i64,
}

impl Status {
    /// Delay between the source commit and the replica commit of the last change, ms, while
    /// the source holds changes not yet applied; 0 once caught up.
    pub fn lag_ms(&self) -> Option<i64> {
        if self.state.committed_at_ms <= 0 {
            return None;
        }
        // Caught up: nothing is waiting. (The newest row a poll or a snapshot read may be
        // months old; its age is not a lag.)
        if self.state.backlog == 0 {
            return Some(0);
        }
        Some((self.state.applied_at_ms - self.state.committed_at_ms).max(0))
    }
}

/// What one [`Pipeline::step`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub applied: u64,
    pub deleted: u64,
    pub quarantined: u64,
    pub published: u64,
    /// The source position moved (a batch or a heartbeat committed).
    pub moved: bool,
}

impl StepReport {
    pub fn changes(&self) -> u64 {
        self.applied + self.deleted + self.quarantined
    }
}

pub struct Pipeline {
    config: PipelineConfig,
    source: Option<Source>,
    replica: Replica,
    target: Target,
    validator: Arc<Validator>,
    jet: Option<JetSink>,
    state: State,
    /// When the backlog was last measured (it may cost a query).
    backlog_at_ms: i64,
    /// A step failed: source and sinks must be reopened before the next.
    broken: bool,
    /// The batch the source read ahead (and validated) while the previous one committed.
    prefetched: Option<(Batch, Vec<Check>)>,
    /// The keys of this pipeline's open quarantine rows, or more.
    open_keys: OpenKeys,
    /// This pipeline object's lease owner id (empty: opened for replay, holds no lease),
    /// and the task renewing the lease.
    owner: String,
    renewer: Option<Renewer>,
}

impl Pipeline {
    /// Connects the replica (creating its tables), claims the pipeline's lease, connects
    /// the sinks and the source, resuming from the stored position.
    pub async fn open(config: PipelineConfig, today: String) -> Result<Pipeline, SyncError> {
        let mut p = Pipeline::offline(config, today).await?;
        p.owner = crate::lease::owner_id();
        p.replica.claim(&p.config.name, &p.owner).await?;
        p.renewer = Some(Renewer::start(
            p.replica.clone(),
            p.config.name.clone(),
            p.owner.clone(),
        ));
        let opened = async {
            // Read after the claim: a process that ran before may have committed until then.
            p.state = p.replica.state(&p.config.name).await?.unwrap_or_default();
            p.open_keys = OpenKeys::load(&p.replica, &p.config.name).await?;
            if let Some(j) = &p.config.jetstream {
                p.jet =
                    Some(JetSink::open(j, &p.config.name, p.config.source.ordered_ids()).await?);
            }
            p.reopen_source().await
        }
        .await;
        if let Err(e) = opened {
            p.renewer = None;
            let _ = p.replica.release(&p.config.name, &p.owner).await;
            return Err(e);
        }
        Ok(p)
    }

    /// Opens a pipeline for `replay_quarantine` only: no source, no JetStream, no lease,
    /// so it may run beside the `sync run` that holds the pipeline.
    pub async fn open_for_replay(
        config: PipelineConfig,
        today: String,
    ) -> Result<Pipeline, SyncError> {
        Pipeline::offline(config, today).await
    }

    /// The configuration checked, the replica and its tables, the validator; nothing else.
    async fn offline(config: PipelineConfig, today: String) -> Result<Pipeline, SyncError> {
        if config.batch_rows_max == 0 || config.batch_rows_max > 100_000 {
            return Err(SyncError::Config(format!(
                "pipeline {}: batch_rows_max must be 1..=100000",
                config.name
            )));
        }
        if !crate::db::identifier_ok(&config.replica_table) {
            return Err(SyncError::Config(format!(
                "pipeline {}: replica_table {:?} must be letters, digits and _",
                config.name, config.replica_table
            )));
        }
        if config.name.is_empty() || config.name.len() > 200 {
            return Err(SyncError::Config(
                "pipeline name must be 1 to 200 characters".into(),
            ));
        }
        let replica = Replica::open(&config.replica_url).await?;
        let target = replica
            .target(
                &config.name,
                config.dataset,
                &config.replica_table,
                config.changelog,
            )
            .await?;
        let state = replica.state(&config.name).await?.unwrap_or_default();
        let validator = Arc::new(Validator::new(
            config.dataset,
            Options {
                today,
                deceased: None,
                registers: Default::default(),
            },
        ));
        Ok(Pipeline {
            config,
            source: None,
            replica,
            target,
            validator,
            jet: None,
            state,
            backlog_at_ms: 0,
            broken: false,
            prefetched: None,
            open_keys: OpenKeys::default(),
            owner: String::new(),
            renewer: None,
        })
    }

    async fn reopen_source(&mut self) -> Result<(), SyncError> {
        self.prefetched = None;
        if let Some(s) = self.source.take() {
            s.close().await;
        }
        let state = (!self.state.position.is_empty()).then_some(&self.state);
        self.source = Some(
            Source::open(
                &self.config.name,
                &self.config.source,
                self.config.dataset,
                state,
            )
            .await?,
        );
        Ok(())
    }

    /// After an error: reread the state and reopen the source and sinks from it.
    pub async fn recover(&mut self) -> Result<(), SyncError> {
        self.broken = true;
        // A commit that failed on the way back may have committed: quarantine rows too.
        self.open_keys = OpenKeys::default();
        self.state = self
            .replica
            .state(&self.config.name)
            .await?
            .unwrap_or_default();
        self.open_keys = OpenKeys::load(&self.replica, &self.config.name).await?;
        if let Some(j) = &self.config.jetstream {
            self.jet =
                Some(JetSink::open(j, &self.config.name, self.config.source.ordered_ids()).await?);
        }
        self.reopen_source().await?;
        self.broken = false;
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Rows done and rows in all of the initial snapshot, while one runs.
    pub fn snapshot_progress(&self) -> Option<(u64, u64)> {
        self.source.as_ref().and_then(Source::snapshot_progress)
    }

    pub async fn status(&self) -> Result<Status, SyncError> {
        Ok(Status {
            name: self.config.name.clone(),
            source: self.config.source.kind(),
            state: self.state.clone(),
            quarantined_open: self.replica.quarantine_open(&self.config.name).await?,
            lease_until_ms: self
                .replica
                .lease_holder(&self.config.name)
                .await?
                .map_or(0, |(_, until)| until),
        })
    }

    /// Applies the next batch, waiting up to `wait` for one. After an error the next call
    /// first reopens everything from the replica's position (see [`Pipeline::recover`]).
    pub async fn step(&mut self, wait: Duration) -> Result<StepReport, SyncError> {
        if self.broken {
            self.recover().await?;
        }
        let r = self.step_once(wait).await;
        if r.is_err() {
            // The source and the JetStream sink may have moved past what the replica holds.
            self.broken = true;
        }
        r
    }

    async fn step_once(&mut self, wait: Duration) -> Result<StepReport, SyncError> {
        let rows_max = self.config.batch_rows_max as usize;
        let waited = std::time::Instant::now();
        let (batch, checks) = match self.prefetched.take() {
            Some(ready) => ready,
            None => {
                let batch = self
                    .source
                    .as_mut()
                    .expect("open")
                    .next(rows_max, wait)
                    .await?;
                if batch.changes.is_empty()
                    && batch.position == self.state.position
                    && !batch.snapshot_start
                {
                    self.refresh_backlog(false).await?;
                    return Ok(StepReport::default());
                }
                checked(self.validator.clone(), batch).await?
            }
        };
        tracing::debug!(pipeline = %self.config.name, changes = batch.changes.len(), wait_us = waited.elapsed().as_micros() as u64, "batch read and validated");
        // A full batch: the source reads the next one, and it is validated, while this one
        // commits. The source is lent to that task; after an error it is gone, and the next
        // step reopens everything from the replica's position.
        let mut source = self.source.take().expect("open");
        // One span per batch committed (JetStream, then the replica): exported over OTLP when
        // the process is configured to.
        let span = tracing::info_span!("lt.sync.batch", pipeline = %self.config.name, changes = batch.changes.len());
        let report = if batch.changes.len() >= rows_max {
            let validator = self.validator.clone();
            let ahead = tokio::spawn(async move {
                let next = match source.next(rows_max, Duration::ZERO).await {
                    Ok(next) => checked(validator, next).await,
                    Err(e) => Err(e),
                };
                (source, next)
            });
            let report = self.apply(&batch, checks).instrument(span).await;
            let (back, next) = ahead
                .await
                .map_err(|e| SyncError::Source(format!("reading ahead: {e}")))?;
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    // The batch did not commit: the read-ahead is dropped with the session,
                    // and the next step reopens from the replica's position.
                    back.close().await;
                    return Err(e);
                }
            };
            source = back;
            self.prefetched = Some(next?);
            report
        } else {
            self.apply(&batch, checks).instrument(span).await?
        };
        source.acknowledged(&batch.position).await?;
        self.source = Some(source);
        self.refresh_backlog(false).await?;
        Ok(report)
    }

    async fn apply(&mut self, batch: &Batch, checks: Vec<Check>) -> Result<StepReport, SyncError> {
        let started = std::time::Instant::now();
        let ds = self.config.dataset;
        let mut classified = plan::classify(batch, checks, &self.target.key_indexes);
        let quarantine = plan::quarantine(ds, batch, &mut classified);
        let (steps, applied, deleted) = plan::steps(batch, &classified);
        let mut report = StepReport {
            moved: true,
            applied,
            deleted,
            quarantined: quarantine.len() as u64,
            ..StepReport::default()
        };
        // Only rows of earlier batches need superseding; this batch's rows know already.
        let touched = self.open_keys.among(classified.last_valid_of_key.keys());
        let mut state = self.state.clone();
        // A new snapshot starts with a truncate marker, as it empties the replica table.
        let marker = batch.snapshot_start.then(|| Change {
            op: Op::Truncate,
            id: format!("snapshot-start/{}/{}", batch.position, now_ms()),
            values: Vec::new(),
            committed_at_ms: None,
            defect: None,
            inserted: false,
        });
        let outgoing = if self.jet.is_some() || self.target.changelog {
            plan::outgoing(ds, &self.config.name, marker.as_ref(), batch, &classified)
        } else {
            Vec::new()
        };
        // JetStream first: it acknowledges before the replica commits the position.
        if let Some(jet) = self.jet.as_mut() {
            let messages: Vec<(String, Value)> = outgoing
                .iter()
                .map(|(c, b)| (c.id.clone(), b.clone()))
                .collect();
            if !messages.is_empty() {
                // Only while holding the lease (renewed now for a full term): a process
                // that lost it must not publish what the new holder will publish again.
                self.replica.renew(&self.config.name, &self.owner).await?;
                state.jet_last = jet
                    .publish(&self.state.jet_last, &messages, batch.snapshot_start)
                    .await?;
                report.published = messages.len() as u64;
            }
        }
        state.position = batch.position.clone();
        if let Some(last) = batch.changes.last() {
            state.last_change = last.id.clone();
            if let Some(t) = batch.changes.iter().rev().find_map(|c| c.committed_at_ms) {
                state.committed_at_ms = t;
            }
        }
        state.snapshot_done = !batch.snapshot;
        state.rows_applied += report.applied;
        state.rows_deleted += report.deleted;
        state.rows_quarantined += report.quarantined;
        state.applied_at_ms = now_ms();
        let changelog = if self.target.changelog {
            plan::changelog(&outgoing)
        } else {
            Vec::new()
        };
        let committing = std::time::Instant::now();
        self.replica
            .commit(&Commit {
                target: &self.target,
                steps: &steps,
                quarantine: &quarantine,
                touched_keys: &touched,
                changelog: &changelog,
                state: &state,
                owner: &self.owner,
                new_rows: batch.snapshot,
            })
            .await?;
        tracing::debug!(
            pipeline = %self.config.name,
            changes = batch.changes.len(),
            prepare_us = (committing - started).as_micros() as u64,
            commit_us = committing.elapsed().as_micros() as u64,
            "batch committed"
        );
        self.state = state;
        self.open_keys.committed(&touched, &quarantine);
        Ok(report)
    }

    /// Measures the source's backlog (at most every 2 s unless `force`) and stores it when
    /// it changed.
    async fn refresh_backlog(&mut self, force: bool) -> Result<(), SyncError> {
        let now = now_ms();
        if !force && now - self.backlog_at_ms < 2_000 {
            return Ok(());
        }
        self.backlog_at_ms = now;
        let Some(b) = self.source.as_mut().expect("open").backlog().await else {
            return Ok(());
        };
        if b.amount != self.state.backlog || b.unit != self.state.backlog_unit {
            let mut state = self.state.clone();
            state.backlog = b.amount;
            state.backlog_unit = b.unit.into();
            self.replica
                .save_state(&self.config.name, &self.owner, &state)
                .await?;
            self.state = state;
        }
        Ok(())
    }

    /// Steps until a batch comes back empty; returns the totals.
    pub async fn catch_up(&mut self) -> Result<StepReport, SyncError> {
        let mut total = StepReport::default();
        // Errors a pipeline recovers from by reopening (a batch a crashed run had already
        // published, a connection lost) are retried a few times, as `run` does; a lost
        // lease or an error that persists is returned.
        let mut retries_left = CATCH_UP_RETRIES;
        loop {
            let r = match self.step(Duration::from_millis(200)).await {
                Ok(r) => r,
                Err(e @ SyncError::Lease(_)) => return Err(e),
                Err(e) if retries_left == 0 => return Err(e),
                Err(e) => {
                    retries_left -= 1;
                    tracing::warn!(pipeline = %self.config.name, error = %e, "catching up: step failed; reopening and repeating");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.recover().await?;
                    continue;
                }
            };
            if !r.moved {
                self.refresh_backlog(true).await?;
                return Ok(total);
            }
            total.applied += r.applied;
            total.deleted += r.deleted;
            total.quarantined += r.quarantined;
            total.published += r.published;
            total.moved = true;
        }
    }

    /// Replays open quarantine rows against the current dictionary: (replayed, still open).
    pub async fn replay_quarantine(&mut self) -> Result<(u64, u64), SyncError> {
        let ds = self.config.dataset;
        let name = &self.config.name;
        let validator = &self.validator;
        let (replayed, open) = self
            .replica
            .replay(&self.target, |q| {
                let rec: serde_json::Map<String, Value> = serde_json::from_str(&q.record)
                    .map_err(|e| format!("[{{\"message\":\"stored record unreadable: {e}\"}}]"))?;
                let values: Vec<String> = ds
                    .fields
                    .iter()
                    .map(|f| {
                        rec.get(f.name)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned()
                    })
                    .collect();
                if values.iter().all(String::is_empty) {
                    return Err(q.reasons.clone()); // a file-level rejection has no record
                }
                let strs: Vec<&str> = values.iter().map(String::as_str).collect();
                let outcome = lienthong_dictionary::engine::validate_guarded(validator, &strs);
                if outcome.is_valid() {
                    let change = Change {
                        op: Op::Upsert,
                        id: q.change_id.clone(),
                        values: Vec::new(),
                        committed_at_ms: None,
                        defect: None,
                        inserted: false,
                    };
                    let record = body(ds, name, &change, &outcome.values)["record"].to_string();
                    Ok((outcome.values, record))
                } else {
                    Err(reasons_json(
                        &outcome
                            .findings
                            .iter()
                            .filter(|f| f.severity == Severity::Error)
                            .map(|f| (f.field.to_string(), f.rule.to_string(), f.message.clone()))
                            .collect::<Vec<_>>(),
                    ))
                }
            })
            .await?;
        self.open_keys = OpenKeys::load(&self.replica, &self.config.name).await?;
        Ok((replayed, open))
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub async fn close(mut self) {
        if let Some(s) = self.source.take() {
            s.close().await;
        }
        self.renewer = None;
        if !self.owner.is_empty() {
            if let Err(e) = self.replica.release(&self.config.name, &self.owner).await {
                tracing::warn!(pipeline = %self.config.name, error = %e, "lease not released; it expires by itself");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_shown_only_while_changes_wait() {
        let status = |backlog: i64| Status {
            name: "p".into(),
            source: "poll",
            state: State {
                committed_at_ms: 1_000,
                applied_at_ms: 34_254_492_000,
                backlog,
                ..State::default()
            },
            quarantined_open: 0,
            lease_until_ms: 0,
        };
        // Caught up: a months-old newest row is not a lag.
        assert_eq!(status(0).lag_ms(), Some(0));
        assert_eq!(status(12).lag_ms(), Some(34_254_491_000));
        // Backlog unknown: the measured delay.
        assert_eq!(status(-1).lag_ms(), Some(34_254_491_000));
        let never = Status {
            state: State::default(),
            ..status(0)
        };
        assert_eq!(never.lag_ms(), None);
    }
}
