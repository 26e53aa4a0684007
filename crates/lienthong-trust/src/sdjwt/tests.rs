use super::status::{self, StatusList};
use super::unpack::decode;
use super::*;
use serde_json::json;

const NOW: u64 = 1_800_000_000;

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}

fn document(issuer: &SigningKey, holder: Option<&HolderKey>) -> String {
    issue(Issue {
        key: issuer,
        kid: "VN/GOV/BCA/DANCU",
        visible: map(json!({ "iss": "urn:x:bca", "vct": "urn:x:residence", "iat": NOW, "exp": NOW + 86_400 })),
        disclosable: map(json!({
            "full_name": "Nguyễn Văn An",
            "birth_date": "1990-02-03",
            "address": { "province": "01", "commune": "00004" },
        })),
        holder_jwk: holder.map(|h| h.public_jwk().clone()),
    })
    .expect("issues")
}

fn keys(issuer: &SigningKey) -> impl Fn(&str, &Map<String, Value>) -> Option<Value> + '_ {
    move |iss, _| (iss == "urn:x:bca").then(|| issuer.public_jwk())
}

fn expect(kb: Option<(&'static str, &'static str)>) -> Expect<'static> {
    Expect {
        now: NOW + 10,
        typs: &[VC_TYP],
        kb,
        kb_age_s: 300,
    }
}

#[test]
fn an_issued_document_verifies_with_every_claim() {
    let issuer = SigningKey::generate();
    let doc = document(&issuer, None);
    let v = verify(&doc, keys(&issuer), &expect(None)).expect("verifies");
    assert_eq!(v.claims["full_name"], "Nguyễn Văn An");
    assert_eq!(v.claims["address"]["commune"], "00004");
    assert_eq!(v.claims["vct"], "urn:x:residence");
    assert!(!v.claims.contains_key("_sd") && !v.claims.contains_key("_sd_alg"));
    let mut paths = v.disclosed.clone();
    paths.sort();
    assert_eq!(
        paths,
        [
            "address",
            "address.commune",
            "address.province",
            "birth_date",
            "full_name"
        ]
    );
    // Decoys round the top level up to eight digests.
    let payload = Jws::parse(split(&doc).unwrap().jwt).unwrap().payload;
    assert_eq!(payload["_sd"].as_array().unwrap().len(), 8);
}

#[test]
fn a_presentation_shows_only_what_the_holder_chose() {
    let issuer = SigningKey::generate();
    let doc = document(&issuer, None);
    let shown = present(&doc, &["address.province"], None).expect("presents");
    let v = verify(&shown, keys(&issuer), &expect(None)).expect("verifies");
    assert_eq!(v.claims["address"], json!({ "province": "01" }));
    assert!(!v.claims.contains_key("full_name") && !v.claims.contains_key("birth_date"));
    let none = present(&doc, &[], None).expect("presents");
    assert!(!verify(&none, keys(&issuer), &expect(None))
        .unwrap()
        .claims
        .contains_key("address"));
    assert!(
        matches!(present(&doc, &["salary"], None), Err(SdJwtError::Invalid(m)) if m.contains("birth_date"))
    );
}

#[test]
fn key_binding_ties_a_presentation_to_the_holder_the_audience_and_the_nonce() {
    let issuer = SigningKey::generate();
    let p256 = HolderKey::from_pem(&HolderKey::generate_p256_pem().unwrap()).unwrap();
    assert_eq!(p256.public_jwk()["crv"], "P-256");
    let ed = HolderKey::from_pem(&SigningKey::generate().to_pem().unwrap()).unwrap();
    for holder in [p256, ed] {
        holder_binding(&issuer, &holder);
    }
}

fn holder_binding(issuer: &SigningKey, holder: &HolderKey) {
    let doc = document(issuer, Some(holder));
    let kb = |key, aud, nonce| {
        Some(KeyBinding {
            key,
            aud,
            nonce,
            iat: NOW,
        })
    };
    let shown = present(&doc, &["full_name"], kb(holder, "https://verifier", "n-1")).unwrap();
    let v = verify(
        &shown,
        keys(issuer),
        &expect(Some(("https://verifier", "n-1"))),
    )
    .expect("verifies");
    assert_eq!(v.key_binding.unwrap()["nonce"], "n-1");
    for (aud, nonce) in [("https://other", "n-1"), ("https://verifier", "n-2")] {
        assert!(verify(&shown, keys(issuer), &expect(Some((aud, nonce)))).is_err());
    }
    // Without the key-binding JWT, a verifier that asks for one refuses it.
    let bare = present(&doc, &["full_name"], None).unwrap();
    assert!(verify(
        &bare,
        keys(issuer),
        &expect(Some(("https://verifier", "n-1")))
    )
    .is_err());
    // Another key cannot present it; a disclosure added after signing breaks sd_hash.
    let thief = HolderKey::from_pem(&HolderKey::generate_p256_pem().unwrap()).unwrap();
    assert!(present(&doc, &["full_name"], kb(&thief, "https://verifier", "n-1")).is_err());
    let (head, kb_jwt) = shown.rsplit_once('~').unwrap();
    let extra = split(&doc)
        .unwrap()
        .disclosures
        .into_iter()
        .find(|d| decode(d).unwrap().name.as_deref() == Some("birth_date"))
        .unwrap();
    let widened = format!("{head}~{extra}~{kb_jwt}");
    assert!(
        matches!(verify(&widened, keys(issuer), &expect(Some(("https://verifier", "n-1")))), Err(SdJwtError::Invalid(m)) if m.contains("sd_hash"))
    );
    // A stale key-binding JWT is refused.
    let old = Expect {
        now: NOW + 3_600,
        ..expect(Some(("https://verifier", "n-1")))
    };
    assert!(verify(&shown, keys(issuer), &old).is_err());
}

