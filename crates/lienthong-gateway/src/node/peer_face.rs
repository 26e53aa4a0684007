//! The peer face: calls from other nodes, checked (identity, signature, replay, agreement)
//! before any backend is touched, answered signed and logged.

use super::*;
use tracing::Instrument;

/// Peer face: verifies the calling node and member, the agreement, then reads the table.
pub(super) async fn provider(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Extension(subject): Extension<PeerSubject>,
    request: Request,
) -> Response {
    // The path as the consumer node sent (and signed) it, percent-encoding kept.
    let rest = request
        .uri()
        .path()
        .strip_prefix("/lt1/")
        .unwrap_or("")
        .to_owned();
    let (parts, body) = request.into_parts();
    let mut room = Room::new();
    // The body hash the consumer signed (`x-lt-body-sha256`): the caller is identified by its
    // certificate and its signature before a byte of the body is read, and the body read
    // must then have that hash. Every refusal, a body never read included, is answered like
    // an answer: signed, bound to the request as the consumer signed it, and logged.
    let body_sha256 = claimed_body_sha256(&parts.headers);
    let query = parts.uri.query().unwrap_or("").to_owned();
    let service_s = header_str(&parts.headers, header::SERVICE).to_owned();
    let sub_path = rest
        .strip_prefix(service_s.as_str())
        .unwrap_or("")
        .to_owned();
    let message_id = header_str(&parts.headers, header::MESSAGE_ID).to_owned();
    // The exchange's trace, as the consumer's node sent it (or a new one).
    let trace = crate::trace::Trace::parse(header_str(&parts.headers, crate::trace::HEADER))
        .unwrap_or_default();
    let span = trace.span("provider", &service_s);
    // The client's X-Road-Id (the consumer's claim, logged and searchable), else the node's id.
    let client_message_id = match header_str(&parts.headers, header::CLIENT_MESSAGE_ID) {
        id if !id.is_empty() && id.len() <= MESSAGE_ID_BYTES_MAX => id.to_owned(),
        _ => message_id.clone(),
    };
    let timestamp: u64 = header_str(&parts.headers, header::TIMESTAMP)
        .parse()
        .unwrap_or(0);
    // The client's own headers, passed on to a REST service; signed by the consumer's node.
    let headers_sha256 = crate::protocol::headers_sha256(&parts.headers);
    let user_id = crate::protocol::percent_decode_path(header_str(&parts.headers, header::USER_ID));
    let signed = RequestParts {
        method: parts.method.as_str(),
        path: &sub_path,
        query: &query,
        client: header_str(&parts.headers, header::CLIENT),
        service: &service_s,
        message_id: &message_id,
        timestamp,
        purpose: header_str(&parts.headers, header::PURPOSE),
        user_id: &user_id,
        issue: header_str(&parts.headers, header::ISSUE),
        body_sha256: &body_sha256,
        headers_sha256: &headers_sha256,
    };
    let request_hash = signed.hash();
    let started = std::time::Instant::now();
    // Identified, then within its member's share of calls in progress, then the body.
    let identified = identify(&node, (&peer.0, &subject.0), &signed, &parts.headers);
    if identified.is_ok() {
        node.observe_peer(signed.client, &parts.headers);
    }
    let slot = identified.and_then(|()| node.consumer_slot(signed.client));
    let (body, body_error, _slot) = match slot {
        Err(e) => (Bytes::new(), Some(e), None),
        Ok(slot) => match node.read_body(body, &mut room, 1).await {
            Ok(b) if lienthong_trust::sha256_hex(&b) == body_sha256 => (b, None, Some(slot)),
            // Changed after it was signed.
            Ok(_) => (Bytes::new(), Some(GatewayError::BadSignature), Some(slot)),
            Err(e) => (
                Bytes::new(),
                Some(e.or(|m| GatewayError::BadRequest(format!("request body: {m}")))),
                Some(slot),
            ),
        },
    };
    let result = match body_error {
        Some(e) => Err(e),
        None => {
            serve_call(
                &node,
                &parts.method,
                &signed,
                &parts.headers,
                &rest,
                Incoming {
                    body: body.clone(),
                    room: &mut room,
                },
            )
            .instrument(span.clone())
            .await
        }
    };
    let code = result.as_ref().map_or_else(|e| e.code(), |_| "ok");
    crate::telemetry::exchange(
        "provider",
        &node.config.member.to_string(),
        &service_label(&node, &service_s),
        code,
        started,
    );
    let bytes_in = body.len();
    let (answer, error_code) = match result {
        Ok(answer) => (answer, None),
        Err(GatewayError::NotFound) => (not_found(), Some(GatewayError::NotFound.code())),
        Err(e) => {
            let r = e.render(Side::Provider, &parts.headers, &message_id);
            let answer = Answered {
                status: r.status,
                headers: r.headers,
                body: Bytes::from(r.body),
                subjects: Vec::new(),
                fields: Vec::new(),
            };
            (answer, Some(e.code()))
        }
    };
    let Answered {
        status,
        headers: answer_headers,
        body,
        subjects: answered_subjects,
        fields: answered_fields,
    } = answer;
    // HEAD is answered like GET without the body (errors too): the signature covers what is
    // sent.
    let body = if parts.method == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let signed_answer = sign_answer(&node, &request_hash, status, &body, &answer_headers).await;
    // Every call that reached the peer face is logged, refusals included, before it is answered.
    let snapshot = node.snapshot.current().ok();
    let consumer_key = snapshot
        .as_ref()
        .and_then(|s| s.member(signed.client))
        .map(|m| m.signing_key.clone())
        .unwrap_or_default();
    // Subjects only for answered calls, from the unprojected rows; a refusal names nobody (its
    // path is the caller's claim, not an access). Fields only of a body sent: none for a
    // refusal, none for HEAD.
    let fields = if error_code.is_none() && parts.method != Method::HEAD {
        answered_fields
    } else {
        Vec::new()
    };
    let data_subjects = answered_subjects;
    let record = crate::record::Record {
        side: "provider",
        request: &signed,
        request_signature: header_str(&parts.headers, header::SIGNATURE),
        consumer_key: &consumer_key,
        provider_key: &node.config.signing_key.public_b64(),
        answer: &signed_answer.answer(),
        code: error_code.unwrap_or("ok"),
        data_subjects,
        fields,
        pseudonyms: node.pseudonyms.as_ref(),
        bytes_in,
        bytes_out: body.len(),
        duration_ms: started.elapsed().as_millis() as u64,
        registry_version: snapshot.as_ref().map_or(0, |s| s.version),
        request_hash: &request_hash,
        client_message_id: Some(&client_message_id),
        client_system: None,
        trace_id: Some(&trace.trace_id),
    };
    let bodies = if node.logs_bodies_of(signed.service) {
        vec![(signed_answer.body_sha256.clone(), body.to_vec())]
    } else {
        Vec::new()
    };
    if let Err(e) = node
        .log
        .append_entry(&client_message_id, record.entry(), bodies)
        .instrument(tracing::info_span!(parent: &span, "lt.log.append"))
        .await
    {
        tracing::error!(error = %e, "message log append failed; answer withheld");
        // The store's own error stays in this node's log; the consumer learns only that the
        // exchange could not be recorded.
        let failure =
            GatewayError::LogUnavailable("the provider could not record the exchange".into());
        let r = failure.render(Side::Provider, &parts.headers, &message_id);
        let bytes = Bytes::from(r.body);
        let signed = sign_answer(&node, &request_hash, r.status, &bytes, &r.headers).await;
        return signed_answer_response(signed, request_hash, r.headers, bytes);
    }
    let mut response = signed_answer_response(signed_answer, request_hash, answer_headers, body);
    // This node's log as it stands, now that the exchange is in it.
    for (name, value) in node.witnessing_headers(signed.client) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A dataset's "no such record": the service's own answer (404, JSON), not an X-Road error.
fn not_found() -> Answered {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(crate::error::JSON));
    Answered {
        status: StatusCode::NOT_FOUND,
        headers,
        body: Bytes::from_static(br#"{"message":"no record with this key"}"#),
        subjects: Vec::new(),
        fields: Vec::new(),
    }
}

/// The body hash the consumer says it signed, when it is one (64 lowercase hex digits);
/// otherwise the hash of an empty body, so the refusal is still signed and bound to a request.
fn claimed_body_sha256(headers: &HeaderMap) -> String {
    let claimed = header_str(headers, header::BODY_SHA256);
    if claimed.len() == 64
        && claimed
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        claimed.to_owned()
    } else {
        lienthong_trust::sha256_hex(b"")
    }
}

