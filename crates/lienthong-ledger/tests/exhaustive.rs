//! Every tree size from 0 to 64: every root, every audit path and every consistency proof
//! is compared with the naive reference in `common` (the RFC's recursive definitions,
//! no caching), verified, and then tampered with. All of these must be rejected:
//!
//! - single-bit flips of every proof hash, of the leaf hash and of the roots: all 256
//!   bits in trees of up to `ALL_BITS_UP_TO` leaves, one bit per hash beyond that (its
//!   position varied so that every bit position is hit across the run);
//! - every wrong leaf index in trees of up to `ALL_INDICES_UP_TO` leaves, and beyond that
//!   the neighbours, the mirror image and every one-bit change of the index;
//! - other leaves, roots of other sizes, swapped roots, wrong sizes;
//! - proofs with a hash dropped, added or duplicated, and empty proofs.
//!
//! The limits keep this under a few seconds in a debug build, where SHA-256 costs ~4 µs.
//!
//! A proof does not pin the tree size on its own: the audit path of leaf 0 in a tree of
//! 3 is also a valid audit path of leaf 0 in a tree of 4 *with the same root*, and
//! likewise for consistency proofs. The size is bound by the signed checkpoint that
//! carries the root, so only sizes that change the path's shape (twice, half) are
//! expected to fail here, as in the Certificate Transparency verifier tests.

mod common;

use common::{bit_flips, mth, path, proof};
use lienthong_ledger::{
    leaf_hash, root_from_inclusion_proof, verify_consistency, verify_inclusion, Hash, LedgerError,
    MerkleTree,
};

const MAX: usize = 64;
const ALL_BITS_UP_TO: usize = 8;
const ALL_INDICES_UP_TO: usize = 32;

/// Which bit a single flip hits, varied over size, index and proof position.
fn seed(n: usize, i: usize, k: usize) -> usize {
    n * 97 + i * 31 + k * 7
}

fn entries() -> Vec<Vec<u8>> {
    (0..MAX)
        .map(|i| format!("lienthong entry {i}").into_bytes())
        .collect()
}

fn leaves() -> Vec<Hash> {
    entries().iter().map(|e| leaf_hash(e)).collect()
}

fn full_tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    tree.append_batch(entries());
    tree
}

/// Proof variants with one hash removed, added or duplicated.
fn reshaped(proof: &[Hash]) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    let junk = leaf_hash(b"junk");
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p.remove(i);
        out.push(p);
        let mut p = proof.to_vec();
        p.insert(i, proof[i]);
        out.push(p);
    }
    for i in 0..=proof.len() {
        let mut p = proof.to_vec();
        p.insert(i, junk);
        out.push(p);
    }
    out
}

#[test]
fn roots_match_the_reference_at_every_size() {
    let leaves = leaves();
    let full = full_tree();
    let mut grown = MerkleTree::new();
    for n in 0..=MAX {
        let expected = mth(&leaves[..n]);
        assert_eq!(grown.root(), expected, "grown root at {n}");
        assert_eq!(grown.size(), n as u64);
        assert_eq!(full.root_at(n as u64), Ok(expected), "root_at({n})");
        assert_eq!(grown.root_at(n as u64), Ok(expected));
        if n < MAX {
            assert_eq!(grown.append(&entries()[n]), n as u64);
        }
    }
    assert_eq!(
        MerkleTree::from_leaf_hashes(leaves.iter().copied()).root(),
        full.root()
    );
}

#[test]
fn every_audit_path_matches_the_reference_and_verifies() {
    let leaves = leaves();
    let tree = full_tree();
    for n in 1..=MAX {
        let size = n as u64;
        let root = mth(&leaves[..n]);
        for i in 0..n {
            let index = i as u64;
            let got = tree.inclusion_proof(index, size).unwrap();
            assert_eq!(got, path(i, &leaves[..n]), "PATH({i}, D[{n}])");
            assert_eq!(tree.leaf_hash_at(index), Some(leaves[i]));
            assert_eq!(
                verify_inclusion(&leaves[i], index, size, &got, &root),
                Ok(())
            );
            assert_eq!(
                root_from_inclusion_proof(&leaves[i], index, size, &got),
                Ok(root)
            );
        }
    }
}

