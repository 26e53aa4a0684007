//! The citizen's side of the national demo, end to end in headless Chromium: a citizen
//! signs in through the demo's identity provider, sees who read their record with proofs
//! that `lienthong log verify-proof` checks offline, grants then withdraws a consent and the
//! agency's next call is refused, and has an e-document issued and downloads it — which the
//! IETF SD-JWT reference implementation verifies, the verifier page accepts, and, once the
//! issuer revokes it, reports revoked.

use crate::demo::{get_json, sh, sign_in_url, start, status_line};

fn run(args: &[&str], cwd: &std::path::Path) -> String {
    crate::succeeded(crate::lienthong(args, cwd), &format!("lienthong {args:?}"))
}

/// The JWK of a base64 Ed25519 key from the registry (what the reference implementation takes).
fn jwk(public_b64: &str) -> String {
    lienthong_trust::ed25519_jwk(public_b64)
        .unwrap()
        .to_string()
}

#[test]
fn in_chromium_a_citizen_sees_their_history_withdraws_a_consent_and_downloads_a_verified_document()
{
    let Some(python) = lienthong_testkit::service("LIENTHONG_TEST_SDJWT_PYTHON") else {
        return;
    };
    let Some(mut browser) = lienthong_testkit::Browser::open() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_demo, lines) = start(&data, 0);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let curls: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    let under_consent = curls
        .iter()
        .find(|c| c.contains("social-assistance"))
        .expect("the consent command printed");
    let registry = lines[0].split_whitespace().last().unwrap().to_owned();
    let snapshot = get_json(&format!("{registry}/snapshot"));
    let body: serde_json::Value = serde_json::from_str(snapshot["body"].as_str().unwrap()).unwrap();
    let dancu = body["registry"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "VN/GOV/BCA/DANCU")
        .unwrap()
        .clone();
    let sign_in = sign_in_url(&lines);
    let pid = sign_in.rsplit('=').next().unwrap().to_owned();
    let face = sign_in.split("/citizen/").next().unwrap().to_owned();

    // BHXH reads the person's record (the first printed command), so it is in their history.
    assert!(sh(curls[0], w).contains(&pid));
    browser.goto(&sign_in, &format!("{face}/citizen"));
    let page = browser.dom();
    assert!(
        page.contains("id=\"accesses\"") && page.contains("Bảo hiểm xã hội"),
        "{page}"
    );
    // The history with its proofs, as the page offers it, checks offline.
    let api = browser.eval("fetch('/citizen/api/accesses').then(r => r.text())");
    let api: serde_json::Value = serde_json::from_str(api.as_str().unwrap()).unwrap();
    let node = api["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "VN/GOV/BCA/DANCU")
        .expect("the population register answered");
    std::fs::write(w.join("history.json"), node["document"].to_string()).unwrap();
    let witness = body["registry"]["witness"]["key"].as_str().unwrap();
    let checked = run(
        &[
            "log",
            "verify-proof",
            "--file",
            "history.json",
            "--key",
            dancu["log_key"].as_str().unwrap(),
            "--witness-key",
            witness,
        ],
        w,
    );
    assert!(
        checked.starts_with("valid:") && checked.contains("VN/GOV/BHXH/SI"),
        "{checked}"
    );

    // Consent: refused before, served once granted, refused again at once after withdrawal.
    let no_consent = |answer: &str| {
        status_line(answer).ends_with(" 400")
            && answer.to_ascii_lowercase().contains("client.noconsent")
    };
    let before = sh(under_consent, w);
    assert!(no_consent(&before), "{before}");
    browser.eval("document.querySelector('tr.consent-none button').click()");
    browser.wait_for("/citizen#consents");
    let granted = sh(under_consent, w);
    assert!(
        status_line(&granted).ends_with(" 200") && granted.contains(&pid),
        "{granted}"
    );
    browser.eval("document.querySelector('tr.consent-granted button').click()");
    browser.wait_until("document.querySelector('tr.consent-none') !== null");
    let withdrawn = sh(under_consent, w);
    assert!(no_consent(&withdrawn), "{withdrawn}");

    // Every kind the page offers can be issued for this person (a kind whose issuer holds
    // no record of them is not offered).
    let offered = browser.eval(
        "Promise.all([...document.querySelectorAll('form.issue')].map(f => fetch(f.action, \
         { method: 'POST', body: new URLSearchParams(new FormData(f)), redirect: 'manual' }) \
         .then(r => r.type + ' ' + f.querySelector('input[name=kind]').value)))",
    );
    let offered: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(offered.contains(&"opaqueredirect residence"), "{offered:?}");
    assert!(
        offered.iter().all(|o| o.starts_with("opaqueredirect ")),
        "{offered:?}"
    );
    browser.goto(&format!("{face}/citizen"), "/citizen");

    // An e-document: issued from the register on the page, downloaded, verified elsewhere.
    browser.eval("document.querySelector('form.issue input[name=kind][value=residence]').form.querySelector('button').click()");
    browser.wait_for("/citizen#documents");
    let href = browser.eval("document.querySelector('tr.document a.download').href");
    let href = href.as_str().expect("a download link").to_owned();
    let token = browser.eval(&format!("fetch({href:?}).then(r => r.text())"));
    let token = token.as_str().unwrap().trim().to_owned();
    std::fs::write(w.join("residence.sd-jwt"), &token).unwrap();
    std::fs::write(
        w.join("dancu.jwk"),
        jwk(dancu["signing_key"].as_str().unwrap()),
    )
    .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/sdjwt_reference.py"
    );
    let verified = sh(
        &format!("{python} {script} verify --issuer-jwk dancu.jwk --doc residence.sd-jwt"),
        w,
    );
    let claims: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(claims["personal_id"], pid.as_str(), "{claims}");
    assert_eq!(claims["iss"], "urn:lienthong:member:VN/GOV/BCA/DANCU");

    // The verifier's page: a presentation of two claims is valid; revoked, it says so.
    let shown = run(
        &[
            "doc",
            "present",
            "--doc",
            "residence.sd-jwt",
            "--disclose",
            "full_name,birth_date",
        ],
        w,
    );
    let check = |browser: &mut lienthong_testkit::Browser| {
        browser.goto(&format!("{face}/verify?lang=en"), "/verify");
        browser.eval(&format!("document.querySelector('textarea').value = {:?}; document.querySelector('form').submit()", shown.trim()));
        browser.wait_until("document.getElementById('verdict') !== null");
        browser.dom()
    };
    let valid = check(&mut browser);
    assert!(
        valid.contains("class=\"valid\"")
            && valid.contains("full_name")
            && !valid.contains(">address<"),
        "{valid}"
    );
    let idx = claims["status"]["status_list"]["idx"]
        .as_u64()
        .unwrap()
        .to_string();
    let db = data.join("VN_GOV_BCA_DANCU.messages.db");
    run(
        &[
            "doc",
            "revoke",
            "--db",
            db.to_str().unwrap(),
            "--idx",
            &idx,
            "--reason",
            "test",
        ],
        w,
    );
    let revoked = check(&mut browser);
    assert!(
        revoked.contains("class=\"invalid\"") && revoked.contains(">revoked<"),
        "{revoked}"
    );
}
