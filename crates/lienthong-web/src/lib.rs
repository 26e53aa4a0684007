//! The operator dashboard, served by the National Data Center: connections (members, nodes,
//! agreements), exchange traffic by service and refusals by reason (from the nodes' message
//! logs), sync per pipeline, and message-log search by message id. Every page is plain
//! server-rendered HTML (no JavaScript framework) in Vietnamese (`?lang=vi`, default) or
//! English (`?lang=en`), and every view has its JSON twin under `/api/`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use lienthong_gateway::msglog::LogReader;
use lienthong_registry::Registry;
use lienthong_sync::StatusReader;

pub mod alerting;
mod alerts_page;
mod catalogue;
mod charts;
pub mod citizen;
mod drill;
mod flagged;
mod log_page;
pub(crate) use log_page::query_escape;
pub mod history;
pub mod incident;
pub mod oidc_demo;
mod prom;
mod quality;
pub mod report;
mod sampler;
pub use quality::QualityBoard;
use serde::Deserialize;
use serde_json::{json, Value};

/// What the dashboard reads.
pub struct Sources {
    pub registry: Registry,
    /// (member id, its node's message log, read-only) per node.
    pub logs: Vec<(String, LogReader)>,
    /// The sync pipelines' state, one reader per replica (the center's, a province's…).
    pub sync: Vec<StatusReader>,
    /// (member id, `http://host:port/healthz` of its node's admin listener) to probe.
    pub health: Vec<(String, String)>,
    /// The datasets' quality scorecards (empty unless the center computes them).
    pub quality: QualityBoard,
    /// The center's time series, sampled by the dashboard (none: no history is kept).
    pub history: Option<history::History>,
    /// What the catalogue's steps are measured against.
    pub bounds: lienthong_registry::catalogue::Bounds,
    /// Who may acknowledge alerts: (operator name, SHA-256 hex of their token).
    pub operators: Vec<(String, String)>,
    /// How often the history is sampled and the alert rules checked (10 s).
    pub sample_every: std::time::Duration,
    samples: Samples,
    /// The alert conditions that held at the last sample (rule, subject).
    pending: std::sync::Mutex<Vec<(&'static str, String)>>,
}

impl Sources {
    pub fn new(
        registry: Registry,
        logs: Vec<(String, LogReader)>,
        sync: Vec<StatusReader>,
        health: Vec<(String, String)>,
    ) -> Sources {
        Sources {
            registry,
            logs,
            sync,
            health,
            quality: Default::default(),
            history: None,
            bounds: Default::default(),
            operators: Vec::new(),
            sample_every: std::time::Duration::from_secs(10),
            samples: Default::default(),
            pending: Default::default(),
        }
    }

    /// Operators who may acknowledge alerts: (name, SHA-256 hex of their token).
    pub fn with_operators(mut self, operators: Vec<(String, String)>) -> Sources {
        self.operators = operators;
        self
    }

    /// Keeps the center's time series in `history`, sampled every 10 s.
    pub fn with_history(mut self, history: history::History) -> Sources {
        self.history = Some(history);
        self
    }

