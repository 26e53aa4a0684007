//! Parallel validation that keeps input order: one thread reads records into batches,
//! `workers` threads validate them, and the caller's thread receives the results in order.
//! Every queue is bounded (`2 × workers` batches of `batch_rows_max` records).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;

use anyhow::{Context, Result};
use lienthong_dictionary::finding::{Finding, Severity};
use lienthong_dictionary::input::{InputError, RawRecord, Reader};
use lienthong_dictionary::validate::{Outcome, Validator};

pub struct Limits {
    pub workers: usize,
    pub batch_rows_max: usize,
}

type Batch = (u64, Vec<RawRecord>);
type Done = (u64, Vec<(RawRecord, Outcome)>);

/// Validates every record of `reader`; `sink` sees each record and its outcome in input
/// order. The first error from the reader or the sink stops the run and is returned.
pub fn validate_in_order<R: BufRead + Send>(
    mut reader: Reader<R>,
    validator: &Validator,
    limits: &Limits,
    mut sink: impl FnMut(&RawRecord, Outcome) -> Result<()>,
) -> Result<()> {
    let workers = limits.workers.max(1);
    let batch_rows_max = limits.batch_rows_max.max(1);
    let stop = AtomicBool::new(false);
    let (batch_tx, batch_rx) = sync_channel::<Batch>(workers * 2);
    let (done_tx, done_rx) = sync_channel::<Done>(workers * 2);
    let batch_rx = Mutex::new(batch_rx);
    std::thread::scope(|scope| {
        let stop = &stop;
        let read = scope.spawn(move || -> Result<(), InputError> {
            for seq in 0.. {
                let mut batch = Vec::with_capacity(batch_rows_max);
                while batch.len() < batch_rows_max {
                    let mut rec = RawRecord::default();
                    if !reader.next_into(&mut rec)? {
                        break;
                    }
                    batch.push(rec);
                }
                let last = batch.len() < batch_rows_max;
                if stop.load(Ordering::Relaxed)
                    || (!batch.is_empty() && batch_tx.send((seq, batch)).is_err())
                    || last
                {
                    break;
                }
            }
            Ok(())
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let batch_rx = &batch_rx;
            scope.spawn(move || loop {
                let next = match batch_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((seq, batch)) = next else { return };
                let out = batch
                    .into_iter()
                    .map(|mut rec| {
                        let read_findings = std::mem::take(&mut rec.findings);
                        // A bug in a check must cost one record, not the run (and must not
                        // leave the reader blocked on a full queue).
                        let validated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| validator.validate(&rec.as_strs())));
                        let mut outcome = validated.unwrap_or_else(|_| Outcome {
                            values: rec.values.clone(),
                            findings: vec![Finding::new("record", "record.internal_error", Severity::Error, "the validator failed on this record (a bug: please report it with the record)")],
                        });
                        outcome.findings.extend(read_findings);
                        (rec, outcome)
                    })
                    .collect();
                if done_tx.send((seq, out)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut pending: BTreeMap<u64, Vec<(RawRecord, Outcome)>> = BTreeMap::new();
        let mut next = 0;
        let mut result = Ok(());
        for (seq, batch) in done_rx {
            pending.insert(seq, batch);
            while let Some(batch) = pending.remove(&next) {
                next += 1;
                for (rec, outcome) in batch {
                    if result.is_ok() {
                        result = sink(&rec, outcome);
                        if result.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        let read_result = read
            .join()
            .map_err(|_| anyhow::anyhow!("reader thread panicked"))?;
        read_result.context("reading input")?;
        result
    })
}
