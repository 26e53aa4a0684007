//! `lienthong demo`: a small country on loopback. The registry, the population register
//! (Bộ Công an), four sector agencies, two provinces and the National Data Center, each a
//! node with real mutual TLS and signed messages; agency databases (SQLite) filled from the
//! synthetic generator; agreements; sync from every agency to the center; a live workload.
//! State lives in the data directory and is kept between runs (`--fresh` starts over).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use lienthong_core::MemberId;
use lienthong_dictionary::catalog::{self, Dataset};
use lienthong_gateway::backend::TableConfig;
use lienthong_gateway::documents::{DocumentKind, DocumentsConfig};
use lienthong_gateway::node::{self, NodeConfig, RunningNode};
use lienthong_registry::{Agreement, Member, Registry, Service};
use lienthong_sync::{Pipeline, PipelineConfig, SourceConfig, StatusReader};
use lienthong_trust::{Ca, SigningKey};
use rand::{Rng, SeedableRng};

mod citizen;
mod commands;
mod country;
mod data;
mod nodes;
mod quality;
mod school_api;
mod workload;

use commands::*;
use country::*;
use data::*;
use workload::*;

#[derive(clap::Args)]
pub struct Args {
    /// Citizens in the synthetic population register.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(10..=2_000_000))]
    citizens: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where databases, keys and logs are kept between runs.
    #[arg(long, default_value = "demo-data")]
    data_dir: PathBuf,
    /// First port; the demo uses the next 40 on 127.0.0.1 (0: ports the system chooses,
    /// printed when ready).
    #[arg(long, default_value_t = 7400, value_parser = port_or_zero)]
    port: u16,
    /// Delete the data directory and start over.
    #[arg(long)]
    fresh: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let dir = &args.data_dir;
    if args.fresh {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::fs::create_dir_all(dir.join("keys"))
        .with_context(|| format!("creating {}", dir.display()))?;
    // Keys are the owner's only.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("keys"), std::fs::Permissions::from_mode(0o700))?;
    }
    sqlx::any::install_default_drivers();
    let ports = Ports::bind(args.port, AGENCIES.len())?;
    let db = |name: &str| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("{name}.db")).display()
        )
    };

    // 1. Data: generated once, kept. A demo directory from a version with fewer agencies
    // gets the data it lacks (the same seed gives the earlier datasets unchanged).
    let synth_dir = dir.join("synth");
    let csv_missing = AGENCIES
        .iter()
        .filter_map(|a| a.publishes)
        .any(|(_, d)| !synth_dir.join(format!("{}.csv", d.name)).exists());
    if !synth_dir.join("truth.json").exists() || csv_missing {
        eprintln!(
            "generating {} synthetic citizens and their sector records…",
            args.citizens
        );
        let bar = crate::progress_bar(args.citizens, "citizens");
        lienthong_synth::generate(
            &lienthong_synth::Config::new(args.citizens, args.seed),
            &synth_dir,
            |n| bar.set_position(n),
        )?;
        bar.finish_and_clear();
    }
    load_missing_tables(dir, &synth_dir, &db).await?;

    // Hà Nội's communes keep their civil-status registers (kept between runs too).
    let communes = dir.join(format!("{}.db", HOP.communes_db));
    if !communes.exists() {
        let n = load_table(
            &synth_dir.join("civil_status_event.csv"),
            &db(HOP.communes_db),
            HOP.communes_table,
            &catalog::CIVIL_STATUS_EVENT,
            Some("01"),
        )
        .await?;
        eprintln!(
            "  {:<24} {n:>8} rows → {}",
            "Hà Nội's communes",
            communes.display()
        );
    }

    // 2. Keys: the registry CA, every member's signing key and node certificate; kept.
    let keys = dir.join("keys");
    let ca = read_or(
        &keys.join("ca.pem"),
        || {
            let ca = Ca::generate("VN")?;
            let text = format!("{}\n{}", ca.cert_pem, ca.key_pem());
            Ok((ca, text))
        },
        |text| {
            let split = text
                .find("-----BEGIN PRIVATE KEY-----")
                .context("keys/ca.pem lacks its key")?;
            Ok(Ca::from_pem("VN", &text[..split], &text[split..])?)
        },
    )?;
    let signing = |name: &str| -> Result<SigningKey> {
        read_or(
            &keys.join(format!("{name}.signing.pem")),
            || {
                let k = SigningKey::generate();
                let t = k.to_pem()?;
                Ok((k, t))
            },
            |t| Ok(SigningKey::from_pem(t)?),
        )
    };
    let registry_key = signing("registry")?;
    // The center witnesses every node's message log (cosigns its checkpoints); each node
    // signs its checkpoints with a log key of its own.
    let witness_key = signing("witness")?;
    let log_keys = AGENCIES
        .iter()
        .map(|a| signing(&format!("{}.log", slug(a.id))))
        .collect::<Result<Vec<_>>>()?;
    let mut identities = Vec::new();
    for a in AGENCIES {
        let key = signing(&slug(a.id))?;
        let tls = read_or(
            &keys.join(format!("{}.tls.pem", slug(a.id))),
            || {
                let (cert, key) = ca.issue(a.id, &["127.0.0.1", "localhost"])?;
                Ok(((cert.clone(), key.clone()), format!("{cert}\n{key}")))
            },
            |t| {
                let split = t
                    .find("-----BEGIN PRIVATE KEY-----")
                    .context("node key missing")?;
                Ok((t[..split].to_owned(), t[split..].to_owned()))
            },
        )?;
        identities.push((key, tls));
    }
    // Each agency's information system ("portal"): a client certificate its node pins
    // (SSLAUTH), kept like the other keys; the printed commands and the workload use them.
    std::fs::write(keys.join("ca.crt"), &ca.cert_pem)?;
    let systems = portals(&keys)?;

    // 3. The registry, in process.
    let registry = Registry {
        instance: "VN".into(),
        members: AGENCIES
            .iter()
            .zip(&identities)
            .enumerate()
            .map(|(i, (a, (key, (cert, _))))| {
                Ok(Member {
                    id: a.id.into(),
                    name: a.name.into(),
                    signing_key: key.public_b64(),
                    address: Some(ports.node(i).1.to_string()),
                    cert_fingerprint: lienthong_trust::cert_fingerprint(cert)?,
                    log_key: Some(
                        lienthong_trust::note::NoteSigner::log(
                            &lienthong_registry::log_origin(a.id),
                            &log_keys[i],
                        )?
                        .vkey(),
                    ),
                })
            })
            .collect::<Result<_>>()?,
        services: AGENCIES
            .iter()
            .filter_map(|a| {
                a.publishes.map(|(code, d)| Service {
                    id: format!("{}/{code}", a.id),
                    dataset: d.name.into(),
                    personal_data: true,
                    rest: false,
                    user_id_required: false,
                })
            })
            .chain([
                Service {
                    id: format!("{}/{}", HOP.province, HOP.service),
                    dataset: catalog::CIVIL_STATUS_EVENT.name.into(),
                    personal_data: true,
                    rest: false,
                    user_id_required: false,
                },
                Service {
                    id: format!("{SCHOOL}/{}", school_api::SERVICE),
                    dataset: catalog::EDUCATION_ENROLMENT.name.into(),
                    personal_data: true,
                    rest: true,
                    user_id_required: false,
                },
            ])
            .collect(),
        agreements: agreements(),
        revoked: vec![],
        witness: Some(lienthong_registry::Witness {
            member: HOP.center.into(),
            key: lienthong_trust::note::NoteSigner::witness(
                &format!("lienthong.witness/{}", HOP.center),
                &witness_key,
            )?
            .vkey(),
        }),
        catalogue: country::catalogue()?,
    };
    let registry_content = registry.clone();
    let store = lienthong_registry::store::Store::connect(&db("registry")).await?;
    // The demo owns its registry: a run on other ports (`--port 0`) publishes the nodes'
    // new addresses as the next version.
    if store.latest().await?.map(|(_, stored)| stored).as_ref() != Some(&registry) {
        store
            .save(&registry, lienthong_registry::server::now_s())
            .await?;
    }
    let app = lienthong_registry::server::app(lienthong_registry::server::Config {
        store,
        seed: Some(registry),
        key: SigningKey::from_pem(&registry_key.to_pem()?)?,
        validity_s: 3600,
        operators: Vec::new(),
        next_key: None,
    })
    .await?;
    let listener = ports.take_tokio(ports.registry())?;
    // Served like every node face (connection bound, header deadline); the demo runs until
    // the process ends, so the stop signal is never sent.
    let (_serving, serving_stop) = tokio::sync::watch::channel(false);
    tokio::spawn(node::serve_router(
        listener,
        None,
        app,
        1024,
        serving_stop.clone(),
    ));

    // The city's replica and its change log exist before its node publishes them.
    let hop_province = Pipeline::open(
        PipelineConfig {
            name: format!("{}/{}", HOP.province, HOP.communes_table),
            dataset: &catalog::CIVIL_STATUS_EVENT,
            source: SourceConfig::Poll {
                url: db(HOP.communes_db),
                table: HOP.communes_table.into(),
                updated_at_column: "updated_at".into(),
            },
            replica_url: db(HOP.province_db),
            replica_table: catalog::CIVIL_STATUS_EVENT.name.into(),
            batch_rows_max: 2_000,
            jetstream: None,
            changelog: true,
        },
        crate::validate::today(),
    )
    .await?;

    // The ministry's existing REST API, published through its node.
    let school_db = AGENCIES
        .iter()
        .find(|a| a.id == SCHOOL)
        .and_then(|a| a.publishes.map(|(table, _)| (db(&slug(a.id)), table)))
        .context("the ministry publishes its enrolments")?;
    let api = school_api::serve(ports.take_tokio(ports.api())?, &school_db.0, school_db.1).await?;

    // 4. The nodes.
    let setup = nodes::Setup {
        dir,
        ports: &ports,
        ca: &ca,
        registry_key: &registry_key,
        systems: &systems,
        api,
        log_keys: &log_keys,
        witness_key: &witness_key,
    };
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (i, (a, (key, (cert, tls_key)))) in AGENCIES.iter().zip(&identities).enumerate() {
        let (client, peer, admin) = ports.node(i);
        let tables = nodes::tables(a, &db);
        let listeners = node::Listeners {
            client: Some(ports.take(client)?),
            peer: Some(ports.take(peer)?),
            admin: Some(ports.take(admin)?),
        };
        nodes.push(
            node::start_on(
                nodes::config(&setup, i, a, (key, cert, tls_key), tables)?,
                listeners,
            )
            .await
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("starting node {}", a.id))?,
        );
    }

    // 5. Sync: every publishing agency → the center's replica.
    let mut pipelines = Vec::new();
    for a in AGENCIES {
        if let Some((table, dataset)) = a.publishes {
            pipelines.push(
                Pipeline::open(
                    PipelineConfig {
                        name: format!("{}/{table}", a.id),
                        dataset,
                        source: SourceConfig::Poll {
                            url: db(&slug(a.id)),
                            table: table.into(),
                            updated_at_column: "updated_at".into(),
                        },
                        replica_url: db("center-replica"),
                        replica_table: dataset.name.into(),
                        batch_rows_max: 2_000,
                        jetstream: None,
                        changelog: false,
                    },
                    crate::validate::today(),
                )
                .await?,
            );
        }
    }
    // The dashboard of the center: its own read-only views of the logs and the pipelines.
    let mut logs = Vec::new();
    for a in AGENCIES {
        let path = dir
            .join(format!("{}.messages.db", slug(a.id)))
            .display()
            .to_string();
        logs.push((
            a.id.to_owned(),
            lienthong_web::open_log(&path)
                .await
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("opening {path}"))?,
        ));
    }
    // Hop by hop: the city's pipeline, then the center's subscription through its node.
    let center = AGENCIES
        .iter()
        .position(|a| a.id == HOP.center)
        .context("the center is an agency")?;
    let hop_center = Pipeline::open(
        PipelineConfig {
            name: format!("{}/{}", HOP.province, HOP.service),
            dataset: &catalog::CIVIL_STATUS_EVENT,
            source: SourceConfig::Node {
                node_url: format!("http://{}", ports.node(center).0),
                service: format!("{}/{}", HOP.province, HOP.service),
                client: HOP.center.into(),
                purpose: HOP.purpose.into(),
            },
            replica_url: db("center-replica"),
            replica_table: catalog::CIVIL_STATUS_EVENT.name.into(),
            batch_rows_max: 1_000,
            jetstream: None,
            changelog: false,
        },
        crate::validate::today(),
    )
    .await?;
    let views = |ps: &[&Pipeline]| -> Vec<(String, &'static str)> {
        ps.iter()
            .map(|p| (p.name().to_owned(), p.config().source.kind()))
            .collect()
    };
    let mut center_view = views(&pipelines.iter().collect::<Vec<_>>());
    center_view.extend(views(&[&hop_center]));
    let sync_views = vec![
        StatusReader::open(&db("center-replica"), center_view.clone()).await?,
        StatusReader::open(&db(HOP.province_db), views(&[&hop_province])).await?,
    ];
    pipelines.push(hop_province);
    pipelines.push(hop_center);
    let health = AGENCIES
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                a.id.to_owned(),
                format!("http://{}/healthz", ports.node(i).2),
            )
        })
        .collect();
    // The center's quality view: every synced dataset scored against the register's replica.
    let board = lienthong_web::QualityBoard::default();
    let mut scored: Vec<&'static catalog::Dataset> = AGENCIES
        .iter()
        .filter_map(|a| a.publishes.map(|(_, d)| d))
        .collect();
    scored.push(&catalog::CIVIL_STATUS_EVENT);
    // Each dataset's pipelines (the hop's included), for the live criterion's sync lag.
    let dataset_of: Vec<(String, &'static str)> = pipelines
        .iter()
        .map(|p| (p.name().to_owned(), p.config().dataset.name))
        .collect();
    let lag_reader = StatusReader::open(&db("center-replica"), center_view.clone()).await?;
    tokio::spawn(quality::keep_scoring(
        db("center-replica"),
        scored,
        board.clone(),
        (lag_reader, dataset_of),
        Duration::from_secs(120),
    ));
    let citizen_registry = registry_content.clone();
    let token_file = dir.join("operator.token");
    let operator_token = data::operator_token(&token_file)?;
    let dashboard = lienthong_web::router(
        lienthong_web::Sources::new(registry_content, logs, sync_views, health)
            .with_quality(board)
            .with_operators(vec![(
                "demo-operator".into(),
                lienthong_trust::sha256_hex(operator_token.as_bytes()),
            )])
            .with_history(
                lienthong_web::history::History::open(&db("center-history"))
                    .await
                    .map_err(anyhow::Error::msg)?,
            ),
    );
    let dashboard_addr = ports.dashboard();
    let dashboard_listener = ports.take_tokio(dashboard_addr)?;
    tokio::spawn(node::serve_router(
        dashboard_listener,
        None,
        dashboard,
        1024,
        serving_stop.clone(),
    ));
    // The same loop as `sync run` (back-off, recovery, a lost lease stops the pipeline);
    // the demo runs until the process ends, so the stop signal is never sent.
    let (_keep_running, stop) = tokio::sync::watch::channel(false);
    for p in pipelines {
        tokio::spawn(lienthong_sync::run(
            p,
            Duration::from_secs(1),
            stop.clone(),
            |_, _| {},
        ));
    }

    // 6. A live workload, and updates that flow to the center.
    let sample: Vec<String> = {
        let pool = sqlx::AnyPool::connect(&db(&slug(AGENCIES[0].id))).await?;
        let rows =
            sqlx::query("SELECT personal_id FROM citizen WHERE length(personal_id) = 12 LIMIT 500")
                .fetch_all(&pool)
                .await?;
        pool.close().await;
        rows.iter()
            .map(|r| sqlx::Row::get::<String, _>(r, 0))
            .collect()
    };
    let pid = sample
        .first()
        .cloned()
        .unwrap_or_else(|| "001090123456".into());
    // The citizen face of the center, and a small identity provider for the synthetic
    // citizens (the VNeID model, on loopback).
    let citizen_addr = citizen::serve(
        &ports,
        &db(&slug(AGENCIES[0].id)),
        &pid,
        signing("idp")?,
        (citizen_registry, &nodes[center]),
        serving_stop.clone(),
    )
    .await?;
    // A student of the ministry's API and an enterprise, for the printed commands.
    let first_student = first_row(&school_db.0, school_db.1, &["student_id", "personal_id"]);
    let (student, student_pid) = match &first_student.await?[..] {
        [s, p] => (s.clone(), p.clone()),
        _ => Default::default(),
    };
    let enterprise = first_row(&db(&slug(ENTERPRISES.0)), ENTERPRISES.1, &["tax_code"])
        .await?
        .pop()
        .unwrap_or_default();
    let clients: Vec<SocketAddr> = (0..AGENCIES.len()).map(|i| ports.node(i).0).collect();
    let workload_db = db(&slug(AGENCIES[1].id));
    let faces = AGENCIES
        .iter()
        .zip(&systems)
        .enumerate()
        .map(|(i, (a, portal))| {
            if a.id == HOP.center {
                Ok(Face::Plain(clients[i]))
            } else {
                Face::tls(clients[i], &ca.cert_pem, portal)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let pages = register_pages(&db).await?;
    tokio::spawn(workload(
        faces,
        pages,
        sample,
        workload_db,
        db(HOP.communes_db),
        args.seed,
    ));

    println!(
        "lienthong demo is running: {} nodes, registry http://{}",
        nodes.len(),
        ports.registry()
    );
    println!();
    println!("Dashboard of the National Data Center: http://{dashboard_addr}/  (English: http://{dashboard_addr}/?lang=en)");
    println!(
        "Alerts: http://{dashboard_addr}/alerts  (acknowledge with the operator token in {})",
        token_file.display()
    );
    println!("Citizens: who used my data — http://{citizen_addr}/citizen  (sign in as a synthetic citizen, e.g. http://{citizen_addr}/citizen/login?login_hint={pid})");
    println!();
    for (i, a) in AGENCIES.iter().enumerate() {
        let (c, _, adm) = ports.node(i);
        println!(
            "  {:<24} client http://{c}  metrics http://{adm}/metrics",
            a.id
        );
    }
    println!();
    print_exchange_commands(
        &keys,
        &systems,
        &clients,
        &pid,
        (&student, &student_pid),
        &enterprise,
    )?;
    println!();
    println!("Sync to the National Data Center:");
    println!(
        "  lienthong sync status --config {}",
        write_sync_status_config(dir, ports.node(center).0)?.display()
    );
    println!("Message log of BHXH's node:");
    println!(
        "  lienthong log verify --db {} --key {}",
        dir.join(format!("{}.messages.db", slug(AGENCIES[1].id)))
            .display(),
        identities[1].0.public_b64()
    );
    println!();
    println!(
        "ready (Ctrl-C stops; running again resumes from {})",
        dir.display()
    );
    match args.seconds {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    for n in nodes {
        n.shutdown().await;
    }
    eprintln!("stopped; state kept in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `--port`: 0 (the system chooses) or 1024–65000 (room for the 40 after it).
fn port_or_zero(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) => Ok(0),
        Ok(p) if (1024..=65000).contains(&p) => Ok(p),
        _ => Err("a port from 1024 to 65000, or 0 for ports the system chooses".into()),
    }
}
