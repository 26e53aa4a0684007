//! Reading records for linkage: the dictionary's reader and column mapping, each distinct
//! value of a repeating column normalised once by its element's check, a reader thread
//! beside the workers that prepare records.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::element::{check, Kind, Out};
use lienthong_dictionary::engine::map_in_order;
use lienthong_dictionary::input::{RawRecord, Reader};
use lienthong_link::{Model, Prepared, Schema};

use crate::validate::{format_of, open};

pub(crate) struct Loaded {
    pub(crate) keys: Vec<String>,
    pub(crate) prepared: Vec<Prepared>,
}

pub(super) fn spinner(quiet: bool, what: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} {{spinner}} {what}: {{pos}} ({{per_sec}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

/// Records read per batch: validated and prepared on every core, in input order.
const BATCH: usize = 16_384;

/// Distinct values remembered per column while reading; past this the column is
/// normalised value by value (bounded memory).
const CACHE_MAX: usize = 1 << 20;

/// Normalises one value through its dictionary element (the same check `dictionary
/// validate` runs; findings are not needed here).
fn normalise(ds: &'static Dataset, column: usize, raw: &str) -> String {
    let field = &ds.fields[column];
    if raw.trim().is_empty() {
        return String::new();
    }
    let Some(el) = lienthong_dictionary::catalog::element(field.element) else {
        return raw.trim().to_owned();
    };
    let mut findings = Vec::new();
    let mut out = Out {
        field: field.name,
        findings: &mut findings,
    };
    check(&el.kind, &field.opts, raw, &mut out)
}

/// Whether a column's values repeat enough to normalise each distinct value once (names,
/// dates, codes) rather than every record's (ids, phones, timestamps).
fn repeats(ds: &'static Dataset, column: usize) -> bool {
    !matches!(
        lienthong_dictionary::catalog::element(ds.fields[column].element).map(|e| &e.kind),
        Some(
            Kind::PersonalId
                | Kind::OldId
                | Kind::Phone
                | Kind::Email
                | Kind::Identifier { .. }
                | Kind::Timestamp
                | Kind::AmountVnd
        )
    )
}

pub(crate) fn load(
    ds: &'static Dataset,
    path: &Path,
    model: &Model,
    quiet: bool,
) -> Result<(Loaded, Schema)> {
    let fields: Vec<&str> = ds.fields.iter().map(|f| f.name).collect();
    let schema = Schema::new(model, &fields)
        .with_context(|| format!("model against dataset {}", ds.name))?;
    let mut reader = Reader::new(open(path)?, format_of(None, path)?, ds)
        .with_context(|| format!("input {}", path.display()))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Only the columns the model reads and the key are normalised.
    let mut used: Vec<usize> = schema.columns_used();
    used.extend(ds.key.iter().filter_map(|k| ds.index(k)));
    used.sort_unstable();
    used.dedup();
    let key_columns: Vec<usize> = ds.key.iter().filter_map(|k| ds.index(k)).collect();
    // Per column: normalised value by raw value, for columns whose values repeat.
    let mut caches: Vec<Option<HashMap<String, String>>> = (0..fields.len())
        .map(|c| (used.contains(&c) && repeats(ds, c)).then(HashMap::new))
        .collect();
    let bar = spinner(quiet, &format!("reading {}", path.display()));
    let mut loaded = Loaded {
        keys: Vec::new(),
        prepared: Vec::new(),
    };
    // One thread reads batches while the others normalise and prepare the previous one.
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RawRecord>>(2);
        let reading = scope.spawn(move || -> Result<()> {
            loop {
                let mut batch = Vec::with_capacity(BATCH);
                while batch.len() < BATCH {
                    let mut rec = RawRecord::default();
                    if !reader
                        .next_into(&mut rec)
                        .with_context(|| format!("input {}", path.display()))?
                    {
                        break;
                    }
                    batch.push(rec);
                }
                let last = batch.len() < BATCH;
                if (!batch.is_empty() && tx.send(batch).is_err()) || last {
                    return Ok(());
                }
            }
        });
        for batch in rx {
            let cached = &caches;
            let done = map_in_order(&batch, threads, 256, |rec| {
                let mut misses = Vec::new();
                let mut row: Vec<Cow<'_, str>> = vec![Cow::Borrowed(""); fields.len()];
                for &c in &used {
                    let raw = rec.values[c].as_str();
                    row[c] = match cached[c].as_ref().map(|m| m.get(raw)) {
                        Some(Some(norm)) => Cow::Borrowed(norm.as_str()),
                        Some(None) => {
                            let norm = normalise(ds, c, raw);
                            misses.push((c, raw.to_owned(), norm.clone()));
                            Cow::Owned(norm)
                        }
                        None => Cow::Owned(normalise(ds, c, raw)),
                    };
                }
                let values: Vec<&str> = row.iter().map(|v| v.as_ref()).collect();
                let key = key_columns
                    .iter()
                    .map(|c| values[*c])
                    .collect::<Vec<_>>()
                    .join("|");
                (key, schema.prepare(&values), misses)
            });
            bar.inc(done.len() as u64);
            for (key, prepared, misses) in done {
                loaded.keys.push(key);
                loaded.prepared.push(prepared);
                for (c, raw, norm) in misses {
                    if let Some(map) = &mut caches[c] {
                        if map.len() < CACHE_MAX {
                            map.insert(raw, norm);
                        }
                    }
                }
            }
        }
        reading
            .join()
            .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?
    })?;
    bar.finish_and_clear();
    tracing::info!(records = loaded.prepared.len(), input = %path.display(), "read and prepared");
    if loaded.prepared.is_empty() {
        bail!("input {} has a header but no records", path.display());
    }
    Ok((loaded, schema))
}
