//! E-documents interoperate with the IETF SD-JWT reference implementation (PyPI `sd-jwt`,
//! installed by scripts/test.sh): it verifies what `lienthong doc` issues and presents, and
//! `lienthong doc verify` accepts what it issues and presents, refusing what is altered.

use std::path::Path;
use std::process::{Command, Output};

use lienthong_registry::{Member, Registry, SignedSnapshot, SnapshotBody};
use lienthong_trust::SigningKey;

use super::{lienthong, succeeded};

const MEMBER: &str = "VN/GOV/BCA/DANCU";

fn reference(python: &str, args: &[&str], cwd: &Path) -> Output {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/sdjwt_reference.py"
    );
    Command::new(python)
        .arg(script)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("running the reference implementation")
}

/// A member key, a registry snapshot naming it (signed by a registry key), the issuer's
/// JWK and a claims file, in `dir`. Returns the registry's public key.
fn setup(dir: &Path) -> String {
    let member = SigningKey::generate();
    std::fs::write(dir.join("signing.key"), member.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("issuer.jwk"), member.public_jwk().to_string()).unwrap();
    let registry_key = SigningKey::generate();
    let now = lienthong_core::time::now_s();
    let body = SnapshotBody {
        version: 1,
        issued_at: now,
        expires_at: now + 3_600,
        registry: Registry {
            members: vec![Member {
                id: MEMBER.into(),
                name: "Cơ sở dữ liệu quốc gia về dân cư".into(),
                signing_key: member.public_b64(),
                address: None,
                cert_fingerprint: "00".repeat(32),
                log_key: None,
            }],
            ..Registry::default()
        },
        next_key: None,
    };
    let snapshot = SignedSnapshot::sign(&body, &registry_key);
    std::fs::write(
        dir.join("snapshot.json"),
        serde_json::to_string(&snapshot).unwrap(),
    )
    .unwrap();
    let claims = serde_json::json!({
        "personal_id": "001090000001", "full_name": "Nguyễn Văn An", "birth_date": "1990-02-03",
        "address": { "province": "01", "commune": "00004" },
    });
    std::fs::write(dir.join("claims.json"), claims.to_string()).unwrap();
    registry_key.public_b64()
}

#[test]
fn documents_interoperate_with_the_sd_jwt_reference_implementation() {
    let Some(python) = lienthong_testkit::service("LIENTHONG_TEST_SDJWT_PYTHON") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let registry_key = setup(d);
    succeeded(
        lienthong(&["doc", "holder-key", "--out", "holder.pem"], d),
        "holder key",
    );

    // lienthong issues and presents; the reference implementation verifies.
    let issue = [
        "doc",
        "issue",
        "--key",
        "signing.key",
        "--member",
        MEMBER,
        "--vct",
        "urn:vn:lienthong:vct:residence",
        "--claims",
        "claims.json",
        "--holder-jwk",
        "holder.pem.jwk.json",
        "--out",
        "doc.sd-jwt",
    ];
    succeeded(lienthong(&issue, d), "issue");
    // The reference verifies a document (with the key binding a verifier asks for, if any).
    let check = |doc: &str, kb: &[&str]| {
        let mut args = vec!["verify", "--issuer-jwk", "issuer.jwk", "--doc", doc];
        args.extend_from_slice(kb);
        reference(&python, &args, d)
    };
    let all = succeeded(
        check("doc.sd-jwt", &[]),
        "the reference verifies the issued document",
    );
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all["full_name"], "Nguyễn Văn An");
    assert_eq!(all["address"]["commune"], "00004");
    assert_eq!(all["iss"], format!("urn:lienthong:member:{MEMBER}"));
    let present = [
        "doc",
        "present",
        "--doc",
        "doc.sd-jwt",
        "--disclose",
        "address.province,birth_date",
        "--holder-key",
        "holder.pem",
        "--aud",
        "https://verifier.example",
        "--nonce",
        "n-42",
        "--out",
        "shown.sd-jwt",
    ];
    succeeded(lienthong(&present, d), "present");
    let shown_to = |nonce: &str| {
        check(
            "shown.sd-jwt",
            &["--aud", "https://verifier.example", "--nonce", nonce],
        )
    };
    let shown: serde_json::Value = serde_json::from_str(&succeeded(
        shown_to("n-42"),
        "the reference verifies the presentation",
    ))
    .unwrap();
    assert_eq!(shown["address"], serde_json::json!({ "province": "01" }));
    assert_eq!(shown["birth_date"], "1990-02-03");
    assert!(shown.get("full_name").is_none() && shown.get("personal_id").is_none());
    assert!(
        !shown_to("n-43").status.success(),
        "another nonce is refused"
    );

    // The reference implementation issues (with the member's key) and presents with the
    // holder's key; lienthong verifies against the registry snapshot.
    let ref_issue = [
        "issue",
        "--issuer-key",
        "signing.key",
        "--claims",
        "claims.json",
        "--iss",
        &format!("urn:lienthong:member:{MEMBER}"),
        "--vct",
        "urn:vn:lienthong:vct:residence",
        "--kid",
        MEMBER,
        "--holder-jwk",
        "holder.pem.jwk.json",
    ];
    let ref_doc = succeeded(reference(&python, &ref_issue, d), "the reference issues");
    std::fs::write(d.join("ref.sd-jwt"), &ref_doc).unwrap();
    let verify = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "doc",
            "verify",
            file,
            "--snapshot",
            "snapshot.json",
            "--registry-key",
            &registry_key,
        ];
        args.extend_from_slice(extra);
        lienthong(&args, d)
    };
    let out = succeeded(
        verify("ref.sd-jwt", &[]),
        "lienthong verifies the reference's document",
    );
    assert!(out.contains(&format!("valid: issued by {MEMBER}")), "{out}");
    assert!(
        out.contains("Nguyễn Văn An") && out.contains("00004"),
        "{out}"
    );
    let ref_present = [
        "present",
        "--doc",
        "ref.sd-jwt",
        "--disclose",
        "full_name",
        "--holder-key",
        "holder.pem",
        "--aud",
        "https://verifier.example",
        "--nonce",
        "n-7",
    ];
    let ref_shown = succeeded(
        reference(&python, &ref_present, d),
        "the reference presents",
    );
    std::fs::write(d.join("ref-shown.sd-jwt"), &ref_shown).unwrap();
    let out = succeeded(
        verify(
            "ref-shown.sd-jwt",
            &["--aud", "https://verifier.example", "--nonce", "n-7"],
        ),
        "lienthong verifies the reference's presentation",
    );
    assert!(
        out.contains("held by the bound key") && out.contains("Nguyễn Văn An"),
        "{out}"
    );
    assert!(
        !out.contains("1990-02-03"),
        "an undisclosed claim is not shown: {out}"
    );
    let wrong = verify(
        "ref-shown.sd-jwt",
        &["--aud", "https://verifier.example", "--nonce", "n-8"],
    );
    assert_eq!(wrong.status.code(), Some(1), "another nonce is refused");

    // A disclosure the issuer did not sign is refused, by both.
    let forged = lienthong_trust::sdjwt::b64url(r#"["c2FsdA","full_name","Trần Thị Bình"]"#);
    let (jwt, _) = ref_doc.trim().split_once('~').unwrap();
    std::fs::write(d.join("forged.sd-jwt"), format!("{jwt}~{forged}~")).unwrap();
    let out = verify("forged.sd-jwt", &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("invalid:"));
}