#[test]
fn every_tampered_audit_path_is_rejected() {
    let leaves = leaves();
    let tree = full_tree();
    for n in 1..=MAX {
        let size = n as u64;
        let root = mth(&leaves[..n]);
        for i in 0..n {
            let index = i as u64;
            let leaf = leaves[i];
            let good = tree.inclusion_proof(index, size).unwrap();
            let rejects = |leaf: &Hash, index: u64, size: u64, p: &[Hash], root: &Hash| {
                assert!(
                    verify_inclusion(leaf, index, size, p, root).is_err(),
                    "accepted tampered proof for leaf {i} of {n} (as {index} of {size})"
                );
            };
            for (k, element) in good.iter().enumerate() {
                for flipped in bit_flips(element, n <= ALL_BITS_UP_TO, seed(n, i, k)) {
                    let mut p = good.clone();
                    p[k] = flipped;
                    rejects(&leaf, index, size, &p, &root);
                }
            }
            for flipped in bit_flips(&leaf, n <= ALL_BITS_UP_TO, seed(n, i, 100)) {
                rejects(&flipped, index, size, &good, &root);
            }
            for flipped in bit_flips(&root, n <= ALL_BITS_UP_TO, seed(n, i, 200)) {
                rejects(&leaf, index, size, &good, &flipped);
            }
            // Every other index, in range or not, up to size ALL_INDICES_UP_TO; beyond it,
            // the neighbours, the mirror image and every single-bit change of the index.
            let wrong_indices: Vec<u64> = if n <= ALL_INDICES_UP_TO {
                (0..size + 2).collect()
            } else {
                let flips = (0..8).map(|b| index ^ (1 << b));
                let near = [index.wrapping_sub(1), index + 1, size - 1 - index, size];
                flips.chain(near).collect()
            };
            for wrong in wrong_indices.into_iter().chain([u64::MAX]) {
                if wrong != index {
                    rejects(&leaf, wrong, size, &good, &root);
                }
            }
            // A neighbouring or mirrored leaf's hash at this index.
            for j in [i.wrapping_sub(1), i + 1, n - 1 - i] {
                if j != i && j < n {
                    rejects(&leaves[j], index, size, &good, &root);
                }
            }
            rejects(&leaf, index, size * 2, &good, &root);
            rejects(&leaf, index, size / 2, &good, &root);
            rejects(&leaf, index, 0, &good, &root);
            for p in reshaped(&good) {
                rejects(&leaf, index, size, &p, &root);
            }
        }
    }
}

#[test]
fn every_consistency_proof_matches_the_reference_and_verifies() {
    let leaves = leaves();
    let tree = full_tree();
    for n in 0..=MAX {
        let new_root = mth(&leaves[..n]);
        for m in 0..=n {
            let old_root = mth(&leaves[..m]);
            let got = tree.consistency_proof(m as u64, n as u64).unwrap();
            let expected = if m == 0 || m == n {
                Vec::new()
            } else {
                proof(m, &leaves[..n])
            };
            assert_eq!(got, expected, "PROOF({m}, D[{n}])");
            assert_eq!(
                verify_consistency(m as u64, n as u64, &old_root, &new_root, &got),
                Ok(()),
                "consistency {m} -> {n}"
            );
        }
    }
}

