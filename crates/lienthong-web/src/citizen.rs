//! The citizen's face at the center (docs/citizen.md): a person signs in with an OpenID
//! Connect identity provider (the VNeID model: authorization code flow, the ID token checked
//! against the provider's JWKS, issuer, audience, expiry and nonce), and sees which agency
//! read their data, when, why and under which legal basis — gathered from every node over
//! the exchange, each node's answer checked against its log key and the witness's
//! cosignature before it is shown. A person only ever sees their own history: the id comes
//! from the verified token, never from the request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::Full;
use hyper::body::Bytes;
use lienthong_registry::Registry;
use lienthong_trust::note::NoteVerifier;
use serde::Deserialize;
use serde_json::{json, Value};

mod documents;
mod oidc;
mod page;

use page::page;

/// Records or reads a person's consent at the providing node — `RunningNode::consenter`.
pub use lienthong_gateway::node::Consenter;
/// The center node's asks about e-documents — `RunningNode::document_desk`.
pub use lienthong_gateway::node::DocumentDesk;
/// A person's history from every node — the center node's `RunningNode::gatherer`.
pub use lienthong_gateway::node::Gatherer;

/// The identity provider and this face's registration with it.
#[derive(Debug, Clone)]
pub struct Oidc {
    /// The issuer (`iss`); its discovery document is at `/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This face's public base URL (`http(s)://host:port`): the redirect is `/citizen/callback`.
    pub public_url: String,
    /// The claim holding the person's identity number (`sub` by default).
    pub id_claim: String,
}

/// What the citizen face needs.
pub struct CitizenFace {
    pub oidc: Oidc,
    pub registry: Registry,
    pub gather: Gatherer,
    /// Where agreements rest on consent: the person grants and withdraws on the page.
    pub consent: Option<Consenter>,
    /// E-documents: the person's from every issuing node, issuance, status lists.
    pub documents: Option<DocumentDesk>,
}

