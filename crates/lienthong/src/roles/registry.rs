//! `lienthong registry run|token|apply`: the registry's configuration and its admin client.

use super::*;

/// `registry.toml`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegistryFile {
    listen: SocketAddr,
    /// The registry's TLS certificate and key (e.g. `lienthong keys node --member VN/GOV/TTDLQG/REGISTRY
    /// --host …`, from the registry CA): both listeners then speak TLS, nodes use
    /// `registry_url = "https://…"`.
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
    /// The admin API on a listener of its own (TLS required); without it the admin API
    /// shares `listen`.
    #[serde(default)]
    admin_listen: Option<SocketAddr>,
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
    /// Operators of the admin API, each with a token of their own (`[[operators]]`); each
    /// change is recorded with the operator's name. The single admin token above is the
    /// operator `admin`.
    #[serde(default)]
    operators: Vec<OperatorFile>,
    #[serde(default = "default_validity")]
    snapshot_validity_s: u64,
    /// Key rotation: the next signing key's public half (`lienthong keys member` prints it),
    /// announced in every snapshot; once nodes have it, switch `signing_key` to the new key.
    #[serde(default)]
    next_public_key: Option<String>,
    /// Content stored on first start, when the store is empty.
    #[serde(default)]
    registry: Option<Registry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OperatorFile {
    name: String,
    #[serde(default)]
    token_sha256: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
}

/// A token's SHA-256 from its hex digest or its file, checked.
fn token_digest(
    config: &Path,
    what: &str,
    sha: Option<String>,
    file: Option<&Path>,
) -> Result<Option<String>> {
    match (sha, file) {
        (Some(_), Some(_)) => bail!(
            "config {}: {what}: give the token's SHA-256 or its file, not both",
            config.display()
        ),
        (Some(h), None) => {
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("config {}: {what}: the SHA-256 must be 64 hex digits (from `lienthong registry token`)", config.display());
            }
            Ok(Some(h))
        }
        (None, Some(f)) => {
            let token = read(&relative(config, f))?.trim().to_owned();
            if token.len() < 32 {
                bail!(
                    "config {}: {what}: {} holds {} characters; a token has at least 32 (`lienthong registry token --out`)",
                    config.display(),
                    f.display(),
                    token.len()
                );
            }
            Ok(Some(lienthong_trust::sha256_hex(token.as_bytes())))
        }
        (None, None) => Ok(None),
    }
}

pub(super) fn default_validity() -> u64 {
    3600
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
    if file.snapshot_validity_s > lienthong_registry::SNAPSHOT_VALIDITY_MAX_S {
        bail!(
            "config {}: snapshot_validity_s must be at most {} (7 days): nodes refuse longer snapshots",
            config.display(),
            lienthong_registry::SNAPSHOT_VALIDITY_MAX_S
        );
    }
    let next_key = match file.next_public_key {
        Some(k) => {
            let k = k.trim().to_owned();
            lienthong_trust::check_public_key(&k)
                .with_context(|| format!("config {}: next_public_key", config.display()))?;
            Some(k)
        }
        None => None,
    };
    let mut operators = Vec::new();
    if let Some(token_sha256) = token_digest(
        config,
        "admin_token_sha256 / admin_token_file",
        file.admin_token_sha256,
        file.admin_token_file.as_deref(),
    )? {
        operators.push(lienthong_registry::server::Operator {
            name: "admin".into(),
            token_sha256,
        });
    }
    for op in file.operators {
        let what = format!("operator {:?}", op.name);
        let token_sha256 = token_digest(config, &what, op.token_sha256, op.token_file.as_deref())?
            .with_context(|| {
                format!(
                    "config {}: {what}: give token_sha256 or token_file",
                    config.display()
                )
            })?;
        if op.name.is_empty()
            || operators
                .iter()
                .any(|o: &lienthong_registry::server::Operator| o.name == op.name)
        {
            bail!(
                "config {}: operator names must be given and distinct ({:?}; the single admin token is `admin`)",
                config.display(),
                op.name
            );
        }
        operators.push(lienthong_registry::server::Operator {
            name: op.name,
            token_sha256,
        });
    }
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
    let tls = match (&file.tls_cert, &file.tls_key) {
        (Some(c), Some(k)) => Some(
            lienthong_trust::client_face_config(
                &read(&relative(config, c))?,
                &read(&relative(config, k))?,
                None,
            )
            .with_context(|| format!("config {}: tls_cert / tls_key", config.display()))?,
        ),
        (None, None) => None,
        _ => bail!(
            "config {}: tls_cert and tls_key go together",
            config.display()
        ),
    };
    if file.admin_listen.is_some() && tls.is_none() {
        bail!(
            "config {}: admin_listen needs TLS: give tls_cert and tls_key",
            config.display()
        );
    }
    let (public_app, admin_app) =
        lienthong_registry::server::apps(lienthong_registry::server::Config {
            store,
            seed: file.registry,
            key,
            validity_s: file.snapshot_validity_s,
            operators,
            next_key,
        })
        .await?;
    let mut sockets = sockets::inherited()?;
    let given = sockets.remove("registry");
    let given_admin = sockets.remove("admin");
    sockets::none_left(sockets, "registry and admin")?;
    let bind = |given: Option<std::net::TcpListener>, addr: SocketAddr| async move {
        match given {
            Some(l) => {
                l.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(l).context("the socket given")
            }
            None => tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}")),
        }
    };
    let listener = bind(given, file.listen).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let public_app = match file.admin_listen {
        Some(addr) => {
            let admin_listener = bind(given_admin, addr).await?;
            eprintln!(
                "registry admin API on https://{}",
                admin_listener.local_addr()?
            );
            tasks.push(tokio::spawn(lienthong_gateway::node::serve_router(
                admin_listener,
                tls.clone(),
                admin_app,
                1024,
                stop.clone(),
            )));
            public_app
        }
        None => public_app.merge(admin_app),
    };
    eprintln!(
        "registry listening on {scheme}://{} (pin registry_key = \"{public}\")",
        listener.local_addr()?
    );
    tasks.push(tokio::spawn(lienthong_gateway::node::serve_router(
        listener, tls, public_app, 4096, stop,
    )));
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
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
    ca: Option<&Path>,
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
    type Body = http_body_util::Full<hyper::body::Bytes>;
    let builder = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    let https = url.starts_with("https://");
    let tls_client = match (https, ca) {
        (true, Some(ca)) => {
            let tls = lienthong_trust::client_config_roots(&read(ca)?)?;
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls).clone())
                .https_only()
                .enable_http1()
                .build();
            Some(builder.build::<_, Body>(connector))
        }
        (true, None) => {
            bail!("--url {url}: an https registry needs --ca (the registry CA's ca.crt)")
        }
        (false, _) => None,
    };
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("{}/admin/{path}", url.trim_end_matches('/')))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))?;
    let response = match tls_client {
        Some(client) => client.request(request).await,
        None => builder.build_http::<Body>().request(request).await,
    }
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
