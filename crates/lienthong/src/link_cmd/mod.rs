//! `lienthong link`: deduplicate a person dataset, link a dataset to the population
//! register, train and explain the model. Records are read and normalised by the dictionary
//! (the same reader and column mapping as `dictionary validate`), then matched by
//! `lienthong-link`.

mod read;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lienthong_dictionary::catalog::Dataset;
use lienthong_link::block::{count_link, Blocks, RuleCount};
use lienthong_link::link::{dedupe, link, How};
use lienthong_link::schema::fill_term_frequencies;
use lienthong_link::{cluster, train, Model, Prepared, Schema, Scorer};

use read::spinner;
pub(crate) use read::{load, Loaded};

#[derive(clap::Args, Clone)]
pub struct LinkArgs {
    /// The register to link to (a `citizen` CSV or JSONL: the population register).
    #[arg(long)]
    pub register: Option<PathBuf>,
    /// Dataset of the input (see `lienthong dictionary datasets`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// The records to link.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Where to write the links: key, register_key, probability, match, disagree.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Clone)]
pub struct Common {
    /// Model TOML (default: the shipped person model, trained on the input as it runs).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Match probability from which a pair is a match (default: the model's).
    #[arg(long, value_parser = probability)]
    pub threshold: Option<f64>,
    /// Train the model on the input even when --model is given (starting from its values).
    #[arg(long)]
    pub train: bool,
    /// Truth from `lienthong synth --linkage`: print precision, recall and F1 against it.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Seed for the random pairs training draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

fn probability(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|p| *p > 0.0 && *p < 1.0)
        .ok_or_else(|| format!("{s:?} is not a probability strictly between 0 and 1"))
}

#[derive(clap::Subcommand, Clone)]
pub enum LinkCommand {
    /// Find the same person recorded more than once (also under different ids).
    #[command(
        after_long_help = "Example:\n  lienthong link dedupe --dataset citizen --input people.csv --out clusters.csv --pairs pairs.csv"
    )]
    Dedupe {
        /// Dataset of the input (see `lienthong dictionary datasets`).
        #[arg(long)]
        dataset: String,
        /// The records (CSV with a header, or JSON Lines).
        #[arg(long)]
        input: PathBuf,
        /// One row per input record: <key>,cluster_id (the cluster's first record number).
        #[arg(long)]
        out: PathBuf,
        /// Every pair at or above the threshold, with its probability, weight and levels.
        #[arg(long)]
        pairs: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Estimate the model's parameters (u by random pairs, m by EM, λ) on a dataset.
    Train {
        /// Dataset of the input.
        #[arg(long)]
        dataset: String,
        /// The records to train on.
        #[arg(long)]
        input: PathBuf,
        /// Train for linking this input to a register (the register's records join the
        /// training set).
        #[arg(long)]
        register: Option<PathBuf>,
        /// Where to write the trained model TOML.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Explain one pair field by field: level, weight, total, probability (JSON).
    #[command(
        after_long_help = "Records are named by key or by record number with '#':\n  lienthong link explain --dataset citizen --input people.csv --a 001090123456 --b '#57'"
    )]
    Explain {
        /// Dataset of the input.
        #[arg(long)]
        dataset: String,
        /// The records holding the pair (`--a`; `--b` too without a register).
        #[arg(long)]
        input: PathBuf,
        /// With a register, `--b` names a register record.
        #[arg(long)]
        register: Option<PathBuf>,
        /// The first record: its key, or `#N` for record number N.
        #[arg(long)]
        a: String,
        /// The second record: its key, or `#N` (in the register when one is given).
        #[arg(long)]
        b: String,
        #[command(flatten)]
        common: Common,
    },
    /// Print the shipped default model (TOML).
    Model,
}

/// One input read, normalised and prepared.
fn dataset(name: &str) -> Result<&'static Dataset> {
    crate::dataset(name)
}

fn model_of(common: &Common) -> Result<(Model, bool)> {
    let mut model = match &common.model {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading model {}", path.display()))?;
            Model::from_toml(&text).with_context(|| format!("model {}", path.display()))?
        }
        None => Model::default_person(),
    };
    if let Some(t) = common.threshold {
        model.threshold = t;
    }
    Ok((model, common.model.is_none() || common.train))
}

fn train_on(model: &Model, schema: &Schema, recs: &[Prepared], common: &Common) -> Model {
    let blocks = Blocks::new(recs, model.blocking.len());
    train_with(model, schema, recs, &blocks, common)
}

