//! Shared by the integration tests: hex decoding and a naive reference implementation
//! written straight from the recursive definitions of RFC 9162 §2.1.1, §2.1.3.1 and
//! §2.1.4.1, over a slice of leaf hashes, with no caching of any kind.

#![allow(dead_code)]

use lienthong_ledger::{hash_from_hex, node_hash, Hash, EMPTY_ROOT};

pub fn h(text: &str) -> Hash {
    hash_from_hex(text).unwrap_or_else(|| panic!("bad test hash {text:?}"))
}

pub fn hs(texts: &[&str]) -> Vec<Hash> {
    texts.iter().map(|t| h(t)).collect()
}

pub fn bytes(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "odd-length hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn k_for(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = k_for(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]).
pub fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = k_for(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
pub fn proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = k_for(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], b);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// Single-bit variants of `hash`: all 256 when `all`, otherwise one, at bit `seed % 256`
/// (callers vary the seed so that every bit position is exercised across a run).
/// Debug-build SHA-256 costs about 4 µs, so all 256 flips of every hash up to size 64
/// would take minutes.
pub fn bit_flips(hash: &Hash, all: bool, seed: usize) -> Vec<Hash> {
    let bits: Vec<usize> = if all {
        (0..256).collect()
    } else {
        vec![seed % 256]
    };
    bits.into_iter()
        .map(|bit| {
            let mut flipped = *hash;
            flipped[bit / 8] ^= 1 << (bit % 8);
            flipped
        })
        .collect()
}
