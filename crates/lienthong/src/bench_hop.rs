//! `lienthong bench hop`: the exchange benchmark's ablation (docs/benchmarks.md, issue 14).
//! Two processes — a consumer hop and a provider hop — proxy wrk's calls to the backend the
//! way two nodes do, one cost added per stage, each stage on its own port so one pair of
//! processes serves them all:
//!
//! | stage   | between the hops                 | added on top                                 |
//! |---------|----------------------------------|----------------------------------------------|
//! | `plain` | HTTP/1.1, pooled keep-alive      | —                                            |
//! | `h2`    | HTTP/2 over one TCP connection   | the nodes' multiplexing, without TLS         |
//! | `tls`   | HTTP/2 over mutual TLS 1.3       | the nodes' transport (pinned certificate)    |
//! | `sign`  | as `tls`                         | lt1 canonical strings, batch signatures, both ways |
//! | `log`   | as `tls`                         | the message-log record, durable on both hops |
//!
//! The fifth step, "+ agreement check and field projection", is the node itself. The pieces
//! are the node's own: its accept loop (`serve_router`), rustls configs, `batchsig`, the
//! canonical strings and the message log with its record — only the node's policy is not
//! here. Not a product path: nothing here checks who calls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use lienthong_gateway::batchsig::{self, RootCache, Signer};
use lienthong_gateway::msglog::MessageLog;
use lienthong_gateway::protocol::{canonical_response, RequestParts};
use lienthong_gateway::record::{Answer, Record};
use lienthong_trust::{sha256_hex, SigningKey};

#[derive(clap::Args)]
pub struct HopArgs {
    /// Which side of the exchange this process plays.
    #[arg(long, value_enum)]
    role: Role,
    /// This hop's keys as `lienthong keys member|node` write them (signing.key, node.crt,
    /// node.key).
    #[arg(long)]
    keys: PathBuf,
    /// The CA that issued both hops' certificates.
    #[arg(long)]
    ca: PathBuf,
    /// The other hop's member key (base64), to verify its signatures.
    #[arg(long)]
    peer_key: String,
    /// The provider hop's certificate fingerprint (hex SHA-256), pinned as nodes pin it
    /// (consumer only).
    #[arg(long, default_value = "")]
    peer_fingerprint: String,
    /// The first of five ports, one per stage (plain, h2, tls, sign, log), on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// Consumer: the provider hop's first port. Provider: the backend's base URL.
    #[arg(long)]
    upstream: String,
    /// The message log (SQLite) of the `log` stage.
    #[arg(long)]
    log: PathBuf,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Role {
    Consumer,
    Provider,
}

/// The stages in order; each includes every cost before it.
const STAGES: [&str; 5] = ["plain", "h2", "tls", "sign", "log"];
const H2: usize = 1;
const TLS: usize = 2;
const SIGN: usize = 3;
const LOG: usize = 4;

type HttpClient = Client<HttpConnector, Full<Bytes>>;
type TlsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

struct Hop {
    stage: usize,
    role: Role,
    upstream: String,
    plain: HttpClient,
    tls: Option<TlsClient>,
    signer: Signer,
    key: String,
    peer_key: String,
    roots: RootCache,
    log: MessageLog,
}

pub async fn hop(args: HopArgs) -> Result<std::process::ExitCode> {
    let read = |name: &str| {
        let path = args.keys.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let key_pem = read("signing.key")?;
    let key = SigningKey::from_pem(&key_pem)?;
    let public_key = key.public_b64();
    let (cert, node_key) = (read("node.crt")?, read("node.key")?);
    let ca = std::fs::read_to_string(&args.ca)
        .with_context(|| format!("reading {}", args.ca.display()))?;
    let log = MessageLog::open(&args.log.to_string_lossy(), SigningKey::from_pem(&key_pem)?)
        .await
        .map_err(anyhow::Error::msg)?;
    let signer = Signer::start(key);
    let tls = match args.role {
        Role::Consumer => {
            let config = lienthong_trust::client_config_pinned(
                &ca,
                &cert,
                &node_key,
                &args.peer_fingerprint,
            )?;
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*config).clone())
                .https_only()
                .enable_http2()
                .build();
            Some(
                Client::builder(TokioExecutor::new())
                    .http2_only(true)
                    .build(connector),
            )
        }
        Role::Provider => None,
    };
    let server_tls = lienthong_trust::server_config(&ca, &cert, &node_key)?;
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for stage in 0..STAGES.len() {
        let hop = Arc::new(Hop {
            stage,
            role: args.role,
            upstream: args.upstream.clone(),
            // The consumer's `h2` stage speaks HTTP/2 with prior knowledge, as nodes do
            // over TLS; every other plain client is HTTP/1.1 with a keep-alive pool.
            plain: Client::builder(TokioExecutor::new())
                .http2_only(args.role == Role::Consumer && stage == H2)
                .build_http(),
            tls: tls.clone(),
            signer: signer.clone(),
            key: public_key.clone(),
            peer_key: args.peer_key.clone(),
            roots: RootCache::new(4096),
            log: log.clone(),
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], args.port + stage as u16));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let tls = (args.role == Role::Provider && stage >= TLS).then(|| server_tls.clone());
        let app = Router::new().fallback(handle).with_state(hop);
        tasks.push(tokio::spawn(lienthong_gateway::node::serve_router(
            listener,
            tls,
            app,
            4096,
            stop.clone(),
        )));
    }
    eprintln!(
        "bench hop: {} stages {:?} on 127.0.0.1:{}..",
        match args.role {
            Role::Consumer => "consumer",
            Role::Provider => "provider",
        },
        STAGES,
        args.port
    );
    for t in tasks {
        t.await?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn fail(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (status, why.to_string()).into_response()
}

async fn handle(State(hop): State<Arc<Hop>>, request: Request) -> Response {
    let result = match hop.role {
        Role::Consumer => consumer(&hop, request).await,
        Role::Provider => provider(&hop, request).await,
    };
    result.unwrap_or_else(|e| e)
}

/// The header names the hops use, as the nodes' `x-lt-*`.
const SIGNATURE: &str = "x-lt-signature";
const MESSAGE_ID: &str = "x-lt-message-id";
const TIMESTAMP: &str = "x-lt-timestamp";
const REQUEST_HASH: &str = "x-lt-request-hash";

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// What both hops sign for a call: the node's own canonical request.
fn request_parts<'a>(
    method: &'a str,
    path: &'a str,
    message_id: &'a str,
    timestamp: u64,
    body_sha256: &'a str,
) -> RequestParts<'a> {
    RequestParts {
        method,
        path,
        query: "",
        client: "VN/GOV/BHXH/SI",
        service: "VN/GOV/BCA/DANCU/profile",
        message_id,
        timestamp,
        purpose: "bench",
        user_id: "",
        issue: "",
        body_sha256,
        headers_sha256: "",
    }
}

