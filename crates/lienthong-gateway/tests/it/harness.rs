//! Builds a small national topology: CA, member keys, registry server, provider and consumer.

use std::net::SocketAddr;
use std::path::Path;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lienthong_core::MemberId;
use lienthong_dictionary::catalog;
use lienthong_gateway::backend::TableConfig;
use lienthong_gateway::node::{self, NodeConfig, RunningNode};
use lienthong_registry::{Agreement, Member, Registry, Service};
use lienthong_trust::{Ca, SigningKey};

pub const PROVIDER: &str = "VN/GOV/BCA/DANCU";
pub const CONSUMER: &str = "VN/GOV/BHXH/SI";
pub const SERVICE: &str = "VN/GOV/BCA/DANCU/citizen";
pub const PID: &str = "001090123456";

pub struct Identity {
    pub key: SigningKey,
    pub cert: String,
    pub tls_key: String,
}

pub fn identity(ca: &Ca, name: &str) -> Identity {
    let (cert, tls_key) = ca.issue(name, &["127.0.0.1", "localhost"]).unwrap();
    Identity {
        key: SigningKey::generate(),
        cert,
        tls_key,
    }
}

/// A socket bound at port 0 (its address read back), handed to the node that serves it:
/// nothing else can take the port in between.
pub fn bound() -> (std::net::TcpListener, SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

pub async fn sqlite_table(dir: &Path) -> String {
    let url = format!("sqlite://{}?mode=rwc", dir.join("dancu.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let cols: Vec<String> = catalog::CITIZEN
        .fields
        .iter()
        .map(|f| format!("{} TEXT", f.name))
        .collect();
    sqlx::query(&format!("CREATE TABLE citizen ({})", cols.join(", ")))
        .execute(&pool)
        .await
        .unwrap();
    for (pid, name, province, commune, addr) in [
        (
            PID,
            "NGUYỄN VĂN AN",
            "01",
            "00004",
            "Số 12, Phường Ba Đình, Thành phố Hà Nội",
        ),
        (
            "001190123457",
            "Trần Thị Bình",
            "01",
            "00008",
            "Số 3, Phường Ngọc Hà, Thành phố Hà Nội",
        ),
        (
            "079090123458",
            "Lê Văn Cường",
            "79",
            "25747",
            "Số 9, Phường Thủ Dầu Một, Thành phố Hồ Chí Minh",
        ),
    ] {
        let sex = if pid.as_bytes()[3] % 2 == 0 { "1" } else { "2" };
        sqlx::query("INSERT INTO citizen (personal_id, full_name, birth_date, sex, ethnicity, religion, nationality, province_code, commune_code, address) VALUES (?, ?, '1990-03-25', ?, '01', '02', 'VN', ?, ?, ?)")
            .bind(pid).bind(name).bind(sex).bind(province).bind(commune).bind(addr)
            .execute(&pool).await.unwrap();
    }
    pool.close().await;
    url
}

pub struct Topology {
    pub dir_path: std::path::PathBuf,
    pub ca: Ca,
    pub registry_key: SigningKey,
    pub registry_addr: SocketAddr,
    pub registry_task: tokio::task::JoinHandle<()>,
    pub provider: RunningNode,
    pub consumer: RunningNode,
    pub provider_id: Identity,
    pub consumer_id: Identity,
    pub _dir: tempfile::TempDir,
}

pub fn registry(provider: &Identity, provider_addr: SocketAddr, consumer: &Identity) -> Registry {
    let member = |id: &str, ident: &Identity, addr: Option<SocketAddr>| Member {
        id: id.into(),
        name: id.into(),
        signing_key: ident.key.public_b64(),
        address: addr.map(|a| a.to_string()),
        cert_fingerprint: lienthong_trust::cert_fingerprint(&ident.cert).unwrap(),
        log_key: None,
    };
    Registry {
        instance: "VN".into(),
        members: vec![
            member(PROVIDER, provider, Some(provider_addr)),
            member(CONSUMER, consumer, None),
        ],
        services: vec![
            Service {
                id: SERVICE.into(),
                dataset: "citizen".into(),
                personal_data: true,
                rest: false,
                user_id_required: false,
            },
            Service {
                id: format!("{PROVIDER}/household"),
                dataset: "citizen".into(),
                personal_data: true,
                rest: false,
                user_id_required: false,
            },
        ],
        agreements: vec![Agreement {
            consumer: CONSUMER.into(),
            service: SERVICE.into(),
            fields: vec!["*".into(), "religion".into()],
            purposes: vec!["insurance-enrolment".into()],
            legal_basis: "Luật Bảo hiểm xã hội 2024".into(),
            valid_from: "2025-01-01".into(),
            valid_to: "2099-12-31".into(),
            methods: Vec::new(),
            changes: false,
            basis: None,
            withhold_days: None,
        }],
        revoked: vec![],
        witness: None,
        catalogue: vec![],
    }
}

/// The registry's store in `dir` (`registry.db`).
pub async fn registry_store(dir: &Path) -> lienthong_registry::store::Store {
    lienthong_registry::store::Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("registry.db").display()
    ))
    .await
    .unwrap()
}

/// The registry's app on its store in `dir` (`registry.db`), seeded with `seed` when empty.
pub async fn registry_app(
    dir: &Path,
    seed: Option<Registry>,
    key_pem: &str,
    validity_s: u64,
) -> axum::Router {
    let store = registry_store(dir).await;
    lienthong_registry::server::app(lienthong_registry::server::Config {
        store,
        seed,
        key: SigningKey::from_pem(key_pem).unwrap(),
        validity_s,
        operators: Vec::new(),
        next_key: None,
    })
    .await
    .unwrap()
}

pub async fn serve_registry(
    registry: Registry,
    key_pem: &str,
    dir: &Path,
    validity_s: u64,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let app = registry_app(dir, Some(registry), key_pem, validity_s).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }),
    )
}