#[test]
fn every_tampered_consistency_proof_is_rejected() {
    let leaves = leaves();
    let roots: Vec<Hash> = (0..=MAX).map(|n| mth(&leaves[..n])).collect();
    let tree = full_tree();
    for n in 1..=MAX {
        for m in 1..n {
            let (old, new) = (m as u64, n as u64);
            let (old_root, new_root) = (roots[m], roots[n]);
            let good = tree.consistency_proof(old, new).unwrap();
            let rejects = |old: u64, new: u64, r1: &Hash, r2: &Hash, p: &[Hash]| {
                assert!(
                    verify_consistency(old, new, r1, r2, p).is_err(),
                    "accepted tampered proof for {m} -> {n} (as {old} -> {new})"
                );
            };
            for (k, element) in good.iter().enumerate() {
                for flipped in bit_flips(element, n <= ALL_BITS_UP_TO, seed(n, m, k)) {
                    let mut p = good.clone();
                    p[k] = flipped;
                    rejects(old, new, &old_root, &new_root, &p);
                }
            }
            for flipped in bit_flips(&old_root, n <= ALL_BITS_UP_TO, seed(n, m, 100)) {
                rejects(old, new, &flipped, &new_root, &good);
            }
            for flipped in bit_flips(&new_root, n <= ALL_BITS_UP_TO, seed(n, m, 200)) {
                rejects(old, new, &old_root, &flipped, &good);
            }
            // Roots of neighbouring sizes on either side, and swapped roots.
            for s in [m - 1, m + 1, n - 1, n.saturating_add(1).min(MAX)] {
                if s != m {
                    rejects(old, new, &roots[s], &new_root, &good);
                }
                if s != n {
                    rejects(old, new, &old_root, &roots[s], &good);
                }
            }
            rejects(old, new, &new_root, &old_root, &good);
            // Wrong sizes.
            for (o, w) in [
                (old - 1, new),
                (old + 1, new),
                (old ^ 2, new),
                (old, new * 2),
                (old, new / 2),
                (new, old),
                (old, old),
                (new, new),
                (0, new),
            ] {
                if (o, w) != (old, new) {
                    rejects(o, w, &old_root, &new_root, &good);
                }
            }
            rejects(old, new, &old_root, &new_root, &[]);
            for p in reshaped(&good) {
                rejects(old, new, &old_root, &new_root, &p);
            }
        }
    }
}

#[test]
fn proof_errors_name_the_problem() {
    let leaves = leaves();
    let tree = full_tree();
    let root = tree.root_at(7).unwrap();
    let good = tree.inclusion_proof(3, 7).unwrap();
    assert_eq!(
        verify_inclusion(&leaves[3], 3, 7, &good[..2], &root),
        Err(LedgerError::ProofLength {
            expected: 3,
            actual: 2
        })
    );
    assert_eq!(
        verify_inclusion(&leaves[4], 3, 7, &good, &root),
        Err(LedgerError::RootMismatch)
    );
    let (r3, r7) = (tree.root_at(3).unwrap(), root);
    let good = tree.consistency_proof(3, 7).unwrap();
    let mut bad = good.clone();
    bad[0][0] ^= 1;
    assert_eq!(
        verify_consistency(3, 7, &r3, &r7, &bad),
        Err(LedgerError::OldRootMismatch)
    );
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last][31] ^= 0x80;
    assert_eq!(
        verify_consistency(3, 7, &r3, &r7, &bad),
        Err(LedgerError::NewRootMismatch)
    );
}

#[test]
fn larger_trees_agree_with_the_reference() {
    let entries: Vec<Vec<u8>> = (0..1100u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let mut tree = MerkleTree::new();
    tree.append_batch(&entries);
    for n in [127usize, 128, 129, 1000, 1023, 1024, 1025, 1100] {
        let size = n as u64;
        let root = mth(&leaves[..n]);
        assert_eq!(tree.root_at(size), Ok(root), "root at {n}");
        for i in [0, 1, n / 3, n / 2, n - 2, n - 1] {
            let got = tree.inclusion_proof(i as u64, size).unwrap();
            assert_eq!(got, path(i, &leaves[..n]), "PATH({i}, D[{n}])");
            assert_eq!(
                verify_inclusion(&leaves[i], i as u64, size, &got, &root),
                Ok(())
            );
        }
        for m in [1, 2, 3, 64, n / 2, n - 1] {
            let got = tree.consistency_proof(m as u64, size).unwrap();
            assert_eq!(got, proof(m, &leaves[..n]), "PROOF({m}, D[{n}])");
            let old_root = mth(&leaves[..m]);
            assert_eq!(
                verify_consistency(m as u64, size, &old_root, &root, &got),
                Ok(())
            );
        }
    }
}