    /// Shows the scorecards another task keeps in `board`.
    pub fn with_quality(mut self, board: QualityBoard) -> Sources {
        self.quality = board;
        self
    }
}

/// Rows applied per pipeline, sampled every 10 s for throughput (the last 2 minutes).
type Samples = std::sync::Mutex<HashMap<String, VecDeque<(i64, u64)>>>;

pub fn router(sources: Sources) -> Router {
    let sources = Arc::new(sources);
    let sampler = sources.clone();
    tokio::spawn(async move {
        let mut pruned = 0;
        loop {
            sample_sync(&sampler).await;
            if let Some(h) = &sampler.history {
                if let Err(e) = sampler::sample_history(&sampler, h).await {
                    tracing::warn!(error = %e, "history: sampling failed");
                }
                let now = now_ms() / 1000;
                if now - pruned > 3_600 {
                    pruned = now;
                    if let Err(e) = h.prune(now).await {
                        tracing::warn!(error = %e, "history: pruning failed");
                    }
                }
            }
            tokio::time::sleep(sampler.sample_every).await;
        }
    });
    Router::new()
        .route("/", get(page_overview))
        .route("/log", get(log_page::page_log))
        .route("/api/overview", get(api_overview))
        .route("/api/log", get(log_page::api_log))
        .route("/log/evidence", get(log_page::log_evidence))
        .route("/member", get(drill::page_member))
        .route("/pipeline", get(drill::page_pipeline))
        .route("/catalogue", get(catalogue::page_catalogue))
        .route("/api/catalogue", get(catalogue::api_catalogue))
        .route("/history", get(charts::page_history))
        .route("/alerts", get(alerts_page::page_alerts))
        .route("/alerts/ack", axum::routing::post(alerts_page::ack))
        .route("/api/alerts", get(alerts_page::api_alerts))
        .route("/metrics", get(prom::metrics))
        .route("/report", get(report::page_report))
        .route("/api/report", get(report::api_report))
        .route("/api/history", get(charts::api_history))
        .route("/quality", get(quality::page_quality))
        .route("/api/quality", get(quality::api_quality))
        .with_state(sources)
}

pub(crate) fn now_ms() -> i64 {
    lienthong_core::time::now_ms() as i64
}

async fn sample_sync(s: &Sources) {
    let now = now_ms();
    let mut seen = Vec::new();
    for reader in &s.sync {
        for st in reader.statuses().await.unwrap_or_default() {
            seen.push((st.name, st.state.rows_applied + st.state.rows_deleted));
        }
    }
    let Ok(mut samples) = s.samples.lock() else {
        return;
    };
    for (name, n) in seen {
        let q = samples.entry(name).or_default();
        q.push_back((now, n));
        while q.front().is_some_and(|(t, _)| now - t > 120_000) {
            q.pop_front();
        }
    }
}

/// Changes applied per minute over the sampled window, once two samples exist.
fn changes_per_minute(s: &Sources, name: &str) -> Option<f64> {
    let samples = s.samples.lock().ok()?;
    let q = samples.get(name)?;
    let ((t0, n0), (t1, n1)) = (q.front()?, q.back()?);
    (t1 > t0).then(|| (n1.saturating_sub(*n0)) as f64 * 60_000.0 / (t1 - t0) as f64)
}

/// Opens a node's message log read-only (a SQLite file or a `postgres://` URL).
pub async fn open_log(location: &str) -> Result<LogReader, String> {
    LogReader::open(location).await
}

/// Probes every node's `/healthz` at once (300 ms each): member → "up" or "down".
pub(crate) async fn health(s: &Sources) -> std::collections::HashMap<String, &'static str> {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut probes = tokio::task::JoinSet::new();
    for (member, url) in &s.health {
        let (member, url, client) = (member.clone(), url.clone(), client.clone());
        probes.spawn(async move {
            let ok = match hyper::Request::get(url).body(Empty::new()) {
                Ok(req) => matches!(
                    tokio::time::timeout(std::time::Duration::from_millis(300), client.request(req)).await,
                    Ok(Ok(r)) if r.status().is_success()
                ),
                Err(_) => false,
            };
            (member, if ok { "up" } else { "down" })
        });
    }
    let mut out = std::collections::HashMap::new();
    while let Some(Ok((m, h))) = probes.join_next().await {
        out.insert(m, h);
    }
    out
}

/// The provider subsystem of a service id (`INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`).
pub(crate) fn provider_of(service: &str) -> &str {
    service.rsplit_once('/').map_or(service, |(p, _)| p)
}

