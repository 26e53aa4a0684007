//! E-documents a node issues from its datasets as SD-JWT VCs (docs/documents.md): what a
//! document kind is, the claims a record gives it, who its issuer is, and the checks a
//! verifier makes with the registry alone — issuer key from the snapshot, signature and
//! disclosures (`trust::sdjwt`), then the status list entry. Pure: no I/O, time passed in.

use lienthong_registry::Registry;
use lienthong_trust::sdjwt::{self, status, Expect, Issue, SdJwtError, Verified};
use serde_json::{Map, Value};

/// The `iss` of documents a member issues; the registry maps it back to the member's key.
pub fn issuer_uri(member: &str) -> String {
    format!("urn:lienthong:member:{member}")
}

/// The member an `iss` names, if it is one of ours.
pub fn issuer_member(iss: &str) -> Option<&str> {
    iss.strip_prefix("urn:lienthong:member:")
}

/// A kind of document a node issues (node TOML `[[documents]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentKind {
    /// Short name: `residence`, `health_insurance`, …
    pub kind: String,
    /// The SD-JWT VC type.
    pub vct: String,
    pub name_vi: String,
    pub name_en: String,
    /// The dataset service (a `[[tables]]` code) the claims are read from.
    pub table: String,
    /// The dataset field that holds the person's personal id (its key or a declared filter).
    pub subject_field: String,
    /// The dataset fields that become claims, each selectively disclosable.
    pub claims: Vec<String>,
    pub valid_days: u32,
}

/// What a node issues (node TOML `[documents]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentsConfig {
    /// Where verifiers fetch this node's status list: the center publishes every issuer's
    /// at `<status_base>/<member id, percent-encoded>`.
    pub status_base: String,
    pub kinds: Vec<DocumentKind>,
}

impl DocumentsConfig {
    /// The status list URI of `member`'s documents.
    pub fn status_uri(&self, member: &str) -> String {
        status_uri(&self.status_base, member)
    }
}

/// `<base>/<member id, percent-encoded>`: the URI of a member's status list.
pub fn status_uri(base: &str, member: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        member.replace('%', "%25").replace('/', "%2F")
    )
}

/// Documents issued to one person are few; a bound keeps a caller from asking for
/// thousands.
pub const DOCUMENTS_PER_PERSON_MAX: usize = 100;

/// The claims of a document from the dataset record: the kind's fields that hold a value.
pub fn claims_of(kind: &DocumentKind, record: &[(&str, String)]) -> Map<String, Value> {
    kind.claims
        .iter()
        .filter_map(|c| {
            record
                .iter()
                .find(|(f, v)| f == c && !v.is_empty())
                .map(|(f, v)| ((*f).to_owned(), Value::String(v.clone())))
        })
        .collect()
}

/// Where a document stands in its issuer's status list.
pub struct StatusEntry<'a> {
    pub uri: &'a str,
    pub idx: u64,
}

/// Everything to sign one document.
pub struct NewDocument<'a> {
    pub issuer: &'a str,
    pub key: &'a lienthong_trust::SigningKey,
    pub kind: &'a DocumentKind,
    pub claims: Map<String, Value>,
    pub status: StatusEntry<'a>,
    pub holder_jwk: Option<Value>,
    pub now: u64,
}

/// The SD-JWT VC, and when it expires.
pub fn issue(doc: NewDocument) -> Result<(String, u64), SdJwtError> {
    let expires = doc.now + u64::from(doc.kind.valid_days) * 86_400;
    let visible = serde_json::json!({
        "iss": issuer_uri(doc.issuer),
        "vct": doc.kind.vct,
        "iat": doc.now,
        "exp": expires,
        "status": { "status_list": { "idx": doc.status.idx, "uri": doc.status.uri } },
    });
    let Value::Object(visible) = visible else {
        unreachable!("a JSON object literal")
    };
    let token = sdjwt::issue(Issue {
        key: doc.key,
        kid: doc.issuer,
        visible,
        disclosable: doc.claims,
        holder_jwk: doc.holder_jwk,
    })?;
    Ok((token, expires))
}

/// The JWK of the member an `iss` names, from the registry: known, not revoked.
pub fn issuer_key(registry: &Registry, iss: &str) -> Option<Value> {
    let member = issuer_member(iss)?;
    if registry.is_revoked(member) {
        return None;
    }
    lienthong_trust::ed25519_jwk(&registry.member(member)?.signing_key).ok()
}

