//! Exchange behaviour end to end: allowed, refused and masked calls through the consumer node,
//! and attacks straight at the provider's peer face.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lienthong_gateway::node::{self, RunningNode};
use lienthong_gateway::protocol::header;

use crate::harness::*;

const PURPOSE: (&str, &str) = ("X-Lienthong-Purpose", "insurance-enrolment");
const CLIENT: (&str, &str) = ("X-Road-Client", CONSUMER);

#[tokio::test]
async fn allowed_lookup_returns_normalised_allowed_fields_with_xroad_headers() {
    let t = start(3600).await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[
            CLIENT,
            PURPOSE,
            ("X-Road-UserId", "VN001"),
            ("X-Road-Id", "msg-1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["personal_id"], PID);
    // Normalised by the dictionary on the way out.
    assert_eq!(r.json["full_name"], "Nguyễn Văn An");
    // Sensitive fields: masked under "*", visible when named (religion).
    assert_eq!(r.json["ethnicity"], "***");
    assert_eq!(r.json["religion"], "02");
    assert_eq!(r.headers["x-road-id"], "msg-1");
    assert_eq!(r.headers["x-road-client"], CONSUMER);
    assert_eq!(r.headers["x-road-service"], SERVICE);
    assert!(!r.headers["x-road-request-hash"].is_empty());
    assert!(!r.headers["x-road-request-id"].is_empty());
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

#[tokio::test]
async fn filtered_query_pages_with_a_cursor() {
    let t = start(3600).await;
    let first = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?province_code=01&limit=1"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["records"].as_array().unwrap().len(), 1);
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let second = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?province_code=01&limit=1&cursor={cursor}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(second.json["records"][0]["personal_id"], "001190123457");
    assert!(second.json["next_cursor"].is_null());
    let undeclared = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?full_name=x"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(undeclared.status, 400);
}

#[tokio::test]
async fn fields_select_and_a_withheld_one_is_named() {
    let t = start(3600).await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}?fields=full_name,birth_date"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["birth_date", "full_name"], "{}", r.json);
    let page = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?province_code=01&fields=personal_id"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.json);
    assert_eq!(page.json["records"][0].as_object().unwrap().len(), 1);
    // `ethnicity` is sensitive: masked under "*", so asking for it is refused by name.
    let withheld = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}?fields=full_name,ethnicity"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(
        withheld.json["type"], "Client.FieldNotAllowed",
        "{}",
        withheld.json
    );
    assert!(
        withheld.json["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(": ethnicity")),
        "{}",
        withheld.json
    );
    let unknown = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}?fields=shoe_size"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(
        unknown.json["type"], "Client.BadRequest",
        "{}",
        unknown.json
    );
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

#[tokio::test]
async fn refusals_are_clear_client_errors() {
    let t = start(3600).await;
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            format!("/r1/{SERVICE}/records/{PID}"),
            vec![CLIENT, ("X-Lienthong-Purpose", "marketing")],
            400,
            "Client.PurposeNotAllowed",
        ),
        (
            format!("/r1/{PROVIDER}/household/records/{PID}"),
            vec![CLIENT, PURPOSE],
            400,
            "Client.AccessDenied",
        ),
        (
            format!("/r1/{SERVICE}/records/{PID}"),
            vec![PURPOSE],
            400,
            "Client.BadRequest",
        ),
        (
            format!("/r1/{SERVICE}/records/{PID}"),
            vec![("X-Road-Client", "VN/GOV/OTHER/X"), PURPOSE],
            400,
            "Client.InvalidClient",
        ),
        (
            format!("/r1/{PROVIDER}/nope/records/{PID}"),
            vec![CLIENT, PURPOSE],
            400,
            "Client.UnknownService",
        ),
        // A lookup agreement does not open the change feed: that is a permission of its own.
        (
            format!("/r1/{SERVICE}/changes?after=0"),
            vec![CLIENT, PURPOSE],
            400,
            "Client.ChangeFeedNotAllowed",
        ),
    ];
    // (A call without a purpose gets the agreement's single purpose: see xroad.rs for when
    // it is refused.)
    for (path, headers, status, code) in cases {
        let r = call(&t.consumer, &path, &headers).await;
        assert_eq!(
            (
                r.status,
                r.headers.get("x-road-error").and_then(|v| v.to_str().ok())
            ),
            (status, Some(code)),
            "{path}: {}",
            r.json
        );
        assert_eq!(r.json["type"], code);
        // X-Road's form: type, message, and a detail to find the call by.
        assert!(r.json["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(r.json["detail"].as_str().is_some_and(|m| !m.is_empty()));
        // Errors are JSON with their charset, whichever node produced them.
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json; charset=utf-8"),
            "{path}: {:?}",
            r.headers
        );
    }
    // A record that is not there is the service's own answer, not an X-Road error.
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/000000000000"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.json);
    assert!(r.headers.get("x-road-error").is_none(), "{:?}", r.headers);
    assert!(r.json["message"].is_string(), "{}", r.json);
}

