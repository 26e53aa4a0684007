//! Boundaries: the empty log, out-of-range indices and sizes, shrinking sizes, empty and
//! oversized proofs, and the trivial consistency cases the RFC leaves to the caller.

mod common;

use lienthong_ledger::{
    detect_split_view, leaf_hash, node_hash, root_from_inclusion_proof, verify_consistency,
    verify_inclusion, Checkpoint, Hash, LedgerError, MerkleTree, EMPTY_ROOT,
};

fn tree_of(n: u64) -> MerkleTree {
    let mut tree = MerkleTree::new();
    tree.append_batch((0..n).map(|i| i.to_le_bytes()));
    tree
}

#[test]
fn empty_log() {
    let tree = MerkleTree::new();
    assert!(tree.is_empty());
    assert_eq!(tree.size(), 0);
    assert_eq!(tree.root(), EMPTY_ROOT);
    assert_eq!(tree.root_at(0), Ok(EMPTY_ROOT));
    assert_eq!(tree.leaf_hash_at(0), None);
    assert_eq!(
        tree.root_at(1),
        Err(LedgerError::SizeOutOfRange {
            requested: 1,
            available: 0
        })
    );
    assert_eq!(
        tree.inclusion_proof(0, 0),
        Err(LedgerError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(tree.consistency_proof(0, 0), Ok(vec![]));
    assert_eq!(
        tree.checkpoint(5),
        Checkpoint {
            size: 0,
            root: EMPTY_ROOT,
            timestamp: 5
        }
    );
    let dbg = format!("{tree:?}");
    assert!(dbg.contains("size: 0"), "{dbg}");
}

#[test]
fn single_entry_log() {
    let mut tree = MerkleTree::new();
    assert_eq!(tree.append(b"only"), 0);
    let leaf = leaf_hash(b"only");
    assert_eq!(tree.root(), leaf);
    assert_eq!(tree.inclusion_proof(0, 1), Ok(vec![]));
    assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[], &EMPTY_ROOT),
        Err(LedgerError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
        Err(LedgerError::ProofLength {
            expected: 0,
            actual: 1
        })
    );
}

#[test]
fn appends_return_consecutive_indices() {
    let mut tree = MerkleTree::new();
    assert_eq!(tree.append_batch(Vec::<Vec<u8>>::new()), 0..0);
    assert_eq!(tree.append(b"a"), 0);
    assert_eq!(tree.append_batch([b"b", b"c", b"d"]), 1..4);
    assert_eq!(tree.append_batch(vec![String::from("e")]), 4..5);
    assert_eq!(tree.append_leaf_hash(leaf_hash(b"f")), 5);
    assert_eq!(tree.size(), 6);
    let mut one_by_one = MerkleTree::new();
    for e in ["a", "b", "c", "d", "e", "f"] {
        one_by_one.append(e.as_bytes());
    }
    assert_eq!(tree.root(), one_by_one.root());
    assert_eq!(tree.leaf_hash_at(5), Some(leaf_hash(b"f")));
    assert_eq!(tree.leaf_hash_at(6), None);
    assert_eq!(tree.leaf_hash_at(u64::MAX), None);
}

#[test]
fn past_roots_survive_appends() {
    let mut tree = tree_of(5);
    let roots: Vec<Hash> = (0..=5).map(|n| tree.root_at(n).unwrap()).collect();
    tree.append_batch((5..100u64).map(|i| i.to_le_bytes()));
    for (n, root) in roots.iter().enumerate() {
        assert_eq!(tree.root_at(n as u64).as_ref(), Ok(root));
    }
    let proof = tree.consistency_proof(5, 100).unwrap();
    assert_eq!(
        verify_consistency(5, 100, &roots[5], &tree.root(), &proof),
        Ok(())
    );
}

#[test]
fn out_of_range_requests_are_errors() {
    let tree = tree_of(10);
    assert_eq!(
        tree.inclusion_proof(10, 10),
        Err(LedgerError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        tree.inclusion_proof(3, 3),
        Err(LedgerError::IndexOutOfRange { index: 3, size: 3 })
    );
    assert_eq!(
        tree.inclusion_proof(0, 11),
        Err(LedgerError::SizeOutOfRange {
            requested: 11,
            available: 10
        })
    );
    assert!(tree.inclusion_proof(u64::MAX, u64::MAX).is_err());
    assert!(tree.root_at(u64::MAX).is_err());
    assert_eq!(
        tree.consistency_proof(7, 3),
        Err(LedgerError::SizeRegression {
            old_size: 7,
            new_size: 3
        })
    );
    assert_eq!(
        tree.consistency_proof(3, 11),
        Err(LedgerError::SizeOutOfRange {
            requested: 11,
            available: 10
        })
    );
    assert!(tree.consistency_proof(u64::MAX, u64::MAX).is_err());
    assert!(tree.checkpoint_at(11, 0).is_err());
    assert_eq!(tree.checkpoint_at(4, 9).map(|c| c.root), tree.root_at(4));
}

#[test]
fn trivial_consistency_proofs_are_empty() {
    let tree = tree_of(10);
    for n in 0..=10 {
        assert_eq!(tree.consistency_proof(0, n), Ok(vec![]));
        assert_eq!(tree.consistency_proof(n, n), Ok(vec![]));
    }
}

#[test]
fn verify_inclusion_rejects_impossible_positions() {
    let h = leaf_hash(b"x");
    for (index, size) in [(0, 0), (1, 0), (1, 1), (2, 1), (5, 5), (u64::MAX, 0)] {
        assert_eq!(
            verify_inclusion(&h, index, size, &[], &h),
            Err(LedgerError::IndexOutOfRange { index, size })
        );
        assert!(root_from_inclusion_proof(&h, index, size, &[h; 3]).is_err());
    }
}

#[test]
fn verify_inclusion_rejects_empty_and_oversized_proofs() {
    let tree = tree_of(9);
    let root = tree.root();
    let leaf = tree.leaf_hash_at(4).unwrap();
    assert_eq!(
        verify_inclusion(&leaf, 4, 9, &[], &root),
        // Leaf 4 sits in the left, complete 8-leaf subtree: depth 3 + 1.
        Err(LedgerError::ProofLength {
            expected: 4,
            actual: 0
        })
    );
    let huge = vec![root; 1_000_000];
    assert!(matches!(
        verify_inclusion(&leaf, 4, 9, &huge, &root),
        Err(LedgerError::ProofLength { .. })
    ));
    assert!(matches!(
        verify_consistency(4, 9, &tree.root_at(4).unwrap(), &root, &huge),
        Err(LedgerError::ProofLength { .. })
    ));
}

#[test]
fn trivial_consistency_cases_are_fail_closed() {
    let a = leaf_hash(b"a");
    let b = leaf_hash(b"b");
    // Shrinking.
    assert_eq!(
        verify_consistency(2, 1, &a, &b, &[]),
        Err(LedgerError::SizeRegression {
            old_size: 2,
            new_size: 1
        })
    );
    // Same size: same root and nothing else.
    assert_eq!(verify_consistency(5, 5, &a, &a, &[]), Ok(()));
    assert_eq!(
        verify_consistency(5, 5, &a, &b, &[]),
        Err(LedgerError::NewRootMismatch)
    );
    assert_eq!(
        verify_consistency(5, 5, &a, &a, &[a]),
        Err(LedgerError::ProofLength {
            expected: 0,
            actual: 1
        })
    );
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Ok(())
    );
    // From the empty tree: only the empty root, and an empty proof.
    assert_eq!(verify_consistency(0, 7, &EMPTY_ROOT, &b, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 7, &a, &b, &[]),
        Err(LedgerError::OldRootMismatch)
    );
    assert!(verify_consistency(0, 7, &EMPTY_ROOT, &b, &[b]).is_err());
    // A real growth with an empty proof (RFC step 1).
    assert_eq!(
        verify_consistency(1, 2, &a, &node_hash(&a, &b), &[]),
        Err(LedgerError::ProofLength {
            expected: 1,
            actual: 0
        })
    );
    assert_eq!(
        verify_consistency(1, 2, &a, &node_hash(&a, &b), &[b]),
        Ok(())
    );
}

#[test]
fn a_forked_log_is_a_split_view_and_fails_consistency() {
    let honest = tree_of(20);
    let mut forked = tree_of(12);
    forked.append_batch((12..20u64).map(|i| (i + 1000).to_le_bytes()));
    let c1 = honest.checkpoint(1);
    let c2 = forked.checkpoint(2);
    let split = detect_split_view(&c1, &c2).expect("same size, different roots");
    assert_eq!(split.size, 20);
    // Both share the first 12 entries: no split view there.
    assert_eq!(
        detect_split_view(
            &honest.checkpoint_at(12, 1).unwrap(),
            &forked.checkpoint_at(12, 2).unwrap()
        ),
        None
    );
    // A proof from either fork does not connect the common prefix to the other fork.
    let old_root = honest.root_at(12).unwrap();
    let proof = forked.consistency_proof(12, 20).unwrap();
    assert_eq!(
        verify_consistency(12, 20, &old_root, &forked.root(), &proof),
        Ok(())
    );
    assert_eq!(
        verify_consistency(12, 20, &old_root, &honest.root(), &proof),
        Err(LedgerError::NewRootMismatch)
    );
}

#[test]
fn checkpoints_of_the_tree_encode_and_parse() {
    let tree = tree_of(33);
    let c = tree.checkpoint(1_717_171_717_000);
    let bytes = c.to_signing_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("lienthong-checkpoint/v1\n33\n"), "{text}");
    assert!(text.ends_with("\n1717171717000\n"), "{text}");
    assert_eq!(Checkpoint::from_signing_bytes(&bytes), Ok(c));
}
