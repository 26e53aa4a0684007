//! `lienthong quality score`: the scorecard of one dataset on the six criteria. Validation
//! findings (the dictionary), duplicates (the linkage engine) and the reconciliation with
//! the population register feed `lienthong-quality`; this file only reads and writes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::engine::{
    map_in_order, validate_guarded, validate_in_order, EngineError, Limits,
};
use lienthong_dictionary::input::Reader;
use lienthong_dictionary::validate::{Options as VOptions, Validator};
use lienthong_link::Model;
use lienthong_quality::scoring::{day_number, Options, Register, Scoring};
use lienthong_quality::{html, Criterion, Failure, HistoryPoint};

use crate::link_cmd::{self, Common};
use crate::validate::{format_of, load_references, open, today};

#[derive(clap::Subcommand, Clone)]
pub enum QualityCommand {
    /// Score a dataset: correct, complete, clean, live, unified, shared (JSON, HTML, and
    /// every failing record as JSON Lines).
    #[command(
        after_long_help = "Example:\n  lienthong quality score --dataset social_insurance --input sector.csv --register register.csv --json q.json --html q.html"
    )]
    Score(ScoreArgs),
}

#[derive(clap::Args, Clone)]
pub struct ScoreArgs {
    /// Dataset the records claim to be (see `lienthong dictionary datasets`).
    #[arg(long)]
    pub dataset: String,
    /// The dataset (CSV with a header, or JSON Lines).
    #[arg(long, conflicts_with = "replica")]
    pub input: Option<PathBuf>,
    /// Read the records from a replica table instead (postgres://, mysql://, sqlite:…).
    #[arg(long)]
    pub replica: Option<String>,
    /// The replica table (default: the dataset's name).
    #[arg(long, requires = "replica")]
    pub table: Option<String>,
    /// The population register to reconcile with: a `citizen` CSV/JSONL file, or a database
    /// URL (postgres://, mysql://, sqlite:…) whose `--register-table` holds it.
    #[arg(long, value_name = "FILE|URL")]
    pub register: Option<String>,
    /// The register's table when `--register` is a URL.
    #[arg(long, default_value = "citizen")]
    pub register_table: String,
    /// Reference dataset, NAME=FILE (civil_status_event=FILE: deceased people still active).
    #[arg(long, value_name = "NAME=FILE")]
    pub reference: Vec<String>,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the page a data owner reads here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write every failing record (record, key, criterion, field, rule, reason) as JSON Lines.
    #[arg(long)]
    pub failing: Option<PathBuf>,
    /// Runs so far, for the trend (JSON Lines; default: DATASET.quality-history.jsonl beside
    /// the JSON or HTML report).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Today's date (default: the system date in Vietnam).
    #[arg(long)]
    pub today: Option<String>,
    /// A record whose `updated_at` is older than this many days is not live.
    #[arg(long, default_value_t = 730)]
    pub stale_after_days: u32,
    /// Examples kept per criterion.
    #[arg(long, default_value_t = 10)]
    pub examples: usize,
    #[command(flatten)]
    pub link: Common,
}

pub fn run(command: QualityCommand) -> Result<ExitCode> {
    match command {
        QualityCommand::Score(args) => score(&args),
    }
}

struct FailingOut(Option<BufWriter<std::fs::File>>);

