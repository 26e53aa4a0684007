//! The node-to-node protocol, version `lt1` (docs/protocol.md): the canonical request and
//! response strings that members sign, and the header names. Pure functions.

use axum::http;

/// Header names between nodes.
pub mod header {
    pub const CLIENT: &str = "x-lt-client";
    pub const SERVICE: &str = "x-lt-service";
    pub const MESSAGE_ID: &str = "x-lt-message-id";
    pub const TIMESTAMP: &str = "x-lt-timestamp";
    pub const PURPOSE: &str = "x-lt-purpose";
    pub const USER_ID: &str = "x-lt-user-id";
    pub const ISSUE: &str = "x-lt-issue";
    pub const SIGNATURE: &str = "x-lt-signature";
    pub const REQUEST_HASH: &str = "x-lt-request-hash";
    pub const REQUEST_ID: &str = "x-lt-request-id";
    /// The SHA-256 hex of the request body, as signed: lets a provider that refuses a body
    /// before reading it (too large, no room) still sign its refusal for this request.
    pub const BODY_SHA256: &str = "x-lt-body-sha256";
    /// The client's own `X-Road-Id` (its correlation id, which it may reuse), logged beside the
    /// node's message id; replay protection uses the node's id.
    pub const CLIENT_MESSAGE_ID: &str = "x-lt-client-message-id";
}

/// X-Road REST (PR-REST r1) headers on the client face, plus lienthong's purpose header.
pub mod xroad {
    pub const CLIENT: &str = "x-road-client";
    pub const SERVICE: &str = "x-road-service";
    pub const ID: &str = "x-road-id";
    pub const USER_ID: &str = "x-road-userid";
    pub const ISSUE: &str = "x-road-issue";
    pub const REQUEST_ID: &str = "x-road-request-id";
    pub const REQUEST_HASH: &str = "x-road-request-hash";
    pub const ERROR: &str = "x-road-error";
    /// Why the data is needed; mandatory for services returning personal data.
    pub const PURPOSE: &str = "x-lienthong-purpose";
}

/// What a consumer node signs for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// Path after the service id, with its leading `/` (`/records/001090123456`), or empty.
    pub path: &'a str,
    pub query: &'a str,
    pub client: &'a str,
    pub service: &'a str,
    pub message_id: &'a str,
    /// Unix seconds.
    pub timestamp: u64,
    pub purpose: &'a str,
    pub user_id: &'a str,
    pub issue: &'a str,
    /// SHA-256 hex of the request body.
    pub body_sha256: &'a str,
    /// [`headers_sha256`] of the headers passed on to the provider's service; empty when none
    /// are (the canonical form then has no line for them, as before headers were passed).
    pub headers_sha256: &'a str,
}

/// Appends a field and its line break; a line break inside the field is written as a space
/// (it would let one field pose as another in the canonical form).
fn push_line(out: &mut String, v: &str) {
    if v.contains(['\n', '\r']) {
        out.push_str(&v.replace(['\n', '\r'], " "));
    } else {
        out.push_str(v);
    }
    out.push('\n');
}

impl RequestParts<'_> {
    /// Whether every field can be signed unambiguously: no control characters anywhere
    /// (the canonical form separates fields with newlines).
    pub fn is_unambiguous(&self) -> bool {
        self.text_fields()
            .iter()
            .chain([&self.headers_sha256])
            .all(|f| !f.chars().any(char::is_control))
    }

    /// The signed text fields in canonical order; the timestamp goes after the sixth, the
    /// headers' hash last.
    fn text_fields(&self) -> [&str; 10] {
        [
            self.method,
            self.path,
            self.query,
            self.client,
            self.service,
            self.message_id,
            self.purpose,
            self.user_id,
            self.issue,
            self.body_sha256,
        ]
    }

    /// The canonical request: one field per line, in this order, prefixed by `lt1-request`;
    /// the headers' hash last, when headers were passed.
    pub fn canonical(&self) -> String {
        let fields = self.text_fields();
        let len: usize = fields.iter().map(|f| f.len() + 1).sum();
        let mut out = String::with_capacity(len + 32 + self.headers_sha256.len() + 1);
        out.push_str("lt1-request\n");
        let (before, after) = fields.split_at(6);
        for field in before {
            push_line(&mut out, field);
        }
        push_line(&mut out, &self.timestamp.to_string());
        for field in after {
            push_line(&mut out, field);
        }
        if !self.headers_sha256.is_empty() {
            push_line(&mut out, self.headers_sha256);
        }
        // Lines are joined: no break after the last.
        out.pop();
        out
    }

    /// `X-Road-Request-Hash`: SHA-512 of the canonical request, base64.
    pub fn hash(&self) -> String {
        lienthong_trust::sha512_b64(self.canonical().as_bytes())
    }
}

