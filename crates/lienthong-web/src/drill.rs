//! Drill-downs: one member (its node, services, agreements both ways, its traffic and
//! downtime over a range) and one pipeline (its state, lag, throughput and quarantine over a
//! range). `/member?id=…`, `/pipeline?name=…`; the overview links to them.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::charts::{buckets, svg};
use crate::history::Range;
use crate::{esc, layout, provider_of, t, Sources};

#[derive(Deserialize)]
pub(crate) struct DrillQuery {
    lang: Option<String>,
    id: Option<String>,
    name: Option<String>,
    range: Option<String>,
}

fn not_found(en: bool, what: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout(
            en,
            t(en, "Không tìm thấy", "Not found"),
            &format!("<p id=\"error\">{}</p>", esc(&what)),
        ),
    )
        .into_response()
}

/// The charts of `series` (id, title) over the asked range, with the range links.
async fn charts(
    s: &Sources,
    q: &DrillQuery,
    base: &str,
    series: &[(String, String, String)],
) -> String {
    let en = q.lang.as_deref() == Some("en");
    let Some(h) = &s.history else {
        return String::new();
    };
    let range = Range::parse(q.range.as_deref()).unwrap_or(Range::Hour);
    let mut b = String::from("<p id=\"ranges\">");
    for (r, vi, english) in [
        (Range::Hour, "Giờ qua", "Last hour"),
        (Range::Day, "Ngày qua", "Last day"),
        (Range::Month, "Tháng qua", "Last month"),
    ] {
        b.push_str(&format!(
            "<a href=\"{base}&amp;range={}&amp;lang={}\">{}</a> ",
            r.name(),
            if en { "en" } else { "vi" },
            t(en, vi, english)
        ));
    }
    b.push_str("</p><div class=\"grid\">");
    let now = crate::now_ms() / 1000;
    for (id, title, name) in series {
        if let Ok(points) = buckets(h, name, range, now).await {
            b.push_str(&svg(id, title, &points, range.buckets().0, true));
        }
    }
    b.push_str("</div>");
    b
}

pub(crate) async fn page_member(
    State(s): State<Arc<Sources>>,
    Query(q): Query<DrillQuery>,
) -> Response {
    let en = q.lang.as_deref() == Some("en");
    let id = q.id.clone().unwrap_or_default();
    let Some(m) = s.registry.member(&id) else {
        return not_found(en, format!("no member {id:?} in the registry"));
    };
    let health = crate::health(&s).await;
    let mut b = format!(
        "<table id=\"member\"><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td id=\"health\">{}</td></tr></table>",
        t(en, "Mã thành viên", "Member"),
        esc(&m.id),
        t(en, "Tên", "Name"),
        esc(&m.name),
        t(en, "Địa chỉ nút", "Node address"),
        esc(m.address.as_deref().unwrap_or("—")),
        t(en, "Tình trạng", "Health"),
        health.get(&m.id).copied().unwrap_or("unknown"),
    );
    let services: Vec<_> = s
        .registry
        .services
        .iter()
        .filter(|x| provider_of(&x.id) == m.id)
        .collect();
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"services\"><tr><th>{}</th><th>{}</th></tr>",
        t(en, "Dịch vụ cung cấp", "Services provided"),
        t(en, "Dịch vụ", "Service"),
        t(en, "Tập dữ liệu", "Dataset")
    ));
    for x in &services {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&x.id),
            esc(&x.dataset)
        ));
    }
    b.push_str(&format!(
        "</table><h2>{}</h2><table id=\"agreements\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Thỏa thuận", "Agreements"),
        t(en, "Bên dùng", "Consumer"),
        t(en, "Dịch vụ", "Service"),
        t(en, "Mục đích", "Purposes"),
        t(en, "Hiệu lực đến", "Valid to")
    ));
    for a in s
        .registry
        .agreements
        .iter()
        .filter(|a| a.consumer == m.id || provider_of(&a.service) == m.id)
    {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.consumer),
            esc(&a.service),
            esc(&a.purposes.join(", ")),
            esc(&a.valid_to)
        ));
    }
    b.push_str("</table>");
    let mut series = vec![(
        "chart-consumed".to_owned(),
        t(en, "Lượt khai thác (bên dùng)", "Calls made (as consumer)").to_owned(),
        format!("consumed:{}", m.id),
    )];
    for x in &services {
        series.push((
            format!("chart-served-{}", series.len()),
            format!("{} — {}", t(en, "Lượt trả lời", "Served"), x.id),
            format!("served:{}", x.id),
        ));
    }
    series.push((
        "chart-downtime".into(),
        t(en, "Thời gian ngừng (s)", "Downtime (s)").into(),
        format!("downtime_s:{}", m.id),
    ));
    let base = format!("/member?id={}", crate::query_escape(&m.id));
    b.push_str(&charts(&s, &q, &base, &series).await);
    Html(layout(en, &m.name, &b).0).into_response()
}

