//! The transparency endpoints of the peer face, asked only by the center's node acting for a
//! signed-in person (docs/citizen.md): a person's history in this node's log, with its
//! proofs, less what an investigation may still withhold; the person's consents to
//! agreements resting on consent. And the center's side: asking every node.

use super::witnessing::post_peer;
use super::*;

pub(super) fn json_answer(status: StatusCode, v: serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub(super) fn refused(status: StatusCode, why: &str) -> Response {
    json_answer(status, serde_json::json!({ "error": why }))
}

/// The snapshot, when the caller is the center's node (the registry's witness member, on
/// the certificate the registry lists for it, not revoked); else the refusal to answer.
pub(super) fn center_caller(
    node: &Inner,
    peer: &PeerFingerprint,
    subject: &PeerSubject,
) -> Result<Arc<crate::snapshot::Installed>, (StatusCode, &'static str)> {
    let snapshot = node.snapshot.current().map_err(|_| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no valid registry snapshot",
        )
    })?;
    let center = snapshot
        .registry
        .witness
        .as_ref()
        .map(|w| w.member.as_str());
    let is_center = snapshot.registry.members.iter().any(|m| {
        Some(m.id.as_str()) == center && m.cert_fingerprint == peer.0 && m.id == subject.0
    });
    if !is_center || center.is_some_and(|c| snapshot.is_revoked(c)) {
        return Err((
            StatusCode::FORBIDDEN,
            "only the center's node asks for a person's accesses or records their consent",
        ));
    }
    Ok(snapshot)
}

/// The person a center's ask names (`"subject"`: a personal id, at most
/// [`crate::msglog::SUBJECT_BYTES_MAX`] bytes).
pub(super) fn person_in(req: &serde_json::Value) -> Option<String> {
    req["subject"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= crate::msglog::SUBJECT_BYTES_MAX)
        .map(str::to_owned)
}

/// How this node stores a person: their pseudonym where it has a log key.
pub(super) fn stored_subject(node: &Inner, person: String) -> String {
    match &node.pseudonyms {
        Some(p) => p.pseudonym(&person),
        None => person,
    }
}

