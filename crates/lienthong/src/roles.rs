//! `lienthong keys …`, `lienthong registry run`, `lienthong node run`: reads the TOML
//! configuration (the wire format of config lives here, at the edge), validates all of it
//! before starting, and hands typed configuration to the registry and gateway crates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use lienthong_core::MemberId;
use lienthong_gateway::backend::TableConfig;
use lienthong_gateway::node::{self, NodeConfig};
use lienthong_registry::Registry;
use lienthong_trust::{Ca, SigningKey};
use serde::{Deserialize, Serialize};

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create the registry CA (ca.crt, ca.key) — done once, by the registry operator.
    Ca {
        /// Instance name, e.g. VN.
        #[arg(long, default_value = "VN")]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a member's Ed25519 signing key (signing.key, secret) and its public key
    /// (public.key, for the registry).
    Member {
        #[arg(long)]
        out: PathBuf,
    },
    /// At the agency: create the node's TLS key (node.key, stays here), a certificate
    /// request (node.csr) and the joining request to send to the registry operator
    /// (request.toml: member id, name, node address, public key from public.key, the CSR).
    Request {
        /// The member subsystem the node acts for, e.g. VN/GOV/BHXH/SI.
        #[arg(long)]
        member: String,
        /// The agency's name as the registry lists it (default: the member id).
        #[arg(long)]
        name: Option<String>,
        /// Host names or IP addresses the node is reached at (repeatable).
        #[arg(long = "host", default_value = "127.0.0.1")]
        hosts: Vec<String>,
        /// Where other nodes reach this node's peer face (host:port), if it provides services.
        #[arg(long)]
        address: Option<String>,
        /// Directory of the member's keys (`keys member --out`); node.key, node.csr and
        /// request.toml are written here too.
        #[arg(long)]
        out: PathBuf,
    },
    /// At the registry: sign a joining request (`--request request.toml`: writes node.crt,
    /// ca.crt and member.toml, the registry entry for `registry apply --add`), or a bare
    /// certificate request (`--member` and `--csr`: writes the certificate to --out and
    /// prints its fingerprint).
    Sign {
        /// Directory with ca.crt and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// A joining request from `keys request`.
        #[arg(long, conflicts_with_all = ["member", "csr"])]
        request: Option<PathBuf>,
        /// The member the request must be for.
        #[arg(long, requires = "csr")]
        member: Option<String>,
        #[arg(long, requires = "member")]
        csr: Option<PathBuf>,
        /// With --request: the directory for node.crt, ca.crt and member.toml; with --csr:
        /// the certificate file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue a node TLS certificate and key together at the registry (node.crt, node.key);
    /// `request` + `sign` keep the key at the agency instead.
    Node {
        /// Directory with ca.crt and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The member subsystem the node acts for, e.g. VN/GOV/BCA/DANCU.
        #[arg(long)]
        member: String,
        /// Host names or IP addresses the node is reached at (repeatable).
        #[arg(long = "host", default_value = "127.0.0.1")]
        hosts: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

fn write_new(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Keys are private: created once (never overwritten), readable by the owner only.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "{} already exists or cannot be created; refusing to overwrite a key",
                path.display()
            )
        })?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A member's joining request (`request.toml`): what the registry needs to list it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    id: String,
    name: String,
    /// The member's public key (base64), its registry entry's `signing_key`.
    signing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    /// The node's certificate request (PEM).
    csr: String,
}

/// The registry CA from its directory (ca.crt, ca.key, and ca.name, which issuance needs to
/// rebuild the issuer).
fn load_ca(dir: &Path) -> Result<Ca> {
    let name = read(&dir.join("ca.name"))?.trim().to_owned();
    Ok(Ca::from_pem(
        &name,
        &read(&dir.join("ca.crt"))?,
        &read(&dir.join("ca.key"))?,
    )?)
}

