//! E-documents on the citizen face (docs/documents.md): the signed-in person's documents
//! from every issuing node, a button to have one issued (optionally bound to their wallet's
//! public key), the download (`application/dc+sd-jwt`); the issuers' status lists published
//! at `/status/<member>`; and the verifier's page `/verify`, which checks a presentation
//! with the registry's keys and the issuer's status list.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use lienthong_gateway::documents;
use lienthong_gateway::node::DocumentAsk;
use lienthong_trust::sdjwt::status;
use serde::Deserialize;
use serde_json::Value;

use super::{plain, url_encode, Face};
use crate::{esc, t};

/// The person's documents: (member, its answer) for every issuing node.
async fn listed(f: &Face, id: &str) -> Vec<(String, Result<Value, String>)> {
    match &f.cfg.documents {
        Some(desk) => {
            desk(DocumentAsk::List {
                subject: id.to_owned(),
            })
            .await
        }
        None => Vec::new(),
    }
}

fn kind_name(answer: &Value, kind: &str, en: bool) -> String {
    answer["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kind"] == kind)
        .and_then(|k| k[if en { "name_en" } else { "name_vi" }].as_str())
        .unwrap_or(kind)
        .to_owned()
}

fn status_word(s: u8, en: bool) -> &'static str {
    match s {
        status::VALID => t(en, "còn hiệu lực", "valid"),
        status::INVALID => t(en, "đã thu hồi", "revoked"),
        status::SUSPENDED => t(en, "tạm đình chỉ", "suspended"),
        _ => "?",
    }
}

/// The page's section: documents held and the kinds one may ask for.
pub(super) async fn section(f: &Face, id: &str, form: &str, en: bool) -> String {
    if f.cfg.documents.is_none() {
        return String::new();
    }
    let mut b = format!(
        "<h2 id=\"documents\">{}</h2><table id=\"document-list\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        t(en, "Giấy tờ điện tử", "E-documents"),
        t(en, "Giấy tờ", "Document"),
        t(en, "Nơi cấp", "Issued by"),
        t(en, "Ngày cấp", "Issued"),
        t(en, "Hết hạn", "Expires"),
        t(en, "Trạng thái", "Status")
    );
    let mut offers = String::new();
    for (member, answer) in listed(f, id).await {
        let issuer = f
            .cfg
            .registry
            .member(&member)
            .map_or(member.clone(), |m| m.name.clone());
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                offers.push_str(&format!(
                    "<p class=\"node-error\">{}: {}</p>",
                    esc(&issuer),
                    esc(&e)
                ));
                continue;
            }
        };
        for d in answer["documents"].as_array().into_iter().flatten() {
            let kind = d["kind"].as_str().unwrap_or("");
            let idx = d["idx"].as_u64().unwrap_or(0);
            b.push_str(&format!(
                "<tr class=\"document\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a class=\"download\" href=\"/citizen/documents/download?member={}&amp;idx={idx}\">{}</a></td></tr>",
                esc(&kind_name(&answer, kind, en)),
                esc(&issuer),
                esc(&lienthong_core::vietnam_date(d["issued_at"].as_i64().unwrap_or(0))),
                esc(&lienthong_core::vietnam_date(d["expires_at"].as_i64().unwrap_or(0))),
                status_word(d["status"].as_u64().unwrap_or(0) as u8, en),
                url_encode(&member),
                t(en, "Tải về", "Download")
            ));
        }
        // Only what the issuer holds a record to issue from.
        for k in answer["kinds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k["available"] != false)
        {
            let kind = k["kind"].as_str().unwrap_or("");
            offers.push_str(&format!(
                "<form class=\"issue\" method=\"post\" action=\"/citizen/documents/issue\"><input type=\"hidden\" name=\"member\" value=\"{}\"><input type=\"hidden\" name=\"kind\" value=\"{}\"><input type=\"hidden\" name=\"form\" value=\"{}\"><label>{} <input name=\"holder_jwk\" size=\"40\" placeholder=\"{}\"></label> <button>{}: {}</button></form>",
                esc(&member),
                esc(kind),
                esc(form),
                t(en, "Khoá công khai của ví (JWK, không bắt buộc)", "Your wallet's public key (JWK, optional)"),
                esc("{\"kty\":\"EC\",…}"),
                t(en, "Cấp", "Issue"),
                esc(&kind_name(&answer, kind, en)),
            ));
        }
    }
    b.push_str("</table>");
    b.push_str(&offers);
    b.push_str(&format!(
        "<p>{} <a href=\"/verify\">/verify</a></p>",
        t(
            en,
            "Bên nhận giấy tờ kiểm tra tại",
            "Whoever receives a document checks it at"
        )
    ));
    b
}

#[derive(Deserialize)]
pub(super) struct IssueForm {
    member: String,
    kind: String,
    form: String,
    #[serde(default)]
    holder_jwk: String,
}

