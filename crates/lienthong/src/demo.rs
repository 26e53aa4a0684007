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
use lienthong_gateway::node::{self, NodeConfig, RunningNode};
use lienthong_registry::{Agreement, Member, Registry, Service};
use lienthong_sync::{Pipeline, PipelineConfig, SourceConfig, StatusReader};
use lienthong_trust::{Ca, SigningKey};
use rand::{Rng, SeedableRng};

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
    /// First port; the demo uses the next 40 on 127.0.0.1.
    #[arg(long, default_value_t = 7400, value_parser = clap::value_parser!(u16).range(1024..=65000))]
    port: u16,
    /// Delete the data directory and start over.
    #[arg(long)]
    fresh: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

/// One agency in the demo: member id, display name, and the dataset it publishes (if any).
struct Agency {
    id: &'static str,
    name: &'static str,
    publishes: Option<(&'static str, &'static Dataset)>,
}

const AGENCIES: &[Agency] = &[
    Agency {
        id: "VN/GOV/BCA/DANCU",
        name: "Bộ Công an — CSDL quốc gia về dân cư",
        publishes: Some(("citizen", &catalog::CITIZEN)),
    },
    Agency {
        id: "VN/GOV/BHXH/SI",
        name: "Bảo hiểm xã hội Việt Nam",
        publishes: Some(("participants", &catalog::SOCIAL_INSURANCE)),
    },
    Agency {
        id: "VN/GOV/BYT/BHYT",
        name: "Bộ Y tế — thẻ bảo hiểm y tế",
        publishes: Some(("cards", &catalog::HEALTH_INSURANCE)),
    },
    Agency {
        id: "VN/GOV/BNNMT/DATDAI",
        name: "Bộ Nông nghiệp và Môi trường — đất đai",
        publishes: Some(("parcels", &catalog::LAND_PARCEL)),
    },
    Agency {
        id: "VN/GOV/BGDDT/HOCSINH",
        name: "Bộ Giáo dục và Đào tạo",
        publishes: Some(("enrolments", &catalog::EDUCATION_ENROLMENT)),
    },
    Agency {
        id: "VN/LOCAL/HANOI/UBND",
        name: "UBND Thành phố Hà Nội",
        publishes: None,
    },
    Agency {
        id: "VN/LOCAL/HCM/UBND",
        name: "UBND Thành phố Hồ Chí Minh",
        publishes: None,
    },
    Agency {
        id: "VN/GOV/TTDLQG/CENTER",
        name: "Trung tâm Dữ liệu quốc gia",
        publishes: None,
    },
];

/// Hop by hop: Hà Nội's communes register civil-status events; the city's replica keeps
/// them with a change log, its node publishes them, and the center subscribes through its
/// own node.
struct Hop {
    communes_db: &'static str,
    communes_table: &'static str,
    province: &'static str,
    province_db: &'static str,
    service: &'static str,
    center: &'static str,
    purpose: &'static str,
}

const HOP: Hop = Hop {
    communes_db: "VN_LOCAL_HANOI_communes",
    communes_table: "ho_tich",
    province: "VN/LOCAL/HANOI/UBND",
    province_db: "VN_LOCAL_HANOI_UBND-replica",
    service: "civil-status",
    center: "VN/GOV/TTDLQG/CENTER",
    purpose: "national-data-center",
};

