//! E-documents on the peer face (docs/documents.md), asked only by the center's node acting
//! for a signed-in person: the kinds this node issues and the person's documents
//! (`/lt1/documents`), a new document from the person's record (`/lt1/documents/issue`),
//! and this node's status list token (`/lt1/documents/status`) which the center publishes.
//! And the center's side: asking the nodes.

use super::transparency::{
    ask_center_endpoint, center_caller, json_answer, person_in, refused, stored_subject,
};
use super::*;
use crate::documents::{self, DocumentKind, DocumentsConfig, NewDocument, StatusEntry};
use serde_json::{json, Value};

/// Checks a node's documents against its tables at start: each kind reads a table the
/// node publishes, finds the person by its key or a declared filter, and names its fields.
pub(super) fn check_config(
    config: &NodeConfig,
    services: &HashMap<String, TableService>,
) -> Result<(), String> {
    let Some(docs) = &config.documents else {
        return Ok(());
    };
    if !(docs.status_base.starts_with("https://") || docs.status_base.starts_with("http://")) {
        return Err(format!(
            "documents.status_base {:?} is not an http(s) URL",
            docs.status_base
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for k in &docs.kinds {
        let what = format!("document kind {:?}", k.kind);
        if !seen.insert(&k.kind) {
            return Err(format!("{what} is declared twice"));
        }
        let t = services.get(&k.table).ok_or(format!(
            "{what}: table {:?} is not one of this node's [[tables]]",
            k.table
        ))?;
        let d = t.config.dataset;
        if !(d.key == [k.subject_field.as_str()] || t.config.filters.contains(&k.subject_field)) {
            return Err(format!(
                "{what}: subject_field {:?} is neither the key of {} nor one of its filters",
                k.subject_field, d.name
            ));
        }
        if let Some(bad) = k.claims.iter().find(|c| d.field(c).is_none()) {
            return Err(format!(
                "{what}: claim {bad:?} is not a field of {}",
                d.name
            ));
        }
        if k.claims.is_empty() || k.valid_days == 0 {
            return Err(format!("{what}: give claims and valid_days"));
        }
    }
    Ok(())
}

/// The kinds this node issues, each saying whether `person` has a record to issue it from
/// (so that the page offers only what can be issued).
async fn kinds_for(node: &Inner, docs: &DocumentsConfig, person: &str) -> Value {
    let mut out = Vec::with_capacity(docs.kinds.len());
    for k in &docs.kinds {
        let available = record_of(node, k, person).await.is_ok();
        out.push(json!({ "kind": k.kind, "vct": k.vct, "name_vi": k.name_vi, "name_en": k.name_en, "available": available }));
    }
    out.into()
}

/// The caller is the center, this node issues documents, and the body is JSON with a
/// person in `subject`: (documents config, body, the person, as stored), or the refusal.
type Admitted<'a> = (&'a DocumentsConfig, Value, String, String);

fn admit<'a>(
    node: &'a Inner,
    peer: &PeerFingerprint,
    subject: &PeerSubject,
    body: &[u8],
) -> Result<Admitted<'a>, (StatusCode, &'static str)> {
    center_caller(node, peer, subject)?;
    let docs = node
        .config
        .documents
        .as_ref()
        .ok_or((StatusCode::NOT_FOUND, NO_DOCUMENTS))?;
    let req: Value =
        serde_json::from_slice(body).map_err(|_| (StatusCode::BAD_REQUEST, "not JSON"))?;
    let person = person_in(&req).ok_or((
        StatusCode::BAD_REQUEST,
        "expected {\"subject\": \"<personal id>\"}",
    ))?;
    let stored = stored_subject(node, person.clone());
    Ok((docs, req, person, stored))
}

const NO_DOCUMENTS: &str = "this node issues no documents";

