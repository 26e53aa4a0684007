//! `lienthong bench validate`: validation throughput against pandera and Great Expectations
//! on the same CSV file, alternating A B A B, plus the raw CSV parse rate (the floor).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Citizens in the generated file.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Number of A/B rounds (each runs lienthong and every anchor once).
    #[arg(long, default_value_t = 3)]
    pairs: usize,
    /// Working directory for the generated data.
    #[arg(long, default_value = "bench-out/validate")]
    dir: PathBuf,
    /// Python interpreter with pandera and great_expectations (bench/validate/setup.sh makes
    /// .venv-bench).
    #[arg(long, default_value = ".venv-bench/bin/python")]
    python: PathBuf,
}

struct Run {
    seconds: f64,
    invalid: u64,
}

fn lienthong(input: &Path) -> Result<Run> {
    let exe = std::env::current_exe().context("locating the lienthong binary")?;
    let report = input.with_extension("report.json");
    let start = Instant::now();
    let status = Command::new(exe)
        .args([
            "dictionary",
            "validate",
            "--dataset",
            "citizen",
            "--quiet",
            "--today",
            "2026-01-01",
            "--input",
        ])
        .arg(input)
        .arg("--report")
        .arg(&report)
        .status()
        .context("running lienthong dictionary validate")?;
    let seconds = start.elapsed().as_secs_f64();
    if status.code() == Some(2) || status.code().is_none() {
        bail!("lienthong validate failed: {status}");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report)?)?;
    Ok(Run {
        seconds,
        invalid: json["invalid_records"].as_u64().unwrap_or(0),
    })
}

fn anchor(python: &Path, tool: &str, input: &Path) -> Result<Run> {
    let start = Instant::now();
    let out = Command::new(python)
        .args(["bench/validate/anchors.py", "--tool", tool, "--input"])
        .arg(input)
        .output()
        .with_context(|| {
            format!(
                "running {} bench/validate/anchors.py (run bench/validate/setup.sh first)",
                python.display()
            )
        })?;
    // The anchor reports its own read + check time (imports excluded); process wall time is
    // the fallback.
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{tool} anchor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))
        .with_context(|| format!("{tool} printed no JSON"))?;
    Ok(Run {
        seconds: json["seconds"].as_f64().unwrap_or(wall),
        invalid: json["invalid_rows"].as_u64().unwrap_or(0),
    })
}

/// Reads every CSV record and touches every field: the floor any validator stands on.
fn raw_parse(input: &Path) -> Result<f64> {
    let start = Instant::now();
    let mut reader = csv::Reader::from_path(input)?;
    let mut rec = csv::ByteRecord::new();
    let mut bytes = 0usize;
    while reader.read_byte_record(&mut rec)? {
        bytes += rec.iter().map(<[u8]>::len).sum::<usize>();
    }
    std::hint::black_box(bytes);
    Ok(start.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn validate(args: Args) -> Result<ExitCode> {
    if args.pairs == 0 {
        bail!("--pairs must be at least 1");
    }
    let input = args.dir.join("citizen.csv");
    if !input.exists() {
        eprintln!(
            "generating {} citizens into {}",
            args.rows,
            args.dir.display()
        );
        let bar = crate::progress_bar(args.rows, "citizens");
        lienthong_synth::generate(
            &lienthong_synth::Config::new(args.rows, 42),
            &args.dir,
            |n| bar.set_position(n),
        )?;
        bar.finish_and_clear();
    }
    let rows = csv::Reader::from_path(&input)?.byte_records().count() as f64;
    let tools = ["pandera", "gx"];
    let mut ours = Vec::new();
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); tools.len()];
    let mut counts = Vec::new();
    let mut floor = Vec::new();
    for round in 1..=args.pairs {
        let r = lienthong(&input)?;
        eprintln!(
            "round {round}: lienthong {:.2}s ({} invalid)",
            r.seconds, r.invalid
        );
        ours.push(r.seconds);
        counts.push(("lienthong", r.invalid));
        for (i, tool) in tools.iter().enumerate() {
            let a = anchor(&args.python, tool, &input)?;
            eprintln!(
                "round {round}: {tool} {:.2}s ({} invalid)",
                a.seconds, a.invalid
            );
            theirs[i].push(a.seconds);
            counts.push((tool, a.invalid));
        }
        floor.push(raw_parse(&input)?);
    }
    let ours = median(ours);
    println!("rows: {rows}");
    println!(
        "lienthong validate+normalise: {:.0} rows/s (median {:.2}s)",
        rows / ours,
        ours
    );
    for (i, tool) in tools.iter().enumerate() {
        let t = median(theirs[i].clone());
        println!(
            "{tool}: {:.0} rows/s (median {t:.2}s); lienthong is {:.1}x",
            rows / t,
            t / ours
        );
    }
    let f = median(floor);
    println!(
        "raw CSV parse (floor): {:.0} rows/s; lienthong runs at {:.0}% of it",
        rows / f,
        100.0 * f / ours
    );
    let mut seen: Vec<_> = counts.clone();
    seen.sort();
    seen.dedup();
    println!("invalid rows per tool: {seen:?}");
    Ok(ExitCode::SUCCESS)
}
