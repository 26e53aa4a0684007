//! The registry over TLS with its admin API on a listener of its own: the snapshot is served
//! over HTTPS, the public listener does not answer admin calls, operators change the content
//! through the admin listener with `registry apply --ca`, and the history names them.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::exchange::{run, spawn_with, value, Kill, Socket};

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_registry_serves_tls_and_its_admin_api_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["keys", "ca", "--name", "VN", "--out", "ca"]);
    run(d, &["keys", "member", "--out", "registry"]);
    run(
        d,
        &[
            "keys",
            "node",
            "--ca-dir",
            "ca",
            "--member",
            "VN/GOV/TTDLQG/REGISTRY",
            "--host",
            "127.0.0.1",
            "--out",
            "tls",
        ],
    );
    let token_out = run(d, &["registry", "token", "--out", "lan.token"]);
    let token_sha = value(token_out.lines().nth(1).unwrap());
    let (sockets, [public, admin]) = Socket::many();
    std::fs::write(
        d.join("registry.toml"),
        format!(
            r#"
listen = "127.0.0.1:{public}"
admin_listen = "127.0.0.1:{admin}"
tls_cert = "tls/node.crt"
tls_key = "tls/node.key"
signing_key = "registry/signing.key"
[[operators]]
name = "lan"
token_sha256 = "{token_sha}"
[registry]
instance = "VN"
"#
        ),
    )
    .unwrap();
    let _registry = Kill(vec![spawn_with(
        d,
        &["registry", "run", "--config", "registry.toml"],
        &[("registry", &sockets[0]), ("admin", &sockets[1])],
    )]);
    let ca = d.join("ca/ca.crt").display().to_string();
    let snapshot = format!("https://127.0.0.1:{public}/snapshot");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !curl(&["--cacert", &ca, &snapshot]).0 {
        assert!(
            Instant::now() < deadline,
            "the registry never answered over TLS"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !curl(&[&snapshot.replacen("https", "http", 1)]).0,
        "plain HTTP is not spoken"
    );
    // The public listener has no admin API.
    let token = std::fs::read_to_string(d.join("lan.token")).unwrap();
    let auth = format!("Authorization: Bearer {}", token.trim());
    let (_, body) = curl(&[
        "--cacert",
        &ca,
        "-H",
        &auth,
        "-w",
        "%{http_code}",
        &format!("https://127.0.0.1:{public}/admin/registry"),
    ]);
    assert!(body.ends_with("404"), "{body}");
    // An operator changes the content through the admin listener; the history names them.
    std::fs::write(
        d.join("member.toml"),
        "[[members]]\nid = \"VN/GOV/BHXH/SI\"\nname = \"BHXH\"\nsigning_key = \"AAAA\"\ncert_fingerprint = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    )
    .unwrap();
    let admin_url = format!("https://127.0.0.1:{admin}");
    let applied = run(
        d,
        &[
            "registry",
            "apply",
            "--url",
            &admin_url,
            "--token-file",
            "lan.token",
            "--ca",
            &ca,
            "--add",
            "member.toml",
        ],
    );
    assert!(
        applied.contains("published registry version 2"),
        "{applied}"
    );
    let (ok, history) = curl(&[
        "--cacert",
        &ca,
        "-H",
        &auth,
        &format!("{admin_url}/admin/history"),
    ]);
    assert!(ok, "{history}");
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history["versions"][0]["changed_by"], "lan", "{history}");
    assert_eq!(history["versions"][0]["change"], "add", "{history}");
}
