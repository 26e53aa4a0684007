//! The registry: who the members are, where their nodes listen, which certificate and signing
//! key each uses, which services exist and which agreements allow whom to call what, for which
//! purposes. Published as a signed snapshot with a monotonic version and an expiry; nodes
//! verify it against the pinned registry key and refuse rollbacks and expired snapshots.

pub mod catalogue;
pub mod lookup;
pub mod server;
pub mod store;

use std::collections::BTreeMap;

use lienthong_core::{MemberId, ServiceId};
use serde::{Deserialize, Serialize};

/// A member subsystem's entry. Wire format (registry TOML and snapshot JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
    pub id: String,
    pub name: String,
    /// Ed25519 public key, base64: verifies the member's signed messages.
    pub signing_key: String,
    /// Where the member's node accepts node-to-node calls (`host:port`), if it provides services.
    #[serde(default)]
    pub address: Option<String>,
    /// SHA-256 fingerprint (hex) of the node's TLS certificate; the peer must present exactly it.
    pub cert_fingerprint: String,
    /// The verifier key (C2SP vkey, Ed25519) of the node's message-log key, apart from
    /// `signing_key`: it signs the log's checkpoints, named [`log_origin`] of the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<String>,
}

/// The origin line of a member's message-log checkpoints (and its log key's name).
pub fn log_origin(member: &str) -> String {
    format!("lienthong.log/{member}")
}

/// The witness: the member whose node cosigns every member's log checkpoints once it has
/// checked they extend what it saw before (C2SP tlog-witness), and its cosigning key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Witness {
    pub member: String,
    /// C2SP vkey of type `cosignature/v1` (0x04).
    pub key: String,
}

/// A service a provider publishes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`.
    pub id: String,
    /// The dictionary dataset the service returns (for field names and sensitivity).
    pub dataset: String,
    /// Whether responses carry personal data (then a purpose is mandatory).
    #[serde(default = "yes")]
    pub personal_data: bool,
    /// Whether the provider's node proxies the service to an existing REST API (any method
    /// and path the agreement allows) rather than publishing the dataset from a table.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rest: bool,
    /// Whether every call must name the officer behind it (`X-Road-UserId`), as personal-data
    /// services may require; refused at both nodes without one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub user_id_required: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

fn yes() -> bool {
    true
}

/// Permission for a consumer subsystem to call a service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    pub consumer: String,
    pub service: String,
    /// Field names the consumer may receive; `*` = every non-sensitive field. Sensitive fields
    /// (dictionary class `sensitive_personal`) are returned only when named here. Written
    /// as a list, or `"*"` alone.
    #[serde(deserialize_with = "field_list")]
    pub fields: Vec<String>,
    /// Purposes (codes) the consumer may state.
    pub purposes: Vec<String>,
    pub legal_basis: String,
    /// ISO dates, inclusive.
    pub valid_from: String,
    pub valid_to: String,
    /// HTTP methods the consumer may use on a REST-proxied service (`POST`, `PUT`…); empty:
    /// `GET` and `HEAD` only, a read agreement. Dataset services answer `GET`/`HEAD` whatever
    /// this says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Whether the consumer may follow the dataset's change feed (`/changes`): a permission
    /// of its own, never implied by a lookup agreement.
    #[serde(default, skip_serializing_if = "is_false")]
    pub changes: bool,
    /// The lawful basis of the processing, a code of [`LEGAL_BASES`] (`legal_basis` names
    /// the act). Under `consent`, each person's consent is checked at every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// Under `investigation`: days an access stays hidden from the person's history (the law
    /// lets an agency withhold it while it investigates); the history says how many were
    /// withheld and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withhold_days: Option<u32>,
}