fn agreement(
    consumer: &str,
    service: &str,
    fields: &[&str],
    purpose: &str,
    basis: &str,
) -> Agreement {
    Agreement {
        consumer: consumer.into(),
        service: service.into(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
        purposes: vec![purpose.into()],
        legal_basis: basis.into(),
        valid_from: "2025-01-01".into(),
        valid_to: "2030-12-31".into(),
    }
}

fn agreements() -> Vec<Agreement> {
    let dancu = "VN/GOV/BCA/DANCU/citizen";
    vec![
        agreement(
            "VN/GOV/BHXH/SI",
            dancu,
            &["personal_id", "full_name", "birth_date", "sex", "address"],
            "insurance-enrolment",
            "Luật Bảo hiểm xã hội 2024",
        ),
        agreement(
            "VN/GOV/BYT/BHYT",
            dancu,
            &["*"],
            "health-insurance-card",
            "Luật Bảo hiểm y tế",
        ),
        agreement(
            "VN/GOV/BNNMT/DATDAI",
            dancu,
            &["personal_id", "full_name", "address"],
            "land-registration",
            "Luật Đất đai 2024",
        ),
        agreement(
            "VN/GOV/BGDDT/HOCSINH",
            dancu,
            &["personal_id", "full_name", "birth_date"],
            "school-enrolment",
            "Luật Giáo dục 2019",
        ),
        agreement(
            "VN/LOCAL/HANOI/UBND",
            dancu,
            &["*", "ethnicity"],
            "residence-management",
            "Luật Cư trú 2020",
        ),
        agreement(
            "VN/LOCAL/HCM/UBND",
            dancu,
            &["*"],
            "residence-management",
            "Luật Cư trú 2020",
        ),
        agreement(
            "VN/GOV/TTDLQG/CENTER",
            "VN/GOV/BHXH/SI/participants",
            &["*"],
            "national-data-center",
            "NĐ 278/2025/NĐ-CP",
        ),
        agreement(
            "VN/LOCAL/HANOI/UBND",
            "VN/GOV/BNNMT/DATDAI/parcels",
            &["*"],
            "land-administration",
            "Luật Đất đai 2024",
        ),
        agreement(
            HOP.center,
            &format!("{}/{}", HOP.province, HOP.service),
            &["*"],
            HOP.purpose,
            "Luật Hộ tịch 2014; NĐ 278/2025/NĐ-CP",
        ),
    ]
}

struct Ports {
    base: u16,
}

impl Ports {
    fn registry(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.base))
    }
    /// (client, peer, admin) of agency `i`.
    fn node(&self, i: usize) -> (SocketAddr, SocketAddr, SocketAddr) {
        let p = self.base + 10 + 3 * i as u16;
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        (a(p), a(p + 1), a(p + 2))
    }
}

fn slug(id: &str) -> String {
    id.replace('/', "_")
}

/// Loads a generated CSV into a SQLite table with the dataset's columns (raw, as the agency
/// holds it: the dictionary normalises on the way out).
async fn load_table(
    csv_path: &Path,
    db_url: &str,
    table: &str,
    dataset: &Dataset,
    province: Option<&str>,
) -> Result<u64> {
    let pool = sqlx::AnyPool::connect(db_url).await?;
    let cols: Vec<String> = dataset
        .fields
        .iter()
        .map(|f| format!("{} TEXT", f.name))
        .collect();
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {table} ({})",
        cols.join(", ")
    ))
    .execute(&pool)
    .await?;
    if dataset.field("updated_at").is_none() {
        sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN updated_at TEXT"))
            .execute(&pool)
            .await?;
    }
    let mut reader = csv::Reader::from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let names: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let province_at = names.iter().position(|n| n == "province_code");
    let with_updated = if dataset.field("updated_at").is_none() {
        ", updated_at"
    } else {
        ""
    };
    let mut rows = 0u64;
    let mut tx = pool.begin().await?;
    for record in reader.records() {
        let record = record?;
        if let (Some(p), Some(i)) = (province, province_at) {
            if record.get(i) != Some(p) {
                continue;
            }
        }
        let mut values: Vec<String> = record
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect();
        if !with_updated.is_empty() {
            values.push("'2025-07-01T00:00:00+07:00'".into());
        }
        sqlx::query(&format!(
            "INSERT INTO {table} ({}{with_updated}) VALUES ({})",
            names.join(", "),
            values.join(", ")
        ))
        .execute(&mut *tx)
        .await?;
        rows += 1;
    }
    tx.commit().await?;
    pool.close().await;
    Ok(rows)
}