pub(crate) fn train_with(
    model: &Model,
    schema: &Schema,
    recs: &[Prepared],
    blocks: &Blocks,
    common: &Common,
) -> Model {
    let bar = spinner(common.quiet, "training (u by random pairs, m by EM, λ)");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let opts = train::Options {
        seed: common.seed,
        ..train::Options::default()
    };
    let started = std::time::Instant::now();
    let trained = train::train(model, schema, recs, blocks, &opts);
    bar.finish_and_clear();
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "trained");
    trained
}

fn print_counts(quiet: bool, model: &Model, counts: &[RuleCount]) {
    if quiet {
        return;
    }
    for c in counts {
        eprintln!(
            "blocking rule {} ({}): {} candidate pairs, largest block {}",
            c.rule,
            model.blocking[c.rule - 1].on.join(" + "),
            c.pairs,
            c.largest_block
        );
    }
}

/// Writes through a temporary file renamed into place: a failed run leaves no half file.
fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    write(&mut w).with_context(|| format!("writing {}", tmp.display()))?;
    w.flush()
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(w);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// A CSV file written through [`write_atomic`].
fn write_csv(
    path: &Path,
    write: impl FnOnce(&mut csv::Writer<&mut dyn Write>) -> Result<()>,
) -> Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        write(&mut csv)?;
        csv.flush()?;
        Ok(())
    })
}

