//! A node: the client face (X-Road REST for the agency's own systems, plain HTTP on a local
//! address) and the peer face (node-to-node, mutual TLS 1.3, signed messages).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lienthong_core::{MemberId, ServiceId};
use lienthong_dictionary::catalog;
use lienthong_dictionary::element::Sensitivity;
use lienthong_registry::Agreement;
use lienthong_trust::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::TableService;
use crate::error::{GatewayError, Side};
use crate::protocol::{canonical_response, header, header_text, parse_query, xroad, RequestParts};
use crate::snapshot::{now_s, SnapshotCache};

mod budget;
mod client_face;
mod clients;
mod config;
mod documents;
mod peer_face;
mod policy;
mod proxy;
mod replay;
mod tls;
mod transparency;
mod witnessing;
pub use config::{check_default_purposes, NodeConfig, RestConfig};
pub use documents::{DocumentAsk, DocumentDesk};
pub use transparency::{Consenter, Gatherer};

use budget::*;
use client_face::*;
pub use clients::{ClientAuth, ClientSystem};
use peer_face::*;
use policy::*;
use proxy::*;
use replay::*;
use tls::*;

type PeerClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// Bound on cached peer clients (providers); the cache is cleared when it is reached.
const PEERS_MAX: usize = 4096;

struct Inner {
    config: NodeConfig,
    snapshot: Arc<SnapshotCache>,
    services: HashMap<String, TableService>,
    rest: HashMap<String, RestConfig>,
    log: crate::msglog::MessageLog,
    backend_client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    replay: Mutex<ReplayGuard>,
    /// One pooled HTTP/2 client per (provider address, pinned certificate fingerprint).
    peers: Mutex<HashMap<(String, String), PeerClient>>,
    /// Permits in KiB of `inflight_body_bytes_max`.
    budget: Arc<tokio::sync::Semaphore>,
    /// KiB held by calls waiting for more room (see [`Inner::reserve`]).
    waiting_held_kib: std::sync::atomic::AtomicUsize,
    /// What the body budget has seen since start (peak held, calls that waited).
    room_seen: Arc<RoomSeen>,
    /// Signs this node's requests and answers in batches.
    signer: crate::batchsig::Signer,
    /// Batch roots of other members already verified.
    roots: crate::batchsig::RootCache,
    /// Calls in progress per consumer member on the peer face.
    consumer_calls: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// Each consumer member's token bucket: (tokens, when last filled).
    consumer_rates: Mutex<HashMap<String, (f64, std::time::Instant)>>,
    /// What this node knows of the other members' logs.
    observer: witnessing::Observer,
    /// Set on the witness: its cosigning key.
    witness: Option<witnessing::WitnessRole>,
    /// With a log key: the persons named in log entries are stored as pseudonyms.
    pseudonyms: Option<crate::record::Pseudonymiser>,
}