struct Discovered {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Face {
    cfg: CitizenFace,
    http: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
    discovered: tokio::sync::OnceCell<Discovered>,
    jwks: Mutex<Option<(Instant, jsonwebtoken::jwk::JwkSet)>>,
    /// state → (nonce, when issued).
    pending: Mutex<HashMap<String, (String, Instant)>>,
    /// session id → (person id, name, when it ends, the session's form token).
    sessions: Mutex<HashMap<String, Session>>,
    /// Issuers' status list tokens as last fetched: member → (when, token).
    status_lists: Mutex<HashMap<String, (Instant, String)>>,
}

/// A signed-in person: id, name, when the session ends, the token its forms carry (a form
/// posted from elsewhere does not have it).
type Session = (String, String, Instant, String);

/// Sign-ins waiting for their callback, and sessions, held at most (older ones are dropped).
const HELD_MAX: usize = 100_000;
const SIGN_IN_TTL: Duration = Duration::from_secs(600);
const SESSION_TTL: Duration = Duration::from_secs(1800);
const COOKIE: &str = "lt_citizen";

/// The citizen face's routes: `/citizen` (the page), `/citizen/login`, `/citizen/callback`,
/// `/citizen/logout`, `/citizen/api/accesses` (JSON; a session or `Authorization: Bearer
/// <ID token>`).
pub fn router(cfg: CitizenFace) -> Router {
    // ring, as the node's own clients: no process-wide provider is assumed.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("ring offers TLS 1.2 and 1.3")
        .https_or_http()
        .enable_http1()
        .build();
    let face = Arc::new(Face {
        cfg,
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
        discovered: tokio::sync::OnceCell::new(),
        jwks: Mutex::new(None),
        pending: Mutex::new(HashMap::new()),
        sessions: Mutex::new(HashMap::new()),
        status_lists: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/citizen", get(page))
        .route("/citizen/login", get(login))
        .route("/citizen/callback", get(callback))
        .route("/citizen/logout", get(logout))
        .route("/citizen/api/accesses", get(api_accesses))
        .route("/citizen/consent", axum::routing::post(consent))
        .route(
            "/citizen/documents/issue",
            axum::routing::post(documents::issue),
        )
        .route("/citizen/documents/download", get(documents::download))
        .route("/status/{member}", get(documents::status_list))
        .route(
            "/verify",
            get(documents::verify_page).post(documents::verify_page),
        )
        .with_state(face)
}

fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

impl Face {
    fn session(&self, headers: &HeaderMap) -> Option<(String, String)> {
        self.session_full(headers).map(|(id, name, _)| (id, name))
    }

    /// The session's person, name and form token.
    fn session_full(&self, headers: &HeaderMap) -> Option<(String, String, String)> {
        let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
        let sid = cookie
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)?
            .1;
        let mut s = self.sessions.lock().ok()?;
        match s.get(sid) {
            Some((id, name, until, form)) if *until > Instant::now() => {
                Some((id.clone(), name.clone(), form.clone()))
            }
            Some(_) => {
                s.remove(sid);
                None
            }
            None => None,
        }
    }

    /// The signed-in person sending a form from their own page (the form carries their
    /// session's token), or the refusal to answer.
    fn form_sender(
        &self,
        headers: &HeaderMap,
        form: &str,
    ) -> Result<String, (StatusCode, &'static str)> {
        let Some((id, _, token)) = self.session_full(headers) else {
            return Err((StatusCode::UNAUTHORIZED, "sign in first"));
        };
        if form != token {
            return Err((
                StatusCode::FORBIDDEN,
                "this form was not sent from your page",
            ));
        }
        Ok(id)
    }

    /// The agreements resting on consent, with the person's consent to each as the providing
    /// nodes hold it: (consumer, service, purpose, granted).
    async fn consents(&self, id: &str) -> Vec<(String, String, String, bool)> {
        let Some(consenter) = &self.cfg.consent else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut read: HashMap<String, Value> = HashMap::new();
        for a in self
            .cfg
            .registry
            .agreements
            .iter()
            .filter(|a| a.basis.as_deref() == Some("consent"))
        {
            let provider = a.service.rsplit_once('/').map_or("", |p| p.0).to_owned();
            if !read.contains_key(&provider) {
                let held = consenter(
                    id.to_owned(),
                    a.consumer.clone(),
                    a.service.clone(),
                    String::new(),
                    None,
                )
                .await
                .unwrap_or(Value::Null);
                read.insert(provider.clone(), held);
            }
            for purpose in &a.purposes {
                let granted = read[&provider]["consents"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| {
                        c["consumer"] == a.consumer.as_str()
                            && c["service"] == a.service.as_str()
                            && c["purpose"] == purpose.as_str()
                            && c["granted"] == true
                    });
                out.push((
                    a.consumer.clone(),
                    a.service.clone(),
                    purpose.clone(),
                    granted,
                ));
            }
        }
        out
    }

    /// The person asking: their session, or a bearer ID token.
    async fn person(&self, headers: &HeaderMap) -> Result<(String, String), String> {
        if let Some(p) = self.session(headers) {
            return Ok(p);
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("sign in first (or send Authorization: Bearer <ID token>)")?;
        self.verify_id_token(bearer.trim(), None).await
    }

    /// The person's history, each node's answer checked: (entries with their node and proof
    /// state, per-node results).
    async fn history(&self, id: &str) -> Value {
        let docs = (self.cfg.gather)(id.to_owned()).await;
        let reg = &self.cfg.registry;
        let witness: Vec<NoteVerifier> = reg
            .witness
            .as_ref()
            .and_then(|w| NoteVerifier::parse(&w.key).ok())
            .into_iter()
            .collect();
        let mut entries = Vec::new();
        let mut nodes = Vec::new();
        for (member, doc) in docs {
            let key = reg
                .member(&member)
                .and_then(|m| m.log_key.as_deref())
                .and_then(|k| NoteVerifier::parse(k).ok());
            let checked = match (&doc, &key) {
                (Ok(d), Some(k)) => lienthong_gateway::witness::verify_history(d, k, &witness),
                (Ok(_), None) => Err("no log key registered".into()),
                (Err(e), _) => Err(e.clone()),
            };
            match checked {
                Ok((list, cosigned)) => {
                    let withheld = doc
                        .as_ref()
                        .ok()
                        .map(|d| d["withheld"].clone())
                        .unwrap_or(Value::Null);
                    nodes.push(json!({ "node": member, "verified": true, "witnessed": cosigned, "entries": list.len(), "withheld": withheld, "document": doc.as_ref().ok() }));
                    for e in list {
                        let client = e["client"].as_str().unwrap_or("");
                        let service = e["service"].as_str().unwrap_or("");
                        let agreement = reg
                            .agreements
                            .iter()
                            .find(|a| a.consumer == client && a.service == service);
                        entries.push(json!({
                            "time": e["timestamp"],
                            "agency": client,
                            "agency_name": reg.member(client).map(|m| m.name.clone()).unwrap_or_default(),
                            "officer": e["user_id"],
                            "service": service,
                            "provider": member,
                            "provider_name": reg.member(&member).map(|m| m.name.clone()).unwrap_or_default(),
                            "fields": e["fields"],
                            "purpose": e["purpose"],
                            "legal_basis": agreement.map(|a| a.legal_basis.clone()),
                            "status": e["status"],
                            "result": e["code"],
                            "message_id": e.get("client_message_id").unwrap_or(&e["message_id"]),
                            "proof": if cosigned { "witnessed" } else { "signed" },
                        }));
                    }
                }
                Err(why) => nodes.push(json!({ "node": member, "verified": false, "error": why })),
            }
        }
        entries.sort_by(|a, b| b["time"].as_u64().cmp(&a["time"].as_u64()));
        json!({ "accesses": entries, "nodes": nodes })
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    login_hint: Option<String>,
    lang: Option<String>,
}

async fn login(State(f): State<Arc<Face>>, Query(q): Query<LoginQuery>) -> Response {
    let d = match f.discovery().await {
        Ok(d) => d,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &e),
    };
    let (state, nonce) = (random_id(), random_id());
    if let Ok(mut p) = f.pending.lock() {
        p.retain(|_, (_, at)| at.elapsed() < SIGN_IN_TTL);
        if p.len() >= HELD_MAX {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sign-ins at once; try again",
            );
        }
        p.insert(state.clone(), (nonce.clone(), Instant::now()));
    }
    let enc = |s: &str| url_encode(s);
    let mut url = format!(
        "{}?response_type=code&scope=openid%20profile&client_id={}&redirect_uri={}&state={}&nonce={}",
        d.authorization_endpoint,
        enc(&f.cfg.oidc.client_id),
        enc(&format!("{}/citizen/callback", f.cfg.oidc.public_url)),
        enc(&state),
        enc(&nonce)
    );
    if let Some(h) = q.login_hint.filter(|h| !h.is_empty() && h.len() <= 64) {
        url.push_str(&format!("&login_hint={}", enc(&h)));
    }
    if q.lang.as_deref() == Some("en") {
        url.push_str("&ui_locales=en");
    }
    redirect(&url)
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(State(f): State<Arc<Face>>, Query(q): Query<Callback>) -> Response {
    if let Some(e) = q.error {
        return plain(
            StatusCode::UNAUTHORIZED,
            &format!("sign-in refused by the identity provider: {e}"),
        );
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return plain(StatusCode::BAD_REQUEST, "the callback lacks code or state");
    };
    let nonce = match f.pending.lock().ok().and_then(|mut p| p.remove(&state)) {
        Some((n, at)) if at.elapsed() < SIGN_IN_TTL => n,
        _ => {
            return plain(
                StatusCode::BAD_REQUEST,
                "unknown or expired sign-in; start again at /citizen/login",
            )
        }
    };
    let d = match f.discovery().await {
        Ok(d) => d,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &e),
    };
    let form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        url_encode(&code),
        url_encode(&format!("{}/citizen/callback", f.cfg.oidc.public_url))
    );
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        url_encode(&f.cfg.oidc.client_id),
        url_encode(&f.cfg.oidc.client_secret)
    ));
    let request = match hyper::Request::post(&d.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Full::new(Bytes::from(form)))
    {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let tokens = match f.fetch(request).await {
        Ok(t) => t,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &e),
    };
    let Some(id_token) = tokens["id_token"].as_str() else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "the token endpoint returned no ID token",
        );
    };
    let (id, name) = match f.verify_id_token(id_token, Some(&nonce)).await {
        Ok(p) => p,
        Err(e) => return plain(StatusCode::UNAUTHORIZED, &e),
    };
    let sid = random_id();
    if let Ok(mut s) = f.sessions.lock() {
        s.retain(|_, (_, _, until, _)| *until > Instant::now());
        if s.len() >= HELD_MAX {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sessions; try again later",
            );
        }
        s.insert(
            sid.clone(),
            (id, name, Instant::now() + SESSION_TTL, random_id()),
        );
    }
    let secure = if f.cfg.oidc.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/citizen".to_owned()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={sid}; Path=/citizen; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                    SESSION_TTL.as_secs()
                ),
            ),
        ],
    )
        .into_response()
}

