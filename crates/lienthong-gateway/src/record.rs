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

/// Personal IDs and field names in an answer: from the key in the path (when the dataset is
/// keyed by a personal ID) and from every field bound to the `personal_id` element.
///
/// The body is read as it is parsed, keeping only each object's names and string values: the
/// same answer as [`subjects_and_fields_of`] over its `Value`, without building one (an
/// answer of a few megabytes of rows would be a tree of millions of allocations).
pub fn subjects_and_fields(
    dataset: Option<&Dataset>,
    path: &str,
    body: &[u8],
) -> (Vec<String>, Vec<String>) {
    let objects = match serde_json::from_slice::<scan::Top>(body) {
        Ok(scan::Top::Records(objects) | scan::Top::Array(objects)) => objects,
        Ok(scan::Top::Object(object)) => vec![object],
        Ok(scan::Top::Other) | Err(_) => Vec::new(),
    };
    let (mut subjects, mut fields) = (path_subject(dataset, path), Vec::new());
    for object in &objects {
        for (name, value) in object {
            add_field(
                dataset,
                (name, value.as_deref()),
                &mut subjects,
                &mut fields,
            );
        }
    }
    (subjects, fields)
}

/// The person a path names: its key, when the dataset is keyed by a personal ID.
fn path_subject(dataset: Option<&Dataset>, path: &str) -> Vec<String> {
    match (dataset, path.strip_prefix("/records/")) {
        (Some(d), Some(key)) if d.key.first().is_some_and(|k| is_pid(dataset, k)) => {
            vec![key.to_owned()]
        }
        _ => Vec::new(),
    }
}

fn is_pid(dataset: Option<&Dataset>, name: &str) -> bool {
    dataset
        .and_then(|d| d.field(name))
        .is_some_and(|f| f.element == "personal_id")
}

/// One field of an answer's object: its name among the fields, its value among the persons
/// when it is a personal ID (not empty, not masked).
fn add_field(
    dataset: Option<&Dataset>,
    (name, value): (&str, Option<&str>),
    subjects: &mut Vec<String>,
    fields: &mut Vec<String>,
) {
    if !fields.iter().any(|f| f == name) {
        fields.push(name.to_owned());
    }
    if let Some(s) = value.filter(|s| !s.is_empty() && *s != "***" && is_pid(dataset, name)) {
        if !subjects.iter().any(|x| x == s) {
            subjects.push(s.to_owned());
        }
    }
}

