//! `lienthong sync run|status --config sync.toml`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lienthong_sync::{Pipeline, PipelineConfig};
use serde::Deserialize;

#[derive(clap::Subcommand)]
pub enum SyncCommand {
    /// Stream every configured pipeline into the replica (Ctrl-C stops after the batch in
    /// flight; a restart resumes from the checkpoint).
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Catch up once and exit instead of polling forever.
        #[arg(long)]
        once: bool,
    },
    /// Per pipeline: position, rows applied, rows quarantined, backlog.
    Status {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = crate::OutputFormat::Table)]
        format: crate::OutputFormat,
    },
}

/// `sync.toml`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncFile {
    /// The center's replica: `sqlite://FILE?mode=rwc`, `postgres://…` or `mysql://…`.
    replica_url: String,
    #[serde(default = "d_poll")]
    poll_interval_ms: u64,
    pipelines: Vec<PipelineFile>,
}

fn d_poll() -> u64 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: String,
    dataset: String,
    source_url: String,
    source_table: String,
    #[serde(default = "d_updated")]
    updated_at_column: String,
    #[serde(default)]
    replica_table: Option<String>,
    #[serde(default = "d_batch")]
    batch_rows_max: u32,
}

fn d_updated() -> String {
    "updated_at".into()
}
fn d_batch() -> u32 {
    1000
}

async fn open_all(config: &Path) -> Result<(Vec<Pipeline>, u64)> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let file: SyncFile =
        toml::from_str(&text).with_context(|| format!("config {}", config.display()))?;
    if file.pipelines.is_empty() {
        bail!("config {}: no [[pipelines]]", config.display());
    }
    let mut names = std::collections::HashSet::new();
    let mut pipelines = Vec::new();
    for p in file.pipelines {
        if !names.insert(p.name.clone()) {
            bail!(
                "config {}: pipeline {} is listed twice",
                config.display(),
                p.name
            );
        }
        let dataset = lienthong_dictionary::catalog::dataset(&p.dataset).with_context(|| {
            format!(
                "config {}: pipeline {}: unknown dataset {}",
                config.display(),
                p.name,
                p.dataset
            )
        })?;
        let cfg = PipelineConfig {
            replica_table: p.replica_table.unwrap_or_else(|| dataset.name.to_owned()),
            name: p.name,
            dataset,
            source_url: p.source_url,
            source_table: p.source_table,
            updated_at_column: p.updated_at_column,
            replica_url: file.replica_url.clone(),
            batch_rows_max: p.batch_rows_max,
        };
        pipelines.push(
            Pipeline::open(cfg, crate::validate::today())
                .await
                .with_context(|| format!("config {}", config.display()))?,
        );
    }
    Ok((pipelines, file.poll_interval_ms.max(50)))
}

pub async fn sync(command: SyncCommand) -> Result<ExitCode> {
    match command {
        SyncCommand::Run { config, once } => {
            let (pipelines, poll_ms) = open_all(&config).await?;
            let backlog: u64 = futures_sum(&pipelines).await;
            let bar = crate::progress_bar(backlog, "changes");
            loop {
                let mut moved = 0;
                for p in &pipelines {
                    loop {
                        let r = p.step().await?;
                        let n = r.applied + r.quarantined;
                        if n == 0 {
                            break;
                        }
                        moved += n;
                        bar.inc(n);
                    }
                }
                if once {
                    bar.finish_and_clear();
                    for p in &pipelines {
                        let s = p.status().await?;
                        println!(
                            "{}: {} rows applied, {} quarantined, backlog {}",
                            s.name,
                            s.rows_applied,
                            s.quarantined,
                            s.lag_rows.map_or("?".into(), |n| n.to_string())
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                if moved == 0 {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(poll_ms)) => {}
                        _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
                    }
                }
            }
        }
        SyncCommand::Status { config, format } => {
            let (pipelines, _) = open_all(&config).await?;
            let mut rows = Vec::new();
            for p in &pipelines {
                rows.push(p.status().await?);
            }
            if format == crate::OutputFormat::Json {
                let items: Vec<_> = rows
                    .iter()
                    .map(|s| serde_json::json!({ "pipeline": s.name, "position": { "updated_at": s.position.0, "key": s.position.1 }, "rows_applied": s.rows_applied, "quarantined": s.quarantined, "backlog_rows": s.lag_rows }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                println!(
                    "{:<24} {:>12} {:>12} {:>10}  position",
                    "pipeline", "applied", "quarantined", "backlog"
                );
                for s in rows {
                    println!(
                        "{:<24} {:>12} {:>12} {:>10}  {} {}",
                        s.name,
                        s.rows_applied,
                        s.quarantined,
                        s.lag_rows.map_or("?".into(), |n| n.to_string()),
                        s.position.0,
                        s.position.1
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn futures_sum(pipelines: &[Pipeline]) -> u64 {
    let mut total = 0;
    for p in pipelines {
        total += p.status().await.ok().and_then(|s| s.lag_rows).unwrap_or(0);
    }
    total
}