/// Where the harness keeps `member`'s message log in `dir`.
pub fn log_path(dir: &Path, member: &str) -> String {
    dir.join(format!("{}.messages.db", member.replace('/', "_")))
        .display()
        .to_string()
}

pub fn node_config(
    member: &str,
    ident: &Identity,
    ca: &Ca,
    (registry_addr, registry_key): (SocketAddr, &str),
    peer: SocketAddr,
    tables: Vec<TableConfig>,
    log_dir: &Path,
) -> NodeConfig {
    NodeConfig {
        member: MemberId::parse(member).unwrap(),
        client_listen: "127.0.0.1:0".parse().unwrap(),
        peer_listen: peer,
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        signing_key: SigningKey::from_pem(&ident.key.to_pem().unwrap()).unwrap(),
        ca_pem: ca.cert_pem.clone(),
        cert_pem: ident.cert.clone(),
        key_pem: ident.tls_key.clone(),
        registry_url: format!("http://{registry_addr}"),
        registry_key: registry_key.into(),
        registry_poll_ms: 200,
        request_timeout_ms: 3000,
        body_bytes_max: 1 << 20,
        inflight_body_bytes_max: 8 << 20,
        replay_window_s: 300,
        replay_entries_max: 100_000,
        tables,
        log_path: log_path(log_dir, member),
        log_bodies: true,
        log_bodies_services: vec![],
        log_bodies_retention_days: None,
        log_archive_dir: None,
        log_archive_after_days: None,
        default_purposes: Default::default(),
        client_auth: Default::default(),
        connections_max: 1024,
        consumer_calls_max: 64,
        consumer_rate_per_s: 0,
        rest: vec![],
        log_key: None,
        witness_key: None,
        witness_every_ms: 200,
        documents: None,
    }
}

pub fn table(code: &str, url: &str) -> TableConfig {
    TableConfig {
        code: code.into(),
        dataset: &catalog::CITIZEN,
        database_url: url.into(),
        table: "citizen".into(),
        filters: vec!["province_code".into()],
        columns: Default::default(),
        connections_max: 4,
        changes: false,
    }
}

/// Starts the registry and both nodes, with the provider's tables given by `tables(url)`.
pub async fn start(validity_s: u64) -> Topology {
    start_with(validity_s, |_| {}).await
}

/// As [`start`], with the registry content adjusted first.
pub async fn start_with(validity_s: u64, adjust: impl FnOnce(&mut Registry)) -> Topology {
    start_full(validity_s, adjust, vec![]).await
}

/// As [`start_with`], with REST-proxied services on the provider.
pub async fn start_full(
    validity_s: u64,
    adjust: impl FnOnce(&mut Registry),
    rest: Vec<lienthong_gateway::node::RestConfig>,
) -> Topology {
    start_nodes(validity_s, adjust, rest, |_| {}).await
}