/// Retention and archiving of the message log, as configured.
async fn log_maintenance(config: &NodeConfig) {
    let days_ago = |d: u32| (now_s().saturating_sub(u64::from(d) * 86_400)) * 1000;
    if let Some(d) = config.log_bodies_retention_days {
        match crate::msglog::prune_bodies(&config.log_path, days_ago(d)).await {
            Ok(n) if n > 0 => tracing::info!(
                bodies = n,
                days = d,
                "message log bodies past retention deleted"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning message log bodies failed"),
        }
    }
    if let (Some(d), Some(dir)) = (config.log_archive_after_days, &config.log_archive_dir) {
        let until = crate::msglog::ArchiveUntil::Before(days_ago(d));
        match crate::msglog::archive(&config.log_path, until, std::path::Path::new(dir)).await {
            Ok(Some(r)) => {
                tracing::info!(from = r.from, to = r.to, file = %r.file.display(), "message log entries archived")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "archiving the message log failed"),
        }
    }
}

impl Inner {
    /// Whether the message log keeps the bodies of this service's exchanges.
    fn logs_bodies_of(&self, service: &str) -> bool {
        self.config.log_bodies || self.config.log_bodies_services.iter().any(|s| s == service)
    }

    /// The pooled client for a provider, pinned to the certificate the registry lists for it.
    fn peer_client(&self, address: &str, fingerprint: &str) -> Result<PeerClient, GatewayError> {
        let mut peers = self
            .peers
            .lock()
            .map_err(|_| GatewayError::Backend("peer client lock poisoned".into()))?;
        let key = (address.to_owned(), fingerprint.to_owned());
        if let Some(c) = peers.get(&key) {
            return Ok(c.clone());
        }
        let tls = lienthong_trust::client_config_pinned(
            &self.config.ca_pem,
            &self.config.cert_pem,
            &self.config.key_pem,
            fingerprint,
        )
        .map_err(|e| GatewayError::Backend(format!("TLS client for {address}: {e}")))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_only()
            .enable_http2()
            .build();
        let client: PeerClient = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        if peers.len() >= PEERS_MAX {
            peers.clear();
        }
        peers.insert(key, client.clone());
        Ok(client)
    }
}

/// A running node; dropping it does not stop it, call [`RunningNode::shutdown`].
pub struct RunningNode {
    pub client_addr: SocketAddr,
    pub peer_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    room_seen: Arc<RoomSeen>,
    inner: Arc<Inner>,
}

/// What the body budget has seen since the node started: the most room held at once and how
/// many reservations had to wait for room (also the metrics
/// `lienthong_node_body_room_peak_bytes` and `lienthong_node_body_room_waits_total`).
#[derive(Default)]
pub struct RoomSeen {
    pub(crate) peak_kib: std::sync::atomic::AtomicUsize,
    pub(crate) waits: std::sync::atomic::AtomicU64,
}

impl RoomSeen {
    /// The most bytes of bodies held at once (in whole KiB, as reserved).
    pub fn peak_bytes(&self) -> usize {
        self.peak_kib.load(std::sync::atomic::Ordering::Relaxed) * 1024
    }

    /// Reservations that found no room at once and waited for it.
    pub fn waits(&self) -> u64 {
        self.waits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl RunningNode {
    /// What this node's body budget has seen since it started.
    pub fn body_room(&self) -> &RoomSeen {
        &self.room_seen
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Serves `app` on `listener` as a node serves its faces — a bound on open connections,
/// deadlines for the TLS handshake and a request's headers, back-off on accept errors —
/// over TLS when `tls` is given, until `stop` changes. The registry serves with it too.
pub async fn serve_router(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    connections_max: usize,
    stop: watch::Receiver<bool>,
) {
    serve(
        listener,
        tls,
        app,
        Limits {
            connections_max: connections_max.max(1),
            http2_only: false,
        },
        stop,
    )
    .await
}

/// Starts a node: opens its message log, loads the registry snapshot (the registry's, or
/// the one saved at the last run while that is valid; failing if none can be had),
/// connects its tables, binds both faces.
pub async fn start(config: NodeConfig) -> Result<RunningNode, String> {
    start_on(config, Listeners::default()).await
}

/// Listening sockets bound before the node starts (by a service manager's socket activation,
/// or by a caller that binds port 0 to learn the port first); a face without one binds its
/// configured address.
#[derive(Debug, Default)]
pub struct Listeners {
    pub client: Option<std::net::TcpListener>,
    pub peer: Option<std::net::TcpListener>,
    pub admin: Option<std::net::TcpListener>,
}

/// The given socket, or a new one bound at `addr`.
async fn listener(
    given: Option<std::net::TcpListener>,
    addr: SocketAddr,
    face: &str,
) -> Result<TcpListener, String> {
    match given {
        Some(l) => l
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(l))
            .map_err(|e| format!("{face} face: the socket given: {e}")),
        None => TcpListener::bind(addr)
            .await
            .map_err(|e| format!("binding {face} face {addr}: {e}")),
    }
}

/// As [`start`], on sockets already bound where `listeners` has them.
pub async fn start_on(config: NodeConfig, listeners: Listeners) -> Result<RunningNode, String> {
    let mut services = HashMap::new();
    for t in config.tables.clone() {
        let code = t.code.clone();
        services.insert(code, TableService::connect(t).await?);
    }
    documents::check_config(&config, &services)?;
    // Fail at start on unusable TLS material; per-provider clients are made on first use.
    lienthong_trust::client_config(&config.ca_pem, &config.cert_pem, &config.key_pem)
        .map_err(|e| e.to_string())?;
    let server_tls =
        lienthong_trust::server_config(&config.ca_pem, &config.cert_pem, &config.key_pem)
            .map_err(|e| e.to_string())?;
    let client_listener = listener(listeners.client, config.client_listen, "client").await?;
    let peer_listener = listener(listeners.peer, config.peer_listen, "peer").await?;
    let admin_listener = listener(listeners.admin, config.admin_listen, "admin").await?;
    let admin_addr = admin_listener.local_addr().map_err(|e| e.to_string())?;
    let client_addr = client_listener.local_addr().map_err(|e| e.to_string())?;
    // Anyone who reaches a plain-HTTP client face acts as the agency: only loopback may.
    if matches!(config.client_auth, ClientAuth::NoAuth) && !client_addr.ip().is_loopback() {
        return Err(format!(
            "the client face listens on {client_addr}, beyond loopback, without TLS: set [client_auth] mode = \"SSLAUTH\" (registered client certificates) or \"SSLNOAUTH\", or listen on 127.0.0.1"
        ));
    }
    let client_tls = match &config.client_auth {
        ClientAuth::NoAuth => None,
        ClientAuth::SslNoAuth { cert_pem, key_pem } => Some(
            lienthong_trust::client_face_config(cert_pem, key_pem, None)
                .map_err(|e| format!("client face TLS: {e}"))?,
        ),
        ClientAuth::SslAuth {
            cert_pem,
            key_pem,
            systems,
        } => {
            let pins: Vec<String> = systems.iter().map(|s| s.fingerprint.clone()).collect();
            Some(
                lienthong_trust::client_face_config(cert_pem, key_pem, Some(&pins))
                    .map_err(|e| format!("client face TLS: {e}"))?,
            )
        }
    };
    let peer_addr = peer_listener.local_addr().map_err(|e| e.to_string())?;
    let replay = Mutex::new(ReplayGuard {
        seen: HashMap::new(),
        window_s: config.replay_window_s,
        entries_max: config.replay_entries_max,
        held: HashMap::new(),
    });
    let poll = Duration::from_millis(config.registry_poll_ms.max(100));
    let mut rest = HashMap::new();
    for r in config.rest.clone() {
        if !r.base_url.starts_with("http://") {
            return Err(format!(
                "rest service {}: base_url must start with http://",
                r.code
            ));
        }
        if services.contains_key(&r.code) {
            return Err(format!(
                "service {} is configured both as a table and as a REST backend",
                r.code
            ));
        }
        rest.insert(r.code.clone(), r);
    }
    let inflight_kib = config.inflight_body_bytes_max.div_ceil(1024);
    // One REST answer of body_bytes_max needs its text, its parsed JSON and its projection.
    if config.inflight_body_bytes_max < config.body_bytes_max.saturating_mul(5)
        || inflight_kib > tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize)
    {
        return Err(format!(
            "inflight_body_bytes_max ({}) must be at least 5 × body_bytes_max ({}) and at most 4 TiB",
            config.inflight_body_bytes_max, config.body_bytes_max
        ));
    }
    if config.log_archive_after_days.is_some() != config.log_archive_dir.is_some() {
        return Err("log_archive_after_days and log_archive_dir go together".into());
    }
    check_default_purposes(&config.default_purposes)?;
    let log_key = SigningKey::from_pem(&config.signing_key.to_pem().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let member_s = config.member.to_string();
    let notes = config
        .log_key
        .as_ref()
        .map(|k| {
            lienthong_trust::note::NoteSigner::log(&lienthong_registry::log_origin(&member_s), k)
        })
        .transpose()
        .map_err(|e| format!("log key: {e}"))?;
    let log = crate::msglog::MessageLog::open_with(&config.log_path, log_key, notes).await?;
    let pseudonyms = config
        .log_key
        .as_ref()
        .map(crate::record::Pseudonymiser::of_log_key);
    let witness = config
        .witness_key
        .as_ref()
        .map(|k| {
            lienthong_trust::note::NoteSigner::witness(&format!("lienthong.witness/{member_s}"), k)
        })
        .transpose()
        .map_err(|e| format!("witness key: {e}"))?
        .map(|signer| witnessing::WitnessRole {
            signer,
            lock: tokio::sync::Mutex::new(()),
        });
    let snapshot = Arc::new(
        SnapshotCache::saved_in(
            config.registry_url.clone(),
            config.registry_key.clone(),
            log.clone(),
        )
        .trusting(&config.ca_pem)?,
    );
    let saved = snapshot.restore().await.map_err(|e| e.to_string())?;
    if let Err(e) = snapshot.refresh().await {
        // Without interruption: a node restarted while the registry is down (or serving
        // something it must refuse) runs on the snapshot saved at its last run, until
        // that expires.
        match snapshot.current() {
            Ok(s) => {
                tracing::warn!(error = %e, version = s.version, expires_at = s.expires_at, "registry snapshot not refreshed at start; serving the one saved at the last run")
            }
            Err(_) => {
                let also = match saved {
                    Some(v) => format!(" (the one saved at the last run, v{v}, has expired)"),
                    None => String::new(),
                };
                return Err(format!("loading the registry snapshot: {e}{also}"));
            }
        }
    }
    let signer_key = SigningKey::from_pem(&config.signing_key.to_pem().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let backend_client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build_http();
    let inner = Arc::new(Inner {
        config,
        log,
        rest,
        backend_client,
        snapshot: snapshot.clone(),
        services,
        replay,
        peers: Mutex::new(HashMap::new()),
        signer: crate::batchsig::Signer::start(signer_key),
        roots: crate::batchsig::RootCache::new(65_536),
        budget: Arc::new(tokio::sync::Semaphore::new(inflight_kib)),
        waiting_held_kib: std::sync::atomic::AtomicUsize::new(0),
        room_seen: Arc::new(RoomSeen::default()),
        consumer_calls: Mutex::new(HashMap::new()),
        consumer_rates: Mutex::new(HashMap::new()),
        observer: Default::default(),
        witness,
        pseudonyms,
    });
    witnessing::restore_lineages(&inner).await?;
    let room_seen = inner.room_seen.clone();
    let (stop, stop_rx) = watch::channel(false);
    if inner.config.log_bodies_retention_days.is_some()
        || inner.config.log_archive_after_days.is_some()
    {
        let config = inner.clone();
        let mut stop0 = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                    _ = stop0.changed() => return,
                }
                log_maintenance(&config.config).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3540)) => {}
                    _ = stop0.changed() => return,
                }
            }
        });
    }

    let client_app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/r1/{*rest}", any(consumer))
        .route("/listClients", any(consumer))
        .with_state(inner.clone());
    // Under TLS the client's certificate fingerprint rides with each request, as on the
    // peer face; HTTP/1.1 and HTTP/2.
    let open = |http2_only| Limits {
        connections_max: inner.config.connections_max.max(1),
        http2_only,
    };
    let client_task = tokio::spawn(serve(
        client_listener,
        client_tls,
        client_app,
        open(false),
        stop_rx.clone(),
    ));
    tokio::spawn(witnessing::flush_loop(inner.clone(), stop_rx.clone()));
    if inner.log.latest_note().is_some() {
        let every = Duration::from_millis(inner.config.witness_every_ms.max(50));
        tokio::spawn(witnessing::submit_loop(
            inner.clone(),
            every,
            stop_rx.clone(),
        ));
    }
    let peer_app = Router::new()
        .route(
            "/lt1/witness/add-checkpoint",
            axum::routing::post(witnessing::add_checkpoint),
        )
        .route(
            "/lt1/transparency/accesses",
            axum::routing::post(transparency::accesses),
        )
        .route(
            "/lt1/transparency/consent",
            axum::routing::post(transparency::consent),
        )
        .route("/lt1/documents", axum::routing::post(documents::list))
        .route(
            "/lt1/documents/issue",
            axum::routing::post(documents::issue),
        )
        .route(
            "/lt1/documents/status",
            axum::routing::post(documents::status),
        )
        .route("/lt1/{*rest}", any(provider))
        .with_state(inner.clone());
    crate::telemetry::handle();
    tokio::spawn(crate::telemetry::upkeep(stop_rx.clone()));
    let admin_app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(inner.clone());
    let admin_task = tokio::spawn(serve(
        admin_listener,
        None,
        admin_app,
        open(false),
        stop_rx.clone(),
    ));
    // Node to node is HTTP/2 only, with or without ALPN.
    let peer_task = tokio::spawn(serve(
        peer_listener,
        Some(server_tls),
        peer_app,
        open(true),
        stop_rx,
    ));
    let poll_task = tokio::spawn(async move { snapshot.poll(poll).await });
    Ok(RunningNode {
        client_addr,
        peer_addr,
        admin_addr,
        stop,
        tasks: vec![client_task, peer_task, admin_task, poll_task],
        room_seen,
        inner,
    })
}

