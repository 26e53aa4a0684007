//! The one validation engine every path uses (`dictionary validate`, sync, the quality
//! scorecards): a record validated with its failure isolated, a slice validated on several
//! threads in order, and a stream validated on worker threads with results in input order.
//! Threads only: no file, network or clock access (the caller brings the reader).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;

use crate::finding::{Finding, Severity};
use crate::input::{Chunk, InputError, RawRecord, Reader};
use crate::validate::{Outcome, Validator};

/// Validates one record. A bug in a check costs that record, reported as
/// `record.internal_error` with its values kept as given, never the run.
pub fn validate_guarded(validator: &Validator, values: &[&str]) -> Outcome {
    let mut out = Outcome::default();
    validate_guarded_into(validator, values, &mut out);
    out
}

/// [`validate_guarded`] into `out`, reusing its strings.
pub fn validate_guarded_into<S: AsRef<str>>(
    validator: &Validator,
    values: &[S],
    out: &mut Outcome,
) {
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        validator.validate_into(values, out)
    }));
    if done.is_err() {
        let values: Vec<String> = values.iter().map(|v| v.as_ref().to_owned()).collect();
        *out = Outcome {
            key_digest: validator.key_digest(&values),
            values,
            findings: vec![Finding::new(
                "record",
                "record.internal_error",
                Severity::Error,
                "the validator failed on this record (a bug: please report it with the record)",
            )],
        };
    }
}

