//! Signed notes (C2SP signed-note v1): a text followed by a blank line and signature lines
//! `— <key name> base64(key id || signature)`, with verifier keys (`vkey`s) in the
//! `<name>+<hex key id>+base64(type || public key)` form. Two signature types: Ed25519
//! (`0x01`, what a log signs its checkpoints with) and timestamped Ed25519 cosignatures
//! (`0x04`, C2SP tlog-cosignature `cosignature/v1`, what a witness adds).
//!
//! The note format — parsing, its limits, signature lines, and verification with unknown
//! keys ignored and a known key's failure fatal — is the `signed_note` crate's (Cloudflare's
//! port of Go's `note` package). What it lacks is written here: `cosignature/v1` keys and
//! signatures (its verifier keys are Ed25519 only), through its `Verifier` trait.
//! Interoperability is checked against the specification's own example key and note.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, Verifier as _};
use sha2::{Digest, Sha256};

use crate::SigningKey;

/// Signature type byte of a plain Ed25519 note signature.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of a `cosignature/v1` (timestamped Ed25519) witness cosignature.
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Notes larger than this are refused before parsing (the spec asks verifiers for a bound).
pub const NOTE_BYTES_MAX: usize = 64 * 1024;
/// Signature lines a note may carry (the spec asks that at least 16 be accepted).
pub const SIGNATURES_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed verifier key: {0}")]
    Vkey(&'static str),
    /// A signature from a known key that does not verify: the whole note is refused.
    #[error("the signature of {0} does not verify")]
    BadSignature(String),
    /// No signature from any of the keys given.
    #[error("no signature from a known key ({0})")]
    NoKnownSignature(String),
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    /// The bytes after the key id: 64 for Ed25519, 8 + 64 for a cosignature.
    pub bytes: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, newline included.
    pub fn line(&self) -> String {
        let sig = signed_note::Signature::new(self.name.clone(), self.key_id, self.bytes.clone())
            .map(|s| s.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&sig).into_owned()
    }

    /// Parses one line without its newline.
    pub fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        let sig = signed_note::Signature::from_bytes(line.as_bytes())
            .map_err(|_| NoteError::Malformed("not a signature line (`— name base64`)"))?;
        Ok(NoteSignature {
            name: sig.name().to_owned(),
            key_id: sig.id(),
            bytes: sig.signature().to_vec(),
        })
    }
}

/// A note: its text (ending in a newline) and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note (the crate's rules: size, characters, the last blank line,
    /// signature lines).
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        if note.len() > NOTE_BYTES_MAX {
            return Err(NoteError::Malformed("larger than 64 KiB"));
        }
        let parsed = signed_note::Note::from_bytes(note.as_bytes())
            .map_err(|_| NoteError::Malformed("not a signed note"))?;
        let text = std::str::from_utf8(parsed.text())
            .map_err(|_| NoteError::Malformed("not UTF-8"))?
            .to_owned();
        // The crate keeps the signatures to itself until verified: read them from the lines.
        let sigs = &note[text.len() + 1..];
        let signatures = sigs
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed(
                "the last signature line has no newline",
            ))?
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.len() > SIGNATURES_MAX {
            return Err(NoteError::Malformed("too many signatures"));
        }
        Ok(Note { text, signatures })
    }

    /// The note as text: its text, a blank line, its signature lines.
    pub fn render(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out
    }

    /// Checks the signatures of the keys given: unknown keys are ignored, a known key's
    /// signature that fails refuses the note, and at least one must verify. Returns, for
    /// each verifying signature, the verifier's index in `verifiers` and the cosignature's
    /// timestamp (None for a plain Ed25519 signature).
    pub fn verify(
        &self,
        verifiers: &[&NoteVerifier],
    ) -> Result<Vec<(usize, Option<u64>)>, NoteError> {
        let names = || {
            verifiers
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sigs = self
            .signatures
            .iter()
            .map(|s| signed_note::Signature::new(s.name.clone(), s.key_id, s.bytes.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| NoteError::Malformed("a signature line"))?;
        let note = signed_note::Note::new(self.text.as_bytes(), &sigs)
            .map_err(|_| NoteError::Malformed("the text"))?;
        let list = signed_note::VerifierList::new(
            verifiers
                .iter()
                .map(|v| Box::new((*v).clone()) as Box<dyn signed_note::Verifier>)
                .collect(),
        );
        let (verified, _unknown) = note.verify(&list).map_err(|e| match e {
            signed_note::NoteError::InvalidSignature { name, .. } => NoteError::BadSignature(name),
            signed_note::NoteError::UnverifiedNote => NoteError::NoKnownSignature(names()),
            _ => NoteError::Malformed("refused"),
        })?;
        Ok(verified
            .iter()
            .filter_map(|sig| {
                let i = verifiers
                    .iter()
                    .position(|v| v.name == sig.name() && v.key_id == sig.id())?;
                let ts = (verifiers[i].sig_type == TYPE_COSIGNATURE_V1)
                    .then(|| sig.signature().get(..8))
                    .flatten()
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes);
                Some((i, ts))
            })
            .collect())
    }
}