/// As [`start_full`], with both node configurations adjusted before the nodes start.
pub async fn start_nodes(
    validity_s: u64,
    adjust: impl FnOnce(&mut Registry),
    rest: Vec<lienthong_gateway::node::RestConfig>,
    configure: impl Fn(&mut NodeConfig),
) -> Topology {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_table(dir.path()).await;
    let ca = Ca::generate("VN").unwrap();
    let provider_id = identity(&ca, PROVIDER);
    let consumer_id = identity(&ca, CONSUMER);
    let registry_key = SigningKey::generate();
    let (peer_socket, peer) = bound();
    let mut content = registry(&provider_id, peer, &consumer_id);
    adjust(&mut content);
    let (registry_addr, registry_task) = serve_registry(
        content,
        &registry_key.to_pem().unwrap(),
        dir.path(),
        validity_s,
    )
    .await;
    let pub_key = registry_key.public_b64();
    let mut provider_config = node_config(
        PROVIDER,
        &provider_id,
        &ca,
        (registry_addr, &pub_key),
        peer,
        vec![table("citizen", &url), table("household", &url)],
        dir.path(),
    );
    provider_config.rest = rest;
    configure(&mut provider_config);
    let provider = node::start_on(
        provider_config,
        node::Listeners {
            peer: Some(peer_socket),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut consumer_config = node_config(
        CONSUMER,
        &consumer_id,
        &ca,
        (registry_addr, &pub_key),
        "127.0.0.1:0".parse().unwrap(),
        vec![],
        dir.path(),
    );
    configure(&mut consumer_config);
    let consumer = node::start(consumer_config).await.unwrap();
    Topology {
        dir_path: dir.path().to_path_buf(),
        ca,
        registry_key,
        registry_addr,
        registry_task,
        provider,
        consumer,
        provider_id,
        consumer_id,
        _dir: dir,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub json: serde_json::Value,
}

/// A plain HTTP call to a node's client face, as an unmodified X-Road REST client makes it.
pub async fn call(node: &RunningNode, path: &str, headers: &[(&str, &str)]) -> Reply {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::get(format!("http://{}{path}", node.client_addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        json: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    }
}

/// The consumer's client face under `auth`, built from the node's own certificate and key.
pub fn consumer_auth(
    auth: impl Fn(String, String) -> node::ClientAuth,
) -> impl Fn(&mut NodeConfig) {
    move |c: &mut NodeConfig| {
        if c.member.to_string() == CONSUMER {
            c.client_auth = auth(c.cert_pem.clone(), c.key_pem.clone());
        }
    }
}

/// The consumer's client face under SSLAUTH, open to one system: `name`, by its certificate's
/// fingerprint.
pub fn consumer_sslauth(name: &str, fingerprint: &str) -> impl Fn(&mut NodeConfig) {
    let (name, fingerprint) = (name.to_owned(), fingerprint.to_owned());
    consumer_auth(move |cert_pem, key_pem| node::ClientAuth::SslAuth {
        cert_pem,
        key_pem,
        systems: vec![node::ClientSystem {
            name: name.clone(),
            fingerprint: fingerprint.clone(),
        }],
    })
}

/// A raw answer: status, headers and body bytes as the client received them.
pub struct Raw {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// Any call to a node's client face: method, path, headers (repeats kept) and body.
pub async fn send(
    node: &RunningNode,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    let client: Client<_, http_body_util::Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", node.client_addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = client
        .request(
            req.body(http_body_util::Full::new(Bytes::copy_from_slice(body)))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        headers,
        body,
    }
}

/// A peer-face call's status and `X-Road-Error` (empty when none); `Err` when no answer came.
pub async fn status_and_error(
    client: &PeerClient,
    req: hyper::Request<http_body_util::Full<Bytes>>,
) -> Result<(u16, String), String> {
    let r = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let status = r.status().as_u16();
    let code = r
        .headers()
        .get("x-road-error")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let _ = r.into_body().collect().await;
    Ok((status, code))
}

pub type PeerClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<Bytes>,
>;

/// A client of the peer face with the given TLS identity (or none).
pub fn peer_client(ca_pem: &str, ident: Option<&Identity>) -> PeerClient {
    let tls = match ident {
        Some(i) => (*lienthong_trust::client_config(ca_pem, &i.cert, &i.tls_key).unwrap()).clone(),
        None => {
            let mut roots = rustls::RootCertStore::empty();
            use rustls::pki_types::pem::PemObject;
            roots
                .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
                .unwrap();
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
        }
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http2()
        .build();
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector)
}

/// A call to the provider's peer face as a consumer node makes it, signed with `key`: GET
/// `service` + `sub_path`, no body.
pub fn peer_request(
    t: &Topology,
    key: &SigningKey,
    service: &str,
    sub_path: &str,
    message_id: &str,
    purpose: &str,
) -> hyper::Request<http_body_util::Full<Bytes>> {
    use lienthong_gateway::protocol::{header, RequestParts};
    let ts = lienthong_gateway::snapshot::now_s();
    let body_sha = lienthong_trust::sha256_hex(b"");
    let parts = RequestParts {
        method: "GET",
        path: sub_path,
        query: "",
        client: CONSUMER,
        service,
        message_id,
        timestamp: ts,
        purpose,
        user_id: "",
        issue: "",
        body_sha256: &body_sha,
        headers_sha256: "",
    };
    let signature = key.sign(parts.canonical().as_bytes());
    hyper::Request::get(format!(
        "https://{}/lt1/{service}{sub_path}",
        t.provider.peer_addr
    ))
    .header(header::CLIENT, CONSUMER)
    .header(header::SERVICE, service)
    .header(header::MESSAGE_ID, message_id)
    .header(header::TIMESTAMP, ts.to_string())
    .header(header::PURPOSE, purpose)
    .header(header::USER_ID, "")
    .header(header::ISSUE, "")
    .header(header::SIGNATURE, signature)
    .body(http_body_util::Full::new(Bytes::new()))
    .unwrap()
}

/// Adds the provider's personal-data service `id` over the citizen dataset and, when `agreed`,
/// an agreement for the consumer like the first one with every field (`*`).
pub fn add_service(r: &mut Registry, id: &str, agreed: bool) {
    r.services.push(Service {
        id: id.into(),
        dataset: "citizen".into(),
        personal_data: true,
        rest: false,
        user_id_required: false,
    });
    if agreed {
        let mut a = r.agreements[0].clone();
        a.service = id.into();
        a.fields = vec!["*".into()];
        r.agreements.push(a);
    }
}