/// What a provider node signs for its answer: bound to the request by its hash; the hash of
/// the headers passed with it last, when there are any.
pub fn canonical_response(
    request_hash: &str,
    status: u16,
    body_sha256: &str,
    timestamp: u64,
    headers_sha256: &str,
) -> String {
    let mut s = format!("lt1-response\n{request_hash}\n{status}\n{body_sha256}\n{timestamp}");
    if !headers_sha256.is_empty() {
        s.push('\n');
        s.push_str(headers_sha256);
    }
    s
}

/// Whether a header travels end to end (PR-REST 4.3): user-defined headers, `Content-Type`,
/// `Accept`, `Authorization`, cache headers, `Location`… do. Not passed: hop-by-hop headers,
/// those that would leak a host's name or address (`Host`, `User-Agent`, `Server`),
/// `Content-Length` and `Date` (each hop writes its own), `Expect`, the nodes' own `x-lt-*`,
/// and the X-Road headers a node sets itself (`X-Road-Error` alone is passed, on answers).
pub fn passes(name: &str) -> bool {
    !(name.starts_with("x-lt-")
        || matches!(
            name,
            "connection"
                | "keep-alive"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "host"
                | "user-agent"
                | "server"
                | "content-length"
                | "date"
                | "expect"
                | "x-road-client"
                | "x-road-service"
                | "x-road-id"
                | "x-road-userid"
                | "x-road-issue"
                | "x-road-request-id"
                | "x-road-request-hash"
                | "x-road-security-server"
                | "x-lienthong-purpose"
        ))
}