/// `POST /lt1/transparency/accesses` on the peer face, body `{"subject": "<personal id>"}`:
/// the history of that person in this node's log (the entries where this node gave out
/// their data, each with its inclusion proof to a signed, where possible cosigned,
/// checkpoint). Asked only by the center's node, which answers a signed-in citizen for
/// their own id; anyone else is refused.
pub(super) async fn accesses(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Extension(subject): Extension<PeerSubject>,
    body: Bytes,
) -> Response {
    let snapshot = match center_caller(&node, &peer, &subject) {
        Ok(s) => s,
        Err((status, why)) => return refused(status, why),
    };
    let Some(id) = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| person_in(&v))
    else {
        return refused(
            StatusCode::BAD_REQUEST,
            "expected {\"subject\": \"<personal id>\"}",
        );
    };
    let stored = stored_subject(&node, id);
    match node
        .log
        .history(&stored, crate::msglog::HISTORY_ENTRIES_MAX)
        .await
    {
        Ok(doc) => json_answer(StatusCode::OK, withhold(doc, &snapshot, now_s())),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// Takes out of a history the accesses an agency may still withhold (an agreement under
/// `investigation` with `withhold_days`), and says so: how many, and the day the last of
/// them is disclosed. The entries left keep their own proofs.
fn withhold(
    mut doc: serde_json::Value,
    snapshot: &crate::snapshot::Installed,
    now: u64,
) -> serde_json::Value {
    let Some(entries) = doc["entries"].as_array().cloned() else {
        return doc;
    };
    let mut kept = Vec::with_capacity(entries.len());
    let mut withheld = 0u64;
    let mut until = 0u64;
    for e in entries {
        let record: serde_json::Value =
            serde_json::from_str(e["entry"].as_str().unwrap_or("")).unwrap_or_default();
        let hidden_until = agreement_for(
            snapshot,
            record["client"].as_str().unwrap_or(""),
            record["service"].as_str().unwrap_or(""),
        )
        .filter(|a| a.basis.as_deref() == Some("investigation"))
        .and_then(|a| a.withhold_days)
        .map(|d| record["timestamp"].as_u64().unwrap_or(0) + u64::from(d) * 86_400);
        match hidden_until {
            Some(t) if t > now => {
                withheld += 1;
                until = until.max(t);
            }
            _ => kept.push(e),
        }
    }
    doc["entries"] = kept.into();
    if withheld > 0 {
        doc["withheld"] = serde_json::json!({ "count": withheld, "until": until });
        tracing::info!(
            withheld,
            until,
            "accesses withheld from a person's history for an investigation"
        );
    }
    doc
}

/// The center's ask of one node: the JSON it answers, or its error.
pub(super) async fn ask_center_endpoint(
    node: &Inner,
    member: &lienthong_registry::Member,
    path: &str,
    body: String,
    limit: usize,
) -> Result<serde_json::Value, String> {
    let address = member
        .address
        .as_deref()
        .ok_or(format!("{} has no node address", member.id))?;
    let (status, bytes) = post_peer(
        node,
        (address, &member.cert_fingerprint),
        path,
        ("application/json", body),
        limit,
    )
    .await?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    if status.is_success() {
        Ok(v)
    } else {
        Err(v["error"].as_str().unwrap_or("refused").to_owned())
    }
}

/// On the center's node: a person's history from every node that publishes services, asked
/// at once: (member, its history document or why none came), by member.
pub(super) async fn gather_accesses(
    node: &Arc<Inner>,
    personal_id: &str,
) -> Vec<(String, Result<serde_json::Value, String>)> {
    let Ok(snapshot) = node.snapshot.current() else {
        return Vec::new();
    };
    let body = serde_json::json!({ "subject": personal_id }).to_string();
    let mut asks = tokio::task::JoinSet::new();
    for m in &snapshot.registry.members {
        if m.address.is_none() || m.log_key.is_none() || snapshot.is_revoked(&m.id) {
            continue;
        }
        let (node, member, body) = (node.clone(), m.clone(), body.clone());
        asks.spawn(async move {
            let answer =
                ask_center_endpoint(&node, &member, "/lt1/transparency/accesses", body, 64 << 20)
                    .await;
            (member.id, answer)
        });
    }
    let mut out = Vec::new();
    while let Some(Ok(answer)) = asks.join_next().await {
        out.push(answer);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `POST /lt1/transparency/consent` on the peer face, from the center's node only (it acts
/// for a signed-in person): `{"subject", "consumer", "service", "purpose", "granted"}` records
/// the person's consent to an agreement of this node's that rests on consent (`granted`
/// absent: only read); answers the person's consents held here.
pub(super) async fn consent(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Extension(subject): Extension<PeerSubject>,
    body: Bytes,
) -> Response {
    let snapshot = match center_caller(&node, &peer, &subject) {
        Ok(s) => s,
        Err((status, why)) => return refused(status, why),
    };
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return refused(StatusCode::BAD_REQUEST, "not JSON");
    };
    let text = |k: &str| {
        req[k]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 200)
            .map(str::to_owned)
    };
    let Some(person) = person_in(&req) else {
        return refused(StatusCode::BAD_REQUEST, "expected a subject");
    };
    let stored = stored_subject(&node, person);
    if let Some(granted) = req["granted"].as_bool() {
        let (Some(consumer), Some(service), Some(purpose)) =
            (text("consumer"), text("service"), text("purpose"))
        else {
            return refused(
                StatusCode::BAD_REQUEST,
                "expected consumer, service and purpose",
            );
        };
        let under_consent = agreement_for(&snapshot, &consumer, &service).is_some_and(|a| {
            a.basis.as_deref() == Some("consent") && a.purposes.contains(&purpose)
        });
        let ours = ServiceId::parse(&service).is_ok_and(|s| s.provider == node.config.member);
        if !under_consent || !ours {
            return refused(
                StatusCode::BAD_REQUEST,
                "no agreement of this node's for that consumer, service and purpose rests on consent",
            );
        }
        if let Err(e) = node
            .log
            .set_consent(&stored, (&consumer, &service, &purpose), granted)
            .await
        {
            return refused(StatusCode::INTERNAL_SERVER_ERROR, &e);
        }
    }
    match node.log.consents_of(&stored).await {
        Ok(list) => json_answer(StatusCode::OK, serde_json::json!({ "consents": list })),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// On the center's node: records (or, `granted` None, reads) a person's consent at the node
/// that provides `service`; answers the person's consents held there.
pub(super) async fn push_consent(
    node: &Inner,
    personal_id: &str,
    (consumer, service, purpose): (&str, &str, &str),
    granted: Option<bool>,
) -> Result<serde_json::Value, String> {
    let snapshot = node.snapshot.current().map_err(|e| e.to_string())?;
    let provider = ServiceId::parse(service)
        .map_err(|e| e.to_string())?
        .provider
        .to_string();
    let m = snapshot
        .member(&provider)
        .ok_or(format!("{provider} is not a member"))?;
    let mut body = serde_json::json!({ "subject": personal_id, "consumer": consumer, "service": service, "purpose": purpose });
    if let Some(g) = granted {
        body["granted"] = g.into();
    }
    ask_center_endpoint(
        node,
        m,
        "/lt1/transparency/consent",
        body.to_string(),
        1 << 20,
    )
    .await
}

/// A person's history from every node: (member, its `lienthong-history/v1` document or why
/// none came).
pub type Gatherer = Arc<
    dyn Fn(
            String,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Vec<(String, Result<serde_json::Value, String>)>>
                    + Send,
            >,
        > + Send
        + Sync,
>;

/// Records or reads a person's consent at the providing node: (person, consumer, service,
/// purpose, granted or withdrawn or None to read) → the person's consents held there.
pub type Consenter = Arc<
    dyn Fn(
            String,
            String,
            String,
            String,
            Option<bool>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send>,
        > + Send
        + Sync,
>;

impl RunningNode {
    /// On the center's node: records a person's consent (granted or withdrawn; `None` only
    /// reads) at the node providing `service`, which checks it at every call from then on;
    /// answers `{"consents": [...]}`, the person's consents held there. The caller has
    /// established that the person asking is that person.
    pub async fn consent(
        &self,
        personal_id: &str,
        (consumer, service, purpose): (&str, &str, &str),
        granted: Option<bool>,
    ) -> Result<serde_json::Value, String> {
        push_consent(
            &self.inner,
            personal_id,
            (consumer, service, purpose),
            granted,
        )
        .await
    }

    /// [`RunningNode::consent`] as a function that outlives this handle.
    pub fn consenter(&self) -> Consenter {
        let inner = self.inner.clone();
        Arc::new(
            move |id: String,
                  consumer: String,
                  service: String,
                  purpose: String,
                  granted: Option<bool>| {
                let inner = inner.clone();
                Box::pin(async move {
                    push_consent(&inner, &id, (&consumer, &service, &purpose), granted).await
                })
            },
        )
    }

    /// [`RunningNode::accesses_of`] as a function that outlives this handle (for the citizen
    /// face).
    pub fn gatherer(&self) -> Gatherer {
        let inner = self.inner.clone();
        Arc::new(move |id: String| {
            let inner = inner.clone();
            Box::pin(async move { gather_accesses(&inner, &id).await })
        })
    }

    /// On the center's node: the history of the person `personal_id` from every node that
    /// publishes services, each a `lienthong-history/v1` document with its proofs, or why
    /// none came. The caller has established that the person asking is that person.
    pub async fn accesses_of(
        &self,
        personal_id: &str,
    ) -> Vec<(String, Result<serde_json::Value, String>)> {
        gather_accesses(&self.inner, personal_id).await
    }
}