fn signed_request(
    t: &Topology,
    key: &lienthong_trust::SigningKey,
    message_id: &str,
    purpose: &str,
    tamper_purpose: Option<&str>,
) -> hyper::Request<Full<Bytes>> {
    let path = format!("/records/{PID}");
    let mut req = peer_request(t, key, SERVICE, &path, message_id, purpose);
    if let Some(p) = tamper_purpose {
        req.headers_mut()
            .insert(header::PURPOSE, p.parse().unwrap());
    }
    req
}

#[tokio::test]
async fn peer_face_rejects_replay_tampering_and_foreign_identities() {
    let t = start(3600).await;
    let client = peer_client(&t.ca.cert_pem, Some(&t.consumer_id));
    let ok = status_and_error(
        &client,
        signed_request(&t, &t.consumer_id.key, "m-1", "insurance-enrolment", None),
    )
    .await
    .unwrap();
    assert_eq!(ok, (200, String::new()));
    // The same message again.
    let replay = status_and_error(
        &client,
        signed_request(&t, &t.consumer_id.key, "m-1", "insurance-enrolment", None),
    )
    .await
    .unwrap();
    assert_eq!(replay, (400, "Client.Replay".into()));
    // A header changed after signing.
    let tampered = status_and_error(
        &client,
        signed_request(
            &t,
            &t.consumer_id.key,
            "m-2",
            "insurance-enrolment",
            Some("marketing"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(tampered, (400, "Client.BadSignature".into()));
    // A body changed after signing (the signature covers its SHA-256).
    let (head, _) =
        signed_request(&t, &t.consumer_id.key, "m-7", "insurance-enrolment", None).into_parts();
    let body_tampered = status_and_error(
        &client,
        hyper::Request::from_parts(head, Full::new(Bytes::from_static(b"{}"))),
    )
    .await
    .unwrap();
    assert_eq!(body_tampered, (400, "Client.BadSignature".into()));
    // Signed with a key the registry does not list for the member.
    let wrong_key = status_and_error(
        &client,
        signed_request(
            &t,
            &lienthong_trust::SigningKey::generate(),
            "m-3",
            "insurance-enrolment",
            None,
        ),
    )
    .await
    .unwrap();
    assert_eq!(wrong_key, (400, "Client.BadSignature".into()));
    // A certificate from the right CA that the registry does not list for the member.
    let intruder = identity(&t.ca, "intruder");
    let other = peer_client(&t.ca.cert_pem, Some(&intruder));
    let foreign = status_and_error(
        &other,
        signed_request(&t, &t.consumer_id.key, "m-4", "insurance-enrolment", None),
    )
    .await
    .unwrap();
    assert_eq!(foreign, (400, "Client.PeerCertificate".into()));
    // No client certificate: the TLS handshake itself fails.
    let anonymous = peer_client(&t.ca.cert_pem, None);
    assert!(status_and_error(
        &anonymous,
        signed_request(&t, &t.consumer_id.key, "m-5", "insurance-enrolment", None)
    )
    .await
    .is_err());
    // A certificate from another CA: refused at the handshake.
    let other_ca = lienthong_trust::Ca::generate("XX").unwrap();
    let stranger = identity(&other_ca, CONSUMER);
    let mixed = peer_client(&t.ca.cert_pem, Some(&stranger));
    assert!(status_and_error(
        &mixed,
        signed_request(&t, &t.consumer_id.key, "m-6", "insurance-enrolment", None)
    )
    .await
    .is_err());
}

#[tokio::test]
async fn provider_down_gives_a_server_error_within_the_timeout() {
    let t = start(3600).await;
    t.provider.shutdown().await;
    let started = std::time::Instant::now();
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r.status, 500, "{}", r.json);
    assert_eq!(r.json["type"], "Server.ClientProxy.ProviderUnreachable");
}

#[tokio::test]
async fn registry_down_serves_cached_rules_until_expiry_then_refuses() {
    // Snapshots valid for 5 s; the registry goes away at once.
    let t = start(5).await;
    let issued_by = std::time::Instant::now();
    t.registry_task.abort();
    // Calls are served from the cached snapshot until it expires, then refused: wait for the
    // refusal (no fixed sleep), every call before it answered.
    let mut served = 0;
    let r = loop {
        let r = call(
            &t.consumer,
            &format!("/r1/{SERVICE}/records/{PID}"),
            &[CLIENT, PURPOSE],
        )
        .await;
        if r.status != 200 {
            break r;
        }
        served += 1;
        assert!(
            issued_by.elapsed() < Duration::from_secs(60),
            "still served a minute after the snapshot's 5 s validity"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(served > 0, "nothing served from the cached snapshot");
    assert_eq!(r.status, 500, "{}", r.json);
    // Both nodes' snapshots expire: whichever notices first names itself.
    assert!(
        [
            "Server.ClientProxy.RegistryUnavailable",
            "Server.ServerProxy.RegistryUnavailable"
        ]
        .contains(&r.json["type"].as_str().unwrap_or("")),
        "{}",
        r.json
    );
    let _ = (&t.registry_key, t.registry_addr, &t.provider_id);
}

/// A node restarted while the registry is down serves the snapshot saved at its last run;
/// a registry back with an older version (a rebuilt store) is refused and the node keeps
/// the newer one; an expired saved snapshot does not start a node.
#[tokio::test]
async fn a_restarted_node_keeps_its_registry_snapshot() {
    let t = start(3600).await;
    let pub_key = t.registry_key.public_b64();
    let key_pem = t.registry_key.to_pem().unwrap();
    let config = |registry| {
        node_config(
            CONSUMER,
            &t.consumer_id,
            &t.ca,
            (registry, &pub_key),
            "127.0.0.1:0".parse().unwrap(),
            vec![],
            &t.dir_path,
        )
    };
    let version = |node: &RunningNode| {
        let addr = node.admin_addr;
        async move {
            let (status, body) = get_text(addr, "/healthz").await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    // The registry publishes v2 (a member renamed) from a new address.
    t.registry_task.abort();
    let store = registry_store(&t.dir_path).await;
    let (_, mut content) = store.latest().await.unwrap().unwrap();
    content.members[1].name = "Bảo hiểm xã hội Việt Nam".into();
    let now = lienthong_registry::server::now_s();
    assert_eq!(store.save(&content, now).await.unwrap(), 2);
    let (addr2, task2) = serve_registry(content.clone(), &key_pem, &t.dir_path, 3600).await;
    t.consumer.shutdown().await;
    let consumer = node::start(config(addr2)).await.unwrap();
    assert!(version(&consumer).await.contains("snapshot v2 "));
    consumer.shutdown().await;

    // Registry down: the restarted node serves v2 from its log database.
    task2.abort();
    let consumer = node::start(config(addr2)).await.unwrap();
    assert!(version(&consumer).await.contains("snapshot v2 "));
    let r = call(
        &consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    consumer.shutdown().await;

    // A rebuilt registry (a fresh store: v1 again) is refused; the node keeps v2.
    let fresh = tempfile::tempdir().unwrap();
    let (addr3, task3) = serve_registry(content, &key_pem, fresh.path(), 3600).await;
    let consumer = node::start(config(addr3)).await.unwrap();
    assert!(version(&consumer).await.contains("snapshot v2 "));
    tokio::time::sleep(Duration::from_millis(500)).await; // polls refused meanwhile
    assert!(version(&consumer).await.contains("snapshot v2 "));
    consumer.shutdown().await;
    task3.abort();

    // A saved snapshot that has expired starts nothing.
    let t = start(2).await;
    t.registry_task.abort();
    t.consumer.shutdown().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let pub_key = t.registry_key.public_b64();
    let err = node::start(node_config(
        CONSUMER,
        &t.consumer_id,
        &t.ca,
        (t.registry_addr, &pub_key),
        "127.0.0.1:0".parse().unwrap(),
        vec![],
        &t.dir_path,
    ))
    .await
    .err()
    .expect("no valid snapshot, no node");
    assert!(err.contains("v1, has expired"), "{err}");
}

/// GET over plain HTTP: (status, body text).
async fn get_text(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let client: Client<_, http_body_util::Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let r = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .unwrap();
    (
        r.status().as_u16(),
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn revoked_member_and_expired_agreement_are_refused() {
    let t = start_with(3600, |r| r.revoked.push(CONSUMER.into())).await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (400, Some("Client.Revoked")),
        "{}",
        r.json
    );
    let t = start_with(3600, |r| r.agreements[0].valid_to = "2025-06-30".into()).await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (400, Some("Client.AgreementNotInForce")),
        "{}",
        r.json
    );
    let t = start_with(3600, |r| {
        r.agreements[0].fields = vec!["personal_id".into()]
    })
    .await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?province_code=01"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (400, Some("Client.FieldNotAllowed")),
        "{}",
        r.json
    );
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(
        r.json
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["personal_id".to_owned()])
    );
    let t = start_with(3600, |r| {
        r.agreements[0].fields = vec!["province_code".into(), "full_name".into()]
    })
    .await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?province_code=01&limit=1"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert!(
        r.json["next_cursor"].is_null(),
        "the cursor is the key, which this agreement does not show: {}",
        r.json
    );
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?province_code=01&cursor=0"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.json["type"], "Client.FieldNotAllowed", "{}", r.json);
}

#[tokio::test]
async fn admin_face_reports_health_and_prometheus_metrics() {
    let t = start(3600).await;
    let _ = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    let _ = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, ("X-Lienthong-Purpose", "marketing")],
    )
    .await;
    let (status, body) = get_text(t.consumer.admin_addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    // The snapshot's validity as a date in Vietnam time, not a raw epoch.
    assert!(
        body.contains("valid until 20") && body.trim_end().ends_with("+07:00"),
        "{body}"
    );
    let (status, metrics) = get_text(t.provider.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("lienthong_exchange_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"side="provider""#)
            && metrics.contains(r#"code="Client.PurposeNotAllowed""#),
        "{metrics}"
    );
    assert!(
        metrics.contains("lienthong_exchange_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[tokio::test]
async fn metadata_services_answer_as_pr_meta_and_pr_mrest_ask() {
    let t = start(3600).await;
    // listClients: XML by default, at the root as PR-META has it (and under /r1).
    for path in ["/listClients", "/r1/listClients"] {
        let r = send(&t.consumer, "GET", path, &[], b"").await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "text/xml; charset=utf-8"
        );
        let xml = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(xml.contains("<ns2:clientList"), "{xml}");
        assert!(
            xml.contains(r#"<ns2:id ns1:objectType="SUBSYSTEM">"#)
                && xml.contains("<ns1:subsystemCode>SI</ns1:subsystemCode>")
                && xml.contains(r#"<ns2:id ns1:objectType="MEMBER">"#),
            "{xml}"
        );
        assert!(r.headers.get("x-road-id").is_some(), "{:?}", r.headers);
    }
    // JSON on Accept: members and their subsystems.
    let r = call(
        &t.consumer,
        "/listClients",
        &[("Accept", "application/json")],
    )
    .await;
    let members = r.json["member"].as_array().unwrap();
    assert_eq!(members.len(), 4, "{}", r.json);
    let kinds: Vec<&str> = members
        .iter()
        .map(|m| m["id"]["object_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["MEMBER", "SUBSYSTEM", "MEMBER", "SUBSYSTEM"]);
    assert!(members[1]["subsystem_name"].is_string(), "{}", r.json);
    // Another instance: none of ours.
    let r = call(
        &t.consumer,
        "/listClients?xRoadInstance=EE",
        &[("Accept", "application/json")],
    )
    .await;
    assert_eq!(r.json["member"], serde_json::json!([]));
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/listMethods"),
        &[CLIENT],
    )
    .await;
    let services = r.json["service"].as_array().unwrap();
    assert_eq!(services.len(), 2, "{}", r.json);
    assert!(
        services
            .iter()
            .all(|s| s["endpoint_list"].as_array().is_some_and(|e| !e.is_empty())),
        "{}",
        r.json
    );
    assert_eq!(
        r.headers.get("x-road-service").unwrap(),
        &format!("{PROVIDER}/listMethods")
    );
    assert_eq!(r.headers.get("x-road-client").unwrap(), CONSUMER);
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/allowedMethods"),
        &[CLIENT],
    )
    .await;
    let allowed = r.json["service"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{}", r.json);
    assert_eq!(allowed[0]["service_code"], "citizen");
    assert_eq!(allowed[0]["endpoint_list"][0]["method"], "GET");
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/getOpenAPI?serviceCode=citizen"),
        &[CLIENT],
    )
    .await;
    assert_eq!(r.json["openapi"], "3.1.0");
    assert!(
        r.json["paths"]["/records/{personal_id}"]["get"].is_object(),
        "{}",
        r.json
    );
    // A missing code is the client's error, an unknown one the server's (PR-MREST annex A).
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/getOpenAPI"),
        &[CLIENT],
    )
    .await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (400, Some("Client.BadRequest"))
    );
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/getOpenAPI?serviceCode=nope"),
        &[CLIENT],
    )
    .await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (500, Some("Server.ClientProxy.NoServiceDescription"))
    );
    // The provider's metaservices are service calls: a client of another member is refused.
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/listMethods"),
        &[("X-Road-Client", "VN/GOV/OTHER/X")],
    )
    .await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (400, Some("Client.InvalidClient"))
    );
}

/// The provider's REST service `profile` served by `backend` on loopback, with an agreement.
async fn with_profile_backend(backend: axum::Router) -> Topology {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await.unwrap() });
    let profile = format!("{PROVIDER}/profile");
    start_full(
        3600,
        |r| add_service(r, &profile, true),
        vec![lienthong_gateway::node::RestConfig {
            code: "profile".into(),
            base_url: format!("http://{addr}"),
        }],
    )
    .await
}

#[tokio::test]
async fn rest_backend_is_proxied_with_the_agreement_applied() {
    // An existing agency API on loopback.
    let backend = axum::Router::new().route(
        "/people/{id}",
        axum::routing::get(|axum::extract::Path(id): axum::extract::Path<String>| async move {
            axum::Json(serde_json::json!({ "personal_id": id, "full_name": "Lê Thị Hoa", "ethnicity": "01", "internal_note": "x" }))
        }),
    );
    let t = with_profile_backend(backend).await;
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/profile/people/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["personal_id"], PID);
    assert_eq!(r.json["full_name"], "Lê Thị Hoa");
    assert_eq!(
        r.json["ethnicity"], "***",
        "sensitive and not named: masked"
    );
    assert!(
        r.json.get("internal_note").is_none(),
        "not a dataset field: dropped"
    );
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/profile/people/{PID}"),
        &[CLIENT, ("X-Lienthong-Purpose", "marketing")],
    )
    .await;
    assert_eq!(
        r.status, 400,
        "the agreement is checked before the backend is called"
    );
    // Nothing in the sub-path may move the request elsewhere on (or off) the backend.
    for escape in [
        "/people/x@127.0.0.1:1",
        "/people/%2E%2E/%2E%2E/admin",
        "/people/..%2F..%2Fadmin",
        "/people/%2e%2e%5cadmin",
        "/people/./x",
        "/people/..;/admin",
        "/people/..;jsessionid=1/..;/admin",
        "/people/%252e%252e/admin",
        "/people/%252E%252E%252Fadmin",
        "/people/.%2e/admin",
    ] {
        let r = call(
            &t.consumer,
            &format!("/r1/{PROVIDER}/profile{escape}"),
            &[CLIENT, PURPOSE],
        )
        .await;
        assert_eq!(
            (r.status, r.json["type"].as_str()),
            (400, Some("Client.BadRequest")),
            "{escape}: {}",
            r.json
        );
    }
    // Query filters on a proxied service are held to the agreement's fields too.
    let r = call(
        &t.consumer,
        &format!("/r1/{PROVIDER}/profile/people/{PID}?ethnicity=01"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.json["type"], "Client.FieldNotAllowed", "{}", r.json);
}