pub fn run(command: Option<LinkCommand>, args: LinkArgs) -> Result<ExitCode> {
    match command {
        Some(LinkCommand::Dedupe {
            dataset: name,
            input,
            out,
            pairs,
            common,
        }) => run_dedupe(&name, &input, &out, pairs.as_deref(), &common),
        Some(LinkCommand::Train {
            dataset: name,
            input,
            register,
            out,
            common,
        }) => {
            let ds = dataset(&name)?;
            let (model, _) = model_of(&common)?;
            let (mut loaded, schema) = load(ds, &input, &model, common.quiet)?;
            if let Some(register) = &register {
                let (reg, _) = load(register_dataset(), register, &model, common.quiet)?;
                loaded.prepared.extend(reg.prepared);
            }
            fill_term_frequencies(&model, None, &mut loaded.prepared);
            let trained = train_on(&model, &schema, &loaded.prepared, &common);
            write_atomic(&out, |w| Ok(w.write_all(trained.to_toml().as_bytes())?))?;
            if !common.quiet {
                println!(
                    "trained on {} records: lambda {:.3e}; model written to {}",
                    loaded.prepared.len(),
                    trained.lambda,
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(LinkCommand::Explain {
            dataset: name,
            input,
            register,
            a,
            b,
            common,
        }) => {
            let ds = dataset(&name)?;
            let (model, train_it) = model_of(&common)?;
            let (mut left, schema) = load(ds, &input, &model, common.quiet)?;
            let mut right = match &register {
                Some(r) => Some(load(register_dataset(), r, &model, common.quiet)?.0),
                None => None,
            };
            let model = if train_it {
                let mut all = left.prepared.clone();
                if let Some(r) = &right {
                    all.extend(r.prepared.iter().cloned());
                }
                fill_term_frequencies(&model, None, &mut all);
                train_on(&model, &schema, &all, &common)
            } else {
                model
            };
            match &mut right {
                Some(r) => {
                    fill_term_frequencies(&model, Some(&r.prepared), &mut left.prepared);
                    fill_term_frequencies(&model, None, &mut r.prepared);
                }
                None => fill_term_frequencies(&model, None, &mut left.prepared),
            }
            let ia = find(&left, &a, "--a")?;
            let (other, ib) = match &right {
                Some(r) => (r, find(r, &b, "--b")?),
                None => (&left, find(&left, &b, "--b")?),
            };
            let scorer = Scorer::new(&model);
            let explanation = scorer.explain(&left.prepared[ia], &other.prepared[ib]);
            let out = serde_json::json!({
                "a": {"record": ia + 1, "key": left.keys[ia]},
                "b": {"record": ib + 1, "key": other.keys[ib]},
                "threshold": model.threshold,
                "match": explanation.probability >= model.threshold,
                "explanation": explanation,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(LinkCommand::Model) => {
            print!("{}", lienthong_link::model::DEFAULT_PERSON);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let missing: Vec<&str> = [
                ("--register", args.register.is_none()),
                ("--dataset", args.dataset.is_none()),
                ("--input", args.input.is_none()),
                ("--out", args.out.is_none()),
            ]
            .into_iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| n)
            .collect();
            if !missing.is_empty() {
                bail!(
                    "lienthong link needs {} (or a subcommand: dedupe, train, explain, model; see --help)",
                    missing.join(", ")
                );
            }
            let (Some(register), Some(name), Some(input), Some(out)) =
                (args.register, args.dataset, args.input, args.out)
            else {
                unreachable!("checked above")
            };
            run_link(&name, &input, &register, &out, &args.common)
        }
    }
}

pub(crate) fn register_dataset() -> &'static Dataset {
    &lienthong_dictionary::catalog::CITIZEN
}

fn find(loaded: &Loaded, name: &str, flag: &str) -> Result<usize> {
    if let Some(n) = name.strip_prefix('#') {
        let n: usize = n
            .parse()
            .with_context(|| format!("{flag} {name}: expected #RECORD_NUMBER or a key"))?;
        if n == 0 || n > loaded.keys.len() {
            bail!(
                "{flag} {name}: the input has records 1 to {}",
                loaded.keys.len()
            );
        }
        return Ok(n - 1);
    }
    loaded
        .keys
        .iter()
        .position(|k| k == name)
        .with_context(|| format!("{flag} {name}: no record has this key"))
}

fn run_dedupe(
    name: &str,
    input: &Path,
    out: &Path,
    pairs_out: Option<&Path>,
    common: &Common,
) -> Result<ExitCode> {
    let ds = dataset(name)?;
    let started = std::time::Instant::now();
    let (model, train_it) = model_of(common)?;
    let (mut loaded, schema) = load(ds, input, &model, common.quiet)?;
    fill_term_frequencies(&model, None, &mut loaded.prepared);
    let blocks = Blocks::new(&loaded.prepared, model.blocking.len());
    let model = if train_it {
        train_with(&model, &schema, &loaded.prepared, &blocks, common)
    } else {
        model
    };
    let counts = blocks.counts();
    print_counts(common.quiet, &model, &counts);
    let scorer = Scorer::new(&model);
    let bar = spinner(common.quiet, "scoring candidate pairs");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let pairs = dedupe(&scorer, &loaded.prepared, &blocks, model.threshold);
    bar.finish_and_clear();
    tracing::info!(pairs = pairs.len(), "scored");
    let clusters = cluster::clusters(loaded.prepared.len(), pairs.iter().map(|p| (p.a, p.b)));
    let key_name = ds.key.join("|");
    write_csv(out, |w| {
        w.write_record([key_name.as_str(), "cluster_id"])?;
        for (key, c) in loaded.keys.iter().zip(&clusters) {
            w.write_record([key.as_str(), &(c + 1).to_string()])?;
        }
        Ok(())
    })?;
    if let Some(path) = pairs_out {
        write_csv(path, |w| {
            let header = [
                "key_a",
                "key_b",
                "record_a",
                "record_b",
                "probability",
                "weight",
            ];
            w.write_record(
                header
                    .into_iter()
                    .chain(model.comparisons.iter().map(|c| c.field.as_str())),
            )?;
            for p in &pairs {
                let e = scorer.explain(
                    &loaded.prepared[p.a as usize],
                    &loaded.prepared[p.b as usize],
                );
                let numbers = [
                    (p.a + 1).to_string(),
                    (p.b + 1).to_string(),
                    format!("{:.6}", e.probability),
                    format!("{:.3}", e.weight),
                ];
                w.write_record(
                    [
                        loaded.keys[p.a as usize].as_str(),
                        loaded.keys[p.b as usize].as_str(),
                    ]
                    .into_iter()
                    .chain(numbers.iter().map(String::as_str))
                    .chain(e.fields.iter().map(|f| f.level)),
                )?;
            }
            Ok(())
        })?;
    }
    let mut sizes: HashMap<u32, u32> = HashMap::new();
    for c in &clusters {
        *sizes.entry(*c).or_default() += 1;
    }
    let multi = sizes.values().filter(|n| **n > 1).count();
    let in_multi: u32 = sizes.values().filter(|n| **n > 1).sum();
    if !common.quiet {
        println!(
            "{} records, {} pairs at probability ≥ {}, {} clusters of more than one record ({} records); {:.1} s; clusters in {}",
            loaded.keys.len(),
            pairs.len(),
            model.threshold,
            multi,
            in_multi,
            started.elapsed().as_secs_f64(),
            out.display()
        );
    }
    if let Some(truth) = &common.truth {
        let t = read_truth(truth)?;
        let true_clusters = t["clusters"].as_array().context("truth has no clusters")?;
        let mut truth_of: HashMap<u64, usize> = HashMap::new();
        let mut true_pairs = 0u64;
        for (i, c) in true_clusters.iter().enumerate() {
            let members: Vec<u64> = c
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                .unwrap_or_default();
            true_pairs += (members.len() as u64) * (members.len() as u64).saturating_sub(1) / 2;
            for m in members {
                truth_of.insert(m, i);
            }
        }
        let mut predicted: HashMap<u32, Vec<u64>> = HashMap::new();
        for (i, c) in clusters.iter().enumerate() {
            predicted.entry(*c).or_default().push(i as u64 + 1);
        }
        let (mut tp, mut predicted_pairs) = (0u64, 0u64);
        for members in predicted.values() {
            let k = members.len() as u64;
            predicted_pairs += k * (k - 1) / 2;
            let mut by_truth: HashMap<usize, u64> = HashMap::new();
            for m in members {
                if let Some(t) = truth_of.get(m) {
                    *by_truth.entry(*t).or_default() += 1;
                }
            }
            tp += by_truth.values().map(|n| n * (n - 1) / 2).sum::<u64>();
        }
        print_metrics(tp, predicted_pairs, true_pairs);
    }
    Ok(ExitCode::SUCCESS)
}

fn read_truth(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading truth {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("truth {}: not JSON", path.display()))
}

fn print_metrics(tp: u64, predicted: u64, actual: u64) {
    let precision = if predicted == 0 {
        1.0
    } else {
        tp as f64 / predicted as f64
    };
    let recall = if actual == 0 {
        1.0
    } else {
        tp as f64 / actual as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    println!("against truth: precision {precision:.4}, recall {recall:.4}, F1 {f1:.4} ({tp} true positives, {predicted} predicted, {actual} actual)");
}

fn run_link(
    name: &str,
    input: &Path,
    register: &Path,
    out: &Path,
    common: &Common,
) -> Result<ExitCode> {
    let ds = dataset(name)?;
    let started = std::time::Instant::now();
    let (model, train_it) = model_of(common)?;
    let (mut left, schema) = load(ds, input, &model, common.quiet)?;
    let (mut right, _) = load(register_dataset(), register, &model, common.quiet)?;
    let model = if train_it {
        let mut all: Vec<Prepared> = left
            .prepared
            .iter()
            .chain(&right.prepared)
            .cloned()
            .collect();
        fill_term_frequencies(&model, None, &mut all);
        train_on(&model, &schema, &all, common)
    } else {
        model
    };
    fill_term_frequencies(&model, Some(&right.prepared), &mut left.prepared);
    fill_term_frequencies(&model, None, &mut right.prepared);
    let counts = count_link(&left.prepared, &right.prepared, model.blocking.len());
    print_counts(common.quiet, &model, &counts);
    let scorer = Scorer::new(&model);
    let bar = spinner(common.quiet, "linking");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let links = link(&scorer, &left.prepared, &right.prepared, model.threshold);
    bar.finish_and_clear();
    write_csv(out, |w| {
        w.write_record(["key", "register_key", "probability", "match", "disagree"])?;
        for (key, l) in left.keys.iter().zip(&links) {
            let register_key = l.register.map_or("", |j| right.keys[j as usize].as_str());
            let disagree: Vec<&str> = l
                .disagree
                .iter()
                .map(|c| model.comparisons[*c].field.as_str())
                .collect();
            w.write_record([
                key.as_str(),
                register_key,
                &format!("{:.6}", l.probability),
                l.how.as_str(),
                &disagree.join(";"),
            ])?;
        }
        Ok(())
    })?;
    if !common.quiet {
        let count = |h: How| links.iter().filter(|l| l.how == h).count();
        println!(
            "{} records: {} by id, {} by id+fuzzy, {} fuzzy, {} unmatched; {:.1} s; links in {}",
            links.len(),
            count(How::Id),
            count(How::IdFuzzy),
            count(How::Fuzzy),
            count(How::None),
            started.elapsed().as_secs_f64(),
            out.display()
        );
    }
    if let Some(truth) = &common.truth {
        let t = read_truth(truth)?;
        let mut truth_of: HashMap<String, Option<String>> = HashMap::new();
        for l in t["links"].as_array().context("truth has no links")? {
            let key = l["key"].as_str().unwrap_or_default().to_owned();
            truth_of.insert(key, l["register"].as_str().map(str::to_owned));
        }
        let (mut tp, mut predicted, mut actual) = (0u64, 0u64, 0u64);
        for (key, l) in left.keys.iter().zip(&links) {
            let got = l.register.map(|j| right.keys[j as usize].as_str());
            let want = truth_of.get(key).cloned().flatten();
            predicted += u64::from(got.is_some());
            actual += u64::from(want.is_some());
            tp += u64::from(got.is_some() && got == want.as_deref());
        }
        print_metrics(tp, predicted, actual);
    }
    Ok(ExitCode::SUCCESS)
}
