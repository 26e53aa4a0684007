//! The scorecard as one self-contained page (no script, no external resources): Vietnamese
//! by default, English by a switch made of two radio buttons and CSS.

use std::fmt::Write;

use crate::{Criterion, HistoryPoint, Report};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn both(vi: &str, en: &str) -> String {
    format!(
        "<span class=\"vi\">{}</span><span class=\"en\">{}</span>",
        esc(vi),
        esc(en)
    )
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{:.1} %", x * 100.0))
}

fn trend_svg(history: &[HistoryPoint]) -> String {
    if history.len() < 2 {
        return String::new();
    }
    let (w, h) = (480.0, 120.0);
    let step = w / (history.len() - 1) as f64;
    let points: Vec<String> = history
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - p.overall.clamp(0.0, 1.0) * h
            )
        })
        .collect();
    format!(
        "<svg role=\"img\" aria-label=\"overall score trend\" viewBox=\"-4 -4 {} {}\" width=\"{}\" height=\"{}\"><rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#f4f6f8\"/><polyline fill=\"none\" stroke=\"#0b5394\" stroke-width=\"2\" points=\"{}\"/></svg>",
        w + 8.0,
        h + 8.0,
        w + 8.0,
        h + 8.0,
        points.join(" ")
    )
}

/// Renders `report` with the trend of `history` (oldest first, this run included).
pub fn html(report: &Report, history: &[HistoryPoint]) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        r#"<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Chất lượng dữ liệu / Data quality — {ds}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#1c1c1c}}
.en{{display:none}} #lang-en:checked ~ main .en{{display:inline}} #lang-en:checked ~ main .vi{{display:none}}
table{{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}} th,td{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}}
.cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(10rem,1fr));gap:.75rem}}
.card{{border:1px solid #ccd;border-radius:.4rem;padding:.6rem}} .score{{font-size:1.6rem;font-weight:600}}
.low{{color:#b00020}} .mid{{color:#a15c00}} .high{{color:#1b6e20}} .note{{color:#555;font-size:.85rem}}
</style></head><body>
<input type="radio" name="lang" id="lang-vi" checked><label for="lang-vi">Tiếng Việt</label>
<input type="radio" name="lang" id="lang-en"><label for="lang-en">English</label>
<main>
<h1>{h1} — <code>{ds}</code></h1>
<p>{title}</p>
<p>{records_label}: <strong id="records">{records}</strong> · {generated_label}: {generated}</p>
<p>{overall_label}: <strong id="overall" class="score">{overall}</strong></p>
"#,
        ds = esc(&report.dataset),
        h1 = both("Phiếu chất lượng dữ liệu", "Data quality scorecard"),
        title = esc(&report.title),
        records_label = both("Số bản ghi", "Records"),
        records = report.records,
        generated_label = both("Lập lúc", "Generated"),
        generated = esc(&report.generated_at),
        overall_label = both("Điểm chung", "Overall score"),
        overall = pct(Some(report.overall.score)),
    );
    o.push_str("<div class=\"cards\">");
    for c in Criterion::ALL {
        let r = &report.criteria[c.key()];
        let class = match r.score {
            Some(s) if s >= 0.95 => "high",
            Some(s) if s >= 0.8 => "mid",
            Some(_) => "low",
            None => "",
        };
        let _ = write!(
            o,
            "<div class=\"card\" id=\"criterion-{key}\"><div>{name}</div><div class=\"score {class}\">{score}</div><div>{failing} {failing_label}</div><div class=\"note\">{note}</div></div>",
            key = c.key(),
            name = both(c.vi(), c.en()),
            score = pct(r.score),
            failing = r.failing,
            failing_label = both("bản ghi không đạt", "records failing"),
            note = esc(&r.note),
        );
    }
    o.push_str("</div>");
    // The worst fields across criteria.
    let mut fields: Vec<(&str, &str, u64, f64)> = report
        .criteria
        .iter()
        .flat_map(|(k, c)| {
            c.by_field
                .iter()
                .map(move |(f, s)| (k.as_str(), f.as_str(), s.failing, s.rate))
        })
        .collect();
    fields.sort_by(|a, b| b.3.total_cmp(&a.3).then(a.1.cmp(b.1)));
    let _ = write!(
        o,
        "<h2>{}</h2><table id=\"worst-fields\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        both("Các trường kém nhất", "Worst fields"),
        both("Trường", "Field"),
        both("Tiêu chí", "Criterion"),
        both("Bản ghi", "Records"),
        both("Tỷ lệ", "Rate"),
    );
    for (c, f, n, rate) in fields.iter().take(12) {
        let name = Criterion::ALL
            .into_iter()
            .find(|x| x.key() == *c)
            .map_or_else(|| esc(c), |x| both(x.vi(), x.en()));
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{name}</td><td>{n}</td><td>{}</td></tr>",
            esc(f),
            pct(Some(*rate))
        );
    }
    o.push_str("</table>");
    let _ = write!(
        o,
        "<h2>{}</h2><table id=\"examples\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        both("Bản ghi cần sửa (ví dụ)", "Records to fix (examples)"),
        both("Tiêu chí", "Criterion"),
        both("Bản ghi", "Record"),
        both("Khoá", "Key"),
        both("Trường", "Field"),
        both("Lý do", "Reason"),
    );
    for c in Criterion::ALL {
        for e in &report.criteria[c.key()].examples {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{} <code>{}</code></td></tr>",
                both(c.vi(), c.en()),
                e.record,
                esc(&e.key),
                esc(&e.field),
                esc(&e.reason),
                esc(&e.rule)
            );
        }
    }
    o.push_str("</table>");
    let _ = write!(o, "<h2>{}</h2>", both("Xu hướng", "Trend"));
    o.push_str(&trend_svg(history));
    let _ = write!(
        o,
        "<table id=\"history\"><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
        both("Lần chạy", "Run"),
        both("Bản ghi", "Records"),
        both("Điểm chung", "Overall")
    );
    for p in history.iter().rev().take(24) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.generated_at),
            p.records,
            pct(Some(p.overall))
        );
    }
    o.push_str("</table>");
    let _ = write!(
        o,
        "<h2>{}</h2><table id=\"weights\"><tr><th>{}</th><th>{}</th></tr>",
        both("Cách tính điểm chung", "How the overall score is weighed"),
        both("Tiêu chí", "Criterion"),
        both("Trọng số", "Weight")
    );
    for (k, w) in &report.overall.weights {
        let _ = write!(o, "<tr><td>{}</td><td>{:.3}</td></tr>", esc(k), w);
    }
    o.push_str("</table><h2>");
    o.push_str(&both("Nguồn", "Sources"));
    o.push_str("</h2><ul>");
    for (k, v) in &report.sources {
        let _ = write!(o, "<li>{}: <code>{}</code></li>", esc(k), esc(v));
    }
    o.push_str("</ul></main></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Builder;
    use lienthong_dictionary::catalog::CITIZEN;
    use std::collections::BTreeMap;

    #[test]
    fn data_is_escaped_and_both_languages_are_there() {
        let mut b = Builder::new(&CITIZEN, 3);
        b.record(&vec![String::new(); CITIZEN.fields.len()]);
        b.fail(
            1,
            "<script>alert(1)</script>",
            Criterion::Correct,
            "full_name",
            "x.y",
            "a \"quoted\" <b>",
        );
        let r = b.finish("2026-12-02", BTreeMap::new());
        let page = html(&r, &[HistoryPoint::from(&r), HistoryPoint::from(&r)]);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("Thống nhất") && page.contains("Unified"));
        assert!(page.contains("<polyline"));
    }
}
