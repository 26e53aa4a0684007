//! What an unchanged X-Road REST client sends (PR-REST): only `X-Road-Client` is mandatory
//! (the purpose comes from the node or the agreement when the client gives none), the client
//! header is percent-decoded and the last one counts, and HEAD answers like GET without a body.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lienthong_gateway::msglog::LogReader;
use lienthong_gateway::node::RunningNode;

use crate::harness::*;

const CLIENT: (&str, &str) = ("X-Road-Client", CONSUMER);

fn lookup() -> String {
    format!("/r1/{SERVICE}/records/{PID}")
}

/// The purpose the provider logged for its latest exchange.
async fn logged_purpose(t: &Topology) -> String {
    let log = LogReader::open(&log_path(&t.dir_path, PROVIDER))
        .await
        .unwrap();
    let latest = log.recent(1).await.unwrap();
    latest[0].record["purpose"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn only_the_client_header_is_needed_and_the_purpose_has_a_default() {
    // The harness's agreement names one purpose: a call without one is made for it.
    let t = start(3600).await;
    let r = call(&t.consumer, &lookup(), &[CLIENT]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["personal_id"], PID);
    assert_eq!(logged_purpose(&t).await, "insurance-enrolment");
    // The header overrides the default: a purpose the agreement does not name is refused.
    let r = call(
        &t.consumer,
        &lookup(),
        &[CLIENT, ("X-Lienthong-Purpose", "marketing")],
    )
    .await;
    assert_eq!(r.json["type"], "Client.PurposeNotAllowed", "{}", r.json);

    // An agreement with two purposes: without a header or a configured default, a personal
    // data call is still refused for want of a purpose…
    let two = |r: &mut lienthong_registry::Registry| {
        r.agreements[0].purposes = vec!["insurance-enrolment".into(), "audit".into()];
    };
    let t = start_with(3600, two).await;
    let r = call(&t.consumer, &lookup(), &[CLIENT]).await;
    assert_eq!(r.json["type"], "Client.PurposeRequired", "{}", r.json);
    // …and with the node's default for the service, made for that purpose.
    let t = start_nodes(3600, two, vec![], |c| {
        c.default_purposes.insert(SERVICE.into(), "audit".into());
    })
    .await;
    let r = call(&t.consumer, &lookup(), &[CLIENT]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(logged_purpose(&t).await, "audit");
}

#[tokio::test]
async fn the_client_header_is_percent_decoded_and_the_last_one_counts() {
    let t = start(3600).await;
    // `SI` written as `%53%49`.
    let r = call(
        &t.consumer,
        &lookup(),
        &[("X-Road-Client", "VN/GOV/BHXH/%53%49")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Two client headers: the last one counts, either way round.
    let r = call(
        &t.consumer,
        &lookup(),
        &[("X-Road-Client", "VN/GOV/BCA/DANCU"), CLIENT],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = call(
        &t.consumer,
        &lookup(),
        &[CLIENT, ("X-Road-Client", "VN/GOV/BCA/DANCU")],
    )
    .await;
    assert_eq!(r.json["type"], "Client.InvalidClient", "{}", r.json);
    // An encoded slash cannot make a part into two.
    let r = call(
        &t.consumer,
        &lookup(),
        &[("X-Road-Client", "VN/GOV/BHXH%2FSI")],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.json);
}

async fn head(node: &RunningNode, path: &str) -> (u16, hyper::HeaderMap, Bytes) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::head(format!("http://{}{path}", node.client_addr))
        .header(CLIENT.0, CLIENT.1)
        .body(Empty::new())
        .unwrap();
    let r = client.request(req).await.unwrap();
    let (parts, body) = r.into_parts();
    (
        parts.status.as_u16(),
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let t = start(3600).await;
    let (status, headers, body) = head(&t.consumer, &lookup()).await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    for h in [
        "x-road-client",
        "x-road-service",
        "x-road-id",
        "x-road-request-hash",
    ] {
        assert!(headers.contains_key(h), "{h} missing: {headers:?}");
    }
    // A record that does not exist: the same status GET gives.
    let missing = format!("/r1/{SERVICE}/records/001099999999");
    let (status, headers, _) = head(&t.consumer, &missing).await;
    let get = call(&t.consumer, &missing, &[CLIENT]).await;
    assert_eq!(status, get.status);
    assert_eq!(
        headers.get("x-road-error"),
        get.headers.get("x-road-error"),
        "{}",
        get.json
    );
}

/// `X-Road-Id` is the client's correlation id: reused (a retry, one id over a batch) it is
/// not a replay; each call is its own exchange, logged under the client's id on both nodes
/// beside the node's own message id, which the provider's replay check uses.
#[tokio::test]
async fn a_reused_x_road_id_is_not_a_replay() {
    let t = start(3600).await;
    for _ in 0..2 {
        let r = call(&t.consumer, &lookup(), &[CLIENT, ("X-Road-Id", "batch-7")]).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.headers["x-road-id"], "batch-7");
    }
    for member in [CONSUMER, PROVIDER] {
        let entries = LogReader::open(&log_path(&t.dir_path, member))
            .await
            .unwrap()
            .by_message_id("batch-7")
            .await
            .unwrap();
        assert_eq!(entries.len(), 2, "{member}: one entry per call");
        let ids: std::collections::HashSet<&str> = entries
            .iter()
            .map(|e| e.record["message_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 2, "{member}: two node message ids");
        for e in &entries {
            assert_eq!(e.record["client_message_id"], "batch-7", "{member}");
        }
    }
    // An id longer than 128 bytes is refused as a bad request.
    let long = "x".repeat(129);
    let r = call(&t.consumer, &lookup(), &[CLIENT, ("X-Road-Id", &long)]).await;
    assert_eq!(r.json["type"], "Client.BadRequest", "{}", r.json);
}
