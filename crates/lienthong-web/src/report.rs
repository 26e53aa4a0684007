//! The monthly report of the program: for a month (Vietnam time), per database its road
//! (planned against done by the month's end), exchanges and refusals, sync lag and quality
//! trend; per agency exchanges served and consumed, refusals and downtime; the alerts of the
//! month. Computed from the center's history and the registry's catalogue, the same for
//! `lienthong report monthly`, `/api/report` and the printable `/report` page: the figures
//! on the page are the JSON's (each number carries its key).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use lienthong_registry::catalogue::Step;
use lienthong_registry::Registry;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::history::History;
use crate::{esc, provider_of, t, Sources};

/// Vietnam is UTC+7 all year.
const VN_OFFSET_S: i64 = 7 * 3_600;

/// `[from, to)` in Unix seconds of a month `YYYY-MM` in Vietnam time.
pub fn month_bounds(month: &str) -> Result<(i64, i64), String> {
    let bad = || format!("month {month:?}: expected YYYY-MM");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let start = |y, m| lienthong_core::time::days_from_civil(y, m, 1) * 86_400 - VN_OFFSET_S;
    Ok((start(y, m), start(ny, nm)))
}

/// Sum of a series' buckets in `[from, to)`.
async fn total(h: &History, series: &str, step: i64, from: i64, to: i64) -> Result<f64, String> {
    Ok(h.points(series, step, from, to)
        .await?
        .iter()
        .map(|p| p.1)
        .sum())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

/// The report of `month` as JSON. Hourly buckets (exact month boundaries in Vietnam time)
/// while the history keeps them (92 days), daily ones after (boundaries at UTC midnight).
pub async fn monthly(
    h: &History,
    registry: &Registry,
    month: &str,
    now_s: i64,
) -> Result<Value, String> {
    let (from, to) = month_bounds(month)?;
    if from > now_s {
        return Err(format!("month {month} has not started yet"));
    }
    let hourly_kept = crate::history::STEPS[1].1;
    let step = if now_s - from <= hourly_kept {
        3_600
    } else {
        86_400
    };
    let (from_b, to_b) = if step == 3_600 {
        (from, to)
    } else {
        (
            from.div_euclid(86_400) * 86_400,
            to.div_euclid(86_400) * 86_400,
        )
    };
    let n = |x: f64| x.round() as u64;
    let mut databases = Vec::new();
    for db in &registry.catalogue {
        let services: Vec<&str> = registry.services_of(db).map(|s| s.id.as_str()).collect();
        let (mut exchanges, mut served) = (0.0, 0.0);
        for s in &services {
            exchanges += total(h, &format!("exchanges:{s}"), step, from_b, to_b).await?;
            served += total(h, &format!("served:{s}"), step, from_b, to_b).await?;
        }
        let planned = [
            &db.planned.built,
            &db.planned.connected,
            &db.planned.synced,
            &db.planned.standardised,
        ];
        let mut road = Vec::new();
        for (step_name, planned) in Step::ALL.iter().zip(planned) {
            let series = format!("road:{}/{}", db.id, step_name.en().to_lowercase());
            let last = h
                .points(&series, step, from_b, to_b)
                .await?
                .last()
                .map(|p| p.1);
            let state = match last {
                Some(v) if v >= 2.0 => "done",
                Some(v) if v >= 1.0 => "pending",
                Some(_) => "overdue",
                None => "unknown",
            };
            let due = planned.as_deref().and_then(|p| {
                let d = lienthong_core::time::days_from_civil(
                    p.get(0..4)?.parse().ok()?,
                    p.get(5..7)?.parse().ok()?,
                    p.get(8..10)?.parse().ok()?,
                ) * 86_400
                    - VN_OFFSET_S;
                Some(d)
            });
            road.push(json!({
                "step": step_name, "planned": planned, "state_at_end": state,
                "due_in_month": due.is_some_and(|d| d >= from && d < to),
            }));
        }
        let mut lag = Vec::new();
        for p in &db.pipelines {
            let mut v: Vec<f64> = h
                .points(&format!("lag_s:{p}"), step, from_b, to_b)
                .await?
                .iter()
                .map(|x| x.1)
                .collect();
            v.sort_by(f64::total_cmp);
            lag.push(json!({
                "pipeline": p, "buckets": v.len(),
                "p50_s": percentile(&v, 50.0), "p95_s": percentile(&v, 95.0), "max_s": v.last(),
            }));
        }
        let mut quality = Vec::new();
        for d in &db.datasets {
            let pts = h
                .points(&format!("quality:{d}"), step, from_b, to_b)
                .await?;
            quality.push(json!({
                "dataset": d,
                "start": pts.first().map(|p| p.1), "end": pts.last().map(|p| p.1),
            }));
        }
        databases.push(json!({
            "id": db.id, "name": db.name, "agency": db.agency, "scope": db.scope,
            "road": road, "exchanges": n(exchanges), "refused": n(exchanges - served),
            "lag": lag, "quality": quality,
        }));
    }
    let mut agencies = Vec::new();
    for m in &registry.members {
        let (mut exchanges, mut served) = (0.0, 0.0);
        for s in registry
            .services
            .iter()
            .filter(|s| provider_of(&s.id) == m.id)
        {
            exchanges += total(h, &format!("exchanges:{}", s.id), step, from_b, to_b).await?;
            served += total(h, &format!("served:{}", s.id), step, from_b, to_b).await?;
        }
        agencies.push(json!({
            "member": m.id, "name": m.name,
            "served": n(served), "refused": n(exchanges - served),
            "consumed": n(total(h, &format!("consumed:{}", m.id), step, from_b, to_b).await?),
            "downtime_s": n(total(h, &format!("downtime_s:{}", m.id), step, from_b, to_b).await?),
        }));
    }
    let mut refusals = BTreeMap::new();
    for series in h.names("refusals").await? {
        let count = n(total(h, &series, step, from_b, to_b).await?);
        if count > 0 {
            refusals.insert(series["refusals:".len()..].to_owned(), count);
        }
    }
    let exchanges = n(total(h, "exchanges:", step, from_b, to_b).await?);
    let served = n(total(h, "served:", step, from_b, to_b).await?);
    let alerts = h.alerts_between(from * 1000, to * 1000).await?;
    let open_at_end: Vec<Value> = alerts
        .iter()
        .filter(|a| a.resolved_ms.is_none_or(|r| r >= to * 1000))
        .map(|a| {
            // Its state at the month's end, whatever happened since: a report does not change.
            let state = if a.acked_ms.is_some_and(|t| t < to * 1000) {
                "acknowledged"
            } else {
                "firing"
            };
            json!({ "rule": a.rule, "subject": a.subject, "state": state, "started_ms": a.started_ms })
        })
        .collect();
    Ok(json!({
        "month": month, "from": from, "to": to, "resolution_s": step,
        "totals": { "exchanges": exchanges, "served": served, "refused": exchanges.saturating_sub(served) },
        "refusals": refusals.iter().map(|(c, k)| json!({ "code": c, "count": k })).collect::<Vec<_>>(),
        "databases": databases, "agencies": agencies,
        "alerts": {
            "in_month": alerts.len(),
            "started_in_month": alerts.iter().filter(|a| a.started_ms >= from * 1000).count(),
            "open_at_end": open_at_end,
        },
    }))
}

/// A number cell carrying the JSON key it shows.
fn num(key: &str, v: &Value) -> String {
    let shown = match v {
        Value::Number(x) => match x.as_f64() {
            Some(f) if x.is_f64() => format!("{f:.1}"),
            _ => x.to_string(),
        },
        _ => "—".into(),
    };
    format!(
        "<td class=num data-key=\"{}\">{}</td>",
        esc(key),
        esc(&shown)
    )
}

/// The printable report (a whole HTML document, A4).
pub fn html(r: &Value, en: bool) -> String {
    let month = r["month"].as_str().unwrap_or("");
    let title = format!(
        "{} {}",
        t(en, "Báo cáo tháng", "Monthly report"),
        esc(month)
    );
    let mut b = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{title} — lienthong</title><style>@page{{size:A4;margin:14mm}}body{{font-family:system-ui,sans-serif;color:#1d2733;font-size:11pt;margin:1.5rem}}@media print{{body{{margin:0}}}}table{{border-collapse:collapse;margin:.4rem 0 1.2rem;width:100%}}td,th{{border:1px solid #cdd5df;padding:.2rem .4rem;text-align:left}}th{{background:#eef2f7}}.num{{text-align:right}}.overdue{{color:#991b1b;font-weight:600}}.done{{color:#166534}}h2{{page-break-after:avoid}}nav{{margin-bottom:1rem}}@media print{{nav{{display:none}}}}</style></head><body><nav><a href=\"/\">lienthong</a></nav><h1>{title}</h1><p>{}</p>",
        if en { "en" } else { "vi" },
        t(en, "Nền tảng liên thông — Trung tâm Dữ liệu quốc gia. Số liệu đo tại Trung tâm; tháng tính theo giờ Việt Nam.", "lienthong — National Data Center. Figures measured at the center; the month in Vietnam time."),
    );
    let tot = &r["totals"];
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"totals\"><tr><th>{}</th><th>{}</th><th>{}</th></tr><tr>{}{}{}</tr></table>",
        t(en, "Tổng quan", "Totals"),
        t(en, "Lượt trao đổi", "Exchanges"),
        t(en, "Trả lời", "Served"),
        t(en, "Từ chối", "Refused"),
        num("totals.exchanges", &tot["exchanges"]),
        num("totals.served", &tot["served"]),
        num("totals.refused", &tot["refused"]),
    ));
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"databases\"><tr><th>{}</th>",
        t(
            en,
            "Lộ trình và hoạt động của các cơ sở dữ liệu",
            "The databases: road and activity"
        ),
        t(en, "Cơ sở dữ liệu", "Database")
    ));
    for s in Step::ALL {
        b.push_str(&format!("<th>{}</th>", if en { s.en() } else { s.vi() }));
    }
    b.push_str(&format!(
        "<th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Trao đổi", "Exchanges"),
        t(en, "Từ chối", "Refused"),
        t(en, "Độ trễ p95 (s)", "Lag p95 (s)"),
        t(en, "Chất lượng (%) đầu → cuối", "Quality (%) start → end"),
    ));
    for (i, d) in r["databases"].as_array().into_iter().flatten().enumerate() {
        b.push_str(&format!(
            "<tr><td>{}</td>",
            esc(d["name"].as_str().unwrap_or(""))
        ));
        for s in d["road"].as_array().into_iter().flatten() {
            let state = s["state_at_end"].as_str().unwrap_or("");
            let label = match (state, en) {
                ("done", false) => "đã đạt",
                ("pending", false) => "chưa đạt",
                ("overdue", false) => "quá hạn",
                (_, false) => "chưa đo",
                ("unknown", true) => "not measured",
                (other, true) => other,
            };
            b.push_str(&format!(
                "<td class=\"{}\">{label}<br><small>{}</small></td>",
                esc(state),
                esc(s["planned"].as_str().unwrap_or("—"))
            ));
        }
        let p95 = d["lag"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["p95_s"].as_f64())
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let quality = d["quality"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| {
                let f = |v: &Value| v.as_f64().map_or("—".into(), |x| format!("{x:.1}"));
                format!("{} → {}", f(&q["start"]), f(&q["end"]))
            })
            .collect::<Vec<_>>()
            .join("; ");
        b.push_str(&format!(
            "{}{}{}<td>{}</td></tr>",
            num(&format!("databases.{i}.exchanges"), &d["exchanges"]),
            num(&format!("databases.{i}.refused"), &d["refused"]),
            num(
                &format!("databases.{i}.lag_p95_s"),
                &p95.map_or(Value::Null, |x| json!(x))
            ),
            esc(&quality)
        ));
    }
    b.push_str(&format!(
        "</table><h2>{}</h2><table id=\"agencies\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Theo cơ quan", "By agency"),
        t(en, "Cơ quan", "Agency"),
        t(en, "Đã phục vụ", "Served"),
        t(en, "Từ chối", "Refused"),
        t(en, "Đã khai thác", "Consumed"),
        t(en, "Thời gian ngừng (s)", "Downtime (s)"),
    ));
    for (i, a) in r["agencies"].as_array().into_iter().flatten().enumerate() {
        b.push_str(&format!(
            "<tr><td>{}</td>{}{}{}{}</tr>",
            esc(a["name"].as_str().unwrap_or("")),
            num(&format!("agencies.{i}.served"), &a["served"]),
            num(&format!("agencies.{i}.refused"), &a["refused"]),
            num(&format!("agencies.{i}.consumed"), &a["consumed"]),
            num(&format!("agencies.{i}.downtime_s"), &a["downtime_s"]),
        ));
    }
    b.push_str(&format!(
        "</table><h2>{}</h2><table id=\"refusals\"><tr><th>{}</th><th>{}</th></tr>",
        t(en, "Từ chối theo lý do", "Refusals by reason"),
        t(en, "Mã lỗi", "Code"),
        t(en, "Số lượt", "Count")
    ));
    for (i, x) in r["refusals"].as_array().into_iter().flatten().enumerate() {
        b.push_str(&format!(
            "<tr><td>{}</td>{}</tr>",
            esc(x["code"].as_str().unwrap_or("")),
            num(&format!("refusals.{i}.count"), &x["count"])
        ));
    }
    let al = &r["alerts"];
    b.push_str(&format!(
        "</table><h2>{}</h2><p>{}: <b data-key=\"alerts.in_month\">{}</b> · {}: <b data-key=\"alerts.open_at_end\">{}</b></p>",
        t(en, "Sự cố", "Incidents"),
        t(en, "Cảnh báo trong tháng", "Alerts in the month"),
        al["in_month"],
        t(en, "còn mở cuối tháng", "open at the month's end"),
        al["open_at_end"].as_array().map_or(0, Vec::len),
    ));
    let open = al["open_at_end"].as_array().cloned().unwrap_or_default();
    if !open.is_empty() {
        b.push_str(&format!(
            "<table id=\"open-incidents\"><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
            t(en, "Cảnh báo", "Alert"),
            t(en, "Đối tượng", "Subject"),
            t(en, "Từ", "Since")
        ));
        for a in &open {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(a["rule"].as_str().unwrap_or("")),
                esc(a["subject"].as_str().unwrap_or("")),
                esc(&lienthong_core::vietnam_time(
                    a["started_ms"].as_i64().unwrap_or(0) / 1000
                ))
            ));
        }
        b.push_str("</table>");
    }
    b.push_str("</body></html>");
    b
}

