//! The attack matrix: every attack the trust boundary must refuse, run against real nodes over
//! real TLS (and, for the last, real PostgreSQL sources into one replica table), each judged
//! by what the attacker got. Prints `N attacks, N refused`; fails naming any that got through.

use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

const CLIENT: (&str, &str) = ("X-Road-Client", CONSUMER);
const PURPOSE: (&str, &str) = ("X-Lienthong-Purpose", "insurance-enrolment");

/// A peer-face lookup signed by the consumer, as its node would send it.
fn signed(t: &Topology, id: &str) -> hyper::Request<Full<Bytes>> {
    peer_request(
        t,
        &t.consumer_id.key,
        SERVICE,
        &format!("/records/{PID}"),
        id,
        "insurance-enrolment",
    )
}

/// Whether a peer-face answer is a refusal of `code` (no answer at all counts as refused).
fn refused(answer: Result<(u16, String), String>, code: &str) -> bool {
    match answer {
        Ok((status, error)) => status == 400 && error == code,
        Err(_) => code.is_empty(),
    }
}

#[tokio::test]
async fn attack_matrix_every_attack_is_refused() {
    let mut results: Vec<(&str, bool)> = Vec::new();
    let t = start(3600).await;
    let peer = peer_client(&t.ca.cert_pem, Some(&t.consumer_id));

    // Tamper: a signed field changed after signing.
    let mut req = signed(&t, "tamper-1");
    req.headers_mut()
        .insert("x-lt-purpose", "marketing".parse().unwrap());
    results.push((
        "tamper (a signed field changed)",
        refused(status_and_error(&peer, req).await, "Client.BadSignature"),
    ));
    // Tamper: a body added after signing an empty one.
    let (head, _) = signed(&t, "tamper-2").into_parts();
    let req = hyper::Request::from_parts(head, Full::new(Bytes::from_static(b"{\"x\":1}")));
    results.push((
        "tamper (a body added after signing)",
        refused(status_and_error(&peer, req).await, "Client.BadSignature"),
    ));
    // Replay: the same signed message twice.
    let first = status_and_error(&peer, signed(&t, "replay-1")).await;
    assert_eq!(first, Ok((200, String::new())), "the original is answered");
    results.push((
        "replay",
        refused(
            status_and_error(&peer, signed(&t, "replay-1")).await,
            "Client.Replay",
        ),
    ));
    // Unknown CA: a certificate for the consumer's name from a CA of the attacker's own.
    let rogue_ca = lienthong_trust::Ca::generate("VN").unwrap();
    let rogue = identity(&rogue_ca, CONSUMER);
    let rogue_client = peer_client(&t.ca.cert_pem, Some(&rogue));
    results.push((
        "certificate from an unknown CA",
        status_and_error(&rogue_client, signed(&t, "ca-1"))
            .await
            .is_err(),
    ));
    // No agreement, wrong purpose, a withheld field, a client of another agency.
    let consumer = &t.consumer;
    let r = call(
        consumer,
        &format!("/r1/{PROVIDER}/household/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    results.push(("no agreement", r.json["type"] == "Client.AccessDenied"));
    let r = call(
        consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, ("X-Lienthong-Purpose", "marketing")],
    )
    .await;
    results.push((
        "wrong purpose",
        r.json["type"] == "Client.PurposeNotAllowed",
    ));
    let r = call(
        consumer,
        &format!("/r1/{SERVICE}/records/{PID}?fields=ethnicity"),
        &[CLIENT, PURPOSE],
    )
    .await;
    results.push((
        "field not allowed",
        r.json["type"] == "Client.FieldNotAllowed" && !r.json.to_string().contains("\"01\""),
    ));
    let r = call(
        consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[("X-Road-Client", PROVIDER), PURPOSE],
    )
    .await;
    results.push((
        "client of another agency",
        r.json["type"] == "Client.InvalidClient",
    ));
    // Slow headers: a connection that never finishes its request is closed.
    let mut slow = tokio::net::TcpStream::connect(consumer.client_addr)
        .await
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(15), slow.read(&mut buf)).await,
        Ok(Ok(_))
    );
    results.push((
        "slow headers",
        closed && started.elapsed() < Duration::from_secs(15),
    ));
    // HTTP/1.1 on the peer face, with a valid certificate and no ALPN: not spoken.
    results.push(("HTTP/1.1 on the peer face", http1_is_refused(&t).await));
    // A registry entry that lists, for the consumer, a certificate naming another member (a
    // mistake or a forged entry): the certificate must also name the member it acts for.
    let impostor = identity(&t.ca, "VN/GOV/OTHER/X");
    let mut listed = registry(&t.provider_id, t.provider.peer_addr, &t.consumer_id);
    for m in listed.members.iter_mut().filter(|m| m.id == CONSUMER) {
        m.cert_fingerprint = lienthong_trust::cert_fingerprint(&impostor.cert).unwrap();
    }
    republish(&t, listed).await;
    let impostor_client = peer_client(&t.ca.cert_pem, Some(&impostor));
    let deadline = Instant::now() + Duration::from_secs(10);
    while snapshot_version(&t.provider).await < 2 {
        assert!(Instant::now() < deadline, "the provider never took v2");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = uuid::Uuid::new_v4().to_string();
    results.push((
        "certificate naming another member",
        refused(
            status_and_error(&impostor_client, signed(&t, &id)).await,
            "Client.PeerCertificate",
        ),
    ));
    t.provider.shutdown().await;
    t.consumer.shutdown().await;

    // A revoked member: refused, and its body flood is never read.
    let t = start_with(3600, |r| r.revoked.push(CONSUMER.into())).await;
    let peer = peer_client(&t.ca.cert_pem, Some(&t.consumer_id));
    results.push((
        "revoked member",
        refused(
            status_and_error(&peer, signed(&t, "rev-1")).await,
            "Client.Revoked",
        ),
    ));
    let (head, _) = signed(&t, "flood-1").into_parts();
    let flood = hyper::Request::from_parts(head, Full::new(Bytes::from(vec![b'x'; 32 << 20])));
    let answer =
        tokio::time::timeout(Duration::from_secs(20), status_and_error(&peer, flood)).await;
    results.push((
        "body flood by a revoked member",
        answer.is_ok_and(|a| refused(a, "Client.Revoked"))
            && t.provider.body_room().peak_bytes() == 0,
    ));
    t.provider.shutdown().await;
    t.consumer.shutdown().await;

    // An unauthenticated client on an SSLAUTH face: no certificate, no answer.
    let keys = tempfile::tempdir().unwrap();
    let (cert, _) = lienthong_trust::self_signed("portal").unwrap();
    let pin = lienthong_trust::cert_fingerprint(&cert).unwrap();
    let t = start_nodes(3600, |_| {}, vec![], consumer_sslauth("portal", &pin)).await;
    let ca = keys.path().join("ca.crt");
    std::fs::write(&ca, &t.ca.cert_pem).unwrap();
    let url = format!(
        "https://127.0.0.1:{}/r1/{SERVICE}/records/{PID}",
        t.consumer.client_addr.port()
    );
    let ca_arg = ca.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-s", "--max-time", "10", "--cacert", &ca_arg, "-H"])
            .arg(format!("X-Road-Client: {CONSUMER}"))
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    results.push((
        "unauthenticated client",
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains(PID),
    ));
    t.provider.shutdown().await;
    t.consumer.shutdown().await;

    // Province A's reset against province B's rows in the center's shared table.
    if let Some(pg) = lienthong_testkit::service("LIENTHONG_TEST_POSTGRES_URL") {
        results.push((
            "province A's reset vs province B's rows",
            province_reset_keeps_b(&pg).await,
        ));
    }

    let refused_n = results.iter().filter(|(_, r)| *r).count();
    println!("{} attacks, {refused_n} refused", results.len());
    let through: Vec<&str> = results
        .iter()
        .filter(|(_, r)| !r)
        .map(|(n, _)| *n)
        .collect();
    assert!(through.is_empty(), "attacks that got through: {through:?}");
    assert_eq!(results.len(), 15, "every attack ran");
}

