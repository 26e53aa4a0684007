//! One error type for the exchange, mapped once to an HTTP status and an `X-Road-Error`
//! value: `Client.*` for the caller's faults, `Server.*` for ours. Messages carry no
//! personal data.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

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
    #[error("peer certificate is not the one the registry lists for {0}")]
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
}

impl GatewayError {
    /// The `X-Road-Error` value.
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
        }
    }

    pub fn status(&self) -> StatusCode {
        use GatewayError::*;
        match self {
            BadRequest(_) | PurposeRequired(_) | FieldNotAllowed(_) | StaleMessage(_) => {
                StatusCode::BAD_REQUEST
            }
            InvalidClient(_) | PeerCertificate(_) | BadSignature => StatusCode::UNAUTHORIZED,
            NoAgreement { .. }
            | AgreementNotInForce { .. }
            | PurposeNotAllowed { .. }
            | Revoked(_)
            | Replay(_) => StatusCode::FORBIDDEN,
            UnknownService(_) | NotFound => StatusCode::NOT_FOUND,
            ProviderUnreachable(_) | BadResponse => StatusCode::BAD_GATEWAY,
            Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Registry(_) => StatusCode::SERVICE_UNAVAILABLE,
            Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
            LogUnavailable(_) | Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            UnknownMember(_) => StatusCode::UNAUTHORIZED,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(code = self.code(), error = %self, "exchange failed");
        } else {
            tracing::info!(code = self.code(), error = %self, "request refused");
        }
        // Database and backend errors stay in the node's own logs: their text can carry schema
        // details or values.
        let message = match &self {
            GatewayError::Backend(_) => {
                "the provider's backend failed; the provider's operators have the details"
                    .to_owned()
            }
            other => other.to_string(),
        };
        let body = serde_json::json!({ "type": self.code(), "message": message });
        let mut response = (self.status(), Json(body)).into_response();
        response.headers_mut().insert(
            crate::protocol::xroad::ERROR,
            HeaderValue::from_static(self.code()),
        );
        response
    }
}
