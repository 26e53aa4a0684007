//! Append-only Merkle log, exactly as RFC 9162 (Certificate Transparency 2.0) section 2.1
//! defines it, which is the same tree RFC 6962 defines.
//!
//! - Leaf hash: `SHA-256(0x00 || entry)`; interior node: `SHA-256(0x01 || left || right)`.
//! - The Merkle Tree Hash of `n > 1` entries splits at `k`, the largest power of two
//!   strictly smaller than `n`; the hash of the empty tree is `SHA-256("")`.
//! - Inclusion proofs (audit paths, §2.1.3.1) and consistency proofs (§2.1.4.1) are
//!   produced node for node as the RFC's `PATH` and `PROOF`/`SUBPROOF` definitions say, so
//!   any RFC 6962 / RFC 9162 verifier accepts them.
//! - [`verify_inclusion`] and [`verify_consistency`] are the RFC's own verification
//!   algorithms (§2.1.3.2 and §2.1.4.2), with the trivial cases (equal sizes, empty old
//!   tree) the RFC leaves to the caller handled fail-closed.
//!
//! [`MerkleTree`] keeps the hash of every complete, aligned subtree, level by level, as
//! entries arrive (about 64 bytes per entry). Appending costs one hash amortised; a root of
//! any past size, an inclusion proof or a consistency proof costs O(log n) lookups and at
//! most O(log n) hashes, whatever the size of the log.
//!
//! [`Checkpoint`] is a signed-tree-head body with a canonical byte encoding for signing,
//! and [`detect_split_view`] / [`find_split_view`] spot a log that showed two different
//! trees of the same size.
//!
//! The crate is pure: no I/O, no clocks, no threads, no `unsafe`, and no public function
//! panics on any input.
//!
//! ```
//! use lienthong_ledger::{leaf_hash, verify_consistency, verify_inclusion, MerkleTree};
//!
//! let mut log = MerkleTree::new();
//! log.append_batch(["first", "second", "third"]);
//! let old = log.checkpoint(1_700_000_000_000);
//! let index = log.append(b"fourth");
//! let new = log.checkpoint(1_700_000_000_500);
//!
//! // Anyone holding `new` can check that "fourth" is in the log...
//! let path = log.inclusion_proof(index, new.size)?;
//! verify_inclusion(&leaf_hash(b"fourth"), index, new.size, &path, &new.root)?;
//!
//! // ...and anyone holding `old` that the log only grew since.
//! let proof = log.consistency_proof(old.size, new.size)?;
//! verify_consistency(old.size, new.size, &old.root, &new.root, &proof)?;
//!
//! // The bytes a log key signs.
//! assert!(new.to_signing_bytes().starts_with(b"lienthong-checkpoint/v1\n4\n"));
//! # Ok::<(), lienthong_ledger::LedgerError>(())
//! ```

#![forbid(unsafe_code)]

mod checkpoint;
mod error;
mod hash;
mod tlog;
mod tree;
mod verify;

pub use checkpoint::{detect_split_view, find_split_view, Checkpoint, SplitView};
pub use error::LedgerError;
pub use hash::{
    hash_from_hex, hash_to_hex, leaf_hash, node_hash, Hash, EMPTY_ROOT, LEAF_PREFIX, NODE_PREFIX,
};
pub use tlog::{
    decode_hashes, encode_hashes, AddCheckpoint, TlogCheckpoint, TlogError, PROOF_LINES_MAX,
};
pub use tree::{root_from_frontier, MerkleTree};
pub use verify::{root_from_inclusion_proof, verify_consistency, verify_inclusion};
