//! `/alerts`: the open alerts (firing, acknowledged) with a form to acknowledge one, and the
//! history of every alert; `/api/alerts` the same as JSON; `POST /alerts/ack`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use crate::alerting::Alert;
use crate::{esc, layout, t, LangQuery, Sources};

fn rule_name(en: bool, rule: &str) -> &str {
    match (rule, en) {
        ("node_down", false) => "Nút không trả lời",
        ("pipeline_stopped", false) => "Luồng đồng bộ đã dừng",
        ("pipeline_lagging", false) => "Luồng đồng bộ trễ quá ngưỡng",
        ("quarantine_growing", false) => "Bản ghi cách ly tăng",
        ("refusal_burst", false) => "Từ chối tăng đột biến",
        ("node_down", true) => "Node down",
        ("pipeline_stopped", true) => "Pipeline stopped",
        ("pipeline_lagging", true) => "Pipeline over its lag bound",
        ("quarantine_growing", true) => "Quarantine growing",
        ("refusal_burst", true) => "Refusal burst",
        (other, _) => other,
    }
}

fn state_name(en: bool, state: &str) -> &str {
    match (state, en) {
        ("firing", false) => "đang báo",
        ("acknowledged", false) => "đã tiếp nhận",
        ("resolved", false) => "đã hết",
        (other, _) => other,
    }
}

fn when(ms: Option<i64>) -> String {
    ms.map_or("—".into(), |ms| lienthong_core::vietnam_time(ms / 1000))
}

pub(crate) async fn api_alerts(State(s): State<Arc<Sources>>) -> Response {
    let Some(h) = &s.history else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "this dashboard keeps no history" })),
        )
            .into_response();
    };
    match (h.open_alerts().await, h.alert_history(500).await) {
        (Ok(open), Ok(all)) => Json(json!({ "open": open, "history": all })).into_response(),
        (Err(e), _) | (_, Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e })),
        )
            .into_response(),
    }
}

fn row(en: bool, a: &Alert, ack: Option<&str>) -> String {
    format!(
        "<tr class=\"alert {}\" data-rule=\"{}\" data-subject=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&a.state),
        esc(&a.rule),
        esc(&a.subject),
        esc(state_name(en, &a.state)),
        esc(rule_name(en, &a.rule)),
        esc(&a.subject),
        esc(&a.detail),
        when(Some(a.started_ms)),
        match (&a.acked_by, a.resolved_ms) {
            (_, Some(r)) => format!("{} {}", t(en, "hết lúc", "resolved"), when(Some(r))),
            (Some(by), None) => format!("{} ({})", esc(by), when(a.acked_ms)),
            _ => "—".into(),
        },
        ack.unwrap_or(""),
    )
}

pub(crate) async fn page_alerts(
    State(s): State<Arc<Sources>>,
    Query(q): Query<LangQuery>,
) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let lang = if en { "en" } else { "vi" };
    let title = t(en, "Cảnh báo", "Alerts");
    let Some(h) = &s.history else {
        return crate::no_history(en, title);
    };
    let head = format!(
        "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        t(en, "Trạng thái", "State"),
        t(en, "Cảnh báo", "Alert"),
        t(en, "Đối tượng", "Subject"),
        t(en, "Chi tiết", "Detail"),
        t(en, "Bắt đầu", "Since"),
        t(en, "Tiếp nhận / kết thúc", "Acknowledged / resolved"),
    );
    let open = h.open_alerts().await.unwrap_or_default();
    let mut b = format!(
        "<h2>{} (<span id=\"open-count\">{}</span>)</h2><table id=\"open-alerts\">{head}",
        t(en, "Đang mở", "Open"),
        open.len()
    );
    for a in &open {
        let form = (a.state == "firing").then(|| format!(
            "<form method=\"post\" action=\"/alerts/ack?lang={lang}\"><input type=\"hidden\" name=\"id\" value=\"{}\"><input type=\"password\" name=\"token\" placeholder=\"{}\" required> <button>{}</button></form>",
            esc(&a.id),
            t(en, "mã cán bộ vận hành", "operator token"),
            t(en, "Tiếp nhận", "Acknowledge")
        ));
        b.push_str(&row(en, a, form.as_deref()));
    }
    b.push_str(&format!(
        "</table><h2>{}</h2><table id=\"alert-history\">{head}",
        t(en, "Lịch sử cảnh báo", "Alert history")
    ));
    for a in h.alert_history(200).await.unwrap_or_default() {
        b.push_str(&row(en, &a, None));
    }
    b.push_str(
        "</table><p><a href=\"/api/alerts\">JSON</a> · <a href=\"/metrics\">Prometheus</a></p>",
    );
    layout(en, title, &b)
}

#[derive(Deserialize)]
pub(crate) struct Ack {
    id: String,
    token: String,
}

/// Acknowledges an alert for the operator whose token was given.
pub(crate) async fn ack(
    State(s): State<Arc<Sources>>,
    Query(q): Query<LangQuery>,
    Form(form): Form<Ack>,
) -> Response {
    let en = q.lang.as_deref() == Some("en");
    let refuse = |code: StatusCode, msg: String| {
        (
            code,
            layout(
                en,
                t(en, "Cảnh báo", "Alerts"),
                &format!("<p id=\"error\">{}</p>", esc(&msg)),
            ),
        )
            .into_response()
    };
    let Some(h) = &s.history else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this dashboard keeps no history".into(),
        );
    };
    if s.operators.is_empty() {
        return refuse(
            StatusCode::FORBIDDEN,
            "no operator may acknowledge alerts here: the dashboard has no operator tokens configured".into(),
        );
    }
    let digest = lienthong_trust::sha256_hex(form.token.as_bytes());
    let Some((by, _)) = s.operators.iter().find(|(_, d)| *d == digest) else {
        return refuse(StatusCode::FORBIDDEN, "unknown operator token".into());
    };
    match h.acknowledge(&form.id, by, crate::now_ms()).await {
        Ok(_) => {
            Redirect::to(&format!("/alerts?lang={}", if en { "en" } else { "vi" })).into_response()
        }
        Err(e) => refuse(StatusCode::BAD_REQUEST, e),
    }
}
