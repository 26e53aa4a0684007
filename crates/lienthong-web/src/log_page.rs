//! The message-log search: `/log` (a message id's records on every node, each with a
//! one-click evidence download), `/api/log`, and `/log/evidence`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{esc, layout, t, LangQuery, Sources};

async fn find(s: &Sources, message_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (member, log) in &s.logs {
        for e in log.by_message_id(message_id).await.unwrap_or_default() {
            out.push(json!({ "node": member, "index": e.index, "entry": e.record }));
        }
    }
    out
}

pub(crate) async fn api_log(State(s): State<Arc<Sources>>, Query(q): Query<LangQuery>) -> Response {
    match q.message_id {
        Some(id) if !id.is_empty() => {
            Json(json!({ "message_id": id, "records": find(&s, &id).await })).into_response()
        }
        _ => (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({ "error": "message_id is required" })),
        )
            .into_response(),
    }
}

/// A query-string value, percent-encoded (everything but unreserved characters).
pub(crate) fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct EvidenceQuery {
    node: String,
    message_id: String,
}

/// One exchange's evidence file from one node's log, as a download.
pub(crate) async fn log_evidence(
    State(s): State<Arc<Sources>>,
    Query(q): Query<EvidenceQuery>,
) -> Response {
    let fail = |code, e: String| (code, Json(json!({ "error": e }))).into_response();
    let Some((_, log)) = s.logs.iter().find(|(m, _)| *m == q.node) else {
        return fail(
            axum::http::StatusCode::NOT_FOUND,
            format!("no message log of {} here", q.node),
        );
    };
    let Some(member) = s.registry.member(&q.node) else {
        return fail(
            axum::http::StatusCode::NOT_FOUND,
            format!("{} is not a member of the registry", q.node),
        );
    };
    match log.evidence(&q.message_id, &member.signing_key).await {
        Ok(doc) => {
            let name: String = q
                .message_id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(80)
                .collect();
            (
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        "application/json".to_owned(),
                    ),
                    (
                        axum::http::header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"evidence-{name}.json\""),
                    ),
                ],
                serde_json::to_string_pretty(&doc).unwrap_or_default(),
            )
                .into_response()
        }
        Err(e) => fail(axum::http::StatusCode::NOT_FOUND, e),
    }
}

pub(crate) async fn page_log(
    State(s): State<Arc<Sources>>,
    Query(q): Query<LangQuery>,
) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let lang = if en { "en" } else { "vi" };
    let id = q.message_id.clone().unwrap_or_default();
    let mut b = format!(
        r#"<form method="get" action="/log"><input type="hidden" name="lang" value="{lang}"><label>{} <input name="message_id" value="{}"></label> <button>{}</button></form>"#,
        t(en, "Mã thông điệp (X-Road-Id)", "Message id (X-Road-Id)"),
        esc(&id),
        t(en, "Tìm", "Search")
    );
    if !id.is_empty() {
        let records = find(&s, &id).await;
        b.push_str(&format!("<p>{}: <b id=\"found\">{}</b></p><table id=\"records\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", t(en, "Bản ghi", "Records"), records.len(), t(en, "Nút", "Node"), t(en, "Bên", "Side"), t(en, "Bên dùng", "Consumer"), t(en, "Mục đích", "Purpose"), t(en, "Cán bộ", "Officer"), t(en, "Kết quả", "Result"), t(en, "Bằng chứng", "Evidence")));
        for r in &records {
            let e = &r["entry"];
            let node = r["node"].as_str().unwrap_or("");
            let evidence = format!(
                "<a class=\"evidence\" download href=\"/log/evidence?node={}&amp;message_id={}\">{}</a>",
                esc(&query_escape(node)),
                esc(&query_escape(&id)),
                t(en, "Tải tệp bằng chứng", "Download evidence")
            );
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{evidence}</td></tr>",
                esc(node),
                esc(e["side"].as_str().unwrap_or("")),
                esc(e["client"].as_str().unwrap_or("")),
                esc(e["purpose"].as_str().unwrap_or("")),
                esc(e["user_id"].as_str().unwrap_or("")),
                esc(e["code"].as_str().unwrap_or(""))
            ));
        }
        b.push_str("</table>");
    }
    layout(en, t(en, "Nhật ký trao đổi", "Message log"), &b)
}
