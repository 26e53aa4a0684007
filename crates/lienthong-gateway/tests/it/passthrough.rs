//! REST-proxied services as PR-REST asks: every method, bodies of any type, the client's and
//! the service's own headers, status codes, redirects and the service's own errors pass through
//! two nodes unmodified (no `X-Road-Error` on a service's 404); the agreement still governs
//! methods and, when it limits fields, JSON answers at every depth. X-Road errors are
//! `{type, message, detail}`, 400 or 500, in XML when the client asks for it.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use lienthong_dictionary::catalog;

use crate::harness::*;

const CLIENT: (&str, &str) = ("X-Road-Client", CONSUMER);

/// What the agency's API received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// An existing agency API: records every call and answers by path.
async fn api(
    log: Log,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    log.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        headers,
        body,
    });
    match uri.path() {
        "/things" => (
            StatusCode::CREATED,
            [
                ("location", "/things/7"),
                ("cache-control", "no-cache, no-store, must-revalidate"),
                ("x-powered-by", "PHP/5.2.17"),
                ("content-type", "application/xml; charset=utf-8"),
                // An API must not pose as a node: this one is dropped.
                ("x-road-error", "Server.Fake"),
            ],
            "<thing id=\"7\"/>",
        )
            .into_response(),
        "/missing" => (
            StatusCode::NOT_FOUND,
            [("content-type", "text/html")],
            "<h1>Not here</h1>",
        )
            .into_response(),
        "/moved" => (
            StatusCode::FOUND,
            [("location", "https://other.example/x")],
            "",
        )
            .into_response(),
        "/gone" => StatusCode::NO_CONTENT.into_response(),
        "/nested" => axum::Json(serde_json::json!({
            "data": { "people": [[{ "personal_id": PID, "full_name": "Lê Thị Hoa", "ethnicity": "01", "note": "x" }]] },
            "count": 1,
            "items": [1, 2]
        }))
        .into_response(),
        "/document.pdf" => (
            [("content-type", "application/pdf")],
            Bytes::from_static(b"%PDF-1.7 \xff\xfe binary"),
        )
            .into_response(),
        _ => axum::Json(serde_json::json!({ "method": method.as_str() })).into_response(),
    }
}

/// Two nodes and the provider's REST service `profile` (over the citizen dataset) served by
/// [`api`]; `agreement` adjusts the consumer's agreement for it.
async fn topology(agreement: impl FnOnce(&mut lienthong_registry::Agreement)) -> (Topology, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let backend = axum::Router::new()
        .fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| api(seen.clone(), m, u, h, b));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await.unwrap() });
    let profile = format!("{PROVIDER}/profile");
    let t = start_full(
        3600,
        |r| {
            add_service(r, &profile, true);
            agreement(r.agreements.last_mut().unwrap());
        },
        vec![lienthong_gateway::node::RestConfig {
            code: "profile".into(),
            base_url: format!("http://{addr}"),
        }],
    )
    .await;
    (t, log)
}

/// An agreement that limits nothing: every field of the dataset, every method.
fn everything(a: &mut lienthong_registry::Agreement) {
    a.fields = catalog::dataset("citizen")
        .unwrap()
        .fields
        .iter()
        .map(|f| f.name.to_owned())
        .collect();
    a.methods = lienthong_registry::METHODS
        .iter()
        .map(|m| m.to_string())
        .collect();
}

