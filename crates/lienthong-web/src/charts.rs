//! History on the pages: server-rendered SVG charts (no script, no external resource) of the
//! center's time series over an hour, a day or a month; `/history` and `/api/history`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::history::{History, Range};
use crate::{esc, layout, t, Sources};

#[derive(Deserialize)]
pub(crate) struct HistoryQuery {
    lang: Option<String>,
    range: Option<String>,
    series: Option<String>,
}

/// The buckets of `series` over `range` ending now: every bucket present (0 where none).
pub(crate) async fn buckets(
    h: &History,
    series: &str,
    range: Range,
    now_s: i64,
) -> Result<Vec<(i64, f64)>, String> {
    let (step, n) = range.buckets();
    let end = now_s.div_euclid(step) * step + step;
    let from = end - n * step;
    let got = h.points(series, step, from, end).await?;
    Ok((0..n)
        .map(|i| {
            let t = from + i * step;
            (t, got.iter().find(|(x, _)| *x == t).map_or(0.0, |p| p.1))
        })
        .collect())
}

pub(crate) async fn api_history(
    State(s): State<Arc<Sources>>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let bad = |m: String| (StatusCode::BAD_REQUEST, Json(json!({ "error": m }))).into_response();
    let Some(h) = &s.history else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "this dashboard keeps no history" })),
        )
            .into_response();
    };
    let Some(range) = Range::parse(q.range.as_deref()) else {
        return bad("range is hour, day or month".into());
    };
    let Some(series) = q.series.filter(|s| !s.is_empty()) else {
        let mut names = Vec::new();
        for (kind, _) in crate::history::KINDS {
            names.extend(h.names(kind).await.unwrap_or_default());
        }
        return Json(json!({ "series": names })).into_response();
    };
    match buckets(h, &series, range, crate::now_ms() / 1000).await {
        Ok(points) => Json(json!({
            "series": series, "range": range.name(), "step": range.buckets().0,
            "points": points.iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => bad(e),
    }
}

/// A bar chart of buckets: the time axis in Vietnam time, the largest value on the left.
pub(crate) fn svg(id: &str, title: &str, points: &[(i64, f64)], step: i64, small: bool) -> String {
    let (w, h, left, bottom) = if small {
        (360.0, 110.0, 40.0, 20.0)
    } else {
        (640.0, 150.0, 48.0, 22.0)
    };
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        (h - bottom - 8.0) / max
    } else {
        0.0
    };
    let bw = (w - left) / points.len().max(1) as f64;
    let mut out = format!(
        r##"<figure><figcaption>{}</figcaption><svg id="{}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img"><line x1="{left}" y1="{y0}" x2="{w}" y2="{y0}" stroke="#94a3b8"/><text x="{tx}" y="14" font-size="11" text-anchor="end">{}</text><text x="{tx}" y="{y0}" font-size="11" text-anchor="end">0</text>"##,
        esc(title),
        esc(id),
        fmt(max),
        y0 = h - bottom,
        tx = left - 4.0,
    );
    let label = |t: i64| {
        let local = t + 7 * 3600;
        if step >= 86_400 {
            let (_, m, d) = lienthong_core::time::civil_from_days(local.div_euclid(86_400));
            format!("{d:02}/{m:02}")
        } else {
            let m = local.rem_euclid(86_400) / 60;
            format!("{:02}:{:02}", m / 60, m % 60)
        }
    };
    let every = (points.len() / if small { 4 } else { 6 }).max(1);
    for (i, (t, v)) in points.iter().enumerate() {
        let x = left + i as f64 * bw;
        let bh = v * scale;
        out.push_str(&format!(
            r##"<rect class="bucket" data-t="{t}" data-v="{v}" x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#3b82f6"><title>{} · {}</title></rect>"##,
            h - bottom - bh,
            (bw - 1.0).max(1.0),
            label(*t),
            fmt(*v)
        ));
        if i % every == 0 {
            out.push_str(&format!(
                r#"<text x="{x:.1}" y="{}" font-size="10">{}</text>"#,
                h - 6.0,
                label(*t)
            ));
        }
    }
    out.push_str("</svg></figure>");
    out
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub(crate) async fn page_history(
    State(s): State<Arc<Sources>>,
    Query(q): Query<HistoryQuery>,
) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let lang = if en { "en" } else { "vi" };
    let title = t(en, "Lịch sử", "History");
    let Some(h) = &s.history else {
        return crate::no_history(en, title);
    };
    let range = Range::parse(q.range.as_deref()).unwrap_or(Range::Hour);
    let (step, _) = range.buckets();
    let now = crate::now_ms() / 1000;
    let mut b = String::from("<p id=\"ranges\">");
    for (r, vi, english) in [
        (Range::Hour, "Giờ qua", "Last hour"),
        (Range::Day, "Ngày qua", "Last day"),
        (Range::Month, "Tháng qua", "Last month"),
    ] {
        let current = if r == range {
            " aria-current=\"page\""
        } else {
            ""
        };
        b.push_str(&format!(
            "<a href=\"/history?range={}&lang={lang}\"{current}>{}</a> ",
            r.name(),
            t(en, vi, english)
        ));
    }
    b.push_str("</p>");
    let per = match (range, en) {
        (Range::Hour, false) => "mỗi phút",
        (Range::Day, false) => "mỗi giờ",
        (Range::Month, false) => "mỗi ngày",
        (Range::Hour, true) => "per minute",
        (Range::Day, true) => "per hour",
        (Range::Month, true) => "per day",
    };
    let mut charts: Vec<(String, String, String)> = vec![
        (
            "chart-exchanges".into(),
            format!("{} {per}", t(en, "Lượt trao đổi", "Exchanges")),
            "exchanges:".into(),
        ),
        (
            "chart-refusals".into(),
            format!("{} {per}", t(en, "Lượt bị từ chối", "Refusals")),
            "refusals:".into(),
        ),
        (
            "chart-down".into(),
            format!("{} ({per})", t(en, "Nút không trả lời", "Nodes down")),
            "down:".into(),
        ),
    ];
    let overall = charts.len();
    for (kind, vi, english) in [
        ("lag_s", "Độ trễ lớn nhất (s)", "Largest lag (s)"),
        ("applied", "Thay đổi đã áp dụng", "Changes applied"),
        ("quality", "Điểm chất lượng (%)", "Quality score (%)"),
    ] {
        for name in h.names(kind).await.unwrap_or_default() {
            let label = name.split_once(':').map_or(name.as_str(), |x| x.1);
            charts.push((
                format!(
                    "chart-{}",
                    name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                ),
                format!("{} — {label}", t(en, vi, english)),
                name.clone(),
            ));
        }
    }
    let small = charts.len() > overall;
    for (i, (id, title, series)) in charts.into_iter().enumerate() {
        if i == overall {
            // Per pipeline and per dataset: small multiples.
            b.push_str("<div class=\"grid\">");
        }
        match buckets(h, &series, range, now).await {
            Ok(points) => b.push_str(&svg(&id, &title, &points, step, i >= overall)),
            Err(e) => b.push_str(&format!("<p>{}: {}</p>", esc(&title), esc(&e))),
        }
    }
    if small {
        b.push_str("</div>");
    }
    b.push_str("<p><a href=\"/api/history\">JSON</a></p>");
    layout(en, title, &b)
}