async fn overview(s: &Sources) -> Value {
    let health = health(s).await;
    let members: Vec<Value> = s.registry.members.iter().map(|m| json!({ "id": m.id, "name": m.name, "address": m.address, "revoked": s.registry.is_revoked(&m.id), "health": health.get(&m.id).copied().unwrap_or("unknown") })).collect();
    let mut edges: Vec<(String, String)> = s
        .registry
        .agreements
        .iter()
        .map(|a| (a.consumer.clone(), provider_of(&a.service).to_owned()))
        .collect();
    edges.sort();
    edges.dedup();
    let edges: Vec<Value> = edges
        .into_iter()
        .map(|(c, p)| json!({ "consumer": c, "provider": p }))
        .collect();
    let agreements: Vec<Value> = s.registry.agreements.iter().map(|a| json!({ "consumer": a.consumer, "service": a.service, "purposes": a.purposes, "fields": a.fields, "valid_to": a.valid_to })).collect();
    let mut by_service: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut refusals: std::collections::BTreeMap<String, u64> = Default::default();
    let mut per_minute: std::collections::BTreeMap<i64, u64> = Default::default();
    // Provider-side records count each exchange once.
    let now_s = lienthong_core::time::now_s();
    let mut alerts = Vec::new();
    for (node, log) in &s.logs {
        let recent = log.recent(20_000).await.unwrap_or_default();
        let records: Vec<&Value> = recent.iter().map(|e| &e.record).collect();
        for a in lienthong_gateway::incident::detect(
            records.iter().copied(),
            now_s,
            &lienthong_gateway::incident::Thresholds::default(),
        ) {
            alerts.push(json!({ "node": node, "kind": a.kind, "member": a.member, "count": a.count, "detail": a.detail }));
        }
        for entry in recent {
            let e = entry.record;
            if e["side"] != "provider" {
                continue;
            }
            let service = e["service"].as_str().unwrap_or("").to_owned();
            let code = e["code"].as_str().unwrap_or("").to_owned();
            let entry = by_service.entry(service).or_default();
            entry.0 += 1;
            if code != "ok" {
                entry.1 += 1;
                *refusals.entry(code).or_default() += 1;
            }
            *per_minute
                .entry(e["timestamp"].as_i64().unwrap_or(0) / 60 * 60)
                .or_default() += 1;
        }
    }
    let mut sync = Vec::new();
    for reader in &s.sync {
        for st in reader.statuses().await.unwrap_or_default() {
            let rate = changes_per_minute(s, &st.name);
            sync.push(json!({ "pipeline": st.name, "source": st.source, "rows_applied": st.state.rows_applied, "rows_deleted": st.state.rows_deleted, "quarantined": st.quarantined_open, "backlog": st.state.backlog, "backlog_unit": st.state.backlog_unit, "lag_ms": st.lag_ms(), "changes_per_minute": rate, "snapshot_done": st.state.snapshot_done, "position": st.state.position }));
        }
    }
    // Witnessing: alarms any node raised about another member's log, and what the witness
    // cosigned.
    let mut alarms = Vec::new();
    let mut witnessed = Vec::new();
    for (seen_by, log) in &s.logs {
        for a in log.alarms().await.unwrap_or_default() {
            alarms.push(json!({ "member": a.member, "origin": a.origin, "kind": a.kind, "seen_by": seen_by, "count": a.count, "first_ms": a.first_ms, "last_ms": a.last_ms, "detail": a.detail }));
        }
        for (origin, size, at_ms) in log.witnessed().await.unwrap_or_default() {
            witnessed.push(json!({ "origin": origin, "member": origin.strip_prefix("lienthong.log/").unwrap_or(&origin), "size": size, "at_ms": at_ms, "witness": seen_by }));
        }
    }
    let now = lienthong_core::time::now_s();
    let mut incidents = Vec::new();
    for (node, log) in &s.logs {
        for i in log.incidents().await.unwrap_or_default() {
            incidents.push(json!({ "id": i.id, "node": node, "title": i.title, "status": i.status, "discovered_at": i.discovered_at, "deadline": i.deadline(), "remaining_s": i.remaining_s(now), "notified_at": i.notified_at }));
        }
    }
    let total: u64 = by_service.values().map(|v| v.0).sum();
    let refused: u64 = by_service.values().map(|v| v.1).sum();
    json!({
        "members": members,
        "edges": edges,
        "agreements": agreements,
        "exchanges": { "total": total, "refused": refused,
            "by_service": by_service.iter().map(|(k, (n, r))| json!({ "service": k, "total": n, "refused": r })).collect::<Vec<_>>(),
            "refusals_by_reason": refusals.iter().map(|(k, n)| json!({ "code": k, "count": n })).collect::<Vec<_>>(),
            "per_minute": per_minute.iter().map(|(t, n)| json!({ "minute": t, "count": n })).collect::<Vec<_>>() },
        "sync": sync,
        "witness": { "alarms": alarms, "witnessed": witnessed },
        "incidents": incidents,
        "alerts": alerts,
    })
}

