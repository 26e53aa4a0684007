//! The client face: X-Road REST calls of the agency's own systems, signed and sent to the
//! provider's node; the answer verified and logged before it is returned.

use super::*;
use tracing::Instrument;

/// Client face: `{METHOD} /r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}[/path][?query]`.
pub(super) async fn consumer(State(node): State<Arc<Inner>>, request: Request) -> Response {
    // The path as the client sent it: percent-encoded bytes of the sub-path reach the
    // provider unchanged (axum's `Path` would decode them, and refuse non-UTF-8).
    let path = request.uri().path();
    let rest = match path.strip_prefix("/r1/") {
        Some(rest) => rest.to_owned(),
        // PR-META's `listClients` lives outside `/r1`.
        None if path == "/listClients" => "listClients".to_owned(),
        None => String::new(),
    };
    let started = std::time::Instant::now();
    let member = node.config.member.to_string();
    let service = service_label(&node, &rest);
    // The request's parts stay here: a refusal's log entry is made from them.
    let (parts, body) = request.into_parts();
    // The agency system's trace, continued, or a new one for this exchange.
    let trace = parts
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::trace::Trace::parse)
        .unwrap_or_default();
    let span = trace.span("consumer", &service);
    let sent = trace.header(&crate::trace::span_id(&span));
    let (response, code) = match consume(&node, &rest, &parts, body, (&trace.trace_id, &sent))
        .instrument(span.clone())
        .await
    {
        Ok(r) => {
            let code = if r.status().is_success() {
                "ok"
            } else {
                "provider_error"
            };
            (r, code)
        }
        Err(e) => {
            let code = e.code();
            let id = log_refusal(&node, &rest, &parts, &e, &trace.trace_id).await;
            (e.respond(Side::Consumer, &parts.headers, &id), code)
        }
    };
    crate::telemetry::exchange("consumer", &member, &service, code, started);
    response
}

/// Logs a call this node refused or could not complete, before answering it, and returns the
/// id it is logged under (the error's `detail`). A log that cannot take it is itself the
/// failure being answered, or will be at the next exchange.
pub(super) async fn log_refusal(
    node: &Inner,
    rest: &str,
    parts: &axum::http::request::Parts,
    error: &GatewayError,
    trace_id: &str,
) -> String {
    let headers = &parts.headers;
    // The client's id when it is one the exchange would accept, else one made up.
    let message_id = match header_str(headers, xroad::ID) {
        id if !id.is_empty() && id.len() <= MESSAGE_ID_BYTES_MAX => id.to_owned(),
        _ => new_message_id(),
    };
    if matches!(error, GatewayError::LogUnavailable(_)) {
        return message_id;
    }
    let reason = error.to_string();
    // The target and query as sent may name a person: pseudonymised like every record.
    let (target, query) = match &node.pseudonyms {
        Some(p) => (
            p.redact(rest, &[]),
            p.redact(parts.uri.query().unwrap_or(""), &[]),
        ),
        None => (rest.to_owned(), parts.uri.query().unwrap_or("").to_owned()),
    };
    let reason = match &node.pseudonyms {
        Some(p) => p.redact(&reason, &[]),
        None => reason,
    };
    let record = crate::record::Refusal {
        message_id: &message_id,
        client: header_str(headers, xroad::CLIENT),
        target: &target,
        user_id: &header_text(headers, xroad::USER_ID).unwrap_or_default(),
        purpose: header_str(headers, xroad::PURPOSE),
        method: parts.method.as_str(),
        query: &query,
        timestamp: now_s(),
        code: error.code(),
        reason: &reason,
        registry_version: node.snapshot.current().map_or(0, |s| s.version),
    };
    let mut entry = record.to_json();
    entry["client_system"] = client_system(node, parts).into();
    if !trace_id.is_empty() {
        entry["trace_id"] = trace_id.into();
    }
    if let Err(e) = node.log.append(&message_id, &entry, Vec::new()).await {
        tracing::error!(error = %e, "message log append failed for a refused call");
    }
    message_id
}