/// Verifies a document or a presentation against the registry: a lienthong member issued
/// it (`typ` `dc+sd-jwt`), with what `expect` asks of key binding.
pub fn verify(
    presentation: &str,
    registry: &Registry,
    now: u64,
    kb: Option<(&str, &str)>,
) -> Result<Verified, SdJwtError> {
    let expect = Expect {
        now,
        typs: &[sdjwt::VC_TYP, sdjwt::VC_TYP_LEGACY],
        kb,
        kb_age_s: 600,
    };
    sdjwt::verify(presentation, |iss, _| issuer_key(registry, iss), &expect)
}

/// The document's status from its issuer's status list token (fetched by the caller from
/// the document's `status.status_list.uri`): the value, or why it cannot be told.
pub fn status_of(
    verified: &Verified,
    registry: &Registry,
    token: &str,
    now: u64,
) -> Result<u8, SdJwtError> {
    let (uri, idx) = verified
        .status_entry()
        .ok_or_else(|| SdJwtError::Invalid("the document has no status entry".into()))?;
    let key = issuer_key(registry, verified.issuer())
        .ok_or_else(|| SdJwtError::Invalid("unknown issuer".into()))?;
    let list = status::verify_token(token, &key, uri, now)?;
    usize::try_from(idx)
        .ok()
        .and_then(|i| list.get(i))
        .ok_or_else(|| SdJwtError::Invalid(format!("index {idx} is beyond the status list")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_registry::Member;
    use lienthong_trust::SigningKey;

    fn registry(key: &SigningKey) -> Registry {
        Registry {
            members: vec![Member {
                id: "VN/GOV/BCA/DANCU".into(),
                name: "Population register".into(),
                signing_key: key.public_b64(),
                address: None,
                cert_fingerprint: "00".repeat(32),
                log_key: None,
            }],
            ..Registry::default()
        }
    }

    fn kind() -> DocumentKind {
        DocumentKind {
            kind: "residence".into(),
            vct: "urn:vn:lienthong:vct:residence".into(),
            name_vi: "Xác nhận cư trú".into(),
            name_en: "Residence confirmation".into(),
            table: "citizens".into(),
            subject_field: "personal_id".into(),
            claims: vec!["personal_id".into(), "full_name".into(), "phone".into()],
            valid_days: 30,
        }
    }

    #[test]
    fn a_document_verifies_with_the_registry_and_its_status_list() {
        let key = SigningKey::generate();
        let record = [
            ("personal_id", "001090000001".to_owned()),
            ("full_name", "Nguyễn Văn An".to_owned()),
            ("phone", String::new()),
            ("religion", "none".to_owned()),
        ];
        let claims = claims_of(&kind(), &record);
        assert_eq!(
            claims.keys().collect::<Vec<_>>(),
            ["full_name", "personal_id"]
        );
        let uri = "https://center/status/VN%2FGOV%2FBCA%2FDANCU";
        let (doc, exp) = issue(NewDocument {
            issuer: "VN/GOV/BCA/DANCU",
            key: &key,
            kind: &kind(),
            claims,
            status: StatusEntry { uri, idx: 3 },
            holder_jwk: None,
            now: 1_800_000_000,
        })
        .unwrap();
        assert_eq!(exp, 1_800_000_000 + 30 * 86_400);
        let reg = registry(&key);
        let v = verify(&doc, &reg, 1_800_000_100, None).expect("verifies");
        assert_eq!(v.claims["full_name"], "Nguyễn Văn An");
        let mut list = status::StatusList::new(1).unwrap();
        list.set(3, status::INVALID);
        let token = status::sign_token(&key, "VN/GOV/BCA/DANCU", uri, &list, 1_800_000_000, 600);
        assert_eq!(
            status_of(&v, &reg, &token, 1_800_000_100),
            Ok(status::INVALID)
        );
        // A revoked member's documents no longer verify; nor do those of a stranger.
        let mut revoked = reg.clone();
        revoked.revoked.push("VN/GOV/BCA/DANCU".into());
        assert!(verify(&doc, &revoked, 1_800_000_100, None).is_err());
        assert!(verify(
            &doc,
            &registry(&SigningKey::generate()),
            1_800_000_100,
            None
        )
        .is_err());
        assert!(verify(&doc, &reg, 1_800_000_000 + 31 * 86_400, None).is_err());
    }
}
