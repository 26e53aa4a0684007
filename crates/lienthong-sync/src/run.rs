//! Running a pipeline until asked to stop: the loop `sync run` and the demo share.

use std::time::Duration;

use tokio::sync::watch;

use crate::pipeline::{Pipeline, StepReport};
use crate::SyncError;

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `stop` was set.
    Asked,
    /// Another process holds (or took) the pipeline's lease: retrying would fight it.
    Lease,
}

/// First and last wait after a failed step.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Runs `p` until `stop` is set: steps (waiting up to `poll` for changes), calling
/// `on_step` after each committed step; after an error waits (1 s doubling to 30 s), reopens
/// the pipeline from the replica's position and goes on. A lost lease stops it for good.
/// The pipeline is closed before returning.
pub async fn run(
    mut p: Pipeline,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
    mut on_step: impl FnMut(&Pipeline, &StepReport) + Send,
) -> Stopped {
    let mut stopped = Stopped::Asked;
    let mut backoff = BACKOFF_MIN;
    while !*stop.borrow() {
        let step = tokio::select! {
            r = p.step(poll) => r,
            _ = stop.changed() => break,
        };
        match step {
            Ok(r) => {
                backoff = BACKOFF_MIN;
                on_step(&p, &r);
            }
            Err(e @ SyncError::Lease(_)) => {
                tracing::error!(pipeline = p.name(), error = %e, "pipeline stopped");
                stopped = Stopped::Lease;
                break;
            }
            Err(e) => {
                tracing::warn!(pipeline = p.name(), error = %e, retry_in_s = backoff.as_secs(), "sync step failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                if let Err(e) = p.recover().await {
                    tracing::warn!(pipeline = p.name(), error = %e, "reopening the pipeline failed");
                }
            }
        }
    }
    p.close().await;
    stopped
}
