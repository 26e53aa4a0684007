//! A small OpenID Connect provider for the demo's synthetic citizens, so the citizen face's
//! sign-in runs on loopback as it would with VNeID: discovery, JWKS (an Ed25519 key, EdDSA
//! ID tokens), the authorization code flow with a registered client and exact redirect URIs,
//! single-use codes. Not an identity service: "signing in" is choosing a synthetic person
//! (a `login_hint` chooses at once), which is what a demo needs and nothing more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use lienthong_trust::SigningKey;
use serde::Deserialize;
use serde_json::json;

use crate::citizen::url_encode;
use crate::esc;

pub struct DemoProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// (personal id, name) of the people who may sign in.
    pub people: Vec<(String, String)>,
    pub key: SigningKey,
}

struct Provider {
    p: DemoProvider,
    kid: String,
    codes: Mutex<HashMap<String, Code>>,
}

/// An authorization code's grant: person id, name, nonce, redirect URI, when issued.
type Code = (String, String, String, String, Instant);

const CODES_MAX: usize = 10_000;

pub fn router(p: DemoProvider) -> Router {
    let kid = lienthong_trust::sha256_hex(p.key.public_b64().as_bytes())[..16].to_owned();
    let state = Arc::new(Provider {
        p,
        kid,
        codes: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(state)
}

async fn discovery(State(s): State<Arc<Provider>>) -> Json<serde_json::Value> {
    let i = &s.p.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile"],
        "claims_supported": ["sub", "name", "iss", "aud", "exp", "iat", "nonce"],
    }))
}

async fn jwks(State(s): State<Arc<Provider>>) -> Json<serde_json::Value> {
    let public = base64::engine::general_purpose::STANDARD
        .decode(s.p.key.public_b64())
        .unwrap_or_default();
    Json(json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": s.kid,
        "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
    }]}))
}

#[derive(Deserialize)]
struct Authorize {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    login_hint: Option<String>,
    ui_locales: Option<String>,
}

fn bad(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{text}\n")).into_response()
}

async fn authorize(State(s): State<Arc<Provider>>, Query(q): Query<Authorize>) -> Response {
    if q.client_id.as_deref() != Some(s.p.client_id.as_str()) {
        return bad("unknown client_id");
    }
    let Some(redirect) = q.redirect_uri.filter(|r| s.p.redirect_uris.contains(r)) else {
        return bad("redirect_uri is not registered for this client");
    };
    let state = q.state.unwrap_or_default();
    if q.response_type.as_deref() != Some("code") {
        return (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                format!(
                    "{redirect}?error=unsupported_response_type&state={}",
                    url_encode(&state)
                ),
            )],
        )
            .into_response();
    }
    let nonce = q.nonce.unwrap_or_default();
    let Some((id, name)) = q
        .login_hint
        .as_deref()
        .and_then(|h| s.p.people.iter().find(|(id, _)| id == h))
        .cloned()
    else {
        // Choose who you are (a demo's sign-in): one link per synthetic person.
        let en = q.ui_locales.as_deref() == Some("en");
        let mut list = String::new();
        for (id, name) in s.p.people.iter().take(50) {
            let link = format!(
                "/authorize?response_type=code&client_id={}&redirect_uri={}&state={}&nonce={}&login_hint={}",
                url_encode(&s.p.client_id),
                url_encode(&redirect),
                url_encode(&state),
                url_encode(&nonce),
                url_encode(id)
            );
            list.push_str(&format!(
                "<li><a href=\"{}\">{} ({})</a></li>",
                esc(&link),
                esc(name),
                esc(id)
            ));
        }
        return Html(format!(
            "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>Demo VNeID</title></head><body><h1>{}</h1><p>{}</p><ul id=\"people\">{list}</ul></body></html>",
            if en { "en" } else { "vi" },
            if en { "Demo identity provider" } else { "Nhà cung cấp định danh (bản thử)" },
            if en { "Synthetic citizens only: choose who you are." } else { "Chỉ có công dân giả lập: chọn người để đăng nhập." }
        ))
        .into_response();
    };
    let code = format!("{}", uuid::Uuid::new_v4().simple());
    if let Ok(mut c) = s.codes.lock() {
        c.retain(|_, v| v.4.elapsed() < Duration::from_secs(60));
        if c.len() >= CODES_MAX {
            return bad("too many sign-ins at once");
        }
        c.insert(
            code.clone(),
            (id, name, nonce, redirect.clone(), Instant::now()),
        );
    }
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            format!("{redirect}?code={code}&state={}", url_encode(&state)),
        )],
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn token(
    State(s): State<Arc<Provider>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let error = |status: StatusCode, e: &str| (status, Json(json!({ "error": e }))).into_response();
    // client_secret_basic (form-encoded id and secret, RFC 6749 2.3.1), or client_secret_post.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|p| {
            p.split_once(':')
                .map(|(a, b)| (percent_decode(a), percent_decode(b)))
        });
    let (id, secret) = match basic {
        Some(c) => c,
        None => (
            f.client_id.clone().unwrap_or_default(),
            f.client_secret.clone().unwrap_or_default(),
        ),
    };
    if id != s.p.client_id || secret != s.p.client_secret {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if f.grant_type != "authorization_code" {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some((person, name, nonce, redirect, at)) =
        s.codes.lock().ok().and_then(|mut c| c.remove(&f.code))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if at.elapsed() > Duration::from_secs(60) || redirect != f.redirect_uri {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now = lienthong_core::time::now_s();
    let claims = json!({ "iss": s.p.issuer, "sub": person, "aud": s.p.client_id, "iat": now, "exp": now + 300, "nonce": nonce, "name": name });
    let mut head = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    head.kid = Some(s.kid.clone());
    let key = match s
        .p
        .key
        .to_pem()
        .ok()
        .and_then(|pem| jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).ok())
    {
        Some(k) => k,
        None => return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    match jsonwebtoken::encode(&head, &claims, &key) {
        Ok(id_token) => Json(json!({ "access_token": format!("{}", uuid::Uuid::new_v4().simple()), "token_type": "Bearer", "expires_in": 300, "id_token": id_token })).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}