pub fn keys(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Ca { name, out } => {
            let ca = Ca::generate(&name)?;
            write_new(&out.join("ca.key"), &ca.key_pem())?;
            write_new(&out.join("ca.crt"), &ca.cert_pem)?;
            write_new(&out.join("ca.name"), &format!("{name}\n"))?;
            println!(
                "registry CA {name}: {}/ca.crt (give to every node), {}/ca.key (keep secret)",
                out.display(),
                out.display()
            );
        }
        KeysCommand::Member { out } => {
            let key = SigningKey::generate();
            write_new(&out.join("signing.key"), &key.to_pem()?)?;
            write_new(&out.join("public.key"), &format!("{}\n", key.public_b64()))?;
            // The registry's member entry names the public key `signing_key`; the node's
            // own `signing_key` setting is the path of the secret one.
            println!(
                "public key (also in {}/public.key), for the registry's member entry:\n\
                 signing_key = \"{}\"\n\
                 secret key: {} (the node's signing_key setting; it never leaves the agency)",
                out.display(),
                key.public_b64(),
                out.join("signing.key").display()
            );
        }
        KeysCommand::Request {
            member,
            name,
            hosts,
            address,
            out,
        } => {
            let id = MemberId::parse(&member)?;
            if id.subsystem.is_none() {
                bail!("--member {member}: a node acts for a subsystem (INSTANCE/CLASS/MEMBER/SUBSYSTEM)");
            }
            if let Some(a) = &address {
                a.rsplit_once(':')
                    .and_then(|(h, p)| (!h.is_empty()).then_some(p))
                    .and_then(|p| p.parse::<u16>().ok())
                    .with_context(|| format!("--address {a}: expected host:port"))?;
            }
            let public_path = out.join("public.key");
            let public = read(&public_path)
                .with_context(|| {
                    format!(
                        "the member's public key: run `lienthong keys member --out {}` first",
                        out.display()
                    )
                })?
                .trim()
                .to_owned();
            SigningKey::from_pem(&read(&out.join("signing.key"))?)
                .ok()
                .filter(|k| k.public_b64() == public)
                .with_context(|| {
                    format!(
                        "{} does not match {}/signing.key",
                        public_path.display(),
                        out.display()
                    )
                })?;
            let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
            let (csr, key) = lienthong_trust::node_request(&member, &hosts)?;
            let request = JoinRequest {
                id: member.clone(),
                name: name.unwrap_or_else(|| member.clone()),
                signing_key: public,
                address,
                csr: csr.clone(),
            };
            write_new(&out.join("node.key"), &key)?;
            write_new(&out.join("node.csr"), &csr)?;
            write_new(
                &out.join("request.toml"),
                &format!(
                    "# Joining request of {member}: send this file to the registry operator \
                     (node.key and signing.key stay here).\n{}",
                    toml::to_string(&request)?
                ),
            )?;
            println!(
                "send {}/request.toml to the registry operator; keep node.key and signing.key here",
                out.display()
            );
        }
        KeysCommand::Sign {
            ca_dir,
            request,
            member,
            csr,
            out,
        } => {
            let ca = load_ca(&ca_dir)?;
            match (request, member, csr) {
                (Some(request), _, _) => {
                    let r: JoinRequest = parse_toml(&request)?;
                    MemberId::parse(&r.id).with_context(|| request.display().to_string())?;
                    lienthong_trust::check_public_key(&r.signing_key).with_context(|| {
                        format!("{}: signing_key is not a public key", request.display())
                    })?;
                    let cert = ca.sign_request(&r.csr, &r.id)?;
                    let fingerprint = lienthong_trust::cert_fingerprint(&cert)?;
                    let entry = lienthong_registry::Additions {
                        members: vec![lienthong_registry::Member {
                            id: r.id.clone(),
                            name: r.name,
                            signing_key: r.signing_key,
                            address: r.address,
                            cert_fingerprint: fingerprint.clone(),
                        }],
                        ..Default::default()
                    };
                    write_new(&out.join("node.crt"), &cert)?;
                    if !out.join("ca.crt").exists() {
                        write_new(&out.join("ca.crt"), &ca.cert_pem)?;
                    }
                    write_new(
                        &out.join("member.toml"),
                        &format!(
                            "# Registry entry of {}: lienthong registry apply --add this file\n{}",
                            r.id,
                            toml::to_string(&entry)?
                        ),
                    )?;
                    println!(
                        "{0}/node.crt and {0}/ca.crt go back to the agency; add {0}/member.toml \
                         to the registry (registry apply --add); cert_fingerprint = \"{fingerprint}\"",
                        out.display()
                    );
                }
                (None, Some(member), Some(csr)) => {
                    MemberId::parse(&member)?;
                    let cert = ca.sign_request(&read(&csr)?, &member)?;
                    write_new(&out, &cert)?;
                    println!(
                        "cert_fingerprint = \"{}\"",
                        lienthong_trust::cert_fingerprint(&cert)?
                    );
                }
                _ => bail!("keys sign needs --request FILE, or --member and --csr"),
            }
        }
        KeysCommand::Node {
            ca_dir,
            member,
            hosts,
            out,
        } => {
            MemberId::parse(&member)?;
            let ca = load_ca(&ca_dir)?;
            let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
            let (cert, key) = ca.issue(&member, &hosts)?;
            write_new(&out.join("node.key"), &key)?;
            write_new(&out.join("node.crt"), &cert)?;
            if !out.join("ca.crt").exists() {
                write_new(&out.join("ca.crt"), &ca.cert_pem)?;
            }
            println!(
                "cert_fingerprint = \"{}\"",
                lienthong_trust::cert_fingerprint(&cert)?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `registry.toml`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    listen: SocketAddr,
    /// The registry's Ed25519 key (from `lienthong keys member`); nodes pin its public half.
    signing_key: PathBuf,
    /// Registry state: `sqlite://FILE?mode=rwc` (default `registry.db` beside the config) or
    /// `postgres://…`.
    #[serde(default)]
    database_url: Option<String>,
    /// SHA-256 of the admin bearer token (`lienthong registry token`); absent: no admin API.
    #[serde(default)]
    admin_token_sha256: Option<String>,
    /// Or the file holding the admin token itself (`lienthong registry token --out`).
    #[serde(default)]
    admin_token_file: Option<PathBuf>,
    #[serde(default = "default_validity")]
    snapshot_validity_s: u64,
    /// Content stored on first start, when the store is empty.
    #[serde(default)]
    registry: Option<Registry>,
}

fn default_validity() -> u64 {
    3600
}

fn relative(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    toml::from_str(&read(path)?).with_context(|| format!("config {}", path.display()))
}

pub async fn registry_run(config: &Path) -> Result<ExitCode> {
    let file: RegistryFile = parse_toml(config)?;
    if file.snapshot_validity_s < 10 {
        bail!(
            "config {}: snapshot_validity_s must be at least 10",
            config.display()
        );
    }
    if let Some(seed) = &file.registry {
        seed.validate()
            .with_context(|| format!("config {}", config.display()))?;
    }
    if let Some(h) = &file.admin_token_sha256 {
        if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("config {}: admin_token_sha256 must be 64 hex digits (from `lienthong registry token`)", config.display());
        }
    }
    let admin_token_sha256 = match (file.admin_token_sha256, &file.admin_token_file) {
        (Some(_), Some(_)) => bail!(
            "config {}: admin_token_sha256 and admin_token_file: give one",
            config.display()
        ),
        (Some(h), None) => Some(h),
        (None, Some(f)) => {
            let token = read(&relative(config, f))?.trim().to_owned();
            if token.len() < 32 {
                bail!(
                    "config {}: admin_token_file {} holds {} characters; a token has at least 32 (`lienthong registry token --out`)",
                    config.display(),
                    f.display(),
                    token.len()
                );
            }
            Some(lienthong_trust::sha256_hex(token.as_bytes()))
        }
        (None, None) => None,
    };
    let key = SigningKey::from_pem(&read(&relative(config, &file.signing_key))?)?;
    let public = key.public_b64();
    let url = file.database_url.unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            relative(config, Path::new("registry.db")).display()
        )
    });
    let store = lienthong_registry::store::Store::connect(&url)
        .await
        .with_context(|| format!("config {}", config.display()))?;
    let app = lienthong_registry::server::app(lienthong_registry::server::Config {
        store,
        seed: file.registry,
        key,
        validity_s: file.snapshot_validity_s,
        admin_token_sha256,
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(file.listen)
        .await
        .with_context(|| format!("binding {}", file.listen))?;
    eprintln!(
        "registry listening on http://{} (pin registry_key = \"{public}\")",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// `lienthong registry token`: a new random admin token and the line for registry.toml.
pub fn registry_token(out: Option<&Path>) -> Result<ExitCode> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match out {
        Some(path) => {
            write_new(path, &format!("{token}\n"))?;
            println!(
                "token written to {} (give to the operators, keep secret)",
                path.display()
            );
        }
        None => println!("token (give to the operators, keep secret): {token}"),
    }
    println!(
        "admin_token_sha256 = \"{}\"",
        lienthong_trust::sha256_hex(token.as_bytes())
    );
    Ok(ExitCode::SUCCESS)
}

/// `lienthong registry apply`: replaces the registry content through the admin API.
pub async fn registry_apply(
    url: &str,
    token_file: &Path,
    content: Option<&Path>,
    additions: &[PathBuf],
) -> Result<ExitCode> {
    let token = read(token_file)?.trim().to_owned();
    let (method, path, body) = match content {
        Some(content) => {
            let registry: Registry = parse_toml(content)?;
            registry
                .validate()
                .with_context(|| format!("{}", content.display()))?;
            (
                hyper::Method::PUT,
                "registry",
                serde_json::to_vec(&registry)?,
            )
        }
        None => {
            let mut all = lienthong_registry::Additions::default();
            for f in additions {
                let a: lienthong_registry::Additions = parse_toml(f)?;
                all.members.extend(a.members);
                all.services.extend(a.services);
                all.agreements.extend(a.agreements);
            }
            if all.is_empty() {
                bail!("--add: the files hold no [[members]], [[services]] or [[agreements]]");
            }
            (
                hyper::Method::POST,
                "registry/additions",
                serde_json::to_vec(&all)?,
            )
        }
    };
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<hyper::body::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("{}/admin/{path}", url.trim_end_matches('/')))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))?;
    let response = client
        .request(request)
        .await
        .with_context(|| format!("registry at {url}"))?;
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await?
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if !status.is_success() {
        bail!(
            "registry refused the content ({status}): {}",
            answer["error"].as_str().unwrap_or("")
        );
    }
    println!("published registry version {}", answer["version"]);
    Ok(ExitCode::SUCCESS)
}

