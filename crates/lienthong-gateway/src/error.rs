//! One error type for the exchange, answered in X-Road's REST error form (PR-REST 4.6):
//! `{type, message, detail}` in JSON, or XML when the client prefers it, with status 400 for
//! the client's faults (`Client.*`) and 500 for ours (`Server.ClientProxy.*` on the consumer's
//! node, `Server.ServerProxy.*` on the provider's), and the type again in `X-Road-Error`.
//! Messages carry no personal data.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("client {0} is not a subsystem of this node's member")]
    InvalidClient(String),
    #[error("unknown member or service: {0}")]
    UnknownService(String),
    #[error("no agreement allows {consumer} to call {service}")]
    NoAgreement { consumer: String, service: String },
    #[error("agreement for {service} is not in force today ({from} to {to})")]
    AgreementNotInForce {
        service: String,
        from: String,
        to: String,
    },
    #[error(
        "a purpose (header X-Lienthong-Purpose) is mandatory for {0}, which returns personal data"
    )]
    PurposeRequired(String),
    #[error("purpose {purpose} is not allowed by the agreement for {service}")]
    PurposeNotAllowed { purpose: String, service: String },
    #[error("field(s) not allowed by the agreement: {0}")]
    FieldNotAllowed(String),
    #[error("member {0} is revoked")]
    Revoked(String),
    #[error("peer certificate is not the one the registry lists for {0}, or does not name it")]
    PeerCertificate(String),
    #[error("message signature does not verify")]
    BadSignature,
    #[error("message {0} was already received (replay)")]
    Replay(String),
    #[error("message timestamp is outside the accepted window of {0} s")]
    StaleMessage(u64),
    #[error("record not found")]
    NotFound,
    #[error("provider node unreachable: {0}")]
    ProviderUnreachable(String),
    #[error("provider node did not answer within {0} ms")]
    Timeout(u64),
    #[error("provider response signature or request hash does not verify")]
    BadResponse,
    #[error("registry snapshot unusable: {0}")]
    Registry(String),
    #[error("backend failed: {0}")]
    Backend(String),
    #[error("message log unavailable: {0}")]
    LogUnavailable(String),
    #[error("{0}")]
    Busy(String),
    #[error("member {0} is not registered")]
    UnknownMember(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    NotProjectable(String),
    #[error("no service description: {0}")]
    NoServiceDescription(String),
    #[error("{0} requires the officer's id (header X-Road-UserId)")]
    UserIdRequired(String),
    #[error("the agreement for {0} does not include its change feed (changes = true)")]
    ChangeFeedNotAllowed(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The agreement rests on consent and the person has not given it (or withdrew it).
    #[error("{0}")]
    NoConsent(String),
}

/// Where an error is answered: the node a client called, or the provider's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The consumer's node (X-Road's client proxy).
    Consumer,
    /// The provider's node (X-Road's server proxy).
    Provider,
}