impl FailingOut {
    fn write_all(&mut self, failures: &[Failure]) -> Result<()> {
        if let Some(w) = &mut self.0 {
            for f in failures {
                serde_json::to_writer(&mut *w, f)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

fn score(args: &ScoreArgs) -> Result<ExitCode> {
    let ds = crate::dataset(&args.dataset)?;
    let started = std::time::Instant::now();
    let today = args.today.clone().unwrap_or_else(today);
    if day_number(&today).is_none() {
        bail!("--today {today}: expected YYYY-MM-DD");
    }
    if args.input.is_none() == args.replica.is_none() {
        bail!("give the records as --input FILE or --replica URL (one of them)");
    }
    let refs = load_references(&args.reference)?;
    let deceased = refs.deceased;
    let model = match &args.link.model {
        Some(p) => Some(
            Model::from_toml(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("reading model {}", p.display()))?,
            )
            .with_context(|| format!("model {}", p.display()))?,
        ),
        None => None,
    };
    let mut scoring = Scoring::new(
        ds,
        Options {
            today: today.clone(),
            stale_after_days: args.stale_after_days,
            examples: args.examples,
            model,
            threshold: args.link.threshold,
            seed: args.link.seed,
            has_deceased_reference: deceased.is_some(),
        },
    )
    .with_context(|| format!("model against dataset {}", ds.name))?;
    let validator = Validator::new(
        ds,
        VOptions {
            today: today.clone(),
            deceased,
            registers: refs.registers,
        },
    );
    let mut failing = FailingOut(match &args.failing {
        Some(p) => Some(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    });
    let mut sources = BTreeMap::new();
    // 1. Every record through the dictionary, in order.
    let input_name = match (&args.input, &args.replica) {
        (Some(input), _) => {
            sources.insert("input".to_owned(), input.display().to_string());
            let reader = Reader::new(open(input)?, format_of(None, input)?, ds)
                .with_context(|| format!("input {}", input.display()))?;
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            validate_in_order(
                reader,
                &validator,
                &Limits {
                    workers,
                    batch_bytes: 256 << 10,
                },
                |raw, outcome| failing.write_all(&scoring.observe(&raw.findings, outcome)),
            )
            .map_err(|e| match e {
                EngineError::Input(e) => {
                    anyhow::Error::new(e).context(format!("input {}", input.display()))
                }
                EngineError::Sink(e) => e,
                other => anyhow::anyhow!("input {}: {other}", input.display()),
            })?;
            input.display().to_string()
        }
        (None, Some(url)) => {
            let table = args.table.as_deref().unwrap_or(ds.name);
            sources.insert(
                "replica".to_owned(),
                format!("{} table {table}", redact(url)),
            );
            let rows = crate::runtime()?.block_on(replica_rows(url, table, ds))?;
            for failures in observe_rows(&mut scoring, &validator, &rows) {
                failing.write_all(&failures)?;
            }
            format!("{} table {table}", redact(url))
        }
        (None, None) => unreachable!("checked above"),
    };
    if scoring.records() == 0 {
        bail!("{input_name} has no records");
    }
    // 2. The population register, prepared with the same model.
    let register = match &args.register {
        Some(url) if is_url(url) => {
            let table = &args.register_table;
            sources.insert(
                "register".to_owned(),
                format!("{} table {table}", redact(url)),
            );
            let rows = crate::runtime()?.block_on(replica_rows(
                url,
                table,
                link_cmd::register_dataset(),
            ))?;
            if rows.is_empty() {
                bail!("register {} table {table} has no records", redact(url));
            }
            Some(register_from_rows(scoring.model(), &rows))
        }
        Some(path) => {
            sources.insert("register".to_owned(), path.clone());
            let (reg, _) = link_cmd::load(
                link_cmd::register_dataset(),
                Path::new(path),
                scoring.model(),
                true,
            )?;
            Some(Register {
                prepared: reg.prepared,
                keys: reg.keys,
            })
        }
        None => None,
    };
    for (i, r) in args.reference.iter().enumerate() {
        sources.insert(format!("reference{}", i + 1), r.clone());
    }
    // RFC 3339 in Vietnam time ("2026-12-02 11:45:31 +07:00" → "2026-12-02T11:45:31+07:00").
    let generated_at = lienthong_core::time::vietnam_time(lienthong_core::time::now_s() as i64)
        .replacen(' ', "T", 1)
        .replace(' ', "");
    let (report, more) = scoring.finish(register, &generated_at, sources);
    failing.write_all(&more)?;
    if let Some(w) = &mut failing.0 {
        w.flush().context("writing the failing records")?;
    }
    // History beside the report, for the trend.
    let history_path = args.history.clone().or_else(|| {
        args.json
            .as_ref()
            .or(args.html.as_ref())
            .map(|p| p.with_file_name(format!("{}.quality-history.jsonl", ds.name)))
    });
    let mut history: Vec<HistoryPoint> = Vec::new();
    if let Some(path) = &history_path {
        if let Ok(file) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(file).lines() {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                if let Ok(p) = serde_json::from_str::<HistoryPoint>(&line) {
                    history.push(p);
                }
            }
        }
        let point = HistoryPoint::from(&report);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{}", serde_json::to_string(&point)?)
            .with_context(|| format!("writing {}", path.display()))?;
        history.push(point);
    }
    if let Some(p) = &args.json {
        write_file(p, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    if let Some(p) = &args.html {
        write_file(p, html(&report, &history).as_bytes())?;
    }
    if !args.link.quiet {
        println!(
            "{} ({input_name}): {} records, overall {:.1} %",
            report.dataset,
            report.records,
            report.overall.score * 100.0
        );
        for c in Criterion::ALL {
            let r = &report.criteria[c.key()];
            println!(
                "  {:<8} {:<11} {:>8}  {} failing",
                c.key(),
                c.vi(),
                r.score
                    .map_or("—".into(), |s| format!("{:.1} %", s * 100.0)),
                r.failing
            );
        }
        println!("{:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(ExitCode::SUCCESS)
}

/// Validates rows (raw values in dataset field order) on every core and feeds them to the
/// scorecard in order; returns each record's failures.
fn observe_rows(
    scoring: &mut Scoring,
    validator: &Validator,
    rows: &[Vec<String>],
) -> Vec<Vec<Failure>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(16_384) {
        let outcomes = map_in_order(chunk, threads, 256, |row| {
            let values: Vec<&str> = row.iter().map(String::as_str).collect();
            validate_guarded(validator, &values)
        });
        for outcome in outcomes {
            out.push(scoring.observe(&[], &outcome));
        }
    }
    out
}

/// The scorecard of rows already read (a replica table), reconciled with register rows
/// (the replica's `citizen` table) when given: what the center computes for each synced
/// dataset.
pub(crate) fn score_rows(
    ds: &'static Dataset,
    rows: &[Vec<String>],
    register: Option<&[Vec<String>]>,
    today: &str,
    sources: BTreeMap<String, String>,
) -> Result<lienthong_quality::Report> {
    let mut scoring = Scoring::new(
        ds,
        Options {
            today: today.to_owned(),
            stale_after_days: 730,
            examples: 20,
            model: None,
            threshold: None,
            seed: 1,
            has_deceased_reference: false,
        },
    )?;
    let validator = Validator::new(
        ds,
        VOptions {
            today: today.to_owned(),
            ..VOptions::default()
        },
    );
    observe_rows(&mut scoring, &validator, rows);
    let register = register.map(|rows| {
        let reg_ds = link_cmd::register_dataset();
        let reg_validator = Validator::new(reg_ds, VOptions::default());
        let schema = Scoring::schema_for(scoring.model(), reg_ds)
            .expect("the citizen register binds to the person model");
        let (keys, prepared) = rows
            .iter()
            .map(|row| {
                let values: Vec<&str> = row.iter().map(String::as_str).collect();
                Scoring::prepare_register(
                    &schema,
                    reg_ds,
                    &validate_guarded(&reg_validator, &values),
                )
            })
            .unzip();
        Register { prepared, keys }
    });
    let generated_at = lienthong_core::time::vietnam_time(lienthong_core::time::now_s() as i64)
        .replacen(' ', "T", 1)
        .replace(' ', "");
    Ok(scoring.finish(register, &generated_at, sources).0)
}

/// Whether `--register` names a database rather than a file.
fn is_url(s: &str) -> bool {
    s.contains("://") || s.starts_with("sqlite:")
}

/// The register from rows of a `citizen` table, validated and prepared with `model`.
fn register_from_rows(model: &Model, rows: &[Vec<String>]) -> Register {
    let reg_ds = link_cmd::register_dataset();
    let validator = Validator::new(reg_ds, VOptions::default());
    let schema = Scoring::schema_for(model, reg_ds)
        .expect("the citizen register binds to every person model that binds to a dataset");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (keys, prepared) = map_in_order(rows, threads, 256, |row| {
        let values: Vec<&str> = row.iter().map(String::as_str).collect();
        Scoring::prepare_register(&schema, reg_ds, &validate_guarded(&validator, &values))
    })
    .into_iter()
    .unzip();
    Register { prepared, keys }
}

/// A database URL without its password, for reports.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Every row of a replica table, the dataset's fields as text, in key order.
pub(crate) async fn replica_rows(
    url: &str,
    table: &str,
    ds: &'static Dataset,
) -> Result<Vec<Vec<String>>> {
    if !lienthong_store::dialect::identifier_ok(table) {
        bail!("--table {table:?}: not a plain SQL identifier");
    }
    let dialect = lienthong_store::dialect::Dialect::of(url)
        .with_context(|| format!("--replica {}", redact(url)))?;
    let pool = lienthong_store::dialect::connect(url, 1)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    let cols: Vec<String> = ds.fields.iter().map(|f| dialect.quote(f.name)).collect();
    let order: Vec<String> = ds.key.iter().map(|k| dialect.quote(k)).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        cols.join(", "),
        dialect.quote(table),
        order.join(", ")
    );
    let rows = sqlx::query(&sql)
        .fetch_all(&pool)
        .await
        .with_context(|| format!("reading table {table} of {}", redact(url)))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(cols.len());
        for i in 0..cols.len() {
            values.push(lienthong_store::dialect::text_at(&row, i).unwrap_or_default());
        }
        out.push(values);
    }
    Ok(out)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_a_report() {
        assert_eq!(
            redact("postgres://lt:s3cret@db:5432/center"),
            "postgres://lt@db:5432/center"
        );
        assert_eq!(
            redact("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://replica.db"), "sqlite://replica.db");
    }
}
