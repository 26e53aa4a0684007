//! Alerts that fire and resolve on what the center measures: a node's health listener is
//! stopped and started again, a real sync pipeline (SQLite table → replica) is stopped and
//! started again; an operator acknowledges with their token; `/metrics` passes `promtool`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lienthong_dictionary::catalog;
use lienthong_sync::{Pipeline, PipelineConfig, SourceConfig, StatusReader};
use lienthong_web::history::History;

const PIPELINE: &str = "VN/LOCAL/TEST/UBND/events";

async fn http(method: &str, url: &str, form: Option<&str>) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<hyper::body::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let body = Full::new(hyper::body::Bytes::from(form.unwrap_or("").to_owned()));
    let r = client.request(req.body(body).unwrap()).await.unwrap();
    let status = r.status().as_u16();
    let text = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).into_owned())
}

/// A node's admin listener, as far as the center probes it: `/healthz` on `addr`.
async fn node_health(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok\n" }));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

async fn pipeline(dir: &std::path::Path) -> Pipeline {
    Pipeline::open(
        PipelineConfig {
            name: PIPELINE.into(),
            dataset: &catalog::CIVIL_STATUS_EVENT,
            source: SourceConfig::Poll {
                url: format!("sqlite://{}?mode=rwc", dir.join("source.db").display()),
                table: "events".into(),
                updated_at_column: "updated_at".into(),
            },
            replica_url: format!("sqlite://{}?mode=rwc", dir.join("replica.db").display()),
            replica_table: "civil_status_event".into(),
            batch_rows_max: 100,
            jetstream: None,
            changelog: false,
        },
        "2026-12-01".into(),
    )
    .await
    .unwrap()
}

fn start(p: Pipeline) -> tokio::sync::watch::Sender<bool> {
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(lienthong_sync::run(
        p,
        Duration::from_millis(100),
        rx,
        |_, _| {},
    ));
    stop
}

/// Waits until the alert `rule` of `subject` is in `state` (`None`: no open alert of it).
async fn wait_for(url: &str, rule: &str, subject: &str, state: Option<&str>) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = http("GET", &format!("{url}/api/alerts"), None).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let open = v["open"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == rule && a["subject"] == subject)
            .cloned();
        let now = open
            .as_ref()
            .map(|a| a["state"].as_str().unwrap().to_owned());
        if now.as_deref() == state {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{rule} {subject}: wanted {state:?}, have {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_and_a_stopped_pipeline_fire_alerts_that_resolve_when_they_return() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    // The agency's table, with one event, and its pipeline to the replica.
    let source = sqlx::AnyPool::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("source.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("CREATE TABLE events (event_id TEXT PRIMARY KEY, event_type TEXT, personal_id TEXT, full_name TEXT, event_date TEXT, province_code TEXT, commune_code TEXT, registered_at TEXT, updated_at TEXT)")
        .execute(&source)
        .await
        .unwrap();
    sqlx::query("INSERT INTO events VALUES ('HT17960832000001', 'birth', '001090123456', 'Nguyễn Minh Khang', '2026-11-30', '01', '00004', '2026-11-30T08:00:00+07:00', '2026-11-30T08:00:00+07:00')")
        .execute(&source)
        .await
        .unwrap();
    let stop_pipeline = start(pipeline(dir.path()).await);
    // A node's health listener on a port of its own.
    let node_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let node = node_health(node_addr).await;
    let token = "operator-token-0123456789abcdef";
    let mut sources = lienthong_web::Sources::new(
        lienthong_registry::Registry::default(),
        vec![],
        vec![StatusReader::open(
            &format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("replica.db").display()
            ),
            vec![(PIPELINE.into(), "poll")],
        )
        .await
        .unwrap()],
        vec![(
            "VN/LOCAL/TEST/UBND".into(),
            format!("http://{node_addr}/healthz"),
        )],
    )
    .with_operators(vec![(
        "lan".into(),
        lienthong_trust::sha256_hex(token.as_bytes()),
    )])
    .with_history(
        History::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("history.db").display()
        ))
        .await
        .unwrap(),
    );
    sources.sample_every = Duration::from_millis(200);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, lienthong_web::router(sources))
            .await
            .unwrap();
    });

    // Everything up: no alert (the pipeline's row applied first, so it has run).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, m) = http("GET", &format!("{url}/metrics"), None).await;
        if m.contains(&format!(
            "lienthong_sync_rows_applied_total{{pipeline=\"{PIPELINE}\"}} 1"
        )) && m.contains(&format!(
            "lienthong_sync_running{{pipeline=\"{PIPELINE}\"}} 1"
        )) {
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, body) = http("GET", &format!("{url}/api/alerts"), None).await;
    assert!(body.contains("\"open\":[]"), "{body}");

    // The node stops answering: node_down fires.
    node.abort();
    let _ = node.await;
    let v = wait_for(&url, "node_down", "VN/LOCAL/TEST/UBND", Some("firing")).await;
    let id = v["open"][0]["id"].as_str().unwrap().to_owned();
    // The pipeline stops (its lease released): pipeline_stopped fires.
    stop_pipeline.send(true).unwrap();
    wait_for(&url, "pipeline_stopped", PIPELINE, Some("firing")).await;
    let (_, m) = http("GET", &format!("{url}/metrics"), None).await;
    assert!(
        m.contains("lienthong_node_up{member=\"VN/LOCAL/TEST/UBND\"} 0"),
        "{m}"
    );
    assert!(m.contains(&format!(
        "lienthong_sync_running{{pipeline=\"{PIPELINE}\"}} 0"
    )));
    assert!(
        m.contains("lienthong_alerts_open{rule=\"node_down\""),
        "{m}"
    );
    // The exposition parses as Prometheus reads it.
    if let Some(promtool) = lienthong_testkit::program("promtool", &["/usr/bin/promtool"]) {
        use std::io::Write;
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(m.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The page shows both, with a form to acknowledge; a screenshot is kept.
    let (_, page) = http("GET", &format!("{url}/alerts?lang=en"), None).await;
    assert!(page.contains("<span id=\"open-count\">2</span>"), "{page}");
    assert!(page.contains("Node down") && page.contains("Pipeline stopped"));
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("alerts.png");
    if lienthong_testkit::chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,900",
        &format!("{url}/alerts?lang=en"),
    ])
    .is_some()
    {
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000));
    }

    // Acknowledging takes an operator's token.
    let form = |t: &str| format!("id={}&token={t}", urlencode(&id));
    let (status, body) = http(
        "POST",
        &format!("{url}/alerts/ack?lang=en"),
        Some(&form("wrong")),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("unknown operator token"));
    let (status, _) = http(
        "POST",
        &format!("{url}/alerts/ack?lang=en"),
        Some(&form(token)),
    )
    .await;
    assert_eq!(status, 303);
    let v = wait_for(
        &url,
        "node_down",
        "VN/LOCAL/TEST/UBND",
        Some("acknowledged"),
    )
    .await;
    let acked = v["open"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(acked["acked_by"], "lan");
    let (status, body) = http(
        "POST",
        &format!("{url}/alerts/ack"),
        Some("id=nope&token=operator-token-0123456789abcdef"),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // The pipeline's own page: stopped, its row applied, its charts.
    let (status, page) = http(
        "GET",
        &format!("{url}/pipeline?lang=en&name={}", urlencode(PIPELINE)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<tr><th>Running</th><td>no</td></tr>"),
        "{page}"
    );
    assert!(page.contains("<tr><th>Applied / deleted</th><td>1 / 0</td></tr>"));
    assert!(page.contains("id=\"chart-lag\"") && page.contains("id=\"chart-quarantined\""));
    let (status, page) = http("GET", &format!("{url}/pipeline?name=nope"), None).await;
    assert_eq!(status, 404);
    assert!(page.contains("no pipeline &quot;nope&quot;"), "{page}");
    let (status, _) = http("GET", &format!("{url}/member?id=VN/GOV/NOBODY/X"), None).await;
    assert_eq!(status, 404);

    // Both come back: both alerts resolve by themselves, kept in the history.
    let _node = node_health(node_addr).await;
    let _keep_running = start(pipeline(dir.path()).await);
    wait_for(&url, "node_down", "VN/LOCAL/TEST/UBND", None).await;
    let v = wait_for(&url, "pipeline_stopped", PIPELINE, None).await;
    let history = v["history"].as_array().unwrap();
    for rule in ["node_down", "pipeline_stopped"] {
        let a = history.iter().find(|a| a["rule"] == rule).unwrap();
        assert_eq!(a["state"], "resolved", "{a}");
        assert!(a["resolved_ms"].as_i64().unwrap() >= a["started_ms"].as_i64().unwrap());
    }
    assert_eq!(
        history.iter().find(|a| a["rule"] == "node_down").unwrap()["acked_by"],
        "lan",
        "the acknowledgement stays in the history"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The alerting rules shipped for Prometheus are valid and fire as their unit tests say.
#[test]
fn shipped_alerting_rules_pass_promtool() {
    let Some(promtool) = lienthong_testkit::program("promtool", &["/usr/bin/promtool"]) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool {args:?}: {text}");
        assert!(text.contains("SUCCESS"), "{text}");
    }
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    for name in [
        "LienthongNodeDown",
        "LienthongPipelineStopped",
        "LienthongPipelineLagging",
        "LienthongQuarantineGrowing",
        "LienthongRegistrySnapshotExpiring",
        "LienthongCertificateExpiring",
        "LienthongRefusalBurst",
    ] {
        assert!(rules.contains(&format!("alert: {name}")), "{name}");
    }
}
