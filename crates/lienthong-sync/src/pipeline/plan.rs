//! What one batch does, worked out without I/O from its changes and their checks: which
//! changes go to quarantine (and which stay open), the replica's steps (runs between
//! truncates, each reduced to its net effect), and the valid changes in order as they leave
//! for JetStream and the change log.

use std::collections::HashMap;

use lienthong_dictionary::catalog::Dataset;
use serde_json::Value;

use crate::change::{key_of, net, Batch, Change, Op};
use crate::jetstream::body;
use crate::replica::{Logged, Quarantined, Step};

use super::{reasons_json, Check};

/// Each change's verdict laid out for planning.
pub(super) struct Classified {
    /// Values as validation left them (a delete's: its normalised key record).
    pub values: Vec<Vec<String>>,
    pub valid: Vec<bool>,
    /// The key as the replica stores it (empty for a truncate).
    pub keys: Vec<String>,
    /// The index of each key's last valid change.
    pub last_valid_of_key: HashMap<String, usize, foldhash::fast::RandomState>,
    /// The errors of each invalid change, as JSON.
    reasons: Vec<Option<String>>,
}

/// Lays out the checks of `batch`'s changes.
pub(super) fn classify(batch: &Batch, checks: Vec<Check>, key_indexes: &[usize]) -> Classified {
    let n = batch.changes.len();
    let mut c = Classified {
        values: Vec::with_capacity(n),
        valid: Vec::with_capacity(n),
        keys: Vec::with_capacity(n),
        last_valid_of_key: HashMap::with_capacity_and_hasher(n, Default::default()),
        reasons: vec![None; n],
    };
    for (i, (change, (ok, v, reasons))) in batch.changes.iter().zip(checks).enumerate() {
        let key = if change.op == Op::Truncate {
            String::new()
        } else {
            key_of(&v, key_indexes)
        };
        if ok && change.op != Op::Truncate {
            c.last_valid_of_key.insert(key.clone(), i);
        }
        if !ok {
            c.reasons[i] = Some(reasons_json(&reasons));
        }
        c.valid.push(ok);
        c.values.push(v);
        c.keys.push(key);
    }
    c
}

/// The quarantine rows of the invalid changes, with the raw record as given. A row is open
/// unless a later valid change of its key, or a later truncate, in the same batch makes it
/// moot.
pub(super) fn quarantine(ds: &Dataset, batch: &Batch, c: &mut Classified) -> Vec<Quarantined> {
    let last_truncate = batch.changes.iter().rposition(|ch| ch.op == Op::Truncate);
    let mut out = Vec::new();
    for (i, change) in batch.changes.iter().enumerate() {
        let Some(reasons) = c.reasons[i].take() else {
            continue;
        };
        let key = c.keys[i].clone();
        let record: serde_json::Map<String, Value> = ds
            .fields
            .iter()
            .zip(&change.values)
            .map(|(f, v)| (f.name.to_owned(), v.clone().into()))
            .collect();
        let open = c.last_valid_of_key.get(&key).is_none_or(|&j| j < i)
            && last_truncate.is_none_or(|t| t < i);
        out.push(Quarantined {
            change_id: change.id.clone(),
            key,
            record: Value::Object(record).to_string(),
            reasons,
            open,
        });
    }
    out
}

/// The replica's steps: a truncate first for a new snapshot, then each run of changes
/// between truncates reduced to its net effect. Also the upserts and deletes counted.
pub(super) fn steps<'a>(batch: &'a Batch, c: &'a Classified) -> (Vec<Step<'a>>, u64, u64) {
    let n = batch.changes.len();
    let mut steps = Vec::new();
    let (mut applied, mut deleted) = (0u64, 0u64);
    if batch.snapshot_start {
        steps.push(Step::Truncate);
    }
    let mut bounds: Vec<usize> = batch
        .changes
        .iter()
        .enumerate()
        .filter(|(_, ch)| ch.op == Op::Truncate)
        .map(|(i, _)| i)
        .collect();
    bounds.push(n);
    let mut start = 0;
    for b in bounds {
        let seg = start..b;
        let net = net(
            &batch.changes[seg.clone()],
            &c.values[seg.clone()],
            &c.valid[seg.clone()],
            &c.keys[seg.clone()],
        );
        applied += c.valid[seg.clone()]
            .iter()
            .zip(&batch.changes[seg.clone()])
            .filter(|(v, ch)| **v && ch.op == Op::Upsert)
            .count() as u64;
        deleted += batch.changes[seg]
            .iter()
            .filter(|ch| ch.op == Op::Delete)
            .count() as u64;
        steps.push(Step::Apply {
            upserts: net.upserts,
            inserts: net.inserts,
            deletes: net.deletes,
        });
        if b < n {
            steps.push(Step::Truncate);
        }
        start = b + 1;
    }
    (steps, applied, deleted)
}

