//! The message-log record of one exchange: identities, purpose, data subjects, fields,
//! sizes, timing, and both members' signatures with the public keys that verify them, so an
//! evidence file can be checked offline. Pure.

use lienthong_dictionary::catalog::{self, Dataset};
use serde_json::{json, Value};

use crate::protocol::{canonical_response, RequestParts};

/// The provider's signed answer, as recorded.
pub struct Answer<'a> {
    pub status: u16,
    pub body_sha256: &'a str,
    pub timestamp: u64,
    pub signature: &'a str,
    pub request_id: &'a str,
    /// Hash of the headers passed with the answer (empty: none).
    pub headers_sha256: &'a str,
}

pub struct Record<'a> {
    /// `consumer` or `provider`: which node wrote it.
    pub side: &'static str,
    pub request: &'a RequestParts<'a>,
    pub request_signature: &'a str,
    pub consumer_key: &'a str,
    pub provider_key: &'a str,
    pub answer: &'a Answer<'a>,
    /// `ok` or the `X-Road-Error` code.
    pub code: &'a str,
    pub data_subjects: Vec<String>,
    pub fields: Vec<String>,
    pub bytes_in: usize,
    pub bytes_out: usize,
    pub duration_ms: u64,
    pub registry_version: u64,
    /// Where set, the persons named are stored as keyed pseudonyms, not in clear.
    pub pseudonyms: Option<&'a Pseudonymiser>,
}

/// Data subjects as the log stores them: `p1:` and 22 characters of base64url — the first
/// 16 bytes of HMAC-SHA256 under a secret only the node holds. The same person gets the same
/// pseudonym in every entry of one node (so the node can find a person's accesses), and
/// nobody without the secret can tell whose it is.
pub struct Pseudonymiser {
    key: [u8; 32],
}

/// The prefix of a pseudonym.
pub const PSEUDONYM_PREFIX: &str = "p1:";

impl Pseudonymiser {
    pub fn new(key: [u8; 32]) -> Pseudonymiser {
        Pseudonymiser { key }
    }

    /// The node's pseudonymiser, from its log key.
    pub fn of_log_key(key: &lienthong_trust::SigningKey) -> Pseudonymiser {
        Self::new(key.derive_secret("lienthong/log-pseudonyms/v1"))
    }

    pub fn pseudonym(&self, id: &str) -> String {
        use base64::Engine;
        let mac = lienthong_trust::hmac_sha256(&self.key, id.as_bytes());
        format!(
            "{PSEUDONYM_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac[..16])
        )
    }

    /// `text` (a path or a query) with every personal id in clear replaced by its pseudonym:
    /// each part between separators that is one of `subjects`, or has the form of a citizen
    /// identity number (9 or 12 digits).
    pub fn redact(&self, text: &str, subjects: &[String]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut part = String::new();
        let flush = |part: &mut String, out: &mut String| {
            let decoded = crate::protocol::percent_decode_path(part);
            let is_id = subjects.contains(&decoded)
                || ((decoded.len() == 12 || decoded.len() == 9)
                    && decoded.bytes().all(|b| b.is_ascii_digit()));
            if is_id {
                out.push_str(&self.pseudonym(&decoded));
            } else {
                out.push_str(part);
            }
            part.clear();
        };
        for c in text.chars() {
            if matches!(c, '/' | '?' | '&' | '=' | ',' | ';') {
                flush(&mut part, &mut out);
                out.push(c);
            } else {
                part.push(c);
            }
        }
        flush(&mut part, &mut out);
        out
    }

    /// A redacted `text` with `ids`' pseudonyms put back in clear (for the person they name).
    pub fn restore(&self, text: &str, ids: &[String]) -> String {
        let mut out = text.to_owned();
        for id in ids {
            out = out.replace(&self.pseudonym(id), id);
        }
        out
    }
}

impl Record<'_> {
    pub fn to_json(&self) -> Value {
        let r = self.request;
        let (path, query, subjects) = match self.pseudonyms {
            Some(p) => (
                p.redact(r.path, &self.data_subjects),
                p.redact(r.query, &self.data_subjects),
                self.data_subjects.iter().map(|s| p.pseudonym(s)).collect(),
            ),
            None => (
                r.path.to_owned(),
                r.query.to_owned(),
                self.data_subjects.clone(),
            ),
        };
        let mut record = json!({
            "side": self.side,
            "message_id": r.message_id,
            "request_id": self.answer.request_id,
            "client": r.client,
            "service": r.service,
            "user_id": r.user_id,
            "purpose": r.purpose,
            "issue": r.issue,
            "method": r.method,
            "path": path,
            "query": query,
            "timestamp": r.timestamp,
            "request_body_sha256": r.body_sha256,
            "request_headers_sha256": r.headers_sha256,
            "request_hash": r.hash(),
            "request_signature": self.request_signature,
            "consumer_key": self.consumer_key,
            "status": self.answer.status,
            "code": self.code,
            "response_body_sha256": self.answer.body_sha256,
            "response_headers_sha256": self.answer.headers_sha256,
            "response_timestamp": self.answer.timestamp,
            "response_signature": self.answer.signature,
            "provider_key": self.provider_key,
            "data_subjects": subjects,
            "fields": self.fields,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "duration_ms": self.duration_ms,
            "registry_version": self.registry_version,
        });
        if self.pseudonyms.is_some() {
            record["pseudonymised"] = true.into();
        }
        record
    }
}

