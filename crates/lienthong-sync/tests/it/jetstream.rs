//! The JetStream sink against the real server: valid changes in order, each once, across
//! restarts; a stream that already holds part of a batch; a stream that lost messages.

use async_nats::jetstream;
use lienthong_sync::jetstream::{stream_name, JetSink};
use lienthong_sync::{JetStreamConfig, SourceConfig};
use serde_json::{json, Value};

use super::*;

async fn messages(url: &str, stream: &str) -> Vec<Value> {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let mut st = js.get_stream(stream).await.unwrap();
    let n = st.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=n {
        let m = st.get_raw_message(seq).await.unwrap();
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

/// An agency's SQLite database in `dir` with an empty citizen table; its URL.
async fn agency(dir: &std::path::Path) -> String {
    let source = sqlite(dir, "agency.db");
    exec(&source, &citizen_table("citizen", false)).await;
    source
}

/// Opens the pipeline once the JetStream server accepts calls (a new or restarted server
/// may take a moment, a cluster longer: it elects its leader first); 30 s at most.
async fn open_when_ready(cfg: &lienthong_sync::PipelineConfig) -> lienthong_sync::Pipeline {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match lienthong_sync::Pipeline::open(cfg.clone(), "2026-11-23".into()).await {
            Ok(p) => return p,
            Err(e) => {
                assert!(Instant::now() < deadline, "JetStream not ready: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The `updated_at` of the `i`-th row: one second apart.
fn at(i: u32) -> String {
    format!("2025-08-01T10:{:02}:{:02}+07:00", i / 60, i % 60)
}

async fn delete_stream(url: &str, stream: &str) {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let _ = js.delete_stream(stream).await;
}

#[tokio::test]
async fn valid_changes_reach_jetstream_once_in_order() {
    let Some(nats) = url("LIENTHONG_TEST_NATS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = agency(dir.path()).await;
    insert(
        &source,
        "citizen",
        &[
            row("001090000001", "NGUYỄN VĂN AN", "2025-08-01T10:00:00+07:00"),
            row("12345", "Sai", "2025-08-01T10:00:01+07:00"),
            row("001090000002", "Lê Thị Bình", "2025-08-01T10:00:02+07:00"),
        ],
    )
    .await;
    let name = format!("js-{}", suffix());
    let mut cfg = config(
        &name,
        SourceConfig::Poll {
            url: source.clone(),
            table: "citizen".into(),
            updated_at_column: "updated_at".into(),
        },
        &sqlite(dir.path(), "center.db"),
        "rep",
    );
    cfg.jetstream = Some(JetStreamConfig {
        url: nats.clone(),
        ..JetStreamConfig::default()
    });
    let mut p = open(&cfg).await;
    let r = p.catch_up().await.unwrap();
    assert_eq!((r.applied, r.quarantined, r.published), (2, 1, 2));
    p.close().await;
    // A restart publishes only what is new.
    insert(
        &source,
        "citizen",
        &[row(
            "001090000003",
            "Phạm Văn Cường",
            "2025-08-02T10:00:00+07:00",
        )],
    )
    .await;
    let mut p = open(&cfg).await;
    assert_eq!(p.catch_up().await.unwrap().published, 1);
    let stream = stream_name(&name);
    let got = messages(&nats, &stream).await;
    let names: Vec<&str> = got
        .iter()
        .map(|m| m["record"]["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Nguyễn Văn An", "Lê Thị Bình", "Phạm Văn Cường"],
        "normalised, in order, once"
    );
    assert_eq!(got[0]["op"], "upsert");
    assert_eq!(got[0]["dataset"], "citizen");
    assert_eq!(p.state().jet_last, got[2]["id"].as_str().unwrap());
    p.close().await;
    delete_stream(&nats, &stream).await;
}

#[tokio::test]
async fn a_repeated_batch_skips_what_the_stream_holds_and_a_gap_stops_the_pipeline() {
    let Some(nats) = url("LIENTHONG_TEST_NATS_URL") else {
        return;
    };
    let cfg = JetStreamConfig {
        url: nats.clone(),
        ..JetStreamConfig::default()
    };
    let name = format!("jsr-{}", suffix());
    let msg = |id: &str| (id.to_owned(), json!({ "id": id }));
    let mut sink = JetSink::open(&cfg, &name, false).await.unwrap();
    assert_eq!(
        sink.publish("", &[msg("a"), msg("b"), msg("c")], false)
            .await
            .unwrap(),
        "c"
    );
    // The replica never committed "a".."c" (a crash): the repeated batch adds only "d".
    let mut sink = JetSink::open(&cfg, &name, false).await.unwrap();
    assert_eq!(
        sink.publish("", &[msg("a"), msg("b"), msg("c"), msg("d")], false)
            .await
            .unwrap(),
        "d"
    );
    let ids: Vec<String> = messages(&nats, sink.stream())
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    // Out of order (the stream's last is "d", not "b"): refused by the server.
    assert!(sink.publish("b", &[msg("e")], false).await.is_err());
    // The replica says "x" was published but the stream ends at "d": messages were lost.
    let mut sink = JetSink::open(&cfg, &name, false).await.unwrap();
    let e = sink
        .publish("x", &[msg("y")], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("lost acknowledged messages"), "{e}");
    // Log-ordered ids: a repeated batch that ends elsewhere, or whose change at the stream's
    // end no longer validates, still skips exactly what the stream holds.
    let ordered = format!("jso-{}", suffix());
    let mut sink = JetSink::open(&cfg, &ordered, true).await.unwrap();
    sink.publish("", &[msg("01"), msg("02"), msg("03")], false)
        .await
        .unwrap();
    let mut sink = JetSink::open(&cfg, &ordered, true).await.unwrap();
    assert_eq!(
        sink.publish("01", &[msg("02"), msg("04")], false)
            .await
            .unwrap(),
        "04"
    );
    let ids: Vec<String> = messages(&nats, sink.stream())
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["01", "02", "03", "04"]);
    let mut sink = JetSink::open(&cfg, &ordered, true).await.unwrap();
    let e = sink
        .publish("09", &[msg("10")], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lost acknowledged messages"),
        "behind the replica: {e}"
    );
    delete_stream(&nats, &stream_name(&ordered)).await;
    // A new snapshot's truncate marker follows whatever the stream holds.
    let mut sink = JetSink::open(&cfg, &name, false).await.unwrap();
    assert_eq!(
        sink.publish("x", &[msg("snapshot-start"), msg("s1")], true)
            .await
            .unwrap(),
        "s1"
    );
    delete_stream(&nats, &stream_name(&name)).await;
}

/// `nats-server` processes of the test's own on loopback, each with its own store: one
/// alone, or three clustered. Ports are the system's (bound at port 0 and read back).
struct Cluster {
    bin: std::path::PathBuf,
    args: Vec<Vec<String>>,
    children: Vec<Option<std::process::Child>>,
    _dir: tempfile::TempDir,
    urls: Vec<String>,
}

/// A port the system gave (bound at 0 and read back; released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn start(servers: usize) -> Option<Cluster> {
        Cluster::start_with(servers, &[])
    }

    /// As [`Cluster::start`], each server given `extra` arguments too.
    fn start_with(servers: usize, extra: &[String]) -> Option<Cluster> {
        let bin = lienthong_testkit::program(
            "nats-server",
            &["/usr/sbin/nats-server", "/usr/bin/nats-server"],
        )?;
        let dir = tempfile::tempdir().unwrap();
        let client: Vec<u16> = (0..servers).map(|_| free_port()).collect();
        let routes: Vec<String> = (0..servers)
            .map(|_| format!("nats://127.0.0.1:{}", free_port()))
            .collect();
        let args: Vec<Vec<String>> = (0..servers)
            .map(|i| {
                let mut a: Vec<String> = [
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &client[i].to_string(),
                    "-n",
                    &format!("lt{i}"),
                    "-js",
                    "-sd",
                    &dir.path().join(format!("n{i}")).display().to_string(),
                ]
                .map(str::to_owned)
                .to_vec();
                a.extend(extra.iter().cloned());
                if servers > 1 {
                    a.extend(
                        [
                            "--cluster_name",
                            "lienthong",
                            "--cluster",
                            &routes[i],
                            "--routes",
                            &routes.join(","),
                        ]
                        .map(str::to_owned),
                    );
                }
                a
            })
            .collect();
        let mut c = Cluster {
            bin,
            args,
            children: (0..servers).map(|_| None).collect(),
            _dir: dir,
            urls: client
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect(),
        };
        for i in 0..servers {
            c.restart(i);
        }
        Some(c)
    }

    /// Starts server `i` (again) with its port and store.
    fn restart(&mut self, i: usize) {
        self.children[i] = Some(
            std::process::Command::new(&self.bin)
                .args(&self.args[i])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

/// While JetStream is down nothing moves: not the source position, not the replica; when it
/// is back, every change arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_position_stands_still_while_jetstream_is_down() {
    let Some(mut nats) = Cluster::start(1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = agency(dir.path()).await;
    let replica = sqlite(dir.path(), "center.db");
    let rows = |from: u32, to: u32| -> Vec<String> {
        (from..to)
            .map(|i| row(&format!("0010900{i:05}"), "Nguyễn Văn An", &at(i)))
            .collect()
    };
    insert(&source, "citizen", &rows(0, 10)).await;
    let name = format!("jsdown-{}", suffix());
    let mut cfg = config(
        &name,
        SourceConfig::Poll {
            url: source.clone(),
            table: "citizen".into(),
            updated_at_column: "updated_at".into(),
        },
        &replica,
        "rep",
    );
    cfg.batch_rows_max = 5;
    cfg.jetstream = Some(JetStreamConfig {
        url: nats.urls[0].clone(),
        ack_timeout_ms: 1_000,
        ..JetStreamConfig::default()
    });
    let mut p = open_when_ready(&cfg).await;
    p.catch_up().await.unwrap();
    assert_eq!(p.state().rows_applied, 10);
    let (position, applied) = (p.state().position.clone(), p.state().rows_applied);
    assert!(!position.is_empty());

    nats.kill(0);
    insert(&source, "citizen", &rows(10, 20)).await;
    let mut failed = 0;
    for _ in 0..5 {
        if p.step(Duration::ZERO).await.is_err() {
            failed += 1;
        }
        assert_eq!(p.state().position, position, "the position moved");
        assert_eq!(p.state().rows_applied, applied);
    }
    assert!(failed > 0, "steps with JetStream down did not fail");
    assert_eq!(names(&replica, "rep").await.len(), 10, "the replica moved");
    // A restart reads the same stored position.
    p.close().await;
    nats.restart(0);
    let mut p = open_when_ready(&cfg).await;
    assert_eq!(p.state().position, position);
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.state().rows_applied < 20 {
        assert!(Instant::now() < deadline, "stuck at {:?}", p.state());
        if p.step(Duration::ZERO).await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let got = messages(&nats.urls[0], &stream_name(&name)).await;
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!((got.len(), ids.len()), (20, 20), "every change once");
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_server_cluster_loses_nothing_when_one_server_dies() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = agency(dir.path()).await;
    let insert_range = |from: u32, to: u32| {
        let rows: Vec<String> = (from..to)
            .map(|i| row(&format!("0010900{i:05}"), "Nguyễn Văn An", &at(i)))
            .collect();
        let source = source.clone();
        async move { insert(&source, "citizen", &rows).await }
    };
    insert_range(0, 1000).await;
    let name = format!("jsc-{}", suffix());
    let mut cfg = config(
        &name,
        SourceConfig::Poll {
            url: source.clone(),
            table: "citizen".into(),
            updated_at_column: "updated_at".into(),
        },
        &sqlite(dir.path(), "center.db"),
        "rep",
    );
    cfg.batch_rows_max = 100;
    cfg.jetstream = Some(JetStreamConfig {
        url: cluster.urls.join(","),
        replicas: 3,
        ack_timeout_ms: 5_000,
        ..JetStreamConfig::default()
    });
    let mut p = open_when_ready(&cfg).await;
    for _ in 0..4 {
        p.step(Duration::ZERO).await.unwrap();
    }
    cluster.kill(0); // the server the client most likely talks to
    insert_range(1000, 1500).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while p.state().rows_applied < 1500 {
        assert!(
            std::time::Instant::now() < deadline,
            "stuck at {:?}",
            p.state()
        );
        if p.step(Duration::from_millis(200)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let url = cluster.urls[1].clone();
    let got = messages(&url, &stream_name(&name)).await;
    assert_eq!(got.len(), 1500, "every change once");
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1500, "no id twice");
    let order: Vec<&str> = got
        .iter()
        .map(|m| m["record"]["personal_id"].as_str().unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "in source order");
    p.close().await;
}

/// JetStream over TLS: a server that verifies clients' certificates takes the pipeline's
/// messages when the pipeline presents its certificate and trusts the server's CA; without
/// the certificate, or without TLS, the pipeline cannot connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_over_tls_with_a_client_certificate() {
    let keys = tempfile::tempdir().unwrap();
    let ca = lienthong_trust::Ca::generate("VN").unwrap();
    let write = |name: &str, text: &str| {
        let p = keys.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (server_cert, server_key) = ca.issue("nats", &["127.0.0.1"]).unwrap();
    let (client_cert, client_key) = ca.issue("VN/GOV/TTDLQG/CENTER", &["127.0.0.1"]).unwrap();
    let ca_file = write("ca.crt", &ca.cert_pem);
    let tls_args: Vec<String> = [
        "--tls".to_owned(),
        "--tlscert".to_owned(),
        write("server.crt", &server_cert).display().to_string(),
        "--tlskey".to_owned(),
        write("server.key", &server_key).display().to_string(),
        "--tlsverify".to_owned(),
        "--tlscacert".to_owned(),
        ca_file.display().to_string(),
    ]
    .to_vec();
    let Some(nats) = Cluster::start_with(1, &tls_args) else {
        return;
    };
    let tls = JetStreamConfig {
        url: nats.urls[0].clone(),
        tls_ca: Some(ca_file.clone()),
        tls_cert: Some(write("client.crt", &client_cert)),
        tls_key: Some(write("client.key", &client_key)),
        ..JetStreamConfig::default()
    };
    let name = format!("jstls-{}", suffix());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut sink = loop {
        match JetSink::open(&tls, &name, false).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let msg = |id: &str| (id.to_owned(), json!({ "id": id }));
    assert_eq!(
        sink.publish("", &[msg("a"), msg("b")], false)
            .await
            .unwrap(),
        "b"
    );
    // No client certificate: refused by the server.
    let no_cert = JetStreamConfig {
        tls_cert: None,
        tls_key: None,
        ..tls.clone()
    };
    assert!(JetSink::open(&no_cert, &format!("{name}-2"), false)
        .await
        .is_err());
    // No TLS at all: refused too.
    let plain = JetStreamConfig {
        url: nats.urls[0].clone(),
        ..JetStreamConfig::default()
    };
    assert!(JetSink::open(&plain, &format!("{name}-3"), false)
        .await
        .is_err());
}