/// The registered information system that made the call (its certificate, under SSLAUTH);
/// empty on a face without client certificates.
pub(super) fn client_system(node: &Inner, parts: &axum::http::request::Parts) -> String {
    parts
        .extensions
        .get::<PeerFingerprint>()
        .and_then(|f| node.config.client_auth.system(&f.0))
        .unwrap_or_default()
        .to_owned()
}

/// The calling subsystem from `X-Road-Client` (PR-REST): the last such header counts, and each
/// part is percent-decoded.
pub(super) fn xroad_client(headers: &HeaderMap) -> Result<MemberId, GatewayError> {
    let value = headers
        .get_all(xroad::CLIENT)
        .iter()
        .next_back()
        .map(|v| v.to_str().unwrap_or_default())
        .unwrap_or_default();
    if value.is_empty() {
        return Err(GatewayError::BadRequest(
            "X-Road-Client header is mandatory".into(),
        ));
    }
    let decoded: Vec<String> = value
        .split('/')
        .map(crate::protocol::percent_decode)
        .collect();
    if decoded.iter().any(|p| p.contains('/')) {
        return Err(GatewayError::BadRequest(format!(
            "X-Road-Client {value:?}: a part holds an encoded '/'"
        )));
    }
    MemberId::parse(&decoded.join("/")).map_err(|e| GatewayError::BadRequest(e.to_string()))
}

/// The purpose of a call that names none: the node's configured default for the service, else
/// the single purpose of the client's agreement in force for it; otherwise none.
pub(super) fn default_purpose(
    node: &Inner,
    snapshot: &crate::snapshot::Installed,
    client: &MemberId,
    service: &str,
) -> String {
    if let Some(p) = node.config.default_purposes.get(service) {
        return p.clone();
    }
    let today = today();
    let mut purposes = snapshot
        .agreements(&client.to_string(), service)
        .filter(|a| {
            a.valid_from.as_str() <= today.as_str() && today.as_str() <= a.valid_to.as_str()
        })
        .flat_map(|a| a.purposes.iter());
    match (purposes.next(), purposes.next()) {
        (Some(only), None) => only.clone(),
        _ => String::new(),
    }
}

/// X-Road metadata services, answered from the registry snapshot; `None` for ordinary calls.
/// `listClients` needs no client; the provider's `listMethods`, `allowedMethods` and
/// `getOpenAPI` are X-Road service calls and need this node's `X-Road-Client`.
pub(super) fn metadata_call(
    node: &Inner,
    rest: &str,
    parts: &axum::http::request::Parts,
) -> Result<Option<Response>, GatewayError> {
    use crate::metadata;
    let segments: Vec<&str> = rest.split('/').collect();
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let is_meta = match segments.as_slice() {
        ["listClients"] => true,
        [_, _, _, _, method] => metadata::METHODS.contains(method),
        _ => false,
    };
    if !is_meta {
        return Ok(None);
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Err(GatewayError::MethodNotAllowed(format!(
            "metadata services answer GET and HEAD only, not {}",
            parts.method
        )));
    }
    let snapshot = node.snapshot.current()?;
    let mut service = String::new();
    let (answer, xml) = match segments.as_slice() {
        ["listClients"] => {
            let instance =
                param("xRoadInstance").unwrap_or_else(|| node.config.member.instance.clone());
            let list = metadata::list_clients(&snapshot, &instance);
            // XML unless the client asks for JSON (PR-META 2).
            let json = crate::error::accepts_json(&parts.headers)
                && !crate::error::prefers_xml(&parts.headers);
            let xml = (!json).then(|| metadata::list_clients_xml(&list));
            (list, xml)
        }
        [i, c, m, s, method] => {
            let client = xroad_client(&parts.headers)?;
            if client != node.config.member {
                return Err(GatewayError::InvalidClient(client.to_string()));
            }
            let decode = |p: &str| crate::protocol::percent_decode_path(p);
            let provider = MemberId::parse(&format!(
                "{}/{}/{}/{}",
                decode(i),
                decode(c),
                decode(m),
                decode(s)
            ))
            .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
            service = format!("{provider}/{method}");
            let is_rest = |id: &str| snapshot.service(id).is_some_and(|s| s.rest);
            let answer = match *method {
                "listMethods" => metadata::methods(&snapshot, &provider, None, &today(), is_rest),
                "allowedMethods" => {
                    metadata::methods(&snapshot, &provider, Some(&client), &today(), is_rest)
                }
                _ => {
                    let code = param("serviceCode")
                        .filter(|c| !c.is_empty())
                        .ok_or_else(|| {
                            GatewayError::BadRequest("getOpenAPI needs ?serviceCode=CODE".into())
                        })?;
                    metadata::open_api(&snapshot, &provider, &code)?
                }
            };
            (answer, None)
        }
        _ => return Ok(None),
    };
    let (content_type, body) = match xml {
        Some(x) => ("text/xml; charset=utf-8", x.into_bytes()),
        None => (crate::error::JSON, answer.to_string().into_bytes()),
    };
    // The X-Road headers of an answer (PR-REST 4.3), for a call answered here.
    let id = match header_str(&parts.headers, xroad::ID) {
        id if !id.is_empty() && id.len() <= MESSAGE_ID_BYTES_MAX => id.to_owned(),
        _ => new_message_id(),
    };
    let request_hash = lienthong_trust::sha512_b64(
        format!(
            "lt1-meta\n{}\n{}\n{}\n{}",
            parts.method,
            parts.uri,
            header_str(&parts.headers, xroad::CLIENT),
            id
        )
        .as_bytes(),
    );
    let mut out = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header(xroad::ID, id)
        .header(xroad::REQUEST_ID, uuid::Uuid::new_v4().to_string())
        .header(xroad::REQUEST_HASH, request_hash);
    if let Some(client) = parts.headers.get(xroad::CLIENT) {
        out = out.header(xroad::CLIENT, client);
    }
    if !service.is_empty() {
        out = out.header(xroad::SERVICE, service);
    }
    let body = if parts.method == Method::HEAD {
        Vec::new()
    } else {
        body
    };
    out.body(Body::from(body))
        .map(Some)
        .map_err(|e| GatewayError::Backend(e.to_string()))
}

