//! REST-proxied services: the call forwarded to the agency's existing API, the agreement
//! applied to its JSON answer.

use super::*;

/// Forwards the call to the REST backend and applies the agreement to its JSON answer: a
/// top-level object (or each object of a top-level array) keeps only allowed fields, with
/// sensitive fields masked under `*`. Anything else must not carry personal data.
pub(super) async fn proxy(
    node: &Inner,
    backend: &RestConfig,
    method: &Method,
    signed: &RequestParts<'_>,
    incoming: Incoming<'_>,
    agreement: &Agreement,
    dataset: &catalog::Dataset,
) -> Result<Answered, GatewayError> {
    let Incoming { body, room } = incoming;
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
    let request = hyper::Request::builder()
        .method(method.clone())
        .uri(&uri)
        .header("content-type", "application/json")
        .header("x-road-client", signed.client)
        .header("x-road-userid", signed.user_id)
        .header("x-lienthong-purpose", signed.purpose)
        .body(Full::new(body))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let timeout = Duration::from_millis(node.config.request_timeout_ms);
    let response = tokio::time::timeout(timeout, node.backend_client.request(request))
        .await
        .map_err(|_| GatewayError::Timeout(node.config.request_timeout_ms))?
        .map_err(|e| GatewayError::Backend(format!("REST backend {}: {e}", backend.code)))?;
    let status = response.status();
    // The answer's text, its parsed JSON (a few times the text) and the projected copy, in
    // the same room as the call's request.
    let bytes = node
        .read_body(response.into_body(), room, 5)
        .await
        .map_err(|e| e.or(|m| GatewayError::Backend(format!("REST backend body: {m}"))))?;
    if bytes.is_empty() {
        return Ok((status, Vec::new(), Vec::new()));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
        GatewayError::Backend(format!(
            "REST backend {} answered non-JSON; refused so that no field escapes the agreement",
            backend.code
        ))
    })?;
    let filter = |v: serde_json::Value| match v {
        serde_json::Value::Object(map) => {
            let row = map
                .into_iter()
                .filter_map(|(k, v)| {
                    dataset.field(&k).map(|f| {
                        (
                            f.name,
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                })
                .collect();
            serde_json::Value::Object(project(row, agreement, dataset))
        }
        other => other,
    };
    let projected = match value {
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(filter).collect())
        }
        serde_json::Value::Object(_) => filter(value),
        _ => {
            return Err(GatewayError::Backend(format!(
                "REST backend {} answered a bare JSON value",
                backend.code
            )))
        }
    };
    let out = serde_json::to_vec(&projected).map_err(|e| GatewayError::Backend(e.to_string()))?;
    let (subjects, _) = crate::record::subjects_and_fields(Some(dataset), "", &bytes);
    Ok((status, out, subjects))
}
