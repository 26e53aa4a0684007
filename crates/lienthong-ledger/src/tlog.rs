//! The text formats of C2SP transparency logs: a checkpoint's note text (`tlog-checkpoint`:
//! origin, size, base64 root, optional extension lines) and the body of a witness's
//! `add-checkpoint` call (`tlog-witness`: `old N`, consistency proof lines, a blank line,
//! the signed checkpoint). Signatures are the caller's (`lienthong-trust`'s notes).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::hash::Hash;

/// Proof lines an `add-checkpoint` body may carry (the specification's bound).
pub const PROOF_LINES_MAX: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {why}")]
pub struct TlogError {
    pub what: &'static str,
    pub why: &'static str,
}

fn bad(what: &'static str, why: &'static str) -> TlogError {
    TlogError { what, why }
}

/// The note text of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque extension lines (not recommended; kept as given).
    pub extensions: Vec<String>,
}

impl TlogCheckpoint {
    pub fn new(origin: &str, size: u64, root: Hash) -> TlogCheckpoint {
        TlogCheckpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// `origin\nsize\nbase64(root)\n[extension\n…]`.
    pub fn text(&self) -> String {
        let mut t = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            t.push_str(e);
            t.push('\n');
        }
        t
    }

    /// Parses a note text (ending in a newline); only the canonical form is accepted.
    pub fn parse(text: &str) -> Result<TlogCheckpoint, TlogError> {
        const W: &str = "checkpoint";
        let body = text
            .strip_suffix('\n')
            .ok_or(bad(W, "the text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad(W, "the origin line is empty"));
        }
        let size = lines.next().and_then(canonical_u64).ok_or(bad(
            W,
            "the size line is not a decimal without leading zeros",
        ))?;
        let root = lines
            .next()
            .and_then(decode_hash)
            .ok_or(bad(W, "the root line is not a base64 SHA-256 hash"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad(W, "an extension line is empty"));
        }
        Ok(TlogCheckpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// The body of `POST <witness>/add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size the submitter believes the witness last cosigned.
    pub old: u64,
    /// A consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as sent.
    pub checkpoint: String,
}

impl AddCheckpoint {
    pub fn body(&self) -> String {
        let mut b = format!("old {}\n", self.old);
        for h in &self.proof {
            b.push_str(&B64.encode(h));
            b.push('\n');
        }
        b.push('\n');
        b.push_str(&self.checkpoint);
        b
    }

    pub fn parse(body: &str) -> Result<AddCheckpoint, TlogError> {
        const W: &str = "add-checkpoint body";
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or(bad(W, "no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(canonical_u64)
            .ok_or(bad(W, "the first line is not `old <size>`"))?;
        let proof = lines
            .map(|l| decode_hash(l).ok_or(bad(W, "a proof line is not a base64 hash")))
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > PROOF_LINES_MAX {
            return Err(bad(W, "more than 63 proof lines"));
        }
        Ok(AddCheckpoint {
            old,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// Hashes as base64 lines (a consistency proof carried in a header or a body).
pub fn encode_hashes(hashes: &[Hash]) -> String {
    hashes
        .iter()
        .map(|h| B64.encode(h))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The inverse of [`encode_hashes`]; at most [`PROOF_LINES_MAX`] hashes.
pub fn decode_hashes(text: &str) -> Option<Vec<Hash>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let hashes: Option<Vec<Hash>> = text.split(' ').map(decode_hash).collect();
    hashes.filter(|h| h.len() <= PROOF_LINES_MAX)
}

fn decode_hash(line: &str) -> Option<Hash> {
    let raw = B64.decode(line).ok()?;
    let hash: Hash = raw.try_into().ok()?;
    // Canonical: exactly the encoding of these bytes.
    (B64.encode(hash) == line).then_some(hash)
}

fn canonical_u64(text: &str) -> Option<u64> {
    let ok = !text.is_empty()
        && text.bytes().all(|c| c.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if ok {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of C2SP tlog-checkpoint.
    #[test]
    fn the_specifications_checkpoint_parses_and_renders_back() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = TlogCheckpoint::parse(text).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20_852_163);
        assert_eq!(c.text(), text);
    }

    #[test]
    fn the_specifications_add_checkpoint_body_parses_and_renders_back() {
        let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let a = AddCheckpoint::parse(body).unwrap();
        assert_eq!(a.old, 20_852_014);
        assert_eq!(a.proof.len(), 4);
        assert!(a
            .checkpoint
            .starts_with("example.com/behind-the-sofa\n20852163\n"));
        assert_eq!(a.body(), body);
        assert_eq!(decode_hashes(&encode_hashes(&a.proof)).unwrap(), a.proof);
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        for bad in [
            "",
            "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",
            "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        ] {
            assert!(TlogCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "old 1\n",
            "old x\n\nc",
            "new 1\n\nc",
            "old 1\nnot-a-hash\n\nc",
        ] {
            assert!(AddCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