/// The record a node logs for the exchange, so the log stage writes what nodes write.
#[allow(clippy::too_many_arguments)]
async fn log_exchange(
    hop: &Hop,
    side: &'static str,
    request: &RequestParts<'_>,
    request_signature: &str,
    answer: &Answer<'_>,
    consumer_key: &str,
    provider_key: &str,
    sizes: (usize, usize),
) -> Result<(), Response> {
    let record = Record {
        side,
        request,
        request_signature,
        consumer_key,
        provider_key,
        answer,
        code: "ok",
        data_subjects: vec!["001090123456".into()],
        fields: Vec::new(),
        bytes_in: sizes.0,
        bytes_out: sizes.1,
        duration_ms: 0,
        registry_version: 1,
        pseudonyms: None,
        request_hash: &request.hash(),
        client_message_id: None,
        client_system: None,
        trace_id: None,
    };
    hop.log
        .append_entry(request.message_id, record.entry(), Vec::new())
        .await
        .map(|_| ())
        .map_err(|e| fail(StatusCode::SERVICE_UNAVAILABLE, e))
}

async fn collect(body: Body) -> Result<Bytes, Response> {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| fail(StatusCode::BAD_REQUEST, e))
}

fn now_s() -> u64 {
    lienthong_core::time::now_s()
}

