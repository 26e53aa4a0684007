//! The citizen face: a person signs in through an OpenID Connect provider (the demo's, on
//! loopback, as VNeID would be), sees their own history from a real node message log with
//! its proofs checked, and never another person's; ID tokens that are forged, for another
//! audience or expired are refused.

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use lienthong_gateway::msglog::MessageLog;
use lienthong_gateway::record::Pseudonymiser;
use lienthong_registry::{log_origin, Member, Registry};
use lienthong_trust::note::NoteSigner;
use lienthong_trust::SigningKey;
use serde_json::{json, Value};

const A: &str = "001090123456";
const B: &str = "001190123457";
const NODE: &str = "VN/GOV/BCA/DANCU";

struct Got {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Got {
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut req = hyper::Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let body = r.into_body().collect().await.unwrap().to_bytes();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn post(url: &str, cookie: &str, form: &str) -> u16 {
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let r = client
        .request(
            hyper::Request::post(url)
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(http_body_util::Full::new(Bytes::from(form.to_owned())))
                .unwrap(),
        )
        .await
        .unwrap();
    r.status().as_u16()
}

/// Follows the sign-in as a browser would (redirects, the cookie): the session cookie.
async fn sign_in(face: &str, who: &str) -> String {
    let login = get(&format!("{face}/citizen/login?login_hint={who}"), &[]).await;
    assert_eq!(login.status, 302);
    let to_provider = login.headers["location"].to_str().unwrap().to_owned();
    let back = get(&to_provider, &[]).await;
    assert_eq!(back.status, 302, "{}", back.body);
    let callback = back.headers["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&format!("{face}/citizen/callback?code=")));
    let done = get(&callback, &[]).await;
    assert_eq!(done.status, 302, "{}", done.body);
    let cookie = done.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    cookie.split(';').next().unwrap().to_owned()
}

/// A node's message log with a log key, and how it names persons.
struct NodeLog {
    _dir: tempfile::TempDir,
    log: MessageLog,
    pseudonyms: Arc<Pseudonymiser>,
    log_vkey: String,
}

async fn node_log() -> NodeLog {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.messages.db").display().to_string();
    let log_key = SigningKey::generate();
    let signer = NoteSigner::log(&log_origin(NODE), &log_key).unwrap();
    let log_vkey = signer.vkey();
    let log = MessageLog::open_with(&path, SigningKey::generate(), Some(signer))
        .await
        .unwrap();
    NodeLog {
        _dir: dir,
        log,
        pseudonyms: Arc::new(Pseudonymiser::of_log_key(&log_key)),
        log_vkey,
    }
}

/// The citizen face and the demo's identity provider it is registered with.
struct Served {
    face: String,
    issuer: String,
    provider_key: SigningKey,
}

/// Serves the demo's identity provider (A and B may sign in) and the citizen face over
/// `node`'s log: the registry names the node (its log key) and BHXH, whose agreement on the
/// node's household records rests on consent. The face's history is the node's as it
/// answers, with an access withheld for an investigation until `withheld_until`, if given.
async fn serve(node: &NodeLog, withheld_until: Option<u64>) -> Served {
    let registry = Registry {
        instance: "VN".into(),
        members: vec![
            Member {
                id: NODE.into(),
                name: "Bộ Công an".into(),
                signing_key: SigningKey::generate().public_b64(),
                address: Some("127.0.0.1:1".into()),
                cert_fingerprint: "0".repeat(64),
                log_key: Some(node.log_vkey.clone()),
            },
            Member {
                id: "VN/GOV/BHXH/SI".into(),
                name: "Bảo hiểm xã hội Việt Nam".into(),
                signing_key: SigningKey::generate().public_b64(),
                address: None,
                cert_fingerprint: "0".repeat(64),
                log_key: None,
            },
        ],
        services: vec![],
        // Health records rest on consent: the person grants or withdraws on the page.
        agreements: vec![lienthong_registry::Agreement {
            consumer: "VN/GOV/BHXH/SI".into(),
            service: format!("{NODE}/household"),
            fields: vec!["*".into()],
            purposes: vec!["insurance-enrolment".into()],
            legal_basis: "Luật Bảo hiểm y tế".into(),
            valid_from: "2025-01-01".into(),
            valid_to: "2099-12-31".into(),
            methods: vec![],
            changes: false,
            basis: Some("consent".into()),
            withhold_days: None,
        }],
        revoked: vec![],
        witness: None,
        catalogue: vec![],
    };
    // The demo's identity provider and the face registered with it.
    let provider_key = SigningKey::generate();
    let provider_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", provider_listener.local_addr().unwrap());
    let face_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let face = format!("http://{}", face_listener.local_addr().unwrap());
    let provider = lienthong_web::oidc_demo::router(lienthong_web::oidc_demo::DemoProvider {
        issuer: issuer.clone(),
        client_id: "lienthong-citizen".into(),
        client_secret: "s3cret".into(),
        redirect_uris: vec![format!("{face}/citizen/callback")],
        people: vec![
            (A.into(), "Nguyễn Văn An".into()),
            (B.into(), "Trần Thị Bình".into()),
        ],
        key: SigningKey::from_pem(&provider_key.to_pem().unwrap()).unwrap(),
    });
    tokio::spawn(async move { axum::serve(provider_listener, provider).await.unwrap() });
    let (gather_log, gather_p) = (node.log.clone(), node.pseudonyms.clone());
    let (consent_log, consent_p) = (node.log.clone(), node.pseudonyms.clone());
    let app = lienthong_web::citizen::router(lienthong_web::citizen::CitizenFace {
        oidc: lienthong_web::citizen::Oidc {
            issuer: issuer.clone(),
            client_id: "lienthong-citizen".into(),
            client_secret: "s3cret".into(),
            public_url: face.clone(),
            id_claim: "sub".into(),
        },
        registry,
        gather: Arc::new(move |id: String| {
            let (log, p) = (gather_log.clone(), gather_p.clone());
            Box::pin(async move {
                // As the node answers: its history, and what it withholds for an investigation.
                let mut doc = log.history(&p.pseudonym(&id), 1000).await;
                if let (Ok(d), Some(until)) = (&mut doc, withheld_until) {
                    d["withheld"] = json!({ "count": 1, "until": until });
                }
                vec![(NODE.to_owned(), doc)]
            })
        }),
        // The providing node's consent store (the center's node reaches it over mutual TLS).
        documents: None,
        consent: Some(Arc::new(
            move |id: String,
                  consumer: String,
                  service: String,
                  purpose: String,
                  granted: Option<bool>| {
                let (log, p) = (consent_log.clone(), consent_p.clone());
                Box::pin(async move {
                    let who = p.pseudonym(&id);
                    if let Some(g) = granted {
                        log.set_consent(&who, (&consumer, &service, &purpose), g)
                            .await?;
                    }
                    Ok(json!({ "consents": log.consents_of(&who).await? }))
                })
            },
        )),
    });
    tokio::spawn(async move { axum::serve(face_listener, app).await.unwrap() });
    Served {
        face,
        issuer,
        provider_key,
    }
}

#[tokio::test]
async fn a_citizen_signs_in_and_sees_only_their_own_history_with_proofs() {
    // A real node log with a log key: A's record read twice, B's once.
    let node = node_log().await;
    let (log, pseudonyms) = (node.log.clone(), node.pseudonyms.clone());
    let now = lienthong_core::time::now_s();
    for (n, who) in [A, A, B].iter().enumerate() {
        let entry = json!({ "side": "provider", "timestamp": now - 100 + n as u64, "client": "VN/GOV/BHXH/SI",
            "service": "VN/GOV/BCA/DANCU/citizen", "user_id": "VN-OFFICER-7", "purpose": "insurance-enrolment",
            "code": "ok", "status": 200, "fields": ["personal_id", "full_name"],
            "data_subjects": [pseudonyms.pseudonym(who)], "message_id": format!("m-{n}") });
        log.append(&format!("m-{n}"), &entry, vec![]).await.unwrap();
    }
    let Served {
        face,
        issuer,
        provider_key,
    } = serve(&node, Some(now + 30 * 86_400)).await;

    // Not signed in: the page offers sign-in; the API refuses.
    let page = get(&format!("{face}/citizen"), &[]).await;
    assert!(page.body.contains("id=\"login\""));
    assert_eq!(
        get(&format!("{face}/citizen/api/accesses"), &[])
            .await
            .status,
        401
    );

    // A signs in and sees A's two accesses, checked; never B's.
    let cookie_a = sign_in(&face, A).await;
    let page = get(&format!("{face}/citizen"), &[("cookie", &cookie_a)]).await;
    assert!(
        page.body.contains("<strong id=\"count\">2</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Bảo hiểm xã hội Việt Nam") && page.body.contains("VN-OFFICER-7"));
    assert!(page.body.contains("đã kiểm chứng"), "{}", page.body);
    assert!(
        page.body.contains("đang được giữ kín phục vụ điều tra"),
        "{}",
        page.body
    );
    let api: Value = serde_json::from_str(
        &get(
            &format!("{face}/citizen/api/accesses?subject={B}"),
            &[("cookie", &cookie_a)],
        )
        .await
        .body,
    )
    .unwrap();
    assert_eq!(api["accesses"].as_array().unwrap().len(), 2, "{api}");
    assert_eq!(api["nodes"][0]["verified"], true, "{api}");
    // A grants the consent the household service rests on, with the page's own form; a
    // form without the page's token is refused.
    assert!(page.body.contains("consent-none"), "{}", page.body);
    let token = page
        .body
        .split("name=\"form\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let household = format!("{NODE}/household");
    let form = |action: &str, token: &str| {
        format!(
            "consumer=VN%2FGOV%2FBHXH%2FSI&service={}&purpose=insurance-enrolment&action={action}&form={token}",
            household.replace('/', "%2F")
        )
    };
    assert_eq!(
        post(
            &format!("{face}/citizen/consent"),
            &cookie_a,
            &form("grant", "forged")
        )
        .await,
        403
    );
    assert_eq!(
        post(
            &format!("{face}/citizen/consent"),
            &cookie_a,
            &form("grant", &token)
        )
        .await,
        303
    );
    let who = pseudonyms.pseudonym(A);
    assert!(log
        .consented(&who, ("VN/GOV/BHXH/SI", &household, "insurance-enrolment"))
        .await
        .unwrap());
    let page = get(&format!("{face}/citizen"), &[("cookie", &cookie_a)]).await;
    assert!(page.body.contains("consent-granted"), "{}", page.body);
    assert_eq!(
        post(
            &format!("{face}/citizen/consent"),
            &cookie_a,
            &form("withdraw", &token)
        )
        .await,
        303
    );
    assert!(!log
        .consented(&who, ("VN/GOV/BHXH/SI", &household, "insurance-enrolment"))
        .await
        .unwrap());
    // B signs in: one access.
    let cookie_b = sign_in(&face, B).await;
    let page = get(&format!("{face}/citizen?lang=en"), &[("cookie", &cookie_b)]).await;
    assert!(
        page.body.contains("<strong id=\"count\">1</strong>"),
        "{}",
        page.body
    );
    // Signed out: the session is gone.
    get(&format!("{face}/citizen/logout"), &[("cookie", &cookie_b)]).await;
    assert_eq!(
        get(
            &format!("{face}/citizen/api/accesses"),
            &[("cookie", &cookie_b)]
        )
        .await
        .status,
        401
    );

    // Bearer ID tokens: the provider's, accepted; forged, for another audience, expired: refused.
    let token = |key: &SigningKey, aud: &str, exp: u64, kid: Option<String>| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.kid = kid;
        jsonwebtoken::encode(
            &h,
            &json!({ "iss": issuer, "sub": A, "aud": aud, "iat": now, "exp": exp }),
            &jsonwebtoken::EncodingKey::from_ed_pem(key.to_pem().unwrap().as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let jwks: Value =
        serde_json::from_str(&get(&format!("{issuer}/jwks"), &[]).await.body).unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let ok = token(&provider_key, "lienthong-citizen", now + 300, kid.clone());
    let r = get(
        &format!("{face}/citizen/api/accesses"),
        &[("authorization", &format!("Bearer {ok}"))],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["accesses"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for (why, bad) in [
        (
            "forged",
            token(
                &SigningKey::generate(),
                "lienthong-citizen",
                now + 300,
                kid.clone(),
            ),
        ),
        (
            "audience",
            token(&provider_key, "another-client", now + 300, kid.clone()),
        ),
        (
            "expired",
            token(&provider_key, "lienthong-citizen", now - 600, kid.clone()),
        ),
    ] {
        let r = get(
            &format!("{face}/citizen/api/accesses"),
            &[("authorization", &format!("Bearer {bad}"))],
        )
        .await;
        assert_eq!(r.status, 401, "{why}: {}", r.body);
    }
    // A callback with an unknown state is refused.
    assert_eq!(
        get(&format!("{face}/citizen/callback?code=x&state=y"), &[])
            .await
            .status,
        400
    );
}

/// The same face in a real browser: sign in through the provider, grant a consent with the
/// page's button, then withdraw it — the provider's node holds each before the page says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_citizen_grants_and_withdraws_a_consent_on_the_page() {
    let node = node_log().await;
    let Served { face, .. } = serve(&node, None).await;
    let (log, pseudonyms) = (node.log.clone(), node.pseudonyms.clone());
    let household = format!("{NODE}/household");
    let who = pseudonyms.pseudonym(A);
    let key = ("VN/GOV/BHXH/SI", household.as_str(), "insurance-enrolment");
    let login = format!("{face}/citizen/login?login_hint={A}");
    let face_page = format!("{face}/citizen");
    let dom = tokio::task::spawn_blocking(move || {
        let mut browser = lienthong_testkit::Browser::open()?;
        browser.goto(&login, &face_page);
        let before = browser.dom();
        browser.eval("document.querySelector('tr.consent-none button').click()");
        browser.wait_for("/citizen#consents");
        let granted = browser.dom();
        Some((before, granted, browser))
    })
    .await
    .unwrap();
    let Some((before, granted, browser)) = dom else {
        return;
    };
    assert!(
        before.contains("consent-none") && before.contains("Nguyễn Văn An"),
        "{before}"
    );
    assert!(granted.contains("consent-granted"), "{granted}");
    assert!(log.consented(&who, key).await.unwrap());
    let withdrawn = tokio::task::spawn_blocking(move || {
        let mut browser = browser;
        browser.eval("document.querySelector('tr.consent-granted button').click()");
        // The same address again: wait for the new page's row instead.
        browser.wait_until("document.querySelector('tr.consent-none') !== null");
        browser.dom()
    })
    .await
    .unwrap();
    assert!(withdrawn.contains("consent-none"), "{withdrawn}");
    assert!(!log.consented(&who, key).await.unwrap());
}
