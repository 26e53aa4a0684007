//! The dashboard raises alerts from what a node's message log shows: a burst of refusals for
//! identity or agreement from one consumer, and calls outside an agreement's validity.

use lienthong_gateway::msglog::MessageLog;
use lienthong_registry::Registry;
use lienthong_trust::SigningKey;

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
async fn refusal_bursts_and_calls_outside_an_agreement_raise_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.messages.db").display().to_string();
    let log = MessageLog::open(&path, SigningKey::generate())
        .await
        .unwrap();
    let now = lienthong_core::time::now_s();
    for n in 0..30 {
        let code = if n < 3 {
            "Client.AgreementNotInForce"
        } else {
            "Client.BadSignature"
        };
        let entry = serde_json::json!({ "side": "provider", "timestamp": now - 10, "client": "VN/GOV/ROGUE/X",
            "service": "VN/GOV/BCA/DANCU/citizen", "code": code, "status": 400, "data_subjects": [] });
        log.append(&format!("m-{n}"), &entry, vec![]).await.unwrap();
    }
    // A consumer calling normally raises nothing.
    for n in 0..5 {
        let entry = serde_json::json!({ "side": "provider", "timestamp": now - 10, "client": "VN/GOV/BHXH/SI",
            "service": "VN/GOV/BCA/DANCU/citizen", "code": "ok", "status": 200, "data_subjects": [format!("p1:{n}")] });
        log.append(&format!("ok-{n}"), &entry, vec![])
            .await
            .unwrap();
    }
    log.close().await;
    let reader = lienthong_web::open_log(&path).await.unwrap();
    let registry = Registry {
        instance: "VN".into(),
        members: vec![],
        services: vec![],
        agreements: vec![],
        revoked: vec![],
        witness: None,
        catalogue: vec![],
    };
    let app = lienthong_web::router(lienthong_web::Sources::new(
        registry,
        vec![("VN/GOV/BCA/DANCU".into(), reader)],
        vec![],
        vec![],
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let api: serde_json::Value = serde_json::from_str(&get(addr, "/api/overview").await).unwrap();
    let kinds: Vec<(&str, &str)> = api["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["member"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("refusal_burst", "VN/GOV/ROGUE/X"),
            ("outside_agreement", "VN/GOV/ROGUE/X")
        ],
        "{api}"
    );
    let page = get(addr, "/").await;
    assert!(page.contains("id=\"alerts\"") && page.contains("nhiều lượt bị từ chối"));
    let en = get(addr, "/?lang=en").await;
    assert!(en.contains("burst of refusals") && en.contains("outside the agreement"));
}