async fn consumer(hop: &Hop, request: Request) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    let body = collect(body).await?;
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    let port: u16 = hop
        .upstream
        .parse()
        .map_err(|_| fail(StatusCode::BAD_GATEWAY, "upstream port"))?;
    let port = port + hop.stage as u16;
    let message_id = lienthong_gateway::node::new_message_id();
    let timestamp = now_s();
    let body_sha = sha256_hex(&body);
    let signed = request_parts(&method, &path, &message_id, timestamp, &body_sha);
    let mut outgoing = hyper::Request::builder().method(parts.method.clone());
    let mut signature = String::new();
    if hop.stage >= SIGN {
        signature = hop
            .signer
            .sign(signed.canonical().as_bytes())
            .await
            .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        outgoing = outgoing
            .header(SIGNATURE, &signature)
            .header(MESSAGE_ID, &message_id)
            .header(TIMESTAMP, timestamp.to_string());
    }
    let scheme = match &hop.tls {
        Some(_) if hop.stage >= TLS => "https",
        _ => "http",
    };
    let outgoing = outgoing
        .uri(format!("{scheme}://127.0.0.1:{port}{path}"))
        .body(Full::new(body.clone()))
        .map_err(|e| fail(StatusCode::BAD_REQUEST, e))?;
    let response = match &hop.tls {
        Some(tls) if hop.stage >= TLS => tls.request(outgoing).await,
        _ => hop.plain.request(outgoing).await,
    }
    .map_err(|e| fail(StatusCode::BAD_GATEWAY, e))?;
    let (rparts, rbody) = response.into_parts();
    let rbody = collect(Body::new(rbody)).await?;
    let status = rparts.status;
    let r_ts: u64 = header(&rparts.headers, TIMESTAMP).parse().unwrap_or(0);
    let r_sig = header(&rparts.headers, SIGNATURE).to_owned();
    let rsha = sha256_hex(&rbody);
    if hop.stage >= SIGN {
        let request_hash = signed.hash();
        let canonical = canonical_response(&request_hash, status.as_u16(), &rsha, r_ts, "");
        let verified = header(&rparts.headers, REQUEST_HASH) == request_hash
            && batchsig::verify(
                &hop.peer_key,
                canonical.as_bytes(),
                &r_sig,
                Some(&hop.roots),
            )
            .is_ok();
        if !verified {
            return Err(fail(
                StatusCode::BAD_GATEWAY,
                "the answer's signature does not verify",
            ));
        }
    }
    if hop.stage >= LOG {
        let answer = Answer {
            status: status.as_u16(),
            body_sha256: &rsha,
            timestamp: r_ts,
            signature: &r_sig,
            request_id: &message_id,
            headers_sha256: "",
        };
        let sizes = (rbody.len(), body.len());
        log_exchange(
            hop,
            "consumer",
            &signed,
            &signature,
            &answer,
            &hop.key,
            &hop.peer_key,
            sizes,
        )
        .await?;
    }
    let mut out = Response::builder().status(status);
    if let Some(ct) = rparts.headers.get("content-type") {
        out = out.header("content-type", ct);
    }
    out.body(Body::from(rbody))
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, e))
}

async fn provider(hop: &Hop, request: Request) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    let body = collect(body).await?;
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    let body_sha = sha256_hex(&body);
    let message_id = header(&parts.headers, MESSAGE_ID).to_owned();
    let timestamp: u64 = header(&parts.headers, TIMESTAMP).parse().unwrap_or(0);
    let signature = header(&parts.headers, SIGNATURE).to_owned();
    let signed = request_parts(&method, &path, &message_id, timestamp, &body_sha);
    if hop.stage >= SIGN
        && batchsig::verify(
            &hop.peer_key,
            signed.canonical().as_bytes(),
            &signature,
            Some(&hop.roots),
        )
        .is_err()
    {
        return Err(fail(
            StatusCode::UNAUTHORIZED,
            "the request's signature does not verify",
        ));
    }
    let backend = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path}", hop.upstream))
        .body(Full::new(body.clone()))
        .map_err(|e| fail(StatusCode::BAD_REQUEST, e))?;
    let response = hop
        .plain
        .request(backend)
        .await
        .map_err(|e| fail(StatusCode::BAD_GATEWAY, e))?;
    let (rparts, rbody) = response.into_parts();
    let rbody = collect(Body::new(rbody)).await?;
    let mut out = Response::builder().status(rparts.status);
    if let Some(ct) = rparts.headers.get("content-type") {
        out = out.header("content-type", ct);
    }
    if hop.stage >= SIGN {
        let request_hash = signed.hash();
        let ts = now_s();
        let rsha = sha256_hex(&rbody);
        let canonical = canonical_response(&request_hash, rparts.status.as_u16(), &rsha, ts, "");
        let r_sig = hop
            .signer
            .sign(canonical.as_bytes())
            .await
            .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        if hop.stage >= LOG {
            let answer = Answer {
                status: rparts.status.as_u16(),
                body_sha256: &rsha,
                timestamp: ts,
                signature: &r_sig,
                request_id: &message_id,
                headers_sha256: "",
            };
            let sizes = (body.len(), rbody.len());
            log_exchange(
                hop,
                "provider",
                &signed,
                &signature,
                &answer,
                &hop.peer_key,
                &hop.key,
                sizes,
            )
            .await?;
        }
        out = out
            .header(SIGNATURE, r_sig)
            .header(TIMESTAMP, ts.to_string())
            .header(REQUEST_HASH, request_hash);
    }
    out.body(Body::from(rbody))
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, e))
}
