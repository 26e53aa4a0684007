//! `lienthong`: the one binary. Reads argv and the environment (nothing else does), builds
//! typed configuration and calls the library crates.

mod bench;
mod bench_hop;
mod bench_js;
mod demo;
mod doc_cmd;
mod incident_cmd;
mod link_cmd;
mod quality_cmd;
mod report_cmd;
mod roles;
mod sync_cmd;
mod validate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use lienthong_dictionary::{catalog, codes, schema, units};
use lienthong_synth::{Config, Defect};

/// The validation pipeline allocates on one thread and frees on another; glibc's allocator
/// serialises that, mimalloc does not (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// lienthong: connect, share and sync government databases against one shared dictionary.
#[derive(Parser)]
#[command(name = "lienthong", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The national demo: registry, population register, sector agencies, provinces and the
    /// National Data Center on loopback, with synthetic data, agreements, sync and a live
    /// workload. Prints what to open and what to try.
    Demo(demo::Args),
    /// Generate a synthetic citizen register and sector datasets with recorded defects.
    #[command(
        after_long_help = "Example:\n  lienthong synth --citizens 100000 --seed 7 --out data/\n  lienthong synth --citizens 1000 --seed 1 --out small/ --noise tcvn3=0.05 --noise duplicate=0"
    )]
    Synth {
        /// Number of citizens in the register (1 to 100,000,000).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        citizens: u64,
        /// Seed; the same seed gives the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Override a defect rate, CLASS=RATE (0..1), repeatable. Classes: nfd, tcvn3, vni,
        /// mojibake, deaccented, upper_case, abbreviation, old_unit_name, lost_leading_zeros,
        /// cmnd_in_id, wrong_century, swapped_day_month, duplicate, deceased_active,
        /// stale_address, missing_mandatory, other_ethnicity_ordering.
        #[arg(long, value_name = "CLASS=RATE")]
        noise: Vec<String>,
        /// Write record-linkage data instead: register.csv (clean), people.csv (10 % of
        /// people twice, mostly under a second id, with name, date and address edits),
        /// sector.csv (social_insurance records to link back) and truth.json (clusters and
        /// true links).
        #[arg(long, conflicts_with = "noise")]
        linkage: bool,
    },
    /// The shared data dictionary: validate data, export schemas, list code lists.
    Dictionary {
        #[command(subcommand)]
        command: DictionaryCommand,
    },
    /// Keys and certificates: the registry CA, member signing keys, node TLS certificates.
    #[command(after_long_help = "Joining sequence: see docs/guide/join.md")]
    Keys {
        #[command(subcommand)]
        command: roles::KeysCommand,
    },
    /// The registry: publishes the signed snapshot of members, services and agreements.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// A node: the agency's gateway to the exchange.
    Node {
        #[command(subcommand)]
        command: RunCommand,
    },
    /// Stream agency tables into the center's replica, validated against the dictionary.
    Sync {
        #[command(subcommand)]
        command: sync_cmd::SyncCommand,
    },
    /// Personal-data breaches: open one at discovery (the 72-hour clock starts), see what
    /// the message log says of it, write the notice in Vietnamese.
    Incident {
        #[command(subcommand)]
        command: incident_cmd::IncidentCommand,
    },
    /// A node's tamper-evident message log: verify it, export and check evidence, check its
    /// witnessed checkpoints and a person's history.
    Log {
        #[command(subcommand)]
        command: roles::LogCommand,
    },
    /// E-documents for a citizen's wallet as SD-JWT VCs: issue, present with chosen claims,
    /// verify with the registry's snapshot offline.
    Doc {
        #[command(subcommand)]
        command: doc_cmd::DocCommand,
    },
    /// Record linkage: link a dataset to the population register, or deduplicate one, with a
    /// Fellegi–Sunter model aware of Vietnamese names, dates, ids and units.
    #[command(
        args_conflicts_with_subcommands = true,
        after_long_help = "Examples:\n  lienthong link --register register.csv --input sector.csv --dataset social_insurance --out matches.csv\n  lienthong link dedupe --dataset citizen --input people.csv --out clusters.csv"
    )]
    Link {
        #[command(subcommand)]
        command: Option<link_cmd::LinkCommand>,
        #[command(flatten)]
        args: link_cmd::LinkArgs,
    },
    /// Data quality: the scorecard of a dataset on the six criteria (đúng, đủ, sạch, sống,
    /// thống nhất, dùng chung), reconciled with the population register.
    Quality {
        #[command(subcommand)]
        command: quality_cmd::QualityCommand,
    },
    /// Reports of the program for the center's operators: the monthly report (JSON, HTML, PDF).
    Report {
        #[command(subcommand)]
        command: report_cmd::ReportCommand,
    },
    /// Benchmarks that measure lienthong against its anchors in the same run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum DictionaryCommand {
    /// Validate and normalise a CSV or JSONL file against a dataset. Exit 0: every record
    /// valid; 1: some records invalid; 2: the input is unusable.
    #[command(
        after_long_help = "Example:\n  lienthong dictionary validate --dataset citizen --input data/citizen.csv --report report.json"
    )]
    Validate(validate::Args),
    /// Export JSON Schema 2020-12 (one dataset) or an OpenAPI 3.1 components document.
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Dataset name; required for json-schema, optional for openapi (default: all).
        #[arg(long)]
        dataset: Option<String>,
    },
    /// Print a code list.
    Codes {
        #[arg(value_enum)]
        list: CodeList,
        /// Ethnic ordering: qd121 (QĐ 121-TCTK, default) or gso (census).
        #[arg(long, default_value = "qd121")]
        ordering: String,
        /// Only the communes of this province (for `commune`).
        #[arg(long)]
        province: Option<String>,
        /// Unit tree in force on this date (YYYY-MM-DD; default: current).
        #[arg(long)]
        on: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// List the datasets and their fields.
    Datasets,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Run with a TOML configuration file (validated in full before anything starts).
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Make a new admin token: written to --out (readable by its owner only) or printed,
    /// with the `admin_token_sha256` line for registry.toml.
    Token {
        /// File to write the token to, e.g. admin.token (for `registry apply --token-file`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Change the registry content through the authenticated admin API; the change becomes
    /// the next version. `--file`: replace the whole content (instance, members, services,
    /// agreements, revoked). `--add`: add members, services and agreements, each replacing
    /// the entry with its id (a member.toml from `keys sign`, or any such TOML).
    Apply {
        /// The registry's base URL, e.g. http://127.0.0.1:7000
        #[arg(long)]
        url: String,
        /// File holding the admin token.
        #[arg(long)]
        token_file: PathBuf,
        /// The registry CA (ca.crt), for an https:// URL.
        #[arg(long)]
        ca: Option<PathBuf>,
        #[arg(long, required_unless_present = "add", conflicts_with = "add")]
        file: Option<PathBuf>,
        /// Repeatable; all files go in one version.
        #[arg(long)]
        add: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RunCommand {
    /// Run with a TOML configuration file (validated in full before anything starts).
    Run {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Validation throughput against pandera and Great Expectations on the same file.
    Validate(bench::Args),
    /// Message-log appends against SQLite's fsync'd-commit floor, and proof times at scale.
    Ledger(bench::LedgerArgs),
    /// One hop of the exchange benchmark's ablation (bench/exchange/run.sh with ABLATION=1):
    /// the nodes' transport, signatures and message log added one by one.
    Hop(bench_hop::HopArgs),
    /// The sync pipeline's JetStream sink against publishing the same messages with
    /// async-nats alone.
    Jetstream(bench_js::JsArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    JsonSchema,
    Openapi,
}

#[derive(Clone, Copy, ValueEnum)]
enum CodeList {
    Province,
    Commune,
    Ethnicity,
    Religion,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum OutputFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Diagnostics on stderr; LIENTHONG_LOG (or RUST_LOG) sets the filter, default warnings.
    let filter = std::env::var("LIENTHONG_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".into());
    let otel = match otlp_from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(
                tracing_subscriber::EnvFilter::try_new(&filter)
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            );
        // The exchange's and the sync batches' spans, whatever the log filter.
        let spans = otel.as_ref().map(|p| {
            use opentelemetry::trace::TracerProvider as _;
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("lienthong"))
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target("lienthong_gateway", tracing::Level::INFO)
                        .with_target("lienthong_sync", tracing::Level::INFO),
                )
        });
        let _ = tracing_subscriber::registry()
            .with(fmt)
            .with(spans)
            .try_init();
    }
    let code = run_and_report(cli);
    if let Some(p) = otel {
        // Sends the spans still batched.
        let _ = p.shutdown();
    }
    code
}

/// OpenTelemetry export when the standard variables ask for it: `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`,
/// the default, or `http/json`), `OTEL_SERVICE_NAME` (default `lienthong`).
fn otlp_from_env() -> Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let Some(endpoint) =
        var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
    else {
        return Ok(None);
    };
    let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|| "http/protobuf".into());
    let json = match protocol.as_str() {
        "http/protobuf" => false,
        "http/json" => true,
        other => bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other}: lienthong exports over http/protobuf or http/json"
        ),
    };
    let service = var("OTEL_SERVICE_NAME").unwrap_or_else(|| "lienthong".into());
    lienthong_gateway::telemetry::otlp_tracer(&endpoint, json, &service)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

