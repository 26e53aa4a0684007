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
    /// `X-Road-Request-Hash` of `request` (the caller computed it to sign or check it).
    pub request_hash: &'a str,
    /// The client's `X-Road-Id`, where the node has one.
    pub client_message_id: Option<&'a str>,
    /// The registered information system that made the call (the consumer's node).
    pub client_system: Option<&'a str>,
    /// The exchange's trace id, where the node has one.
    pub trace_id: Option<&'a str>,
}

/// A record as the log stores it: its JSON text, and the persons it names as stored
/// (pseudonyms where the node has a log key), for the log's index of persons.
pub struct Entry {
    pub text: String,
    pub subjects: Vec<String>,
}

/// The stored form of a [`Record`]: its fields in the order of their names, as a JSON object
/// built with `serde_json::json!` writes them (a `BTreeMap`), so the text is the same as
/// before records were written straight from the exchange — without building a `Value` of
/// some 35 allocated keys and values on every exchange. Keep the fields sorted by name.
#[derive(serde::Serialize)]
struct Stored<'a> {
    bytes_in: usize,
    bytes_out: usize,
    client: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_system: Option<&'a str>,
    code: &'a str,
    consumer_key: &'a str,
    data_subjects: &'a [String],
    duration_ms: u64,
    fields: &'a [String],
    issue: &'a str,
    message_id: &'a str,
    method: &'a str,
    path: &'a str,
    provider_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pseudonymised: Option<bool>,
    purpose: &'a str,
    query: &'a str,
    registry_version: u64,
    request_body_sha256: &'a str,
    request_hash: &'a str,
    request_headers_sha256: &'a str,
    request_id: &'a str,
    request_signature: &'a str,
    response_body_sha256: &'a str,
    response_headers_sha256: &'a str,
    response_signature: &'a str,
    response_timestamp: u64,
    service: &'a str,
    side: &'a str,
    status: u16,
    timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    user_id: &'a str,
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
    /// The record as the log stores it.
    pub fn entry(&self) -> Entry {
        let r = self.request;
        let redacted;
        let (path, query, subjects) = match self.pseudonyms {
            Some(p) => {
                redacted = (
                    p.redact(r.path, &self.data_subjects),
                    p.redact(r.query, &self.data_subjects),
                );
                (
                    redacted.0.as_str(),
                    redacted.1.as_str(),
                    self.data_subjects.iter().map(|s| p.pseudonym(s)).collect(),
                )
            }
            None => (r.path, r.query, self.data_subjects.clone()),
        };
        let stored = Stored {
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            client: r.client,
            client_message_id: self.client_message_id,
            client_system: self.client_system,
            code: self.code,
            consumer_key: self.consumer_key,
            data_subjects: &subjects,
            duration_ms: self.duration_ms,
            fields: &self.fields,
            issue: r.issue,
            message_id: r.message_id,
            method: r.method,
            path,
            provider_key: self.provider_key,
            pseudonymised: self.pseudonyms.map(|_| true),
            purpose: r.purpose,
            query,
            registry_version: self.registry_version,
            request_body_sha256: r.body_sha256,
            request_hash: self.request_hash,
            request_headers_sha256: r.headers_sha256,
            request_id: self.answer.request_id,
            request_signature: self.request_signature,
            response_body_sha256: self.answer.body_sha256,
            response_headers_sha256: self.answer.headers_sha256,
            response_signature: self.answer.signature,
            response_timestamp: self.answer.timestamp,
            service: r.service,
            side: self.side,
            status: self.answer.status,
            timestamp: r.timestamp,
            trace_id: self.trace_id,
            user_id: r.user_id,
        };
        Entry {
            // Strings, numbers and slices of strings: serialising cannot fail.
            text: serde_json::to_string(&stored).unwrap_or_default(),
            subjects,
        }
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

/// The dataset a service serves, by the registry's service entry.
pub fn dataset_of(
    snapshot: &crate::snapshot::Installed,
    service: &str,
) -> Option<&'static Dataset> {
    snapshot
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The record as it was built before it was serialised straight from the exchange.
    fn built_as_before(record: &Record) -> Value {
        let r = record.request;
        let (path, query, subjects): (String, String, Vec<String>) = match record.pseudonyms {
            Some(p) => (
                p.redact(r.path, &record.data_subjects),
                p.redact(r.query, &record.data_subjects),
                record
                    .data_subjects
                    .iter()
                    .map(|s| p.pseudonym(s))
                    .collect(),
            ),
            None => (
                r.path.to_owned(),
                r.query.to_owned(),
                record.data_subjects.clone(),
            ),
        };
        let mut v = json!({
            "side": record.side, "message_id": r.message_id,
            "request_id": record.answer.request_id, "client": r.client, "service": r.service,
            "user_id": r.user_id, "purpose": r.purpose, "issue": r.issue, "method": r.method,
            "path": path, "query": query, "timestamp": r.timestamp,
            "request_body_sha256": r.body_sha256, "request_headers_sha256": r.headers_sha256,
            "request_hash": r.hash(), "request_signature": record.request_signature,
            "consumer_key": record.consumer_key, "status": record.answer.status,
            "code": record.code, "response_body_sha256": record.answer.body_sha256,
            "response_headers_sha256": record.answer.headers_sha256,
            "response_timestamp": record.answer.timestamp,
            "response_signature": record.answer.signature,
            "provider_key": record.provider_key, "data_subjects": subjects,
            "fields": record.fields, "bytes_in": record.bytes_in,
            "bytes_out": record.bytes_out, "duration_ms": record.duration_ms,
            "registry_version": record.registry_version,
        });
        if record.pseudonyms.is_some() {
            v["pseudonymised"] = true.into();
        }
        for (name, value) in [
            ("client_message_id", record.client_message_id),
            ("client_system", record.client_system),
            ("trace_id", record.trace_id),
        ] {
            if let Some(value) = value {
                v[name] = value.into();
            }
        }
        v
    }

    #[test]
    fn a_stored_record_is_the_text_its_json_object_writes() {
        // Text that needs escaping in every free field: quotes, backslashes, controls, non-ASCII.
        let request = RequestParts {
            method: "POST",
            path: "/records/001090123456",
            query: "q=\"a\\b\"&who=Nguyễn Văn An\u{1}",
            client: "VN/GOV/BHXH/SI",
            service: "VN/GOV/BCA/DANCU/profile",
            message_id: "0192f7c8-1111-7000-8000-000000000001",
            timestamp: 1_764_892_800,
            purpose: "kiểm tra \"hồ sơ\"",
            user_id: "cán bộ\t01",
            issue: "",
            body_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            headers_sha256: "",
        };
        let answer = Answer {
            status: 200,
            body_sha256: "ab",
            timestamp: u64::MAX,
            signature: "b1.sig.0.1.",
            request_id: "r-1",
            headers_sha256: "cd",
        };
        let pseudonyms = Pseudonymiser::new([7; 32]);
        let hash = request.hash();
        for (pseudonymised, extras) in [
            (false, (None, None, None)),
            (
                true,
                (
                    Some("x-1"),
                    Some(""),
                    Some("4bf92f3577b34da6a3ce929d0e0e4736"),
                ),
            ),
            (false, (Some("x-2"), None, Some(""))),
        ] {
            let record = Record {
                side: "consumer",
                request: &request,
                request_signature: "b1.s.0.1.",
                consumer_key: "ck",
                provider_key: "pk",
                answer: &answer,
                code: "ok",
                data_subjects: vec!["001090123456".into(), "079190000001".into()],
                fields: vec!["full_name".into(), "personal_id".into(), "ghi chú".into()],
                bytes_in: 1043,
                bytes_out: 0,
                duration_ms: 12,
                registry_version: 3,
                pseudonyms: pseudonymised.then_some(&pseudonyms),
                request_hash: &hash,
                client_message_id: extras.0,
                client_system: extras.1,
                trace_id: extras.2,
            };
            let entry = record.entry();
            let before = built_as_before(&record);
            assert_eq!(entry.text, before.to_string());
            let stored: Vec<String> = before["data_subjects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(entry.subjects, stored);
            assert_eq!(
                entry.subjects[0].starts_with(PSEUDONYM_PREFIX),
                pseudonymised
            );
        }
    }
}