/// Percent-encoded bytes of a proxied sub-path reach the provider's backend as the client
/// sent them (`%20`, `%3F`, `%2F`, non-UTF-8), signed and verified as sent.
#[tokio::test]
async fn percent_encoded_sub_paths_reach_the_backend_as_sent() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let backend = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(uri.path().to_owned());
            axum::Json(serde_json::json!({ "personal_id": PID }))
        }
    });
    let t = with_profile_backend(backend).await;
    let paths = [
        "/people/a%20b",
        "/people/a%3Fb=c",
        "/people/a%2Fb",
        "/people/%FF%FE",
        "/people/Nguy%E1%BB%85n",
        "/people/a+b",
    ];
    for path in paths {
        let r = call(
            &t.consumer,
            &format!("/r1/{PROVIDER}/profile{path}"),
            &[CLIENT, PURPOSE],
        )
        .await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
    }
    assert_eq!(*seen.lock().unwrap(), paths.to_vec());
}

#[tokio::test]
async fn the_consumer_pins_the_providers_certificate() {
    // The registry lists another certificate for the provider (as if a member holding a valid
    // certificate for the same host answered): the consumer refuses the connection.
    let t = start_with(3600, |r| {
        r.members[0].cert_fingerprint = r.members[1].cert_fingerprint.clone()
    })
    .await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(
        (r.status, r.json["type"].as_str()),
        (500, Some("Server.ClientProxy.ProviderUnreachable")),
        "{}",
        r.json
    );
}

