use std::collections::BTreeMap;

use crate::error::LedgerError;
use crate::hash::{hash_from_hex, hash_to_hex, Hash};

/// A log's statement "I held `size` entries with root `root` at `timestamp`": the body
/// a log signs and witnesses compare.
///
/// `timestamp` is whatever clock value the caller chose (conventionally milliseconds since
/// the Unix epoch); this crate never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    pub size: u64,
    pub root: Hash,
    pub timestamp: u64,
}

impl Checkpoint {
    /// First line of the canonical encoding; names the format and its version.
    pub const HEADER: &'static str = "lienthong-checkpoint/v1";

    /// The canonical bytes to sign:
    /// `"lienthong-checkpoint/v1\n{size}\n{root as 64 lowercase hex}\n{timestamp}\n"`,
    /// numbers in decimal without leading zeros. Exactly one byte string per checkpoint.
    pub fn to_signing_bytes(&self) -> Vec<u8> {
        format!(
            "{}\n{}\n{}\n{}\n",
            Self::HEADER,
            self.size,
            hash_to_hex(&self.root),
            self.timestamp
        )
        .into_bytes()
    }

    /// Parses the canonical encoding, and only it: any byte string accepted here is
    /// exactly what [`Checkpoint::to_signing_bytes`] produces for the result.
    pub fn from_signing_bytes(bytes: &[u8]) -> Result<Self, LedgerError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| LedgerError::MalformedCheckpoint("not UTF-8"))?;
        let body = text
            .strip_suffix('\n')
            .ok_or(LedgerError::MalformedCheckpoint("missing final newline"))?;
        let mut lines = body.split('\n');
        let (Some(header), Some(size), Some(root), Some(timestamp), None) = (
            lines.next(),
            lines.next(),
            lines.next(),
            lines.next(),
            lines.next(),
        ) else {
            return Err(LedgerError::MalformedCheckpoint(
                "expected exactly four lines",
            ));
        };
        if header != Self::HEADER {
            return Err(LedgerError::MalformedCheckpoint("unknown header"));
        }
        let size = parse_canonical_u64(size).ok_or(LedgerError::MalformedCheckpoint(
            "size is not a canonical u64",
        ))?;
        let timestamp = parse_canonical_u64(timestamp).ok_or(LedgerError::MalformedCheckpoint(
            "timestamp is not a canonical u64",
        ))?;
        let is_lower_hex = root.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        let root = hash_from_hex(root).filter(|_| is_lower_hex).ok_or(
            LedgerError::MalformedCheckpoint("root is not 64 lowercase hex digits"),
        )?;
        Ok(Self {
            size,
            root,
            timestamp,
        })
    }
}

/// Decimal digits only, no sign, no leading zero (except "0" itself), within u64.
fn parse_canonical_u64(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|c| c.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

/// Proof that a log equivocated: two checkpoints of the same size with different roots.
/// A log that is append-only can never sign both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitView {
    pub size: u64,
    pub first: Checkpoint,
    pub second: Checkpoint,
}

/// A split view, if `a` and `b` claim the same size with different roots.
///
/// Checkpoints of different sizes are not comparable this way; they need a consistency
/// proof ([`crate::verify_consistency`]).
pub fn detect_split_view(a: &Checkpoint, b: &Checkpoint) -> Option<SplitView> {
    (a.size == b.size && a.root != b.root).then_some(SplitView {
        size: a.size,
        first: *a,
        second: *b,
    })
}

