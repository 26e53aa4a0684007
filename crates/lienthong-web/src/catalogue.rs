//! The program view: every database of the registry's catalogue on its road — built,
//! connected, synced, standardised — measured from what the center reads (the registry, the
//! exchanges in the history or the logs, the pipelines, the dictionary, the scorecards),
//! with overdue steps in red. `/catalogue` and its twin `/api/catalogue`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::Json;
use lienthong_registry::catalogue::{self, Evidence, PipelineState, Scope, Step};
use serde_json::{json, Value};

use crate::{esc, layout, t, LangQuery, Sources};

/// What was measured of each catalogue entry, and its road, as JSON.
pub(crate) async fn catalogue(s: &Sources) -> Value {
    let now_ms = crate::now_ms();
    let today = lienthong_core::time::vietnam_date(now_ms / 1000);
    let bounds = s.bounds;
    let mut statuses = std::collections::HashMap::new();
    for reader in &s.sync {
        for st in reader.statuses().await.unwrap_or_default() {
            statuses.insert(st.name.clone(), st);
        }
    }
    let scores = crate::quality::scores(s);
    let since_s = now_ms / 1000 - bounds.connected_within_s;
    let answered = last_answers(s, since_s).await;
    let mut out = Vec::new();
    for db in &s.registry.catalogue {
        let services: Vec<String> = s
            .registry
            .services_of(db)
            .map(|svc| svc.id.clone())
            .collect();
        let mut last_answer_ms = None;
        for svc in &services {
            let t = match &answered {
                Answers::History(h) => h
                    .last_positive(&format!("served:{svc}"), since_s)
                    .await
                    .ok()
                    .flatten()
                    // The end of the minute it was counted in, never in the future.
                    .map(|t| ((t + 60) * 1000).min(now_ms)),
                Answers::Recent(m) => m.get(svc).copied(),
            };
            last_answer_ms = last_answer_ms.max(t);
        }
        let ev = Evidence {
            services,
            last_answer_ms,
            pipelines: db
                .pipelines
                .iter()
                .map(|p| {
                    let state = statuses.get(p).map(|st| PipelineState {
                        running: st.lease_until_ms > now_ms,
                        snapshot_done: st.state.snapshot_done,
                        lag_ms: st.lag_ms(),
                        applied_at_ms: st.state.applied_at_ms,
                    });
                    (p.clone(), state)
                })
                .collect(),
            datasets: db
                .datasets
                .iter()
                .map(|d| {
                    (
                        d.clone(),
                        lienthong_dictionary::catalog::dataset(d).is_some(),
                        scores.get(d).copied(),
                    )
                })
                .collect(),
        };
        let road = catalogue::road(db, &ev, &today, now_ms, &bounds);
        out.push(json!({
            "id": db.id, "name": db.name, "name_en": db.name_en, "scope": db.scope,
            "agency": db.agency, "legal_basis": db.legal_basis, "datasets": db.datasets,
            "members": db.members, "pipelines": db.pipelines,
            "services": ev.services, "last_answer_ms": ev.last_answer_ms,
            "quality": ev.datasets.iter().filter_map(|(d, _, s)| s.map(|s| json!({ "dataset": d, "score": s }))).collect::<Vec<_>>(),
            "road": road,
        }));
    }
    let count = |step: Step, state: &str| {
        out.iter()
            .filter(|d| {
                d["road"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["step"] == json!(step) && s["state"] == state)
            })
            .count()
    };
    let summary: Vec<Value> = Step::ALL
        .into_iter()
        .map(|step| json!({ "step": step, "done": count(step, "done"), "overdue": count(step, "overdue"), "pending": count(step, "pending") }))
        .collect();
    json!({ "today": today, "bounds": bounds, "summary": summary, "databases": out })
}

enum Answers<'a> {
    History(&'a crate::history::History),
    /// Without a history: the newest answer per service among the logs' recent entries.
    Recent(std::collections::HashMap<String, i64>),
}

async fn last_answers(s: &Sources, since_s: i64) -> Answers<'_> {
    if let Some(h) = &s.history {
        return Answers::History(h);
    }
    let mut m = std::collections::HashMap::new();
    for (_, log) in &s.logs {
        for e in log.recent(20_000).await.unwrap_or_default() {
            let r = e.record;
            let t = r["timestamp"].as_i64().unwrap_or(0);
            if r["side"] == "provider" && r["code"] == "ok" && t >= since_s {
                let slot = m
                    .entry(r["service"].as_str().unwrap_or("").to_owned())
                    .or_insert(0);
                *slot = (*slot).max(t * 1000);
            }
        }
    }
    Answers::Recent(m)
}