impl GatewayError {
    /// lienthong's own code: `Client.*` for the caller's faults, `Server.*` for a node's. The
    /// message log, metrics and `X-Road-Error` (see [`GatewayError::xroad_type`]) carry it.
    pub fn code(&self) -> &'static str {
        use GatewayError::*;
        match self {
            BadRequest(_) => "Client.BadRequest",
            InvalidClient(_) => "Client.InvalidClient",
            UnknownService(_) => "Client.UnknownService",
            NoAgreement { .. } => "Client.AccessDenied",
            AgreementNotInForce { .. } => "Client.AgreementNotInForce",
            PurposeRequired(_) => "Client.PurposeRequired",
            PurposeNotAllowed { .. } => "Client.PurposeNotAllowed",
            FieldNotAllowed(_) => "Client.FieldNotAllowed",
            Revoked(_) => "Client.Revoked",
            PeerCertificate(_) => "Client.PeerCertificate",
            BadSignature => "Client.BadSignature",
            Replay(_) => "Client.Replay",
            StaleMessage(_) => "Client.StaleMessage",
            NotFound => "Client.NotFound",
            ProviderUnreachable(_) => "Server.ProviderUnreachable",
            Timeout(_) => "Server.Timeout",
            BadResponse => "Server.BadResponseSignature",
            Registry(_) => "Server.RegistryUnavailable",
            Backend(_) => "Server.BackendFailed",
            LogUnavailable(_) => "Server.MessageLogUnavailable",
            Busy(_) => "Server.Busy",
            UnknownMember(_) => "Client.UnknownMember",
            MethodNotAllowed(_) => "Client.MethodNotAllowed",
            NotProjectable(_) => "Server.NotProjectable",
            NoServiceDescription(_) => "Server.NoServiceDescription",
            UserIdRequired(_) => "Client.UserIdRequired",
            ChangeFeedNotAllowed(_) => "Client.ChangeFeedNotAllowed",
            TooManyRequests(_) => "Client.TooManyRequests",
            NoConsent(_) => "Client.NoConsent",
        }
    }

    /// Whether the caller is at fault (the request, its rights, its identity).
    pub fn is_client_fault(&self) -> bool {
        self.code().starts_with("Client.")
    }

    /// The X-Road error type: the code itself for a client's fault; for a node's, the code
    /// under the proxy that failed (`Server.BackendFailed` on the provider's node is
    /// `Server.ServerProxy.BackendFailed`).
    pub fn xroad_type(&self, side: Side) -> String {
        let code = self.code();
        match code.strip_prefix("Server.") {
            None => code.to_owned(),
            Some(rest) => match side {
                Side::Consumer => format!("Server.ClientProxy.{rest}"),
                Side::Provider => format!("Server.ServerProxy.{rest}"),
            },
        }
    }

    /// 400 for the client's faults, 500 for the nodes' (PR-REST 4.6, categories 3 and 4).
    pub fn status(&self) -> StatusCode {
        if self.is_client_fault() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    /// The message sent to the caller. Database and backend errors stay in the node's own
    /// logs: their text can carry schema details or values.
    pub fn public_message(&self) -> String {
        match self {
            GatewayError::Backend(_) => {
                "the provider's backend failed; the provider's operators have the details"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The X-Road error answer: status, headers (`Content-Type`, `X-Road-Error`) and
    /// `{type, message, detail}` as JSON or, when `accept` prefers it, XML; `detail` is the id
    /// the node logged the call under, so operators on either side can find it.
    pub fn render(&self, side: Side, accept: &HeaderMap, detail: &str) -> Rendered {
        // Messages quote what callers sent: escaped, so no value can forge a log line.
        let logged = printable(&self.to_string());
        let detail_logged = printable(detail);
        if self.status().is_server_error() {
            tracing::error!(code = self.code(), error = %logged, detail = %detail_logged, "exchange failed");
        } else {
            tracing::info!(code = self.code(), error = %logged, detail = %detail_logged, "request refused");
        }
        let kind = self.xroad_type(side);
        let message = self.public_message();
        let (content_type, body) = if prefers_xml(accept) {
            (XML, error_xml(&kind, &message, detail))
        } else {
            let body = serde_json::json!({ "type": kind, "message": message, "detail": detail });
            (JSON, body.to_string())
        };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        if let Ok(v) = HeaderValue::from_str(&kind) {
            headers.insert(crate::protocol::xroad::ERROR, v);
        }
        Rendered {
            status: self.status(),
            headers,
            body: body.into_bytes(),
        }
    }

    /// [`GatewayError::render`] as a response.
    pub fn respond(&self, side: Side, accept: &HeaderMap, detail: &str) -> Response {
        self.render(side, accept, detail).into_response()
    }
}

/// An answer a node writes itself: status, headers, body.
pub struct Rendered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Rendered {
    pub fn into_response(self) -> Response {
        let mut response = Response::new(axum::body::Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// Text for the node's own logs: control characters (line breaks, terminal escapes) written
/// as escapes, everything else as is.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `Content-Type` of the answers a node writes itself.
pub const JSON: &str = "application/json; charset=utf-8";
pub const XML: &str = "application/xml; charset=utf-8";

/// Whether `Accept` ranks an XML type above JSON (by `q`, then by order); JSON is the default
/// (PR-REST 4.3), also for `*/*` and for types neither form serves.
pub fn prefers_xml(headers: &HeaderMap) -> bool {
    // The highest q among the types either form serves; at equal q the first listed.
    let mut best: Option<(f32, bool)> = None;
    for (media, q) in accept_ranges(headers) {
        let xml = match media.as_str() {
            "application/xml" | "text/xml" => true,
            "application/json" | "application/*" | "*/*" => false,
            m if m.ends_with("+xml") => true,
            m if m.ends_with("+json") => false,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, xml));
        }
    }
    best.is_some_and(|(_, xml)| xml)
}

/// Whether `Accept` asks for JSON by name (`application/json` or a `+json` type, q > 0):
/// `listClients` answers XML otherwise.
pub fn accepts_json(headers: &HeaderMap) -> bool {
    accept_ranges(headers)
        .iter()
        .any(|(m, _)| m == "application/json" || m.ends_with("+json"))
}

/// The media ranges of `Accept`, in the order sent, lowercase, with their `q` (those with
/// `q=0`, refused, left out).
fn accept_ranges(headers: &HeaderMap) -> Vec<(String, f32)> {
    headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((media, q))
        })
        .collect()
}

/// The XML form of an X-Road REST error.
fn error_xml(kind: &str, message: &str, detail: &str) -> String {
    use quick_xml::escape::escape;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><type>{}</type><message>{}</message><detail>{}</detail></error>\n",
        escape(kind),
        escape(message),
        escape(detail)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn xml_only_when_the_client_ranks_it_first() {
        assert!(!prefers_xml(&HeaderMap::new()));
        assert!(prefers_xml(&accept("application/xml")));
        assert!(prefers_xml(&accept("text/xml, application/json")));
        assert!(!prefers_xml(&accept("application/json, application/xml")));
        assert!(prefers_xml(&accept(
            "application/json;q=0.5, application/xml"
        )));
        assert!(!prefers_xml(&accept("*/*")));
        assert!(!prefers_xml(&accept("text/html")));
        assert!(prefers_xml(&accept("application/soap+xml")));
        assert!(!prefers_xml(&accept("application/xml;q=0")));
    }

    #[test]
    fn types_name_the_proxy_that_failed_and_statuses_are_400_or_500() {
        let e = GatewayError::Backend("x".into());
        assert_eq!(
            e.xroad_type(Side::Provider),
            "Server.ServerProxy.BackendFailed"
        );
        assert_eq!(
            e.xroad_type(Side::Consumer),
            "Server.ClientProxy.BackendFailed"
        );
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let e = GatewayError::PurposeRequired("s".into());
        assert_eq!(e.xroad_type(Side::Provider), "Client.PurposeRequired");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn logged_text_cannot_break_a_line() {
        assert_eq!(
            printable("a\nFAKE line\u{1b}[31m Nguyễn"),
            "a\\nFAKE line\\u{1b}[31m Nguyễn"
        );
    }

    #[test]
    fn xml_errors_are_escaped() {
        let x = error_xml("Client.BadRequest", "a <b> & \"c\"", "d");
        assert!(
            x.contains("<message>a &lt;b&gt; &amp; &quot;c&quot;</message>"),
            "{x}"
        );
    }
}
