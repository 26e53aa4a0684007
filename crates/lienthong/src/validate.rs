//! `lienthong dictionary validate`: streams a file through the dictionary.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lienthong_dictionary::catalog::{self, Dataset};
use lienthong_dictionary::finding::{Finding, Severity};
use lienthong_dictionary::input::{Format, RawRecord, Reader};
use lienthong_dictionary::report::Report;

use lienthong_dictionary::engine::{validate_in_order, EngineError, Limits};
use lienthong_dictionary::validate::{KeyTracker, Options, Validator};

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Dataset the input claims to be (see `lienthong dictionary datasets`).
    #[arg(long)]
    pub dataset: String,
    /// Input file (CSV with a header line, or JSON Lines).
    #[arg(long)]
    pub input: PathBuf,
    /// Input format; by default taken from the file extension.
    #[arg(long, value_parser = ["csv", "jsonl"])]
    pub format: Option<String>,
    /// Write the JSON report here (counts per rule and field, examples).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the valid records, normalised, here (same format as the input). Invalid records
    /// are left out: the report and --findings list them.
    #[arg(long)]
    pub normalized_out: Option<PathBuf>,
    /// Write every finding as JSON Lines (record, line, field, rule, severity, message).
    #[arg(long)]
    pub findings: Option<PathBuf>,
    /// Reference dataset for cross-dataset checks, NAME=FILE: civil_status_event=FILE lets
    /// social_insurance flag deceased participants still active; citizen=FILE or
    /// enterprise=FILE lets records that name a person or an enterprise be checked against
    /// that register (`reference.not_in_register`). Repeatable.
    #[arg(long, value_name = "NAME=FILE")]
    pub reference: Vec<String>,
    /// Examples kept per rule and field in the report.
    #[arg(long, default_value_t = 5)]
    pub examples: usize,
    /// Today's date for "date in the future" checks (default: the system date).
    #[arg(long)]
    pub today: Option<String>,
    /// Validation threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Print no summary (exit code and files only).
    #[arg(long)]
    pub quiet: bool,
}

pub(crate) fn open(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).with_context(|| format!("opening input {}", path.display()))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        bail!("input {} is a directory", path.display());
    }
    Ok(BufReader::with_capacity(1 << 20, file))
}

pub(crate) fn format_of(explicit: Option<&str>, path: &Path) -> Result<Format> {
    match explicit {
        Some("csv") => Ok(Format::Csv),
        Some("jsonl") => Ok(Format::Jsonl),
        _ => Format::from_path(&path.to_string_lossy()).with_context(|| {
            format!(
                "cannot tell the format of {} from its extension; pass --format csv|jsonl",
                path.display()
            )
        }),
    }
}

/// Today in Vietnam, from the system clock (the CLI is the edge that may read it).
pub fn today() -> String {
    lienthong_core::vietnam_date(lienthong_core::time::now_s() as i64)
}

/// What `--reference NAME=FILE` gave: the deceased (from `civil_status_event`) and the keys of
/// other registers (any other dataset with a one-field key, e.g. `citizen`, `enterprise`).
pub(crate) struct References {
    pub(crate) deceased: Option<HashSet<String>>,
    pub(crate) registers: HashMap<String, HashSet<String>>,
}

pub(crate) fn load_references(specs: &[String]) -> Result<References> {
    let mut refs = References {
        deceased: None,
        registers: HashMap::new(),
    };
    for spec in specs {
        let (name, path) = spec
            .split_once('=')
            .with_context(|| format!("--reference {spec}: expected NAME=FILE"))?;
        let dataset = catalog::dataset(name)
            .with_context(|| format!("--reference {spec}: no dataset {name}"))?;
        let column = |field: &str| {
            dataset
                .index(field)
                .with_context(|| format!("--reference {spec}: {name} lacks {field}"))
        };
        // A register's keys; the civil-status register's deaths.
        let (wanted, death) = if dataset.name == catalog::CIVIL_STATUS_EVENT.name {
            (column("personal_id")?, Some(column("event_type")?))
        } else {
            match dataset.key {
                [key] => (column(key)?, None),
                _ => bail!("--reference {spec}: {name} has no one-field key to refer to"),
            }
        };
        let path = Path::new(path);
        let mut reader = Reader::new(open(path)?, format_of(None, path)?, dataset)
            .with_context(|| format!("reference {}", path.display()))?;
        // Reference records go through the dictionary too, so "1090123456" and
        // "001090123456" name the same person on both sides.
        let validator = Validator::new(dataset, Options::default());
        let mut set = HashSet::new();
        let mut rec = RawRecord::default();
        while reader
            .next_into(&mut rec)
            .with_context(|| format!("reference {}", path.display()))?
        {
            let outcome =
                lienthong_dictionary::engine::validate_guarded(&validator, &rec.as_strs());
            let value = &outcome.values[wanted];
            if !value.is_empty() && death.is_none_or(|k| outcome.values[k] == "death") {
                set.insert(value.clone());
            }
        }
        match death {
            Some(_) => refs.deceased.get_or_insert_with(HashSet::new).extend(set),
            None => refs
                .registers
                .entry(name.to_owned())
                .or_default()
                .extend(set),
        }
    }
    Ok(refs)
}

/// Writes normalised records in the input's format.
enum NormalizedOut {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    Jsonl(BufWriter<File>),
}