/// The first split view among `checkpoints` (in iteration order of the second member),
/// if any two of them claim the same size with different roots. O(n log n).
pub fn find_split_view<'a, I>(checkpoints: I) -> Option<SplitView>
where
    I: IntoIterator<Item = &'a Checkpoint>,
{
    let mut seen: BTreeMap<u64, &Checkpoint> = BTreeMap::new();
    for checkpoint in checkpoints {
        match seen.get(&checkpoint.size) {
            Some(earlier) => {
                if let Some(split) = detect_split_view(earlier, checkpoint) {
                    return Some(split);
                }
            }
            None => {
                seen.insert(checkpoint.size, checkpoint);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{leaf_hash, EMPTY_ROOT};

    fn sample() -> Checkpoint {
        Checkpoint {
            size: 8,
            root: leaf_hash(b"root"),
            timestamp: 1_700_000_000_123,
        }
    }

    #[test]
    fn encoding_is_the_documented_text() {
        let c = Checkpoint {
            size: 0,
            root: EMPTY_ROOT,
            timestamp: 0,
        };
        assert_eq!(
            c.to_signing_bytes(),
            b"lienthong-checkpoint/v1\n0\n\
              e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n0\n"
        );
        let c = Checkpoint {
            size: u64::MAX,
            root: [0xab; 32],
            timestamp: 42,
        };
        let expected = format!(
            "lienthong-checkpoint/v1\n18446744073709551615\n{}\n42\n",
            "ab".repeat(32)
        );
        assert_eq!(c.to_signing_bytes(), expected.as_bytes());
    }

    #[test]
    fn round_trip() {
        for c in [
            sample(),
            Checkpoint {
                size: u64::MAX,
                root: [0xff; 32],
                timestamp: u64::MAX,
            },
        ] {
            assert_eq!(Checkpoint::from_signing_bytes(&c.to_signing_bytes()), Ok(c));
        }
    }

    #[test]
    fn only_the_canonical_encoding_parses() {
        let good = String::from_utf8(sample().to_signing_bytes()).unwrap();
        let root_hex = hash_to_hex(&sample().root);
        let bad = [
            String::new(),
            good.trim_end().to_string(),
            format!("{good}\n"),
            format!("{good}extra\n"),
            good.replace("lienthong-checkpoint/v1", "lienthong-checkpoint/v2"),
            good.replace("\n8\n", "\n08\n"),
            good.replace("\n8\n", "\n+8\n"),
            good.replace("\n8\n", "\n 8\n"),
            good.replace("\n8\n", "\n\n"),
            good.replace("\n8\n", "\n18446744073709551616\n"),
            good.replace(&root_hex, &root_hex.to_uppercase()),
            good.replace(&root_hex, &root_hex[..62]),
            good.replace("1700000000123", "01700000000123"),
            good.replace("1700000000123", "-1"),
            good.replace('\n', "\r\n"),
        ];
        for text in bad {
            assert!(
                matches!(
                    Checkpoint::from_signing_bytes(text.as_bytes()),
                    Err(LedgerError::MalformedCheckpoint(_))
                ),
                "accepted {text:?}"
            );
        }
        assert!(Checkpoint::from_signing_bytes(&[0xff, 0xfe, b'\n']).is_err());
    }

    #[test]
    fn split_view_needs_same_size_and_different_roots() {
        let a = sample();
        let mut b = a;
        b.timestamp += 1;
        assert_eq!(
            detect_split_view(&a, &b),
            None,
            "same tree, later timestamp"
        );
        b.root[0] ^= 1;
        assert_eq!(
            detect_split_view(&a, &b),
            Some(SplitView {
                size: 8,
                first: a,
                second: b
            })
        );
        b.size += 1;
        assert_eq!(detect_split_view(&a, &b), None, "different sizes");
    }

    #[test]
    fn find_split_view_scans_a_collection() {
        let mk = |size, tag: &[u8]| Checkpoint {
            size,
            root: leaf_hash(tag),
            timestamp: size * 10,
        };
        let honest = [mk(1, b"a"), mk(2, b"b"), mk(1, b"a"), mk(3, b"c")];
        assert_eq!(find_split_view(&honest), None);
        assert_eq!(find_split_view(&[]), None);
        let forked = [mk(1, b"a"), mk(2, b"b"), mk(3, b"c"), mk(2, b"x")];
        let split = find_split_view(&forked).expect("split view");
        assert_eq!(split.size, 2);
        assert_eq!(split.first, forked[1]);
        assert_eq!(split.second, forked[3]);
    }
}
