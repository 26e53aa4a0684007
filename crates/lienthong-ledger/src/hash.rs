use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;

/// Domain-separation prefix of an interior node hash (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

/// The Merkle Tree Hash of the empty tree: `SHA-256("")`.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// `SHA-256(0x00 || entry)`: the hash of one log entry.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Lowercase hexadecimal, 64 characters (`lienthong_trust::to_hex` is the same loop for any
/// bytes; this crate depends on no other lienthong crate).
pub fn hash_to_hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for byte in hash {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Parses exactly 64 hexadecimal characters (either case); anything else is `None`.
pub fn hash_from_hex(text: &str) -> Option<Hash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    // By table, with one check at the end: every signature header carries an audit path of
    // these, read on every exchange.
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_VALUE[usize::from(pair[0])],
            HEX_VALUE[usize::from(pair[1])],
        );
        bad |= hi | lo;
        *slot = (hi << 4) | (lo & 0x0f);
    }
    (bad & NOT_HEX == 0).then_some(out)
}

/// `HEX_VALUE` of a byte that is not a hexadecimal digit.
const NOT_HEX: u8 = 0x80;

/// Each byte's value as a hexadecimal digit (either case), or [`NOT_HEX`].
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let digest: Hash = Sha256::digest(b"").into();
        assert_eq!(EMPTY_ROOT, digest);
    }

    #[test]
    fn hex_round_trip() {
        let h = leaf_hash(b"lienthong");
        let text = hash_to_hex(&h);
        assert_eq!(text.len(), 64);
        assert_eq!(hash_from_hex(&text), Some(h));
        assert_eq!(hash_from_hex(&text.to_uppercase()), Some(h));
        assert_eq!(hash_from_hex(&text[..62]), None);
        assert_eq!(hash_from_hex(&format!("{text}00")), None);
        assert_eq!(hash_from_hex(&format!("{}zz", &text[..62])), None);
        // A multi-byte character must not be sliced into.
        assert_eq!(hash_from_hex(&format!("{}é", &text[..62])), None);
        // Every ASCII character in either place of a byte: taken exactly when a hex digit.
        for c in (0u8..128).map(char::from) {
            for at in [0, 63] {
                let mut t = text.clone().into_bytes();
                t[at] = c as u8;
                let t = String::from_utf8(t).unwrap();
                let parsed = hash_from_hex(&t);
                assert_eq!(parsed.is_some(), c.is_ascii_hexdigit(), "{c:?} at {at}");
                if let Some(p) = parsed {
                    assert_eq!(hash_to_hex(&p), t.to_lowercase());
                }
            }
        }
    }
}
