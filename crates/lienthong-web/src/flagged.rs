//! What the overview flags for an operator: alerts drawn from the logs, breach incidents
//! with their 72-hour clock, and logs a witness found cut, restored or forked. Each takes
//! its part of `/api/overview` and writes escaped HTML.

use serde_json::Value;

use crate::{esc, t};

/// What the logs show that may be a breach: a consumer reading far more persons than it
/// usually does, bursts of refusals for identity, signature or agreement, calls outside an
/// agreement's validity.
pub(crate) fn alerts_section(en: bool, alerts: &Value, b: &mut String) {
    let list: Vec<&Value> = alerts.as_array().into_iter().flatten().collect();
    if list.is_empty() {
        return;
    }
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"alerts\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Cảnh báo", "Alerts"),
        t(en, "Bên dùng", "Consumer"),
        t(en, "Loại", "Kind"),
        t(en, "Tại nút", "At node"),
        t(en, "Chi tiết", "Detail")
    ));
    for a in list {
        let kind = a["kind"].as_str().unwrap_or("");
        let label = match (kind, en) {
            ("volume", false) => "đọc dữ liệu của quá nhiều người",
            ("refusal_burst", false) => "nhiều lượt bị từ chối",
            ("outside_agreement", false) => "gọi ngoài thời hạn thỏa thuận",
            ("volume", true) => "far more persons than usual",
            ("refusal_burst", true) => "burst of refusals",
            ("outside_agreement", true) => "outside the agreement's validity",
            _ => kind,
        };
        b.push_str(&format!(
            "<tr class=\"alert alert-{}\"><td>{}</td><td><strong>{}</strong></td><td>{}</td><td>{}</td></tr>",
            esc(kind),
            esc(a["member"].as_str().unwrap_or("")),
            esc(label),
            esc(a["node"].as_str().unwrap_or("")),
            esc(a["detail"].as_str().unwrap_or(""))
        ));
    }
    b.push_str("</table>");
}

/// Personal-data breaches recorded (`lienthong incident`) and the 72-hour clock of each.
pub(crate) fn incidents_section(en: bool, incidents: &Value, b: &mut String) {
    let list: Vec<&Value> = incidents.as_array().into_iter().flatten().collect();
    if list.is_empty() {
        return;
    }
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"incidents\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        t(en, "Sự cố dữ liệu cá nhân", "Personal-data breaches"),
        t(en, "Mã", "Id"),
        t(en, "Nút", "Node"),
        t(en, "Nội dung", "What"),
        t(en, "Hạn thông báo", "Notice due"),
        t(en, "Thời gian còn lại", "Time left")
    ));
    for i in list {
        let remaining = i["remaining_s"].as_i64().unwrap_or(0);
        let (class, left) = if !i["notified_at"].is_null() {
            ("notified", t(en, "đã thông báo", "notified").to_owned())
        } else if remaining >= 0 {
            (
                "running",
                format!("{} h {:02} min", remaining / 3600, remaining % 3600 / 60),
            )
        } else {
            (
                "overdue",
                format!(
                    "{} {} h {:02} min",
                    t(en, "QUÁ HẠN", "OVERDUE"),
                    -remaining / 3600,
                    -remaining % 3600 / 60
                ),
            )
        };
        b.push_str(&format!(
            "<tr class=\"incident incident-{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><strong>{}</strong></td></tr>",
            esc(i["id"].as_str().unwrap_or("")),
            esc(i["node"].as_str().unwrap_or("")),
            esc(i["title"].as_str().unwrap_or("")),
            esc(&lienthong_core::vietnam_time(i["deadline"].as_i64().unwrap_or(0))),
            esc(&left)
        ));
    }
    b.push_str("</table>");
}

/// Logs flagged by a witness (a shrunk, forked or rewound message log), then how far the
/// witness has cosigned each member's log.
pub(crate) fn witness_section(en: bool, w: &Value, b: &mut String) {
    let alarms: Vec<&Value> = w["alarms"].as_array().into_iter().flatten().collect();
    b.push_str(&format!(
        "<h2>{}</h2>",
        t(en, "Giám sát nhật ký trao đổi", "Message logs witnessed")
    ));
    if alarms.is_empty() {
        b.push_str(&format!(
            "<p id=\"witness-ok\">{}</p>",
            t(
                en,
                "Không nhật ký nào bị phát hiện cắt bớt, khôi phục bản cũ hay rẽ nhánh.",
                "No message log was found cut, restored from an older copy or forked."
            )
        ));
    } else {
        b.push_str(&format!(
            "<table id=\"witness-alarms\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            t(en, "Nhật ký của", "Log of"),
            t(en, "Phát hiện", "Finding"),
            t(en, "Phát hiện bởi", "Found by"),
            t(en, "Số lần", "Times"),
            t(en, "Lần cuối", "Last"),
            t(en, "Chi tiết", "Detail")
        ));
        for a in alarms {
            let kind = a["kind"].as_str().unwrap_or("");
            let label = match (kind, en) {
                ("fork", false) => "rẽ nhánh (hai phiên bản)",
                ("rewound", false) => "bị cắt bớt / khôi phục bản cũ",
                ("bad_signature", false) => "chữ ký không hợp lệ",
                ("fork", true) => "forked (two views)",
                ("rewound", true) => "cut / restored from an older copy",
                ("bad_signature", true) => "bad signature",
                _ => kind,
            };
            let last = lienthong_core::vietnam_time(a["last_ms"].as_i64().unwrap_or(0) / 1000);
            b.push_str(&format!(
                "<tr class=\"alarm alarm-{}\"><td>{}</td><td><strong>{}</strong></td><td>{}</td><td class=num>{}</td><td>{}</td><td>{}</td></tr>",
                esc(kind),
                esc(a["member"].as_str().unwrap_or("")),
                esc(label),
                esc(a["seen_by"].as_str().unwrap_or("")),
                a["count"],
                esc(&last),
                esc(a["detail"].as_str().unwrap_or(""))
            ));
        }
        b.push_str("</table>");
    }
    let witnessed: Vec<&Value> = w["witnessed"].as_array().into_iter().flatten().collect();
    if !witnessed.is_empty() {
        b.push_str(&format!(
            "<table id=\"witnessed\"><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
            t(en, "Nhật ký của", "Log of"),
            t(en, "Số mục đã chứng thực", "Entries cosigned"),
            t(en, "Lần chứng thực cuối", "Last cosigned")
        ));
        for x in witnessed {
            let at = lienthong_core::vietnam_time(x["at_ms"].as_i64().unwrap_or(0) / 1000);
            b.push_str(&format!(
                "<tr><td>{}</td><td class=num>{}</td><td>{}</td></tr>",
                esc(x["member"].as_str().unwrap_or("")),
                x["size"],
                esc(&at)
            ));
        }
        b.push_str("</table>");
    }
}