/// Every valid change in order, with the message body it leaves with; `marker` (a new
/// snapshot's truncate) first.
pub(super) fn outgoing<'a>(
    ds: &Dataset,
    pipeline: &str,
    marker: Option<&'a Change>,
    batch: &'a Batch,
    c: &Classified,
) -> Vec<(&'a Change, Value)> {
    marker
        .into_iter()
        .map(|m| (m, body(ds, pipeline, m, &[])))
        .chain(
            batch
                .changes
                .iter()
                .zip(&c.values)
                .zip(&c.valid)
                .filter(|(_, ok)| **ok)
                .map(|((ch, v), _)| (ch, body(ds, pipeline, ch, v))),
        )
        .collect()
}

/// The change-log rows of the outgoing changes.
pub(super) fn changelog(outgoing: &[(&Change, Value)]) -> Vec<Logged> {
    outgoing
        .iter()
        .map(|(c, b)| Logged {
            change_id: c.id.clone(),
            op: c.op,
            record: match c.op {
                Op::Upsert => b["record"].to_string(),
                Op::Delete => b["key"].to_string(),
                Op::Truncate => "{}".to_owned(),
            },
            committed_at_ms: c.committed_at_ms.unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_dictionary::catalog::CITIZEN;

    fn change(op: Op, id: &str, key: &str) -> Change {
        let mut values = vec![String::new(); CITIZEN.fields.len()];
        values[0] = key.to_owned();
        Change {
            op,
            id: id.to_owned(),
            values,
            committed_at_ms: None,
            defect: None,
            inserted: false,
        }
    }

    fn check(ok: bool, key: &str) -> Check {
        let mut values = vec![String::new(); CITIZEN.fields.len()];
        values[0] = key.to_owned();
        let reasons = if ok {
            Vec::new()
        } else {
            vec![(
                "full_name".into(),
                "mandatory.missing".into(),
                "empty".into(),
            )]
        };
        (ok, values, reasons)
    }

    /// k2 invalid then valid (its quarantine row is moot); a truncate; k3 invalid after it
    /// (open); k1 valid, then deleted after the truncate.
    #[test]
    fn a_batch_plans_quarantine_steps_and_outgoing_changes() {
        let batch = Batch {
            changes: vec![
                change(Op::Upsert, "1", "k1"),
                change(Op::Upsert, "2", "k2"),
                change(Op::Upsert, "3", "k2"),
                change(Op::Truncate, "4", ""),
                change(Op::Upsert, "5", "k3"),
                change(Op::Delete, "6", "k1"),
            ],
            position: "p".into(),
            snapshot: false,
            snapshot_start: false,
        };
        let checks = vec![
            check(true, "k1"),
            check(false, "k2"),
            check(true, "k2"),
            (true, Vec::new(), Vec::new()),
            check(false, "k3"),
            check(true, "k1"),
        ];
        let mut c = classify(&batch, checks, &[0]);
        let q = quarantine(&CITIZEN, &batch, &mut c);
        let rows: Vec<(&str, bool)> = q.iter().map(|r| (r.change_id.as_str(), r.open)).collect();
        assert_eq!(rows, [("2", false), ("5", true)]);
        assert!(q[1].reasons.contains("mandatory.missing"));
        let (steps, applied, deleted) = steps(&batch, &c);
        assert_eq!((applied, deleted), (2, 1));
        let shape: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Truncate => "truncate".to_owned(),
                Step::Apply {
                    upserts, deletes, ..
                } => {
                    let ids = |v: &Vec<(&Change, &[String])>| {
                        v.iter()
                            .map(|(ch, _)| ch.id.clone())
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    format!("upsert {} delete {}", ids(upserts), ids(deletes))
                }
            })
            .collect();
        assert_eq!(
            shape,
            ["upsert 1,3 delete ", "truncate", "upsert  delete 6"]
        );
        let out = outgoing(&CITIZEN, "p", None, &batch, &c);
        let ids: Vec<&str> = out.iter().map(|(ch, _)| ch.id.as_str()).collect();
        assert_eq!(ids, ["1", "3", "4", "6"], "valid changes in order");
        let log = changelog(&out);
        assert_eq!(log.len(), 4);
        assert_eq!(log[2].record, "{}");
    }
}
