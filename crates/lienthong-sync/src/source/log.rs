//! What the two log sources (PostgreSQL's logical replication, MariaDB's binlog) share: the
//! initial snapshot, read page by page in a transaction of its own that sees the table as
//! of the log position where streaming will start, then handed over to the stream.

use std::sync::Mutex;

use sqlx::any::AnyRow;
use sqlx::{Any, Database, Transaction};

use crate::change::{Batch, Change};
use crate::SyncError;

/// A snapshot being read: its transaction (in any database, or in PostgreSQL's own driver,
/// which reads rows without converting each one) and how far it got.
pub(crate) struct SnapshotRead<DB: Database = Any> {
    /// Behind a mutex only to make the source `Sync`; reached through `&mut` (`get_mut`).
    tx: Mutex<Transaction<'static, DB>>,
    done: u64,
    total: u64,
    first: bool,
    /// When this snapshot started (ms): part of its rows' ids, so that a snapshot repeated
    /// from the same source position (after a crash, within JetStream's duplicate window)
    /// is not taken for the one before it — it follows its own truncate marker.
    attempt_ms: u64,
}

impl<DB: Database> SnapshotRead<DB> {
    /// A snapshot of `total` rows (as counted when it started) read through `tx`.
    pub(crate) fn new(tx: Transaction<'static, DB>, total: u64) -> SnapshotRead<DB> {
        SnapshotRead {
            tx: Mutex::new(tx),
            done: 0,
            total,
            first: true,
            attempt_ms: lienthong_core::time::now_ms(),
        }
    }

    /// When this snapshot started, for its rows' ids (13 digits: fixed width, so ids of one
    /// snapshot still sort by row).
    pub(crate) fn attempt(&self) -> String {
        format!("{:013}", self.attempt_ms)
    }

    /// (rows read, rows expected): never less expected than read.
    pub(crate) fn progress(&self) -> (u64, u64) {
        (self.done, self.total.max(self.done))
    }

    /// The transaction the snapshot is read in.
    pub(crate) fn tx(&mut self) -> &mut Transaction<'static, DB> {
        match self.tx.get_mut() {
            Ok(tx) => tx,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The next page's changes, made by `changes(rows done so far)` (which says how many
    /// it read); says whether this page is the snapshot's first.
    pub(crate) fn page_with<E>(
        &mut self,
        changes: impl FnOnce(&mut u64) -> Result<Vec<Change>, E>,
    ) -> Result<(Vec<Change>, bool), E> {
        let changes = changes(&mut self.done)?;
        Ok((changes, std::mem::take(&mut self.first)))
    }

    /// Ends the snapshot's transaction; returns the rows read.
    pub(crate) async fn finish(self, pipeline: &str) -> Result<u64, SyncError> {
        let done = self.done;
        let tx = match self.tx.into_inner() {
            Ok(tx) => tx,
            Err(poisoned) => poisoned.into_inner(),
        };
        tx.commit()
            .await
            .map_err(|e| SyncError::Source(format!("{pipeline}: {e}")))?;
        tracing::info!(pipeline = %pipeline, rows = done, "initial snapshot read; streaming");
        Ok(done)
    }
}

impl SnapshotRead<Any> {
    /// The next page's rows (text columns in dataset field order) as upserts, with ids
    /// from `id(row number)`; says whether this page is the snapshot's first.
    pub(crate) fn page(
        &mut self,
        rows: &[AnyRow],
        fields: usize,
        id: impl Fn(u64) -> String,
    ) -> Result<(Vec<Change>, bool), sqlx::Error> {
        self.page_with(|done| super::snapshot_changes(rows, fields, done, id, crate::db::text_at))
    }
}

/// A snapshot page as a batch: at `resume` (the position to read the rest of the snapshot
/// from) while it goes on, at `stream` (the log position streaming starts at) once
/// `finished`.
pub(crate) fn page_batch(
    changes: Vec<Change>,
    first: bool,
    finished: bool,
    resume: String,
    stream: String,
) -> Batch {
    Batch {
        changes,
        position: if finished { stream } else { resume },
        snapshot: !finished,
        snapshot_start: first,
    }
}