fn run_and_report(cli: Cli) -> ExitCode {
    match run(cli) {
        Ok(code) => code,
        // `lienthong dictionary export | head`: the reader left; nothing went wrong here.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether an error is a write to a pipe whose reader has closed.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Synth {
            citizens,
            seed,
            out,
            noise,
            linkage,
        } => {
            if linkage {
                let config = lienthong_synth::linkage::LinkageConfig::new(citizens, seed);
                let bar = progress_bar(citizens, "people");
                let summary = lienthong_synth::linkage::generate_linkage(&config, &out, |n| {
                    bar.set_position(n)
                })
                .with_context(|| format!("generating into {}", out.display()))?;
                bar.finish_and_clear();
                println!(
                    "register.csv {} records, people.csv {} records ({} people twice), sector.csv {} records; truth in {}/truth.json",
                    summary.register,
                    summary.people,
                    summary.duplicates,
                    summary.sector,
                    out.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let mut config = Config::new(citizens, seed);
            for spec in &noise {
                let (class, rate) = spec
                    .split_once('=')
                    .with_context(|| format!("--noise {spec}: expected CLASS=RATE"))?;
                let defect = Defect::from_name(class)
                    .with_context(|| format!("--noise {spec}: unknown defect class {class}"))?;
                let rate: f64 = rate
                    .parse()
                    .ok()
                    .filter(|r: &f64| (0.0..=1.0).contains(r))
                    .with_context(|| {
                        format!("--noise {spec}: rate must be a number from 0 to 1")
                    })?;
                config.set_rate(defect, rate);
            }
            let bar = progress_bar(citizens, "citizens");
            let summary = lienthong_synth::generate(&config, &out, |n| bar.set_position(n))
                .with_context(|| format!("generating into {}", out.display()))?;
            bar.finish_and_clear();
            let mut stdout = std::io::stdout().lock();
            for (dataset, n) in &summary.records {
                writeln!(
                    stdout,
                    "{dataset:<22} {n:>10} records  {}/{dataset}.csv|.jsonl",
                    out.display()
                )?;
            }
            writeln!(
                stdout,
                "truth: {} defects, {} duplicate pairs  {}/truth.json",
                summary.defects.len(),
                summary.duplicates.len(),
                out.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dictionary { command } => dictionary(command),
        Command::Link { command, args } => link_cmd::run(command, args),
        Command::Quality { command } => quality_cmd::run(command),
        Command::Bench {
            command: BenchCommand::Validate(args),
        } => bench::validate(args),
        Command::Bench {
            command: BenchCommand::Ledger(args),
        } => runtime()?.block_on(bench::ledger(args)),
        Command::Bench {
            command: BenchCommand::Hop(args),
        } => runtime()?.block_on(bench_hop::hop(args)),
        Command::Bench {
            command: BenchCommand::Jetstream(args),
        } => runtime()?.block_on(bench_js::run(args)),
        Command::Keys { command } => roles::keys(command),
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::Sync { command } => runtime()?.block_on(sync_cmd::sync(command)),
        Command::Log { command } => runtime()?.block_on(roles::log(command)),
        Command::Doc { command } => doc_cmd::run(command),
        Command::Incident { command } => runtime()?.block_on(incident_cmd::run(command)),
        Command::Report { command } => runtime()?.block_on(report_cmd::run(command)),
        Command::Registry { command } => match command {
            RegistryCommand::Run { config } => runtime()?.block_on(roles::registry_run(&config)),
            RegistryCommand::Token { out } => roles::registry_token(out.as_deref()),
            RegistryCommand::Apply {
                url,
                token_file,
                ca,
                file,
                add,
            } => runtime()?.block_on(roles::registry_apply(
                &url,
                &token_file,
                ca.as_deref(),
                file.as_deref(),
                &add,
            )),
        },
        Command::Node {
            command: RunCommand::Run { config },
        } => runtime()?.block_on(roles::node_run(&config)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn dataset(name: &str) -> Result<&'static catalog::Dataset> {
    catalog::dataset(name).with_context(|| {
        let names: Vec<_> = catalog::DATASETS.iter().map(|d| d.name).collect();
        format!(
            "unknown dataset {name:?}; known datasets: {}",
            names.join(", ")
        )
    })
}

fn dictionary(command: DictionaryCommand) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match command {
        DictionaryCommand::Validate(args) => validate::run(args),
        DictionaryCommand::Export {
            format,
            dataset: name,
        } => {
            let doc = match format {
                ExportFormat::JsonSchema => {
                    let Some(name) = name else {
                        bail!("--dataset is required for --format json-schema")
                    };
                    schema::json_schema(dataset(&name)?)
                }
                ExportFormat::Openapi => schema::openapi(name.as_deref().map(dataset).transpose()?),
            };
            serde_json::to_writer_pretty(&mut stdout, &doc)?;
            writeln!(stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        DictionaryCommand::Codes {
            list,
            ordering,
            province,
            on,
            format,
        } => {
            let tree = match &on {
                Some(date) => {
                    if !lienthong_dictionary::element::is_iso_date(date) {
                        bail!("--on {date}: expected a calendar date YYYY-MM-DD");
                    }
                    units::tree_on(date)
                }
                None => units::current(),
            };
            let rows: Vec<(String, String, String)> = match list {
                CodeList::Province => tree
                    .provinces
                    .iter()
                    .map(|p| (p.code.clone(), p.full_name.clone(), String::new()))
                    .collect(),
                CodeList::Commune => {
                    if let Some(p) = &province {
                        if tree.province(p).is_none() {
                            bail!(
                                "--province {p}: not a province code in the tree in force from {}",
                                tree.effective_from
                            );
                        }
                    }
                    tree.communes
                        .iter()
                        .filter(|c| province.as_ref().is_none_or(|p| &c.province_code == p))
                        .map(|c| (c.code.clone(), c.full_name.clone(), c.province_code.clone()))
                        .collect()
                }
                CodeList::Ethnicity | CodeList::Religion => {
                    let system = match (list, ordering.as_str()) {
                        (CodeList::Religion, _) => &codes::RELIGION_QCVN109,
                        (_, "qd121") => &codes::ETHNICITY_QD121,
                        (_, "gso") => &codes::ETHNICITY_GSO,
                        (_, other) => bail!("--ordering {other}: expected qd121 or gso"),
                    };
                    system
                        .codes
                        .iter()
                        .map(|c| (c.code.to_owned(), c.label.to_owned(), system.id.to_owned()))
                        .collect()
                }
            };
            if format == OutputFormat::Json {
                let items: Vec<_> = rows.iter().map(|(c, n, x)| serde_json::json!({ "code": c, "name": n, "parent_or_system": x })).collect();
                serde_json::to_writer_pretty(&mut stdout, &items)?;
                writeln!(stdout)?;
            } else {
                for (code, name, extra) in rows {
                    writeln!(stdout, "{code}\t{name}\t{extra}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DictionaryCommand::Datasets => {
            for d in catalog::DATASETS {
                let fields: Vec<String> = d
                    .fields
                    .iter()
                    .map(|f| {
                        if f.mandatory {
                            format!("{}*", f.name)
                        } else {
                            f.name.to_owned()
                        }
                    })
                    .collect();
                writeln!(
                    stdout,
                    "{:<20} {}\n  {}",
                    d.name,
                    d.title,
                    fields.join(", ")
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