impl NormalizedOut {
    fn create(path: &Path, format: Format, dataset: &Dataset) -> Result<Self> {
        let file = BufWriter::with_capacity(
            1 << 20,
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        Ok(match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record(dataset.fields.iter().map(|f| f.name))?;
                NormalizedOut::Csv(Box::new(w))
            }
            Format::Jsonl => NormalizedOut::Jsonl(file),
        })
    }

    fn write(&mut self, dataset: &Dataset, values: &[String]) -> Result<()> {
        match self {
            NormalizedOut::Csv(w) => w.write_record(values)?,
            NormalizedOut::Jsonl(w) => {
                let obj: serde_json::Map<String, serde_json::Value> = dataset
                    .fields
                    .iter()
                    .zip(values)
                    .map(|(f, v)| (f.name.to_owned(), v.clone().into()))
                    .collect();
                serde_json::to_writer(&mut *w, &obj)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            NormalizedOut::Csv(mut w) => w.flush()?,
            NormalizedOut::Jsonl(mut w) => w.flush()?,
        }
        Ok(())
    }
}

/// About how many records `path` holds, from its size and the length of its first lines
/// (0 when it cannot tell: a pipe, an empty or unreadable file), with a margin of 10 %;
/// at most one per 32 bytes of file. Only a hint for presizing: nothing depends on it
/// being right.
fn expected_records(path: &Path) -> usize {
    use std::io::Read;
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    let len = match file.metadata() {
        Ok(m) if m.is_file() => m.len(),
        _ => return 0,
    };
    let mut head = vec![0; 256 << 10];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let lines = head[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    if lines < 2 {
        return 0;
    }
    let estimate = len * lines / n as u64 * 11 / 10;
    usize::try_from(estimate.min(len / 32)).unwrap_or(0)
}

/// Everything a run produces besides files: the report.
pub fn validate_stream(
    args: &Args,
    input: impl BufRead + Send,
    format: Format,
    dataset: &'static Dataset,
) -> Result<Report> {
    let refs = load_references(&args.reference)?;
    let options = Options {
        today: args.today.clone().unwrap_or_else(today),
        deceased: refs.deceased,
        registers: refs.registers,
    };
    let mut keys = KeyTracker::with_capacity(expected_records(&args.input));
    // Keys are digested where records are validated, on every worker; the tracker, which
    // sees the records one at a time in order, only looks the digests up.
    let validator = Validator::new(dataset, options).with_key_digests(keys.digester());
    let reader = Reader::new(input, format, dataset)
        .with_context(|| format!("input {}", args.input.display()))?;
    if !reader.absent_columns.is_empty() && !args.quiet {
        eprintln!(
            "note: optional column(s) absent from the input, read as empty: {}",
            reader.absent_columns.join(", ")
        );
    }
    let mut report = Report::new(dataset.name, args.examples);
    let mut normalized = args
        .normalized_out
        .as_deref()
        .map(|p| NormalizedOut::create(p, format, dataset))
        .transpose()?;
    let mut findings_out = match &args.findings {
        Some(p) => Some(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let workers = args
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let limits = Limits {
        workers,
        batch_bytes: 256 << 10,
    };
    validate_in_order(reader, &validator, &limits, |rec, outcome| -> Result<()> {
        if let Some(first) = keys.observe_record(dataset, outcome, rec.record) {
            let field = dataset
                .key
                .first()
                .and_then(|k| dataset.field(k))
                .map_or("record", |f| f.name);
            outcome.findings.push(Finding::new(
                field,
                "key.duplicate",
                Severity::Error,
                format!("same key as record {first}"),
            ));
        }
        report.add(rec.record, rec.line, &outcome.findings, |field| {
            dataset.index(field).map_or("", |i| rec.values[i].as_str())
        });
        if let Some(w) = findings_out.as_mut() {
            for f in &outcome.findings {
                let line = serde_json::json!({
                    "record": rec.record, "line": rec.line, "field": f.field, "rule": f.rule,
                    "severity": f.severity.as_str(), "message": f.message,
                });
                serde_json::to_writer(&mut *w, &line)?;
                w.write_all(b"\n")?;
            }
        }
        if let Some(out) = normalized.as_mut() {
            if outcome.is_valid() {
                out.write(dataset, &outcome.values)?;
            }
        }
        Ok(())
    })
    .map_err(|e| match e {
        EngineError::Sink(e) => e,
        EngineError::Input(e) => anyhow::Error::new(e).context("reading input"),
        EngineError::ReaderPanicked => anyhow::anyhow!("the reader thread panicked"),
    })
    .with_context(|| format!("input {}", args.input.display()))?;
    if let Some(out) = normalized {
        out.finish().context("writing normalised output")?;
    }
    if let Some(mut w) = findings_out {
        w.flush().context("writing findings")?;
    }
    Ok(report)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dataset = crate::dataset(&args.dataset)?;
    let format = format_of(args.format.as_deref(), &args.input)?;
    if let Some(t) = &args.today {
        if !lienthong_dictionary::element::is_iso_date(t) {
            bail!("--today {t}: expected a calendar date YYYY-MM-DD");
        }
    }
    let input = open(&args.input)?;
    // Outputs must never overwrite the input, and must be writable before a long run starts.
    let input_path = std::fs::canonicalize(&args.input)
        .with_context(|| format!("resolving {}", args.input.display()))?;
    for out in [&args.report, &args.normalized_out, &args.findings]
        .into_iter()
        .flatten()
    {
        if std::fs::canonicalize(out).is_ok_and(|p| p == input_path) {
            bail!(
                "{} is the input file; choose another output path",
                out.display()
            );
        }
    }
    let report_file = match &args.report {
        Some(path) => Some(
            File::create(path).with_context(|| format!("creating report {}", path.display()))?,
        ),
        None => None,
    };
    let report = validate_stream(&args, input, format, dataset)?;
    if let Some(file) = report_file {
        let mut w = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut w, &report.to_json())?;
        w.write_all(b"\n")?;
        w.flush()?;
    }
    if !args.quiet {
        print!("{}", report.summary());
    }
    Ok(if report.invalid_records == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
