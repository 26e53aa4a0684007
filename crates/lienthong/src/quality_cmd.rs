//! `lienthong quality score`: the scorecard of one dataset on the six criteria. Validation
//! findings (the dictionary), duplicates (the linkage engine) and the reconciliation with
//! the population register feed `lienthong-quality`; this file only reads and writes.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lienthong_dictionary::engine::{validate_in_order, EngineError, Limits};
use lienthong_dictionary::input::Reader;
use lienthong_dictionary::validate::{record_key, KeyTracker, Options, Validator};
use lienthong_link::block::Blocks;
use lienthong_link::link::{dedupe, link, How};
use lienthong_link::schema::fill_term_frequencies;
use lienthong_link::{cluster, Model, Scorer};
use lienthong_quality::{criterion_of, html, Builder, Criterion, Failure, HistoryPoint};

use crate::link_cmd::{self, Common};
use crate::validate::{format_of, load_deceased, open, today};

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
    #[arg(long)]
    pub dataset: String,
    /// The dataset (CSV with a header, or JSON Lines).
    #[arg(long)]
    pub input: PathBuf,
    /// The population register (`citizen` CSV/JSONL) to reconcile with.
    #[arg(long)]
    pub register: Option<PathBuf>,
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

fn day_number(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (
        date[..4].parse().ok()?,
        date[5..7].parse().ok()?,
        date[8..10].parse().ok()?,
    );
    Some(lienthong_core::time::days_from_civil(y, m, d))
}

struct FailingOut(Option<BufWriter<std::fs::File>>);