/// A provider's answer before signing: status, headers passed to the client, body, and the
/// data subjects it concerned, taken from the rows *before* the agreement's projection (so a
/// consumer allowed no ID field still leaves the subjects in the audit trail).
pub(super) struct Answered {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) subjects: Vec<String>,
    /// The fields the body carries (read by the service as it made or passed the body).
    pub(super) fields: Vec<String>,
}

/// Personal IDs in rows, by the dataset's `personal_id` fields.
pub(super) fn subjects_of(
    dataset: &catalog::Dataset,
    rows: &[&Vec<(&'static str, String)>],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for row in rows {
        for (field, value) in row.iter() {
            let is_pid = dataset
                .field(field)
                .is_some_and(|f| f.element == "personal_id");
            if is_pid && !value.is_empty() && !out.contains(value) {
                out.push(value.clone());
            }
        }
    }
    out
}

/// A provider's signature over one answer.
pub(super) struct SignedAnswer {
    pub(super) status: StatusCode,
    body_sha256: String,
    pub(super) timestamp: u64,
    pub(super) signature: String,
    pub(super) request_id: String,
    headers_sha256: String,
}

impl SignedAnswer {
    pub(super) fn answer(&self) -> crate::record::Answer<'_> {
        crate::record::Answer {
            status: self.status.as_u16(),
            body_sha256: &self.body_sha256,
            timestamp: self.timestamp,
            signature: &self.signature,
            request_id: &self.request_id,
            headers_sha256: &self.headers_sha256,
        }
    }
}