/// The lawful bases of processing personal data an agreement may rest on (Law 91/2025 on
/// personal data protection: consent, Art. 9; the cases without consent): code, Vietnamese,
/// English.
pub const LEGAL_BASES: &[(&str, &str, &str)] = &[
    (
        "consent",
        "Sự đồng ý của chủ thể dữ liệu",
        "The data subject's consent",
    ),
    (
        "contract",
        "Thực hiện hợp đồng với chủ thể dữ liệu",
        "A contract with the data subject",
    ),
    (
        "legal-obligation",
        "Nghĩa vụ theo quy định của pháp luật",
        "A legal obligation",
    ),
    (
        "state-function",
        "Cơ quan nhà nước thực hiện nhiệm vụ theo quy định của pháp luật",
        "A state agency's duty under law",
    ),
    (
        "vital-interest",
        "Bảo vệ tính mạng, sức khỏe trong tình huống khẩn cấp",
        "Life or health in an emergency",
    ),
    (
        "national-security",
        "Quốc phòng, an ninh, trật tự an toàn xã hội; thảm họa, dịch bệnh",
        "Defence, security, public order; disasters, epidemics",
    ),
    (
        "investigation",
        "Điều tra, xử lý vi phạm pháp luật",
        "Investigation of an offence",
    ),
];

/// The longest a signed snapshot may be valid (7 days): nodes refuse longer ones.
pub const SNAPSHOT_VALIDITY_MAX_S: u64 = 7 * 86_400;

/// The methods an agreement may list.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl Agreement {
    /// Whether the agreement lets its consumer use `method` (`HEAD` goes with `GET`).
    pub fn allows_method(&self, method: &str) -> bool {
        if self.methods.is_empty() {
            return matches!(method, "GET" | "HEAD");
        }
        self.methods
            .iter()
            .any(|m| m == method || (method == "HEAD" && m == "GET"))
    }
}

/// An agreement's fields: a list of names, or the string `"*"` (every non-sensitive field).
fn field_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Fields {
        One(String),
        Many(Vec<String>),
    }
    match Fields::deserialize(d) {
        Ok(Fields::Many(list)) => Ok(list),
        Ok(Fields::One(s)) if s == "*" => Ok(vec![s]),
        _ => Err(serde::de::Error::custom(
            "fields must be a list of field names, or \"*\" for every non-sensitive field",
        )),
    }
}

/// Everything the registry publishes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub instance: String,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub agreements: Vec<Agreement>,
    /// Revoked member ids: their calls are refused whatever their agreements.
    #[serde(default)]
    pub revoked: Vec<String>,
    /// Who witnesses the members' message logs, if anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
    /// The national and sectoral databases of the program and their planned road
    /// (`catalogue.rs`); where each stands is measured, never stored here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catalogue: Vec<catalogue::Database>,
}

/// Entries added to the registry content, each replacing the entry with its key (a member or
/// a service by id, an agreement by consumer and service): what `keys sign` writes for a new
/// member (`member.toml`) and `registry apply --add` sends.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Additions {
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub agreements: Vec<Agreement>,
    /// Catalogue entries, each replacing the entry with its id.
    #[serde(default)]
    pub catalogue: Vec<catalogue::Database>,
}

impl Additions {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
            && self.services.is_empty()
            && self.agreements.is_empty()
            && self.catalogue.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry content: {0}")]
    Invalid(String),
    #[error("snapshot signature does not verify against the pinned registry key")]
    BadSignature,
    #[error("snapshot version {got} is older than the cached version {have} (rollback refused)")]
    Rollback { got: u64, have: u64 },
    #[error("snapshot expired at {expires_at} (now {now}); refusing to serve on stale rules")]
    Expired { expires_at: u64, now: u64 },
    #[error("snapshot is not valid JSON: {0}")]
    Malformed(String),
    #[error("registry store: {0}")]
    Store(String),
}