pub(crate) async fn page_pipeline(
    State(s): State<Arc<Sources>>,
    Query(q): Query<DrillQuery>,
) -> Response {
    let en = q.lang.as_deref() == Some("en");
    let name = q.name.clone().unwrap_or_default();
    let mut found = None;
    for reader in &s.sync {
        if let Some(st) = reader
            .statuses()
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|st| st.name == name)
        {
            found = Some(st);
        }
    }
    let Some(st) = found else {
        return not_found(en, format!("no pipeline {name:?} at the center"));
    };
    let now = crate::now_ms();
    let row = |k: &str, v: String| format!("<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    let mut b = String::from("<table id=\"pipeline\">");
    b.push_str(&row(t(en, "Luồng", "Pipeline"), st.name.clone()));
    b.push_str(&row(t(en, "Nguồn", "Source"), st.source.to_owned()));
    b.push_str(&row(
        t(en, "Đang chạy", "Running"),
        if st.lease_until_ms > now {
            t(en, "có", "yes")
        } else {
            t(en, "không", "no")
        }
        .into(),
    ));
    b.push_str(&row(
        t(en, "Đã áp dụng / đã xoá", "Applied / deleted"),
        format!("{} / {}", st.state.rows_applied, st.state.rows_deleted),
    ));
    b.push_str(&row(
        t(en, "Cách ly đang mở", "Open quarantine"),
        st.quarantined_open.to_string(),
    ));
    b.push_str(&row(
        t(en, "Độ trễ (s)", "Lag (s)"),
        st.lag_ms()
            .map_or("—".into(), |ms| format!("{:.1}", ms as f64 / 1000.0)),
    ));
    b.push_str(&row(
        t(en, "Lần áp dụng cuối", "Last batch applied"),
        if st.state.applied_at_ms > 0 {
            lienthong_core::vietnam_time(st.state.applied_at_ms / 1000)
        } else {
            "—".into()
        },
    ));
    b.push_str(&row(
        t(en, "Vị trí nguồn", "Source position"),
        st.state.position.clone(),
    ));
    b.push_str("</table>");
    let series = [
        (
            "chart-lag",
            t(en, "Độ trễ lớn nhất (s)", "Largest lag (s)"),
            "lag_s",
        ),
        (
            "chart-applied",
            t(en, "Thay đổi đã áp dụng", "Changes applied"),
            "applied",
        ),
        (
            "chart-quarantined",
            t(en, "Cách ly đang mở", "Open quarantine"),
            "quarantined",
        ),
    ]
    .map(|(id, title, kind)| {
        (
            id.to_owned(),
            title.to_owned(),
            format!("{kind}:{}", st.name),
        )
    });
    let base = format!("/pipeline?name={}", crate::query_escape(&st.name));
    b.push_str(&charts(&s, &q, &base, &series).await);
    Html(layout(en, &st.name, &b).0).into_response()
}
