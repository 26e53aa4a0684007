//! Known-answer tests: the 8-entry test tree used by the Certificate Transparency
//! implementations (Google's C++ CT log `merkle_tree_test.cc`, carried into
//! `google/trillian` `merkle/logverifier/log_verifier_test.go` and
//! `transparency-dev/merkle`), with its published roots, audit paths and consistency
//! proofs. Indices here are 0-based (the Go tables number leaves from 1).

mod common;

use common::{bytes, h, hs};
use lienthong_ledger::{
    leaf_hash, verify_consistency, verify_inclusion, LedgerError, MerkleTree, EMPTY_ROOT,
};

const ENTRIES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// ROOTS[n] is the root of the first n entries.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (index, size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

fn test_tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    let range = tree.append_batch(ENTRIES.iter().map(|e| bytes(e)));
    assert_eq!(range, 0..8);
    tree
}

#[test]
fn empty_root_and_first_leaf_hash() {
    assert_eq!(EMPTY_ROOT, h(ROOTS[0]));
    assert_eq!(MerkleTree::new().root(), h(ROOTS[0]));
    // The root of a one-entry tree is that entry's leaf hash: SHA-256(0x00).
    assert_eq!(leaf_hash(b""), h(ROOTS[1]));
}

#[test]
fn roots_of_every_prefix() {
    let tree = test_tree();
    for (n, root) in ROOTS.iter().enumerate() {
        assert_eq!(tree.root_at(n as u64), Ok(h(root)), "root at size {n}");
    }
    assert_eq!(tree.root(), h(ROOTS[8]));

    // Growing one entry at a time gives the same roots.
    let mut grown = MerkleTree::new();
    assert_eq!(grown.root(), h(ROOTS[0]));
    for (i, entry) in ENTRIES.iter().enumerate() {
        assert_eq!(grown.append(&bytes(entry)), i as u64);
        assert_eq!(
            grown.root(),
            h(ROOTS[i + 1]),
            "root after {} appends",
            i + 1
        );
    }
}

#[test]
fn published_audit_paths() {
    let tree = test_tree();
    for (index, size, expected) in INCLUSION {
        let expected = hs(expected);
        assert_eq!(
            tree.inclusion_proof(index, size),
            Ok(expected.clone()),
            "PATH({index}, D[{size}])"
        );
        let leaf = leaf_hash(&bytes(ENTRIES[index as usize]));
        let root = h(ROOTS[size as usize]);
        assert_eq!(
            verify_inclusion(&leaf, index, size, &expected, &root),
            Ok(())
        );
    }
}

#[test]
fn published_consistency_proofs() {
    let tree = test_tree();
    for (old, new, expected) in CONSISTENCY {
        let expected = hs(expected);
        assert_eq!(
            tree.consistency_proof(old, new),
            Ok(expected.clone()),
            "PROOF({old}, D[{new}])"
        );
        let (old_root, new_root) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        assert_eq!(
            verify_consistency(old, new, &old_root, &new_root, &expected),
            Ok(())
        );
    }
}

#[test]
fn published_proofs_fail_against_the_wrong_roots() {
    for (index, size, path) in INCLUSION {
        let leaf = leaf_hash(&bytes(ENTRIES[index as usize]));
        let wrong_root = h(ROOTS[(size as usize % 8) + 1]);
        assert_eq!(
            verify_inclusion(&leaf, index, size, &hs(path), &wrong_root),
            Err(LedgerError::RootMismatch)
        );
    }
    for (old, new, path) in CONSISTENCY.into_iter().skip(1) {
        let (old_root, new_root) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        assert!(verify_consistency(old, new, &new_root, &old_root, &hs(path)).is_err());
    }
}

#[test]
fn all_audit_paths_of_the_test_tree_verify() {
    let tree = test_tree();
    for size in 1..=8u64 {
        let root = h(ROOTS[size as usize]);
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            let leaf = leaf_hash(&bytes(ENTRIES[index as usize]));
            assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        }
        for old in 0..=size {
            let proof = tree.consistency_proof(old, size).unwrap();
            let old_root = h(ROOTS[old as usize]);
            assert_eq!(
                verify_consistency(old, size, &old_root, &root, &proof),
                Ok(())
            );
        }
    }
}
