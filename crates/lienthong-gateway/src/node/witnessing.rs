//! The node's part in witnessing (docs/message-log.md, "Witnessed logs"): it sends its
//! latest checkpoint with every lt1 message and proves it extends what the receiver saw;
//! it checks the checkpoints of the members it exchanges with; it submits its checkpoints
//! to the witness named in the registry and keeps the cosignatures; when it is that
//! witness, it answers `add-checkpoint` (C2SP tlog-witness). Findings become alarms in the
//! message log (the dashboard shows them) and a metric.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use lienthong_ledger::{decode_hashes, encode_hashes, AddCheckpoint, TlogCheckpoint};
use lienthong_registry::log_origin;
use lienthong_trust::note::{Note, NoteSignature, NoteSigner, NoteVerifier};

use super::*;
use crate::witness::{self, Lineage, Seen};

/// The headers of witnessing on lt1 messages.
pub mod wheader {
    /// The sender's latest checkpoint: a C2SP signed note, base64.
    pub const CHECKPOINT: &str = "x-lt-checkpoint";
    /// `<size> <base64 hash> …`: a consistency proof from the size the receiver reported.
    pub const CONSISTENCY: &str = "x-lt-consistency";
    /// The size of the receiver's log the sender has verified.
    pub const WITNESSED: &str = "x-lt-witnessed";
}

/// Bound on the logs (members) one node follows; beyond it new ones are not followed.
const FOLLOWED_MAX: usize = 65_536;

/// What this node knows of the logs of the members it exchanges with.
#[derive(Default)]
pub(super) struct Observer {
    /// Per member: the lineage of its log verified so far.
    lineages: Mutex<HashMap<String, Lineage>>,
    /// Per member: the size of this node's log that member reported verified.
    reported: Mutex<HashMap<String, u64>>,
    /// Members whose log raised an alarm here (not trusted as a witness).
    flagged: Mutex<HashSet<String>>,
    /// Members whose lineage advanced since it was last saved.
    dirty: Mutex<HashSet<String>>,
    /// Per member: when this node last sent it a checkpoint, and the size it had reported.
    sent: Mutex<HashMap<String, (std::time::Instant, u64)>>,
}

