//! Witnessing other members' message logs, pure: what a checkpoint (a C2SP signed note)
//! says given what was seen of the same log before — the same, an extension (proved), not
//! yet provable, a fork, or a rewind — and the witness's `add-checkpoint` decision (C2SP
//! tlog-witness). The node does the I/O (`node/witnessing.rs`).
//!
//! Every lt1 message carries the sender's latest checkpoint (`x-lt-checkpoint`), the size of
//! the receiver's log the sender has verified (`x-lt-witnessed`) and, when the receiver
//! told it a size before, a consistency proof from that size (`x-lt-consistency`). An
//! honest log reads that size before its latest checkpoint, so its checkpoint is never
//! smaller: a smaller one with a proof asked from a larger size is a rewound log.

use std::collections::VecDeque;

use lienthong_ledger::{verify_consistency, AddCheckpoint, Hash, TlogCheckpoint, EMPTY_ROOT};
use lienthong_trust::note::{Note, NoteVerifier};

/// Verified sizes remembered per log (to check proofs from a size reported a while ago).
const HISTORY_MAX: usize = 256;

/// What this node knows of another member's log: the largest checkpoint it verified and the
/// sizes it verified before (with their roots).
#[derive(Debug, Clone)]
pub struct Lineage {
    pub size: u64,
    pub root: Hash,
    /// The signed note of `size`.
    pub note: String,
    history: VecDeque<(u64, Hash)>,
}

impl Lineage {
    pub fn new(size: u64, root: Hash, note: String) -> Lineage {
        Lineage {
            size,
            root,
            note,
            history: VecDeque::from([(size, root)]),
        }
    }

    fn root_at(&self, size: u64) -> Option<Hash> {
        if size == 0 {
            return Some(EMPTY_ROOT);
        }
        self.history
            .iter()
            .find(|(s, _)| *s == size)
            .map(|(_, r)| *r)
    }

    fn advance(&mut self, size: u64, root: Hash, note: &str) {
        self.size = size;
        self.root = root;
        self.note = note.to_owned();
        if self.history.len() >= HISTORY_MAX {
            self.history.pop_front();
        }
        self.history.push_back((size, root));
    }
}

/// What a checkpoint says about a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The first checkpoint seen of this log: taken as the start of its lineage.
    First,
    /// A size already verified, with the same root.
    Same,
    /// A larger size, proved consistent with what was seen.
    Extended,
    /// A larger size without a proof from a size this node verified, or a smaller size
    /// that may be an older message overtaken: nothing learnt yet.
    Unproved,
    /// Two signed checkpoints that cannot both be true: the same size with two roots, or a
    /// proof that fails. `detail` says which; the notes are the evidence.
    Fork { detail: String },
    /// A smaller log than the sender itself knows this node verified.
    Rewound { detail: String },
}

/// A note verified with the member's log key, its text read as a checkpoint of `origin`.
pub fn read_note(note: &str, vkey: &NoteVerifier, origin: &str) -> Result<TlogCheckpoint, String> {
    let parsed = Note::parse(note).map_err(|e| e.to_string())?;
    parsed.verify(&[vkey]).map_err(|e| e.to_string())?;
    let cp = TlogCheckpoint::parse(&parsed.text).map_err(|e| e.to_string())?;
    if cp.origin != origin {
        return Err(format!(
            "a checkpoint of {} where {origin} was expected",
            cp.origin
        ));
    }
    Ok(cp)
}

/// Judges a verified checkpoint against the lineage (updated when extended). `proof`: the
/// size the sender proved from and the proof, if it sent one.
pub fn observe(
    lineage: &mut Option<Lineage>,
    cp: &TlogCheckpoint,
    note: &str,
    proof: Option<(u64, &[Hash])>,
) -> Seen {
    let Some(l) = lineage else {
        *lineage = Some(Lineage::new(cp.size, cp.root, note.to_owned()));
        return Seen::First;
    };
    if let Some(root) = l.root_at(cp.size) {
        return if root == cp.root {
            Seen::Same
        } else {
            Seen::Fork {
                detail: format!("two checkpoints of size {} with different roots", cp.size),
            }
        };
    }
    let Some((from, hashes)) = proof else {
        return Seen::Unproved;
    };
    if cp.size < from {
        return Seen::Rewound {
            detail: format!(
                "the log presents {} entries after this node verified {from} of it",
                cp.size
            ),
        };
    }
    let Some(from_root) = l.root_at(from) else {
        return Seen::Unproved;
    };
    match verify_consistency(from, cp.size, &from_root, &cp.root, hashes) {
        Ok(()) if cp.size > l.size => {
            l.advance(cp.size, cp.root, note);
            Seen::Extended
        }
        // Consistent with an older size but below the largest verified: an older message.
        Ok(()) => Seen::Unproved,
        Err(e) => Seen::Fork {
            detail: format!(
                "size {} does not extend size {from} that this node verified: {e}",
                cp.size
            ),
        },
    }
}