/// A call the consumer's own node refused, or that got no verified answer from the provider
/// (no purpose, a client of another member, an unknown service, the provider unreachable, a
/// bad signature…): an event an auditor wants, logged before the refusal is answered. It
/// carries no signatures: none were exchanged, or they did not verify.
pub struct Refusal<'a> {
    pub message_id: &'a str,
    /// The `X-Road-Client` header as sent (it may name no member).
    pub client: &'a str,
    /// The path after `/r1/` as sent.
    pub target: &'a str,
    pub user_id: &'a str,
    pub purpose: &'a str,
    pub method: &'a str,
    pub query: &'a str,
    pub timestamp: u64,
    pub code: &'a str,
    pub reason: &'a str,
    pub registry_version: u64,
}

impl Refusal<'_> {
    pub fn to_json(&self) -> Value {
        json!({
            "side": "consumer",
            "refused_by": "consumer",
            "message_id": self.message_id,
            "client": self.client,
            "target": self.target,
            "user_id": self.user_id,
            "purpose": self.purpose,
            "method": self.method,
            "query": self.query,
            "timestamp": self.timestamp,
            "code": self.code,
            "reason": self.reason,
            "registry_version": self.registry_version,
        })
    }
}

/// Personal IDs and field names in an answer: from the key in the path (when the dataset is
/// keyed by a personal ID) and from every field bound to the `personal_id` element.
pub fn subjects_and_fields(
    dataset: Option<&Dataset>,
    path: &str,
    body: &[u8],
) -> (Vec<String>, Vec<String>) {
    let mut subjects = Vec::new();
    let mut fields = Vec::new();
    let is_pid = |name: &str| {
        dataset
            .and_then(|d| d.field(name))
            .is_some_and(|f| f.element == "personal_id")
    };
    if let (Some(d), Some(key)) = (dataset, path.strip_prefix("/records/")) {
        if d.key.first().is_some_and(|k| is_pid(k)) {
            subjects.push(key.to_owned());
        }
    }
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let objects: Vec<&serde_json::Map<String, Value>> = match &value {
        Value::Object(m) if m.contains_key("records") => m["records"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default(),
        Value::Object(m) if m.contains_key("type") && m.contains_key("message") => Vec::new(),
        Value::Object(m) => vec![m],
        Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    for obj in objects {
        for (k, v) in obj {
            if !fields.contains(k) {
                fields.push(k.clone());
            }
            if let Some(s) = v
                .as_str()
                .filter(|s| is_pid(k) && !s.is_empty() && *s != "***")
            {
                if !subjects.iter().any(|x| x == s) {
                    subjects.push(s.to_owned());
                }
            }
        }
    }
    (subjects, fields)
}

/// The dataset a service serves, by the registry's service entry.
pub fn dataset_of(
    snapshot: &lienthong_registry::SnapshotBody,
    service: &str,
) -> Option<&'static Dataset> {
    snapshot
        .registry
        .service(service)
        .and_then(|s| catalog::dataset(&s.dataset))
}

/// Re-derives the canonical request and response from a record and checks both signatures
/// and the request hash. Returns whether the request's own signature was checked: not when
/// the stored path or query holds pseudonyms (the answer's signature, over the request's
/// hash, is checked always).
pub fn verify_signatures(record: &Value) -> Result<bool, String> {
    let s = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .ok_or(format!("record lacks {name}"))
    };
    let n = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_u64)
            .ok_or(format!("record lacks {name}"))
    };
    let optional = |name: &str| record.get(name).and_then(Value::as_str).unwrap_or("");
    let request = RequestParts {
        method: s("method")?,
        path: s("path")?,
        query: s("query")?,
        client: s("client")?,
        service: s("service")?,
        message_id: s("message_id")?,
        timestamp: n("timestamp")?,
        purpose: s("purpose")?,
        user_id: s("user_id")?,
        issue: s("issue")?,
        body_sha256: s("request_body_sha256")?,
        // Absent in records written before headers were passed.
        headers_sha256: optional("request_headers_sha256"),
    };
    // A path or query stored with pseudonyms is not what was signed: the request signature
    // is checked once the person's id is put back (`log evidence --subject`).
    let request_checked =
        !(request.path.contains(PSEUDONYM_PREFIX) || request.query.contains(PSEUDONYM_PREFIX));
    if request_checked {
        if request.hash() != s("request_hash")? {
            return Err("the recorded request hash does not match the recorded request".into());
        }
        crate::batchsig::verify(
            s("consumer_key")?,
            request.canonical().as_bytes(),
            s("request_signature")?,
            None,
        )
        .map_err(|_| "the consumer's request signature does not verify".to_owned())?;
    }
    let status = u16::try_from(n("status")?).map_err(|_| "status out of range".to_owned())?;
    let response = canonical_response(
        s("request_hash")?,
        status,
        s("response_body_sha256")?,
        n("response_timestamp")?,
        optional("response_headers_sha256"),
    );
    crate::batchsig::verify(
        s("provider_key")?,
        response.as_bytes(),
        s("response_signature")?,
        None,
    )
    .map_err(|_| "the provider's response signature does not verify".to_owned())?;
    Ok(request_checked)
}