impl FailingOut {
    fn write(&mut self, f: &Failure) -> Result<()> {
        if let Some(w) = &mut self.0 {
            serde_json::to_writer(&mut *w, f)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }
}

fn score(args: &ScoreArgs) -> Result<ExitCode> {
    let ds = crate::dataset(&args.dataset)?;
    let started = std::time::Instant::now();
    let today = args.today.clone().unwrap_or_else(today);
    let Some(today_n) = day_number(&today) else {
        bail!("--today {today}: expected YYYY-MM-DD");
    };
    let deceased = match args.reference.as_slice() {
        [] => None,
        specs => {
            let mut all = HashSet::new();
            for s in specs {
                all.extend(load_deceased(s)?);
            }
            Some(all)
        }
    };
    let has_reference = deceased.is_some();
    let validator = Validator::new(
        ds,
        Options {
            today: today.clone(),
            deceased,
        },
    );
    let reader = Reader::new(open(&args.input)?, format_of(None, &args.input)?, ds)
        .with_context(|| format!("input {}", args.input.display()))?;
    let mut failing = FailingOut(match &args.failing {
        Some(p) => Some(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    });
    let mut b = Builder::new(ds, args.examples);
    let mut keys = KeyTracker::default();
    let mut record_keys: Vec<String> = Vec::new();
    let updated_at = ds.index("updated_at");
    let (mut oldest, mut stale) = (None::<i64>, 0u64);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    // 1. Every record through the dictionary.
    validate_in_order(
        reader,
        &validator,
        &Limits {
            workers,
            batch_rows_max: 2048,
        },
        |raw, outcome| -> Result<()> {
            let n = b.record(&outcome.values);
            let key = record_key(ds, &outcome)
                .unwrap_or_default()
                .replace('\u{1f}', "|");
            for f in raw.findings.iter().chain(&outcome.findings) {
                let c = criterion_of(f.rule, f.severity);
                let failure = b.fail(n, &key, c, f.field, f.rule, f.message.clone());
                failing.write(&failure)?;
            }
            if !key.is_empty() {
                if let Some(first) = keys.observe(key.clone(), n) {
                    let failure = b.fail(
                        n,
                        &key,
                        Criterion::Clean,
                        ds.key.join("|").as_str(),
                        "key.duplicate",
                        format!("same key as record {first}"),
                    );
                    failing.write(&failure)?;
                }
            }
            if let Some(age) = updated_at
                .and_then(|i| day_number(&outcome.values[i]))
                .map(|d| today_n - d)
            {
                oldest = Some(oldest.map_or(age, |o: i64| o.max(age)));
                if age > i64::from(args.stale_after_days) {
                    stale += 1;
                    let failure = b.fail(
                        n,
                        &key,
                        Criterion::Live,
                        "updated_at",
                        "record.stale",
                        format!("not updated for {age} days"),
                    );
                    failing.write(&failure)?;
                }
            }
            record_keys.push(key);
            Ok(())
        },
    )
    .map_err(|e| match e {
        EngineError::Input(e) => {
            anyhow::Error::new(e).context(format!("input {}", args.input.display()))
        }
        EngineError::Sink(e) => e,
        other => anyhow::anyhow!("input {}: {other}", args.input.display()),
    })?;
    let records = record_keys.len();
    if records == 0 {
        bail!("input {} has a header but no records", args.input.display());
    }
    if updated_at.is_some() {
        b.metric(Criterion::Live, "stale_records", stale as f64);
        if let Some(o) = oldest {
            b.metric(Criterion::Live, "oldest_update_days", o as f64);
        }
        b.note(
            Criterion::Live,
            format!(
                "records not updated for {} days count as not live.",
                args.stale_after_days
            ),
        );
    }
    if !has_reference
        && ds.checks.iter().any(|c| {
            matches!(
                c,
                lienthong_dictionary::catalog::CrossCheck::NotDeceasedWhenActive { .. }
            )
        })
    {
        b.note(
            Criterion::Live,
            "no civil-status reference given: deceased people still active not checked.",
        );
    }
    let mut sources = BTreeMap::from([("input".to_owned(), args.input.display().to_string())]);
    // 2. The same person under several ids (linkage), for datasets that identify people.
    let model = match &args.link.model {
        Some(p) => Model::from_toml(
            &std::fs::read_to_string(p)
                .with_context(|| format!("reading model {}", p.display()))?,
        )
        .with_context(|| format!("model {}", p.display()))?,
        None => Model::default_person(),
    };
    let mut model = model;
    if let Some(t) = args.link.threshold {
        model.threshold = t;
    }
    let person = ds.field("full_name").is_some() && ds.field("birth_date").is_some();
    if person {
        let (mut loaded, schema) = link_cmd::load(ds, &args.input, &model, true)?;
        if loaded.prepared.len() != records {
            bail!("input {} changed while it was read", args.input.display());
        }
        fill_term_frequencies(&model, None, &mut loaded.prepared);
        let blocks = Blocks::new(&loaded.prepared, model.blocking.len());
        let register = match &args.register {
            Some(path) => Some(link_cmd::load(link_cmd::register_dataset(), path, &model, true)?.0),
            None => None,
        };
        // Trained as `link` and `link dedupe` train: with a register, on both together.
        let trained = match (&args.link.model, &register) {
            (Some(_), _) => model.clone(),
            (None, None) => {
                link_cmd::train_with(&model, &schema, &loaded.prepared, &blocks, &args.link)
            }
            (None, Some(reg)) => {
                let mut all: Vec<_> = loaded
                    .prepared
                    .iter()
                    .chain(&reg.prepared)
                    .cloned()
                    .collect();
                fill_term_frequencies(&model, None, &mut all);
                let blocks = Blocks::new(&all, model.blocking.len());
                link_cmd::train_with(&model, &schema, &all, &blocks, &args.link)
            }
        };
        let scorer = Scorer::new(&trained);
        let pairs = dedupe(&scorer, &loaded.prepared, &blocks, trained.threshold);
        let clusters = cluster::clusters(records, pairs.iter().map(|p| (p.a, p.b)));
        let mut people_twice = 0u64;
        for (i, root) in clusters.iter().enumerate() {
            let root = *root as usize;
            if root != i && loaded.keys[root] != loaded.keys[i] {
                people_twice += 1;
                let failure = b.fail(
                    i as u64 + 1,
                    &loaded.keys[i],
                    Criterion::Clean,
                    "record",
                    "person.duplicate",
                    format!(
                        "the same person as record {} ({}) under another key",
                        root + 1,
                        loaded.keys[root]
                    ),
                );
                failing.write(&failure)?;
            }
        }
        b.metric(
            Criterion::Clean,
            "same_person_other_key",
            people_twice as f64,
        );
        // 3. Reconciliation with the population register.
        if let (Some(path), Some(mut reg)) = (&args.register, register) {
            sources.insert("register".into(), path.display().to_string());
            fill_term_frequencies(&trained, Some(&reg.prepared), &mut loaded.prepared);
            fill_term_frequencies(&trained, None, &mut reg.prepared);
            let links = link(&scorer, &loaded.prepared, &reg.prepared, trained.threshold);
            let mut covered = HashSet::new();
            let (mut found, mut disagree) = (0u64, 0u64);
            for (i, l) in links.iter().enumerate() {
                let n = i as u64 + 1;
                let key = &loaded.keys[i];
                let Some(j) = l.register else {
                    let failure = b.fail(
                        n,
                        key,
                        Criterion::Unified,
                        "record",
                        "register.not_found",
                        "not found in the population register",
                    );
                    failing.write(&failure)?;
                    continue;
                };
                found += 1;
                covered.insert(j);
                let id_given = trained
                    .comparisons
                    .iter()
                    .position(|c| c.field == trained.id_field)
                    .is_some_and(|c| !loaded.prepared[i].values[c].is_null());
                if l.how == How::Fuzzy && id_given {
                    let failure = b.fail(
                        n,
                        key,
                        Criterion::Correct,
                        trained.id_field.as_str(),
                        "register.id_mismatch",
                        format!(
                            "the register holds this person under {}",
                            reg.keys[j as usize]
                        ),
                    );
                    failing.write(&failure)?;
                }
                for c in &l.disagree {
                    let field = trained.comparisons[*c].field.as_str();
                    if field == trained.id_field {
                        continue;
                    }
                    let (criterion, rule, reason) = match trained.comparisons[*c].kind {
                        lienthong_link::Kind::Unit => (
                            Criterion::Live,
                            "register.moved",
                            "the register has another residence".to_owned(),
                        ),
                        _ => (
                            Criterion::Unified,
                            "register.disagrees",
                            format!("differs from the register ({})", reg.keys[j as usize]),
                        ),
                    };
                    disagree += 1;
                    let failure = b.fail(n, key, criterion, field, rule, reason);
                    failing.write(&failure)?;
                }
            }
            b.metric(
                Criterion::Unified,
                "register_found",
                found as f64 / records as f64,
            );
            b.metric(
                Criterion::Unified,
                "register_disagreements",
                disagree as f64,
            );
            if ds.key == ["personal_id"] {
                b.coverage(covered.len() as u64, reg.keys.len() as u64);
                b.note(
                    Criterion::Complete,
                    "coverage of the register's population counts half.",
                );
            }
        } else {
            b.note(Criterion::Unified, "no register given: agreement with the population register not measured, only the shared code lists.");
        }
    } else {
        b.note(
            Criterion::Clean,
            "the dataset does not identify people by name and birth date: duplicates by key only.",
        );
    }
    for (k, r) in &args
        .reference
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("reference{}", i + 1), r.clone()))
        .collect::<Vec<_>>()
    {
        sources.insert(k.clone(), r.clone());
    }
    b.note(Criterion::Shared, "measured from the nodes' message logs (share of lookups served through the exchange); no log given.");
    if let Some(w) = &mut failing.0 {
        w.flush().context("writing the failing records")?;
    }
    // RFC 3339 in Vietnam time ("2026-12-02 11:45:31 +07:00" → "2026-12-02T11:45:31+07:00").
    let generated_at = lienthong_core::time::vietnam_time(lienthong_core::time::now_s() as i64)
        .replacen(' ', "T", 1)
        .replace(' ', "");
    let report = b.finish(&generated_at, sources);
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
            "{} ({}): {} records, overall {:.1} %",
            report.dataset,
            args.input.display(),
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

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}
