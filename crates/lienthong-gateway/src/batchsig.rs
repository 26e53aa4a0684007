//! Batch signatures: a node signs the Merkle root (RFC 9162, `lienthong-ledger`) of every
//! message waiting to be signed with one Ed25519 signature, and each message carries that
//! signature with its place in the batch and its audit path:
//!
//! ```text
//! b1.{signature of "lt1-batch\n{size}\n{root hex}", base64}.{index}.{size}.{path, hex}
//! ```
//!
//! The verifier derives the root from the message (leaf = SHA-256(0x00 ‖ message)) and its
//! path, then checks the signature over that root — once per batch: roots it has verified
//! are remembered (bounded). Offline, as in evidence files, the message, the header value
//! and the key are all it needs. A plain base64 Ed25519 signature still verifies, so nodes
//! that sign one by one interoperate.
//!
//! Signing waits for no timer: the signer takes the first message waiting, lets the calls
//! in flight on this node reach it (a few scheduler yields), signs what has gathered, and
//! answers every one; under load batches grow by themselves, and alone a message is a
//! batch of one.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use lienthong_ledger::{hash_from_hex, hash_to_hex, leaf_hash, Hash, MerkleTree};
use lienthong_trust::{SigningKey, TrustError};
use tokio::sync::{mpsc, oneshot};

const PREFIX: &str = "b1.";
/// Messages in one batch, at most.
pub const BATCH_MESSAGES_MAX: usize = 256;
/// Scheduler yields the signer gives calls in flight to join a batch.
const GATHER_YIELDS: usize = 4;

fn statement(size: u64, root: &Hash) -> Vec<u8> {
    format!("lt1-batch\n{size}\n{}", hash_to_hex(root)).into_bytes()
}

fn encode(signature: &str, index: u64, size: u64, path: &[Hash]) -> String {
    let mut s = format!("{PREFIX}{signature}.{index}.{size}.");
    for h in path {
        s.push_str(&hash_to_hex(h));
    }
    s
}

/// (signature, index, size, path) of a batch signature header value.
fn decode(value: &str) -> Option<(&str, u64, u64, Vec<Hash>)> {
    let rest = value.strip_prefix(PREFIX)?;
    let mut parts = rest.split('.');
    let signature = parts.next()?;
    let index = parts.next()?.parse().ok()?;
    let size: u64 = parts.next()?.parse().ok()?;
    let path_hex = parts.next()?;
    if parts.next().is_some() || path_hex.len() % 64 != 0 || path_hex.len() > 64 * 64 {
        return None;
    }
    let path = (0..path_hex.len() / 64)
        .map(|i| path_hex.get(i * 64..(i + 1) * 64).and_then(hash_from_hex))
        .collect::<Option<Vec<_>>>()?;
    Some((signature, index, size, path))
}

/// Roots already verified, per signing key; cleared when full.
pub struct RootCache {
    seen: Mutex<Seen>,
    max: usize,
}

/// (root, size) pairs by signing key: looked up by the key's text without copying it (a
/// verification costs no allocation once its batch's root is known).
#[derive(Default)]
struct Seen {
    by_key: HashMap<String, HashSet<(Hash, u64)>>,
    len: usize,
}

impl RootCache {
    pub fn new(max: usize) -> RootCache {
        RootCache {
            seen: Mutex::new(Seen::default()),
            max: max.max(1),
        }
    }
}

/// Checks `signature` — a batch signature or a plain Ed25519 one — over `message` with the
/// member key `public_key`.
pub fn verify(
    public_key: &str,
    message: &[u8],
    signature: &str,
    cache: Option<&RootCache>,
) -> Result<(), TrustError> {
    if !signature.starts_with(PREFIX) {
        return lienthong_trust::verify(public_key, message, signature);
    }
    let (sig, index, size, path) = decode(signature).ok_or(TrustError::BadSignature)?;
    let root = lienthong_ledger::root_from_inclusion_proof(&leaf_hash(message), index, size, &path)
        .map_err(|_| TrustError::BadSignature)?;
    let batch = (root, size);
    if let Some(c) = cache {
        let seen = c.seen.lock().map_err(|_| TrustError::BadSignature)?;
        if seen
            .by_key
            .get(public_key)
            .is_some_and(|roots| roots.contains(&batch))
        {
            return Ok(());
        }
    }
    lienthong_trust::verify(public_key, &statement(size, &root), sig)?;
    if let Some(c) = cache {
        let mut seen = c.seen.lock().map_err(|_| TrustError::BadSignature)?;
        if seen.len >= c.max {
            *seen = Seen::default();
        }
        let added = match seen.by_key.get_mut(public_key) {
            Some(roots) => roots.insert(batch),
            None => {
                seen.by_key
                    .insert(public_key.to_owned(), HashSet::from([batch]));
                true
            }
        };
        seen.len += usize::from(added);
    }
    Ok(())
}

