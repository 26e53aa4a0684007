//! `lienthong sync run|status|quarantine|replay|reset --config sync.toml`.

use lienthong_sync::Stopped;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lienthong_sync::{
    JetStreamConfig, Pipeline, PipelineConfig, Replica, SourceConfig, Status, StatusReader,
};
use serde::Deserialize;

mod config;

use config::*;

#[derive(clap::Subcommand)]
pub enum SyncCommand {
    /// Stream every configured pipeline into the replica (and JetStream when configured).
    /// Ctrl-C stops after the batch in flight; a restart resumes from the stored position.
    #[command(
        after_long_help = "Example:\n  lienthong sync run --config sync.toml\n  lienthong sync run --config sync.toml --once   # catch up, print totals, exit"
    )]
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Catch up once and exit instead of streaming forever.
        #[arg(long)]
        once: bool,
    },
    /// Per pipeline: rows applied and deleted, open quarantine, lag, backlog, position (read
    /// from the replica; the sources are not touched).
    Status {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = crate::OutputFormat::Table)]
        format: crate::OutputFormat,
    },
    /// The open quarantine of one pipeline: each invalid change with its reasons.
    Quarantine {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        pipeline: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = crate::OutputFormat::Table)]
        format: crate::OutputFormat,
    },
    /// Validate the open quarantine again (after a dictionary or data fix) and apply what now
    /// passes.
    Replay {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        pipeline: String,
    },
    /// Forget a pipeline's position: its next run takes a new initial snapshot (PostgreSQL:
    /// a new slot) or, for polling, reads the table from the start.
    Reset {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        pipeline: String,
    },
}

async fn open(config: PipelineConfig) -> Result<Pipeline> {
    let name = config.name.clone();
    Pipeline::open(config, crate::validate::today())
        .await
        .with_context(|| format!("pipeline {name}"))
}

fn one<'a>(config: &'a Config, name: &str) -> Result<&'a PipelineConfig> {
    config
        .pipelines
        .iter()
        .find(|p| p.name == name)
        .with_context(|| {
            let names: Vec<&str> = config.pipelines.iter().map(|p| p.name.as_str()).collect();
            format!("no pipeline {name:?}; configured: {}", names.join(", "))
        })
}

/// Runs one pipeline until `stop` (`lienthong_sync::run`), with a progress bar while its
/// snapshot is read.
async fn run_one(p: Pipeline, poll: Duration, stop: tokio::sync::watch::Receiver<bool>) -> Stopped {
    let mut snapshot_bar: Option<indicatif::ProgressBar> = None;
    lienthong_sync::run(p, poll, stop, move |p, r| {
        match (p.snapshot_progress(), &snapshot_bar) {
            (Some((done, total)), None) => {
                let bar = crate::progress_bar(total, &format!("rows ({} snapshot)", p.name()));
                bar.set_position(done);
                snapshot_bar = Some(bar);
            }
            (Some((done, _)), Some(bar)) => bar.set_position(done),
            (None, Some(bar)) => {
                bar.finish_and_clear();
                snapshot_bar = None;
            }
            (None, None) => {}
        }
        if r.changes() > 0 {
            tracing::debug!(
                pipeline = p.name(),
                applied = r.applied,
                deleted = r.deleted,
                quarantined = r.quarantined,
                "batch committed"
            );
        }
    })
    .await
}

