//! A node: the client face (X-Road REST for the agency's own systems, plain HTTP on a local
//! address) and the peer face (node-to-node, mutual TLS 1.3, signed messages).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
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
use lienthong_registry::{Agreement, SnapshotBody};
use lienthong_trust::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::{TableConfig, TableService};
use crate::error::GatewayError;
use crate::protocol::{canonical_response, header, parse_query, xroad, RequestParts};
use crate::snapshot::{now_s, SnapshotCache};

/// Typed node configuration (the CLI builds it from node TOML).
pub struct NodeConfig {
    /// The subsystem this node acts for, `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
    pub member: MemberId,
    pub client_listen: SocketAddr,
    pub peer_listen: SocketAddr,
    /// `/healthz` and Prometheus `/metrics`.
    pub admin_listen: SocketAddr,
    pub signing_key: SigningKey,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub registry_url: String,
    pub registry_key: String,
    pub registry_poll_ms: u64,
    pub request_timeout_ms: u64,
    pub body_bytes_max: usize,
    /// Bytes of bodies the node holds at once, over all exchanges (requests, answers, JSON
    /// being projected): calls wait for room, then get `Server.Busy` at the timeout, so
    /// memory stays bounded whatever the mix of sizes.
    pub inflight_body_bytes_max: usize,
    /// Accepted clock difference between nodes, and how long message ids are remembered.
    pub replay_window_s: u64,
    pub replay_entries_max: usize,
    pub tables: Vec<TableConfig>,
    /// The message log (SQLite file); every exchange is recorded before it is answered.
    pub log_path: String,
    /// Also keep response bodies (apart from the tree, by SHA-256); otherwise metadata only.
    pub log_bodies: bool,
    /// Services (ids) whose bodies are kept even when `log_bodies` is off, on either side.
    pub log_bodies_services: Vec<String>,
    /// Retention: bodies older than this many days are deleted (the entries stay).
    pub log_bodies_retention_days: Option<u32>,
    /// Archiving: entries under checkpoints older than `log_archive_after_days` move to
    /// self-verifying files in `log_archive_dir` (checked every hour).
    pub log_archive_dir: Option<String>,
    pub log_archive_after_days: Option<u32>,
    /// Services proxied to an existing REST backend.
    pub rest: Vec<RestConfig>,
}

/// A service answered by an existing REST backend (plain HTTP on the provider's side).
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Service code (last part of the service id).
    pub code: String,
    /// `http://host:port[/prefix]`; the call's sub-path and query are appended.
    pub base_url: String,
}

/// Longest message id accepted (X-Road ids are UUIDs).
const MESSAGE_ID_BYTES_MAX: usize = 128;

/// Remembers message ids inside the timestamp window; bounded.
struct ReplayGuard {
    seen: HashMap<String, u64>,
    window_s: u64,
    entries_max: usize,
}

impl ReplayGuard {
    fn check(
        &mut self,
        client: &str,
        message_id: &str,
        timestamp: u64,
        now: u64,
    ) -> Result<(), GatewayError> {
        if now.abs_diff(timestamp) > self.window_s {
            return Err(GatewayError::StaleMessage(self.window_s));
        }
        if message_id.is_empty() || message_id.len() > MESSAGE_ID_BYTES_MAX {
            return Err(GatewayError::BadRequest(format!(
                "message id must be 1 to {MESSAGE_ID_BYTES_MAX} bytes"
            )));
        }
        if self.seen.len() >= self.entries_max {
            let horizon = now.saturating_sub(self.window_s);
            self.seen.retain(|_, t| *t >= horizon);
            if self.seen.len() >= self.entries_max {
                return Err(GatewayError::Busy(
                    "replay cache full; try again shortly".into(),
                ));
            }
        }
        // Keyed by client too: two consumers may pick the same X-Road-Id.
        if self
            .seen
            .insert(format!("{client}\u{1f}{message_id}"), timestamp)
            .is_some()
        {
            return Err(GatewayError::Replay(message_id.chars().take(64).collect()));
        }
        Ok(())
    }
}

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
    /// Signs this node's requests and answers in batches.
    signer: crate::batchsig::Signer,
    /// Batch roots of other members already verified.
    roots: crate::batchsig::RootCache,
}

/// Room for bodies, held while they are in memory.
type Room = Vec<tokio::sync::OwnedSemaphorePermit>;

/// The room held by calls waiting for more, counted while they wait (and uncounted when
/// the wait ends or the call is dropped).
struct WaitingHeld<'a> {
    total: &'a std::sync::atomic::AtomicUsize,
    kib: usize,
}

impl<'a> WaitingHeld<'a> {
    /// Counts `kib` in if the total stays within `limit`; `None` if it would not.
    fn enter(total: &'a std::sync::atomic::AtomicUsize, kib: usize, limit: usize) -> Option<Self> {
        use std::sync::atomic::Ordering::SeqCst;
        if kib == 0 {
            return Some(WaitingHeld { total, kib });
        }
        total
            .fetch_update(SeqCst, SeqCst, |t| (t + kib <= limit).then_some(t + kib))
            .ok()
            .map(|_| WaitingHeld { total, kib })
    }
}