async fn logout(State(f): State<Arc<Face>>, headers: HeaderMap) -> Response {
    if let Some(cookie) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
        for (k, v) in cookie.split(';').filter_map(|c| c.trim().split_once('=')) {
            if k == COOKIE {
                if let Ok(mut s) = f.sessions.lock() {
                    s.remove(v);
                }
            }
        }
    }
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/citizen".to_owned()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/citizen; HttpOnly; SameSite=Lax; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}

async fn api_accesses(State(f): State<Arc<Face>>, headers: HeaderMap) -> Response {
    match f.person(&headers).await {
        Ok((id, _)) => Json(f.history(&id).await).into_response(),
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": e })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct ConsentForm {
    consumer: String,
    service: String,
    purpose: String,
    /// `grant` or `withdraw`.
    action: String,
    form: String,
}

/// A consent granted or withdrawn on the page: recorded at the providing node before the
/// page says so; the next call under it sees it.
async fn consent(
    State(f): State<Arc<Face>>,
    headers: HeaderMap,
    axum::Form(c): axum::Form<ConsentForm>,
) -> Response {
    let id = match f.form_sender(&headers, &c.form) {
        Ok(id) => id,
        Err((status, why)) => return plain(status, why),
    };
    let granted = match c.action.as_str() {
        "grant" => true,
        "withdraw" => false,
        _ => return plain(StatusCode::BAD_REQUEST, "action is grant or withdraw"),
    };
    let Some(consenter) = &f.cfg.consent else {
        return plain(StatusCode::NOT_FOUND, "no agreement rests on consent here");
    };
    match consenter(id, c.consumer, c.service, c.purpose, Some(granted)).await {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/citizen#consents")],
        )
            .into_response(),
        Err(e) => plain(
            StatusCode::BAD_GATEWAY,
            &format!("the consent could not be recorded: {e}"),
        ),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
