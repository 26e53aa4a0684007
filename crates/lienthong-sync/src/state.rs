//! Where a pipeline stands: what sources resume from and the replica records, shared by both
//! without either importing the other.

/// Where a pipeline stands, as its last committed batch left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The source position to resume from (empty: never ran).
    pub position: String,
    /// Id of the last change the pipeline committed.
    pub last_change: String,
    /// The initial snapshot (if the source has one) is complete.
    pub snapshot_done: bool,
    pub rows_applied: u64,
    pub rows_deleted: u64,
    pub rows_quarantined: u64,
    /// Source commit time of the last change (ms since the epoch; 0 unknown).
    pub committed_at_ms: i64,
    /// When the last batch committed here (ms since the epoch).
    pub applied_at_ms: i64,
    /// What the source still holds after the position, in `backlog_unit`; -1 unknown.
    pub backlog: i64,
    pub backlog_unit: String,
    /// Id of the last change published to JetStream (empty: none).
    pub jet_last: String,
}

/// Ms since the Unix epoch, from the one clock (`lienthong_core::time`).
pub fn now_ms() -> i64 {
    lienthong_core::time::now_ms() as i64
}
