//! REST-proxied services: the call forwarded to the agency's existing API as the client sent
//! it (method, sub-path, query, body, headers), its answer passed back as the API gave it
//! (status, headers, body, redirects unfollowed), except that the agreement is applied to JSON
//! answers when it limits fields.

use super::*;

/// What the client sent beyond the signed parts: its method, the headers that pass, and its
/// `X-Road-Id` (the provider's service sees the client's correlation id, as in X-Road).
pub(super) struct Forward<'a> {
    pub(super) method: &'a Method,
    pub(super) headers: HeaderMap,
    pub(super) client_message_id: &'a str,
}

/// Forwards the call to the REST backend; see the module's documentation. A non-JSON success
/// under an agreement that limits fields is refused (`Server.ServerProxy.NotProjectable`): the
/// node cannot tell which fields it carries. Error answers and redirects of any type pass.
pub(super) async fn proxy(
    node: &Inner,
    backend: &RestConfig,
    signed: &RequestParts<'_>,
    forward: Forward<'_>,
    incoming: Incoming<'_>,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> Result<Answered, GatewayError> {
    let Incoming { body, room } = incoming;
    let Forward {
        method,
        headers: passed,
        client_message_id,
    } = forward;
    let projects = limits_fields(agreement, dataset);
    let query = if signed.query.is_empty() {
        String::new()
    } else {
        format!("?{}", signed.query)
    };
    let uri = format!(
        "{}{}{query}",
        backend.base_url.trim_end_matches('/'),
        signed.path
    );
    let mut request = hyper::Request::builder().method(method.clone()).uri(&uri);
    if let Some(headers) = request.headers_mut() {
        *headers = passed;
        // A compressed answer could not be projected: ask for it plain when projecting.
        if projects {
            headers.remove("accept-encoding");
        }
        let user_id = crate::protocol::percent_encode_header(signed.user_id);
        for (name, value) in [
            (xroad::CLIENT, signed.client),
            (xroad::SERVICE, signed.service),
            (xroad::ID, client_message_id),
            (xroad::USER_ID, user_id.as_str()),
            (xroad::ISSUE, signed.issue),
            (xroad::PURPOSE, signed.purpose),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                if !value.is_empty() {
                    headers.insert(name, v);
                }
            }
        }
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let timeout = Duration::from_millis(node.config.request_timeout_ms);
    let response = tokio::time::timeout(timeout, node.backend_client.request(request))
        .await
        .map_err(|_| GatewayError::Timeout(node.config.request_timeout_ms))?
        .map_err(|e| GatewayError::Backend(format!("REST backend {}: {e}", backend.code)))?;
    let (parts, body) = response.into_parts();
    // The API's headers, less those each hop writes itself and the X-Road headers the nodes
    // set (an API must not pose as a node: PR-REST 4.3).
    let mut headers = crate::protocol::passed_headers(&parts.headers);
    headers.remove(xroad::ERROR);
    // The answer's text, its parsed JSON (a few times the text) and the projected copy, in
    // the same room as the call's request.
    let bytes = node
        .read_body(body, room, 5)
        .await
        .map_err(|e| e.or(|m| GatewayError::Backend(format!("REST backend body: {m}"))))?;
    if !projects || bytes.is_empty() || !parts.status.is_success() {
        // Passed as it is: its persons and fields read from the text as it is parsed.
        let (subjects, fields) = crate::answer::subjects_and_fields(Some(dataset), "", &bytes);
        return Ok(Answered {
            status: parts.status,
            headers,
            body: bytes,
            subjects,
            fields,
        });
    }
    let content_type = header_str(&headers, "content-type").to_ascii_lowercase();
    let media = content_type.split(';').next().unwrap_or("").trim();
    let json_type = media == "application/json" || media.ends_with("+json");
    let not_projectable = || {
        GatewayError::NotProjectable(format!(
            "service {} answered {}, which the agreement's field list cannot be applied to",
            signed.service,
            if media.is_empty() {
                "no content type"
            } else {
                media
            }
        ))
    };
    if !json_type && !media.is_empty() {
        return Err(not_projectable());
    }
    if header_str(&headers, "content-encoding")
        .split(',')
        .any(|e| !e.trim().eq_ignore_ascii_case("identity") && !e.trim().is_empty())
    {
        return Err(not_projectable());
    }
    // Parsed once: its persons (before the projection), the projection and its fields.
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| not_projectable())?;
    let (subjects, _) = crate::answer::subjects_and_fields_of(Some(dataset), "", &value);
    let projected = project_json(value, agreement, dataset).ok_or_else(not_projectable)?;
    let out = serde_json::to_vec(&projected).map_err(|e| GatewayError::Backend(e.to_string()))?;
    let (_, fields) = crate::answer::subjects_and_fields_of(Some(dataset), "", &projected);
    headers.remove("etag");
    headers.remove("content-md5");
    headers.remove("digest");
    Ok(Answered {
        status: parts.status,
        headers,
        body: Bytes::from(out),
        subjects,
        fields,
    })
}