fn path(sub: &str) -> String {
    format!("/r1/{PROVIDER}/profile{sub}")
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn bodies_headers_statuses_and_redirects_pass_through_unmodified() {
    let (t, log) = topology(everything).await;
    // A POST with an XML body and headers of the client's own.
    let r = send(
        &t.consumer,
        "POST",
        &path("/things?dry=1&q=a%20b"),
        &[
            CLIENT,
            ("X-Road-Id", "corr-1"),
            ("Content-Type", "text/xml; charset=utf-8"),
            ("Accept", "application/xml"),
            ("Authorization", "Bearer abc.def"),
            ("X-Custom", "one"),
            ("X-Custom", "two"),
            ("Cache-Control", "no-cache"),
            ("If-None-Match", "\"v1\""),
        ],
        b"<thing name=\"H\xc3\xb2a\"/>",
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(&r.body[..], b"<thing id=\"7\"/>");
    let h = &r.headers;
    assert_eq!(
        header(h, "content-type"),
        Some("application/xml; charset=utf-8")
    );
    assert_eq!(header(h, "location"), Some("/things/7"));
    assert_eq!(
        header(h, "cache-control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(header(h, "x-powered-by"), Some("PHP/5.2.17"));
    assert!(h.get("x-road-error").is_none(), "{h:?}");
    assert_eq!(header(h, "x-road-id"), Some("corr-1"));
    assert_eq!(header(h, "x-road-client"), Some(CONSUMER));
    let seen = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/things?dry=1&q=a%20b");
    assert_eq!(&seen.body[..], b"<thing name=\"H\xc3\xb2a\"/>");
    let sh = &seen.headers;
    assert_eq!(header(sh, "content-type"), Some("text/xml; charset=utf-8"));
    assert_eq!(header(sh, "accept"), Some("application/xml"));
    assert_eq!(header(sh, "authorization"), Some("Bearer abc.def"));
    assert_eq!(header(sh, "cache-control"), Some("no-cache"));
    assert_eq!(header(sh, "if-none-match"), Some("\"v1\""));
    let custom: Vec<&str> = sh
        .get_all("x-custom")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(custom, ["one", "two"]);
    assert_eq!(header(sh, "x-road-client"), Some(CONSUMER));
    assert_eq!(header(sh, "x-road-id"), Some("corr-1"));
    assert!(
        sh.keys().all(|k| !k.as_str().starts_with("x-lt-")),
        "{sh:?}"
    );

    // Every method reaches the service.
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let r = send(&t.consumer, method, &path("/echo"), &[CLIENT], b"").await;
        assert_eq!(r.status, 200, "{method}: {:?}", r.body);
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(json["method"], method);
    }
    let r = send(&t.consumer, "HEAD", &path("/echo"), &[CLIENT], b"").await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(log.lock().unwrap().last().unwrap().method, "HEAD");

    // The service's own error is its answer: status and body as given, no X-Road-Error.
    let r = send(&t.consumer, "GET", &path("/missing"), &[CLIENT], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(&r.body[..], b"<h1>Not here</h1>");
    assert_eq!(header(&r.headers, "content-type"), Some("text/html"));
    assert!(r.headers.get("x-road-error").is_none());
    // A redirect is passed on, not followed.
    let calls = log.lock().unwrap().len();
    let r = send(&t.consumer, "GET", &path("/moved"), &[CLIENT], b"").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        header(&r.headers, "location"),
        Some("https://other.example/x")
    );
    assert_eq!(
        log.lock().unwrap().len(),
        calls + 1,
        "one call, not followed"
    );
    let r = send(&t.consumer, "DELETE", &path("/gone"), &[CLIENT], b"").await;
    assert_eq!((r.status, r.body.len()), (204, 0));
    // A binary document passes byte for byte under an agreement that limits nothing.
    let r = send(&t.consumer, "GET", &path("/document.pdf"), &[CLIENT], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"%PDF-1.7 \xff\xfe binary");
    assert_eq!(header(&r.headers, "content-type"), Some("application/pdf"));
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

#[tokio::test]
async fn the_agreement_governs_methods_and_fields_at_every_depth() {
    // The harness's agreement: every non-sensitive field (`*`), read only.
    let (t, log) = topology(|_| {}).await;
    let r = send(&t.consumer, "POST", &path("/things"), &[CLIENT], b"{}").await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        header(&r.headers, "x-road-error"),
        Some("Client.MethodNotAllowed")
    );
    assert!(log.lock().unwrap().is_empty(), "refused before the service");
    // JSON is projected inside nested objects and arrays of arrays.
    let r = send(&t.consumer, "GET", &path("/nested"), &[CLIENT], b"").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let person = &json["data"]["people"][0][0];
    assert_eq!(person["personal_id"], PID);
    assert_eq!(person["full_name"], "Lê Thị Hoa");
    assert_eq!(person["ethnicity"], "***", "sensitive under `*`: masked");
    assert!(
        person.get("note").is_none(),
        "not a dictionary field: dropped"
    );
    assert!(json.get("count").is_none(), "{json}");
    assert_eq!(json["items"], serde_json::json!([]));
    // A document the node cannot apply the field list to is refused, not passed.
    let r = send(&t.consumer, "GET", &path("/document.pdf"), &[CLIENT], b"").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        header(&r.headers, "x-road-error"),
        Some("Server.ServerProxy.NotProjectable")
    );
    assert!(!r.body.windows(4).any(|w| w == b"%PDF"));
    // The service's errors still pass.
    let r = send(&t.consumer, "GET", &path("/missing"), &[CLIENT], b"").await;
    assert_eq!(r.status, 404);
    // A dataset service answers GET and HEAD only.
    let r = send(
        &t.consumer,
        "DELETE",
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        header(&r.headers, "x-road-error"),
        Some("Client.MethodNotAllowed")
    );
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

#[tokio::test]
async fn x_road_errors_have_their_form_in_json_or_xml() {
    let (t, _log) = topology(everything).await;
    let unknown = format!("/r1/{PROVIDER}/nope/x");
    let r = send(
        &t.consumer,
        "GET",
        &unknown,
        &[CLIENT, ("X-Road-Id", "e-1")],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/json; charset=utf-8")
    );
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["type"], "Client.UnknownService");
    assert_eq!(header(&r.headers, "x-road-error"), json["type"].as_str());
    assert!(json["message"].as_str().is_some_and(|m| m.contains("nope")));
    assert_eq!(json["detail"], "e-1", "the id the refusal is logged under");
    let r = send(
        &t.consumer,
        "GET",
        &unknown,
        &[
            CLIENT,
            ("Accept", "application/xml, application/json;q=0.5"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/xml; charset=utf-8")
    );
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.starts_with("<?xml"), "{text}");
    assert!(
        text.contains("<type>Client.UnknownService</type>"),
        "{text}"
    );
    assert!(text.contains("<detail>"), "{text}");
    // A provider-side refusal reaches the client in XML too (the Accept header travels).
    let r = send(
        &t.consumer,
        "GET",
        &path("/echo"),
        &[
            CLIENT,
            ("X-Lienthong-Purpose", "marketing"),
            ("Accept", "text/xml"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        text.contains("<type>Client.PurposeNotAllowed</type>"),
        "{text}"
    );
    assert_eq!(
        header(&r.headers, "x-road-error"),
        Some("Client.PurposeNotAllowed")
    );
    // A node's own failure is a 500 named for the node that failed.
    t.provider.shutdown().await;
    let r = send(&t.consumer, "GET", &path("/echo"), &[CLIENT], b"").await;
    assert_eq!(r.status, 500);
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["type"], "Server.ClientProxy.ProviderUnreachable");
    t.consumer.shutdown().await;
}