#[test]
fn forged_altered_expired_or_unknown_documents_are_refused() {
    let issuer = SigningKey::generate();
    let doc = document(&issuer, None);
    let other = SigningKey::generate();
    assert!(matches!(
        verify(&doc, |_, _| Some(other.public_jwk()), &expect(None)),
        Err(SdJwtError::Signature(_))
    ));
    assert!(verify(&doc, |_, _| None, &expect(None)).is_err());
    // A disclosure the issuer never signed.
    let forged = b64url(json!(["c2FsdA", "full_name", "Trần Thị Bình"]).to_string());
    let mut parts: Vec<&str> = doc.split('~').collect();
    parts[1] = &forged;
    assert!(matches!(
        verify(&parts.join("~"), keys(&issuer), &expect(None)),
        Err(SdJwtError::Malformed(_))
    ));
    // The same disclosure twice.
    let first = doc.split('~').nth(1).unwrap();
    assert!(verify(&format!("{doc}{first}~"), keys(&issuer), &expect(None)).is_err());
    let late = Expect {
        now: NOW + 2 * 86_400,
        ..expect(None)
    };
    assert!(
        matches!(verify(&doc, keys(&issuer), &late), Err(SdJwtError::Invalid(m)) if m.contains("expired"))
    );
    let typs = Expect {
        typs: &["example+sd-jwt"],
        ..expect(None)
    };
    assert!(verify(&doc, keys(&issuer), &typs).is_err());
    for junk in ["", "abc", "a.b.c~", "~~", "e30.e30.~"] {
        assert!(
            verify(junk, keys(&issuer), &expect(None)).is_err(),
            "{junk}"
        );
    }
}

#[test]
fn the_issuer_refuses_claims_it_sets_itself() {
    let issuer = SigningKey::generate();
    let spec = |visible: Value, disclosable: Value| Issue {
        key: &issuer,
        kid: "k",
        visible: map(visible),
        disclosable: map(disclosable),
        holder_jwk: None,
    };
    assert!(issue(spec(json!({}), json!({ "_sd": [] }))).is_err());
    assert!(issue(spec(json!({ "a": 1 }), json!({ "a": 2 }))).is_err());
    assert!(issue(spec(json!({ "cnf": {} }), json!({}))).is_err());
}

#[test]
fn status_lists_match_the_specification_examples() {
    // draft-ietf-oauth-status-list, section 4.1: 1-bit and 2-bit examples.
    let one = StatusList::from_claim(&json!({ "bits": 1, "lst": "eNrbuRgAAhcBXQ" })).unwrap();
    let expected = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
    assert_eq!(
        (0..16).map(|i| one.get(i).unwrap()).collect::<Vec<_>>(),
        expected
    );
    let two = StatusList::from_claim(&json!({ "bits": 2, "lst": "eNo76fITAAPfAgc" })).unwrap();
    let expected = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
    assert_eq!(
        (0..12).map(|i| two.get(i).unwrap()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(two.get(12), None);
    let mut built = StatusList::new(1).unwrap();
    for (i, s) in [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
        .into_iter()
        .enumerate()
    {
        built.set(i, s);
    }
    assert_eq!(StatusList::from_claim(&built.to_claim()).unwrap(), one);
    assert!(StatusList::new(3).is_err());
    assert!(StatusList::from_claim(&json!({ "bits": 1, "lst": "bm90IHpsaWI" })).is_err());
}

#[test]
fn a_status_list_token_verifies_for_its_uri_only() {
    let issuer = SigningKey::generate();
    let mut list = StatusList::new(1).unwrap();
    list.set(5, status::INVALID);
    let token = status::sign_token(&issuer, "k", "https://center/status/A", &list, NOW, 3_600);
    let got =
        status::verify_token(&token, &issuer.public_jwk(), "https://center/status/A", NOW).unwrap();
    assert_eq!(
        (got.get(5), got.get(4)),
        (Some(status::INVALID), Some(status::VALID))
    );
    assert!(
        status::verify_token(&token, &issuer.public_jwk(), "https://center/status/B", NOW).is_err()
    );
    assert!(status::verify_token(
        &token,
        &SigningKey::generate().public_jwk(),
        "https://center/status/A",
        NOW
    )
    .is_err());
    assert!(status::verify_token(
        &token,
        &issuer.public_jwk(),
        "https://center/status/A",
        NOW + 3 * 3_600
    )
    .is_err());
}