#[derive(Deserialize)]
pub(crate) struct ReportQuery {
    month: Option<String>,
    lang: Option<String>,
}

async fn for_query(s: &Sources, q: &ReportQuery) -> Result<Value, (StatusCode, String)> {
    let Some(h) = &s.history else {
        return Err((
            StatusCode::NOT_FOUND,
            "this dashboard keeps no history".into(),
        ));
    };
    let now = crate::now_ms() / 1000;
    let month = q.month.clone().unwrap_or_else(|| {
        lienthong_core::time::vietnam_date(now)
            .get(0..7)
            .unwrap_or("")
            .to_owned()
    });
    monthly(h, &s.registry, &month, now)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, e))
}

pub(crate) async fn api_report(
    State(s): State<Arc<Sources>>,
    Query(q): Query<ReportQuery>,
) -> Response {
    match for_query(&s, &q).await {
        Ok(v) => Json(v).into_response(),
        Err((code, e)) => (code, Json(json!({ "error": e }))).into_response(),
    }
}

pub(crate) async fn page_report(
    State(s): State<Arc<Sources>>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let en = q.lang.as_deref() == Some("en");
    match for_query(&s, &q).await {
        Ok(v) => Html(html(&v, en)).into_response(),
        Err((code, e)) => (
            code,
            crate::layout(
                en,
                t(en, "Báo cáo tháng", "Monthly report"),
                &format!("<p id=\"error\">{}</p>", esc(&e)),
            ),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_in_vietnam_time() {
        // 2026-11-01 00:00 +07:00 = 2026-10-31 17:00 UTC.
        assert_eq!(
            month_bounds("2026-11"),
            Ok((1_793_466_000, 1_793_466_000 + 30 * 86_400))
        );
        let (from, to) = month_bounds("2026-12").unwrap();
        assert_eq!(to - from, 31 * 86_400);
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "november"] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&[3.0], 95.0), Some(3.0));
        assert_eq!(percentile(&[], 95.0), None);
    }
}
