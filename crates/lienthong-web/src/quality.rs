//! The quality view: each synced dataset's scorecard on the six criteria (computed at the
//! center against the register's replica and kept in a [`QualityBoard`]), and per dataset the
//! worst fields and the failing records to fix.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Query, State};
use axum::response::Html;
use axum::Json;
use lienthong_quality::{Criterion, Report};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{esc, layout, t, Sources};

/// The latest scorecard per dataset, written by whoever computes them (the center).
pub type QualityBoard = Arc<RwLock<BTreeMap<String, Report>>>;

#[derive(Deserialize)]
pub(crate) struct QualityQuery {
    lang: Option<String>,
    dataset: Option<String>,
}

/// Each scored dataset's overall score (0–1).
pub(crate) fn scores(s: &Sources) -> BTreeMap<String, f64> {
    s.quality
        .read()
        .map(|b| {
            b.iter()
                .map(|(k, r)| (k.clone(), r.overall.score))
                .collect()
        })
        .unwrap_or_default()
}

fn reports(s: &Sources) -> BTreeMap<String, Report> {
    s.quality.read().map(|b| b.clone()).unwrap_or_default()
}

pub(crate) async fn api_quality(
    State(s): State<Arc<Sources>>,
    Query(q): Query<QualityQuery>,
) -> Json<Value> {
    let all = reports(&s);
    Json(match q.dataset {
        Some(d) => all.get(&d).map_or(Value::Null, |r| json!(r)),
        None => json!(all.values().collect::<Vec<_>>()),
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{:.1} %", x * 100.0))
}

fn name(en: bool, c: Criterion) -> &'static str {
    if en {
        c.en()
    } else {
        c.vi()
    }
}

pub(crate) async fn page_quality(
    State(s): State<Arc<Sources>>,
    Query(q): Query<QualityQuery>,
) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let lang = if en { "en" } else { "vi" };
    let all = reports(&s);
    let mut b = String::new();
    if let Some(d) = &q.dataset {
        let Some(r) = all.get(d) else {
            b.push_str(&format!(
                "<p id=\"none\">{} <code>{}</code></p>",
                t(en, "Chưa có phiếu chất lượng cho", "No scorecard yet for"),
                esc(d)
            ));
            return layout(en, t(en, "Chất lượng dữ liệu", "Data quality"), &b);
        };
        b.push_str(&format!(
            "<p><code>{}</code> — {} · {}: <b id=\"records\">{}</b> · {}: <b id=\"overall\">{}</b> · {}</p>",
            esc(&r.dataset),
            esc(&r.title),
            t(en, "bản ghi", "records"),
            r.records,
            t(en, "điểm chung", "overall"),
            pct(Some(r.overall.score)),
            esc(&r.generated_at)
        ));
        b.push_str(&format!(
            "<table id=\"criteria\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            t(en, "Tiêu chí", "Criterion"),
            t(en, "Điểm", "Score"),
            t(en, "Bản ghi không đạt", "Records failing"),
            t(en, "Ghi chú", "Note")
        ));
        for c in Criterion::ALL {
            let cr = &r.criteria[c.key()];
            b.push_str(&format!("<tr id=\"c-{}\"><td>{}</td><td class=num>{}</td><td class=num>{}</td><td>{}</td></tr>", c.key(), name(en, c), pct(cr.score), cr.failing, esc(&cr.note)));
        }
        b.push_str("</table>");
        b.push_str(&format!("<h2>{}</h2><table id=\"failing\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", t(en, "Bản ghi cần sửa", "Records to fix"), t(en, "Tiêu chí", "Criterion"), t(en, "Bản ghi", "Record"), t(en, "Khoá", "Key"), t(en, "Trường", "Field"), t(en, "Lý do", "Reason")));
        for c in Criterion::ALL {
            for e in &r.criteria[c.key()].examples {
                b.push_str(&format!(
                    "<tr class=\"failing\"><td>{}</td><td class=num>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{} <code>{}</code></td></tr>",
                    name(en, c),
                    e.record,
                    esc(&e.key),
                    esc(&e.field),
                    esc(&e.reason),
                    esc(&e.rule)
                ));
            }
        }
        b.push_str("</table>");
        b.push_str(&format!("<p><a href=\"/api/quality?dataset={}\">JSON</a> · <a href=\"/quality?lang={lang}\">{}</a></p>", esc(&r.dataset), t(en, "Mọi cơ sở dữ liệu", "Every dataset")));
        return layout(en, t(en, "Chất lượng dữ liệu", "Data quality"), &b);
    }
    if all.is_empty() {
        b.push_str(&format!(
            "<p id=\"none\">{}</p>",
            t(
                en,
                "Chưa có phiếu chất lượng nào: phiếu được tính sau khi đồng bộ.",
                "No scorecard yet: they are computed once sync has run."
            )
        ));
    }
    b.push_str(&format!(
        "<table id=\"quality\"><tr><th>{}</th><th>{}</th>",
        t(en, "Dữ liệu", "Dataset"),
        t(en, "Bản ghi", "Records")
    ));
    for c in Criterion::ALL {
        b.push_str(&format!("<th>{}</th>", name(en, c)));
    }
    b.push_str(&format!(
        "<th>{}</th><th>{}</th></tr>",
        t(en, "Điểm chung", "Overall"),
        t(en, "Lập lúc", "Computed")
    ));
    for r in all.values() {
        b.push_str(&format!(
            "<tr class=\"dataset\"><td><a href=\"/quality?lang={lang}&amp;dataset={d}\">{d}</a></td><td class=num>{}</td>",
            r.records,
            d = esc(&r.dataset)
        ));
        for c in Criterion::ALL {
            b.push_str(&format!(
                "<td class=num>{}</td>",
                pct(r.criteria[c.key()].score)
            ));
        }
        b.push_str(&format!(
            "<td class=num><b>{}</b></td><td>{}</td></tr>",
            pct(Some(r.overall.score)),
            esc(&r.generated_at)
        ));
    }
    b.push_str("</table>");
    layout(en, t(en, "Chất lượng dữ liệu", "Data quality"), &b)
}
