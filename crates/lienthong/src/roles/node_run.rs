//! `lienthong node run`: the node's configuration, checked in full before it starts.

use super::*;

/// `node.toml`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeFile {
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
    /// Purpose of calls whose client sends none, by service id (`[default_purposes]`).
    #[serde(default)]
    default_purposes: std::collections::HashMap<String, String>,
    /// Connections each face holds open at once (default 4096).
    #[serde(default = "d_connections")]
    connections_max: usize,
    /// Calls one consumer member may have in progress here at once (default 64).
    #[serde(default = "d_consumer_calls")]
    consumer_calls_max: usize,
    /// Calls per second one consumer member may make here (default 0: no limit).
    #[serde(default)]
    consumer_rate_per_s: u32,
    /// How information systems authenticate on the client face (default NOAUTH: plain HTTP,
    /// loopback only).
    #[serde(default)]
    client_auth: Option<ClientAuthFile>,
    /// The message-log key (`keys log`): signs the log's checkpoints for witnesses, apart
    /// from the member key. Without it the node's log is not witnessed.
    #[serde(default)]
    log_key: Option<PathBuf>,
    /// On the node the registry names as witness: its cosigning key (`keys witness`).
    #[serde(default)]
    witness_key: Option<PathBuf>,
    /// How often the latest checkpoint is submitted to the witness (default 10 s).
    #[serde(default = "d_witness_every")]
    witness_every_ms: u64,
    /// E-documents issued from this node's tables (`[documents]`, docs/documents.md).
    #[serde(default)]
    documents: Option<DocumentsFile>,
}

/// `[documents]`: where the center publishes this node's status list, and the kinds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DocumentsFile {
    status_base: String,
    kinds: Vec<DocumentKindFile>,
}

/// `[[documents.kinds]]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DocumentKindFile {
    kind: String,
    /// Default `urn:vn:lienthong:vct:<kind>`.
    #[serde(default)]
    vct: Option<String>,
    name_vi: String,
    name_en: String,
    table: String,
    subject_field: String,
    claims: Vec<String>,
    #[serde(default = "d_valid_days")]
    valid_days: u32,
}

fn d_valid_days() -> u32 {
    365
}

fn documents(f: Option<&DocumentsFile>) -> Option<lienthong_gateway::documents::DocumentsConfig> {
    let f = f?;
    Some(lienthong_gateway::documents::DocumentsConfig {
        status_base: f.status_base.clone(),
        kinds: f
            .kinds
            .iter()
            .map(|k| lienthong_gateway::documents::DocumentKind {
                kind: k.kind.clone(),
                vct: k
                    .vct
                    .clone()
                    .unwrap_or_else(|| format!("urn:vn:lienthong:vct:{}", k.kind)),
                name_vi: k.name_vi.clone(),
                name_en: k.name_en.clone(),
                table: k.table.clone(),
                subject_field: k.subject_field.clone(),
                claims: k.claims.clone(),
                valid_days: k.valid_days,
            })
            .collect(),
    })
}

fn d_witness_every() -> u64 {
    10_000
}

/// `[client_auth]`: X-Road's connection types.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientAuthFile {
    /// `NOAUTH`, `SSLNOAUTH` or `SSLAUTH`.
    mode: String,
    /// The certificate and key the client face presents (default: the node's own).
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
    /// SSLAUTH: the information systems allowed, each pinned by its certificate.
    #[serde(default)]
    systems: Vec<SystemFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SystemFile {
    name: String,
    /// The system's certificate (PEM)…
    #[serde(default)]
    cert: Option<PathBuf>,
    /// …or its SHA-256 fingerprint (64 hex digits).
    #[serde(default)]
    fingerprint: Option<String>,
}