/// `node.toml`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    member: String,
    client_listen: SocketAddr,
    peer_listen: SocketAddr,
    admin_listen: SocketAddr,
    signing_key: PathBuf,
    ca_cert: PathBuf,
    tls_cert: PathBuf,
    tls_key: PathBuf,
    registry_url: String,
    /// The registry's public key (base64), pinned…
    #[serde(default)]
    registry_key: Option<String>,
    /// …or the file holding it (the registry's public.key).
    #[serde(default)]
    registry_key_file: Option<PathBuf>,
    #[serde(default = "d_poll")]
    registry_poll_ms: u64,
    #[serde(default = "d_timeout")]
    request_timeout_ms: u64,
    #[serde(default = "d_body")]
    body_bytes_max: usize,
    /// Bytes of bodies held at once over all exchanges (default 256 MiB).
    #[serde(default = "d_inflight")]
    inflight_body_bytes_max: usize,
    #[serde(default = "d_window")]
    replay_window_s: u64,
    #[serde(default = "d_entries")]
    replay_entries_max: usize,
    #[serde(default)]
    tables: Vec<TableFile>,
    #[serde(default)]
    rest: Vec<RestFile>,
    /// The message log; default `MEMBER.messages.db` beside the config (slashes as `_`).
    #[serde(default)]
    log_path: Option<PathBuf>,
    /// Keep response bodies in the log (apart from the tree); default: metadata only.
    #[serde(default)]
    log_bodies: bool,
    /// Services (ids) whose bodies are kept even when `log_bodies` is off.
    #[serde(default)]
    log_bodies_services: Vec<String>,
    /// Delete bodies older than this many days (the entries and their proofs stay).
    #[serde(default)]
    log_bodies_retention_days: Option<u32>,
    /// Move entries older than `log_archive_after_days` into archive files in this folder.
    #[serde(default)]
    log_archive_dir: Option<PathBuf>,
    #[serde(default)]
    log_archive_after_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestFile {
    service: String,
    base_url: String,
}