async fn api_overview(State(s): State<Arc<Sources>>) -> Json<Value> {
    Json(overview(&s).await)
}

#[derive(Deserialize)]
pub(crate) struct LangQuery {
    pub(crate) lang: Option<String>,
    pub(crate) message_id: Option<String>,
}

pub(crate) fn t(en: bool, vi: &'static str, english: &'static str) -> &'static str {
    if en {
        english
    } else {
        vi
    }
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page of a view that needs the history, where this dashboard keeps none.
pub(crate) fn no_history(en: bool, title: &str) -> Html<String> {
    layout(
        en,
        title,
        t(
            en,
            "<p>Bảng điều khiển này không lưu lịch sử.</p>",
            "<p>This dashboard keeps no history.</p>",
        ),
    )
}

pub(crate) fn layout(en: bool, title: &str, body: &str) -> Html<String> {
    let lang = if en { "en" } else { "vi" };
    Html(format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title} — lienthong</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}}table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #cdd5df;padding:.3rem .6rem;text-align:left}}th{{background:#eef2f7}}.num{{text-align:right}}nav a{{margin-right:1rem}}.bar{{background:#3b82f6;height:.8rem;display:inline-block}}td.done{{background:#dcfce7}}td.overdue,.overdue{{background:#fee2e2;color:#991b1b;font-weight:600}}figure{{margin:0 0 1rem}}.grid{{display:flex;flex-wrap:wrap;gap:0 1.5rem}}.grid figcaption{{font-size:.85rem}}figcaption{{font-weight:600}}tr.firing td:first-child{{color:#b91c1c;font-weight:600}}@media print{{nav{{display:none}}}}</style></head>
<body><nav><a href="/?lang={lang}">{}</a><a href="/catalogue?lang={lang}">{}</a><a href="/history?lang={lang}">{}</a><a href="/alerts?lang={lang}">{}</a><a href="/report?lang={lang}">{}</a><a href="/log?lang={lang}">{}</a><a href="/quality?lang={lang}">{}</a><a href="?lang={}">{}</a></nav><h1>{title}</h1>{body}</body></html>"#,
        t(en, "Tổng quan", "Overview"),
        t(en, "Lộ trình CSDL", "Databases"),
        t(en, "Lịch sử", "History"),
        t(en, "Cảnh báo", "Alerts"),
        t(en, "Báo cáo tháng", "Monthly report"),
        t(en, "Nhật ký trao đổi", "Message log"),
        t(en, "Chất lượng dữ liệu", "Data quality"),
        if en { "vi" } else { "en" },
        t(en, "English", "Tiếng Việt"),
    ))
}

