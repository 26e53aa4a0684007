//! Every value a caller or a log supplies is escaped on the dashboard's pages, and the pages
//! read the message logs without changing them.
//!
//! The log is a real node message log (SQLite) holding entries whose caller-supplied fields
//! (`X-Road-UserId`, purpose, message id, client, service, issue, error code) carry markup, as
//! a hostile client or a tampered row would put them there; the registry's names carry markup
//! too. The pages are fetched over HTTP from the dashboard's own router.

use lienthong_gateway::msglog::MessageLog;
use lienthong_gateway::protocol::RequestParts;
use lienthong_gateway::record::{Answer, Record};
use lienthong_registry::{Agreement, Member, Registry, Service};
use lienthong_trust::SigningKey;

/// Markup that would run or restyle the page if it reached it unescaped, in each context the
/// pages use (element text, double- and single-quoted attributes).
fn hostile(what: &str) -> String {
    format!("<script>alert('{what}')</script>\"><img src=x onerror=alert(1)>'")
}

fn record_json(side: &'static str, fields: &[String; 7]) -> serde_json::Value {
    let [client, service, message_id, purpose, user_id, issue, code] = fields;
    let request = RequestParts {
        method: "GET",
        path: "/records/<b>",
        query: "q=<i>",
        client,
        service,
        message_id,
        timestamp: lienthong_core::time::now_s(),
        purpose,
        user_id,
        issue,
        body_sha256: &lienthong_trust::sha256_hex(b""),
        headers_sha256: "",
    };
    Record {
        side,
        request: &request,
        request_signature: "sig",
        consumer_key: "key",
        provider_key: "key",
        answer: &Answer {
            status: 400,
            body_sha256: "",
            timestamp: lienthong_core::time::now_s(),
            signature: "sig",
            request_id: "<rid>",
            headers_sha256: "",
        },
        code,
        data_subjects: vec![],
        pseudonyms: None,
        fields: vec![],
        bytes_in: 0,
        bytes_out: 0,
        duration_ms: 1,
        registry_version: 1,
        request_hash: &request.hash(),
        client_message_id: None,
        client_system: None,
        trace_id: None,
    }
    .entry()
    .text
    .parse()
    .expect("a record is JSON")
}

fn registry() -> Registry {
    let member = |id: &str| Member {
        id: id.into(),
        name: hostile("member name"),
        signing_key: SigningKey::generate().public_b64(),
        address: Some(hostile("address")),
        cert_fingerprint: "00".repeat(32),
        log_key: None,
    };
    Registry {
        instance: "VN".into(),
        members: vec![member("VN/GOV/BCA/DANCU"), member("VN/GOV/BHXH/SI")],
        services: vec![Service {
            id: "VN/GOV/BCA/DANCU/citizen".into(),
            dataset: "citizen".into(),
            personal_data: true,
            rest: false,
            user_id_required: false,
        }],
        agreements: vec![Agreement {
            consumer: "VN/GOV/BHXH/SI".into(),
            service: "VN/GOV/BCA/DANCU/citizen".into(),
            fields: vec!["*".into()],
            purposes: vec![hostile("agreement purpose")],
            legal_basis: hostile("legal basis"),
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

fn files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap_or_default();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                lienthong_trust::sha256_hex(&bytes),
            )
        })
        .collect();
    out.sort();
    out
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<hyper::body::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let r = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn caller_supplied_values_are_escaped_and_logs_are_only_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.messages.db").display().to_string();
    let message_id = hostile("message id");
    let fields = [
        hostile("client"),
        hostile("service"),
        message_id.clone(),
        hostile("purpose"),
        hostile("officer"),
        hostile("issue"),
        hostile("code"),
    ];
    let log = MessageLog::open(&path, SigningKey::generate())
        .await
        .unwrap();
    for side in ["provider", "consumer"] {
        let entry = record_json(side, &fields);
        log.append(&message_id, &entry, vec![]).await.unwrap();
    }
    // A witness alarm about another member's log, named by what that member claimed.
    log.raise_alarm(
        &hostile("alarm origin"),
        &hostile("alarm member"),
        "fork",
        &hostile("alarm detail"),
        "",
    )
    .await
    .unwrap();
    log.close().await;
    // A breach recorded with the log, its title as an operator typed it.
    lienthong_gateway::msglog::open_incident(
        &path,
        lienthong_gateway::incident::Incident {
            id: String::new(),
            title: hostile("incident title"),
            description: String::new(),
            discovered_at: lienthong_core::time::now_s(),
            from: 0,
            to: lienthong_core::time::now_s(),
            services: vec![],
            consumers: vec![],
            status: "open".into(),
            notified_at: None,
        },
    )
    .await
    .unwrap();
    // The writer's connections finish closing on their own threads (the last one folds the
    // write-ahead log into the file): wait until the files stop changing.
    let mut before = files(dir.path());
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let now = files(dir.path());
        if now == before {
            break;
        }
        before = now;
    }

    let reader = lienthong_web::open_log(&path).await.unwrap();
    let app = lienthong_web::router(lienthong_web::Sources::new(
        registry(),
        vec![(hostile("node"), reader)],
        vec![],
        vec![],
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let query: String = message_id.bytes().map(|b| format!("%{b:02X}")).collect();
    for page in [
        "/".to_owned(),
        "/?lang=en".to_owned(),
        format!("/log?message_id={query}"),
        format!("/log?lang=en&message_id={query}"),
    ] {
        let html = get(addr, &page).await;
        for raw in [
            "<script",
            "<img",
            "<b>",
            "<i>",
            "<rid>",
            "onerror=alert(1)>",
        ] {
            assert!(!html.contains(raw), "{page}: {raw} unescaped in\n{html}");
        }
        // The values are there, escaped (so the check above is not passing on an empty page).
        assert!(
            html.contains("&lt;script&gt;alert(&#39;"),
            "{page}:\n{html}"
        );
        let shown: Vec<&str> = [
            "client",
            "service",
            "purpose",
            "officer",
            "code",
            "node",
            "member name",
            "address",
            "message id",
            "agreement purpose",
            "alarm member",
            "alarm detail",
            "incident title",
        ]
        .into_iter()
        .filter(|w| html.contains(&format!("alert(&#39;{w}&#39;)")))
        .collect();
        if page.starts_with("/log") {
            for w in ["client", "purpose", "officer", "code", "node", "message id"] {
                assert!(shown.contains(&w), "{page}: {w} not shown ({shown:?})");
            }
        } else {
            for w in [
                "service",
                "code",
                "member name",
                "address",
                "agreement purpose",
                "alarm member",
                "alarm detail",
                "incident title",
            ] {
                assert!(shown.contains(&w), "{page}: {w} not shown ({shown:?})");
            }
        }
    }
    // Read-only: the log file is byte for byte the same, and nothing was written ahead of it
    // (SQLite's reader may leave an empty -wal and its -shm index, which hold no entries).
    let after = files(dir.path());
    let db =
        |files: &[(String, String)]| files.iter().find(|(n, _)| n == "node.messages.db").cloned();
    assert_eq!(db(&after), db(&before), "the dashboard changed the log");
    let empty = lienthong_trust::sha256_hex(b"");
    for (name, sha) in &after {
        if name.ends_with("-wal") {
            assert_eq!(sha, &empty, "the dashboard wrote to {name}");
        }
    }
}