/// The witness's refusal of an `add-checkpoint`: the HTTP status, the body, and whether it
/// proves misbehaviour by the log (an alarm: kind and detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub body: String,
    pub alarm: Option<(&'static str, String)>,
}

fn refuse(status: u16, body: impl Into<String>) -> Refusal {
    Refusal {
        status,
        body: body.into(),
        alarm: None,
    }
}

/// C2SP tlog-witness `add-checkpoint` checks, the signature checked already: against the
/// latest checkpoint the witness cosigned for the origin (`state`: size and root), is the
/// new one consistent? `Ok` means: cosign it and store it as the new state.
pub fn add_checkpoint(
    state: Option<(u64, Hash)>,
    request: &AddCheckpoint,
    cp: &TlogCheckpoint,
) -> Result<(), Refusal> {
    let (held, held_root) = state.unwrap_or((0, EMPTY_ROOT));
    if cp.size < held {
        // A log's own node submits its latest checkpoint: smaller than one it had
        // cosigned means entries were removed.
        return Err(Refusal {
            status: 409,
            body: format!("{held}\n"),
            alarm: Some((
                "rewound",
                format!(
                    "the log submitted {} entries after the witness cosigned {held}",
                    cp.size
                ),
            )),
        });
    }
    if request.old > cp.size {
        return Err(refuse(400, "old size is larger than the checkpoint\n"));
    }
    if request.old != held {
        return Err(refuse(409, format!("{held}\n")));
    }
    if cp.size == 0 && cp.root != EMPTY_ROOT {
        return Err(refuse(
            422,
            "a checkpoint of size 0 must have the empty root\n",
        ));
    }
    if held == 0 && !request.proof.is_empty() {
        return Err(refuse(422, "no proof is needed from size 0\n"));
    }
    if held == cp.size && held_root != cp.root {
        return Err(Refusal {
            status: 422,
            body: "the root differs from the one cosigned at this size\n".into(),
            alarm: Some((
                "fork",
                format!("two checkpoints of size {held} with different roots"),
            )),
        });
    }
    if let Err(e) = verify_consistency(held, cp.size, &held_root, &cp.root, &request.proof) {
        return Err(Refusal {
            status: 422,
            body: format!("the consistency proof does not verify: {e}\n"),
            alarm: Some((
                "fork",
                format!(
                    "size {} is not an extension of size {held} the witness cosigned: {e}",
                    cp.size
                ),
            )),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_ledger::MerkleTree;

    fn tree(entries: &[&str]) -> MerkleTree {
        let mut t = MerkleTree::new();
        for e in entries {
            t.append(e.as_bytes());
        }
        t
    }

    fn cp(t: &MerkleTree, size: u64) -> TlogCheckpoint {
        TlogCheckpoint::new("o", size, t.root_at(size).unwrap())
    }

    #[test]
    fn a_log_that_grows_is_followed_and_one_that_forks_or_rewinds_is_caught() {
        let honest = tree(&["a", "b", "c", "d", "e", "f"]);
        let mut l = None;
        assert_eq!(observe(&mut l, &cp(&honest, 2), "n2", None), Seen::First);
        assert_eq!(observe(&mut l, &cp(&honest, 2), "n2", None), Seen::Same);
        // Larger without a proof from a known size: nothing learnt.
        assert_eq!(observe(&mut l, &cp(&honest, 4), "n4", None), Seen::Unproved);
        let p = honest.consistency_proof(2, 4).unwrap();
        assert_eq!(
            observe(&mut l, &cp(&honest, 4), "n4", Some((2, &p))),
            Seen::Extended
        );
        assert_eq!(l.as_ref().unwrap().size, 4);
        // An older message overtaken: size 3 with no proof is not a finding.
        assert_eq!(observe(&mut l, &cp(&honest, 3), "n3", None), Seen::Unproved);
        // Same size, another root: a fork.
        let forked = tree(&["a", "b", "X", "Y", "Z", "W"]);
        assert!(matches!(
            observe(&mut l, &cp(&forked, 4), "f4", None),
            Seen::Fork { .. }
        ));
        // A larger size whose proof from 4 is made on another tree: a fork.
        let p = forked.consistency_proof(4, 6).unwrap();
        assert!(matches!(
            observe(&mut l, &cp(&forked, 6), "f6", Some((4, &p))),
            Seen::Fork { .. }
        ));
        // The log knows this node verified 4 yet presents 3 entries: rewound.
        let cut = tree(&["a", "b", "c"]);
        assert!(matches!(
            observe(&mut l, &cp(&cut, 3), "c3", Some((4, &[]))),
            Seen::Rewound { .. }
        ));
        // Nothing of the forks was taken in.
        assert_eq!(l.as_ref().unwrap().size, 4);
        assert_eq!(l.as_ref().unwrap().root, honest.root_at(4).unwrap());
    }

    #[test]
    fn saved_checkpoints_are_checked_against_each_other_and_the_log() {
        let key = lienthong_trust::SigningKey::generate();
        let signer = lienthong_trust::note::NoteSigner::log("o", &key).unwrap();
        let note = |t: &MerkleTree, size: u64| signer.note(&cp(t, size).text(), 0).render();
        let honest = tree(&["a", "b", "c", "d"]);
        let forked = tree(&["a", "b", "X", "Y"]);
        let saved = vec![
            ("2".to_owned(), note(&honest, 2)),
            ("4".to_owned(), note(&honest, 4)),
        ];
        let v = signer.verifier();
        let r = check_saved(&saved, &v, &[], Some(&honest));
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.checkpoints.len(), 2);
        // The log cut back to 3 entries: the checkpoint of 4 shows it.
        let r = check_saved(&saved, &v, &[], Some(&tree(&["a", "b", "c"])));
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        assert!(r.findings[0].contains("cut"));
        // A fork between saved checkpoints, and against a rewritten log.
        let mut both = saved.clone();
        both.push(("4b".to_owned(), note(&forked, 4)));
        let r = check_saved(&both, &v, &[], None);
        assert!(
            r.findings.iter().any(|f| f.contains("a fork")),
            "{:?}",
            r.findings
        );
        let r = check_saved(&saved, &v, &[], Some(&forked));
        assert!(
            r.findings.iter().any(|f| f.contains("rewritten")),
            "{:?}",
            r.findings
        );
        // Another key's note is refused.
        let other =
            lienthong_trust::note::NoteSigner::log("o", &lienthong_trust::SigningKey::generate())
                .unwrap();
        let r = check_saved(
            &[("x".into(), other.note(&cp(&honest, 2).text(), 0).render())],
            &v,
            &[],
            None,
        );
        assert_eq!(r.findings.len(), 1);
    }

    #[test]
    fn the_witness_cosigns_extensions_only() {
        let t = tree(&["a", "b", "c", "d", "e"]);
        let req = |old: u64, proof: Vec<Hash>| AddCheckpoint {
            old,
            proof,
            checkpoint: String::new(),
        };
        assert!(add_checkpoint(None, &req(0, vec![]), &cp(&t, 3)).is_ok());
        let held = Some((3, t.root_at(3).unwrap()));
        // Wrong old size: 409 with the size held.
        let r = add_checkpoint(held, &req(0, vec![]), &cp(&t, 5)).unwrap_err();
        assert_eq!((r.status, r.body.as_str(), r.alarm), (409, "3\n", None));
        assert!(add_checkpoint(
            held,
            &req(3, t.consistency_proof(3, 5).unwrap()),
            &cp(&t, 5)
        )
        .is_ok());
        // A bad proof: 422 and a fork alarm.
        let other = tree(&["a", "b", "X", "d", "e"]);
        let r = add_checkpoint(
            held,
            &req(3, other.consistency_proof(3, 5).unwrap()),
            &cp(&other, 5),
        )
        .unwrap_err();
        assert_eq!(r.status, 422);
        assert_eq!(r.alarm.unwrap().0, "fork");
        // Smaller than what was cosigned: rewound.
        let r = add_checkpoint(held, &req(0, vec![]), &cp(&t, 2)).unwrap_err();
        assert_eq!(r.alarm.unwrap().0, "rewound");
        // Same size, different root.
        let r = add_checkpoint(held, &req(3, vec![]), &cp(&other, 3)).unwrap_err();
        assert_eq!((r.status, r.alarm.unwrap().0), (422, "fork"));
        // Old larger than the checkpoint.
        let r = add_checkpoint(held, &req(4, vec![]), &cp(&t, 3)).unwrap_err();
        assert_eq!(r.status, 400);
    }
}

/// What `lienthong log witness-check` found in a set of saved checkpoints.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Checkpoints whose log signature verified: (name, size).
    pub checkpoints: Vec<(String, u64)>,
    /// Per checkpoint verified, how many of the given witnesses cosigned it.
    pub cosigned: usize,
    /// Everything wrong: one line each.
    pub findings: Vec<String>,
}

/// Checks saved checkpoints (`(name, note)`, e.g. file names and contents) of one log
/// offline: each signed by the log key; cosigned by the witnesses given, counted; no two of
/// the same size with different roots; and, given the log's own tree (`log`), each one a
/// state the log really held — a log shorter than a checkpoint it signed was cut or
/// restored from an older copy, one whose root at that size differs was rewritten.
pub fn check_saved(
    notes: &[(String, String)],
    log_key: &NoteVerifier,
    witnesses: &[NoteVerifier],
    log: Option<&lienthong_ledger::MerkleTree>,
) -> CheckReport {
    let mut report = CheckReport::default();
    let mut by_size: std::collections::BTreeMap<u64, (Hash, String)> = Default::default();
    for (name, note) in notes {
        let parsed = match Note::parse(note) {
            Ok(p) => p,
            Err(e) => {
                report.findings.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut keys: Vec<&NoteVerifier> = vec![log_key];
        keys.extend(witnesses.iter());
        let verified = match parsed.verify(&keys) {
            Ok(v) => v,
            Err(e) => {
                report.findings.push(format!("{name}: {e}"));
                continue;
            }
        };
        if !verified.iter().any(|(i, _)| *i == 0) {
            report
                .findings
                .push(format!("{name}: not signed by the log key"));
            continue;
        }
        let cp = match TlogCheckpoint::parse(&parsed.text) {
            Ok(cp) if cp.origin == log_key.name => cp,
            Ok(cp) => {
                report.findings.push(format!(
                    "{name}: a checkpoint of {}, not {}",
                    cp.origin, log_key.name
                ));
                continue;
            }
            Err(e) => {
                report.findings.push(format!("{name}: {e}"));
                continue;
            }
        };
        if verified.iter().any(|(i, _)| *i > 0) {
            report.cosigned += 1;
        }
        match by_size.get(&cp.size) {
            Some((root, other)) if *root != cp.root => report.findings.push(format!(
                "{name} and {other}: two checkpoints of size {} with different roots (a fork)",
                cp.size
            )),
            Some(_) => {}
            None => {
                by_size.insert(cp.size, (cp.root, name.clone()));
            }
        }
        if let Some(tree) = log {
            if cp.size > tree.size() {
                report.findings.push(format!(
                    "{name}: the log holds {} entries but signed a checkpoint of {} (cut, or restored from an older copy)",
                    tree.size(),
                    cp.size
                ));
            } else if tree.root_at(cp.size).ok() != Some(cp.root) {
                report.findings.push(format!(
                    "{name}: the log's entries up to {} are not the ones its checkpoint signed (rewritten or forked)",
                    cp.size
                ));
            }
        }
        report.checkpoints.push((name.clone(), cp.size));
    }
    report
}

/// A person's history (`lienthong-history/v1`, from a node) checked offline: the checkpoint
/// is signed by the log key (`log_key`, its origin the log's), every entry is included under
/// it, and — where witness keys are given — whether a witness cosigned it. Returns the
/// entries (as JSON) and whether the checkpoint was cosigned by one of `witnesses`.
pub fn verify_history(
    doc: &serde_json::Value,
    log_key: &NoteVerifier,
    witnesses: &[NoteVerifier],
) -> Result<(Vec<serde_json::Value>, bool), String> {
    use base64::Engine;
    if doc["format"] != "lienthong-history/v1" {
        return Err("not a lienthong-history/v1 document".into());
    }
    let note = doc["checkpoint"]
        .as_str()
        .ok_or("the document has no checkpoint")?;
    let parsed = Note::parse(note).map_err(|e| e.to_string())?;
    let mut keys: Vec<&NoteVerifier> = vec![log_key];
    keys.extend(witnesses.iter());
    let verified = parsed.verify(&keys).map_err(|e| e.to_string())?;
    if !verified.iter().any(|(i, _)| *i == 0) {
        return Err("the checkpoint is not signed by the log key".into());
    }
    let cosigned = verified.iter().any(|(i, _)| *i > 0);
    let cp = TlogCheckpoint::parse(&parsed.text).map_err(|e| e.to_string())?;
    if cp.origin != log_key.name {
        return Err(format!(
            "a checkpoint of {}, not {}",
            cp.origin, log_key.name
        ));
    }
    let mut entries = Vec::new();
    for (n, e) in doc["entries"]
        .as_array()
        .ok_or("the document has no entries")?
        .iter()
        .enumerate()
    {
        let text = e["entry"]
            .as_str()
            .ok_or(format!("entry {n} has no text"))?;
        let index = e["index"]
            .as_u64()
            .ok_or(format!("entry {n} has no index"))?;
        let proof = e["proof"]
            .as_array()
            .ok_or(format!("entry {n} has no proof"))?
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
                    .and_then(|b| Hash::try_from(b).ok())
                    .ok_or(format!("entry {n}: a proof hash is malformed"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        lienthong_ledger::verify_inclusion(
            &lienthong_ledger::leaf_hash(text.as_bytes()),
            index,
            cp.size,
            &proof,
            &cp.root,
        )
        .map_err(|e| format!("entry {index} is not in the log under the checkpoint: {e}"))?;
        entries.push(
            serde_json::from_str(text).map_err(|e| format!("entry {index} is not JSON: {e}"))?,
        );
    }
    Ok((entries, cosigned))
}