impl Drop for WaitingHeld<'_> {
    fn drop(&mut self) {
        self.total
            .fetch_sub(self.kib, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A call's request body with the room it holds (answers read for it join that room).
struct Incoming<'r> {
    body: Bytes,
    room: &'r mut Room,
}

impl Inner {
    /// Reserves `kib` KiB of room. A call holding nothing may wait (up to the request
    /// timeout). A call already holding room may wait only while everything held by
    /// waiting calls, its own included, stays within half the budget: the other half is
    /// then held by calls that are not waiting and will give it back, so waiters are never
    /// all waiting on each other. Otherwise it is refused at once (`Server.Busy`).
    async fn reserve(&self, kib: usize, held_kib: usize) -> Result<Room, GatewayError> {
        let max = self.config.inflight_body_bytes_max.div_ceil(1024);
        if kib == 0 {
            return Ok(Room::new());
        }
        if kib + held_kib > max {
            return Err(GatewayError::BadRequest(format!(
                "{} KiB of bodies are more than this node holds at once ({} bytes)",
                kib + held_kib,
                self.config.inflight_body_bytes_max
            )));
        }
        let waiting = WaitingHeld::enter(&self.waiting_held_kib, held_kib, max / 2);
        let got = if waiting.is_some() {
            let timeout = Duration::from_millis(self.config.request_timeout_ms);
            tokio::time::timeout(timeout, self.budget.clone().acquire_many_owned(kib as u32))
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            self.budget.clone().try_acquire_many_owned(kib as u32).ok()
        };
        drop(waiting);
        got.map(|p| vec![p]).ok_or_else(|| {
            metrics::counter!("lienthong_node_body_budget_exhausted_total").increment(1);
            GatewayError::Busy("the node holds as many bodies as it may; try again".into())
        })
    }

    /// Reads a body of at most `body_bytes_max` within the request timeout. Room for
    /// `factor` × its length is reserved first when the length is announced (the factor
    /// covers what is derived from it: parsed JSON, a projected copy), else as it grows.
    async fn read_body<B>(&self, body: B, room: &mut Room, factor: usize) -> Result<Bytes, String>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let held = |room: &Room| room.iter().map(|p| p.num_permits()).sum::<usize>();
        let max = self.config.body_bytes_max;
        let announced = body.size_hint().exact();
        let mut reserved = 0usize; // KiB reserved for this body
        if let Some(n) = announced {
            if n as usize > max {
                return Err(format!("length limit exceeded ({n} > {max} bytes)"));
            }
            reserved = (n as usize).saturating_mul(factor).div_ceil(1024).max(1);
            let r = self
                .reserve(reserved, held(room))
                .await
                .map_err(|e| e.to_string())?;
            room.extend(r);
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.request_timeout_ms);
        let mut body = body;
        let mut out = Vec::with_capacity(announced.unwrap_or(0) as usize);
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err("body not received within the timeout".into()),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > max {
                    return Err(format!("length limit exceeded (> {max} bytes)"));
                }
                out.extend_from_slice(&data);
                if announced.is_none() {
                    // Only what the running total needs beyond what is reserved: many tiny
                    // frames cannot pin more room than their bytes.
                    let need = out.len().saturating_mul(factor).div_ceil(1024);
                    if need > reserved {
                        let r = self
                            .reserve(need - reserved, held(room))
                            .await
                            .map_err(|e| e.to_string())?;
                        room.extend(r);
                        reserved = need;
                    }
                }
            }
        }
        Ok(Bytes::from(out))
    }
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
}

impl RunningNode {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Starts a node: opens its message log, loads the registry snapshot (the registry's, or
/// the one saved at the last run while that is valid; failing if none can be had),
/// connects its tables, binds both faces.
pub async fn start(config: NodeConfig) -> Result<RunningNode, String> {
    let mut services = HashMap::new();
    for t in config.tables.clone() {
        let code = t.code.clone();
        services.insert(code, TableService::connect(t).await?);
    }
    // Fail at start on unusable TLS material; per-provider clients are made on first use.
    lienthong_trust::client_config(&config.ca_pem, &config.cert_pem, &config.key_pem)
        .map_err(|e| e.to_string())?;
    let server_tls =
        lienthong_trust::server_config(&config.ca_pem, &config.cert_pem, &config.key_pem)
            .map_err(|e| e.to_string())?;
    let client_listener = TcpListener::bind(config.client_listen)
        .await
        .map_err(|e| format!("binding client face {}: {e}", config.client_listen))?;
    let peer_listener = TcpListener::bind(config.peer_listen)
        .await
        .map_err(|e| format!("binding peer face {}: {e}", config.peer_listen))?;
    let admin_listener = TcpListener::bind(config.admin_listen)
        .await
        .map_err(|e| format!("binding admin face {}: {e}", config.admin_listen))?;
    let admin_addr = admin_listener.local_addr().map_err(|e| e.to_string())?;
    let client_addr = client_listener.local_addr().map_err(|e| e.to_string())?;
    let peer_addr = peer_listener.local_addr().map_err(|e| e.to_string())?;
    let replay = Mutex::new(ReplayGuard {
        seen: HashMap::new(),
        window_s: config.replay_window_s,
        entries_max: config.replay_entries_max,
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
    let log_key = SigningKey::from_pem(&config.signing_key.to_pem().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let log = crate::msglog::MessageLog::open(&config.log_path, log_key).await?;
    let snapshot = Arc::new(SnapshotCache::saved_in(
        config.registry_url.clone(),
        config.registry_key.clone(),
        log.clone(),
    ));
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
    });
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
        .with_state(inner.clone());
    let mut stop1 = stop_rx.clone();
    let client_task = tokio::spawn(async move {
        let _ = axum::serve(client_listener, client_app)
            .with_graceful_shutdown(async move {
                let _ = stop1.changed().await;
            })
            .await;
    });
    let peer_app = Router::new()
        .route("/lt1/{*rest}", any(provider))
        .with_state(inner.clone());
    crate::telemetry::handle();
    let admin_app = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/metrics",
            get(|| async { crate::telemetry::handle().render() }),
        )
        .with_state(inner.clone());
    let mut stop2 = stop_rx.clone();
    let admin_task = tokio::spawn(async move {
        let _ = axum::serve(admin_listener, admin_app)
            .with_graceful_shutdown(async move {
                let _ = stop2.changed().await;
            })
            .await;
    });
    let peer_task = tokio::spawn(serve_mtls(peer_listener, server_tls, peer_app, stop_rx));
    let poll_task = tokio::spawn(async move { snapshot.poll(poll).await });
    Ok(RunningNode {
        client_addr,
        peer_addr,
        admin_addr,
        stop,
        tasks: vec![client_task, peer_task, admin_task, poll_task],
    })
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

/// The TLS peer's certificate fingerprint, attached to every request on that connection.
#[derive(Clone)]
struct PeerFingerprint(String);

async fn serve_mtls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, remote)) = accepted else {
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(%remote, error = %e, "tls handshake refused");
                        return;
                    }
                    Err(_) => return,
                };
            let fingerprint = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| lienthong_trust::sha256_hex(c))
                .unwrap_or_default();
            let service = hyper_util::service::TowerToHyperService::new(
                app.layer(Extension(PeerFingerprint(fingerprint))),
            );
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Client face: `{METHOD} /r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}[/path][?query]`.
async fn consumer(
    State(node): State<Arc<Inner>>,
    Path(rest): Path<String>,
    request: Request,
) -> Response {
    let started = std::time::Instant::now();
    let member = node.config.member.to_string();
    let service = service_label(&node, &rest);
    // Kept for the log entry of a refusal (header values are reference-counted).
    let headers = request.headers().clone();
    let method = request.method().clone();
    let query = request.uri().query().unwrap_or("").to_owned();
    let (response, code) = match consume(node.clone(), rest.clone(), request).await {
        Ok(r) => {
            let code = if r.status().is_success() {
                "ok"
            } else {
                "provider_error"
            };
            (r, code)
        }
        Err(e) => {
            let code = e.code();
            log_refusal(&node, &rest, &method, &query, &headers, &e).await;
            (e.into_response(), code)
        }
    };
    crate::telemetry::exchange("consumer", &member, &service, code, started);
    response
}