/// `POST /lt1/documents` `{"subject"}`: the kinds this node issues (each with whether the
/// person has a record for it) and the person's documents (newest first).
pub(super) async fn list(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Extension(subject): Extension<PeerSubject>,
    body: Bytes,
) -> Response {
    let (docs, _, person, stored) = match admit(&node, &peer, &subject, &body) {
        Ok(a) => a,
        Err((status, why)) => return refused(status, why),
    };
    match node
        .log
        .documents_of(&stored, documents::DOCUMENTS_PER_PERSON_MAX)
        .await
    {
        Ok(list) => json_answer(
            StatusCode::OK,
            json!({ "kinds": kinds_for(&node, docs, &person).await, "documents": list }),
        ),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// The person's record in a kind's table.
async fn record_of(
    node: &Inner,
    kind: &DocumentKind,
    person: &str,
) -> Result<Vec<(&'static str, String)>, Response> {
    let Some(table) = node.services.get(&kind.table) else {
        return Err(refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the kind's table is gone",
        ));
    };
    let found = if table.config.dataset.key == [kind.subject_field.as_str()] {
        table.get(person).await.map(Some)
    } else {
        table
            .query(&[(kind.subject_field.clone(), person.to_owned())], 1, None)
            .await
            .map(|(mut rows, _)| rows.pop())
    };
    match found {
        Ok(Some(r)) => Ok(r),
        Ok(None) | Err(crate::error::GatewayError::NotFound) => Err(refused(
            StatusCode::NOT_FOUND,
            &format!("no record of this person in {}", table.config.dataset.name),
        )),
        Err(e) => Err(refused(StatusCode::BAD_GATEWAY, &e.to_string())),
    }
}

/// `POST /lt1/documents/issue` `{"subject", "kind", "holder_jwk"?}`: a new document of
/// `kind` from the person's record, signed with the member key, bound to the holder key
/// given; answers `{"idx", "kind", "expires_at", "token"}`.
pub(super) async fn issue(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Extension(subject): Extension<PeerSubject>,
    body: Bytes,
) -> Response {
    let (docs, req, person, stored) = match admit(&node, &peer, &subject, &body) {
        Ok(a) => a,
        Err((status, why)) => return refused(status, why),
    };
    let Some(kind) = docs
        .kinds
        .iter()
        .find(|k| Some(k.kind.as_str()) == req["kind"].as_str())
    else {
        return refused(
            StatusCode::BAD_REQUEST,
            "this node issues no document of that kind",
        );
    };
    let holder_jwk = match &req["holder_jwk"] {
        Value::Null => None,
        jwk @ Value::Object(_) if matches!(jwk["kty"].as_str(), Some("EC" | "OKP")) => {
            Some(jwk.clone())
        }
        _ => {
            return refused(
                StatusCode::BAD_REQUEST,
                "holder_jwk is not an EC or OKP public JWK",
            )
        }
    };
    let record = match record_of(&node, kind, &person).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let now = now_s();
    let expires = now + u64::from(kind.valid_days) * 86_400;
    let idx = match node
        .log
        .reserve_document(&stored, &kind.kind, (now, expires))
        .await
    {
        Ok(i) => i,
        Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let member = node.config.member.to_string();
    let uri = docs.status_uri(&member);
    let signed = documents::issue(NewDocument {
        issuer: &member,
        key: &node.config.signing_key,
        kind,
        claims: documents::claims_of(kind, &record),
        status: StatusEntry { uri: &uri, idx },
        holder_jwk,
        now,
    });
    let token = match signed {
        Ok((t, _)) => t,
        Err(e) => return refused(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Err(e) = node.log.store_document(idx, &token).await {
        return refused(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    tracing::info!(kind = %kind.kind, idx, "e-document issued");
    json_answer(
        StatusCode::OK,
        json!({ "idx": idx, "kind": kind.kind, "expires_at": expires, "token": token }),
    )
}

/// How long a status list token may be cached (its `ttl`; it expires at twice that).
const STATUS_TTL_S: u64 = 300;

/// `POST /lt1/documents/status`: this node's status list token, signed now.
pub(super) async fn status(
    State(node): State<Arc<Inner>>,
    Extension(peer): Extension<PeerFingerprint>,
    Extension(subject): Extension<PeerSubject>,
) -> Response {
    if let Err((status, why)) = center_caller(&node, &peer, &subject) {
        return refused(status, why);
    }
    let Some(docs) = &node.config.documents else {
        return refused(StatusCode::NOT_FOUND, NO_DOCUMENTS);
    };
    let (count, changed) = match node.log.document_statuses().await {
        Ok(s) => s,
        Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let mut list = lienthong_trust::sdjwt::status::StatusList::new(2).expect("2 bits is allowed");
    if count > 0 {
        list.set(count as usize - 1, 0);
    }
    for (idx, s) in changed {
        list.set(idx as usize, s);
    }
    let member = node.config.member.to_string();
    let token = lienthong_trust::sdjwt::status::sign_token(
        &node.config.signing_key,
        &member,
        &docs.status_uri(&member),
        &list,
        now_s(),
        STATUS_TTL_S,
    );
    json_answer(
        StatusCode::OK,
        json!({ "token": token, "ttl": STATUS_TTL_S }),
    )
}

/// What the center asks the nodes about a person's e-documents.
pub enum DocumentAsk {
    /// Every issuing node's kinds and the person's documents there.
    List { subject: String },
    /// A new document from `member`.
    Issue {
        member: String,
        subject: String,
        kind: String,
        holder_jwk: Option<Value>,
    },
    /// `member`'s status list token.
    Status { member: String },
}

/// Asks the nodes on the center's behalf: (member, its answer or why none came).
pub type DocumentDesk = Arc<
    dyn Fn(
            DocumentAsk,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Vec<(String, Result<Value, String>)>> + Send>,
        > + Send
        + Sync,
>;

async fn ask(node: &Arc<Inner>, ask: DocumentAsk) -> Vec<(String, Result<Value, String>)> {
    let Ok(snapshot) = node.snapshot.current() else {
        return Vec::new();
    };
    let one = |member: &str, path: &'static str, body: Value| {
        let m = snapshot.member(member).cloned();
        let (node, member) = (node.clone(), member.to_owned());
        async move {
            let answer = match m {
                Some(m) => ask_center_endpoint(&node, &m, path, body.to_string(), 4 << 20).await,
                None => Err(format!("{member} is not a member")),
            };
            vec![(member, answer)]
        }
    };
    match ask {
        DocumentAsk::Issue {
            member,
            subject,
            kind,
            holder_jwk,
        } => {
            one(
                &member,
                "/lt1/documents/issue",
                json!({ "subject": subject, "kind": kind, "holder_jwk": holder_jwk }),
            )
            .await
        }
        DocumentAsk::Status { member } => one(&member, "/lt1/documents/status", json!({})).await,
        DocumentAsk::List { subject } => {
            let body = json!({ "subject": subject }).to_string();
            let mut asks = tokio::task::JoinSet::new();
            for m in &snapshot.registry.members {
                if m.address.is_none() || snapshot.is_revoked(&m.id) {
                    continue;
                }
                let (node, member, body) = (node.clone(), m.clone(), body.clone());
                asks.spawn(async move {
                    let answer =
                        ask_center_endpoint(&node, &member, "/lt1/documents", body, 8 << 20).await;
                    (member.id, answer)
                });
            }
            let mut out = Vec::new();
            while let Some(Ok((member, answer))) = asks.join_next().await {
                // Nodes that issue nothing say so; they are left out.
                if !matches!(&answer, Err(e) if e == NO_DOCUMENTS) {
                    out.push((member, answer));
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
    }
}

impl RunningNode {
    /// On the center's node: asks the nodes about a person's e-documents (the caller has
    /// established that the person asking is that person), or for an issuer's status list.
    pub fn document_desk(&self) -> DocumentDesk {
        let inner = self.inner.clone();
        Arc::new(move |a: DocumentAsk| {
            let inner = inner.clone();
            Box::pin(async move { ask(&inner, a).await })
        })
    }
}