/// [`map_in_order`] with each item lent mutably to `f` (which may take its values).
pub fn map_in_order_mut<T: Send, O: Send>(
    items: &mut [T],
    threads: usize,
    parallel_from: usize,
    f: impl Fn(&mut T) -> O + Sync,
) -> Vec<O> {
    let threads = threads.max(1);
    if threads == 1 || items.len() < parallel_from.max(2) {
        return items.iter_mut().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let mut parts = items.chunks_mut(chunk);
        let first = parts.next().unwrap_or(&mut []);
        let rest: Vec<_> = parts
            .map(|part| s.spawn(move || part.iter_mut().map(f).collect::<Vec<O>>()))
            .collect();
        let mut out: Vec<O> = first.iter_mut().map(f).collect();
        for handle in rest {
            match handle.join() {
                Ok(part) => out.extend(part),
                // `f` panicked on that thread: the same panic here, as on one thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// `f` over `items` on up to `threads` threads, results in the items' order; one thread
/// below `parallel_from` items (starting threads would cost more than it saves).
pub fn map_in_order<T: Sync, O: Send>(
    items: &[T],
    threads: usize,
    parallel_from: usize,
    f: impl Fn(&T) -> O + Sync,
) -> Vec<O> {
    let mut refs: Vec<&T> = items.iter().collect();
    map_in_order_mut(&mut refs, threads, parallel_from, |t| f(t))
}

/// Worker threads and chunk size of [`validate_in_order`].
pub struct Limits {
    pub workers: usize,
    /// About how many bytes of input each batch holds (whole records, so more when one
    /// record is longer).
    pub batch_bytes: usize,
}

/// Why [`validate_in_order`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum EngineError<E> {
    #[error(transparent)]
    Input(#[from] InputError),
    /// The sink's own error.
    #[error("{0}")]
    Sink(E),
    #[error("the reader thread panicked")]
    ReaderPanicked,
}

/// A chunk of input, its records and the outcomes they are validated into (all reused
/// from an earlier batch).
#[derive(Default)]
struct Batch {
    seq: u64,
    chunk: Chunk,
    records: Vec<RawRecord>,
    outcomes: Vec<Outcome>,
    /// How many of `records` the chunk held.
    n: usize,
    /// Why the chunk could not be read past its `n` records.
    error: Option<InputError>,
}

/// Validates every record of `reader`: one thread cuts the input into chunks of whole
/// records, `workers` threads parse and validate them (each record guarded), and `sink`
/// sees each record and its outcome in input order on the caller's thread, records
/// numbered on from those `reader` had given. Every queue is bounded (`2 × workers`
/// batches). The first error of the input or the sink stops the run and is returned; the
/// sink has then seen every record before it.
pub fn validate_in_order<R: BufRead + Send, E>(
    mut reader: Reader<R>,
    validator: &Validator,
    limits: &Limits,
    mut sink: impl FnMut(&RawRecord, &mut Outcome) -> Result<(), E>,
) -> Result<(), EngineError<E>> {
    let workers = limits.workers.max(1);
    let batch_bytes = limits.batch_bytes.max(1);
    let parser = reader.parser();
    let mut record = reader.records_read();
    let stop = AtomicBool::new(false);
    let (batch_tx, batch_rx) = sync_channel::<Batch>(workers * 2);
    let (done_tx, done_rx) = sync_channel::<Batch>(workers * 2);
    // Batches the sink is done with go back to the reader, their buffers and strings kept:
    // reading, parsing and validating then allocate little, and nothing is freed on
    // another thread.
    let (spent_tx, spent_rx) = sync_channel::<Batch>(workers * 2 + 2);
    let batch_rx = Mutex::new(batch_rx);
    std::thread::scope(|scope| {
        let stop = &stop;
        let read = scope.spawn(move || -> Result<(), InputError> {
            for seq in 0.. {
                let mut batch = spent_rx.try_recv().unwrap_or_default();
                if !reader.next_chunk(&mut batch.chunk, batch_bytes)? {
                    break;
                }
                batch.seq = seq;
                if stop.load(Ordering::Relaxed) || batch_tx.send(batch).is_err() {
                    break;
                }
            }
            Ok(())
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (batch_rx, parser) = (&batch_rx, &parser);
            scope.spawn(move || loop {
                let next = match batch_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(mut batch) = next else { return };
                // Each record validated as soon as it is parsed, while its values are in
                // this core's cache.
                let Batch {
                    chunk,
                    records,
                    outcomes,
                    n,
                    error,
                    ..
                } = &mut batch;
                let mut cursor = parser.cursor(chunk);
                *n = 0;
                loop {
                    if *n == records.len() {
                        records.push(RawRecord::default());
                    }
                    if *n == outcomes.len() {
                        outcomes.push(Outcome::default());
                    }
                    let (rec, outcome) = (&mut records[*n], &mut outcomes[*n]);
                    match parser.next(chunk, &mut cursor, rec) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            *error = Some(e);
                            break;
                        }
                    }
                    let read_findings = std::mem::take(&mut rec.findings);
                    validate_guarded_into(validator, &rec.values, outcome);
                    outcome.findings.extend(read_findings);
                    *n += 1;
                }
                if done_tx.send(batch).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut pending: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut next = 0;
        let mut result = Ok(());
        for batch in done_rx {
            pending.insert(batch.seq, batch);
            while let Some(mut batch) = pending.remove(&next) {
                next += 1;
                let records = batch.records.iter_mut().zip(&mut batch.outcomes);
                for (rec, outcome) in records.take(batch.n) {
                    if result.is_ok() {
                        rec.record += record;
                        result = sink(rec, outcome).map_err(EngineError::Sink);
                    }
                }
                record += batch.n as u64;
                if let Some(e) = batch.error.take() {
                    if result.is_ok() {
                        result = Err(EngineError::Input(e));
                    }
                }
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                // A full return queue (the reader is ahead) or a finished reader: dropped.
                let _ = spent_tx.try_send(batch);
            }
        }
        read.join().map_err(|_| EngineError::ReaderPanicked)??;
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CITIZEN;
    use crate::input::Format;
    use crate::validate::Options;

    #[test]
    fn map_in_order_keeps_order_on_any_thread_count() {
        let items: Vec<u32> = (0..1001).collect();
        for threads in [1, 2, 3, 8] {
            let out = map_in_order(&items, threads, 10, |x| x * 2);
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(map_in_order(&[] as &[u32], 4, 0, |x| *x).is_empty());
    }

    #[test]
    fn the_stream_comes_back_in_input_order_whatever_the_workers() {
        let mut csv =
            String::from("personal_id,full_name,birth_date,sex,province_code,commune_code\n");
        for i in 0..2500 {
            csv.push_str(&format!("0010900{i:05},Lê Văn An,1990-03-25,1,01,00004\n"));
        }
        let validator = Validator::new(&CITIZEN, Options::default());
        for workers in [1, 2, 4] {
            let reader = Reader::new(csv.as_bytes(), Format::Csv, &CITIZEN).unwrap();
            let mut seen = Vec::new();
            let limits = Limits {
                workers,
                batch_bytes: 2048,
            };
            validate_in_order(reader, &validator, &limits, |rec, o| {
                seen.push((rec.record, o.values[0].clone()));
                Ok::<_, ()>(())
            })
            .unwrap();
            assert_eq!(seen.len(), 2500);
            assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "in order");
            assert_eq!(seen[7].1, "001090000007");
        }
    }

    #[test]
    fn chunks_give_the_records_and_lines_that_reading_one_by_one_gives() {
        let mut csv = String::from(
            "\u{feff}personal_id,full_name,birth_date,sex,province_code,commune_code,address\r\n",
        );
        for i in 0..3000 {
            match i % 4 {
                0 => csv.push_str(&format!("0010900{i:05},\"Lê\r\nVăn\",1990,1,01,00004,\r\n")),
                1 => csv.push_str(&format!(
                    "\r\n0010900{i:05},\"An \"\"B\"\"\",1990,1,01,00004,\"Số 1, Huế\"\n"
                )),
                2 => csv.push_str(&format!("0010900{i:05},Lê\"x,1990,1,01\n")),
                _ => csv.push_str(&format!("0010900{i:05},Bình,1990,1,01,00004,a,b\r")),
            }
        }
        let validator = Validator::new(&CITIZEN, Options::default());
        let mut reader = Reader::new(csv.as_bytes(), Format::Csv, &CITIZEN).unwrap();
        let mut want = Vec::new();
        let mut rec = RawRecord::default();
        while reader.next_into(&mut rec).unwrap() {
            want.push((rec.record, rec.line, rec.values.clone(), rec.findings.len()));
        }
        assert_eq!(want.len(), 3000);
        assert_eq!(
            (want[1].1, want[2].1),
            (5, 6),
            "blank and multi-line records counted"
        );
        for (workers, batch_bytes) in [(1, 1), (2, 100), (3, 4096), (2, 1 << 20)] {
            let reader = Reader::new(csv.as_bytes(), Format::Csv, &CITIZEN).unwrap();
            let mut got = Vec::new();
            let limits = Limits {
                workers,
                batch_bytes,
            };
            validate_in_order(reader, &validator, &limits, |rec, o| {
                let read = o.findings.iter().filter(|f| f.field == "record").count();
                got.push((rec.record, rec.line, rec.values.clone(), read));
                Ok::<_, ()>(())
            })
            .unwrap();
            assert!(got == want, "{workers} workers, chunks of {batch_bytes}");
        }
    }

    #[test]
    fn a_sink_error_stops_the_run_and_is_returned() {
        let csv = "personal_id,full_name,birth_date,sex,province_code,commune_code\n".to_owned()
            + &"001090123456,An,1990,1,01,00004\n".repeat(5000);
        let validator = Validator::new(&CITIZEN, Options::default());
        let reader = Reader::new(csv.as_bytes(), Format::Csv, &CITIZEN).unwrap();
        let mut n = 0;
        let r = validate_in_order(
            reader,
            &validator,
            &Limits {
                workers: 2,
                batch_bytes: 512,
            },
            |_, _| {
                n += 1;
                if n == 10 {
                    Err("full disk")
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(r, Err(EngineError::Sink("full disk"))));
        assert_eq!(n, 10);
    }
}
