//! The node-to-node protocol, version `lt1` (docs/protocol.md): the canonical request and
//! response strings that members sign, and the header names. Pure functions.

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
}

fn clean(v: &str) -> String {
    // Newlines would let one field pose as another in the canonical form.
    v.replace(['\n', '\r'], " ")
}

impl RequestParts<'_> {
    /// Whether every field can be signed unambiguously: no control characters anywhere
    /// (the canonical form separates fields with newlines).
    pub fn is_unambiguous(&self) -> bool {
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
        .iter()
        .all(|f| !f.chars().any(char::is_control))
    }

    /// The canonical request: one field per line, in this order, prefixed by `lt1-request`.
    pub fn canonical(&self) -> String {
        [
            "lt1-request".to_owned(),
            clean(self.method),
            clean(self.path),
            clean(self.query),
            clean(self.client),
            clean(self.service),
            clean(self.message_id),
            self.timestamp.to_string(),
            clean(self.purpose),
            clean(self.user_id),
            clean(self.issue),
            clean(self.body_sha256),
        ]
        .join("\n")
    }

    /// `X-Road-Request-Hash`: SHA-512 of the canonical request, base64.
    pub fn hash(&self) -> String {
        lienthong_trust::sha512_b64(self.canonical().as_bytes())
    }
}

/// What a provider node signs for its answer: bound to the request by its hash.
pub fn canonical_response(
    request_hash: &str,
    status: u16,
    body_sha256: &str,
    timestamp: u64,
) -> String {
    format!("lt1-response\n{request_hash}\n{status}\n{body_sha256}\n{timestamp}")
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

/// Percent-decodes a path segment (`+` stays a plus sign; invalid UTF-8 is replaced).
pub(crate) fn percent_decode_path(s: &str) -> String {
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
        }
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
    }
}
