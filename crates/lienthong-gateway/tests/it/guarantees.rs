//! The exchange's strongest promises, each tested so that the test fails when the promise is
//! taken out of the code (docs/dev/testing.md lists which change made each one fail):
//! - every answer is signed by the provider and bound to the request: a man in the middle who
//!   holds the provider's TLS key still cannot drop, change or move an answer;
//! - a refusal of a body the provider did not read is signed too;
//! - an exchange is answered only after its log entry is durable, and a log that failed to
//!   commit refuses every later append until its stored entries verify against the signed
//!   checkpoint again (then it resumes without a restart);
//! - identity, signature, replay and agreement are checked before any backend call;
//! - TLS 1.2 is never spoken between nodes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lienthong_gateway::node;
use lienthong_gateway::protocol::{canonical_response, header};
use lienthong_trust::SigningKey;

use crate::harness::*;

const PURPOSE: (&str, &str) = ("X-Lienthong-Purpose", "insurance-enrolment");
const CLIENT: (&str, &str) = ("X-Road-Client", CONSUMER);
const OTHER_PID: &str = "001190123457";

/// What the man in the middle does to the provider's answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tamper {
    /// Passes it on as it is (and keeps it, for `Replay`).
    Nothing,
    /// Removes the provider's signature.
    DropSignature,
    /// Puts another person's id in the body.
    ChangeBody,
    /// Turns the answer into a 404.
    ChangeStatus,
    /// Adds a header (a redirect elsewhere) that the client would act on.
    AddHeader,
    /// Changes the body and signs the result with a key of its own.
    SignWithOwnKey,
    /// Answers with the answer it kept from an earlier request.
    Replay,
}

struct Middle {
    addr: SocketAddr,
    listener: Option<tokio::net::TcpListener>,
    tamper: Arc<Mutex<Tamper>>,
}

impl Middle {
    async fn bind() -> Middle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Middle {
            addr: listener.local_addr().unwrap(),
            listener: Some(listener),
            tamper: Arc::new(Mutex::new(Tamper::Nothing)),
        }
    }

    fn set(&self, t: Tamper) {
        *self.tamper.lock().unwrap() = t;
    }

    /// Accepts the consumer with the provider's own certificate and key (a TLS terminator in
    /// front of the provider, compromised) and forwards every call to the real provider as the
    /// consumer (its client certificate too).
    fn serve(&mut self, t: &Topology) {
        let listener = self.listener.take().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(
            lienthong_trust::server_config(
                &t.ca.cert_pem,
                &t.provider_id.cert,
                &t.provider_id.tls_key,
            )
            .unwrap(),
        );
        let upstream = peer_client(&t.ca.cert_pem, Some(&t.consumer_id));
        let provider = t.provider.peer_addr;
        let tamper = self.tamper.clone();
        let kept: Arc<Mutex<Option<hyper::Response<Bytes>>>> = Arc::default();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let (upstream, tamper, kept) = (upstream.clone(), tamper.clone(), kept.clone());
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let (upstream, tamper, kept) = (upstream.clone(), tamper.clone(), kept.clone());
                    async move {
                        let answer = forward(&upstream, provider, req).await;
                        let mode = *tamper.lock().unwrap();
                        let out = tampered(mode, answer, &kept);
                        Ok::<_, std::convert::Infallible>(out.map(Full::new))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    }
}