/// `POST /citizen/documents/issue`: the node issues the document from the person's record.
pub(super) async fn issue(
    State(f): State<Arc<Face>>,
    headers: HeaderMap,
    axum::Form(c): axum::Form<IssueForm>,
) -> Response {
    let id = match f.form_sender(&headers, &c.form) {
        Ok(id) => id,
        Err((status, why)) => return plain(status, why),
    };
    let Some(desk) = &f.cfg.documents else {
        return plain(StatusCode::NOT_FOUND, "no e-documents here");
    };
    let holder_jwk = match c.holder_jwk.trim() {
        "" => None,
        text => match serde_json::from_str::<Value>(text) {
            Ok(jwk @ Value::Object(_)) => Some(jwk),
            _ => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "the wallet key is not a JSON Web Key (a JSON object)",
                )
            }
        },
    };
    let ask = DocumentAsk::Issue {
        member: c.member,
        subject: id,
        kind: c.kind,
        holder_jwk,
    };
    match desk(ask).await.pop() {
        Some((_, Ok(_))) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/citizen#documents")],
        )
            .into_response(),
        Some((_, Err(e))) => plain(
            StatusCode::BAD_GATEWAY,
            &format!("the document could not be issued: {e}"),
        ),
        None => plain(StatusCode::SERVICE_UNAVAILABLE, "no registry snapshot yet"),
    }
}

#[derive(Deserialize)]
pub(super) struct DownloadQuery {
    member: String,
    idx: u64,
}

