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

/// `sync.toml`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncFile {
    /// The center's replica: `sqlite://FILE?mode=rwc`, `postgres://…` or `mysql://…`.
    replica_url: String,
    /// How long a step waits for new changes before it checks again, ms.
    #[serde(default = "d_poll")]
    poll_interval_ms: u64,
    #[serde(default)]
    jetstream: Option<JetStreamFile>,
    pipelines: Vec<PipelineFile>,
}

fn d_poll() -> u64 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JetStreamFile {
    url: String,
    #[serde(default = "d_one")]
    replicas: usize,
    #[serde(default = "d_window")]
    duplicate_window_ms: u64,
    #[serde(default = "d_prefix")]
    subject_prefix: String,
    #[serde(default = "d_ack")]
    ack_timeout_ms: u64,
}

fn d_one() -> usize {
    1
}
fn d_window() -> u64 {
    120_000
}
fn d_prefix() -> String {
    "lienthong".into()
}
fn d_ack() -> u64 {
    10_000
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum Kind {
    #[default]
    Poll,
    Postgres,
    Mariadb,
    Files,
    Node,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: String,
    dataset: String,
    #[serde(default)]
    source: Kind,
    #[serde(default)]
    source_url: Option<String>,
    #[serde(default)]
    source_table: Option<String>,
    #[serde(default = "d_updated")]
    updated_at_column: String,
    #[serde(default)]
    slot: Option<String>,
    #[serde(default)]
    publication: Option<String>,
    #[serde(default)]
    server_id: Option<u32>,
    #[serde(default)]
    dir: Option<PathBuf>,
    /// node: this agency's node (client face), the provider's service, this agency's
    /// subsystem and the purpose.
    #[serde(default)]
    node_url: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    replica_table: Option<String>,
    #[serde(default = "d_batch")]
    batch_rows_max: u32,
    /// Publish this pipeline's changes to the `[jetstream]` server too.
    #[serde(default)]
    jetstream: bool,
    /// Keep valid changes in the replica's change log, for a node to forward (`changes = true`
    /// on its table service).
    #[serde(default)]
    changelog: bool,
}

fn d_updated() -> String {
    "updated_at".into()
}
fn d_batch() -> u32 {
    1000
}

/// `lt_` and the name in lower case with every other character as `_` (slot names).
fn slot_name(pipeline: &str) -> String {
    let mut s = String::from("lt_");
    s.extend(pipeline.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    }));
    s.truncate(63);
    s
}

/// A replica server id from the pipeline name, above the range servers usually take.
fn server_id(pipeline: &str) -> u32 {
    let h = pipeline.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    1_000_000 + h % 1_000_000_000
}

struct Config {
    replica_url: String,
    poll_ms: u64,
    pipelines: Vec<PipelineConfig>,
}

fn read_config(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: SyncFile =
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
    let at = |name: &str| format!("config {}: pipeline {name}", path.display());
    if file.pipelines.is_empty() {
        bail!("config {}: no [[pipelines]]", path.display());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let jet = file.jetstream.map(|j| JetStreamConfig {
        url: j.url,
        replicas: j.replicas,
        duplicate_window_ms: j.duplicate_window_ms,
        subject_prefix: j.subject_prefix,
        ack_timeout_ms: j.ack_timeout_ms,
    });
    let mut names = std::collections::HashSet::new();
    let mut pipelines = Vec::new();
    for p in file.pipelines {
        if !names.insert(p.name.clone()) {
            bail!(
                "config {}: pipeline {} is listed twice",
                path.display(),
                p.name
            );
        }
        let dataset = lienthong_dictionary::catalog::dataset(&p.dataset)
            .with_context(|| format!("{}: unknown dataset {}", at(&p.name), p.dataset))?;
        let need = |v: Option<String>, what: &str| {
            v.with_context(|| {
                format!(
                    "{}: source = {:?} needs {what}",
                    at(&p.name),
                    kind_name(p.source)
                )
            })
        };
        let source = match p.source {
            Kind::Poll => SourceConfig::Poll {
                url: need(p.source_url.clone(), "source_url")?,
                table: need(p.source_table.clone(), "source_table")?,
                updated_at_column: p.updated_at_column.clone(),
            },
            Kind::Postgres => SourceConfig::Postgres {
                url: need(p.source_url.clone(), "source_url")?,
                table: need(p.source_table.clone(), "source_table")?,
                slot: p.slot.clone().unwrap_or_else(|| slot_name(&p.name)),
                publication: p.publication.clone().unwrap_or_else(|| slot_name(&p.name)),
            },
            Kind::Mariadb => SourceConfig::MariaDb {
                url: need(p.source_url.clone(), "source_url")?,
                table: need(p.source_table.clone(), "source_table")?,
                server_id: p.server_id.unwrap_or_else(|| server_id(&p.name)),
            },
            Kind::Node => SourceConfig::Node {
                node_url: need(p.node_url.clone(), "node_url")?,
                service: need(p.service.clone(), "service")?,
                client: need(p.client.clone(), "client")?,
                purpose: need(p.purpose.clone(), "purpose")?,
            },
            Kind::Files => {
                let dir = p
                    .dir
                    .clone()
                    .with_context(|| format!("{}: source = \"files\" needs dir", at(&p.name)))?;
                SourceConfig::Files {
                    dir: if dir.is_absolute() {
                        dir
                    } else {
                        base.join(dir)
                    },
                }
            }
        };
        if p.jetstream && jet.is_none() {
            bail!(
                "{}: jetstream = true needs a [jetstream] section",
                at(&p.name)
            );
        }
        pipelines.push(PipelineConfig {
            replica_table: p.replica_table.unwrap_or_else(|| dataset.name.to_owned()),
            name: p.name,
            dataset,
            source,
            replica_url: file.replica_url.clone(),
            batch_rows_max: p.batch_rows_max,
            jetstream: if p.jetstream { jet.clone() } else { None },
            changelog: p.changelog,
        });
    }
    Ok(Config {
        replica_url: file.replica_url,
        poll_ms: file.poll_interval_ms.clamp(10, 60_000),
        pipelines,
    })
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Poll => "poll",
        Kind::Postgres => "postgres",
        Kind::Mariadb => "mariadb",
        Kind::Files => "files",
        Kind::Node => "node",
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn derived_names() {
        assert_eq!(
            super::slot_name("VN/GOV/BCA/DANCU/citizen"),
            "lt_vn_gov_bca_dancu_citizen"
        );
        let id = super::server_id("VN/GOV/BHXH/SI/social_insurance");
        assert!(id > 1_000_000 && id == super::server_id("VN/GOV/BHXH/SI/social_insurance"));
    }
}