pub(crate) async fn api_catalogue(State(s): State<Arc<Sources>>) -> Json<Value> {
    Json(catalogue(&s).await)
}

fn state_label(en: bool, state: &str) -> &'static str {
    match (state, en) {
        ("done", false) => "đã đạt",
        ("overdue", false) => "quá hạn",
        (_, false) => "chưa đạt",
        ("done", true) => "done",
        ("overdue", true) => "overdue",
        _ => "pending",
    }
}

pub(crate) async fn page_catalogue(
    State(s): State<Arc<Sources>>,
    Query(q): Query<LangQuery>,
) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let c = catalogue(&s).await;
    let mut b = format!(
        "<p>{} <b>{}</b> · {}</p>",
        t(en, "Trạng thái đo được ngày", "Status measured on"),
        esc(c["today"].as_str().unwrap_or("")),
        t(
            en,
            "Kết nối: có dịch vụ trả lời qua nền tảng trong 24 giờ; đồng bộ: mọi luồng về Trung tâm đang chạy và trong ngưỡng độ trễ; chuẩn hóa: ánh xạ vào từ điển dữ liệu và điểm chất lượng đạt ngưỡng.",
            "Connected: a service answered through the exchange within 24 hours; synced: every pipeline to the center runs within its lag bound; standardised: mapped to the dictionary and quality at or above the floor."
        )
    );
    b.push_str(&format!(
        "<table id=\"road-summary\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Bước", "Step"),
        t(en, "Đã đạt", "Done"),
        t(en, "Quá hạn", "Overdue"),
        t(en, "Chưa đạt", "Pending")
    ));
    for (step, r) in Step::ALL
        .iter()
        .zip(c["summary"].as_array().into_iter().flatten())
    {
        b.push_str(&format!(
            "<tr><td>{}</td><td class=num>{}</td><td class=\"num{}\">{}</td><td class=num>{}</td></tr>",
            if en { step.en() } else { step.vi() },
            r["done"],
            if r["overdue"].as_u64().unwrap_or(0) > 0 { " overdue" } else { "" },
            r["overdue"],
            r["pending"]
        ));
    }
    b.push_str(&format!(
        "</table><table id=\"catalogue\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>",
        t(en, "Cơ sở dữ liệu", "Database"),
        t(en, "Loại", "Scope"),
        t(en, "Cơ quan chủ quản", "Owner"),
        t(en, "Căn cứ pháp lý", "Legal basis"),
    ));
    for step in Step::ALL {
        b.push_str(&format!(
            "<th>{}</th>",
            if en { step.en() } else { step.vi() }
        ));
    }
    b.push_str("</tr>");
    for d in c["databases"].as_array().into_iter().flatten() {
        let name = match (en, d["name_en"].as_str()) {
            (true, Some(n)) => n,
            _ => d["name"].as_str().unwrap_or(""),
        };
        let scope = match (d["scope"] == json!(Scope::National), en) {
            (true, false) => "quốc gia",
            (false, false) => "chuyên ngành",
            (true, true) => "national",
            (false, true) => "sectoral",
        };
        b.push_str(&format!(
            "<tr id=\"db-{}\"><td>{}</td><td>{scope}</td><td>{}</td><td>{}</td>",
            esc(d["id"].as_str().unwrap_or("")),
            esc(name),
            esc(d["agency"].as_str().unwrap_or("")),
            esc(d["legal_basis"].as_str().unwrap_or("")),
        ));
        for s in d["road"].as_array().into_iter().flatten() {
            let state = s["state"].as_str().unwrap_or("");
            let planned = s["planned"].as_str().map_or(String::new(), |p| {
                format!(
                    "<br><small>{} {}</small>",
                    t(en, "kế hoạch", "planned"),
                    esc(p)
                )
            });
            b.push_str(&format!(
                "<td class=\"step {state}\" data-step=\"{}\" title=\"{}\">{}{planned}</td>",
                esc(s["step"].as_str().unwrap_or("")),
                esc(s["why"].as_str().unwrap_or("")),
                state_label(en, state)
            ));
        }
        b.push_str("</tr>");
    }
    b.push_str("</table><p><a href=\"/api/catalogue\">JSON</a></p>");
    layout(
        en,
        t(en, "Lộ trình các cơ sở dữ liệu", "The databases' road"),
        &b,
    )
}