/// `GET /citizen/documents/download?member=&idx=`: one of the person's own documents.
pub(super) async fn download(
    State(f): State<Arc<Face>>,
    headers: HeaderMap,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let Some((id, _)) = f.session(&headers) else {
        return plain(StatusCode::UNAUTHORIZED, "sign in first");
    };
    let found = listed(&f, &id)
        .await
        .into_iter()
        .filter(|(m, _)| *m == q.member)
        .filter_map(|(_, a)| a.ok())
        .flat_map(|a| a["documents"].as_array().cloned().unwrap_or_default())
        .find(|d| d["idx"].as_u64() == Some(q.idx));
    let Some(doc) = found else {
        return plain(StatusCode::NOT_FOUND, "you hold no such document");
    };
    let name = format!(
        "{}-{}.sd-jwt",
        doc["kind"].as_str().unwrap_or("document"),
        q.idx
    );
    (
        [
            (header::CONTENT_TYPE, "application/dc+sd-jwt".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        doc["token"].as_str().unwrap_or("").to_owned(),
    )
        .into_response()
}

/// How long an issuer's status list token is served from memory: anyone may ask for
/// `/status/…`, and each ask of the issuer's node costs it a signature.
const STATUS_CACHE: std::time::Duration = std::time::Duration::from_secs(30);

/// The issuer's status list token. `/status/…` asks the issuer's node at most every
/// [`STATUS_CACHE`] (a revocation shows there within that; the token's own `ttl` is
/// longer); the verifier's page asks `now`, so a revoked document shows revoked at once.
async fn status_token(f: &Face, member: &str, now: bool) -> Result<String, String> {
    let fresh = |(at, _): &(std::time::Instant, String)| at.elapsed() < STATUS_CACHE;
    let cached = (!now)
        .then(|| f.status_lists.lock().ok())
        .flatten()
        .and_then(|c| c.get(member).filter(|e| fresh(e)).cloned());
    if let Some((_, t)) = cached {
        return Ok(t);
    }
    let desk = f.cfg.documents.as_ref().ok_or("no e-documents here")?;
    let token = match desk(DocumentAsk::Status {
        member: member.to_owned(),
    })
    .await
    .pop()
    {
        Some((_, Ok(v))) => v["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no token in the answer".to_owned())?,
        Some((_, Err(e))) => return Err(e),
        None => return Err("no registry snapshot yet".into()),
    };
    if let Ok(mut c) = f.status_lists.lock() {
        // Only registry members are asked for: the map holds at most one per member.
        c.insert(
            member.to_owned(),
            (std::time::Instant::now(), token.clone()),
        );
    }
    Ok(token)
}

/// `GET /status/<member>`: the member's status list token (`application/statuslist+jwt`),
/// for any verifier; signed by the member, so the center only passes it on.
pub(super) async fn status_list(
    State(f): State<Arc<Face>>,
    Path(member): Path<String>,
) -> Response {
    if f.cfg.registry.member(&member).is_none() {
        return plain(StatusCode::NOT_FOUND, "no such member");
    }
    match status_token(&f, &member, false).await {
        Ok(t) => (
            [
                (header::CONTENT_TYPE, "application/statuslist+jwt"),
                (header::CACHE_CONTROL, "max-age=30"),
            ],
            t,
        )
            .into_response(),
        Err(e) => plain(StatusCode::BAD_GATEWAY, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct VerifyForm {
    #[serde(default)]
    presentation: String,
    #[serde(default)]
    aud: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    lang: Option<String>,
}

/// The verifier's page: paste a document or presentation; it is checked with the
/// registry's member keys and the issuer's status list.
/// (`GET` reads the form from the query string, `POST` from the body.)
pub(super) async fn verify_page(
    State(f): State<Arc<Face>>,
    axum::Form(form): axum::Form<VerifyForm>,
) -> Html<String> {
    let en = form.lang.as_deref() == Some("en");
    let mut result = String::new();
    let presentation = form.presentation.trim();
    if !presentation.is_empty() {
        let kb = (!form.aud.trim().is_empty() || !form.nonce.trim().is_empty())
            .then(|| (form.aud.trim(), form.nonce.trim()));
        let now = lienthong_core::time::now_s();
        result = match documents::verify(presentation, &f.cfg.registry, now, kb) {
            Err(e) => format!(
                "<p id=\"verdict\" class=\"invalid\">✗ {}: {}</p>",
                t(en, "Không hợp lệ", "Not valid"),
                esc(&e.to_string())
            ),
            Ok(v) => {
                let member = documents::issuer_member(v.issuer())
                    .unwrap_or("")
                    .to_owned();
                let issuer = f
                    .cfg
                    .registry
                    .member(&member)
                    .map_or(member.clone(), |m| m.name.clone());
                let state = match status_token(&f, &member, true)
                    .await
                    .map(|tok| documents::status_of(&v, &f.cfg.registry, &tok, now))
                {
                    Ok(Ok(s)) => (s == status::VALID, status_word(s, en).to_owned()),
                    Ok(Err(e)) => (
                        false,
                        format!("{}: {}", t(en, "không xác định", "unknown"), e),
                    ),
                    Err(e) => (
                        false,
                        format!(
                            "{}: {}",
                            t(
                                en,
                                "không hỏi được nơi cấp",
                                "the issuer could not be asked"
                            ),
                            e
                        ),
                    ),
                };
                let mut rows = String::new();
                for (k, val) in v.claims.iter().filter(|(k, _)| {
                    !matches!(k.as_str(), "cnf" | "status" | "iss" | "iat" | "exp" | "vct")
                }) {
                    let shown = val.as_str().map_or(val.to_string(), str::to_owned);
                    rows.push_str(&format!(
                        "<tr><th>{}</th><td>{}</td></tr>",
                        esc(k),
                        esc(&shown)
                    ));
                }
                let bound = match (&v.key_binding, v.claims.contains_key("cnf")) {
                    (Some(_), _) => t(
                        en,
                        "do chính người giữ xuất trình (khoá ví khớp)",
                        "presented by its holder (the wallet key matches)",
                    ),
                    (None, true) => t(
                        en,
                        "gắn với ví nhưng không có chữ ký của người giữ",
                        "bound to a wallet, but not signed by the holder",
                    ),
                    (None, false) => t(en, "không gắn với ví", "not bound to a wallet"),
                };
                format!(
                    "<p id=\"verdict\" class=\"{}\">{} {}</p><p>{}: <strong>{}</strong> · {} · {}: <strong id=\"status\">{}</strong></p><table id=\"claims\">{rows}</table>",
                    if state.0 { "valid" } else { "invalid" },
                    if state.0 { "✓" } else { "✗" },
                    if state.0 { t(en, "Hợp lệ", "Valid") } else { t(en, "Chữ ký đúng nhưng giấy tờ không còn hiệu lực", "Signature valid, but the document is not in force") },
                    t(en, "Nơi cấp", "Issued by"),
                    esc(&issuer),
                    bound,
                    t(en, "Trạng thái", "Status"),
                    esc(&state.1)
                )
            }
        };
    }
    let lang = if en { "en" } else { "vi" };
    Html(format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}}textarea{{width:100%}}table{{border-collapse:collapse}}td,th{{border:1px solid #cdd5df;padding:.3rem .6rem;text-align:left}}.valid{{color:#17642b}}.invalid{{color:#a1221b}}</style></head>
<body><h1>{title}</h1><form method="post" action="/verify"><input type="hidden" name="lang" value="{lang}"><textarea name="presentation" rows="8" placeholder="eyJ…~…~">{text}</textarea><p><label>aud <input name="aud" value="{aud}"></label> <label>nonce <input name="nonce" value="{nonce}"></label></p><button>{check}</button></form>{result}</body></html>"#,
        title = t(en, "Kiểm tra giấy tờ điện tử", "Check an e-document"),
        text = esc(presentation),
        aud = esc(&form.aud),
        nonce = esc(&form.nonce),
        check = t(en, "Kiểm tra", "Check"),
    ))
}
