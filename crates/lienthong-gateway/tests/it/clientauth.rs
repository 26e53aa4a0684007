//! Who may act as the agency: the client face authenticates information systems as X-Road's
//! connection types do (SSLAUTH: registered certificates only; SSLNOAUTH: TLS; NOAUTH:
//! loopback only), records which system called, and carries the officer's id
//! (`X-Road-UserId`, any UTF-8) — mandatory where the service says so. Calls are made with
//! curl, a real client, over real TLS.

use std::process::Command;

use lienthong_gateway::msglog::LogReader;
use lienthong_gateway::node::{self, ClientAuth};

use crate::harness::*;

/// A system's certificate and key, written to files curl can use.
struct System {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    fingerprint: String,
}

fn system(dir: &std::path::Path, name: &str) -> System {
    let (cert, key) = lienthong_trust::self_signed(name).unwrap();
    let fingerprint = lienthong_trust::cert_fingerprint(&cert).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    System {
        cert: c,
        key: k,
        fingerprint,
    }
}

/// curl's exit code, the HTTP status (0 when none) and the body; run beside the runtime, which
/// must keep serving the nodes meanwhile.
async fn curl(args: &[&str]) -> (i32, u16, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || curl_blocking(&args))
        .await
        .unwrap()
}

fn curl_blocking(args: &[String]) -> (i32, u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_owned(),
    )
}

fn lookup(t: &Topology) -> String {
    format!(
        "https://127.0.0.1:{}/r1/{SERVICE}/records/{PID}",
        t.consumer.client_addr.port()
    )
}

/// The newest entry of the consumer's log.
async fn latest(t: &Topology) -> serde_json::Value {
    let log = LogReader::open(&log_path(&t.dir_path, CONSUMER))
        .await
        .unwrap();
    log.recent(1).await.unwrap()[0].record.clone()
}

#[tokio::test]
async fn sslauth_lets_only_registered_systems_act_for_the_agency() {
    let keys = tempfile::tempdir().unwrap();
    let portal = system(keys.path(), "bhxh-portal");
    let stranger = system(keys.path(), "stranger");
    let pin = portal.fingerprint.clone();
    let t = start_nodes(3600, |_| {}, vec![], consumer_sslauth("bhxh-portal", &pin)).await;
    let ca = keys.path().join("ca.crt");
    std::fs::write(&ca, &t.ca.cert_pem).unwrap();
    let url = lookup(&t);
    let client = format!("X-Road-Client: {CONSUMER}");
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        portal.cert.to_str().unwrap(),
        portal.key.to_str().unwrap(),
    );
    // The registered system: answered, and the log says which system called.
    let (rc, status, body) = curl(&[
        "--cacert", ca, "--cert", cert, "--key", key, "-H", &client, &url,
    ])
    .await;
    assert_eq!((rc, status), (0, 200), "{body}");
    assert!(body.contains(PID), "{body}");
    assert_eq!(latest(&t).await["client_system"], "bhxh-portal");
    // HTTP/2 as well as HTTP/1.1.
    let (rc, status, _) = curl(&[
        "--http2", "--cacert", ca, "--cert", cert, "--key", key, "-H", &client, &url,
    ])
    .await;
    assert_eq!((rc, status), (0, 200));
    // No certificate, a certificate the node does not know, or plain HTTP: no answer at all.
    let (rc, status, _) = curl(&["--cacert", ca, "-H", &client, &url]).await;
    assert!(
        rc != 0 && status == 0,
        "no client certificate: rc {rc}, {status}"
    );
    let (rc, status, _) = curl(&[
        "--cacert",
        ca,
        "--cert",
        stranger.cert.to_str().unwrap(),
        "--key",
        stranger.key.to_str().unwrap(),
        "-H",
        &client,
        &url,
    ])
    .await;
    assert!(
        rc != 0 && status == 0,
        "unregistered certificate: rc {rc}, {status}"
    );
    let (_, status, _) = curl(&["-H", &client, &url.replacen("https://", "http://", 1)]).await;
    assert_eq!(status, 0, "plain HTTP is not spoken");
    // A registered system still acts only for its own agency.
    let (_, status, body) = curl(&[
        "--cacert",
        ca,
        "--cert",
        cert,
        "--key",
        key,
        "-H",
        &format!("X-Road-Client: {PROVIDER}"),
        &url,
    ])
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Client.InvalidClient"), "{body}");
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