impl Registry {
    /// Adds entries, each replacing the one with its key, in place of order kept.
    pub fn add(&mut self, additions: Additions) {
        fn put<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T, &T) -> bool) {
            match list.iter_mut().find(|x| same(x, &item)) {
                Some(slot) => *slot = item,
                None => list.push(item),
            }
        }
        for m in additions.members {
            put(&mut self.members, m, |a, b| a.id == b.id);
        }
        for s in additions.services {
            put(&mut self.services, s, |a, b| a.id == b.id);
        }
        for a in additions.agreements {
            put(&mut self.agreements, a, |x, y| {
                x.consumer == y.consumer && x.service == y.service
            });
        }
        for d in additions.catalogue {
            put(&mut self.catalogue, d, |a, b| a.id == b.id);
        }
    }

    /// Checks identifiers and references; every error names the entry.
    pub fn validate(&self) -> Result<(), RegistryError> {
        let bad = |m: String| Err(RegistryError::Invalid(m));
        let mut members = BTreeMap::new();
        for m in &self.members {
            let id = MemberId::parse(&m.id)
                .map_err(|e| RegistryError::Invalid(format!("member {}: {e}", m.id)))?;
            if id.subsystem.is_none() {
                return bad(format!("member {}: a subsystem is required", m.id));
            }
            if members.insert(m.id.clone(), m).is_some() {
                return bad(format!("member {} listed twice", m.id));
            }
        }
        for s in &self.services {
            let id = ServiceId::parse(&s.id)
                .map_err(|e| RegistryError::Invalid(format!("service {}: {e}", s.id)))?;
            if !members.contains_key(&id.provider.to_string()) {
                return bad(format!("service {}: provider is not a member", s.id));
            }
        }
        let iso = |d: &str| {
            d.len() == 10
                && d.as_bytes()[4] == b'-'
                && d.as_bytes()[7] == b'-'
                && d.bytes()
                    .enumerate()
                    .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
        };
        for m in &self.members {
            if m.cert_fingerprint.len() != 64
                || !m
                    .cert_fingerprint
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return bad(format!(
                    "member {}: cert_fingerprint must be 64 lowercase hex digits",
                    m.id
                ));
            }
            if let Some(vkey) = &m.log_key {
                let v = lienthong_trust::note::NoteVerifier::parse(vkey).map_err(|e| {
                    RegistryError::Invalid(format!("member {}: log_key: {e}", m.id))
                })?;
                if v.sig_type != lienthong_trust::note::TYPE_ED25519 || v.name != log_origin(&m.id)
                {
                    return bad(format!(
                        "member {}: log_key must be an Ed25519 vkey named {}",
                        m.id,
                        log_origin(&m.id)
                    ));
                }
            }
        }
        if let Some(w) = &self.witness {
            if !members.contains_key(&w.member) {
                return bad(format!("witness {}: not a member", w.member));
            }
            let v = lienthong_trust::note::NoteVerifier::parse(&w.key)
                .map_err(|e| RegistryError::Invalid(format!("witness key: {e}")))?;
            if v.sig_type != lienthong_trust::note::TYPE_COSIGNATURE_V1 {
                return bad("witness key: must be a cosignature/v1 (type 0x04) vkey".into());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.agreements {
            if !iso(&a.valid_from) || !iso(&a.valid_to) {
                return bad(format!(
                    "agreement {} → {}: valid_from and valid_to must be YYYY-MM-DD",
                    a.consumer, a.service
                ));
            }
            if let Some(m) = a.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
                return bad(format!(
                    "agreement {} → {}: method {m:?} is not one of {}",
                    a.consumer,
                    a.service,
                    METHODS.join(", ")
                ));
            }
            if let Some(b) = a.basis.as_deref() {
                if !LEGAL_BASES.iter().any(|(code, _, _)| *code == b) {
                    return bad(format!(
                        "agreement {} → {}: basis {b:?} is not one of {}",
                        a.consumer,
                        a.service,
                        LEGAL_BASES
                            .iter()
                            .map(|l| l.0)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            if a.withhold_days.is_some() && a.basis.as_deref() != Some("investigation") {
                return bad(format!(
                    "agreement {} → {}: withhold_days needs basis = \"investigation\"",
                    a.consumer, a.service
                ));
            }
            if a.withhold_days.is_some_and(|d| d == 0 || d > 3650) {
                return bad(format!(
                    "agreement {} → {}: withhold_days is 1 to 3650",
                    a.consumer, a.service
                ));
            }
            if !seen.insert((a.consumer.as_str(), a.service.as_str())) {
                return bad(format!(
                    "agreement {} → {} is listed twice",
                    a.consumer, a.service
                ));
            }
        }
        for a in &self.agreements {
            if !members.contains_key(&a.consumer) {
                return bad(format!(
                    "agreement {} → {}: consumer is not a member",
                    a.consumer, a.service
                ));
            }
            if !self.services.iter().any(|s| s.id == a.service) {
                return bad(format!(
                    "agreement {} → {}: no such service",
                    a.consumer, a.service
                ));
            }
            if a.valid_from > a.valid_to {
                return bad(format!(
                    "agreement {} → {}: valid_from after valid_to",
                    a.consumer, a.service
                ));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for d in &self.catalogue {
            catalogue::check(d).map_err(RegistryError::Invalid)?;
            if !ids.insert(d.id.as_str()) {
                return bad(format!("catalogue {}: listed twice", d.id));
            }
        }
        Ok(())
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The services that publish a catalogue entry: its members' services for its datasets
    /// (every service of its members when it names no dataset).
    pub fn services_of<'a>(
        &'a self,
        db: &'a catalogue::Database,
    ) -> impl Iterator<Item = &'a Service> {
        self.services.iter().filter(move |s| {
            let provider = s.id.rsplit_once('/').map_or(s.id.as_str(), |p| p.0);
            db.members.iter().any(|m| m == provider)
                && (db.datasets.is_empty() || db.datasets.contains(&s.dataset))
        })
    }

    pub fn is_revoked(&self, id: &str) -> bool {
        self.revoked.iter().any(|r| {
            id.strip_prefix(r.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

/// The signed unit: exact JSON bytes of [`SnapshotBody`] and the registry's signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedSnapshot {
    pub body: String,
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotBody {
    pub version: u64,
    /// Unix seconds.
    pub issued_at: u64,
    pub expires_at: u64,
    pub registry: Registry,
    /// The registry's next signing key (public, base64), announced before it is used: a
    /// node that verified this snapshot with the key it trusts then also accepts snapshots
    /// signed by this one, and trusts it from the first it accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
}

impl SignedSnapshot {
    pub fn sign(body: &SnapshotBody, key: &lienthong_trust::SigningKey) -> SignedSnapshot {
        let body = serde_json::to_string(body).expect("snapshot serialises");
        let signature = key.sign(body.as_bytes());
        SignedSnapshot { body, signature }
    }

    /// Verifies signature, version (no rollback below `have`) and expiry at `now`.
    pub fn verify(
        &self,
        registry_key: &str,
        have: Option<u64>,
        now: u64,
    ) -> Result<SnapshotBody, RegistryError> {
        lienthong_trust::verify(registry_key, self.body.as_bytes(), &self.signature)
            .map_err(|_| RegistryError::BadSignature)?;
        let body: SnapshotBody = serde_json::from_str(&self.body)
            .map_err(|e| RegistryError::Malformed(e.to_string()))?;
        if let Some(have) = have {
            if body.version < have {
                return Err(RegistryError::Rollback {
                    got: body.version,
                    have,
                });
            }
        }
        // A snapshot valid for longer than the bound would keep a revoked member in for
        // that long, should the registry's key leak or the registry stop publishing.
        if body.expires_at > body.issued_at.saturating_add(SNAPSHOT_VALIDITY_MAX_S) {
            return Err(RegistryError::Malformed(format!(
                "snapshot v{} is valid for {} s, more than the {} s a snapshot may be",
                body.version,
                body.expires_at.saturating_sub(body.issued_at),
                SNAPSHOT_VALIDITY_MAX_S
            )));
        }
        if now >= body.expires_at {
            return Err(RegistryError::Expired {
                expires_at: body.expires_at,
                now,
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_valid_for_longer_than_a_week_is_refused() {
        let key = lienthong_trust::SigningKey::generate();
        let body = |days: u64| SnapshotBody {
            version: 1,
            issued_at: 1_000,
            expires_at: 1_000 + days * 86_400,
            registry: Registry::default(),
            next_key: None,
        };
        let ok = SignedSnapshot::sign(&body(7), &key);
        assert!(ok.verify(&key.public_b64(), None, 2_000).is_ok());
        let long = SignedSnapshot::sign(&body(8), &key);
        let err = long.verify(&key.public_b64(), None, 2_000).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    fn registry() -> Registry {
        toml::from_str(
            r#"
            instance = "VN"
            [[members]]
            id = "VN/GOV/BCA/DANCU"
            name = "Bộ Công an — dân cư"
            signing_key = "AAAA"
            address = "127.0.0.1:1"
            cert_fingerprint = "0000000000000000000000000000000000000000000000000000000000000000"
            [[members]]
            id = "VN/GOV/BHXH/SI"
            name = "BHXH"
            signing_key = "AAAA"
            cert_fingerprint = "0000000000000000000000000000000000000000000000000000000000000000"
            [[services]]
            id = "VN/GOV/BCA/DANCU/citizen"
            dataset = "citizen"
            [[agreements]]
            consumer = "VN/GOV/BHXH/SI"
            service = "VN/GOV/BCA/DANCU/citizen"
            fields = ["personal_id", "full_name"]
            purposes = ["insurance-enrolment"]
            legal_basis = "Luật BHXH 2024"
            valid_from = "2025-01-01"
            valid_to = "2030-12-31"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn additions_replace_by_key_and_append_the_rest() {
        let mut r = registry();
        let mut bhxh = r.members[1].clone();
        bhxh.address = Some("127.0.0.1:9".into());
        let mut new = bhxh.clone();
        new.id = "VN/GOV/BYT/BHYT".into();
        let mut agreement = r.agreements[0].clone();
        agreement.purposes = vec!["audit".into()];
        r.add(Additions {
            members: vec![bhxh.clone(), new.clone()],
            services: vec![],
            agreements: vec![agreement.clone()],
            catalogue: vec![],
        });
        assert_eq!(r.members.len(), 3);
        assert_eq!(r.members[1], bhxh, "replaced in place");
        assert_eq!(r.members[2], new, "appended");
        assert_eq!(
            r.agreements,
            vec![agreement],
            "one agreement per consumer and service"
        );
        assert!(r.validate().is_ok());
    }

    #[test]
    fn fields_as_a_list_or_a_star() {
        let text = toml::to_string(&registry()).unwrap();
        let star = text.replace(
            r#"fields = ["personal_id", "full_name"]"#,
            r#"fields = "*""#,
        );
        assert_ne!(star, text);
        let r: Registry = toml::from_str(&star).unwrap();
        assert_eq!(r.agreements[0].fields, vec!["*".to_owned()]);
        let bad = text.replace(
            r#"fields = ["personal_id", "full_name"]"#,
            r#"fields = "personal_id""#,
        );
        let err = toml::from_str::<Registry>(&bad).unwrap_err().to_string();
        assert!(err.contains("list of field names"), "{err}");
    }

    #[test]
    fn validates_references() {
        assert!(registry().validate().is_ok());
        let mut r = registry();
        r.agreements[0].service = "VN/GOV/BCA/DANCU/nope".into();
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no such service"));
        let mut r = registry();
        r.members[1].id = "VN/GOV/BHXH".into();
        assert!(r.validate().is_err());
    }

    #[test]
    fn snapshot_signature_rollback_and_expiry() {
        let key = lienthong_trust::SigningKey::generate();
        let body = SnapshotBody {
            version: 5,
            issued_at: 100,
            expires_at: 200,
            registry: registry(),
            next_key: None,
        };
        let signed = SignedSnapshot::sign(&body, &key);
        assert_eq!(
            signed.verify(&key.public_b64(), Some(5), 150).unwrap(),
            body
        );
        assert!(matches!(
            signed.verify(&key.public_b64(), Some(6), 150),
            Err(RegistryError::Rollback { .. })
        ));
        assert!(matches!(
            signed.verify(&key.public_b64(), None, 200),
            Err(RegistryError::Expired { .. })
        ));
        let other = lienthong_trust::SigningKey::generate();
        assert!(matches!(
            signed.verify(&other.public_b64(), None, 150),
            Err(RegistryError::BadSignature)
        ));
        let mut tampered = signed.clone();
        tampered.body = tampered.body.replace("insurance-enrolment", "anything");
        assert!(matches!(
            tampered.verify(&key.public_b64(), None, 150),
            Err(RegistryError::BadSignature)
        ));
    }
}