struct Pending {
    leaf: Hash,
    reply: oneshot::Sender<String>,
}

/// Signs messages in batches; cheap to clone.
#[derive(Clone)]
pub struct Signer {
    tx: mpsc::Sender<Pending>,
}

impl Signer {
    /// Starts the signing task for `key`.
    pub fn start(key: SigningKey) -> Signer {
        let (tx, rx) = mpsc::channel(4 * BATCH_MESSAGES_MAX);
        tokio::spawn(sign_batches(key, rx));
        Signer { tx }
    }

    /// The batch signature header value for `message`.
    pub async fn sign(&self, message: &[u8]) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                leaf: leaf_hash(message),
                reply,
            })
            .await
            .map_err(|_| "signer stopped".to_owned())?;
        answer.await.map_err(|_| "signer stopped".to_owned())
    }
}

async fn sign_batches(key: SigningKey, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        for _ in 0..GATHER_YIELDS {
            while batch.len() < BATCH_MESSAGES_MAX {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            if batch.len() >= BATCH_MESSAGES_MAX {
                break;
            }
            tokio::task::yield_now().await;
        }
        let tree = MerkleTree::from_leaf_hashes(batch.iter().map(|p| p.leaf));
        let size = tree.size();
        let signature = key.sign(&statement(size, &tree.root()));
        metrics::histogram!("lienthong_node_signature_batch_messages").record(size as f64);
        for (i, p) in batch.into_iter().enumerate() {
            let path = tree
                .inclusion_proof(i as u64, size)
                .expect("every index of the batch is in its tree");
            let _ = p.reply.send(encode(&signature, i as u64, size, &path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_message_of_a_batch_verifies_alone_and_no_other_does() {
        let key = SigningKey::generate();
        let public = key.public_b64();
        let signer = Signer::start(SigningKey::from_pem(&key.to_pem().unwrap()).unwrap());
        let messages: Vec<Vec<u8>> = (0..37)
            .map(|i| format!("lt1-request\n{i}").into_bytes())
            .collect();
        let tasks: Vec<_> = messages
            .iter()
            .cloned()
            .map(|m| {
                let s = signer.clone();
                tokio::spawn(async move { s.sign(&m).await.unwrap() })
            })
            .collect();
        let mut sigs = Vec::new();
        for t in tasks {
            sigs.push(t.await.unwrap());
        }
        // Batches formed (the signer took waiting messages together): the audit-path checks
        // below only mean something for a batch of more than one.
        let sizes: Vec<u64> = sigs.iter().map(|s| decode(s).unwrap().2).collect();
        let largest = *sizes.iter().max().unwrap();
        assert!(largest > 1, "every message was signed alone: {sizes:?}");
        let batched = sizes.iter().position(|&n| n == largest).unwrap();
        let cache = RootCache::new(16);
        for (m, s) in messages.iter().zip(&sigs) {
            assert!(s.starts_with("b1."));
            assert!(verify(&public, m, s, None).is_ok(), "offline");
            assert!(verify(&public, m, s, Some(&cache)).is_ok(), "cached");
        }
        // Another message under a valid signature, another key, a changed path: refused,
        // with or without the cache.
        for c in [None, Some(&cache)] {
            assert!(verify(&public, b"lt1-request\nforged", &sigs[0], c).is_err());
            assert!(verify(
                &SigningKey::generate().public_b64(),
                &messages[0],
                &sigs[0],
                c
            )
            .is_err());
            let (m, sig) = (&messages[batched], &sigs[batched]);
            let parts: Vec<String> = sig.split('.').map(str::to_owned).collect();
            let (index, size): (u64, u64) = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
            // Another place in the batch.
            let mut moved = parts.clone();
            moved[2] = ((index + 1) % size).to_string();
            assert!(verify(&public, m, &moved.join("."), c).is_err());
            // A changed hash in the audit path.
            let mut bent = parts.clone();
            let first = bent[4].remove(0);
            bent[4].insert(0, if first == '0' { '1' } else { '0' });
            assert!(verify(&public, m, &bent.join("."), c).is_err());
            // Another batch size with the same path.
            let mut resized = parts;
            resized[3] = (size + 1).to_string();
            assert!(verify(&public, m, &resized.join("."), c).is_err());
        }
        for bad in ["b1.", "b1.x.y.z.w", "b1.AAAA.0.1.zz", "b1.AAAA.0.1..extra"] {
            assert!(verify(&public, &messages[0], bad, None).is_err(), "{bad}");
        }
        // A plain signature still verifies.
        let plain = key.sign(&messages[0]);
        assert!(verify(&public, &messages[0], &plain, Some(&cache)).is_ok());
    }
}