/// Bodies in flight are bounded per node: large answers wait for room (all succeed, none
/// lost), and an answer that could never fit is refused with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_wait_for_room_and_an_oversized_one_is_refused() {
    // ~300 KB of citizens, slowly: several calls overlap.
    let big: Vec<serde_json::Value> = (0..2500)
        .map(|i| serde_json::json!({ "personal_id": format!("0010900{i:05}"), "full_name": "Nguyễn Văn An", "address": "Số 12, Phố Quán Thánh, Phường Ba Đình, Thành phố Hà Nội" }))
        .collect();
    let big = std::sync::Arc::new(big);
    let backend = axum::Router::new().route(
        "/people/{id}",
        axum::routing::get(move || {
            let big = big.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                axum::Json(serde_json::Value::Array((*big).clone()))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await.unwrap() });
    let profile = format!("{PROVIDER}/profile");
    let registry = |r: &mut lienthong_registry::Registry| add_service(r, &profile, true);
    let rest = || {
        vec![lienthong_gateway::node::RestConfig {
            code: "profile".into(),
            base_url: format!("http://{addr}"),
        }]
    };
    // Room for about one answer at a time on the provider (text + parse + projection).
    let t = start_nodes(3600, registry, rest(), |c| {
        c.body_bytes_max = 400 << 10;
        c.inflight_body_bytes_max = 2 << 20;
        c.request_timeout_ms = 10_000;
    })
    .await;
    let path = format!("/r1/{profile}/people/1");
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let consumer = t.consumer.client_addr;
            let path = path.clone();
            tokio::spawn(async move {
                let client: hyper_util::client::legacy::Client<
                    _,
                    http_body_util::Empty<hyper::body::Bytes>,
                > = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build_http();
                let req = hyper::Request::get(format!("http://{consumer}{path}"))
                    .header("X-Road-Client", CONSUMER)
                    .header("X-Lienthong-Purpose", "insurance-enrolment")
                    .body(http_body_util::Empty::new())
                    .unwrap();
                let r = client.request(req).await.unwrap();
                let status = r.status().as_u16();
                let body = http_body_util::BodyExt::collect(r.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                (
                    status,
                    serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
                )
            })
        })
        .collect();
    for c in calls {
        let (status, json) = c.await.unwrap();
        assert_eq!(status, 200, "{json}");
        assert_eq!(json.as_array().map(Vec::len), Some(2500));
    }
    // The four answers did not all fit at once: calls waited for room, and the room held at
    // once never passed the budget (while at least one answer's worth was held).
    for (side, node) in [("provider", &t.provider), ("consumer", &t.consumer)] {
        let seen = node.body_room();
        assert!(
            seen.peak_bytes() <= 2 << 20,
            "{side}: {} bytes held at once, over the budget",
            seen.peak_bytes()
        );
        assert!(
            seen.peak_bytes() >= 200 << 10,
            "{side}: {}",
            seen.peak_bytes()
        );
    }
    assert!(
        t.provider.body_room().waits() + t.consumer.body_room().waits() > 0,
        "no call waited for room: the budget did not bound the calls"
    );
    t.provider.shutdown().await;
    t.consumer.shutdown().await;

    // A node whose room cannot hold one answer refuses it, saying why.
    let t = start_nodes(3600, registry, rest(), |c| {
        c.body_bytes_max = 400 << 10;
        c.inflight_body_bytes_max = 2 << 20;
    })
    .await;
    let r = call(&t.consumer, &path, &[CLIENT, PURPOSE]).await;
    assert_eq!(r.status, 200, "the same answer fits: {}", r.json);
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
    let t = start_nodes(3600, registry, rest(), |c| {
        c.body_bytes_max = 200 << 10;
        c.inflight_body_bytes_max = 1 << 20;
    })
    .await;
    // An answer over body_bytes_max: the provider refuses it (its log says why; the
    // consumer learns only that the backend failed — backend details stay local).
    let r = call(&t.consumer, &path, &[CLIENT, PURPOSE]).await;
    assert_eq!(r.status, 500, "{}", r.json);
    assert_eq!(r.json["type"], "Server.ServerProxy.BackendFailed");
}

