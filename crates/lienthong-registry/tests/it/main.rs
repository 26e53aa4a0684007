//! The registry store's contract suite (SQLite and the real PostgreSQL) and the admin API.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lienthong_registry::server::{app, Config};
use lienthong_registry::store::Store;
use lienthong_registry::{Agreement, Member, Registry, Service, SignedSnapshot};
use lienthong_trust::SigningKey;
use tower::ServiceExt;

fn member(id: &str) -> Member {
    Member {
        id: id.into(),
        name: id.into(),
        signing_key: "AAAA".into(),
        address: Some("127.0.0.1:1".into()),
        cert_fingerprint: "0".repeat(64),
        log_key: None,
    }
}

fn registry() -> Registry {
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
        agreements: vec![],
        revoked: vec![],
        witness: None,
        catalogue: vec![],
    }
}

fn agreement() -> Agreement {
    Agreement {
        consumer: "VN/GOV/BHXH/SI".into(),
        service: "VN/GOV/BCA/DANCU/citizen".into(),
        fields: vec!["*".into()],
        purposes: vec!["insurance-enrolment".into()],
        legal_basis: "Luật BHXH 2024".into(),
        valid_from: "2025-01-01".into(),
        valid_to: "2030-12-31".into(),
        methods: Vec::new(),
        changes: false,
        basis: None,
        withhold_days: None,
    }
}

async fn contract(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let start = store.latest().await.unwrap().map_or(0, |(v, _)| v);
    let mut r = registry();
    let v1 = store.save(&r, 100).await.unwrap();
    assert!(v1 > start);
    assert_eq!(
        store.save(&r, 101).await.unwrap(),
        v1,
        "unchanged content keeps its version"
    );
    r.agreements.push(agreement());
    let v2 = store.save(&r, 102).await.unwrap();
    assert_eq!(v2, v1 + 1);
    let (latest, content) = store.latest().await.unwrap().unwrap();
    assert_eq!((latest, content), (v2, r.clone()));
    let mut bad = r.clone();
    bad.agreements[0].service = "VN/GOV/BCA/DANCU/none".into();
    assert!(
        store.save(&bad, 103).await.is_err(),
        "invalid content is never stored"
    );
    assert_eq!(store.latest().await.unwrap().unwrap().0, v2);
    let history = store.history(10).await.unwrap();
    assert_eq!(history[0].version, v2);
    assert_eq!(history[1].version, v1);
    store.close().await;
}

#[tokio::test]
async fn store_contract_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    contract(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    ))
    .await;
}