async fn forward(
    upstream: &PeerClient,
    provider: SocketAddr,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Bytes> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let path = parts.uri.path_and_query().unwrap().as_str();
    let mut out = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(format!("https://{provider}{path}"));
    for (name, value) in &parts.headers {
        out = out.header(name, value);
    }
    let r = upstream
        .request(out.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = r.into_parts();
    hyper::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

fn tampered(
    mode: Tamper,
    answer: hyper::Response<Bytes>,
    kept: &Mutex<Option<hyper::Response<Bytes>>>,
) -> hyper::Response<Bytes> {
    let (mut parts, body) = answer.into_parts();
    let body = match mode {
        Tamper::Nothing => {
            *kept.lock().unwrap() = Some(hyper::Response::from_parts(parts.clone(), body.clone()));
            body
        }
        Tamper::DropSignature => {
            parts.headers.remove(header::SIGNATURE);
            body
        }
        Tamper::ChangeBody | Tamper::SignWithOwnKey => {
            let text = String::from_utf8(body.to_vec()).unwrap();
            assert!(text.contains(PID), "the answer names {PID}: {text}");
            let changed = Bytes::from(text.replace(PID, OTHER_PID));
            if mode == Tamper::SignWithOwnKey {
                let canonical = canonical_response(
                    parts.headers[header::REQUEST_HASH].to_str().unwrap(),
                    parts.status.as_u16(),
                    &lienthong_trust::sha256_hex(&changed),
                    parts.headers[header::TIMESTAMP]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                    &lienthong_gateway::protocol::headers_sha256(&parts.headers),
                );
                let own = SigningKey::generate().sign(canonical.as_bytes());
                parts
                    .headers
                    .insert(header::SIGNATURE, own.parse().unwrap());
            }
            changed
        }
        Tamper::ChangeStatus => {
            parts.status = hyper::StatusCode::NOT_FOUND;
            body
        }
        Tamper::AddHeader => {
            parts
                .headers
                .insert("location", "https://elsewhere.example/".parse().unwrap());
            body
        }
        Tamper::Replay => {
            let old = kept.lock().unwrap().clone().expect("an answer was kept");
            return old;
        }
    };
    parts.headers.remove("content-length");
    hyper::Response::from_parts(parts, body)
}

/// The client's view of a refused answer: 500 `Server.ClientProxy.BadResponseSignature`, and
/// none of the man in the middle's content.
fn assert_refused_as_unsigned(r: &Reply, what: Tamper) {
    assert_eq!(r.status, 500, "{what:?}: {}", r.json);
    assert_eq!(
        r.headers.get("x-road-error").map(|v| v.to_str().unwrap()),
        Some("Server.ClientProxy.BadResponseSignature"),
        "{what:?}: {}",
        r.json
    );
    let text = r.json.to_string();
    assert!(
        !text.contains(OTHER_PID) && !text.contains("full_name"),
        "{what:?}: no data passes: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_man_in_the_middle_cannot_drop_change_or_move_the_providers_answer() {
    let mut middle = Middle::bind().await;
    let at = middle.addr.to_string();
    let t = start_with(3600, |r| {
        r.members
            .iter_mut()
            .find(|m| m.id == PROVIDER)
            .unwrap()
            .address = Some(at)
    })
    .await;
    middle.serve(&t);
    let lookup = |pid: &str| format!("/r1/{SERVICE}/records/{pid}");

    // Passed on unchanged, the answer arrives: what follows is refused for what was done to it.
    let r = call(&t.consumer, &lookup(PID), &[CLIENT, PURPOSE]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["personal_id"], PID);

    for what in [
        Tamper::DropSignature,
        Tamper::ChangeBody,
        Tamper::ChangeStatus,
        Tamper::AddHeader,
        Tamper::SignWithOwnKey,
    ] {
        middle.set(what);
        let r = call(&t.consumer, &lookup(PID), &[CLIENT, PURPOSE]).await;
        assert_refused_as_unsigned(&r, what);
    }
    // Another person asked for; the first person's signed answer given instead.
    middle.set(Tamper::Replay);
    let r = call(&t.consumer, &lookup(OTHER_PID), &[CLIENT, PURPOSE]).await;
    assert_refused_as_unsigned(&r, Tamper::Replay);

    middle.set(Tamper::Nothing);
    let r = call(&t.consumer, &lookup(OTHER_PID), &[CLIENT, PURPOSE]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["personal_id"], OTHER_PID);
}

/// A body the provider refuses before reading it (over its `body_bytes_max`) is refused with
/// a signed answer: the consumer passes the provider's own error on, not a signature failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_refused_before_it_is_read_is_answered_signed() {
    let t = start_nodes(
        3600,
        |_| {},
        vec![],
        |c| {
            if c.member.to_string() == PROVIDER {
                c.body_bytes_max = 16 << 10;
                c.inflight_body_bytes_max = 1 << 20;
            }
        },
    )
    .await;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::get(format!(
        "http://{}/r1/{SERVICE}/records/{PID}",
        t.consumer.client_addr
    ))
    .header(CLIENT.0, CLIENT.1)
    .header(PURPOSE.0, PURPOSE.1)
    .header("content-type", "application/octet-stream")
    .body(Full::new(Bytes::from(vec![b'x'; 64 << 10])))
    .unwrap();
    let r = client.request(req).await.unwrap();
    let status = r.status().as_u16();
    let error = r
        .headers()
        .get("x-road-error")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{text}");
    assert_eq!(error.as_deref(), Some("Client.BadRequest"), "{text}");
    assert!(text.contains("length limit exceeded"), "{text}");
}

async fn sqlite_exec(path: &str, sql: &str) {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

/// A store that refuses to commit, from outside the node: the next checkpoint insert fails
/// (as a full disk or a lost database connection would), rolling the whole batch back.
const FAIL_COMMITS: &str = "CREATE TRIGGER lt_test_fail BEFORE INSERT ON log_checkpoints BEGIN SELECT RAISE(ABORT, 'injected: the disk is full'); END";
const HEAL: &str = "DROP TRIGGER lt_test_fail";

fn assert_unlogged_refusal(r: &Reply, side: &str) {
    assert_eq!(r.status, 500, "{side}: {}", r.json);
    // Named for the node whose log failed: the provider's (server proxy) or the consumer's.
    let expected = if side.starts_with("consumer") {
        "Server.ClientProxy.MessageLogUnavailable"
    } else if side.starts_with("provider") {
        "Server.ServerProxy.MessageLogUnavailable"
    } else {
        r.json["type"].as_str().unwrap_or("")
    };
    assert_eq!(r.json["type"], expected, "{side}");
    assert!(
        expected.ends_with(".MessageLogUnavailable"),
        "{side}: {}",
        r.json
    );
    assert!(
        !r.json.to_string().contains("full_name"),
        "{side}: no data without a durable log entry: {}",
        r.json
    );
    // The provider's store error stays on the provider (the consumer's own client may read
    // its node's).
    assert!(
        !side.starts_with("provider") || !r.json.to_string().contains("injected"),
        "{side}: the store's error stays on its node: {}",
        r.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_without_a_durable_log_entry_and_a_failed_log_stays_closed() {
    let t = start(3600).await;
    let lookup = format!("/r1/{SERVICE}/records/{PID}");
    let r = call(&t.consumer, &lookup, &[CLIENT, PURPOSE]).await;
    assert_eq!(r.status, 200, "{}", r.json);

    // The provider's store fails: the consumer gets no data.
    let provider_log = log_path(&t.dir_path, PROVIDER);
    sqlite_exec(&provider_log, FAIL_COMMITS).await;
    let r = call(&t.consumer, &lookup, &[CLIENT, PURPOSE]).await;
    assert_unlogged_refusal(&r, "provider");
    // While the store keeps failing, the log stays closed (it is retried, and refused again).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = call(&t.consumer, &lookup, &[CLIENT, PURPOSE]).await;
    assert_unlogged_refusal(&r, "provider, store still failing");
    // The store works again: once the stored log verifies against its signed checkpoint, the
    // provider answers again, without a restart.
    sqlite_exec(&provider_log, HEAL).await;
    let answered = answered_within(&t.consumer, &lookup, 5).await;
    assert!(answered, "the provider resumes once its log verifies again");
    let report = lienthong_gateway::msglog::verify(&provider_log, &t.provider_id.key.public_b64())
        .await
        .unwrap();
    // The first call and the last: the calls answered without a durable entry left none.
    assert_eq!(report.entries, 2, "only the answered exchanges are logged");

    // The consumer's store fails: the provider answered, but its client gets nothing; healed,
    // the consumer resumes too.
    let consumer_log = log_path(&t.dir_path, CONSUMER);
    sqlite_exec(&consumer_log, FAIL_COMMITS).await;
    let r = call(&t.consumer, &lookup, &[CLIENT, PURPOSE]).await;
    assert_unlogged_refusal(&r, "consumer");
    sqlite_exec(&consumer_log, HEAL).await;
    assert!(
        answered_within(&t.consumer, &lookup, 5).await,
        "the consumer resumes"
    );
    lienthong_gateway::msglog::verify(&consumer_log, &t.consumer_id.key.public_b64())
        .await
        .unwrap();
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
    t.registry_task.abort();
}

/// Whether a lookup is answered 200 within `seconds` (the log is retried once a second).
async fn answered_within(consumer: &node::RunningNode, lookup: &str, seconds: u64) -> bool {
    for _ in 0..seconds * 4 {
        let r = call(consumer, lookup, &[CLIENT, PURPOSE]).await;
        if r.status == 200 {
            return true;
        }
        assert_unlogged_refusal(&r, "while the log reopens");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    false
}

/// A REST backend that counts the calls it receives.
async fn counting_backend() -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/people/{id}",
        axum::routing::get(
            move |axum::extract::Path(id): axum::extract::Path<String>| {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    axum::Json(
                        serde_json::json!({ "personal_id": id, "full_name": "Nguyễn Văn An" }),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, calls)
}

async fn peer_status(client: &PeerClient, req: hyper::Request<Full<Bytes>>) -> (u16, String) {
    match client.request(req).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let code = r
                .headers()
                .get("x-road-error")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let _ = r.into_body().collect().await;
            (status, code)
        }
        Err(e) => (0, format!("connection refused: {e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_never_reach_the_backend() {
    let (backend, calls) = counting_backend().await;
    let profile = format!("{PROVIDER}/profile");
    let payroll = format!("{PROVIDER}/payroll");
    let (p, q) = (profile.clone(), payroll.clone());
    let t = start_full(
        3600,
        move |r| {
            // An agreement for the profile only; none for the payroll.
            add_service(r, &p, true);
            add_service(r, &q, false);
        },
        ["profile", "payroll"]
            .into_iter()
            .map(|code| lienthong_gateway::node::RestConfig {
                code: code.into(),
                base_url: format!("http://{backend}"),
            })
            .collect(),
    )
    .await;
    let consumer = peer_client(&t.ca.cert_pem, Some(&t.consumer_id));
    let key = &t.consumer_id.key;
    let path = format!("/people/{PID}");
    let purpose = "insurance-enrolment";

    // An allowed call reaches it once: the count works.
    let ok = peer_request(&t, key, &profile, &path, "m-ok", purpose);
    assert_eq!(peer_status(&consumer, ok).await, (200, String::new()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let stranger = SigningKey::generate();
    let provider_tls = peer_client(&t.ca.cert_pem, Some(&t.provider_id));
    let cases: Vec<(&str, &PeerClient, hyper::Request<Full<Bytes>>, &str)> = vec![
        (
            "replayed message id",
            &consumer,
            peer_request(&t, key, &profile, &path, "m-ok", purpose),
            "Client.Replay",
        ),
        (
            "signed by another key",
            &consumer,
            peer_request(&t, &stranger, &profile, &path, "m-2", purpose),
            "Client.BadSignature",
        ),
        (
            "another member's TLS certificate",
            &provider_tls,
            peer_request(&t, key, &profile, &path, "m-3", purpose),
            "Client.PeerCertificate",
        ),
        (
            "no agreement for the service",
            &consumer,
            peer_request(&t, key, &payroll, &path, "m-4", purpose),
            "Client.AccessDenied",
        ),
        (
            "a purpose the agreement does not name",
            &consumer,
            peer_request(&t, key, &profile, &path, "m-5", "marketing"),
            "Client.PurposeNotAllowed",
        ),
        (
            "no purpose for personal data",
            &consumer,
            peer_request(&t, key, &profile, &path, "m-6", ""),
            "Client.PurposeRequired",
        ),
    ];
    for (what, client, req, code) in cases {
        let (status, got) = peer_status(client, req).await;
        assert!((400..500).contains(&status), "{what}: {status} {got}");
        assert_eq!(got, code, "{what}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "{what} reached the backend"
        );
    }
    // Through the consumer's client face, a caller that is not the node's subsystem.
    let r = call(
        &t.consumer,
        &format!("/r1/{profile}{path}"),
        &[("X-Road-Client", "VN/GOV/BCA/DANCU"), PURPOSE],
    )
    .await;
    assert!((400..500).contains(&r.status), "{}", r.json);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a foreign client reached the backend"
    );
}

/// A TLS client that offers TLS 1.2 only, with a valid client certificate.
fn tls12_only(ca_pem: &str, ident: &Identity) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let chain = CertificateDer::pem_slice_iter(ident.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(ident.tls_key.as_bytes()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

#[tokio::test]
async fn tls_1_2_is_never_spoken_between_nodes() {
    let t = start(3600).await;
    // A client with a valid certificate that offers only TLS 1.2: the handshake fails.
    let connector = tokio_rustls::TlsConnector::from(tls12_only(&t.ca.cert_pem, &t.consumer_id));
    let tcp = tokio::net::TcpStream::connect(t.provider.peer_addr)
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let refused = connector.connect(name.clone(), tcp).await;
    assert!(refused.is_err(), "the peer face accepted TLS 1.2");

    // The same client offering TLS 1.3 gets through (the refusal above is the version's).
    let tls13 =
        lienthong_trust::client_config(&t.ca.cert_pem, &t.consumer_id.cert, &t.consumer_id.tls_key)
            .unwrap();
    let tcp = tokio::net::TcpStream::connect(t.provider.peer_addr)
        .await
        .unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls13)
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    // A provider address that speaks only TLS 1.2: the consumer does not connect.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls12_server = {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(t.provider_id.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(t.provider_id.tls_key.as_bytes()).unwrap();
        let mut c = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        c.alpn_protocols = vec![b"h2".to_vec()];
        c
    };
    let handshakes = Arc::new(AtomicUsize::new(0));
    let done = handshakes.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls12_server));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if acceptor.accept(tcp).await.is_ok() {
                done.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    drop(t);
    let t2 = start_with(3600, |r| {
        r.members
            .iter_mut()
            .find(|m| m.id == PROVIDER)
            .unwrap()
            .address = Some(addr.to_string());
    })
    .await;
    let r = call(
        &t2.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.json);
    assert_eq!(
        r.json["type"], "Server.ClientProxy.ProviderUnreachable",
        "{}",
        r.json
    );
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        0,
        "a TLS 1.2 session was made"
    );
}