/// The client face's authentication from `[client_auth]`, every file read and checked now.
fn client_auth(
    config: &Path,
    f: Option<&ClientAuthFile>,
    node_cert: &Path,
    node_key: &Path,
) -> Result<node::ClientAuth> {
    let Some(a) = f else {
        return Ok(node::ClientAuth::NoAuth);
    };
    let ctx = |m: String| anyhow::anyhow!("config {}: [client_auth] {m}", config.display());
    let cert_pem = read(&relative(
        config,
        a.tls_cert.as_deref().unwrap_or(node_cert),
    ))?;
    let key_pem = read(&relative(config, a.tls_key.as_deref().unwrap_or(node_key)))?;
    let mut systems = Vec::new();
    for s in &a.systems {
        let fingerprint = match (&s.cert, &s.fingerprint) {
            (Some(c), None) => lienthong_trust::cert_fingerprint(&read(&relative(config, c))?)
                .map_err(|e| ctx(format!("system {}: {e}", s.name)))?,
            (None, Some(f)) if f.len() == 64 && f.bytes().all(|b| b.is_ascii_hexdigit()) => {
                f.to_ascii_lowercase()
            }
            _ => {
                return Err(ctx(format!(
                    "system {:?}: give its certificate as cert, or its fingerprint (64 hex digits)",
                    s.name
                )))
            }
        };
        if s.name.is_empty()
            || systems
                .iter()
                .any(|x: &node::ClientSystem| x.name == s.name)
        {
            return Err(ctx(format!(
                "system names must be given and distinct ({:?})",
                s.name
            )));
        }
        systems.push(node::ClientSystem {
            name: s.name.clone(),
            fingerprint,
        });
    }
    match a.mode.as_str() {
        "NOAUTH" if a.systems.is_empty() => Ok(node::ClientAuth::NoAuth),
        "SSLNOAUTH" if a.systems.is_empty() => {
            Ok(node::ClientAuth::SslNoAuth { cert_pem, key_pem })
        }
        "NOAUTH" | "SSLNOAUTH" => Err(ctx(format!(
            "systems are registered only under mode = \"SSLAUTH\", not {}",
            a.mode
        ))),
        "SSLAUTH" if !systems.is_empty() => Ok(node::ClientAuth::SslAuth {
            cert_pem,
            key_pem,
            systems,
        }),
        "SSLAUTH" => Err(ctx(
            "SSLAUTH needs at least one [[client_auth.systems]] (lienthong keys client)".into(),
        )),
        other => Err(ctx(format!(
            "mode {other:?}: expected NOAUTH, SSLNOAUTH or SSLAUTH"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RestFile {
    service: String,
    base_url: String,
}

pub(super) fn d_connections() -> usize {
    4096
}

pub(super) fn d_consumer_calls() -> usize {
    64
}

pub(super) fn d_poll() -> u64 {
    30_000
}

pub(super) fn d_timeout() -> u64 {
    10_000
}

pub(super) fn d_body() -> usize {
    16 << 20
}

pub(super) fn d_inflight() -> usize {
    256 << 20
}

pub(super) fn d_window() -> u64 {
    300
}

pub(super) fn d_entries() -> usize {
    1_000_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TableFile {
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

pub(super) fn d_conns() -> u32 {
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
        || f.connections_max == 0
        || f.consumer_calls_max == 0
        || f.body_bytes_max == 0
        || f.replay_window_s == 0
        || f.replay_entries_max == 0
    {
        bail!("config {}: request_timeout_ms, connections_max, consumer_calls_max, body_bytes_max, replay_window_s and replay_entries_max must be positive", config.display());
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
    let client_auth = client_auth(config, f.client_auth.as_ref(), &f.tls_cert, &f.tls_key)?;
    let client_mode = client_auth.mode();
    let mut sockets = sockets::inherited()?;
    let listeners = node::Listeners {
        client: sockets.remove("client"),
        peer: sockets.remove("peer"),
        admin: sockets.remove("admin"),
    };
    sockets::none_left(sockets, "client, peer and admin")?;
    let node = node::start_on(
        NodeConfig {
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
            log_key: f
                .log_key
                .as_ref()
                .map(|p| {
                    SigningKey::from_pem(&read(&relative(config, p))?).map_err(anyhow::Error::from)
                })
                .transpose()
                .context("log_key")?,
            witness_key: f
                .witness_key
                .as_ref()
                .map(|p| {
                    SigningKey::from_pem(&read(&relative(config, p))?).map_err(anyhow::Error::from)
                })
                .transpose()
                .context("witness_key")?,
            witness_every_ms: f.witness_every_ms,
            documents: documents(f.documents.as_ref()),
            default_purposes: f.default_purposes,
            client_auth,
            connections_max: f.connections_max,
            consumer_calls_max: f.consumer_calls_max,
            consumer_rate_per_s: f.consumer_rate_per_s,
            rest: f
                .rest
                .into_iter()
                .map(|r| node::RestConfig {
                    code: r.service,
                    base_url: r.base_url,
                })
                .collect(),
        },
        listeners,
    )
    .await
    .map_err(anyhow::Error::msg)
    .with_context(ctx)?;
    eprintln!(
        "node {} : client face {}://{} ({})  peer face https://{}  admin http://{}",
        f.member,
        if client_mode == "NOAUTH" {
            "http"
        } else {
            "https"
        },
        node.client_addr,
        client_mode,
        node.peer_addr,
        node.admin_addr
    );
    let _ = tokio::signal::ctrl_c().await;
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