#[tokio::test]
async fn store_contract_postgres() {
    // This test's own precondition (it ran only after another test had installed them).
    sqlx::any::install_default_drivers();
    let Some(url) = lienthong_testkit::service("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    // A schema of its own so parallel runs do not share the table.
    let schema = format!("reg_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    contract(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn admin_api_changes_publish_new_versions() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let public = key.public_b64();
    let store = Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("r.db").display()
    ))
    .await
    .unwrap();
    // Two operators, each with a token of their own.
    let (token, token2) = ("s3cret-token", "another-s3cret");
    let app = app(Config {
        store,
        seed: Some(registry()),
        key,
        validity_s: 3600,
        operators: vec![
            lienthong_registry::server::Operator {
                name: "lan".into(),
                token_sha256: lienthong_trust::sha256_hex(token.as_bytes()),
            },
            lienthong_registry::server::Operator {
                name: "minh".into(),
                token_sha256: lienthong_trust::sha256_hex(token2.as_bytes()),
            },
        ],
        next_key: None,
    })
    .await
    .unwrap();

    assert_eq!(
        send(&app, "GET", "/admin/registry", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, "GET", "/admin/registry", Some("wrong"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, current) = send(&app, "GET", "/admin/registry", Some(token), None).await;
    assert_eq!(
        (status, current["version"].as_u64()),
        (StatusCode::OK, Some(1))
    );

    let (status, v) = send(
        &app,
        "POST",
        "/admin/agreements",
        Some(token),
        Some(serde_json::to_value(agreement()).unwrap()),
    )
    .await;
    assert_eq!((status, v["version"].as_u64()), (StatusCode::OK, Some(2)));
    let mut bad = agreement();
    bad.consumer = "VN/GOV/NOBODY/X".into();
    let (status, err) = send(
        &app,
        "POST",
        "/admin/agreements",
        Some(token),
        Some(serde_json::to_value(bad).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["error"]
        .as_str()
        .unwrap()
        .contains("consumer is not a member"));
    let (status, v) = send(
        &app,
        "POST",
        "/admin/revocations",
        Some(token2),
        Some(serde_json::json!({ "member": "VN/GOV/BHXH/SI" })),
    )
    .await;
    assert_eq!((status, v["version"].as_u64()), (StatusCode::OK, Some(3)));

    // The published snapshot carries the change, signed, at the new version.
    let (_, snap) = send(&app, "GET", "/snapshot", None, None).await;
    let signed: SignedSnapshot = serde_json::from_value(snap).unwrap();
    let body = signed
        .verify(&public, Some(3), lienthong_registry::server::now_s())
        .unwrap();
    assert_eq!(body.version, 3);
    assert_eq!(body.registry.revoked, vec!["VN/GOV/BHXH/SI".to_owned()]);
    assert_eq!(body.registry.agreements.len(), 1);

    let (status, _) = send(
        &app,
        "DELETE",
        "/admin/agreements?consumer=VN/GOV/BHXH/SI&service=VN/GOV/BCA/DANCU/citizen",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &app,
        "DELETE",
        "/admin/agreements?consumer=VN/GOV/BHXH/SI&service=VN/GOV/BCA/DANCU/citizen",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, history) = send(&app, "GET", "/admin/history", Some(token), None).await;
    assert_eq!(history["versions"].as_array().map(Vec::len), Some(4));
    // Every change names the operator who made it, and what it was.
    let who: Vec<(String, String)> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["changed_by"].as_str().unwrap().to_owned(),
                v["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("lan".into(), "agreement-delete".into()),
            ("minh".into(), "revoke".into()),
            ("lan".into(), "agreement".into()),
            (String::new(), String::new()),
        ],
        "{history}"
    );

    // Additions: a new member, a service of it and an agreement, in one version.
    let mut new = member("VN/GOV/BYT/BHYT");
    new.address = Some("127.0.0.1:9".into());
    let additions = serde_json::json!({
        "members": [new],
        "services": [{ "id": "VN/GOV/BYT/BHYT/card", "dataset": "health_insurance" }],
        "agreements": [{ "consumer": "VN/GOV/BHXH/SI", "service": "VN/GOV/BYT/BHYT/card",
            "fields": "*", "purposes": ["audit"], "legal_basis": "x",
            "valid_from": "2025-01-01", "valid_to": "2030-12-31" }],
    });
    let (status, v) = send(
        &app,
        "POST",
        "/admin/registry/additions",
        Some(token),
        Some(additions),
    )
    .await;
    assert_eq!(
        (status, v["version"].as_u64()),
        (StatusCode::OK, Some(5)),
        "{v}"
    );
    let (_, current) = send(&app, "GET", "/admin/registry", Some(token), None).await;
    assert_eq!(
        current["registry"]["members"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        current["registry"]["services"].as_array().map(Vec::len),
        Some(2)
    );
    // Invalid additions (a service of no member) change nothing; none at all are refused;
    // without the token nothing is added.
    let (status, _) = send(
        &app,
        "POST",
        "/admin/registry/additions",
        Some(token),
        Some(serde_json::json!({ "services": [{ "id": "VN/GOV/X/Y/z", "dataset": "citizen" }] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(
        &app,
        "POST",
        "/admin/registry/additions",
        Some(token),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(
        &app,
        "POST",
        "/admin/registry/additions",
        None,
        Some(serde_json::json!({ "members": [member("VN/GOV/EVIL/X")] })),
    )
    .await;
    assert!(status.is_client_error());
    let (_, history) = send(&app, "GET", "/admin/history", Some(token), None).await;
    assert_eq!(history["versions"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn the_catalogue_is_edited_through_the_admin_api_and_published_versioned() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let public = key.public_b64();
    let store = Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("r.db").display()
    ))
    .await
    .unwrap();
    let token = "catalogue-token";
    let app = app(Config {
        store,
        seed: Some(registry()),
        key,
        validity_s: 3600,
        operators: vec![lienthong_registry::server::Operator {
            name: "lan".into(),
            token_sha256: lienthong_trust::sha256_hex(token.as_bytes()),
        }],
        next_key: None,
    })
    .await
    .unwrap();
    let entry = serde_json::json!({
        "id": "land", "name": "Cơ sở dữ liệu quốc gia về đất đai", "scope": "national",
        "agency": "Bộ Nông nghiệp và Môi trường", "legal_basis": "Luật Đất đai 2024",
        "datasets": ["land_parcel"], "members": ["VN/GOV/BNNMT/DATDAI"],
        "planned": { "connected": "2025-12-31" },
    });
    let (status, v) = send(
        &app,
        "PUT",
        "/admin/catalogue",
        Some(token),
        Some(entry.clone()),
    )
    .await;
    assert_eq!(
        (status, v["version"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    // The same id replaces the entry.
    let mut moved = entry.clone();
    moved["planned"]["connected"] = "2026-06-30".into();
    let (status, _) = send(&app, "PUT", "/admin/catalogue", Some(token), Some(moved)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, snap) = send(&app, "GET", "/snapshot", None, None).await;
    let signed: SignedSnapshot = serde_json::from_value(snap).unwrap();
    let body = signed
        .verify(&public, Some(3), lienthong_registry::server::now_s())
        .unwrap();
    assert_eq!(body.registry.catalogue.len(), 1);
    assert_eq!(
        body.registry.catalogue[0].planned.connected.as_deref(),
        Some("2026-06-30")
    );
    // Bad entries are refused with the reason and publish nothing.
    for (change, reason) in [
        (
            serde_json::json!({ "planned": { "synced": "31/12/2026" } }),
            "planned.synced",
        ),
        (serde_json::json!({ "id": "Đất đai" }), "the id is"),
        (
            serde_json::json!({ "scope": "regional" }),
            "unknown variant",
        ),
        (serde_json::json!({ "owner": "x" }), "unknown field"),
    ] {
        let mut bad = entry.clone();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let (status, err) = send(&app, "PUT", "/admin/catalogue", Some(token), Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(err["error"].as_str().unwrap().contains(reason), "{err}");
    }
    assert_eq!(
        send(&app, "PUT", "/admin/catalogue", None, Some(entry))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = send(
        &app,
        "DELETE",
        "/admin/catalogue?id=land",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = send(
        &app,
        "DELETE",
        "/admin/catalogue?id=land",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["error"]
        .as_str()
        .unwrap()
        .contains("no catalogue entry"));
    let (_, history) = send(&app, "GET", "/admin/history", Some(token), None).await;
    let changes: Vec<&str> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["catalogue-delete", "catalogue", "catalogue", ""]);
}