/// Logs a call this node refused or could not complete, before answering it. A log that
/// cannot take it is itself the failure being answered, or will be at the next exchange.
async fn log_refusal(
    node: &Inner,
    rest: &str,
    method: &axum::http::Method,
    query: &str,
    headers: &HeaderMap,
    error: &GatewayError,
) {
    if matches!(error, GatewayError::LogUnavailable(_)) {
        return;
    }
    let message_id = match header_str(headers, xroad::ID) {
        "" => uuid::Uuid::new_v4().to_string(),
        id => id.to_owned(),
    };
    let reason = error.to_string();
    let record = crate::record::Refusal {
        message_id: &message_id,
        client: header_str(headers, xroad::CLIENT),
        target: rest,
        user_id: header_str(headers, xroad::USER_ID),
        purpose: header_str(headers, xroad::PURPOSE),
        method: method.as_str(),
        query,
        timestamp: now_s(),
        code: error.code(),
        reason: &reason,
        registry_version: node.snapshot.current().map_or(0, |s| s.version),
    };
    if let Err(e) = node
        .log
        .append(&message_id, &record.to_json(), Vec::new())
        .await
    {
        tracing::error!(error = %e, "message log append failed for a refused call");
    }
}

/// X-Road metadata services, answered from the registry snapshot; `None` for ordinary calls.
fn metadata_call(
    node: &Inner,
    rest: &str,
    parts: &axum::http::request::Parts,
) -> Result<Option<Response>, GatewayError> {
    use crate::metadata;
    let segments: Vec<&str> = rest.split('/').collect();
    let answer = match segments.as_slice() {
        ["listClients"] => metadata::list_clients(&*node.snapshot.current()?),
        [i, c, m, s, method] if metadata::METHODS.contains(method) => {
            let provider = MemberId::parse(&format!("{i}/{c}/{m}/{s}"))
                .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
            let snapshot = node.snapshot.current()?;
            match *method {
                "listMethods" => metadata::methods(&snapshot, &provider, None, &today()),
                "allowedMethods" => {
                    let client = MemberId::parse(header_str(&parts.headers, xroad::CLIENT))
                        .map_err(|_| {
                            GatewayError::BadRequest("X-Road-Client header is mandatory".into())
                        })?;
                    metadata::methods(&snapshot, &provider, Some(&client), &today())
                }
                _ => {
                    let code = parse_query(parts.uri.query().unwrap_or(""))
                        .into_iter()
                        .find(|(k, _)| k == "serviceCode")
                        .map(|(_, v)| v);
                    let code = code.ok_or_else(|| {
                        GatewayError::BadRequest("getOpenAPI needs ?serviceCode=".into())
                    })?;
                    metadata::open_api(&snapshot, &provider, &code)?
                }
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(axum::Json(answer).into_response()))
}

/// The service id for metrics when the registry knows it, else a fixed label (bounded).
fn service_label(node: &Inner, rest: &str) -> String {
    let id: String = rest.splitn(6, '/').take(5).collect::<Vec<_>>().join("/");
    let known = node
        .snapshot
        .current()
        .is_ok_and(|s| s.registry.service(&id).is_some());
    if known {
        id
    } else {
        "unknown".into()
    }
}

async fn consume(
    node: Arc<Inner>,
    rest: String,
    request: Request,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    if let Some(answer) = metadata_call(&node, &rest, &parts)? {
        return Ok(answer);
    }
    let segments: Vec<&str> = rest.splitn(6, '/').collect();
    if segments.len() < 5 {
        return Err(GatewayError::BadRequest(
            "path must be /r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}[/…]".into(),
        ));
    }
    let service_id = ServiceId::parse(&segments[..5].join("/"))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let sub_path = segments.get(5).map(|p| format!("/{p}")).unwrap_or_default();
    check_sub_path(&sub_path)?;
    let client_header = header_str(&parts.headers, xroad::CLIENT);
    if client_header.is_empty() {
        return Err(GatewayError::BadRequest(
            "X-Road-Client header is mandatory".into(),
        ));
    }
    let client =
        MemberId::parse(client_header).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    if client != node.config.member {
        return Err(GatewayError::InvalidClient(client.to_string()));
    }
    let snapshot = node.snapshot.current()?;
    let provider = snapshot
        .registry
        .member(&service_id.provider.to_string())
        .ok_or_else(|| GatewayError::UnknownService(service_id.to_string()))?;
    if snapshot.registry.is_revoked(&provider.id) {
        return Err(GatewayError::Revoked(provider.id.clone()));
    }
    let address = provider.address.clone().ok_or_else(|| {
        GatewayError::UnknownService(format!("{} has no node address", provider.id))
    })?;
    let service_meta = snapshot
        .registry
        .service(&service_id.to_string())
        .ok_or_else(|| GatewayError::UnknownService(service_id.to_string()))?;
    let purpose = header_str(&parts.headers, xroad::PURPOSE).to_owned();
    if service_meta.personal_data && purpose.is_empty() {
        return Err(GatewayError::PurposeRequired(service_id.to_string()));
    }
    let mut room = Room::new();
    let body = node
        .read_body(body, &mut room, 1)
        .await
        .map_err(|e| GatewayError::BadRequest(format!("request body: {e}")))?;
    let message_id = match header_str(&parts.headers, xroad::ID) {
        "" => uuid::Uuid::new_v4().to_string(),
        id => id.to_owned(),
    };
    let user_id = header_str(&parts.headers, xroad::USER_ID).to_owned();
    let issue = header_str(&parts.headers, xroad::ISSUE).to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let body_sha = lienthong_trust::sha256_hex(&body);
    let signed_body_len = body.len();
    let started = std::time::Instant::now();
    let timestamp = now_s();
    let client_s = client.to_string();
    let service_s = service_id.to_string();
    let signed = RequestParts {
        method: parts.method.as_str(),
        path: &sub_path,
        query: &query,
        client: &client_s,
        service: &service_s,
        message_id: &message_id,
        timestamp,
        purpose: &purpose,
        user_id: &user_id,
        issue: &issue,
        body_sha256: &body_sha,
    };
    let request_hash = signed.hash();
    let signature = node
        .signer
        .sign(signed.canonical().as_bytes())
        .await
        .map_err(GatewayError::Backend)?;
    let uri = format!(
        "https://{address}/lt1/{service_s}{sub_path}{}{query}",
        if query.is_empty() { "" } else { "?" }
    );
    let mut outgoing = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(&uri);
    for (name, value) in [
        (header::CLIENT, client_s.as_str()),
        (header::SERVICE, service_s.as_str()),
        (header::MESSAGE_ID, message_id.as_str()),
        (header::PURPOSE, purpose.as_str()),
        (header::USER_ID, user_id.as_str()),
        (header::ISSUE, issue.as_str()),
        (header::SIGNATURE, signature.as_str()),
    ] {
        outgoing = outgoing.header(name, value);
    }
    outgoing = outgoing.header(header::TIMESTAMP, timestamp.to_string());
    if let Some(ct) = parts.headers.get("content-type") {
        outgoing = outgoing.header("content-type", ct);
    }
    let outgoing = outgoing
        .body(Full::new(body))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let timeout = Duration::from_millis(node.config.request_timeout_ms);
    let client = node.peer_client(&address, &provider.cert_fingerprint)?;
    let response = tokio::time::timeout(timeout, client.request(outgoing))
        .await
        .map_err(|_| GatewayError::Timeout(node.config.request_timeout_ms))?
        .map_err(|e| GatewayError::ProviderUnreachable(format!("{address}: {e}")))?;
    let (rparts, rbody) = response.into_parts();
    // The request went out: its room is free for the answer (never wait while holding).
    room.clear();
    let rbody = node
        .read_body(rbody, &mut room, 1)
        .await
        .map_err(|e| GatewayError::ProviderUnreachable(format!("reading response: {e}")))?;
    // The provider's signature binds status, body and our request hash.
    let r_hash = header_str(&rparts.headers, header::REQUEST_HASH);
    let r_ts: u64 = header_str(&rparts.headers, header::TIMESTAMP)
        .parse()
        .unwrap_or(0);
    let r_sig = header_str(&rparts.headers, header::SIGNATURE);
    let canonical = canonical_response(
        r_hash,
        rparts.status.as_u16(),
        &lienthong_trust::sha256_hex(&rbody),
        r_ts,
    );
    if r_hash != request_hash
        || crate::batchsig::verify(
            &provider.signing_key,
            canonical.as_bytes(),
            r_sig,
            Some(&node.roots),
        )
        .is_err()
    {
        return Err(GatewayError::BadResponse);
    }
    let request_id = header_str(&rparts.headers, header::REQUEST_ID).to_owned();
    // The consumer's own record: both signatures, so it proves the exchange on its own.
    let response_sha = lienthong_trust::sha256_hex(&rbody);
    let error_code = rparts
        .headers
        .get(xroad::ERROR)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("ok")
        .to_owned();
    let (data_subjects, fields) = crate::record::subjects_and_fields(
        crate::record::dataset_of(&snapshot, &service_s),
        &sub_path,
        if error_code == "ok" { &rbody } else { b"" },
    );
    let record = crate::record::Record {
        side: "consumer",
        request: &signed,
        request_signature: &signature,
        consumer_key: &node.config.signing_key.public_b64(),
        provider_key: &provider.signing_key,
        answer: &crate::record::Answer {
            status: rparts.status.as_u16(),
            body_sha256: &response_sha,
            timestamp: r_ts,
            signature: r_sig,
            request_id: &request_id,
        },
        code: &error_code,
        data_subjects,
        fields,
        bytes_in: rbody.len(),
        bytes_out: signed_body_len,
        duration_ms: started.elapsed().as_millis() as u64,
        registry_version: snapshot.version,
    };
    let bodies = if node.logs_bodies_of(&service_s) {
        vec![(response_sha.clone(), rbody.to_vec())]
    } else {
        Vec::new()
    };
    node.log
        .append(&message_id, &record.to_json(), bodies)
        .await
        .map_err(GatewayError::LogUnavailable)?;
    let mut out = Response::builder().status(rparts.status);
    for name in ["content-type", xroad::ERROR] {
        if let Some(v) = rparts.headers.get(name) {
            out = out.header(name, v);
        }
    }
    out = out
        .header(xroad::CLIENT, client_s)
        .header(xroad::SERVICE, service_s)
        .header(xroad::ID, message_id)
        .header(xroad::REQUEST_ID, request_id)
        .header(xroad::REQUEST_HASH, request_hash);
    out.body(Body::from(rbody))
        .map_err(|e| GatewayError::Backend(e.to_string()))
}

/// Peer face: verifies the calling node and member, the agreement, then reads the table.
async fn provider(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Path(rest): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut room = Room::new();
    let body = match node.read_body(body, &mut room, 1).await {
        Ok(b) => b,
        Err(e) => return GatewayError::BadRequest(format!("request body: {e}")).into_response(),
    };
    let query = parts.uri.query().unwrap_or("").to_owned();
    let service_s = header_str(&parts.headers, header::SERVICE).to_owned();
    let sub_path = rest
        .strip_prefix(service_s.as_str())
        .unwrap_or("")
        .to_owned();
    let message_id = header_str(&parts.headers, header::MESSAGE_ID).to_owned();
    let timestamp: u64 = header_str(&parts.headers, header::TIMESTAMP)
        .parse()
        .unwrap_or(0);
    let signed = RequestParts {
        method: parts.method.as_str(),
        path: &sub_path,
        query: &query,
        client: header_str(&parts.headers, header::CLIENT),
        service: &service_s,
        message_id: &message_id,
        timestamp,
        purpose: header_str(&parts.headers, header::PURPOSE),
        user_id: header_str(&parts.headers, header::USER_ID),
        issue: header_str(&parts.headers, header::ISSUE),
        body_sha256: &lienthong_trust::sha256_hex(&body),
    };
    let request_hash = signed.hash();
    let started = std::time::Instant::now();
    let result = serve_call(
        &node,
        &peer.0,
        &parts.method,
        &signed,
        &parts.headers,
        &rest,
        Incoming {
            body: body.clone(),
            room: &mut room,
        },
    )
    .await;
    let code = result.as_ref().map_or_else(|e| e.code(), |_| "ok");
    crate::telemetry::exchange(
        "provider",
        &node.config.member.to_string(),
        &service_label(&node, &service_s),
        code,
        started,
    );
    let bytes_in = body.len();
    let mut answered_subjects: Vec<String> = Vec::new();
    let (status, body, error_code) = match result {
        Ok((status, body, subjects)) => {
            answered_subjects = subjects;
            (status, Bytes::from(body), None)
        }
        Err(e) => {
            let code = e.code();
            let response = e.into_response();
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (status, bytes, Some(code))
        }
    };
    let signed_answer = sign_answer(&node, &request_hash, status, &body).await;
    // Every call that reached the peer face is logged, refusals included, before it is answered.
    let snapshot = node.snapshot.current().ok();
    let consumer_key = snapshot
        .as_ref()
        .and_then(|s| s.registry.member(signed.client))
        .map(|m| m.signing_key.clone())
        .unwrap_or_default();
    let dataset = snapshot
        .as_ref()
        .and_then(|s| crate::record::dataset_of(s, &service_s));
    // Subjects only for answered calls, from the unprojected rows; a refusal names nobody (its
    // path is the caller's claim, not an access).
    let (_, fields) = crate::record::subjects_and_fields(
        dataset,
        &sub_path,
        if error_code.is_none() { &body } else { b"" },
    );
    let data_subjects = answered_subjects;
    let record = crate::record::Record {
        side: "provider",
        request: &signed,
        request_signature: header_str(&parts.headers, header::SIGNATURE),
        consumer_key: &consumer_key,
        provider_key: &node.config.signing_key.public_b64(),
        answer: &signed_answer.answer(),
        code: error_code.unwrap_or("ok"),
        data_subjects,
        fields,
        bytes_in,
        bytes_out: body.len(),
        duration_ms: started.elapsed().as_millis() as u64,
        registry_version: snapshot.as_ref().map_or(0, |s| s.version),
    };
    let bodies = if node.logs_bodies_of(signed.service) {
        vec![(signed_answer.body_sha256.clone(), body.to_vec())]
    } else {
        Vec::new()
    };
    if let Err(e) = node
        .log
        .append(&message_id, &record.to_json(), bodies)
        .await
    {
        tracing::error!(error = %e, "message log append failed; answer withheld");
        let failure = GatewayError::LogUnavailable(e);
        let code = failure.code();
        let bytes = failure
            .into_response()
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut r = signed_answer_response(
            sign_answer(
                &node,
                &request_hash,
                StatusCode::INTERNAL_SERVER_ERROR,
                &bytes,
            )
            .await,
            request_hash.clone(),
            bytes,
        );
        r.headers_mut()
            .insert(xroad::ERROR, HeaderValue::from_static(code));
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return r;
    }
    let mut r = signed_answer_response(signed_answer, request_hash, body);
    // Answers and errors alike are JSON.
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(code) = error_code {
        r.headers_mut()
            .insert(xroad::ERROR, HeaderValue::from_static(code));
    }
    r
}

/// A provider's answer before signing: status, body, and the data subjects it concerned,
/// taken from the rows *before* the agreement's projection (so a consumer allowed no ID field
/// still leaves the subjects in the audit trail).
type Answered = (StatusCode, Vec<u8>, Vec<String>);

/// Personal IDs in rows, by the dataset's `personal_id` fields.
fn subjects_of(dataset: &catalog::Dataset, rows: &[&Vec<(&'static str, String)>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for row in rows {
        for (field, value) in row.iter() {
            let is_pid = dataset
                .field(field)
                .is_some_and(|f| f.element == "personal_id");
            if is_pid && !value.is_empty() && !out.contains(value) {
                out.push(value.clone());
            }
        }
    }
    out
}

/// A provider's signature over one answer.
struct SignedAnswer {
    status: StatusCode,
    body_sha256: String,
    timestamp: u64,
    signature: String,
    request_id: String,
}

impl SignedAnswer {
    fn answer(&self) -> crate::record::Answer<'_> {
        crate::record::Answer {
            status: self.status.as_u16(),
            body_sha256: &self.body_sha256,
            timestamp: self.timestamp,
            signature: &self.signature,
            request_id: &self.request_id,
        }
    }
}

async fn sign_answer(
    node: &Inner,
    request_hash: &str,
    status: StatusCode,
    body: &[u8],
) -> SignedAnswer {
    let timestamp = now_s();
    let body_sha256 = lienthong_trust::sha256_hex(body);
    let canonical = canonical_response(request_hash, status.as_u16(), &body_sha256, timestamp);
    // A signer that stopped (the node is shutting down) still answers, one by one.
    let signature = match node.signer.sign(canonical.as_bytes()).await {
        Ok(s) => s,
        Err(_) => node.config.signing_key.sign(canonical.as_bytes()),
    };
    SignedAnswer {
        status,
        body_sha256,
        timestamp,
        signature,
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

fn signed_answer_response(a: SignedAnswer, request_hash: String, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = a.status;
    let h = r.headers_mut();
    for (name, value) in [
        (header::REQUEST_HASH, request_hash),
        (header::SIGNATURE, a.signature),
        (header::TIMESTAMP, a.timestamp.to_string()),
        (header::REQUEST_ID, a.request_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    r
}

fn agreement_for<'a>(
    snapshot: &'a SnapshotBody,
    consumer: &str,
    service: &str,
) -> Option<&'a Agreement> {
    snapshot
        .registry
        .agreements
        .iter()
        .find(|a| a.consumer == consumer && a.service == service)
}

fn today() -> String {
    lienthong_core::vietnam_date(now_s() as i64)
}

/// Identity, signature, replay and agreement checks, all before the backend is touched.
async fn serve_call(
    node: &Inner,
    peer_fingerprint: &str,
    method: &Method,
    signed: &RequestParts<'_>,
    headers: &HeaderMap,
    rest: &str,
    incoming: Incoming<'_>,
) -> Result<Answered, GatewayError> {
    if !signed.is_unambiguous() {
        return Err(GatewayError::BadRequest(
            "control characters in a signed field".into(),
        ));
    }
    let snapshot = node.snapshot.current()?;
    let consumer =
        MemberId::parse(signed.client).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let consumer_s = consumer.to_string();
    if snapshot.registry.is_revoked(&consumer_s) {
        return Err(GatewayError::Revoked(consumer_s));
    }
    let member = snapshot
        .registry
        .member(&consumer_s)
        .ok_or_else(|| GatewayError::UnknownMember(consumer_s.clone()))?;
    if member.cert_fingerprint != peer_fingerprint {
        return Err(GatewayError::PeerCertificate(consumer_s));
    }
    let signature = header_str(headers, header::SIGNATURE);
    crate::batchsig::verify(
        &member.signing_key,
        signed.canonical().as_bytes(),
        signature,
        Some(&node.roots),
    )
    .map_err(|_| GatewayError::BadSignature)?;
    let service_id =
        ServiceId::parse(signed.service).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    if rest != format!("{}{}", signed.service, signed.path)
        || service_id.provider != node.config.member
    {
        return Err(GatewayError::UnknownService(signed.service.to_owned()));
    }
    check_sub_path(signed.path)?;
    let meta = snapshot
        .registry
        .service(signed.service)
        .ok_or_else(|| GatewayError::UnknownService(signed.service.to_owned()))?;
    let agreement = agreement_for(&snapshot, &consumer_s, signed.service).ok_or_else(|| {
        GatewayError::NoAgreement {
            consumer: consumer_s.clone(),
            service: signed.service.to_owned(),
        }
    })?;
    let today = today();
    if today < agreement.valid_from || today > agreement.valid_to {
        return Err(GatewayError::AgreementNotInForce {
            service: signed.service.to_owned(),
            from: agreement.valid_from.clone(),
            to: agreement.valid_to.clone(),
        });
    }
    if meta.personal_data && signed.purpose.is_empty() {
        return Err(GatewayError::PurposeRequired(signed.service.to_owned()));
    }
    if !signed.purpose.is_empty() && !agreement.purposes.iter().any(|p| p == signed.purpose) {
        return Err(GatewayError::PurposeNotAllowed {
            purpose: signed.purpose.chars().take(64).collect(),
            service: signed.service.to_owned(),
        });
    }
    // Replays are refused once the caller is known to be entitled, so unentitled callers
    // cannot fill the cache.
    let replay_check = node
        .replay
        .lock()
        .map_err(|_| GatewayError::Backend("replay lock poisoned".into()))?
        .check(signed.client, signed.message_id, signed.timestamp, now_s());
    replay_check?;
    if let Some(backend) = node.rest.get(&service_id.code) {
        let dataset = catalog::dataset(&meta.dataset).ok_or_else(|| {
            GatewayError::UnknownService(format!("{}: dataset {}", signed.service, meta.dataset))
        })?;
        if method != Method::GET {
            return Err(GatewayError::BadRequest(
                "REST services answer GET only under read agreements".into(),
            ));
        }
        for (field, _) in parse_query(signed.query) {
            if !field_allowed(agreement, &field, dataset) {
                return Err(GatewayError::FieldNotAllowed(field));
            }
        }
        return proxy(node, backend, method, signed, incoming, agreement, dataset).await;
    }
    if method != Method::GET {
        return Err(GatewayError::BadRequest(
            "dataset services answer GET only".into(),
        ));
    }
    let table = node
        .services
        .get(&service_id.code)
        .ok_or_else(|| GatewayError::UnknownService(signed.service.to_owned()))?;
    let dataset = table.config.dataset;
    // `?fields=a,b` selects fields; one the agreement withholds is refused by name, never
    // dropped in silence.
    let selected = selected_fields(signed.query, agreement, dataset)?;
    let filter = |row: Vec<(&'static str, String)>| {
        let mut record = project(row, agreement, dataset);
        if let Some(keep) = &selected {
            record.retain(|k, _| keep.iter().any(|f| f == k));
        }
        record
    };
    let subjects: Vec<String>;
    let json = if let Some(key) = signed.path.strip_prefix("/records/") {
        let row = table.get(key).await?;
        subjects = subjects_of(dataset, &[&row]);
        serde_json::Value::Object(filter(row))
    } else if signed.path == "/records" || signed.path == "/records/" {
        let mut filters = Vec::new();
        let mut limit = 100;
        let mut cursor = None;
        for (k, v) in parse_query(signed.query) {
            match k.as_str() {
                "limit" => {
                    limit = v
                        .parse()
                        .map_err(|_| GatewayError::BadRequest("limit must be a number".into()))?
                }
                "cursor" => cursor = Some(v),
                "fields" => {}
                _ => filters.push((k, v)),
            }
        }
        for (field, _) in &filters {
            if !field_allowed(agreement, field, table.config.dataset) {
                return Err(GatewayError::FieldNotAllowed(field.clone()));
            }
        }
        // The cursor is the record key: offered only to consumers allowed to see the key.
        let key_allowed = table
            .config
            .dataset
            .key
            .iter()
            .all(|k| field_allowed(agreement, k, table.config.dataset));
        if cursor.is_some() && !key_allowed {
            return Err(GatewayError::FieldNotAllowed(
                "cursor (the record key)".into(),
            ));
        }
        let (rows, next) = table.query(&filters, limit, cursor.as_deref()).await?;
        let next = next.filter(|_| key_allowed);
        subjects = subjects_of(dataset, &rows.iter().collect::<Vec<_>>());
        serde_json::json!({ "records": rows.into_iter().map(filter).collect::<Vec<_>>(), "next_cursor": next })
    } else if signed.path == "/changes" {
        // A change feed carries record keys (deletes are keys): only for consumers allowed
        // to see the key.
        if !dataset
            .key
            .iter()
            .all(|k| field_allowed(agreement, k, dataset))
        {
            return Err(GatewayError::FieldNotAllowed(
                "changes (they carry the record key)".into(),
            ));
        }
        let (mut after, mut limit) = (0i64, 100u32);
        for (k, v) in parse_query(signed.query) {
            let n = || GatewayError::BadRequest(format!("{k} must be a number"));
            match k.as_str() {
                "after" => after = v.parse().map_err(|_| n())?,
                "limit" => limit = v.parse().map_err(|_| n())?,
                "fields" => {}
                _ => return Err(GatewayError::BadRequest(format!("unknown parameter {k}"))),
            }
        }
        let changes = table.changes(after, limit).await?;
        subjects = subjects_of(
            dataset,
            &changes.iter().map(|c| &c.record).collect::<Vec<_>>(),
        );
        let next = changes.last().map_or(after, |c| c.seq);
        let items: Vec<serde_json::Value> = changes
            .into_iter()
            .map(|c| serde_json::json!({ "seq": c.seq, "op": c.op, "id": c.id, "committed_at_ms": c.committed_at_ms, "record": filter(c.record) }))
            .collect();
        serde_json::json!({ "changes": items, "next": next })
    } else {
        return Err(GatewayError::BadRequest(
            "paths: /records/{key}, /records?field=value&limit=&cursor= or /changes?after=&limit="
                .into(),
        ));
    };
    let bytes = serde_json::to_vec(&json).map_err(|e| GatewayError::Backend(e.to_string()))?;
    Ok((StatusCode::OK, bytes, subjects))
}

/// Forwards the call to the REST backend and applies the agreement to its JSON answer: a
/// top-level object (or each object of a top-level array) keeps only allowed fields, with
/// sensitive fields masked under `*`. Anything else must not carry personal data.
async fn proxy(
    node: &Inner,
    backend: &RestConfig,
    method: &Method,
    signed: &RequestParts<'_>,
    incoming: Incoming<'_>,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> Result<Answered, GatewayError> {
    let Incoming { body, room } = incoming;
    let query = if signed.query.is_empty() {
        String::new()
    } else {
        format!("?{}", signed.query)
    };
    let uri = format!(
        "{}{}{query}",
        backend.base_url.trim_end_matches('/'),
        signed.path
    );
    let request = hyper::Request::builder()
        .method(method.clone())
        .uri(&uri)
        .header("content-type", "application/json")
        .header("x-road-client", signed.client)
        .header("x-road-userid", signed.user_id)
        .header("x-lienthong-purpose", signed.purpose)
        .body(Full::new(body))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let timeout = Duration::from_millis(node.config.request_timeout_ms);
    let response = tokio::time::timeout(timeout, node.backend_client.request(request))
        .await
        .map_err(|_| GatewayError::Timeout(node.config.request_timeout_ms))?
        .map_err(|e| GatewayError::Backend(format!("REST backend {}: {e}", backend.code)))?;
    let status = response.status();
    // The answer's text, its parsed JSON (a few times the text) and the projected copy, in
    // the same room as the call's request.
    let bytes = node
        .read_body(response.into_body(), room, 5)
        .await
        .map_err(|e| GatewayError::Backend(format!("REST backend body: {e}")))?;
    if bytes.is_empty() {
        return Ok((status, Vec::new(), Vec::new()));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
        GatewayError::Backend(format!(
            "REST backend {} answered non-JSON; refused so that no field escapes the agreement",
            backend.code
        ))
    })?;
    let filter = |v: serde_json::Value| match v {
        serde_json::Value::Object(map) => {
            let row = map
                .into_iter()
                .filter_map(|(k, v)| {
                    dataset.field(&k).map(|f| {
                        (
                            f.name,
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                })
                .collect();
            serde_json::Value::Object(project(row, agreement, dataset))
        }
        other => other,
    };
    let projected = match value {
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(filter).collect())
        }
        serde_json::Value::Object(_) => filter(value),
        _ => {
            return Err(GatewayError::Backend(format!(
                "REST backend {} answered a bare JSON value",
                backend.code
            )))
        }
    };
    let out = serde_json::to_vec(&projected).map_err(|e| GatewayError::Backend(e.to_string()))?;
    let (subjects, _) = crate::record::subjects_and_fields(Some(dataset), "", &bytes);
    Ok((status, out, subjects))
}

fn sensitivity(dataset: &catalog::Dataset, field: &str) -> Sensitivity {
    dataset
        .field(field)
        .and_then(|f| catalog::element(f.element))
        .map_or(Sensitivity::SensitivePersonal, |e| e.sensitivity)
}

fn field_allowed(agreement: &Agreement, field: &str, dataset: &catalog::Dataset) -> bool {
    agreement.fields.iter().any(|f| f == field)
        || (agreement.fields.iter().any(|f| f == "*")
            && sensitivity(dataset, field) != Sensitivity::SensitivePersonal)
}

/// A sub-path is empty or `/segment[/segment…]`; nothing that could move a proxied request
/// elsewhere (`..`, `@`, `?`, `#`, `\\`, control characters) is accepted.
fn check_sub_path(path: &str) -> Result<(), GatewayError> {
    let bad = || GatewayError::BadRequest("malformed sub-path".into());
    if path.is_empty() {
        return Ok(());
    }
    if !path.starts_with('/')
        || path
            .chars()
            .any(|c| c.is_control() || matches!(c, '@' | '?' | '#' | '\\'))
    {
        return Err(bad());
    }
    if path.split('/').skip(1).any(|seg| seg == ".." || seg == ".") {
        return Err(bad());
    }
    Ok(())
}

/// The fields a `fields=a,b` query parameter asks for, if any: each must be a field of the
/// dataset (else `Client.BadRequest`) that the agreement allows (else
/// `Client.FieldNotAllowed`, naming every one withheld).
fn selected_fields(
    query: &str,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> Result<Option<Vec<String>>, GatewayError> {
    let Some(list) = parse_query(query)
        .into_iter()
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let asked: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if asked.is_empty() {
        return Err(GatewayError::BadRequest(
            "fields= names no field (fields=a,b)".into(),
        ));
    }
    if let Some(unknown) = asked.iter().find(|f| dataset.field(f).is_none()) {
        return Err(GatewayError::BadRequest(format!(
            "{unknown} is not a field of dataset {}",
            dataset.name
        )));
    }
    let withheld: Vec<&str> = asked
        .iter()
        .filter(|f| !field_allowed(agreement, f, dataset))
        .map(String::as_str)
        .collect();
    if !withheld.is_empty() {
        return Err(GatewayError::FieldNotAllowed(withheld.join(", ")));
    }
    Ok(Some(asked))
}

/// Keeps the fields the agreement allows; under `*`, sensitive fields are masked unless named.
fn project(
    row: Vec<(&'static str, String)>,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> serde_json::Map<String, serde_json::Value> {
    let all = agreement.fields.iter().any(|f| f == "*");
    row.into_iter()
        .filter_map(|(field, value)| {
            if agreement.fields.iter().any(|f| f == field) {
                Some((field.to_owned(), value.into()))
            } else if all {
                let v = if sensitivity(dataset, field) == Sensitivity::SensitivePersonal {
                    "***".to_owned()
                } else {
                    value
                };
                Some((field.to_owned(), v.into()))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_guard_rejects_repeats_and_stale_messages() {
        let mut g = ReplayGuard {
            seen: HashMap::new(),
            window_s: 300,
            entries_max: 2,
        };
        assert!(g.check("c", "a", 1000, 1000).is_ok());
        assert!(matches!(
            g.check("c", "a", 1000, 1001),
            Err(GatewayError::Replay(_))
        ));
        assert!(matches!(
            g.check("c", "b", 600, 1000),
            Err(GatewayError::StaleMessage(_))
        ));
        assert!(matches!(
            g.check("c", "c", 1400, 1000),
            Err(GatewayError::StaleMessage(_))
        ));
        assert!(g.check("c", "d", 1000, 1000).is_ok());
        // Full: entries older than the window are dropped first.
        assert!(g.check("c", "e", 2000, 2000).is_ok());
    }
}
