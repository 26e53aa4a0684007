//! The verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, step for step.
//!
//! Before any hashing, the proof's length is checked against the length the sizes call
//! for (a dry run of the same iteration), so an oversized proof costs nothing and the
//! error says which way it was wrong. The RFC's own length checks (step 6a, and `sn == 0`
//! at the end) are kept as well.

use crate::error::LedgerError;
use crate::hash::{node_hash, Hash, EMPTY_ROOT};

fn lsb(x: u64) -> bool {
    x & 1 == 1
}

/// Step "right-shift both fn and sn equally until either LSB(fn) is set or fn is 0".
fn shift_to_set_bit(fn_: &mut u64, sn: &mut u64) {
    while !lsb(*fn_) && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// How many path entries the §2.1.3.2 / §2.1.4.2 iteration consumes from `(fn, sn)`
/// until `sn` reaches 0.
fn path_steps(mut fn_: u64, mut sn: u64) -> usize {
    let mut steps = 0;
    while sn != 0 {
        if !lsb(fn_) && fn_ == sn {
            shift_to_set_bit(&mut fn_, &mut sn);
        }
        fn_ >>= 1;
        sn >>= 1;
        steps += 1;
    }
    steps
}

/// Number of hashes in the audit path of leaf `index` in a tree of `size` leaves;
/// requires `index < size`.
fn inclusion_path_len(index: u64, size: u64) -> usize {
    path_steps(index, size - 1)
}

/// Number of hashes in the consistency proof between sizes `old` and `new`;
/// requires `0 < old < new`.
fn consistency_path_len(old: u64, new: u64) -> usize {
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while lsb(fn_) {
        fn_ >>= 1;
        sn >>= 1;
    }
    let subsequent = path_steps(fn_, sn);
    // The path array holds a first value and then `subsequent` more; when `old` is a power
    // of two, the verifier supplies that first value itself (the old root).
    if old.is_power_of_two() {
        subsequent
    } else {
        subsequent + 1
    }
}

/// The root that an audit path leads to from `leaf_hash` at `index` in a tree of `size`
/// leaves (RFC 9162 §2.1.3.2 steps 1 to 4). The result proves nothing until it is compared
/// with a root the caller trusts; [`verify_inclusion`] does that.
pub fn root_from_inclusion_proof(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, LedgerError> {
    // Step 1.
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_path_len(index, size);
    if proof.len() != expected {
        return Err(LedgerError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    // Steps 2 and 3.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        if sn == 0 {
            return Err(LedgerError::ProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if lsb(fn_) || fn_ == sn {
            r = node_hash(p, &r);
            if !lsb(fn_) {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5, first half.
    if sn != 0 {
        return Err(LedgerError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    Ok(r)
}

/// Checks that `proof` is the audit path of the leaf hashing to `leaf_hash` at `index` in
/// the tree of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// A tree of one leaf has an empty path and its root is the leaf hash.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), LedgerError> {
    let computed = root_from_inclusion_proof(leaf_hash, index, size, proof)?;
    // Step 5, second half.
    if computed == *root {
        Ok(())
    } else {
        Err(LedgerError::RootMismatch)
    }
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2).
///
/// The cases the RFC algorithm does not cover are decided fail-closed:
/// - `old_size > new_size`: [`LedgerError::SizeRegression`].
/// - `old_size == new_size`: the proof must be empty and the roots equal.
/// - `old_size == 0`: the proof must be empty and `old_root` must be [`EMPTY_ROOT`];
///   every tree extends the empty tree, so `new_root` is not constrained.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::SizeRegression { old_size, new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(LedgerError::ProofLength {
                expected: 0,
                actual: proof.len(),
            });
        }
        if old_size == 0 {
            return if *old_root == EMPTY_ROOT {
                Ok(())
            } else {
                Err(LedgerError::OldRootMismatch)
            };
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(LedgerError::NewRootMismatch)
        };
    }

    // Now 0 < old_size < new_size. Step 1 is subsumed: the expected length is never 0.
    let expected = consistency_path_len(old_size, new_size);
    let length_error = LedgerError::ProofLength {
        expected,
        actual: proof.len(),
    };
    if proof.len() != expected {
        return Err(length_error);
    }
    // Step 2: when old_size is a power of two the path starts with old_root.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => return Err(length_error),
        }
    };
    // Step 3.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    // Step 4.
    while lsb(fn_) {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (*first, *first);
    // Step 6.
    for c in rest {
        if sn == 0 {
            return Err(length_error);
        }
        if lsb(fn_) || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if !lsb(fn_) {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(length_error);
    }
    if fr != *old_root {
        return Err(LedgerError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(LedgerError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lengths_match_the_tree_shape() {
        // Audit path length = depth of the leaf; in a complete tree, log2(size).
        for log in 0..20u32 {
            let size = 1u64 << log;
            assert_eq!(inclusion_path_len(0, size), log as usize);
            assert_eq!(inclusion_path_len(size - 1, size), log as usize);
        }
        assert_eq!(inclusion_path_len(4, 5), 1);
        assert_eq!(inclusion_path_len(0, 5), 3);
        assert_eq!(consistency_path_len(1, 8), 3);
        assert_eq!(consistency_path_len(6, 8), 3);
        assert_eq!(consistency_path_len(2, 5), 2);
        assert_eq!(consistency_path_len(4, 8), 1);
    }

    #[test]
    fn extreme_sizes_do_not_overflow() {
        // A tree of 2^64 - 1 leaves: a complete left half of 2^63 leaves, then a right
        // edge of 63 ever smaller complete subtrees.
        assert_eq!(inclusion_path_len(u64::MAX - 1, u64::MAX), 63);
        assert_eq!(inclusion_path_len(0, u64::MAX), 64);
        assert_eq!(consistency_path_len(u64::MAX - 1, u64::MAX), 64);
        assert_eq!(consistency_path_len(1, u64::MAX), 64);
        assert_eq!(consistency_path_len(1 << 63, u64::MAX), 1);
        let h = [7u8; 32];
        let root_err = Err(LedgerError::RootMismatch);
        assert_eq!(
            verify_inclusion(&h, u64::MAX - 1, u64::MAX, &[h; 63], &h),
            root_err
        );
        assert_eq!(verify_inclusion(&h, 0, u64::MAX, &[h; 64], &h), root_err);
        assert!(matches!(
            verify_consistency(u64::MAX - 1, u64::MAX, &h, &h, &[h; 64]),
            Err(LedgerError::OldRootMismatch | LedgerError::NewRootMismatch)
        ));
        assert!(matches!(
            verify_consistency(1, u64::MAX, &h, &h, &[h; 64]),
            Err(LedgerError::OldRootMismatch | LedgerError::NewRootMismatch)
        ));
        assert_eq!(
            verify_consistency(1 << 63, u64::MAX, &h, &h, &[h; 1]),
            Err(LedgerError::NewRootMismatch)
        );
    }
}
