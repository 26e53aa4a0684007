/// Everything that can go wrong building or checking a proof.
///
/// Verification never panics: a malformed, truncated, padded or forged proof comes back
/// as one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A leaf index at or past the end of the tree it is meant to be in.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },

    /// A tree size larger than the log holds.
    #[error("tree size {requested} is larger than the log ({available} entries)")]
    SizeOutOfRange { requested: u64, available: u64 },

    /// A consistency question whose old tree is larger than its new tree.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeRegression { old_size: u64, new_size: u64 },

    /// The proof has a different number of hashes than the sizes call for.
    #[error("proof has {actual} hashes where {expected} are required")]
    ProofLength { expected: usize, actual: usize },

    /// An inclusion proof leads to a different root than the one given.
    #[error("inclusion proof does not lead to the given root")]
    RootMismatch,

    /// A consistency proof does not reproduce the old root.
    #[error("consistency proof does not reproduce the old root")]
    OldRootMismatch,

    /// A consistency proof does not reproduce the new root (or two trees of equal size
    /// have different roots).
    #[error("consistency proof does not reproduce the new root")]
    NewRootMismatch,

    /// Bytes that are not the canonical encoding of a [`crate::Checkpoint`].
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
}
