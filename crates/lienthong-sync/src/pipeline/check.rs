//! Validating a batch (through the dictionary's engine, off the async threads) and keeping
//! the pipeline's lease renewed while it lives.

use super::*;
use lienthong_dictionary::validate::Outcome;

/// Renews a lease every third of its term while the pipeline lives (blocked source reads,
/// long commits, error back-off and reopening included); stopped when dropped.
pub(super) struct Renewer(tokio::task::JoinHandle<()>);

impl Drop for Renewer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Renewer {
    pub(super) fn start(replica: Replica, name: String, owner: String) -> Renewer {
        Renewer(tokio::spawn(async move {
            let every = Duration::from_millis((crate::lease::LEASE_MS / 3) as u64);
            loop {
                tokio::time::sleep(every).await;
                match replica.renew(&name, &owner).await {
                    Ok(()) => {}
                    Err(e @ SyncError::Lease(_)) => {
                        // The next commit fails on it too, and says so.
                        tracing::error!(pipeline = %name, error = %e, "lease lost");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(pipeline = %name, error = %e, "lease not renewed; trying again");
                    }
                }
            }
        }))
    }
}

pub(super) fn reasons_json(reasons: &[(String, String, String)]) -> String {
    Value::Array(
        reasons
            .iter()
            .map(|(field, rule, message)| json!({ "field": field, "rule": rule, "message": message }))
            .collect(),
    )
    .to_string()
}

/// An error as (field, rule, message).
pub(super) type Reason = (String, String, String);
/// The verdict on one change: (valid, values normalised as far as they go, errors). A
/// delete carries its normalised key record; a truncate nothing. A valid change's values
/// are moved here (the change's own are left empty); an invalid one keeps its raw values.
pub(super) type Check = (bool, Vec<String>, Vec<Reason>);

/// Validates every change of a batch, on two threads for a large batch (validation is most
/// of the CPU a batch costs), through the dictionary's engine: a record a check fails on is
/// quarantined as `record.internal_error`, never the pipeline stopped. A valid change's
/// values are normalised in place and moved into its check (see [`check`]).
pub(super) fn check_all(validator: &Validator, changes: &mut [Change]) -> Vec<Check> {
    lienthong_dictionary::engine::map_in_order_mut(changes, 2, 2_000, |c| check(validator, c))
}

thread_local! {
    /// Each validating thread's outcome, validated into again for every change: its
    /// strings are the buffers the next change's normalised values are written into.
    static OUTCOME: std::cell::RefCell<Outcome> = std::cell::RefCell::new(Outcome::default());
}

/// Validates one change. Deletes are normalised too (their key fields alone), so that a
/// delete finds the record the replica stored in normalised form.
///
/// A change that takes effect gives its values to its check, normalised where they differ
/// (the normalised string swapped in, the raw one left as the next change's buffer): its
/// `values` are empty afterwards, and nothing is allocated for a value already in form. An
/// invalid change keeps its raw values, as the quarantine stores them.
pub(super) fn check(validator: &Validator, c: &mut Change) -> Check {
    if c.op == Op::Truncate {
        return (true, Vec::new(), Vec::new());
    }
    if let Some(d) = &c.defect {
        return (
            false,
            c.values.clone(),
            vec![("record".into(), "source.unreadable".into(), d.clone())],
        );
    }
    OUTCOME.with(|out| {
        let mut out = out.borrow_mut();
        lienthong_dictionary::engine::validate_guarded_into(validator, &c.values, &mut out);
        if c.op == Op::Delete || out.is_valid() {
            // The outcome holds one value per raw value (the validator's own fallback too).
            for (raw, normalised) in c.values.iter_mut().zip(out.values.iter_mut()) {
                if raw != normalised {
                    std::mem::swap(raw, normalised);
                }
            }
            (true, std::mem::take(&mut c.values), Vec::new())
        } else {
            let reasons = out
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| (f.field.to_string(), f.rule.to_string(), f.message.clone()))
                .collect();
            (false, out.values.clone(), reasons)
        }
    })
}

