//! The citizen's page: sign-in, their history with each node's proof state, what is withheld
//! for an investigation, their consents with a button each. Every value escaped.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use serde::Deserialize;
use serde_json::Value;

use super::Face;
use crate::{esc, t};

#[derive(Deserialize)]
pub(super) struct PageQuery {
    lang: Option<String>,
}

pub(super) async fn page(
    State(f): State<Arc<Face>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Html<String> {
    let en = q.lang.as_deref() == Some("en");
    let lang = if en { "en" } else { "vi" };
    let mut b = String::new();
    match f.session_full(&headers) {
        None => {
            b.push_str(&format!(
                "<p>{}</p><p><a id=\"login\" href=\"/citizen/login?lang={lang}\">{}</a></p>",
                t(en, "Xem cơ quan nào đã sử dụng dữ liệu của bạn, khi nào, vì mục đích gì — có bằng chứng nhật ký không bị sửa đổi.", "See which agency used your data, when and why — with proof that the log was not altered."),
                t(en, "Đăng nhập bằng tài khoản định danh điện tử", "Sign in with your electronic identity")
            ));
        }
        Some((id, name, form)) => {
            let h = f.history(&id).await;
            b.push_str(&format!(
                "<p id=\"person\">{} <strong>{}</strong> ({}) · <a href=\"/citizen/logout\">{}</a></p>",
                t(en, "Xin chào", "Hello"),
                esc(&name),
                esc(&id),
                t(en, "Đăng xuất", "Sign out")
            ));
            let list = h["accesses"].as_array().cloned().unwrap_or_default();
            b.push_str(&format!(
                "<p>{}: <strong id=\"count\">{}</strong></p>",
                t(
                    en,
                    "Số lượt dữ liệu của bạn được cung cấp",
                    "Times your data was given out"
                ),
                list.len()
            ));
            b.push_str(&format!(
                "<table id=\"accesses\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                t(en, "Thời gian", "When"),
                t(en, "Cơ quan sử dụng", "Agency"),
                t(en, "Cán bộ", "Officer"),
                t(en, "Dữ liệu", "Data"),
                t(en, "Mục đích", "Purpose"),
                t(en, "Căn cứ pháp lý", "Legal basis"),
                t(en, "Nơi cung cấp", "Given by"),
                t(en, "Bằng chứng", "Proof")
            ));
            for a in &list {
                let agency = a["agency_name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .or(a["agency"].as_str())
                    .unwrap_or("");
                let provider = a["provider_name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .or(a["provider"].as_str())
                    .unwrap_or("");
                let fields: Vec<&str> = a["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let proof = match (a["proof"].as_str(), en) {
                    (Some("witnessed"), false) => "✓ đã kiểm chứng, có chứng thực của Trung tâm",
                    (Some("witnessed"), true) => "✓ verified, witnessed by the center",
                    (_, false) => "✓ đã kiểm chứng chữ ký nhật ký",
                    (_, true) => "✓ log signature verified",
                };
                b.push_str(&format!(
                    "<tr class=\"access\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&lienthong_core::vietnam_time(a["time"].as_i64().unwrap_or(0))),
                    esc(agency),
                    esc(a["officer"].as_str().unwrap_or("")),
                    esc(&fields.join(", ")),
                    esc(a["purpose"].as_str().unwrap_or("")),
                    esc(a["legal_basis"].as_str().unwrap_or("—")),
                    esc(provider),
                    proof
                ));
            }
            b.push_str("</table>");
            for n in h["nodes"].as_array().into_iter().flatten() {
                if let Some(count) = n["withheld"]["count"].as_u64() {
                    let day =
                        lienthong_core::vietnam_date(n["withheld"]["until"].as_i64().unwrap_or(0));
                    let node = n["node"].as_str().unwrap_or("");
                    let by = f
                        .cfg
                        .registry
                        .member(node)
                        .map_or(node.to_owned(), |m| m.name.clone());
                    b.push_str(&format!(
                        "<p class=\"withheld\">{}</p>",
                        if en {
                            format!("{count} access(es) recorded by {} are withheld for an investigation, as the law allows; they will be shown from {}.", esc(&by), esc(&day))
                        } else {
                            format!("{count} lượt truy cập do {} ghi nhận đang được giữ kín phục vụ điều tra theo quy định của pháp luật; sẽ được hiển thị từ ngày {}.", esc(&by), esc(&day))
                        }
                    ));
                }
                if n["verified"] == false {
                    b.push_str(&format!(
                        "<p class=\"node-error\">{} {}: {}</p>",
                        t(
                            en,
                            "Không kiểm chứng được câu trả lời của",
                            "Could not verify the answer of"
                        ),
                        esc(n["node"].as_str().unwrap_or("")),
                        esc(n["error"].as_str().unwrap_or(""))
                    ));
                }
            }
            let consents = f.consents(&id).await;
            if !consents.is_empty() {
                b.push_str(&format!(
                    "<h2 id=\"consents\">{}</h2><table id=\"consent-list\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
                    t(en, "Sự đồng ý của bạn", "Your consents"),
                    t(en, "Cơ quan", "Agency"),
                    t(en, "Dịch vụ", "Service"),
                    t(en, "Mục đích", "Purpose"),
                    t(en, "Trạng thái", "State")
                ));
                for (consumer, service, purpose, granted) in consents {
                    let agency = f
                        .cfg
                        .registry
                        .member(&consumer)
                        .map_or(consumer.clone(), |m| m.name.clone());
                    let (state, action, button) = if granted {
                        (
                            t(en, "đã đồng ý", "granted"),
                            "withdraw",
                            t(en, "Rút lại", "Withdraw"),
                        )
                    } else {
                        (
                            t(en, "chưa đồng ý", "not granted"),
                            "grant",
                            t(en, "Đồng ý", "Grant"),
                        )
                    };
                    b.push_str(&format!(
                        "<tr class=\"consent consent-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td><form method=\"post\" action=\"/citizen/consent\"><input type=\"hidden\" name=\"consumer\" value=\"{}\"><input type=\"hidden\" name=\"service\" value=\"{}\"><input type=\"hidden\" name=\"purpose\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"form\" value=\"{}\"><button>{button}</button></form></td></tr>",
                        if granted { "granted" } else { "none" },
                        esc(&agency),
                        esc(&service),
                        esc(&purpose),
                        esc(&consumer),
                        esc(&service),
                        esc(&purpose),
                        esc(&form)
                    ));
                }
                b.push_str("</table>");
            }
            b.push_str(&super::documents::section(&f, &id, &form, en).await);
            b.push_str(&format!(
                "<p><a href=\"/citizen/api/accesses\">{}</a> — {}</p>",
                t(
                    en,
                    "Tải về (JSON, kèm bằng chứng)",
                    "Download (JSON, with proofs)"
                ),
                t(
                    en,
                    "kiểm tra ngoại tuyến bằng lienthong log verify-proof",
                    "check offline with lienthong log verify-proof"
                )
            ));
        }
    }
    Html(format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}}table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #cdd5df;padding:.3rem .6rem;text-align:left}}th{{background:#eef2f7}}</style></head>
<body><nav><a href="?lang={other}">{other_name}</a></nav><h1>{title}</h1>{b}</body></html>"#,
        title = t(
            en,
            "Dữ liệu của tôi đã được sử dụng thế nào",
            "How my data was used"
        ),
        other = if en { "vi" } else { "en" },
        other_name = t(en, "English", "Tiếng Việt"),
    ))
}