#[tokio::test]
async fn sslnoauth_is_tls_without_client_certificates() {
    let t = start_nodes(
        3600,
        |_| {},
        vec![],
        consumer_auth(|cert_pem, key_pem| ClientAuth::SslNoAuth { cert_pem, key_pem }),
    )
    .await;
    let keys = tempfile::tempdir().unwrap();
    let ca = keys.path().join("ca.crt");
    std::fs::write(&ca, &t.ca.cert_pem).unwrap();
    let (rc, status, body) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "-H",
        &format!("X-Road-Client: {CONSUMER}"),
        &lookup(&t),
    ])
    .await;
    assert_eq!((rc, status), (0, 200), "{body}");
    assert_eq!(latest(&t).await["client_system"], "");
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

#[tokio::test]
async fn a_plain_client_face_beyond_loopback_does_not_start() {
    let t = start(3600).await;
    let mut config = node_config(
        CONSUMER,
        &t.consumer_id,
        &t.ca,
        (t.registry_addr, &t.registry_key.public_b64()),
        "127.0.0.1:0".parse().unwrap(),
        vec![],
        &t.dir_path.join("other"),
    );
    std::fs::create_dir_all(t.dir_path.join("other")).unwrap();
    config.client_listen = "0.0.0.0:0".parse().unwrap();
    let refused = node::start(config).await.err().expect("refused");
    assert!(
        refused.contains("beyond loopback") && refused.contains("SSLAUTH"),
        "{refused}"
    );
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

#[tokio::test]
async fn the_officer_id_travels_in_any_script_and_can_be_required() {
    let officer = "Nguyễn Thị Hoà 50%";
    let t = start_with(3600, |r| r.services[0].user_id_required = true).await;
    // Without one, refused at the consumer's node…
    let r = send(
        &t.consumer,
        "GET",
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[("X-Road-Client", CONSUMER)],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.headers.get("x-road-error").unwrap(),
        "Client.UserIdRequired"
    );
    // …and at the provider's, for a node that sends none.
    let client = peer_client(&t.ca.cert_pem, Some(&t.consumer_id));
    let request = peer_request(
        &t,
        &t.consumer_id.key,
        SERVICE,
        &format!("/records/{PID}"),
        "no-officer",
        "insurance-enrolment",
    );
    let answer = client.request(request).await.unwrap();
    assert_eq!(
        answer.headers().get("x-road-error").unwrap(),
        "Client.UserIdRequired"
    );
    // With one in Vietnamese (UTF-8 in the header): answered, and logged as sent on both nodes.
    let mut headers = hyper::HeaderMap::new();
    headers.insert(
        "x-road-userid",
        hyper::header::HeaderValue::from_bytes(officer.as_bytes()).unwrap(),
    );
    let pairs: Vec<(&str, &str)> = vec![("X-Road-Client", CONSUMER)];
    let r = send_with(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &pairs,
        headers,
    )
    .await;
    assert_eq!(r, 200);
    for member in [CONSUMER, PROVIDER] {
        let log = LogReader::open(&log_path(&t.dir_path, member))
            .await
            .unwrap();
        let entry = &log.recent(1).await.unwrap()[0].record;
        assert_eq!(entry["user_id"], officer, "{member}: {entry}");
    }
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

/// A GET with `extra` headers given as raw bytes; the status.
async fn send_with(
    node: &node::RunningNode,
    path: &str,
    pairs: &[(&str, &str)],
    extra: hyper::HeaderMap,
) -> u16 {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, http_body_util::Empty<hyper::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::get(format!("http://{}{path}", node.client_addr));
    for (k, v) in pairs {
        req = req.header(*k, *v);
    }
    let mut req = req.body(http_body_util::Empty::new()).unwrap();
    req.headers_mut().extend(extra);
    client.request(req).await.unwrap().status().as_u16()
}