async fn page_overview(State(s): State<Arc<Sources>>, Query(q): Query<LangQuery>) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let o = overview(&s).await;
    let mut b = String::new();
    let ex = &o["exchanges"];
    b.push_str(&format!(
        r#"<p id="totals">{}: <b id="total">{}</b> · {}: <b id="refused">{}</b></p>"#,
        t(en, "Lượt trao đổi", "Exchanges"),
        ex["total"],
        t(en, "bị từ chối", "refused"),
        ex["refused"]
    ));
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"by-service\"><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Theo dịch vụ", "By service"),
        t(en, "Dịch vụ", "Service"),
        t(en, "Tổng", "Total"),
        t(en, "Từ chối", "Refused")
    ));
    for r in ex["by_service"].as_array().into_iter().flatten() {
        b.push_str(&format!(
            "<tr><td>{}</td><td class=num>{}</td><td class=num>{}</td></tr>",
            esc(r["service"].as_str().unwrap_or("")),
            r["total"],
            r["refused"]
        ));
    }
    b.push_str(&format!(
        "</table><h2>{}</h2><table id=\"refusals\"><tr><th>{}</th><th>{}</th></tr>",
        t(en, "Từ chối theo lý do", "Refusals by reason"),
        t(en, "Mã lỗi", "Code"),
        t(en, "Số lượt", "Count")
    ));
    for r in ex["refusals_by_reason"].as_array().into_iter().flatten() {
        b.push_str(&format!(
            "<tr><td>{}</td><td class=num>{}</td></tr>",
            esc(r["code"].as_str().unwrap_or("")),
            r["count"]
        ));
    }
    let max = ex["per_minute"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["count"].as_u64())
        .max()
        .unwrap_or(1)
        .max(1);
    b.push_str(&format!(
        "</table><h2>{}</h2><table id=\"traffic\">",
        t(en, "Lưu lượng theo phút", "Traffic per minute")
    ));
    for r in ex["per_minute"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .take(30)
    {
        let n = r["count"].as_u64().unwrap_or(0);
        // Vietnam time (UTC+7), HH:MM.
        let minute = (r["minute"].as_i64().unwrap_or(0) + 7 * 3600).rem_euclid(86_400) / 60;
        b.push_str(&format!("<tr><td>{:02}:{:02}</td><td class=num>{n}</td><td><span class=bar style=\"width:{}px\"></span></td></tr>", minute / 60, minute % 60, n * 300 / max));
    }
    b.push_str(&format!("</table><h2>{}</h2><table id=\"sync\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", t(en, "Đồng bộ về Trung tâm", "Sync to the center"), t(en, "Luồng", "Pipeline"), t(en, "Nguồn", "Source"), t(en, "Đã áp dụng", "Applied"), t(en, "Đã xoá", "Deleted"), t(en, "Cách ly", "Quarantined"), t(en, "Độ trễ (s)", "Lag (s)"), t(en, "Thay đổi/phút", "Changes/min"), t(en, "Tồn đọng", "Backlog")));
    for r in o["sync"].as_array().into_iter().flatten() {
        let lag = r["lag_ms"]
            .as_i64()
            .map_or("–".to_owned(), |ms| format!("{:.1}", ms as f64 / 1000.0));
        let rate = r["changes_per_minute"]
            .as_f64()
            .map_or("–".to_owned(), |v| format!("{v:.0}"));
        let unit = r["backlog_unit"].as_str().unwrap_or("");
        let backlog = match r["backlog"].as_i64() {
            Some(n) if n >= 0 && !unit.is_empty() => format!("{n} {}", esc(unit)),
            _ => "–".into(),
        };
        let pipeline = r["pipeline"].as_str().unwrap_or("");
        b.push_str(&format!(
            "<tr><td><a href=\"/pipeline?name={}&amp;lang={}\">{}</a></td><td>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{lag}</td><td class=num>{rate}</td><td class=num>{backlog}</td></tr>",
            esc(&query_escape(pipeline)),
            if en { "en" } else { "vi" },
            esc(pipeline),
            esc(r["source"].as_str().unwrap_or("")),
            r["rows_applied"],
            r["rows_deleted"],
            r["quarantined"],
        ));
    }
    b.push_str("</table>");
    flagged::alerts_section(en, &o["alerts"], &mut b);
    flagged::incidents_section(en, &o["incidents"], &mut b);
    flagged::witness_section(en, &o["witness"], &mut b);
    b.push_str(&format!(
        "<h2>{}</h2>{}<table id=\"members\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Kết nối", "Connections"),
        connections_map(&o),
        t(en, "Thành viên", "Member"),
        t(en, "Tên", "Name"),
        t(en, "Địa chỉ nút", "Node address"),
        t(en, "Tình trạng", "Health")
    ));
    for m in o["members"].as_array().into_iter().flatten() {
        let h = m["health"].as_str().unwrap_or("unknown");
        let id = m["id"].as_str().unwrap_or("");
        b.push_str(&format!(
            "<tr><td><a href=\"/member?id={}&amp;lang={}\">{}</a></td><td>{}</td><td>{}</td><td class=\"health-{h}\">{}</td></tr>",
            esc(&query_escape(id)),
            if en { "en" } else { "vi" },
            esc(id),
            esc(m["name"].as_str().unwrap_or("")),
            esc(m["address"].as_str().unwrap_or("—")),
            match (h, en) {
                ("up", false) => "hoạt động",
                ("down", false) => "không trả lời",
                (_, false) => "không rõ",
                ("up", true) => "up",
                ("down", true) => "down",
                _ => "unknown",
            }
        ));
    }
    b.push_str(&format!(
        "</table><h2>{}</h2><table id=\"agreements\"><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Thỏa thuận chia sẻ", "Sharing agreements"),
        t(en, "Bên dùng", "Consumer"),
        t(en, "Dịch vụ", "Service"),
        t(en, "Mục đích", "Purposes")
    ));
    for a in o["agreements"].as_array().into_iter().flatten() {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(a["consumer"].as_str().unwrap_or("")),
            esc(a["service"].as_str().unwrap_or("")),
            esc(&a["purposes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
        ));
    }
    b.push_str("</table><p><a href=\"/api/overview\">JSON</a></p>");
    layout(
        en,
        t(en, "Bảng điều khiển liên thông", "lienthong dashboard"),
        &b,
    )
}