/// Whether the peer face, reached over TLS with the consumer's certificate but no ALPN,
/// answers an HTTP/1.1 request with anything but silence or an HTTP/2 goodbye.
async fn http1_is_refused(t: &Topology) -> bool {
    let tls =
        lienthong_trust::client_config(&t.ca.cert_pem, &t.consumer_id.cert, &t.consumer_id.tls_key)
            .unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls);
    let tcp = tokio::net::TcpStream::connect(t.provider.peer_addr)
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let Ok(mut stream) = connector.connect(name, tcp).await else {
        return true;
    };
    let request = format!(
        "GET /lt1/{SERVICE}/records/{PID} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return true;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    !String::from_utf8_lossy(&answer).contains("HTTP/1.1")
}

/// The registry serves `content` as its next version, at the address the nodes poll.
async fn republish(t: &Topology, content: lienthong_registry::Registry) {
    t.registry_task.abort();
    let store = registry_store(&t.dir_path).await;
    store
        .save(&content, lienthong_gateway::snapshot::now_s())
        .await
        .unwrap();
    store.close().await;
    let app = registry_app(&t.dir_path, None, &t.registry_key.to_pem().unwrap(), 3600).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let listener = loop {
        match tokio::net::TcpListener::bind(t.registry_addr).await {
            Ok(l) => break l,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("rebinding the registry: {e}"),
        }
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// The snapshot version a node serves under, from its `/healthz`.
async fn snapshot_version(node: &lienthong_gateway::node::RunningNode) -> u64 {
    let r = send_plain(&format!("http://{}/healthz", node.admin_addr)).await;
    r.split(" v")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn send_plain(url: &str) -> String {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let r = client.get(url.parse().unwrap()).await.unwrap();
    String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).into_owned()
}

/// Two provinces' PostgreSQL tables synced into one replica table; A is reset and reads its
/// snapshot again. Refused when B's row is still there.
async fn province_reset_keeps_b(pg: &str) -> bool {
    use lienthong_sync::{Pipeline, PipelineConfig, Replica, SourceConfig};
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(pg).await.unwrap();
    let s = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let dir = tempfile::tempdir().unwrap();
    let replica = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("center.db").display()
    );
    let config = |p: &str| PipelineConfig {
        name: format!("{p}_{s}"),
        dataset: &lienthong_dictionary::catalog::CITIZEN,
        source: SourceConfig::Postgres {
            url: pg.into(),
            table: format!("{p}_{s}"),
            slot: format!("lt_{p}_{s}"),
            publication: format!("lt_{p}_{s}"),
        },
        replica_url: replica.clone(),
        replica_table: "citizen".into(),
        batch_rows_max: 100,
        jetstream: None,
        changelog: false,
    };
    for (p, pid) in [("pa", "001090000001"), ("pb", "001090000002")] {
        sqlx::raw_sql(&format!(
            "CREATE TABLE {p}_{s} (personal_id TEXT PRIMARY KEY, full_name TEXT, birth_date TEXT, sex TEXT, ethnicity TEXT, religion TEXT, nationality TEXT, province_code TEXT, commune_code TEXT, address TEXT, phone TEXT, email TEXT, updated_at TEXT); INSERT INTO {p}_{s} (personal_id, full_name, birth_date, sex, province_code, commune_code) VALUES ('{pid}', 'Nguyễn Văn An', '1990-03-25', '1', '01', '00004')"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    let snapshot = |p: &'static str| {
        let c = config(p);
        async move {
            let mut pipe = Pipeline::open(c, "2026-12-01".into()).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !pipe.state().snapshot_done && Instant::now() < deadline {
                pipe.step(Duration::from_millis(200)).await.unwrap();
            }
            pipe.close().await;
        }
    };
    snapshot("pa").await;
    snapshot("pb").await;
    Replica::open(&replica)
        .await
        .unwrap()
        .reset(&config("pa").name)
        .await
        .unwrap();
    snapshot("pa").await;
    let rows: Vec<String> = {
        let r = sqlx::AnyPool::connect(&replica).await.unwrap();
        let rows = sqlx::query("SELECT personal_id FROM citizen ORDER BY personal_id")
            .fetch_all(&r)
            .await
            .unwrap()
            .iter()
            .map(|row| sqlx::Row::get(row, 0))
            .collect();
        r.close().await;
        rows
    };
    for p in ["pa", "pb"] {
        let _ = sqlx::query(&format!("SELECT pg_drop_replication_slot('lt_{p}_{s}')"))
            .execute(&pool)
            .await;
        let _ = sqlx::raw_sql(&format!(
            "DROP PUBLICATION IF EXISTS lt_{p}_{s}; DROP TABLE IF EXISTS {p}_{s}"
        ))
        .execute(&pool)
        .await;
    }
    pool.close().await;
    rows == ["001090000001", "001090000002"]
}