fn d_poll() -> u64 {
    30_000
}
fn d_timeout() -> u64 {
    10_000
}
fn d_body() -> usize {
    16 << 20
}
fn d_inflight() -> usize {
    256 << 20
}
fn d_window() -> u64 {
    300
}
fn d_entries() -> usize {
    1_000_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    service: String,
    dataset: String,
    database_url: String,
    table: String,
    #[serde(default)]
    filters: Vec<String>,
    /// Table column per dataset field where the table names it otherwise.
    #[serde(default)]
    columns: std::collections::BTreeMap<String, String>,
    #[serde(default = "d_conns")]
    connections_max: u32,
    /// Also serve `/changes` from the `lt_changes` log beside the table.
    #[serde(default)]
    changes: bool,
}

fn d_conns() -> u32 {
    8
}

pub async fn node_run(config: &Path) -> Result<ExitCode> {
    let f: NodeFile = parse_toml(config)?;
    let ctx = || format!("config {}", config.display());
    let member = MemberId::parse(&f.member).with_context(ctx)?;
    if member.subsystem.is_none() {
        bail!(
            "config {}: member must name a subsystem (INSTANCE/CLASS/MEMBER/SUBSYSTEM)",
            config.display()
        );
    }
    let registry_key = match (&f.registry_key, &f.registry_key_file) {
        (Some(k), None) => k.trim().to_owned(),
        (None, Some(p)) => read(&relative(config, p))?.trim().to_owned(),
        _ => bail!(
            "config {}: give the registry's public key as registry_key, or registry_key_file (its public.key)",
            config.display()
        ),
    };
    lienthong_trust::check_public_key(&registry_key)
        .with_context(|| format!("config {}: registry key", config.display()))?;
    if !f.registry_url.starts_with("http://") && !f.registry_url.starts_with("https://") {
        bail!(
            "config {}: registry_url must start with http:// or https://",
            config.display()
        );
    }
    if f.request_timeout_ms == 0
        || f.body_bytes_max == 0
        || f.replay_window_s == 0
        || f.replay_entries_max == 0
    {
        bail!("config {}: request_timeout_ms, body_bytes_max, replay_window_s and replay_entries_max must be positive", config.display());
    }
    let mut tables = Vec::new();
    for t in f.tables {
        let dataset = lienthong_dictionary::catalog::dataset(&t.dataset).with_context(|| {
            format!(
                "{}: table service {}: unknown dataset {}",
                ctx(),
                t.service,
                t.dataset
            )
        })?;
        tables.push(TableConfig {
            code: t.service,
            dataset,
            database_url: t.database_url,
            table: t.table,
            filters: t.filters,
            columns: t.columns,
            connections_max: t.connections_max,
            changes: t.changes,
        });
    }
    let node = node::start(NodeConfig {
        member,
        client_listen: f.client_listen,
        peer_listen: f.peer_listen,
        admin_listen: f.admin_listen,
        signing_key: SigningKey::from_pem(&read(&relative(config, &f.signing_key))?)?,
        ca_pem: read(&relative(config, &f.ca_cert))?,
        cert_pem: read(&relative(config, &f.tls_cert))?,
        key_pem: read(&relative(config, &f.tls_key))?,
        registry_url: f.registry_url,
        registry_key,
        registry_poll_ms: f.registry_poll_ms,
        request_timeout_ms: f.request_timeout_ms,
        body_bytes_max: f.body_bytes_max,
        inflight_body_bytes_max: f.inflight_body_bytes_max,
        replay_window_s: f.replay_window_s,
        replay_entries_max: f.replay_entries_max,
        tables,
        // A file path (SQLite, relative to the config) or a `postgres://` URL.
        log_path: match f.log_path.as_ref().and_then(|p| p.to_str()) {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                url.to_owned()
            }
            _ => relative(
                config,
                &f.log_path.clone().unwrap_or_else(|| {
                    PathBuf::from(format!("{}.messages.db", f.member.replace('/', "_")))
                }),
            )
            .display()
            .to_string(),
        },
        log_bodies: f.log_bodies,
        log_bodies_services: f.log_bodies_services,
        log_bodies_retention_days: f.log_bodies_retention_days,
        log_archive_dir: f
            .log_archive_dir
            .as_ref()
            .map(|d| relative(config, d).display().to_string()),
        log_archive_after_days: f.log_archive_after_days,
        rest: f
            .rest
            .into_iter()
            .map(|r| node::RestConfig {
                code: r.service,
                base_url: r.base_url,
            })
            .collect(),
    })
    .await
    .map_err(anyhow::Error::msg)
    .with_context(ctx)?;
    eprintln!(
        "node {} : client face http://{}  peer face https://{}",
        f.member, node.client_addr, node.peer_addr
    );
    let _ = tokio::signal::ctrl_c().await;
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Re-derive every entry hash and checkpoint of a node's message log and check every
    /// checkpoint signature; exit 0 when intact, 1 when anything was changed.
    Verify {
        /// The node's message log (SQLite file, or a `postgres://` URL).
        #[arg(long)]
        db: PathBuf,
        /// The node member's public signing key (base64), as the registry lists it.
        #[arg(long)]
        key: String,
    },
    /// Export one exchange with its signatures and proofs as a self-contained evidence file.
    Evidence {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        key: String,
        /// The X-Road-Id of the exchange.
        message_id: String,
        /// Where to write it (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check an evidence file offline against the log's pinned public key.
    VerifyEvidence {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        key: String,
    },
    /// Move old entries (and the bodies only they reference) into a self-verifying archive
    /// file; the log keeps their leaf hashes, so it still verifies, and drops their content.
    #[command(after_long_help = "Example:
  lienthong log archive --db node.messages.db --older-than-days 365 --out-dir archive/
  lienthong log verify-archive --file archive/log-000000000000-000000120000.jsonl --key KEY")]
    Archive {
        #[arg(long)]
        db: PathBuf,
        /// Entries under checkpoints older than this many days.
        #[arg(long, conflicts_with = "through")]
        older_than_days: Option<u32>,
        /// Entries before this index (rounded down to a checkpoint).
        #[arg(long)]
        through: Option<u64>,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Check an archive file offline against the log's pinned public key.
    VerifyArchive {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        key: String,
    },
    /// Delete bodies kept longer than a number of days (the entries and their proofs stay).
    PruneBodies {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        older_than_days: u32,
    },
}

fn days_ago_ms(days: u32) -> u64 {
    lienthong_core::time::now_ms().saturating_sub(u64::from(days) * 86_400_000)
}

pub async fn log(command: LogCommand) -> Result<ExitCode> {
    use lienthong_gateway::msglog;
    match command {
        LogCommand::Verify { db, key } => {
            match msglog::verify(&db.display().to_string(), &key).await {
                Ok(r) => {
                    println!(
                        "intact: {} entries, {} signed checkpoints{}",
                        r.entries,
                        r.checkpoints,
                        if r.archived > 0 {
                            format!(
                                ", {} archived (check the archive files with log verify-archive)",
                                r.archived
                            )
                        } else {
                            String::new()
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) if e.starts_with("no message log") => bail!(e),
                // A signature that fails is a wrong key as often as an altered log: say so.
                Err(e) if e.contains("signature does not verify with the given") => {
                    println!(
                        "does not verify with this key: {e}; check that --key is the member's \
                         public key as the registry lists it (its public.key) — with that key, \
                         the log was altered"
                    );
                    Ok(ExitCode::from(1))
                }
                Err(e) => {
                    println!("TAMPERED: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        LogCommand::Evidence {
            db,
            key,
            message_id,
            out,
        } => {
            let doc = msglog::evidence(&db.display().to_string(), &message_id, &key)
                .await
                .map_err(anyhow::Error::msg)?;
            let text = serde_json::to_string_pretty(&doc)?;
            match out {
                Some(path) => std::fs::write(&path, text + "\n")
                    .with_context(|| format!("writing {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Archive {
            db,
            older_than_days,
            through,
            out_dir,
        } => {
            let until = match (older_than_days, through) {
                (Some(d), None) => msglog::ArchiveUntil::Before(days_ago_ms(d)),
                (None, Some(n)) => msglog::ArchiveUntil::Size(n),
                _ => bail!("give --older-than-days or --through"),
            };
            match msglog::archive(&db.display().to_string(), until, &out_dir)
                .await
                .map_err(anyhow::Error::msg)?
            {
                Some(r) => println!(
                    "archived entries {}..{} ({} bodies) to {}",
                    r.from,
                    r.to,
                    r.bodies,
                    r.file.display()
                ),
                None => println!("nothing to archive"),
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::VerifyArchive { file, key } => match msglog::verify_archive(&file, &key) {
            Ok((from, to)) => {
                println!("valid: entries {from}..{to} under a signed checkpoint");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("INVALID: {e}");
                Ok(ExitCode::from(1))
            }
        },
        LogCommand::PruneBodies {
            db,
            older_than_days,
        } => {
            let n = msglog::prune_bodies(&db.display().to_string(), days_ago_ms(older_than_days))
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{n} bodies deleted");
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::VerifyEvidence { file, key } => {
            let doc: serde_json::Value = serde_json::from_str(&read(&file)?)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            match msglog::verify_evidence(&doc, &key) {
                Ok(record) => {
                    println!(
                        "valid: {} {} → {} for purpose {:?} by officer {:?}, status {}, subjects {}",
                        record["message_id"], record["client"], record["service"], record["purpose"], record["user_id"], record["status"], record["data_subjects"]
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("INVALID: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
