//! `lienthong bench validate`: validation throughput against pandera and Great Expectations
//! on the same file (CSV, or with `--format jsonl` the same citizens as JSON lines),
//! alternating A B A B, plus the raw parse rate of that file (the floor).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Citizens in the generated files.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Number of A/B rounds (each runs lienthong and every anchor once).
    #[arg(long, default_value_t = 3)]
    pairs: usize,
    /// Which of the generated files every tool reads: `citizen.csv` or `citizen.jsonl`.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Working directory for the generated data.
    #[arg(long, default_value = "bench-out/validate")]
    dir: PathBuf,
    /// Python interpreter with pandera and great_expectations (bench/validate/setup.sh makes
    /// .venv-bench).
    #[arg(long, default_value = ".venv-bench/bin/python")]
    python: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    fn file(self) -> &'static str {
        match self {
            Format::Csv => "citizen.csv",
            Format::Jsonl => "citizen.jsonl",
        }
    }
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

/// Reads every record and touches every field, nothing checked or kept: the floor any
/// validator of the file stands on. A JSON line is read value by value to its end (its
/// structure and escapes checked) into nothing.
fn raw_parse(input: &Path, format: Format) -> Result<f64> {
    let start = Instant::now();
    let mut bytes = 0usize;
    match format {
        Format::Csv => {
            let mut reader = csv::Reader::from_path(input)?;
            let mut rec = csv::ByteRecord::new();
            while reader.read_byte_record(&mut rec)? {
                bytes += rec.iter().map(<[u8]>::len).sum::<usize>();
            }
        }
        Format::Jsonl => {
            use std::io::BufRead;
            let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(input)?);
            for line in reader.split(b'\n') {
                let line = line?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                serde_json::from_slice::<serde::de::IgnoredAny>(&line)
                    .with_context(|| format!("{}: a line is not JSON", input.display()))?;
                bytes += line.len();
            }
        }
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
    let csv_file = args.dir.join(Format::Csv.file());
    let input = args.dir.join(args.format.file());
    if !csv_file.exists() || !input.exists() {
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
    // The same citizens in either file.
    let rows = csv::Reader::from_path(&csv_file)?.byte_records().count() as f64;
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
        floor.push(raw_parse(&input, args.format)?);
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
    let what = match args.format {
        Format::Csv => "CSV",
        Format::Jsonl => "JSONL",
    };
    println!(
        "raw {what} parse (floor): {:.0} rows/s; lienthong runs at {:.0}% of it",
        rows / f,
        100.0 * f / ours
    );
    let mut seen: Vec<_> = counts.clone();
    seen.sort();
    seen.dedup();
    println!("invalid rows per tool: {seen:?}");
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct LedgerArgs {
    /// Entries appended through the message log (and rows written by the anchor).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    entries: u64,
    /// Concurrent appenders (exchanges in flight).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: u64,
    /// Tree size for the proof timings (a consistency proof needs two entries at least).
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(2..))]
    proof_tree_size: u64,
    #[arg(long, default_value = "bench-out/ledger")]
    dir: PathBuf,
}