/// A peer gets this node's checkpoint at most this often, unless it reported a new size
/// since (then at once: its report asks for the proof from there). Verifying a note costs an
/// Ed25519 verification; every message would make it a fifth of an exchange's CPU.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Inner {
    /// The witnessing headers for a message to `peer`: read the size `peer` verified before
    /// the latest checkpoint, so the checkpoint is never below it.
    pub(super) fn witnessing_headers(&self, peer: &str) -> Vec<(&'static str, HeaderValue)> {
        let mut out = Vec::with_capacity(3);
        let reported = self
            .observer
            .reported
            .lock()
            .ok()
            .and_then(|r| r.get(peer).copied())
            .unwrap_or(0);
        let Some(latest) = self.log.latest_note() else {
            return out;
        };
        let due = self.observer.sent.lock().is_ok_and(|mut sent| {
            let now = std::time::Instant::now();
            let due = sent.get(peer).is_none_or(|(at, told)| {
                *told != reported || now.duration_since(*at) >= CHECKPOINT_EVERY
            });
            if due && (sent.len() < FOLLOWED_MAX || sent.contains_key(peer)) {
                sent.insert(peer.to_owned(), (now, reported));
            }
            due
        });
        let verified = self
            .observer
            .lineages
            .lock()
            .ok()
            .and_then(|l| l.get(peer).map(|l| l.size))
            .unwrap_or(0);
        out.push((wheader::WITNESSED, HeaderValue::from(verified)));
        if !due {
            return out;
        }
        if let Ok(v) = HeaderValue::from_str(&latest.header) {
            out.push((wheader::CHECKPOINT, v));
        }
        if reported > latest.size {
            // The peer verified more of this log than it holds: entries were removed or an
            // older copy restored. Said as it is — a proof from that size is impossible —
            // so the peer records it.
            tracing::error!(
                peer,
                verified = reported,
                holds = latest.size,
                "a peer verified more of this message log than it holds now"
            );
            out.push((wheader::CONSISTENCY, HeaderValue::from(reported)));
        } else if reported > 0 && reported < latest.size {
            if let Ok(proof) = self.log.consistency_proof(reported, latest.size) {
                if let Ok(v) =
                    HeaderValue::from_str(&format!("{reported} {}", encode_hashes(&proof)))
                {
                    out.push((wheader::CONSISTENCY, v));
                }
            }
        }
        out
    }

    /// Checks the witnessing headers of a message from `peer`, whose identity (certificate
    /// and signature) was verified. Never refuses the message: findings are alarms.
    pub(super) fn observe_peer(&self, peer: &str, headers: &HeaderMap) {
        if let Some(n) = headers
            .get(wheader::WITNESSED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if let Ok(mut r) = self.observer.reported.lock() {
                if r.len() < FOLLOWED_MAX || r.contains_key(peer) {
                    let e = r.entry(peer.to_owned()).or_insert(0);
                    *e = (*e).max(n);
                }
            }
        }
        let Some(encoded) = headers
            .get(wheader::CHECKPOINT)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let Ok(snapshot) = self.snapshot.current() else {
            return;
        };
        let Some(vkey) = snapshot
            .member(peer)
            .and_then(|m| m.log_key.as_deref())
            .and_then(|k| NoteVerifier::parse(k).ok())
        else {
            return;
        };
        let origin = log_origin(peer);
        let note = match B64
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(n) => n,
            None => {
                self.alarm(
                    &origin,
                    peer,
                    "bad_signature",
                    "a checkpoint that is not base64 UTF-8",
                    "",
                );
                return;
            }
        };
        // The same note as last time: nothing to check.
        if let Ok(l) = self.observer.lineages.lock() {
            if l.get(peer).is_some_and(|l| l.note == note) {
                return;
            }
        }
        let cp = match witness::read_note(&note, &vkey, &origin) {
            Ok(cp) => cp,
            Err(e) => {
                self.alarm(
                    &origin,
                    peer,
                    "bad_signature",
                    &format!("checkpoint refused: {e}"),
                    &note,
                );
                return;
            }
        };
        let proof_header = headers
            .get(wheader::CONSISTENCY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let proof = proof_header.split_once(' ').map_or_else(
            || (proof_header.parse::<u64>().ok(), Some(Vec::new())),
            |(from, hashes)| (from.parse::<u64>().ok(), decode_hashes(hashes)),
        );
        let proof = match proof {
            (Some(from), Some(hashes)) => Some((from, hashes)),
            _ => None,
        };
        let (seen, before) = {
            let Ok(mut lineages) = self.observer.lineages.lock() else {
                return;
            };
            if lineages.len() >= FOLLOWED_MAX && !lineages.contains_key(peer) {
                return;
            }
            let mut current = lineages.remove(peer);
            let before = current.as_ref().map(|l| l.note.clone()).unwrap_or_default();
            let seen = witness::observe(
                &mut current,
                &cp,
                &note,
                proof.as_ref().map(|(f, h)| (*f, h.as_slice())),
            );
            if let Some(c) = current {
                lineages.insert(peer.to_owned(), c);
            }
            (seen, before)
        };
        match seen {
            Seen::First | Seen::Extended => self.save_lineage(peer),
            Seen::Same | Seen::Unproved => {}
            Seen::Fork { detail } => {
                self.alarm(&origin, peer, "fork", &detail, &format!("{before}\n{note}"))
            }
            Seen::Rewound { detail } => self.alarm(
                &origin,
                peer,
                "rewound",
                &detail,
                &format!("{before}\n{note}"),
            ),
        }
    }

    /// Marks a member's verified lineage to be saved by [`flush_loop`].
    fn save_lineage(&self, peer: &str) {
        if let Ok(mut dirty) = self.observer.dirty.lock() {
            dirty.insert(peer.to_owned());
        }
    }

    /// Raises an alarm: kept in the message log, counted, logged as an error.
    pub(super) fn alarm(
        &self,
        origin: &str,
        member: &str,
        kind: &'static str,
        detail: &str,
        evidence: &str,
    ) {
        tracing::error!(
            log = origin,
            member,
            kind,
            detail,
            "message log of another member failed witnessing"
        );
        crate::telemetry::witness_alarm(kind);
        if let Ok(mut f) = self.observer.flagged.lock() {
            if f.len() < FOLLOWED_MAX {
                f.insert(member.to_owned());
            }
        }
        let log = self.log.clone();
        let (origin, member, detail, evidence) = (
            origin.to_owned(),
            member.to_owned(),
            detail.to_owned(),
            evidence.to_owned(),
        );
        tokio::spawn(async move {
            if let Err(e) = log
                .raise_alarm(&origin, &member, kind, &detail, &evidence)
                .await
            {
                tracing::error!(error = %e, "recording a witness alarm failed");
            }
        });
    }

    /// Whether this node flagged `member`'s log.
    pub(super) fn is_flagged(&self, member: &str) -> bool {
        self.observer
            .flagged
            .lock()
            .is_ok_and(|f| f.contains(member))
    }
}

