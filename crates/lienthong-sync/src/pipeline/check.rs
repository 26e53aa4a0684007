//! Validating a batch (through the dictionary's engine, off the async threads) and keeping
//! the pipeline's lease renewed while it lives.

use super::*;

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
/// delete carries its normalised key record; a truncate nothing.
pub(super) type Check = (bool, Vec<String>, Vec<Reason>);

/// Validates every change of a batch, on two threads for a large batch (validation is most
/// of the CPU a batch costs), through the dictionary's engine: a record a check fails on is
/// quarantined as `record.internal_error`, never the pipeline stopped.
pub(super) fn check_all(validator: &Validator, changes: &[Change]) -> Vec<Check> {
    lienthong_dictionary::engine::map_in_order(changes, 2, 2_000, |c| check(validator, c))
}

/// Validates one change. Deletes are normalised too (their key fields alone), so that a
/// delete finds the record the replica stored in normalised form.
pub(super) fn check(validator: &Validator, c: &Change) -> Check {
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
    let strs: Vec<&str> = c.values.iter().map(String::as_str).collect();
    let outcome = lienthong_dictionary::engine::validate_guarded(validator, &strs);
    if c.op == Op::Delete {
        return (true, outcome.values, Vec::new());
    }
    if outcome.is_valid() {
        (true, outcome.values, Vec::new())
    } else {
        let reasons = outcome
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.field.to_string(), f.rule.to_string(), f.message.clone()))
            .collect();
        (false, outcome.values, reasons)
    }
}

/// Validates a batch off the async threads.
pub(super) async fn checked(
    validator: Arc<Validator>,
    batch: Batch,
) -> Result<(Batch, Vec<Check>), SyncError> {
    tokio::task::spawn_blocking(move || {
        let checks = check_all(&validator, &batch.changes);
        (batch, checks)
    })
    .await
    .map_err(|e| SyncError::Source(format!("validation task: {e}")))
}