/// The connections as an SVG drawing (no script): members on a circle, coloured by node
/// health, an arrow from each consumer to each provider it has an agreement with.
fn connections_map(o: &Value) -> String {
    let members: Vec<&Value> = o["members"].as_array().into_iter().flatten().collect();
    let n = members.len().max(1) as f64;
    let (cx, cy, r) = (330.0, 230.0, 180.0);
    let at = |i: usize| {
        let a = std::f64::consts::TAU * i as f64 / n - std::f64::consts::FRAC_PI_2;
        (cx + r * a.cos(), cy + r * a.sin())
    };
    let index = |id: &str| members.iter().position(|m| m["id"] == id);
    let mut svg = String::from(
        r##"<svg id="map" xmlns="http://www.w3.org/2000/svg" width="660" height="470" role="img"><defs><marker id="arrow" viewBox="0 0 10 10" refX="24" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker></defs>"##,
    );
    for e in o["edges"].as_array().into_iter().flatten() {
        if let (Some(c), Some(p)) = (
            index(e["consumer"].as_str().unwrap_or("")),
            index(e["provider"].as_str().unwrap_or("")),
        ) {
            let ((x1, y1), (x2, y2)) = (at(c), at(p));
            svg.push_str(&format!(r##"<line class="edge" x1="{x1:.0}" y1="{y1:.0}" x2="{x2:.0}" y2="{y2:.0}" stroke="#94a3b8" stroke-width="1.5" marker-end="url(#arrow)"/>"##));
        }
    }
    for (i, m) in members.iter().enumerate() {
        let (x, y) = at(i);
        let colour = match m["health"].as_str() {
            Some("up") => "#16a34a",
            Some("down") => "#dc2626",
            _ => "#94a3b8",
        };
        let id = m["id"].as_str().unwrap_or("");
        let short = id.split('/').nth(2).unwrap_or(id);
        svg.push_str(&format!(
            r##"<g class="member"><circle cx="{x:.0}" cy="{y:.0}" r="16" fill="{colour}"><title>{}</title></circle><text x="{x:.0}" y="{:.0}" text-anchor="middle" font-size="12">{}</text></g>"##,
            esc(id),
            y + 30.0,
            esc(short)
        ));
    }
    svg.push_str("</svg>");
    svg
}