pub(super) async fn sign_answer(
    node: &Inner,
    request_hash: &str,
    status: StatusCode,
    body: &[u8],
    headers: &HeaderMap,
) -> SignedAnswer {
    let timestamp = now_s();
    let body_sha256 = lienthong_trust::sha256_hex(body);
    let headers_sha256 = crate::protocol::headers_sha256(headers);
    let canonical = canonical_response(
        request_hash,
        status.as_u16(),
        &body_sha256,
        timestamp,
        &headers_sha256,
    );
    // A signer that stopped (the node is shutting down) still answers, one by one.
    let signature = match node.signer.sign(canonical.as_bytes()).await {
        Ok(s) => s,
        Err(_) => node.config.signing_key.sign(canonical.as_bytes()),
    };
    SignedAnswer {
        status,
        body_sha256,
        timestamp,
        signature,
        request_id: uuid::Uuid::new_v4().to_string(),
        headers_sha256,
    }
}

/// The signed answer as sent to the consumer's node: the passed headers, then the protocol's.
pub(super) fn signed_answer_response(
    a: SignedAnswer,
    request_hash: String,
    passed: HeaderMap,
    body: Bytes,
) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = a.status;
    *r.headers_mut() = passed;
    let h = r.headers_mut();
    for (name, value) in [
        (header::REQUEST_HASH, request_hash),
        (header::SIGNATURE, a.signature),
        (header::TIMESTAMP, a.timestamp.to_string()),
        (header::REQUEST_ID, a.request_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    r
}

/// Who is calling, before any body is read: a member the registry lists and has not revoked,
/// on the TLS certificate the registry lists for it, whose signature over the request (with
/// the body hash it claims) verifies.
pub(super) fn identify(
    node: &Inner,
    (peer_fingerprint, peer_subject): (&str, &str),
    signed: &RequestParts<'_>,
    headers: &HeaderMap,
) -> Result<(), GatewayError> {
    if !signed.is_unambiguous() {
        return Err(GatewayError::BadRequest(
            "control characters in a signed field".into(),
        ));
    }
    let snapshot = node.snapshot.current()?;
    let consumer =
        MemberId::parse(signed.client).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    let consumer_s = consumer.to_string();
    if snapshot.is_revoked(&consumer_s) {
        return Err(GatewayError::Revoked(consumer_s));
    }
    let member = snapshot
        .member(&consumer_s)
        .ok_or_else(|| GatewayError::UnknownMember(consumer_s.clone()))?;
    // The certificate the registry lists for the member, and one that names the member: a
    // registry entry pointing at another member's certificate gives nothing.
    if member.cert_fingerprint != peer_fingerprint || peer_subject != consumer_s {
        return Err(GatewayError::PeerCertificate(consumer_s));
    }
    let signature = header_str(headers, header::SIGNATURE);
    crate::batchsig::verify(
        &member.signing_key,
        signed.canonical().as_bytes(),
        signature,
        Some(&node.roots),
    )
    .map_err(|_| GatewayError::BadSignature)?;
    Ok(())
}

/// The person's consent to this consumer, service and purpose, for an agreement resting on
/// consent: the call must name one person (`/records/<personal id>` of a dataset keyed by
/// it), who must have consented.
async fn check_consent(
    node: &Inner,
    signed: &RequestParts<'_>,
    meta: &lienthong_registry::Service,
    consumer: &str,
) -> Result<(), GatewayError> {
    let keyed_by_person = catalog::dataset(&meta.dataset).is_some_and(|d| {
        d.key
            .first()
            .and_then(|k| d.field(k))
            .is_some_and(|f| f.element == "personal_id")
    });
    let person = signed
        .path
        .strip_prefix("/records/")
        .map(crate::protocol::percent_decode_path)
        .filter(|p| {
            keyed_by_person && !p.is_empty() && !p.contains('/') && signed.query.is_empty()
        });
    let Some(person) = person else {
        return Err(GatewayError::NoConsent(format!(
            "{} rests on each person's consent: ask for one person's record (/records/<personal id>)",
            signed.service
        )));
    };
    let stored = match &node.pseudonyms {
        Some(p) => p.pseudonym(&person),
        None => person,
    };
    let given = node
        .log
        .consented(&stored, (consumer, signed.service, signed.purpose))
        .await
        .map_err(GatewayError::Backend)?;
    if given {
        Ok(())
    } else {
        Err(GatewayError::NoConsent(format!(
            "the person has not consented to {consumer} using {} for {} (or withdrew it)",
            signed.service, signed.purpose
        )))
    }
}

/// Service, agreement and replay checks (the caller identified already), all before the
/// backend is touched; then the answer.
pub(super) async fn serve_call(
    node: &Inner,
    method: &Method,
    signed: &RequestParts<'_>,
    headers: &HeaderMap,
    rest: &str,
    incoming: Incoming<'_>,
) -> Result<Answered, GatewayError> {
    let snapshot = node.snapshot.current()?;
    let consumer_s = MemberId::parse(signed.client)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?
        .to_string();
    let service_id =
        ServiceId::parse(signed.service).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    if rest != format!("{}{}", signed.service, signed.path)
        || service_id.provider != node.config.member
    {
        return Err(GatewayError::UnknownService(signed.service.to_owned()));
    }
    check_sub_path(signed.path)?;
    let meta = snapshot
        .service(signed.service)
        .ok_or_else(|| GatewayError::UnknownService(signed.service.to_owned()))?;
    let agreement = agreement_for(&snapshot, &consumer_s, signed.service).ok_or_else(|| {
        GatewayError::NoAgreement {
            consumer: consumer_s.clone(),
            service: signed.service.to_owned(),
        }
    })?;
    let today = today();
    if today < agreement.valid_from || today > agreement.valid_to {
        return Err(GatewayError::AgreementNotInForce {
            service: signed.service.to_owned(),
            from: agreement.valid_from.clone(),
            to: agreement.valid_to.clone(),
        });
    }
    if meta.personal_data && signed.purpose.is_empty() {
        return Err(GatewayError::PurposeRequired(signed.service.to_owned()));
    }
    if meta.user_id_required && signed.user_id.is_empty() {
        return Err(GatewayError::UserIdRequired(signed.service.to_owned()));
    }
    if !signed.purpose.is_empty() && !agreement.purposes.iter().any(|p| p == signed.purpose) {
        return Err(GatewayError::PurposeNotAllowed {
            purpose: signed.purpose.chars().take(64).collect(),
            service: signed.service.to_owned(),
        });
    }
    // Under consent: one person's record at a time, and only with their consent in force —
    // looked up at every call, so a withdrawal refuses the next one.
    if agreement.basis.as_deref() == Some("consent") {
        check_consent(node, signed, meta, &consumer_s).await?;
    }
    // Replays are refused once the caller is known to be entitled, so unentitled callers
    // cannot fill the cache.
    let replay_check = node
        .replay
        .lock()
        .map_err(|_| GatewayError::Backend("replay lock poisoned".into()))?
        .check(signed.client, signed.message_id, signed.timestamp, now_s());
    replay_check?;
    if let Some(backend) = node.rest.get(&service_id.code) {
        let dataset = catalog::dataset(&meta.dataset).ok_or_else(|| {
            GatewayError::UnknownService(format!("{}: dataset {}", signed.service, meta.dataset))
        })?;
        if !agreement.allows_method(method.as_str()) {
            return Err(GatewayError::MethodNotAllowed(format!(
                "the agreement for {} allows {}, not {method}",
                signed.service,
                if agreement.methods.is_empty() {
                    "GET and HEAD (a read agreement)".to_owned()
                } else {
                    agreement.methods.join(", ")
                }
            )));
        }
        // A query parameter that names a dictionary field the agreement withholds is refused
        // by name; the service's other parameters pass.
        for (field, _) in parse_query(signed.query) {
            if dataset.field(&field).is_some() && !field_allowed(agreement, &field, dataset) {
                return Err(GatewayError::FieldNotAllowed(field));
            }
        }
        let forward = Forward {
            method,
            headers: crate::protocol::passed_headers(headers),
            client_message_id: match header_str(headers, header::CLIENT_MESSAGE_ID) {
                "" => signed.message_id,
                id => id,
            },
        };
        return proxy(node, backend, signed, forward, incoming, agreement, dataset)
            .instrument(tracing::info_span!("lt.backend", kind = "rest"))
            .await;
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(GatewayError::MethodNotAllowed(format!(
            "dataset services answer GET and HEAD only, not {method}"
        )));
    }
    let table = node
        .services
        .get(&service_id.code)
        .ok_or_else(|| GatewayError::UnknownService(signed.service.to_owned()))?;
    let dataset = table.config.dataset;
    // `?fields=a,b` selects fields; one the agreement withholds is refused by name, never
    // dropped in silence.
    let selected = selected_fields(signed.query, agreement, dataset)?;
    let filter = |row: Vec<(&'static str, String)>| {
        let mut record = project(row, agreement, dataset);
        if let Some(keep) = &selected {
            record.retain(|k, _| keep.iter().any(|f| f == k));
        }
        record
    };
    let subjects: Vec<String>;
    let json = if let Some(key) = signed.path.strip_prefix("/records/") {
        let row = table
            .get(key)
            .instrument(tracing::info_span!("lt.backend", kind = "table"))
            .await?;
        subjects = subjects_of(dataset, &[&row]);
        serde_json::Value::Object(filter(row))
    } else if signed.path == "/records" || signed.path == "/records/" {
        let mut filters = Vec::new();
        let mut limit = 100;
        let mut cursor = None;
        for (k, v) in parse_query(signed.query) {
            match k.as_str() {
                "limit" => {
                    limit = v
                        .parse()
                        .map_err(|_| GatewayError::BadRequest("limit must be a number".into()))?
                }
                "cursor" => cursor = Some(v),
                "fields" => {}
                _ => filters.push((k, v)),
            }
        }
        for (field, _) in &filters {
            if !field_allowed(agreement, field, table.config.dataset) {
                return Err(GatewayError::FieldNotAllowed(field.clone()));
            }
        }
        // The cursor is the record key: offered only to consumers allowed to see the key.
        let key_allowed = table
            .config
            .dataset
            .key
            .iter()
            .all(|k| field_allowed(agreement, k, table.config.dataset));
        if cursor.is_some() && !key_allowed {
            return Err(GatewayError::FieldNotAllowed(
                "cursor (the record key)".into(),
            ));
        }
        let (rows, next) = table
            .query(&filters, limit, cursor.as_deref())
            .instrument(tracing::info_span!("lt.backend", kind = "table"))
            .await?;
        let next = next.filter(|_| key_allowed);
        subjects = subjects_of(dataset, &rows.iter().collect::<Vec<_>>());
        serde_json::json!({ "records": rows.into_iter().map(filter).collect::<Vec<_>>(), "next_cursor": next })
    } else if signed.path == "/changes" {
        if !agreement.changes {
            return Err(GatewayError::ChangeFeedNotAllowed(
                signed.service.to_owned(),
            ));
        }
        // A change feed carries record keys (deletes are keys): only for consumers allowed
        // to see the key.
        if !dataset
            .key
            .iter()
            .all(|k| field_allowed(agreement, k, dataset))
        {
            return Err(GatewayError::FieldNotAllowed(
                "changes (they carry the record key)".into(),
            ));
        }
        let (mut after, mut limit) = (0i64, 100u32);
        for (k, v) in parse_query(signed.query) {
            let n = || GatewayError::BadRequest(format!("{k} must be a number"));
            match k.as_str() {
                "after" => after = v.parse().map_err(|_| n())?,
                "limit" => limit = v.parse().map_err(|_| n())?,
                "fields" => {}
                _ => return Err(GatewayError::BadRequest(format!("unknown parameter {k}"))),
            }
        }
        let changes = table
            .changes(after, limit)
            .instrument(tracing::info_span!("lt.backend", kind = "changes"))
            .await?;
        subjects = subjects_of(
            dataset,
            &changes.iter().map(|c| &c.record).collect::<Vec<_>>(),
        );
        let next = changes.last().map_or(after, |c| c.seq);
        let items: Vec<serde_json::Value> = changes
            .into_iter()
            .map(|c| serde_json::json!({ "seq": c.seq, "op": c.op, "id": c.id, "committed_at_ms": c.committed_at_ms, "record": filter(c.record) }))
            .collect();
        serde_json::json!({ "changes": items, "next": next })
    } else {
        return Err(GatewayError::BadRequest(
            "paths: /records/{key}, /records?field=value&limit=&cursor= or /changes?after=&limit="
                .into(),
        ));
    };
    let bytes = serde_json::to_vec(&json).map_err(|e| GatewayError::Backend(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(crate::error::JSON));
    Ok(Answered {
        status: StatusCode::OK,
        headers,
        body: Bytes::from(bytes),
        subjects,
        fields: crate::answer::subjects_and_fields_of(None, "", &json).1,
    })
}
