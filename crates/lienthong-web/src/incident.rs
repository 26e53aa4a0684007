//! The breach notice (Law 91/2025 Art. 23) as a printable page in Vietnamese, from an
//! incident and the facts its message logs hold. Every value is escaped.

use lienthong_gateway::incident::{Facts, Incident};

use crate::esc;

/// Who sends the notice.
pub struct Sender<'a> {
    /// The agency (controller) and its member id.
    pub agency: &'a str,
    pub member: &'a str,
    /// The person to contact about the breach (name, phone, e-mail as one line).
    pub contact: &'a str,
}

fn when(unix_s: u64) -> String {
    lienthong_core::vietnam_time(unix_s as i64)
}

/// The notice, a whole HTML page (`lang="vi"`), printable (A4, no navigation).
pub fn notice_html(i: &Incident, f: &Facts, sender: &Sender<'_>, now: u64) -> String {
    let remaining = i.remaining_s(now);
    let clock = if i.notified_at.is_some() {
        format!(
            "Đã gửi thông báo lúc {}",
            esc(&when(i.notified_at.unwrap_or(0)))
        )
    } else if remaining >= 0 {
        format!(
            "Còn {} giờ {} phút đến hạn thông báo",
            remaining / 3600,
            remaining % 3600 / 60
        )
    } else {
        format!(
            "QUÁ HẠN {} giờ {} phút",
            (-remaining) / 3600,
            (-remaining) % 3600 / 60
        )
    };
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            return "<li>—</li>".to_owned();
        }
        m.iter()
            .map(|(k, n)| {
                format!(
                    "<li>{}: {n} lượt</li>",
                    esc(if k.is_empty() { "(không ghi)" } else { k })
                )
            })
            .collect::<String>()
    };
    let consumers = if f.consumers.is_empty() {
        "<tr><td colspan=3>—</td></tr>".to_owned()
    } else {
        f.consumers
            .iter()
            .map(|(c, (n, s))| {
                format!(
                    "<tr><td>{}</td><td class=num>{n}</td><td class=num>{s}</td></tr>",
                    esc(c)
                )
            })
            .collect()
    };
    let fields = if f.fields.is_empty() {
        "—".to_owned()
    } else {
        f.fields
            .iter()
            .map(|x| esc(x))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let period = match (f.first, f.last) {
        (Some(a), Some(b)) => format!("từ {} đến {}", esc(&when(a)), esc(&when(b))),
        _ => "không có lượt trao đổi nào trong khoảng thời gian nêu".into(),
    };
    format!(
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Thông báo vi phạm {id}</title>
<style>body{{font-family:"Times New Roman",serif;max-width:48rem;margin:2rem auto;color:#111;line-height:1.45}}
h1{{font-size:1.25rem;text-align:center;text-transform:uppercase}}.center{{text-align:center}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #444;padding:.25rem .5rem;text-align:left}}.num{{text-align:right}}
.clock{{border:2px solid #b91c1c;padding:.4rem .6rem;font-weight:bold;color:#b91c1c}}
@media print{{.clock{{display:none}}body{{margin:0}}}}@page{{size:A4;margin:2cm}}</style></head>
<body>
<p class="center"><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><br>Độc lập – Tự do – Hạnh phúc</p>
<h1 id="notice-title">Thông báo vi phạm quy định về bảo vệ dữ liệu cá nhân</h1>
<p class="center">Số: {id}</p>
<p>Kính gửi: Cục An ninh mạng và phòng, chống tội phạm sử dụng công nghệ cao (A05), Bộ Công an.</p>
<p>Căn cứ Điều 23 Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15 và Nghị định số 356/2025/NĐ-CP, {agency} ({member}) thông báo vi phạm như sau.</p>
<p class="clock" id="clock">{clock}</p>
<h2>1. Mô tả vi phạm</h2><p><b>{title}</b></p><p>{description}</p>
<h2>2. Thời điểm</h2><ul>
<li>Phát hiện: <span id="discovered">{discovered}</span></li>
<li>Hạn thông báo (72 giờ kể từ khi phát hiện): <span id="deadline">{deadline}</span></li>
<li>Khoảng thời gian xem xét: từ {from} đến {to}</li>
<li>Các lượt trao đổi liên quan diễn ra: {period}</li></ul>
<h2>3. Loại dữ liệu cá nhân liên quan</h2><p id="fields">{fields}</p>
<h2>4. Số lượng chủ thể dữ liệu và lượt trao đổi</h2>
<p>Chủ thể dữ liệu: <b id="subjects">{subjects}</b> người. Lượt trao đổi: <b id="exchanges">{exchanges}</b> (đã cung cấp dữ liệu: {answered}; bị từ chối: {refused}).</p>
<h3>Bên đã nhận dữ liệu</h3><table id="consumers"><tr><th>Thành viên</th><th>Lượt</th><th>Chủ thể dữ liệu</th></tr>{consumers}</table>
<h3>Dịch vụ</h3><ul>{services}</ul>
<h3>Cán bộ thực hiện (X-Road-UserId)</h3><ul>{officers}</ul>
<h3>Mục đích đã nêu</h3><ul>{purposes}</ul>
<h2>5. Nguồn số liệu</h2><p>Số liệu lấy từ nhật ký trao đổi có chữ ký và chứng thực của nút {member}; chủ thể dữ liệu được đếm theo bút danh lưu trong nhật ký (không lưu số định danh dạng rõ).</p>
<h2>6. Người liên hệ</h2><p id="contact">{contact}</p>
<p style="margin-top:3rem;text-align:right">Lập lúc {now}</p>
</body></html>"#,
        id = esc(&i.id),
        agency = esc(sender.agency),
        member = esc(sender.member),
        clock = clock,
        title = esc(&i.title),
        description = esc(&i.description),
        discovered = esc(&when(i.discovered_at)),
        deadline = esc(&when(i.deadline())),
        from = esc(&when(i.from)),
        to = esc(&when(i.to)),
        period = period,
        fields = fields,
        subjects = f.subjects,
        exchanges = f.exchanges,
        answered = f.answered,
        refused = f.refused,
        consumers = consumers,
        services = list(&f.services),
        officers = list(&f.officers),
        purposes = list(&f.purposes),
        contact = esc(sender.contact),
        now = esc(&when(now)),
    )
}
