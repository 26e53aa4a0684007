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
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use lienthong_registry::Registry;
use lienthong_trust::note::NoteVerifier;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{esc, t};

/// Records or reads a person's consent at the providing node — `RunningNode::consenter`.
pub use lienthong_gateway::node::Consenter;
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
    });
    Router::new()
        .route("/citizen", get(page))
        .route("/citizen/login", get(login))
        .route("/citizen/callback", get(callback))
        .route("/citizen/logout", get(logout))
        .route("/citizen/api/accesses", get(api_accesses))
        .route("/citizen/consent", axum::routing::post(consent))
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
    async fn fetch(&self, request: hyper::Request<Full<Bytes>>) -> Result<Value, String> {
        let r = tokio::time::timeout(Duration::from_secs(10), self.http.request(request))
            .await
            .map_err(|_| "the identity provider did not answer in time".to_owned())?
            .map_err(|e| format!("the identity provider: {e}"))?;
        let status = r.status();
        let bytes = http_body_util::Limited::new(r.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| format!("the identity provider: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "the identity provider answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("the identity provider: not JSON: {e}"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let request = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.fetch(request).await
    }

    async fn discovery(&self) -> Result<&Discovered, String> {
        self.discovered
            .get_or_try_init(|| async {
                let issuer = self.cfg.oidc.issuer.trim_end_matches('/');
                let d = self
                    .get_json(&format!("{issuer}/.well-known/openid-configuration"))
                    .await?;
                if d["issuer"].as_str() != Some(self.cfg.oidc.issuer.as_str()) {
                    return Err("the discovery document names another issuer".to_owned());
                }
                let s = |k: &str| {
                    d[k].as_str()
                        .map(str::to_owned)
                        .ok_or(format!("the discovery document lacks {k}"))
                };
                Ok(Discovered {
                    authorization_endpoint: s("authorization_endpoint")?,
                    token_endpoint: s("token_endpoint")?,
                    jwks_uri: s("jwks_uri")?,
                })
            })
            .await
    }

    /// The provider's keys, cached ten minutes; fetched again once for an unknown key id.
    async fn key_for(&self, kid: Option<&str>) -> Result<jsonwebtoken::DecodingKey, String> {
        for refresh in [false, true] {
            let cached = self.jwks.lock().ok().and_then(|j| {
                j.as_ref()
                    .filter(|(at, _)| !refresh && at.elapsed() < Duration::from_secs(600))
                    .map(|(_, set)| set.clone())
            });
            let set = match cached {
                Some(s) => s,
                None => {
                    let uri = self.discovery().await?.jwks_uri.clone();
                    let set: jsonwebtoken::jwk::JwkSet =
                        serde_json::from_value(self.get_json(&uri).await?)
                            .map_err(|e| format!("the provider's JWKS: {e}"))?;
                    if let Ok(mut j) = self.jwks.lock() {
                        *j = Some((Instant::now(), set.clone()));
                    }
                    set
                }
            };
            let found = match kid {
                Some(k) => set.find(k),
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            };
            if let Some(jwk) = found {
                return jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string());
            }
        }
        Err("the token's key is not in the provider's JWKS".into())
    }

    /// Verifies an ID token: signature by a key of the provider's JWKS (asymmetric
    /// algorithms only), issuer, audience, expiry (a minute's leeway), the nonce where one
    /// is expected. Returns the person's id and name.
    async fn verify_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<(String, String), String> {
        use jsonwebtoken::Algorithm::*;
        let head = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        if !matches!(
            head.alg,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384 | EdDSA
        ) {
            return Err(format!("algorithm {:?} is not accepted", head.alg));
        }
        let key = self.key_for(head.kid.as_deref()).await?;
        let mut v = jsonwebtoken::Validation::new(head.alg);
        v.set_issuer(&[&self.cfg.oidc.issuer]);
        v.set_audience(&[&self.cfg.oidc.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 60;
        let data = jsonwebtoken::decode::<Value>(token, &key, &v)
            .map_err(|e| format!("the ID token: {e}"))?;
        let claims = data.claims;
        if let Some(n) = nonce {
            if claims["nonce"].as_str() != Some(n) {
                return Err("the ID token's nonce is not this sign-in's".into());
            }
        }
        let id = claims[self.cfg.oidc.id_claim.as_str()]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or(format!(
                "the ID token has no {} claim",
                self.cfg.oidc.id_claim
            ))?
            .to_owned();
        let name = claims["name"].as_str().unwrap_or("").to_owned();
        Ok((id, name))
    }

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
    let Some((id, _, form)) = f.session_full(&headers) else {
        return plain(StatusCode::UNAUTHORIZED, "sign in first");
    };
    if c.form != form {
        return plain(
            StatusCode::FORBIDDEN,
            "this form was not sent from your page",
        );
    }
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

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

async fn page(
    State(f): State<Arc<Face>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let lang = if en { "en" } else { "vi" };
    let mut b = String::new();
    match f.session_full(&headers) {
        None => {
            b.push_str(&format!(
                "<p>{}</p><p><a id=\"login\" href=\"/citizen/login?lang={lang}\">{}</a></p>",
                t(en, "Xem cơ quan nào đã sử dụng dữ liệu của bạn, khi nào, vì mục đích gì — có bằng chứng nhật ký không bị sửa đổi.", "See which agency used your data, when and why — with proof that the log was not altered."),
                t(en, "Đăng nhập bằng tài khoản định danh điện tử", "Sign in with your electronic identity")
            ));
        }
        Some((id, name, form)) => {
            let h = f.history(&id).await;
            b.push_str(&format!(
                "<p id=\"person\">{} <strong>{}</strong> ({}) · <a href=\"/citizen/logout\">{}</a></p>",
                t(en, "Xin chào", "Hello"),
                esc(&name),
                esc(&id),
                t(en, "Đăng xuất", "Sign out")
            ));
            let list = h["accesses"].as_array().cloned().unwrap_or_default();
            b.push_str(&format!(
                "<p>{}: <strong id=\"count\">{}</strong></p>",
                t(
                    en,
                    "Số lượt dữ liệu của bạn được cung cấp",
                    "Times your data was given out"
                ),
                list.len()
            ));
            b.push_str(&format!(
                "<table id=\"accesses\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                t(en, "Thời gian", "When"),
                t(en, "Cơ quan sử dụng", "Agency"),
                t(en, "Cán bộ", "Officer"),
                t(en, "Dữ liệu", "Data"),
                t(en, "Mục đích", "Purpose"),
                t(en, "Căn cứ pháp lý", "Legal basis"),
                t(en, "Nơi cung cấp", "Given by"),
                t(en, "Bằng chứng", "Proof")
            ));
            for a in &list {
                let agency = a["agency_name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .or(a["agency"].as_str())
                    .unwrap_or("");
                let provider = a["provider_name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .or(a["provider"].as_str())
                    .unwrap_or("");
                let fields: Vec<&str> = a["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let proof = match (a["proof"].as_str(), en) {
                    (Some("witnessed"), false) => "✓ đã kiểm chứng, có chứng thực của Trung tâm",
                    (Some("witnessed"), true) => "✓ verified, witnessed by the center",
                    (_, false) => "✓ đã kiểm chứng chữ ký nhật ký",
                    (_, true) => "✓ log signature verified",
                };
                b.push_str(&format!(
                    "<tr class=\"access\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&lienthong_core::vietnam_time(a["time"].as_i64().unwrap_or(0))),
                    esc(agency),
                    esc(a["officer"].as_str().unwrap_or("")),
                    esc(&fields.join(", ")),
                    esc(a["purpose"].as_str().unwrap_or("")),
                    esc(a["legal_basis"].as_str().unwrap_or("—")),
                    esc(provider),
                    proof
                ));
            }
            b.push_str("</table>");
            for n in h["nodes"].as_array().into_iter().flatten() {
                if let Some(count) = n["withheld"]["count"].as_u64() {
                    let day =
                        lienthong_core::vietnam_date(n["withheld"]["until"].as_i64().unwrap_or(0));
                    let node = n["node"].as_str().unwrap_or("");
                    let by = f
                        .cfg
                        .registry
                        .member(node)
                        .map_or(node.to_owned(), |m| m.name.clone());
                    b.push_str(&format!(
                        "<p class=\"withheld\">{}</p>",
                        if en {
                            format!("{count} access(es) recorded by {} are withheld for an investigation, as the law allows; they will be shown from {}.", esc(&by), esc(&day))
                        } else {
                            format!("{count} lượt truy cập do {} ghi nhận đang được giữ kín phục vụ điều tra theo quy định của pháp luật; sẽ được hiển thị từ ngày {}.", esc(&by), esc(&day))
                        }
                    ));
                }
                if n["verified"] == false {
                    b.push_str(&format!(
                        "<p class=\"node-error\">{} {}: {}</p>",
                        t(
                            en,
                            "Không kiểm chứng được câu trả lời của",
                            "Could not verify the answer of"
                        ),
                        esc(n["node"].as_str().unwrap_or("")),
                        esc(n["error"].as_str().unwrap_or(""))
                    ));
                }
            }
            let consents = f.consents(&id).await;
            if !consents.is_empty() {
                b.push_str(&format!(
                    "<h2 id=\"consents\">{}</h2><table id=\"consent-list\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
                    t(en, "Sự đồng ý của bạn", "Your consents"),
                    t(en, "Cơ quan", "Agency"),
                    t(en, "Dịch vụ", "Service"),
                    t(en, "Mục đích", "Purpose"),
                    t(en, "Trạng thái", "State")
                ));
                for (consumer, service, purpose, granted) in consents {
                    let agency = f
                        .cfg
                        .registry
                        .member(&consumer)
                        .map_or(consumer.clone(), |m| m.name.clone());
                    let (state, action, button) = if granted {
                        (
                            t(en, "đã đồng ý", "granted"),
                            "withdraw",
                            t(en, "Rút lại", "Withdraw"),
                        )
                    } else {
                        (
                            t(en, "chưa đồng ý", "not granted"),
                            "grant",
                            t(en, "Đồng ý", "Grant"),
                        )
                    };
                    b.push_str(&format!(
                        "<tr class=\"consent consent-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td><form method=\"post\" action=\"/citizen/consent\"><input type=\"hidden\" name=\"consumer\" value=\"{}\"><input type=\"hidden\" name=\"service\" value=\"{}\"><input type=\"hidden\" name=\"purpose\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"form\" value=\"{}\"><button>{button}</button></form></td></tr>",
                        if granted { "granted" } else { "none" },
                        esc(&agency),
                        esc(&service),
                        esc(&purpose),
                        esc(&consumer),
                        esc(&service),
                        esc(&purpose),
                        esc(&form)
                    ));
                }
                b.push_str("</table>");
            }
            b.push_str(&format!(
                "<p><a href=\"/citizen/api/accesses\">{}</a> — {}</p>",
                t(
                    en,
                    "Tải về (JSON, kèm bằng chứng)",
                    "Download (JSON, with proofs)"
                ),
                t(
                    en,
                    "kiểm tra ngoại tuyến bằng lienthong log verify-proof",
                    "check offline with lienthong log verify-proof"
                )
            ));
        }
    }
    Html(format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}}table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #cdd5df;padding:.3rem .6rem;text-align:left}}th{{background:#eef2f7}}</style></head>
<body><nav><a href="?lang={other}">{other_name}</a></nav><h1>{title}</h1>{b}</body></html>"#,
        title = t(
            en,
            "Dữ liệu của tôi đã được sử dụng thế nào",
            "How my data was used"
        ),
        other = if en { "vi" } else { "en" },
        other_name = t(en, "English", "Tiếng Việt"),
    ))
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