/// Validates a batch off the async threads.
pub(super) async fn checked(
    validator: Arc<Validator>,
    batch: Batch,
) -> Result<(Batch, Vec<Check>), SyncError> {
    tokio::task::spawn_blocking(move || {
        let mut batch = batch;
        let checks = check_all(&validator, &mut batch.changes);
        (batch, checks)
    })
    .await
    .map_err(|e| SyncError::Source(format!("validation task: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_dictionary::catalog::CITIZEN;

    const CLEAN: [&str; 13] = [
        "001090123456",
        "Nguyễn Văn An",
        "1990-03-25",
        "1",
        "01",
        "",
        "VN",
        "01",
        "00004",
        "Số 12, Phố Quán Thánh, Phường Ba Đình, Thành phố Hà Nội",
        "0912345678",
        "an@example.vn",
        "2025-08-01T10:00:00+07:00",
    ];

    fn strs(r: &[String]) -> Vec<&str> {
        r.iter().map(String::as_str).collect()
    }

    fn change(op: Op, values: &[&str]) -> Change {
        Change {
            op,
            id: "1".into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            committed_at_ms: None,
            defect: None,
            inserted: false,
        }
    }

    /// Every check against the validator's own outcome for the same raw values: the same
    /// verdict and normalised values, the valid change's values moved out, an invalid
    /// change's raw values kept for its quarantine row — over many changes on two threads,
    /// whose buffers are validated into again and again.
    #[test]
    fn a_check_gives_the_validators_values_and_moves_only_a_valid_changes_values() {
        let validator = Validator::new(&CITIZEN, Options::default());
        let mut records: Vec<Vec<String>> = Vec::new();
        for i in 0..3_000 {
            let mut r: Vec<String> = CLEAN.iter().map(|v| v.to_string()).collect();
            r[0] = format!("0010901{i:05}");
            match i % 5 {
                // Values to normalise: phone to +84, name case and spacing.
                0 => r[1] = "  nguyễn   văn an ".into(),
                // Invalid: a mandatory field missing.
                1 => r[2] = String::new(),
                // Invalid: an unknown sex code, and a name to normalise.
                2 => (r[3], r[1]) = ("7".into(), "NGUYỄN VĂN AN".into()),
                _ => {}
            }
            records.push(r);
        }
        let mut changes: Vec<Change> = records
            .iter()
            .map(|r| change(Op::Upsert, &strs(r)))
            .collect();
        changes.push(change(Op::Delete, &strs(&records[0])));
        changes.push(Change {
            defect: Some("cut short".into()),
            ..change(Op::Upsert, &strs(&records[1]))
        });
        let checks = check_all(&validator, &mut changes);
        assert_eq!(checks.len(), changes.len());
        let (mut valid, mut invalid) = (0, 0);
        for (i, ((ok, values, reasons), c)) in checks.iter().zip(&changes).enumerate() {
            // The delete repeats record 0, the unreadable change record 1.
            let raw = &records[i % records.len()];
            if c.defect.is_some() {
                assert!(!*ok && reasons[0].1 == "source.unreadable");
                assert_eq!(&c.values, raw);
                continue;
            }
            let expected = validator.validate(&strs(raw));
            assert_eq!(values, &expected.values, "change {i}");
            if c.op == Op::Delete || expected.is_valid() {
                assert!(*ok && reasons.is_empty(), "change {i}");
                assert!(
                    c.values.is_empty(),
                    "change {i}: values moved into the check"
                );
                valid += 1;
            } else {
                assert!(!*ok && !reasons.is_empty(), "change {i}");
                assert_eq!(&c.values, raw, "change {i}: raw values kept");
                invalid += 1;
            }
        }
        assert!(
            valid > 1_000 && invalid > 1_000,
            "{valid} valid, {invalid} invalid"
        );
        assert!(
            checks
                .iter()
                .any(|(ok, v, _)| *ok && v[10] == "+84912345678"),
            "a normalised value reaches the check"
        );
    }
}
