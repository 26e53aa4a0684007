//! The center's `/metrics` (Prometheus text format): each node's health as probed, each
//! pipeline's state read from its replica, the open alerts. Written by hand: the values are
//! read when scraped (a collector), which the `metrics` facade the nodes use does not offer,
//! and the format is a few lines of `name{label="value"} number`.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::Sources;

/// A label value escaped as the text format asks (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) async fn metrics(State(s): State<Arc<Sources>>) -> impl IntoResponse {
    let mut out = String::new();
    let now_ms = crate::now_ms();
    let mut health: Vec<(String, &str)> = crate::health(&s).await.into_iter().collect();
    health.sort();
    out.push_str("# HELP lienthong_node_up Whether the member's node answers its health probe from the center.\n# TYPE lienthong_node_up gauge\n");
    for (member, state) in &health {
        let _ = writeln!(
            out,
            "lienthong_node_up{{member=\"{}\"}} {}",
            label(member),
            u8::from(*state == "up")
        );
    }
    let mut statuses = Vec::new();
    for reader in &s.sync {
        statuses.extend(reader.statuses().await.unwrap_or_default());
    }
    let gauges: [(&str, &str, &str); 4] = [
        (
            "lienthong_sync_running",
            "gauge",
            "Whether a process holds the pipeline's lease.",
        ),
        (
            "lienthong_sync_lag_seconds",
            "gauge",
            "The pipeline's lag (0 once caught up).",
        ),
        (
            "lienthong_sync_quarantined_open",
            "gauge",
            "Invalid changes kept in quarantine, not yet superseded or replayed.",
        ),
        (
            "lienthong_sync_rows_applied_total",
            "counter",
            "Rows the pipeline applied (upserts and deletes).",
        ),
    ];
    for (name, kind, help) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for st in &statuses {
            let value = match name {
                "lienthong_sync_running" => f64::from(u8::from(st.lease_until_ms > now_ms)),
                "lienthong_sync_lag_seconds" => match st.lag_ms() {
                    Some(ms) => ms as f64 / 1000.0,
                    None => continue,
                },
                "lienthong_sync_quarantined_open" => st.quarantined_open as f64,
                _ => (st.state.rows_applied + st.state.rows_deleted) as f64,
            };
            let _ = writeln!(out, "{name}{{pipeline=\"{}\"}} {value}", label(&st.name));
        }
    }
    if let Some(h) = &s.history {
        out.push_str("# HELP lienthong_alerts_open Alerts open at the center (firing or acknowledged).\n# TYPE lienthong_alerts_open gauge\n");
        for a in h.open_alerts().await.unwrap_or_default() {
            let _ = writeln!(
                out,
                "lienthong_alerts_open{{rule=\"{}\",subject=\"{}\",state=\"{}\"}} 1",
                label(&a.rule),
                label(&a.subject),
                label(&a.state)
            );
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