/// Saves the lineages that advanced, every half second (one write per member then, not one
/// per message), and once more when the node stops.
pub(super) async fn flush_loop(node: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => false,
            _ = stop.changed() => true,
        };
        let dirty: Vec<String> = node
            .observer
            .dirty
            .lock()
            .map(|mut d| d.drain().collect())
            .unwrap_or_default();
        for peer in dirty {
            let state = node
                .observer
                .lineages
                .lock()
                .ok()
                .and_then(|l| l.get(&peer).map(|l| (l.size, l.root, l.note.clone())));
            if let Some((size, root, note)) = state {
                if let Err(e) = node
                    .log
                    .set_seen(&log_origin(&peer), (size, &root, &note))
                    .await
                {
                    tracing::warn!(error = %e, "saving a witnessed checkpoint failed");
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// Loads the lineages saved at the last run, so a restart does not forget what was seen.
pub(super) async fn restore_lineages(node: &Inner) -> Result<(), String> {
    let seen = node.log.all_seen().await?;
    let alarms = node.log.alarms().await?;
    let mut lineages = node.observer.lineages.lock().map_err(|_| "lock poisoned")?;
    for (origin, _, note) in seen {
        let Some(member) = origin.strip_prefix("lienthong.log/") else {
            continue;
        };
        let Some(cp) = Note::parse(&note)
            .ok()
            .and_then(|n| TlogCheckpoint::parse(&n.text).ok())
        else {
            continue;
        };
        lineages.insert(
            member.to_owned(),
            Lineage::new(cp.size, cp.root, note.clone()),
        );
    }
    drop(lineages);
    if let Ok(mut f) = node.observer.flagged.lock() {
        f.extend(alarms.into_iter().map(|a| a.member));
    }
    Ok(())
}

/// The witness's side: this node's cosigning key, when the registry names it the witness.
pub(super) struct WitnessRole {
    pub(super) signer: NoteSigner,
    /// Check-and-store is one step per witness (C2SP tlog-witness asks it be atomic).
    pub(super) lock: tokio::sync::Mutex<()>,
}

/// `POST /lt1/witness/add-checkpoint` on the peer face: a registered member's node (by its
/// certificate) submits a checkpoint of any member's log; answered as C2SP tlog-witness
/// says — 200 with the cosignature line, 404 unknown origin, 403 bad signature, 400, 409
/// with the size held, 422 inconsistent — and a log shown inconsistent raises an alarm.
pub(super) async fn add_checkpoint(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Extension(subject): Extension<PeerSubject>,
    body: Bytes,
) -> Response {
    let plain = |status: u16, body: String| {
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let ct = if status == 409 {
            "text/x.tlog.size"
        } else {
            "text/plain; charset=utf-8"
        };
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static(ct));
        r
    };
    let Some(role) = node.witness.as_ref() else {
        return plain(404, "this node is not a witness\n".into());
    };
    let Ok(snapshot) = node.snapshot.current() else {
        return plain(503, "no valid registry snapshot\n".into());
    };
    // A registered member's node, by the certificate the registry lists for it.
    let caller = snapshot
        .registry
        .members
        .iter()
        .find(|m| m.cert_fingerprint == peer.0 && m.id == subject.0);
    let Some(caller) = caller else {
        return plain(403, "not a registered member's node\n".into());
    };
    if snapshot.is_revoked(&caller.id) {
        return plain(403, "revoked\n".into());
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return plain(400, "not UTF-8\n".into());
    };
    let request = match AddCheckpoint::parse(text) {
        Ok(r) => r,
        Err(e) => return plain(400, format!("{e}\n")),
    };
    let Ok(note) = Note::parse(&request.checkpoint) else {
        return plain(400, "the checkpoint is not a signed note\n".into());
    };
    let Ok(cp) = TlogCheckpoint::parse(&note.text) else {
        return plain(400, "the note is not a checkpoint\n".into());
    };
    let Some(member) = cp.origin.strip_prefix("lienthong.log/") else {
        return plain(404, "unknown origin\n".into());
    };
    let Some(vkey) = snapshot
        .member(member)
        .and_then(|m| m.log_key.as_deref())
        .and_then(|k| NoteVerifier::parse(k).ok())
    else {
        return plain(404, "unknown origin\n".into());
    };
    if let Err(e) = note.verify(&[&vkey]) {
        return plain(403, format!("{e}\n"));
    }
    let _held = role.lock.lock().await;
    let state = match node.log.witness_state(&cp.origin).await {
        Ok(s) => s,
        Err(e) => return plain(500, format!("{e}\n")),
    };
    let evidence_before = state.as_ref().map(|s| s.2.clone()).unwrap_or_default();
    if let Err(refusal) = witness::add_checkpoint(state.map(|(s, r, _)| (s, r)), &request, &cp) {
        // Only the log's own node speaks for it; another member's copy proves nothing new.
        if let (Some((kind, detail)), true) = (refusal.alarm, caller.id == member) {
            node.alarm(
                &cp.origin,
                member,
                kind,
                &detail,
                &format!("{evidence_before}\n{}", request.checkpoint),
            );
        }
        return plain(refusal.status, refusal.body);
    }
    let cosignature = role.signer.sign(&note.text, lienthong_core::time::now_s());
    let mut cosigned = note.clone();
    cosigned.signatures.push(cosignature.clone());
    if let Err(e) = node
        .log
        .set_witness_state(&cp.origin, (cp.size, &cp.root, &cosigned.render()))
        .await
    {
        return plain(500, format!("{e}\n"));
    }
    plain(200, cosignature.line())
}

/// Submits this node's latest checkpoint to the witness every `every`, while it has grown;
/// keeps each cosigned checkpoint. A witness holding more than this log is the sign that it
/// was cut or restored from an older copy: said loudly here, and raised by the witness.
pub(super) async fn submit_loop(
    node: Arc<Inner>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut held: u64 = 0;
    let mut cosigned: u64 = u64::MAX;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let Some(latest) = node.log.latest_note() else {
            return;
        };
        if latest.size == cosigned {
            continue;
        }
        let Ok(snapshot) = node.snapshot.current() else {
            continue;
        };
        let Some(w) = snapshot.registry.witness.clone() else {
            continue;
        };
        if w.member == node.config.member.to_string() {
            continue;
        }
        if node.is_flagged(&w.member) {
            tracing::warn!(witness = %w.member, "the witness's own log failed witnessing here: its cosignatures are not taken");
            continue;
        }
        let Some(target) = snapshot.member(&w.member).cloned() else {
            continue;
        };
        let Some(address) = target.address.clone() else {
            continue;
        };
        // Twice at most: the second after learning the size the witness holds (409).
        for _ in 0..2 {
            match submit(
                &node,
                &address,
                &target.cert_fingerprint,
                &w.key,
                &latest,
                held,
            )
            .await
            {
                Ok(Submitted::Cosigned(note)) => {
                    cosigned = latest.size;
                    held = latest.size;
                    if let Err(e) = node.log.save_cosigned(latest.size, &note).await {
                        tracing::warn!(error = %e, "keeping the witness's cosignature failed");
                    }
                    break;
                }
                Ok(Submitted::Holds(size)) if size <= latest.size && size != held => held = size,
                Ok(Submitted::Holds(size)) => {
                    if size > latest.size {
                        tracing::error!(witness_holds = size, log_holds = latest.size, "the witness cosigned more of this message log than it holds now: entries were removed or an older copy restored");
                    }
                    break;
                }
                Ok(Submitted::Refused(status, why)) => {
                    tracing::error!(status, why = %why.trim(), "the witness refused this log's checkpoint");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the witness could not be reached");
                    break;
                }
            }
        }
    }
}

enum Submitted {
    Cosigned(String),
    Holds(u64),
    Refused(u16, String),
}

async fn submit(
    node: &Inner,
    address: &str,
    fingerprint: &str,
    witness_vkey: &str,
    latest: &crate::msglog::LatestNote,
    old: u64,
) -> Result<Submitted, String> {
    let proof = if old > 0 && old <= latest.size {
        node.log.consistency_proof(old, latest.size)?
    } else {
        Vec::new()
    };
    let body = AddCheckpoint {
        old,
        proof,
        checkpoint: latest.note.to_string(),
    }
    .body();
    let (status, bytes) = post_peer(
        node,
        (address, fingerprint),
        "/lt1/witness/add-checkpoint",
        ("text/plain; charset=utf-8", body),
        64 * 1024,
    )
    .await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match status.as_u16() {
        200 => {
            let verifier = NoteVerifier::parse(witness_vkey).map_err(|e| e.to_string())?;
            let mut note = Note::parse(&latest.note).map_err(|e| e.to_string())?;
            for line in text.lines() {
                note.signatures
                    .push(NoteSignature::parse_line(line).map_err(|e| e.to_string())?);
            }
            let verified = note.verify(&[&verifier]).map_err(|e| e.to_string())?;
            if verified.is_empty() {
                return Err("no cosignature from the witness's key".into());
            }
            Ok(Submitted::Cosigned(note.render()))
        }
        409 => text
            .trim()
            .parse()
            .map(Submitted::Holds)
            .map_err(|_| format!("409 without a size: {text}")),
        s => Ok(Submitted::Refused(s, text)),
    }
}

/// POSTs `body` to a peer's face at `path` over mutual TLS (the pooled client pinned to its
/// certificate), 10 s at most; the status and at most `limit` bytes of the answer.
pub(super) async fn post_peer(
    node: &Inner,
    (address, fingerprint): (&str, &str),
    path: &str,
    (content_type, body): (&str, String),
    limit: usize,
) -> Result<(StatusCode, Bytes), String> {
    let client = node
        .peer_client(address, fingerprint)
        .map_err(|e| e.to_string())?;
    let request = hyper::Request::builder()
        .method(Method::POST)
        .uri(format!("https://{address}{path}"))
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, bytes))
}