/// The process's metrics, with this node's expiry gauges set first: when its registry
/// snapshot and its TLS certificate expire (the shipped alerting rules warn before either).
async fn metrics(State(node): State<Arc<Inner>>) -> String {
    let member = node.config.member.to_string();
    if let Ok(s) = node.snapshot.current() {
        crate::telemetry::expiry("registry_snapshot", &member, s.expires_at as f64);
    }
    if let Ok(t) = lienthong_trust::cert_not_after(&node.config.cert_pem) {
        crate::telemetry::expiry("tls_certificate", &member, t as f64);
    }
    crate::telemetry::handle().render()
}

/// Healthy while the node holds a registry snapshot that has not expired.
async fn healthz(State(node): State<Arc<Inner>>) -> Response {
    match node.snapshot.current() {
        Ok(s) => (
            StatusCode::OK,
            format!(
                "ok: registry snapshot v{} valid until {}\n",
                s.version,
                lienthong_core::vietnam_time(i64::try_from(s.expires_at).unwrap_or(i64::MAX))
            ),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {e}\n")).into_response(),
    }
}

/// A new message id: a UUID version 7 (RFC 9562), time-ordered, so that the message log's
/// index by message id grows at its end instead of touching a random page per entry
/// (docs/benchmarks.md, issue 14). Unique like a version 4; its first 48 bits are the
/// millisecond it was made, which the signed timestamp beside it states anyway.
pub fn new_message_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[cfg(test)]
mod default_purpose_tests {
    use super::*;

    #[test]
    fn default_purposes_are_checked_at_start() {
        let ok = HashMap::from([(
            "VN/GOV/BCA/DANCU/citizen".to_owned(),
            "insurance-enrolment".to_owned(),
        )]);
        assert!(check_default_purposes(&ok).is_ok());
        for (service, purpose, says) in [
            ("citizen", "x", "not a service id"),
            ("VN/GOV/BCA/DANCU/citizen", "", "one line"),
            ("VN/GOV/BCA/DANCU/citizen", "a\nb", "one line"),
        ] {
            let bad = HashMap::from([(service.to_owned(), purpose.to_owned())]);
            let e = check_default_purposes(&bad).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