fn print_statuses(rows: &[Status], format: crate::OutputFormat) -> Result<()> {
    if format == crate::OutputFormat::Json {
        let items: Vec<_> = rows
            .iter()
            .map(|s| serde_json::json!({ "pipeline": s.name, "source": s.source, "rows_applied": s.state.rows_applied, "rows_deleted": s.state.rows_deleted, "quarantined_open": s.quarantined_open, "quarantined_total": s.state.rows_quarantined, "snapshot_done": s.state.snapshot_done, "lag_ms": s.lag_ms(), "backlog": s.state.backlog, "backlog_unit": s.state.backlog_unit, "position": s.state.position, "last_change": s.state.last_change, "jetstream_last": s.state.jet_last }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    println!(
        "{:<32} {:>10} {:>9} {:>11} {:>8} {:>18}  position",
        "pipeline", "applied", "deleted", "quarantined", "lag_s", "backlog"
    );
    for s in rows {
        let lag = s
            .lag_ms()
            .map_or("-".into(), |ms| format!("{:.1}", ms as f64 / 1000.0));
        let backlog = if s.state.backlog < 0 || s.state.backlog_unit.is_empty() {
            "-".to_owned()
        } else {
            format!("{} {}", s.state.backlog, s.state.backlog_unit)
        };
        let position = if s.state.position.is_empty() {
            "(not started)".to_owned()
        } else if !s.state.snapshot_done {
            format!("snapshot in progress ({})", s.state.position)
        } else {
            s.state.position.replace('\u{1f}', " ")
        };
        println!(
            "{:<32} {:>10} {:>9} {:>11} {:>8} {:>18}  {}",
            s.name,
            s.state.rows_applied,
            s.state.rows_deleted,
            s.quarantined_open,
            lag,
            backlog,
            position
        );
    }
    Ok(())
}

pub async fn sync(command: SyncCommand) -> Result<ExitCode> {
    match command {
        SyncCommand::Run { config, once } => {
            let cfg = read_config(&config)?;
            let mut pipelines = Vec::new();
            for p in cfg.pipelines.clone() {
                match open(p).await {
                    Ok(p) => pipelines.push(p),
                    Err(e) => {
                        // Give back the leases already claimed before stopping.
                        for p in pipelines {
                            p.close().await;
                        }
                        return Err(e);
                    }
                }
            }
            if once {
                let mut rows = Vec::new();
                let mut left = pipelines.into_iter();
                while let Some(mut p) = left.next() {
                    let done = match p.catch_up().await {
                        Ok(total) => {
                            tracing::info!(
                                pipeline = p.name(),
                                applied = total.applied,
                                "caught up"
                            );
                            p.status().await.map_err(anyhow::Error::from)
                        }
                        Err(e) => Err(e).with_context(|| format!("pipeline {}", p.name())),
                    };
                    p.close().await;
                    match done {
                        Ok(status) => rows.push(status),
                        Err(e) => {
                            // Give back the leases of the ones not run.
                            for p in left {
                                p.close().await;
                            }
                            return Err(e);
                        }
                    }
                }
                for s in &rows {
                    println!(
                        "{}: {} rows applied, {} deleted, {} quarantined, backlog {}",
                        s.name,
                        s.state.rows_applied,
                        s.state.rows_deleted,
                        s.quarantined_open,
                        if s.state.backlog < 0 {
                            "unknown".to_owned()
                        } else {
                            format!("{} {}", s.state.backlog, s.state.backlog_unit)
                        }
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let poll = Duration::from_millis(cfg.poll_ms);
            let mut tasks = tokio::task::JoinSet::new();
            for p in pipelines {
                tasks.spawn(run_one(p, poll, stop_rx.clone()));
            }
            let mut lost = 0;
            let mut count = |done: Result<Stopped, tokio::task::JoinError>| match done {
                Ok(Stopped::Lease) => lost += 1,
                Ok(Stopped::Asked) => {}
                Err(e) => {
                    tracing::error!(error = %e, "a pipeline task failed");
                    lost += 1;
                }
            };
            let ctrl_c = tokio::signal::ctrl_c();
            tokio::pin!(ctrl_c);
            loop {
                tokio::select! {
                    r = &mut ctrl_c => {
                        r.context("waiting for Ctrl-C")?;
                        break;
                    }
                    done = tasks.join_next() => match done {
                        Some(done) => count(done),
                        None => break, // every pipeline stopped by itself
                    },
                }
            }
            tracing::info!("stopping after the batches in flight");
            let _ = stop_tx.send(true);
            while let Some(done) = tasks.join_next().await {
                count(done);
            }
            if lost > 0 {
                eprintln!("{lost} pipeline(s) stopped on their own: another process runs them, or their task failed (see the log)");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        SyncCommand::Status { config, format } => {
            let cfg = read_config(&config)?;
            let reader = StatusReader::open(
                &cfg.replica_url,
                cfg.pipelines
                    .iter()
                    .map(|p| (p.name.clone(), p.source.kind()))
                    .collect(),
            )
            .await?;
            print_statuses(&reader.statuses().await?, format)?;
            Ok(ExitCode::SUCCESS)
        }
        SyncCommand::Quarantine {
            config,
            pipeline,
            limit,
            format,
        } => {
            let cfg = read_config(&config)?;
            one(&cfg, &pipeline)?;
            let replica = Replica::open(&cfg.replica_url).await?;
            let rows = replica
                .quarantine_list(&pipeline, limit.clamp(1, 100_000))
                .await?;
            if format == crate::OutputFormat::Json {
                let items: Vec<_> = rows
                    .iter()
                    .map(|q| serde_json::json!({ "change_id": q.change_id, "key": q.key, "record": serde_json::from_str::<serde_json::Value>(&q.record).unwrap_or_default(), "reasons": serde_json::from_str::<serde_json::Value>(&q.reasons).unwrap_or_default() }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                for q in &rows {
                    let reasons: serde_json::Value =
                        serde_json::from_str(&q.reasons).unwrap_or_default();
                    let text: Vec<String> = reasons
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| {
                            format!(
                                "{} {}: {}",
                                r["field"].as_str().unwrap_or(""),
                                r["rule"].as_str().unwrap_or(""),
                                r["message"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    println!(
                        "{}  key {}  {}",
                        q.change_id,
                        q.key.replace('\u{1f}', "+"),
                        text.join("; ")
                    );
                }
                eprintln!(
                    "{} open in quarantine (showing up to {limit})",
                    replica.quarantine_open(&pipeline).await?
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SyncCommand::Replay { config, pipeline } => {
            let cfg = read_config(&config)?;
            // No source and no lease: a replay may run beside the `sync run` of the pipeline.
            let mut p =
                Pipeline::open_for_replay(one(&cfg, &pipeline)?.clone(), crate::validate::today())
                    .await
                    .with_context(|| format!("pipeline {pipeline}"))?;
            let (replayed, open_left) = p.replay_quarantine().await?;
            let cfg_p = one(&cfg, &pipeline)?;
            let log = if cfg_p.changelog {
                " and its change log"
            } else {
                ""
            };
            println!(
                "{pipeline}: {replayed} replayed into the replica{log}, {open_left} still invalid"
            );
            if replayed > 0 && cfg_p.jetstream.is_some() {
                println!("note: JetStream subscribers get these records with their next change at the source (see docs/sync.md)");
            }
            p.close().await;
            Ok(ExitCode::SUCCESS)
        }
        SyncCommand::Reset { config, pipeline } => {
            let cfg = read_config(&config)?;
            one(&cfg, &pipeline)?;
            let replica = Replica::open(&cfg.replica_url).await?;
            replica.reset(&pipeline).await?;
            println!("{pipeline}: position forgotten; the next run starts over");
            Ok(ExitCode::SUCCESS)
        }
    }
}