/// The service id for metrics when the registry knows it, else a fixed label (bounded).
pub(super) fn service_label(node: &Inner, rest: &str) -> String {
    let id: String = rest.splitn(6, '/').take(5).collect::<Vec<_>>().join("/");
    let known = node
        .snapshot
        .current()
        .is_ok_and(|s| s.service(&id).is_some());
    if known {
        id
    } else {
        "unknown".into()
    }
}

pub(super) async fn consume(
    node: &Inner,
    rest: &str,
    parts: &axum::http::request::Parts,
    body: Body,
    (trace_id, trace_header): (&str, &str),
) -> Result<Response, GatewayError> {
    if let Some(answer) = metadata_call(node, rest, parts)? {
        return Ok(answer);
    }
    let segments: Vec<&str> = rest.splitn(6, '/').collect();
    if segments.len() < 5 {
        return Err(GatewayError::BadRequest(
            "path must be /r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}[/…]".into(),
        ));
    }
    let decoded: Vec<String> = segments[..5]
        .iter()
        .map(|s| crate::protocol::percent_decode_path(s))
        .collect();
    let service_id = ServiceId::parse(&decoded.join("/"))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let sub_path = segments.get(5).map(|p| format!("/{p}")).unwrap_or_default();
    check_sub_path(&sub_path)?;
    let client = xroad_client(&parts.headers)?;
    if client != node.config.member {
        return Err(GatewayError::InvalidClient(client.to_string()));
    }
    let snapshot = node.snapshot.current()?;
    let provider = snapshot
        .member(&service_id.provider.to_string())
        .ok_or_else(|| GatewayError::UnknownService(service_id.to_string()))?;
    if snapshot.is_revoked(&provider.id) {
        return Err(GatewayError::Revoked(provider.id.clone()));
    }
    let address = provider.address.clone().ok_or_else(|| {
        GatewayError::UnknownService(format!("{} has no node address", provider.id))
    })?;
    let service_meta = snapshot
        .service(&service_id.to_string())
        .ok_or_else(|| GatewayError::UnknownService(service_id.to_string()))?;
    let purpose = match header_str(&parts.headers, xroad::PURPOSE) {
        "" => default_purpose(node, &snapshot, &client, &service_id.to_string()),
        given => given.to_owned(),
    };
    if service_meta.personal_data && purpose.is_empty() {
        return Err(GatewayError::PurposeRequired(service_id.to_string()));
    }
    let mut room = Room::new();
    let body = node
        .read_body(body, &mut room, 1)
        .await
        .map_err(|e| e.or(|m| GatewayError::BadRequest(format!("request body: {m}"))))?;
    // The node's own id for the exchange (signed; replay protection between nodes), and the
    // client's X-Road-Id, its correlation id: a retry or a batch may reuse it.
    let message_id = new_message_id();
    let client_message_id = match header_str(&parts.headers, xroad::ID) {
        "" => message_id.clone(),
        id if id.len() > MESSAGE_ID_BYTES_MAX => {
            return Err(GatewayError::BadRequest(format!(
                "X-Road-Id is at most {MESSAGE_ID_BYTES_MAX} bytes"
            )))
        }
        id => id.to_owned(),
    };
    // The officer (any UTF-8; sent between nodes percent-encoded).
    let user_id = header_text(&parts.headers, xroad::USER_ID)
        .ok_or_else(|| GatewayError::BadRequest("X-Road-UserId must be UTF-8 text".into()))?;
    if user_id.len() > 256 || user_id.chars().any(char::is_control) {
        return Err(GatewayError::BadRequest(
            "X-Road-UserId is one line of at most 256 bytes".into(),
        ));
    }
    if service_meta.user_id_required && user_id.is_empty() {
        return Err(GatewayError::UserIdRequired(service_id.to_string()));
    }
    let user_id_header = crate::protocol::percent_encode_header(&user_id);
    let issue = header_str(&parts.headers, xroad::ISSUE).to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let body_sha = lienthong_trust::sha256_hex(&body);
    // The client's own headers travel to the provider's service (PR-REST 4.3), signed.
    let passed = crate::protocol::passed_headers(&parts.headers);
    let headers_sha = crate::protocol::headers_sha256(&passed);
    let signed_body_len = body.len();
    let started = std::time::Instant::now();
    let timestamp = now_s();
    let client_s = client.to_string();
    let service_s = service_id.to_string();
    let signed = RequestParts {
        method: parts.method.as_str(),
        path: &sub_path,
        query: &query,
        client: &client_s,
        service: &service_s,
        message_id: &message_id,
        timestamp,
        purpose: &purpose,
        user_id: &user_id,
        issue: &issue,
        body_sha256: &body_sha,
        headers_sha256: &headers_sha,
    };
    let request_hash = signed.hash();
    let signature = node
        .signer
        .sign(signed.canonical().as_bytes())
        .await
        .map_err(GatewayError::Backend)?;
    let uri = format!(
        "https://{address}/lt1/{service_s}{sub_path}{}{query}",
        if query.is_empty() { "" } else { "?" }
    );
    let mut outgoing = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(&uri);
    if let Some(h) = outgoing.headers_mut() {
        *h = passed;
    }
    for (name, value) in [
        (header::CLIENT, client_s.as_str()),
        (header::SERVICE, service_s.as_str()),
        (header::MESSAGE_ID, message_id.as_str()),
        (header::PURPOSE, purpose.as_str()),
        (header::USER_ID, user_id_header.as_str()),
        (header::ISSUE, issue.as_str()),
        (header::SIGNATURE, signature.as_str()),
        (header::BODY_SHA256, body_sha.as_str()),
        (header::CLIENT_MESSAGE_ID, client_message_id.as_str()),
        (crate::trace::HEADER, trace_header),
    ] {
        outgoing = outgoing.header(name, value);
    }
    outgoing = outgoing.header(header::TIMESTAMP, timestamp.to_string());
    for (name, value) in node.witnessing_headers(&provider.id) {
        outgoing = outgoing.header(name, value);
    }
    let outgoing = outgoing
        .body(Full::new(body))
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let timeout = Duration::from_millis(node.config.request_timeout_ms);
    let client = node.peer_client(&address, &provider.cert_fingerprint)?;
    let response = tokio::time::timeout(timeout, client.request(outgoing))
        .await
        .map_err(|_| GatewayError::Timeout(node.config.request_timeout_ms))?
        .map_err(|e| GatewayError::ProviderUnreachable(format!("{address}: {e}")))?;
    let (rparts, rbody) = response.into_parts();
    // The request went out: its room is free for the answer (never wait while holding).
    room.clear();
    let rbody = node.read_body(rbody, &mut room, 1).await.map_err(|e| {
        e.or(|m| GatewayError::ProviderUnreachable(format!("reading response: {m}")))
    })?;
    // The provider's signature binds status, body, passed headers and our request hash.
    let r_headers = crate::protocol::passed_headers(&rparts.headers);
    let r_headers_sha = crate::protocol::headers_sha256(&r_headers);
    let r_hash = header_str(&rparts.headers, header::REQUEST_HASH);
    let r_ts: u64 = header_str(&rparts.headers, header::TIMESTAMP)
        .parse()
        .unwrap_or(0);
    let r_sig = header_str(&rparts.headers, header::SIGNATURE);
    let response_sha = lienthong_trust::sha256_hex(&rbody);
    let canonical = canonical_response(
        r_hash,
        rparts.status.as_u16(),
        &response_sha,
        r_ts,
        &r_headers_sha,
    );
    if r_hash != request_hash
        || crate::batchsig::verify(
            &provider.signing_key,
            canonical.as_bytes(),
            r_sig,
            Some(&node.roots),
        )
        .is_err()
    {
        return Err(GatewayError::BadResponse);
    }
    // The provider identified by its signature: what its checkpoint says of its log.
    node.observe_peer(&provider.id, &rparts.headers);
    let request_id = header_str(&rparts.headers, header::REQUEST_ID).to_owned();
    // The consumer's own record: both signatures, so it proves the exchange on its own.
    let error_code = rparts
        .headers
        .get(xroad::ERROR)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("ok")
        .to_owned();
    let (data_subjects, fields) = crate::answer::subjects_and_fields(
        crate::record::dataset_of(&snapshot, &service_s),
        &sub_path,
        if error_code == "ok" { &rbody } else { b"" },
    );
    let record = crate::record::Record {
        side: "consumer",
        request: &signed,
        request_signature: &signature,
        consumer_key: &node.config.signing_key.public_b64(),
        provider_key: &provider.signing_key,
        answer: &crate::record::Answer {
            status: rparts.status.as_u16(),
            body_sha256: &response_sha,
            timestamp: r_ts,
            signature: r_sig,
            request_id: &request_id,
            headers_sha256: &r_headers_sha,
        },
        code: &error_code,
        data_subjects,
        fields,
        pseudonyms: node.pseudonyms.as_ref(),
        bytes_in: rbody.len(),
        bytes_out: signed_body_len,
        duration_ms: started.elapsed().as_millis() as u64,
        registry_version: snapshot.version,
        request_hash: &request_hash,
        client_message_id: Some(&client_message_id),
        client_system: Some(&client_system(node, parts)),
        trace_id: Some(trace_id),
    };
    let bodies = if node.logs_bodies_of(&service_s) {
        vec![(response_sha.clone(), rbody.to_vec())]
    } else {
        Vec::new()
    };
    node.log
        .append_entry(&client_message_id, record.entry(), bodies)
        .await
        .map_err(GatewayError::LogUnavailable)?;
    let basis = snapshot
        .agreements(&client_s, &service_s)
        .next()
        .and_then(|a| a.basis.clone());
    let mut out = Response::builder().status(rparts.status);
    if let Some(h) = out.headers_mut() {
        *h = r_headers;
    }
    out = out
        .header(xroad::CLIENT, client_s)
        .header(xroad::SERVICE, service_s)
        .header(xroad::ID, client_message_id)
        .header(xroad::REQUEST_ID, request_id)
        .header(xroad::REQUEST_HASH, request_hash);
    // The purpose the answer was served under, and the agreement's lawful basis.
    if let Ok(v) = HeaderValue::from_str(&purpose) {
        if !purpose.is_empty() {
            out = out.header(xroad::PURPOSE, v);
        }
    }
    if let Some(basis) = basis {
        out = out.header("x-lienthong-legal-basis", basis);
    }
    out.body(Body::from(rbody))
        .map_err(|e| GatewayError::Backend(e.to_string()))
}
