//! The keys of a pipeline's open quarantine rows, or more. Only the pipeline opens rows
//! (operators and `replay` only close them), so it can keep them: a batch then supersedes
//! only the rows of those of its keys found here — looking up every key of every batch in
//! the quarantine cost more than a tenth of a backlog's replica time (docs/benchmarks.md,
//! issue 13).

use std::collections::HashSet;

use crate::replica::{Quarantined, Replica};
use crate::SyncError;

/// Open quarantine keys a pipeline keeps in memory, at most (a few tens of MB); past it a
/// batch looks for every one of its keys in the quarantine.
const OPEN_KEYS_MAX: usize = 1_000_000;

/// `None` when not known (a pipeline opened for replay, one recovering, or more than
/// [`OPEN_KEYS_MAX`] keys): every key of a batch is then looked for.
#[derive(Default)]
pub(super) struct OpenKeys(Option<HashSet<String>>);

impl OpenKeys {
    /// The pipeline's open keys as the replica holds them now.
    pub(super) async fn load(replica: &Replica, pipeline: &str) -> Result<OpenKeys, SyncError> {
        Ok(OpenKeys(
            replica
                .quarantine_open_keys(pipeline, OPEN_KEYS_MAX)
                .await?,
        ))
    }

    /// The keys of a batch that may have open rows to supersede.
    pub(super) fn among<'k>(&self, keys: impl Iterator<Item = &'k String>) -> Vec<String> {
        match &self.0 {
            Some(open) => keys.filter(|k| open.contains(*k)).cloned().collect(),
            None => keys.cloned().collect(),
        }
    }

    /// After a commit: the superseded keys' rows are closed, the batch's open ones added.
    pub(super) fn committed(&mut self, superseded: &[String], quarantine: &[Quarantined]) {
        if let Some(open) = &mut self.0 {
            for k in superseded {
                open.remove(k);
            }
            open.extend(quarantine.iter().filter(|q| q.open).map(|q| q.key.clone()));
            if open.len() > OPEN_KEYS_MAX {
                self.0 = None;
            }
        }
    }
}