/// The headers of `headers` that travel end to end, in their order.
pub fn passed_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for (name, value) in headers {
        if passes(name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// SHA-256 hex over passed headers, names in order and each name's values in the order sent:
/// `name: value\n` per value (header values hold no line breaks). Empty when none pass.
pub fn headers_sha256(headers: &http::HeaderMap) -> String {
    let mut names: Vec<&http::HeaderName> = headers.keys().filter(|n| passes(n.as_str())).collect();
    if names.is_empty() {
        return String::new();
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut text: Vec<u8> = Vec::new();
    for name in names {
        for value in headers.get_all(name) {
            text.extend_from_slice(name.as_str().as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(value.as_bytes());
            text.push(b'\n');
        }
    }
    lienthong_trust::sha256_hex(&text)
}

/// Parses a query string `a=b&c=d` with percent-decoding (bounded by the body limit of the
/// request it came with; invalid escapes are kept as written).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Percent-encodes what a header value should not carry as is: `%`, control characters and
/// every byte outside ASCII (a `X-Road-UserId` in Vietnamese travels between nodes as UTF-8
/// percent-encoded; [`percent_decode_path`] restores it).
pub fn percent_encode_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b'%' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// A header's value as UTF-8 text (`None` when it is not), non-ASCII bytes included: clients
/// may send UTF-8 in header values, which `HeaderValue::to_str` refuses.
pub fn header_text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    match headers.get(name) {
        None => Some(String::new()),
        Some(v) => String::from_utf8(v.as_bytes().to_vec()).ok(),
    }
}

/// Percent-decodes a path segment (`+` stays a plus sign; invalid UTF-8 is replaced).
pub fn percent_decode_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
            out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // Exactly two hex digits (from_str_radix alone would also take "+1").
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += 3;
                continue;
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            parse_query("province_code=01&limit=5&name=Nguy%E1%BB%85n+A"),
            vec![
                ("province_code".into(), "01".into()),
                ("limit".into(), "5".into()),
                ("name".into(), "Nguyễn A".into())
            ]
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+1"), "% 1");
    }

    fn parts() -> RequestParts<'static> {
        RequestParts {
            method: "GET",
            path: "/records/001090123456",
            query: "",
            client: "VN/GOV/BHXH/SI",
            service: "VN/GOV/BCA/DANCU/citizen",
            message_id: "m1",
            timestamp: 1_700_000_000,
            purpose: "insurance-enrolment",
            user_id: "",
            issue: "",
            body_sha256: "e3b0",
            headers_sha256: "",
        }
    }

    #[test]
    fn canonical_form_is_the_fields_joined_by_line_breaks() {
        // The form as it was first written: each field cleaned, then joined.
        let joined = |p: &RequestParts| {
            let clean = |v: &str| v.replace(['\n', '\r'], " ");
            let mut lines = vec![
                "lt1-request".to_owned(),
                clean(p.method),
                clean(p.path),
                clean(p.query),
                clean(p.client),
                clean(p.service),
                clean(p.message_id),
                p.timestamp.to_string(),
                clean(p.purpose),
                clean(p.user_id),
                clean(p.issue),
                clean(p.body_sha256),
            ];
            if !p.headers_sha256.is_empty() {
                lines.push(clean(p.headers_sha256));
            }
            lines.join("\n")
        };
        let base = parts();
        for text in ["", "a", "x\ny", "\r\n", "trailing\n", "Nguyễn\rVăn", "\n"] {
            let mut p = parts();
            p.query = text;
            p.user_id = text;
            p.issue = text;
            assert_eq!(p.canonical(), joined(&p), "{text:?}");
            p.headers_sha256 = text;
            assert_eq!(p.canonical(), joined(&p), "{text:?}");
            p.method = text;
            p.body_sha256 = text;
            assert_eq!(p.canonical(), joined(&p), "{text:?}");
        }
        assert_eq!(base.canonical(), joined(&base));
    }

    #[test]
    fn canonical_form_is_stable_and_unambiguous() {
        let c = parts().canonical();
        assert!(c.starts_with("lt1-request\nGET\n/records/001090123456\n\nVN/GOV/BHXH/SI\n"));
        let mut injected = parts();
        injected.purpose = "a\nb";
        assert_eq!(injected.canonical().lines().count(), c.lines().count());
        let mut other = parts();
        other.message_id = "m2";
        assert_ne!(other.hash(), parts().hash());
        let mut headed = parts();
        headed.headers_sha256 = "ab12";
        assert_eq!(headed.canonical().lines().count(), c.lines().count() + 1);
    }

    #[test]
    fn passed_headers_hash_in_name_order_and_skip_hop_by_hop() {
        let mut a = http::HeaderMap::new();
        a.append("accept", "application/json".parse().unwrap());
        a.append("x-custom", "1".parse().unwrap());
        a.append("x-custom", "2".parse().unwrap());
        a.append("connection", "keep-alive".parse().unwrap());
        a.append("x-lt-signature", "s".parse().unwrap());
        let mut b = http::HeaderMap::new();
        b.append("x-custom", "1".parse().unwrap());
        b.append("x-custom", "2".parse().unwrap());
        b.append("accept", "application/json".parse().unwrap());
        assert_eq!(headers_sha256(&a), headers_sha256(&b));
        assert_eq!(passed_headers(&a).len(), 3);
        let mut c = b.clone();
        c.remove("x-custom");
        c.append("x-custom", "2".parse().unwrap());
        c.append("x-custom", "1".parse().unwrap());
        assert_ne!(headers_sha256(&c), headers_sha256(&b));
        assert_eq!(headers_sha256(&http::HeaderMap::new()), "");
    }

    #[test]
    fn non_ascii_header_values_round_trip() {
        for v in ["Nguyễn Văn An", "EE12345678901", "50%", "a\tb"] {
            let encoded = percent_encode_header(v);
            assert!(encoded.is_ascii() && !encoded.contains('\t'));
            assert_eq!(percent_decode_path(&encoded), v);
        }
        assert_eq!(percent_encode_header("EE123"), "EE123");
    }
}