/// Message-log appends (fsync'd batches, signed checkpoints) against SQLite's own floor:
/// 1,000-row transactions with synchronous=FULL on the same disk; then proof times.
pub async fn ledger(args: LedgerArgs) -> Result<ExitCode> {
    use lienthong_gateway::msglog::MessageLog;
    if args.entries == 0 || args.concurrency == 0 {
        bail!("--entries and --concurrency must be positive");
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir)?;
    let entry = serde_json::json!({
        "side": "provider", "message_id": "00000000-0000-0000-0000-000000000000", "client": "VN/GOV/BHXH/SI",
        "service": "VN/GOV/BCA/DANCU/citizen", "purpose": "insurance-enrolment", "request_signature": "x".repeat(88),
        "response_signature": "y".repeat(88), "data_subjects": ["001090123456"], "fields": ["personal_id", "full_name", "birth_date"],
    });
    // lienthong: concurrent appenders, each waiting for durability like an exchange does.
    let log = MessageLog::open(
        &args.dir.join("log.db").display().to_string(),
        lienthong_trust::SigningKey::generate(),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let per_task = args.entries / args.concurrency;
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (log, entry) = (log.clone(), entry.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                // The ids a node gives its exchanges.
                let id = lienthong_gateway::node::new_message_id();
                log.append(&id, &entry, Vec::new()).await?;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await?.map_err(anyhow::Error::msg)?;
    }
    let ours = (per_task * args.concurrency) as f64 / started.elapsed().as_secs_f64();
    // Anchor: plain SQLite rows in 1,000-row fsync'd transactions, same row size.
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", args.dir.join("anchor.db").display());
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|c, _| {
            Box::pin(async move {
                sqlx::query("PRAGMA journal_mode=WAL")
                    .execute(&mut *c)
                    .await?;
                sqlx::query("PRAGMA synchronous=FULL")
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    sqlx::query("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    let text = entry.to_string();
    let started = Instant::now();
    let mut id = 0i64;
    while (id as u64) < args.entries {
        let mut tx = pool.begin().await?;
        let n = 1000.min(args.entries - id as u64) as usize;
        for chunk in (0..n).collect::<Vec<_>>().chunks(250) {
            let sql = format!(
                "INSERT INTO rows (id, body) VALUES {}",
                vec!["(?, ?)"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for _ in chunk {
                id += 1;
                q = q.bind(id).bind(text.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let anchor = args.entries as f64 / started.elapsed().as_secs_f64();
    println!("message log appends (fsync'd batches, signed checkpoints, {} concurrent): {ours:.0} entries/s", args.concurrency);
    println!(
        "SQLite 1,000-row fsync'd transactions (anchor): {anchor:.0} rows/s; ratio {:.2}x",
        ours / anchor
    );
    // Proofs at scale.
    let mut tree = lienthong_ledger::MerkleTree::with_capacity(args.proof_tree_size as usize);
    for i in 0..args.proof_tree_size {
        tree.append_leaf_hash(lienthong_ledger::leaf_hash(&i.to_le_bytes()));
    }
    let n = tree.size();
    let samples = 100_000u64;
    let started = Instant::now();
    for i in 0..samples {
        std::hint::black_box(
            tree.inclusion_proof((i * 7_919) % n, n)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    let inclusion_us = started.elapsed().as_secs_f64() * 1e6 / samples as f64;
    let started = Instant::now();
    for i in 0..samples {
        std::hint::black_box(
            tree.consistency_proof(1 + (i * 7_919) % (n - 1), n)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    let consistency_us = started.elapsed().as_secs_f64() * 1e6 / samples as f64;
    println!("proofs at {n} entries: inclusion {inclusion_us:.2} µs, consistency {consistency_us:.2} µs (mean of {samples})");
    // A person's history at this size: the log's person index holds one row per (person,
    // entry) — here `n` rows over 100,000 people, and 100 rows of the person asked for
    // (every row, in a tree of fewer entries) — then those entries' inclusion proofs, made
    // and verified.
    let asked = n.min(100);
    let url = format!(
        "sqlite://{}?mode=rwc",
        args.dir.join("history.db").display()
    );
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    sqlx::query("CREATE TABLE log_subjects (subject VARCHAR(64) NOT NULL, idx INTEGER NOT NULL)")
        .execute(&pool)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO log_subjects (subject, idx) WITH RECURSIVE x(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM x WHERE i + 1 < {n}) \
         SELECT CASE WHEN i % {step} = 0 AND i / {step} < {asked} THEN 'p1:the-person-asked-for' ELSE 'p1:' || (i % 100000) END, i FROM x",
        step = (n / asked).max(1)
    ))
    .execute(&pool)
    .await?;
    sqlx::query("CREATE INDEX log_subjects_subject ON log_subjects (subject, idx)")
        .execute(&pool)
        .await?;
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT idx FROM log_subjects WHERE subject = ? ORDER BY idx DESC LIMIT 1000",
        )
        .bind("p1:the-person-asked-for")
        .fetch_all(&pool)
        .await?;
        let root = tree.root();
        for idx in &rows {
            let proof = tree
                .inclusion_proof(*idx as u64, n)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            lienthong_ledger::verify_inclusion(
                &tree.leaf_hash_at(*idx as u64).context("leaf")?,
                *idx as u64,
                n,
                &proof,
                &root,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if rows.len() as u64 != asked {
            bail!("the index found {} entries, not {asked}", rows.len());
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    pool.close().await;
    println!(
        "a person's history of {asked} entries at {n} entries (index lookup, {asked} proofs made and verified): {:.2} ms (median of 20)",
        median(times)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_reads_csv_and_json_lines_and_refuses_a_line_that_is_not_json() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("c.csv");
        std::fs::write(&csv, "a,b\n\"x, y\",2\n3,4\n").unwrap();
        assert!(raw_parse(&csv, Format::Csv).unwrap() >= 0.0);
        let jsonl = dir.path().join("c.jsonl");
        std::fs::write(
            &jsonl,
            "{\"a\":\"x\\u00e9\",\"b\":\"2\"}\n\r\n{\"a\":\"3\"}\n",
        )
        .unwrap();
        assert!(raw_parse(&jsonl, Format::Jsonl).unwrap() >= 0.0);
        std::fs::write(&jsonl, "{\"a\":\"x\"}\n{\"a\":\n").unwrap();
        let e = raw_parse(&jsonl, Format::Jsonl).unwrap_err();
        assert!(format!("{e:#}").contains("a line is not JSON"), "{e:#}");
        assert_eq!(Format::Jsonl.file(), "citizen.jsonl");
    }
}