/// Key names: non-empty, no Unicode space, no `+`.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a key name is empty");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err("a key name holds a space or a plus");
    }
    Ok(())
}

/// `SHA-256(name || 0x0A || type || public key)[:4]`, big-endian.
pub fn key_id(name: &str, sig_type: u8, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message a `cosignature/v1` signs: header, time line, the checkpoint's note text.
fn cosigned_message(text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{text}").into_bytes()
}

/// A verifier key: a name, a key id, a type and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub key_id: u32,
    pub sig_type: u8,
    key: ed25519_dalek::VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex id>+<base64(type || key)>`; the id must match the key.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        // The name has no plus and the id is hex; the base64 key may hold pluses.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::Vkey("expected name+keyid+key"));
        };
        check_name(name).map_err(NoteError::Vkey)?;
        if id.len() != 8 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(NoteError::Vkey("the key id is not 8 hex digits"));
        }
        let key_id =
            u32::from_str_radix(id, 16).map_err(|_| NoteError::Vkey("the key id is not hex"))?;
        let raw = B64
            .decode(key)
            .map_err(|_| NoteError::Vkey("the key is not base64"))?;
        let (&sig_type, public) = raw
            .split_first()
            .ok_or(NoteError::Vkey("the key is empty"))?;
        if sig_type != TYPE_ED25519 && sig_type != TYPE_COSIGNATURE_V1 {
            return Err(NoteError::Vkey(
                "only Ed25519 (0x01) and cosignature/v1 (0x04) keys are supported",
            ));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::Vkey("an Ed25519 key is 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::Vkey("not an Ed25519 public key"))?;
        if key_id != self::key_id(name, sig_type, &public) {
            return Err(NoteError::Vkey("the key id does not match the key"));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id,
            sig_type,
            key,
        })
    }

    /// The vkey text.
    pub fn vkey(&self) -> String {
        let mut raw = vec![self.sig_type];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }

    /// Whether `bytes` is this key's signature over `text`: `Some(None)` for a plain
    /// signature, `Some(Some(timestamp))` for a cosignature, `None` when it fails.
    fn check(&self, text: &str, bytes: &[u8]) -> Option<Option<u64>> {
        match self.sig_type {
            TYPE_ED25519 => {
                let sig = ed25519_dalek::Signature::from_slice(bytes).ok()?;
                self.key.verify(text.as_bytes(), &sig).ok().map(|()| None)
            }
            _ => {
                if bytes.len() != 72 {
                    return None;
                }
                let ts = u64::from_be_bytes(bytes[..8].try_into().ok()?);
                if ts > i64::MAX as u64 {
                    return None;
                }
                let sig = ed25519_dalek::Signature::from_slice(&bytes[8..]).ok()?;
                self.key
                    .verify(&cosigned_message(text, ts), &sig)
                    .ok()
                    .map(|()| Some(ts))
            }
        }
    }
}

impl signed_note::Verifier for NoteVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        std::str::from_utf8(msg).is_ok_and(|text| self.check(text, sig).is_some())
    }
}

/// A key that signs notes under a name: as a log (Ed25519) or as a witness (cosignature/v1).
pub struct NoteSigner {
    name: String,
    sig_type: u8,
    key: ed25519_dalek::SigningKey,
}

impl NoteSigner {
    /// A log's signer: plain Ed25519 note signatures.
    pub fn log(name: &str, key: &SigningKey) -> Result<NoteSigner, NoteError> {
        Self::new(name, TYPE_ED25519, key)
    }

    /// A witness's signer: `cosignature/v1`.
    pub fn witness(name: &str, key: &SigningKey) -> Result<NoteSigner, NoteError> {
        Self::new(name, TYPE_COSIGNATURE_V1, key)
    }

    fn new(name: &str, sig_type: u8, key: &SigningKey) -> Result<NoteSigner, NoteError> {
        check_name(name).map_err(NoteError::Vkey)?;
        Ok(NoteSigner {
            name: name.to_owned(),
            sig_type,
            key: key.0.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier for this signer's signatures.
    pub fn verifier(&self) -> NoteVerifier {
        let public = self.key.verifying_key();
        NoteVerifier {
            name: self.name.clone(),
            key_id: key_id(&self.name, self.sig_type, public.as_bytes()),
            sig_type: self.sig_type,
            key: public,
        }
    }

    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    /// Signs `text` (which must end in a newline). A witness signer stamps `timestamp`
    /// (POSIX seconds); a log signer ignores it.
    pub fn sign(&self, text: &str, timestamp: u64) -> NoteSignature {
        let key_id = key_id(
            &self.name,
            self.sig_type,
            self.key.verifying_key().as_bytes(),
        );
        let bytes = if self.sig_type == TYPE_ED25519 {
            self.key.sign(text.as_bytes()).to_bytes().to_vec()
        } else {
            let mut b = timestamp.to_be_bytes().to_vec();
            b.extend_from_slice(&self.key.sign(&cosigned_message(text, timestamp)).to_bytes());
            b
        };
        NoteSignature {
            name: self.name.clone(),
            key_id,
            bytes,
        }
    }

    /// `text` signed: a whole note.
    pub fn note(&self, text: &str, timestamp: u64) -> Note {
        Note {
            text: text.to_owned(),
            signatures: vec![self.sign(text, timestamp)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of C2SP signed-note v1: its vkey verifies its note.
    #[test]
    fn the_specifications_example_verifies() {
        let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let v = NoteVerifier::parse(vkey).unwrap();
        assert_eq!(v.vkey(), vkey);
        let parsed = Note::parse(note).unwrap();
        assert_eq!(parsed.text, "This is an example message.\n");
        assert_eq!(parsed.render(), note);
        assert_eq!(parsed.verify(&[&v]).unwrap(), vec![(0, None)]);
        // One changed character of the text: refused.
        let altered = note.replace("example message", "example massage");
        assert!(matches!(
            Note::parse(&altered).unwrap().verify(&[&v]),
            Err(NoteError::BadSignature(_))
        ));
    }

    #[test]
    fn a_log_signature_and_a_witness_cosignature_verify_and_unknown_keys_are_ignored() {
        let log = NoteSigner::log("lienthong.log/VN/GOV/BCA", &SigningKey::generate()).unwrap();
        let witness =
            NoteSigner::witness("lienthong.witness/VN/GOV/TTDL", &SigningKey::generate()).unwrap();
        let other = NoteSigner::log("other.example/x", &SigningKey::generate()).unwrap();
        let text = "lienthong.log/VN/GOV/BCA\n3\nAAAA\n";
        let mut note = log.note(text, 0);
        note.signatures.push(witness.sign(text, 1_700_000_000));
        note.signatures.push(other.sign(text, 0));
        let parsed = Note::parse(&note.render()).unwrap();
        let (lv, wv) = (log.verifier(), witness.verifier());
        let got = parsed.verify(&[&lv, &wv]).unwrap();
        assert_eq!(got, vec![(0, None), (1, Some(1_700_000_000))]);
        // The vkeys round-trip and carry their type.
        assert_eq!(NoteVerifier::parse(&witness.vkey()).unwrap(), wv);
        assert_eq!(wv.sig_type, TYPE_COSIGNATURE_V1);
        assert_eq!(lv.sig_type, TYPE_ED25519);
        // A note signed by nobody known.
        assert!(matches!(
            Note::parse(&other.note(text, 0).render())
                .unwrap()
                .verify(&[&lv]),
            Err(NoteError::NoKnownSignature(_))
        ));
        // A cosignature whose timestamp was changed no longer verifies.
        let mut forged = parsed.clone();
        forged.signatures[1].bytes[7] ^= 1;
        assert!(matches!(
            forged.verify(&[&wv]),
            Err(NoteError::BadSignature(_))
        ));
    }

    #[test]
    fn malformed_notes_and_vkeys_are_refused() {
        for bad in [
            "",
            "no blank line\n— a AAAAAAA=\n",
            "text\n\n— a AAAAAAA=",
            "text\n\nsignature without dash\n",
            "text\n\n— a not-base64!\n",
            "text\n\n— a AAE=\n",
            "te\u{7}xt\n\n— a AAAAAAA=\n",
        ] {
            assert!(Note::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "name+530d903a",
            "name+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+Aeky",
            "a b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        ] {
            assert!(NoteVerifier::parse(bad).is_err(), "{bad:?}");
        }
    }
}