fn read_or<T>(
    path: &Path,
    make: impl FnOnce() -> Result<(T, String)>,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text),
        Err(_) => {
            let (value, text) = make()?;
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(value)
        }
    }
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let dir = &args.data_dir;
    if args.fresh {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::fs::create_dir_all(dir.join("keys"))
        .with_context(|| format!("creating {}", dir.display()))?;
    sqlx::any::install_default_drivers();
    let ports = Ports { base: args.port };
    let db = |name: &str| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("{name}.db")).display()
        )
    };

    // 1. Data: generated once, kept.
    let synth_dir = dir.join("synth");
    if !synth_dir.join("truth.json").exists() {
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
        for a in AGENCIES {
            if let Some((table, dataset)) = a.publishes {
                let n = load_table(
                    &synth_dir.join(format!("{}.csv", dataset.name)),
                    &db(&slug(a.id)),
                    table,
                    dataset,
                    None,
                )
                .await?;
                eprintln!(
                    "  {:<24} {n:>8} rows → {}",
                    a.id,
                    dir.join(format!("{}.db", slug(a.id))).display()
                );
            }
        }
    }

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
                })
            })
            .chain([Service {
                id: format!("{}/{}", HOP.province, HOP.service),
                dataset: catalog::CIVIL_STATUS_EVENT.name.into(),
                personal_data: true,
            }])
            .collect(),
        agreements: agreements(),
        revoked: vec![],
    };
    let registry_content = registry.clone();
    let store = lienthong_registry::store::Store::connect(&db("registry")).await?;
    let app = lienthong_registry::server::app(lienthong_registry::server::Config {
        store,
        seed: Some(registry),
        key: SigningKey::from_pem(&registry_key.to_pem()?)?,
        validity_s: 3600,
        admin_token_sha256: None,
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(ports.registry())
        .await
        .with_context(|| format!("binding {} (pass --port)", ports.registry()))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

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

    // 4. The nodes.
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (i, (a, (key, (cert, tls_key)))) in AGENCIES.iter().zip(&identities).enumerate() {
        let (client, peer, admin) = ports.node(i);
        let tables = a
            .publishes
            .map(|(code, dataset)| TableConfig {
                code: code.into(),
                dataset,
                database_url: db(&slug(a.id)),
                table: code.into(),
                filters: vec!["province_code".into()],
                columns: Default::default(),
                connections_max: 4,
                changes: false,
            })
            .into_iter()
            .chain((a.id == HOP.province).then(|| TableConfig {
                code: HOP.service.into(),
                dataset: &catalog::CIVIL_STATUS_EVENT,
                database_url: db(HOP.province_db),
                table: catalog::CIVIL_STATUS_EVENT.name.into(),
                filters: vec!["province_code".into()],
                columns: Default::default(),
                connections_max: 4,
                changes: true,
            }))
            .collect();
        nodes.push(
            node::start(NodeConfig {
                member: MemberId::parse(a.id)?,
                client_listen: client,
                peer_listen: peer,
                admin_listen: admin,
                signing_key: SigningKey::from_pem(&key.to_pem()?)?,
                ca_pem: ca.cert_pem.clone(),
                cert_pem: cert.clone(),
                key_pem: tls_key.clone(),
                registry_url: format!("http://{}", ports.registry()),
                registry_key: registry_key.public_b64(),
                registry_poll_ms: 5_000,
                request_timeout_ms: 5_000,
                body_bytes_max: 4 << 20,
                inflight_body_bytes_max: 64 << 20,
                replay_window_s: 300,
                replay_entries_max: 1_000_000,
                tables,
                log_path: dir
                    .join(format!("{}.messages.db", slug(a.id)))
                    .display()
                    .to_string(),
                log_bodies: false,
                log_bodies_services: vec![],
                log_bodies_retention_days: None,
                log_archive_dir: None,
                log_archive_after_days: None,
                rest: vec![],
            })
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
        StatusReader::open(&db("center-replica"), center_view).await?,
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
    let dashboard = lienthong_web::router(lienthong_web::Sources::new(
        registry_content,
        logs,
        sync_views,
        health,
    ));
    let dashboard_addr = SocketAddr::from(([127, 0, 0, 1], args.port + 1));
    let dashboard_listener = tokio::net::TcpListener::bind(dashboard_addr)
        .await
        .with_context(|| format!("binding the dashboard {dashboard_addr}"))?;
    tokio::spawn(async move { axum::serve(dashboard_listener, dashboard).await });
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
    let clients: Vec<SocketAddr> = (0..AGENCIES.len()).map(|i| ports.node(i).0).collect();
    let workload_db = db(&slug(AGENCIES[1].id));
    tokio::spawn(workload(
        clients.clone(),
        sample,
        workload_db,
        db(HOP.communes_db),
        args.seed,
    ));

    let bhxh = clients[1];
    let byt = clients[2];
    println!(
        "lienthong demo is running: {} nodes, registry http://{}",
        nodes.len(),
        ports.registry()
    );
    println!();
    println!("Dashboard of the National Data Center: http://{dashboard_addr}/  (English: http://{dashboard_addr}/?lang=en)");
    println!();
    for (i, a) in AGENCIES.iter().enumerate() {
        let (c, _, adm) = ports.node(i);
        println!(
            "  {:<24} client http://{c}  metrics http://{adm}/metrics",
            a.id
        );
    }
    println!();
    println!("Try (an X-Road REST call through BHXH's node to the population register):");
    println!("  curl -s -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: insurance-enrolment' http://{bhxh}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}");
    println!("Refused — the purpose is not in BHXH's agreement:");
    println!("  curl -s -i -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: marketing' http://{bhxh}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}");
    println!("Field-masked — the health ministry's agreement says \"*\", so sensitive fields show as ***:");
    println!("  curl -s -H 'X-Road-Client: VN/GOV/BYT/BHYT' -H 'X-Lienthong-Purpose: health-insurance-card' http://{byt}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}");
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

/// A `sync.toml` describing the demo's pipelines, so `lienthong sync status` can read them.
fn write_sync_status_config(dir: &Path, center_client: SocketAddr) -> Result<PathBuf> {
    let abs = std::fs::canonicalize(dir)?;
    let db = |name: &str| {
        format!(
            "sqlite://{}?mode=rwc",
            abs.join(format!("{name}.db")).display()
        )
    };
    let mut text = format!("replica_url = \"{}\"\n", db("center-replica"));
    for a in AGENCIES {
        if let Some((table, dataset)) = a.publishes {
            let dataset = dataset.name;
            text.push_str(&format!("\n[[pipelines]]\nname = \"{}/{table}\"\ndataset = \"{dataset}\"\nsource_url = \"{}\"\nsource_table = \"{table}\"\n", a.id, db(&slug(a.id))));
        }
    }
    text.push_str(&format!(
        "\n[[pipelines]]\nname = \"{p}/{s}\"\ndataset = \"{d}\"\nsource = \"node\"\nnode_url = \"http://{center_client}\"\nservice = \"{p}/{s}\"\nclient = \"{c}\"\npurpose = \"{purpose}\"\n",
        p = HOP.province,
        s = HOP.service,
        d = catalog::CIVIL_STATUS_EVENT.name,
        c = HOP.center,
        purpose = HOP.purpose
    ));
    let path = abs.join("sync.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Lookups with purposes (a few refused on purpose), and agency updates that sync carries.
async fn workload(
    clients: Vec<SocketAddr>,
    sample: Vec<String>,
    bhxh_db: String,
    communes_db: String,
    seed: u64,
) {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let calls = [
        (1, "VN/GOV/BHXH/SI", "insurance-enrolment"),
        (2, "VN/GOV/BYT/BHYT", "health-insurance-card"),
        (5, "VN/LOCAL/HANOI/UBND", "residence-management"),
        (4, "VN/GOV/BGDDT/HOCSINH", "school-enrolment"),
        (1, "VN/GOV/BHXH/SI", "marketing"),
        (7, "VN/GOV/TTDLQG/CENTER", "national-data-center"),
    ];
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        tick += 1;
        if sample.is_empty() {
            continue;
        }
        let pid = &sample[rng.gen_range(0..sample.len())];
        let (i, member, purpose) = calls[rng.gen_range(0..calls.len())];
        let uri = format!(
            "http://{}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}",
            clients[i]
        );
        if let Ok(req) = hyper::Request::get(uri)
            .header("X-Road-Client", member)
            .header("X-Lienthong-Purpose", purpose)
            .header("X-Road-UserId", "VN-DEMO-OFFICER")
            .body(Empty::new())
        {
            let _ = client.request(req).await;
        }
        if tick.is_multiple_of(8) {
            // The wall clock in Vietnam time: later than every earlier update, across runs.
            let now = lienthong_registry::server::now_s() as i64;
            let day = lienthong_core::vietnam_date(now);
            let secs = (now + lienthong_core::VIETNAM_UTC_OFFSET_S).rem_euclid(86_400);
            let ts = format!(
                "{day}T{:02}:{:02}:{:02}+07:00",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            );
            if let Ok(pool) = sqlx::AnyPool::connect(&bhxh_db).await {
                let _ = sqlx::query("UPDATE participants SET updated_at = ?, status = CASE status WHEN 'active' THEN 'suspended' ELSE 'active' END WHERE insurance_no = (SELECT insurance_no FROM participants ORDER BY random() LIMIT 1)").bind(ts.clone()).execute(&pool).await;
                pool.close().await;
            }
            // A commune of Hà Nội registers a birth: commune → city → center.
            if let Ok(pool) = sqlx::AnyPool::connect(&communes_db).await {
                let _ = sqlx::query("INSERT INTO ho_tich (event_id, event_type, personal_id, full_name, event_date, province_code, commune_code, registered_at, updated_at) VALUES (?, 'birth', ?, 'Nguyễn Minh Khang', ?, '01', '00004', ?, ?)")
                    .bind(format!("HT{now}{:04}", tick % 10_000))
                    .bind(pid.clone())
                    .bind(day.to_string())
                    .bind(ts.clone())
                    .bind(ts)
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
    }
}