/// A consumer member is held to its calls per second at a provider (`consumer_rate_per_s`).
#[tokio::test]
async fn a_consumer_is_held_to_its_rate() {
    let t = start_nodes(
        3600,
        |_| {},
        vec![],
        |c| {
            // One call a second: eight calls in a row would have to take seven seconds
            // to all pass (at three a second, a loaded CI machine's slow calls refilled the
            // bucket between calls and none was refused).
            if c.member.to_string() == PROVIDER {
                c.consumer_rate_per_s = 1;
            }
        },
    )
    .await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let r = call(
            &t.consumer,
            &format!("/r1/{SERVICE}/records/{PID}"),
            &[CLIENT, PURPOSE],
        )
        .await;
        codes.push(r.json["type"].as_str().unwrap_or("ok").to_owned());
    }
    let limited = codes
        .iter()
        .filter(|c| *c == "Client.TooManyRequests")
        .count();
    assert!(
        codes.first().is_some_and(|c| c == "ok") && limited >= 1,
        "{codes:?}"
    );
    // A second later there is room again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

/// A registry served over TLS (its certificate from the registry CA): a node with
/// `registry_url = "https://…"` loads its snapshot; plain HTTP to it, or a CA it does not
/// trust, gets nothing.
#[tokio::test]
async fn nodes_fetch_the_registry_over_tls() {
    use lienthong_gateway::snapshot::SnapshotCache;
    let ca = lienthong_trust::Ca::generate("VN").unwrap();
    let (cert, key) = ca.issue("registry", &["127.0.0.1"]).unwrap();
    let registry_key = lienthong_trust::SigningKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let app = registry_app(dir.path(), None, &registry_key.to_pem().unwrap(), 3600).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = lienthong_trust::client_face_config(&cert, &key, None).unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(lienthong_gateway::node::serve_router(
        listener,
        Some(tls),
        app,
        16,
        stop,
    ));
    let cache = SnapshotCache::new(format!("https://{addr}"), registry_key.public_b64())
        .trusting(&ca.cert_pem)
        .unwrap();
    assert_eq!(cache.refresh().await.unwrap(), 1);
    let plain = SnapshotCache::new(format!("http://{addr}"), registry_key.public_b64());
    assert!(
        plain.refresh().await.is_err(),
        "plain HTTP to a TLS registry"
    );
    let other = lienthong_trust::Ca::generate("VN").unwrap();
    let untrusting = SnapshotCache::new(format!("https://{addr}"), registry_key.public_b64())
        .trusting(&other.cert_pem)
        .unwrap();
    assert!(
        untrusting.refresh().await.is_err(),
        "a registry certificate from another CA"
    );
}