/// [`subjects_and_fields`] of an answer already parsed (`Null` when it is not JSON).
pub fn subjects_and_fields_of(
    dataset: Option<&Dataset>,
    path: &str,
    value: &Value,
) -> (Vec<String>, Vec<String>) {
    let objects: Vec<&serde_json::Map<String, Value>> = match value {
        Value::Object(m) if m.contains_key("records") => m["records"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default(),
        Value::Object(m) if m.contains_key("type") && m.contains_key("message") => Vec::new(),
        Value::Object(m) => vec![m],
        Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    let (mut subjects, mut fields) = (path_subject(dataset, path), Vec::new());
    for object in objects {
        for (name, value) in object {
            add_field(dataset, (name, value.as_str()), &mut subjects, &mut fields);
        }
    }
    (subjects, fields)
}

/// An answer's objects read straight from its text: each object's keys and string values, in
/// the order a `serde_json::Map` holds them (sorted by key, the last of a repeated key), every
/// other value parsed and checked as for a `Value` but not kept.
mod scan {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    /// An object's fields: name, and the value when it is a string (borrowed from the text
    /// where it has no escapes).
    pub type Object<'de> = Vec<(Cow<'de, str>, Option<Cow<'de, str>>)>;

    /// The answer's shape, as [`super::subjects_and_fields_of`] reads a `Value`.
    pub enum Top<'de> {
        /// An object with `records`: the objects of that array (none when it is no array).
        Records(Vec<Object<'de>>),
        /// An array: its objects.
        Array(Vec<Object<'de>>),
        /// Any other object, not an error answer (`type` and `message`).
        Object(Object<'de>),
        Other,
    }

    impl<'de> de::Deserialize<'de> for Top<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Top<'de>, D::Error> {
            d.deserialize_any(TopVisitor)
        }
    }

    /// Scalars: what a visitor of a value it keeps nothing of answers for them.
    macro_rules! scalars {
        ($value:expr) => {
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok($value)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok($value)
            }
        };
    }

    struct TopVisitor;

    impl<'de> Visitor<'de> for TopVisitor {
        type Value = Top<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(Top::Other);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Top::Other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            objects(seq).map(Top::Array)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields: Object<'de> = Vec::new();
            let mut records: Option<Vec<Object<'de>>> = None;
            let (mut has_records, mut has_type, mut has_message) = (false, false, false);
            while let Some(key) = map.next_key_seed(Text)? {
                match key.as_ref() {
                    // The last `records` counts, as in a `Map`.
                    "records" => {
                        has_records = true;
                        records = map.next_value_seed(MaybeObjects)?;
                        continue;
                    }
                    "type" => has_type = true,
                    "message" => has_message = true,
                    _ => {}
                }
                fields.push((key, map.next_value_seed(MaybeText)?));
            }
            Ok(if has_records {
                Top::Records(records.unwrap_or_default())
            } else if has_type && has_message {
                Top::Other
            } else {
                Top::Object(in_map_order(fields))
            })
        }
    }

    /// Sorted by name, the last of a repeated name kept: the order of a `serde_json::Map`.
    fn in_map_order(mut fields: Object<'_>) -> Object<'_> {
        // A stable sort keeps repeats in the order sent; the last of each run is kept.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Object<'_> = Vec::with_capacity(fields.len());
        for field in fields {
            match out.last_mut() {
                Some(last) if last.0 == field.0 => *last = field,
                _ => out.push(field),
            }
        }
        out
    }

    /// The objects among an array's items (other items parsed, not kept).
    fn objects<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<Object<'de>>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(MaybeObject)? {
            out.extend(item);
        }
        Ok(out)
    }

    /// A string, borrowed from the text where it has no escapes.
    struct Text;

    impl<'de> DeserializeSeed<'de> for Text {
        type Value = Cow<'de, str>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Text)
        }
    }

    impl<'de> Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
    }

    /// A value kept when it is a string.
    struct MaybeText;

    impl<'de> DeserializeSeed<'de> for MaybeText {
        type Value = Option<Cow<'de, str>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(MaybeText)
        }
    }

    impl<'de> Visitor<'de> for MaybeText {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(None);
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_map(map).map(|()| None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_seq(seq).map(|()| None)
        }
    }

    /// The objects of an array value, or `None` when the value is no array.
    struct MaybeObjects;

    impl<'de> DeserializeSeed<'de> for MaybeObjects {
        type Value = Option<Vec<Object<'de>>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(MaybeObjects)
        }
    }

    impl<'de> Visitor<'de> for MaybeObjects {
        type Value = Option<Vec<Object<'de>>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(None);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            objects(seq).map(Some)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_map(map).map(|()| None)
        }
    }

    /// An object's fields, or `None` for any other value.
    struct MaybeObject;

    impl<'de> DeserializeSeed<'de> for MaybeObject {
        type Value = Option<Object<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(MaybeObject)
        }
    }

    impl<'de> Visitor<'de> for MaybeObject {
        type Value = Option<Object<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(None);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = Vec::new();
            while let Some(key) = map.next_key_seed(Text)? {
                fields.push((key, map.next_value_seed(MaybeText)?));
            }
            Ok(Some(in_map_order(fields)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Ignore.visit_seq(seq).map(|()| None)
        }
    }

    /// Any value, parsed as for a `Value` (numbers in range, escapes valid) and dropped:
    /// `serde::de::IgnoredAny` would skip numbers without reading them.
    struct Ignore;

    impl<'de> DeserializeSeed<'de> for Ignore {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Ignore)
        }
    }

    impl<'de> Visitor<'de> for Ignore {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        scalars!(());
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while map.next_key_seed(Ignore)?.is_some() {
                map.next_value_seed(Ignore)?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Ignore)?.is_some() {}
            Ok(())
        }
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

    /// The answer's objects read as a `Value`, as before they were read straight from the text.
    fn read_as_value(path: &str, body: &[u8]) -> (Vec<String>, Vec<String>) {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        subjects_and_fields_of(Some(&catalog::CITIZEN), path, &value)
    }

    /// JSON with repeated names, every shape `subjects_and_fields` tells apart, escapes, and
    /// numbers and strings a `Value` refuses.
    fn answer_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop::sample::select(vec![
            r#""records""#,
            r#""type""#,
            r#""message""#,
            r#""personal_id""#,
            r#""full_name""#,
            r#""personal_\u0069d""#,
            r#""a""#,
            r#""""#,
        ]);
        let leaf = prop::sample::select(vec![
            r#""001090123456""#,
            r#""079190000001""#,
            r#""""#,
            r#""***""#,
            r#""x\"y""#,
            "\"Nguyễn\"",
            r#""\u0030""#,
            "1",
            "-0",
            "1.5e3",
            "1e400",
            "18446744073709551616",
            "null",
            "true",
            r#""\ud800""#,
            r#""\ud83d\ude00""#,
        ])
        .prop_map(str::to_owned);
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((name.clone(), inner), 0..6).prop_map(|v| {
                    let fields: Vec<String> = v.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn an_answer_read_from_its_text_names_what_its_value_names(
            text in answer_text(),
            tail in proptest::sample::select(vec!["", " ", "\n", " x", ",", "]"]),
            path in proptest::sample::select(vec!["", "/records/001090123456", "/records/x"]),
        ) {
            let body = format!("{text}{tail}");
            proptest::prop_assert_eq!(
                subjects_and_fields(Some(&catalog::CITIZEN), path, body.as_bytes()),
                read_as_value(path, body.as_bytes())
            );
        }
    }

    #[test]
    fn an_answer_read_from_its_text_names_the_persons_and_fields_its_value_names() {
        let cases: &[&str] = &[
            r#"{"personal_id":"001090123456","full_name":"An","sex":"1"}"#,
            r#"[{"personal_id":"001090123456"},{"personal_id":"001090123456","b":1},2,"x",[{"personal_id":"1"}]]"#,
            r#"{"records":[{"personal_id":"079190000001","z":null},{"a":{"personal_id":"9"}}],"next":"c"}"#,
            r#"{"records":{"personal_id":"1"},"personal_id":"2"}"#,
            r#"{"records":[{"personal_id":"1"}],"records":[{"personal_id":"2"}]}"#,
            r#"{"personal_id":"1","personal_id":"2","a":"x","a":3}"#,
            r#"{"type":"Server.X","message":"no","personal_id":"1"}"#,
            r#"{"type":"t","personal_id":"***","full_name":""}"#,
            r#"{"personal_id":"","b":1e400}"#,
            r#"{"personal_\u0069d":"00109012345\u0036"}"#,
            r#"{"personal_id":"\ud800"}"#,
            r#"{"personal_id":"1"} x"#,
            "",
            "null",
            "[]",
            "{}",
            r#""s""#,
            "12",
            "[1,2",
            r#"{"a":}"#,
        ];
        for case in cases {
            for path in ["", "/records/001090123456"] {
                assert_eq!(
                    subjects_and_fields(Some(&catalog::CITIZEN), path, case.as_bytes()),
                    read_as_value(path, case.as_bytes()),
                    "{case} at {path:?}"
                );
            }
        }
        let (subjects, fields) =
            subjects_and_fields(Some(&catalog::CITIZEN), "", cases[2].as_bytes());
        assert_eq!(subjects, ["079190000001"]);
        assert_eq!(fields, ["personal_id", "z", "a"]);
        let (subjects, _) = subjects_and_fields(Some(&catalog::CITIZEN), "", cases[9].as_bytes());
        assert_eq!(subjects, ["001090123456"]);
        // Without a dataset nobody is a person; fields are still read.
        let (subjects, fields) = subjects_and_fields(None, "/records/1", cases[0].as_bytes());
        assert!(subjects.is_empty());
        assert_eq!(fields, ["full_name", "personal_id", "sex"]);
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
