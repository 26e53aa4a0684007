//! Sync: changes in agency databases flow into the center's replica (and, when configured,
//! NATS JetStream), validated and normalised by the shared dictionary.
//!
//! Sources (`source`): PostgreSQL logical replication (snapshot + pgoutput), MariaDB/MySQL
//! binlog (snapshot + row events), polling by `updated_at`, and file drops. Each change has
//! a deterministic id from its source position (`change`). A pipeline (`pipeline`)
//! validates every change, sends invalid ones to quarantine with their reasons, publishes
//! valid ones to JetStream (`jetstream`), then commits data, quarantine and the new
//! position in one replica transaction (`replica`); only then is the source told it may let
//! go. A crash repeats at most the batch in flight, and repeating it changes nothing.

pub mod change;
pub mod db;
pub mod jetstream;
pub mod lease;
pub mod pgoutput;
pub mod pipeline;
pub mod replica;
pub mod run;
pub mod source;
pub mod state;

pub use jetstream::JetStreamConfig;
pub use pipeline::{Pipeline, PipelineConfig, Status, StepReport};
pub use replica::{Replica, State};
pub use run::{run, Stopped};
pub use source::SourceConfig;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("source database: {0}")]
    Source(String),
    #[error("replica database: {0}")]
    Replica(String),
    #[error("sink: {0}")]
    Sink(String),
    /// Another process runs this pipeline (or took it over): stop rather than retry.
    #[error("{0}")]
    Lease(String),
}

/// Reads pipelines' status from the replica without touching their sources or writing
/// anything (the dashboard and `sync status` of a running sync).
pub struct StatusReader {
    replica: Replica,
    pipelines: Vec<(String, &'static str)>,
}

impl StatusReader {
    /// `pipelines`: (name, source kind).
    pub async fn open(
        replica_url: &str,
        pipelines: Vec<(String, &'static str)>,
    ) -> Result<StatusReader, SyncError> {
        Ok(StatusReader {
            replica: Replica::open_read_only(replica_url).await?,
            pipelines,
        })
    }

    pub async fn statuses(&self) -> Result<Vec<Status>, SyncError> {
        let mut out = Vec::with_capacity(self.pipelines.len());
        if !self.replica.has_state().await {
            // No pipeline has run into this replica yet: every one stands at the start.
            for (name, kind) in &self.pipelines {
                out.push(Status {
                    name: name.clone(),
                    source: kind,
                    state: State::default(),
                    quarantined_open: 0,
                    lease_until_ms: 0,
                });
            }
            return Ok(out);
        }
        for (name, kind) in &self.pipelines {
            out.push(Status {
                name: name.clone(),
                source: kind,
                state: self.replica.state(name).await?.unwrap_or_default(),
                quarantined_open: self.replica.quarantine_open(name).await?,
                lease_until_ms: self
                    .replica
                    .lease_holder(name)
                    .await?
                    .map_or(0, |(_, until)| until),
            });
        }
        Ok(out)
    }
}
