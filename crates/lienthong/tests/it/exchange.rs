//! The issue's acceptance scenario with the real binary: a registry and two nodes started
//! from config files, each publishing a dataset from a real table (PostgreSQL for the
//! population register, MariaDB for social insurance), exchanging over mutual TLS, called
//! with a plain HTTP/1.1 X-Road REST request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Kill(pub Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn url(var: &str) -> Option<String> {
    lienthong_testkit::service(var)
}

pub fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts the binary in `dir` with its output discarded (kill it with [`Kill`]).
pub fn spawn_in(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub fn value(line: &str) -> String {
    line.split('"').nth(1).unwrap().to_owned()
}

/// A port free now for a child process to bind, below the kernel's ephemeral range
/// (32768+): outgoing connections of tests running in parallel take their ports from that
/// range, so one cannot take this port before the child binds it (a port read back from
/// binding port 0 could be). Random across processes, never the same twice in one.
pub fn port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    const LOW: u32 = 15_000;
    const SPAN: u32 = 17_000; // up to 31999
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(LOW);
    let start = (h.finish() % u64::from(SPAN)) as u32;
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    (0..SPAN)
        .map(|i| (LOW + (start + i * 7) % SPAN) as u16)
        .find(|p| !given.contains(p) && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .inspect(|p| given.push(*p))
        .expect("a free port below 32768")
}

/// Starts `registry.toml`'s registry and one node per config in `d`, each once its
/// predecessor answers; returns them, killed when dropped.
pub fn start_network(d: &Path, reg_port: u16, nodes: &[(&str, u16)]) -> Kill {
    let mut children = Kill(vec![spawn_in(
        d,
        &["registry", "run", "--config", "registry.toml"],
    )]);
    wait_http(reg_port);
    for (config, _) in nodes {
        children
            .0
            .push(spawn_in(d, &["node", "run", "--config", config]));
    }
    for (_, client_port) in nodes {
        wait_http(*client_port);
    }
    children
}

pub fn wait_http(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http(port, "/healthz", &[]) {
            if r.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing answered on port {port}");
}

/// A plain HTTP/1.1 request, written by hand as any X-Road REST client would send it.
pub fn http(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

async fn table(
    url: &str,
    name: &str,
    dataset: &lienthong_dictionary::catalog::Dataset,
    rows: &[&[(&str, &str)]],
) {
    let pool = crate::dataset_table(url, name, dataset).await;
    for row in rows {
        let names: Vec<&str> = row.iter().map(|(k, _)| *k).collect();
        let values: Vec<String> = row.iter().map(|(_, v)| format!("'{v}'")).collect();
        sqlx::query(&format!(
            "INSERT INTO {name} ({}) VALUES ({})",
            names.join(", "),
            values.join(", ")
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn registry_and_two_nodes_from_config_files_exchange_over_mtls() {
    let (Some(pg), Some(maria)) = (
        url("LIENTHONG_TEST_POSTGRES_URL"),
        url("LIENTHONG_TEST_MARIADB_URL"),
    ) else {
        return;
    };
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (citizen_t, si_t) = (format!("citizen_{suffix}"), format!("si_{suffix}"));
    table(
        &pg,
        &citizen_t,
        &lienthong_dictionary::catalog::CITIZEN,
        &[&[
            ("personal_id", "001090123456"),
            ("full_name", "TRẦN VĂN BÌNH"),
            ("birth_date", "25/03/1990"),
            ("sex", "1"),
            ("ethnicity", "01"),
            ("province_code", "01"),
            ("commune_code", "00004"),
        ]],
    )
    .await;
    table(
        &maria,
        &si_t,
        &lienthong_dictionary::catalog::SOCIAL_INSURANCE,
        &[&[
            ("insurance_no", "0112345678"),
            ("personal_id", "001090123456"),
            ("full_name", "Trần Văn Bình"),
            ("birth_date", "1990-03-25"),
            ("employer_name", "Công ty TNHH Minh Phát"),
            ("status", "active"),
            ("province_code", "01"),
        ]],
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["keys", "ca", "--name", "VN", "--out", "ca"]);
    let registry_key = value(&run(d, &["keys", "member", "--out", "registry"]));
    let bca_key = value(&run(d, &["keys", "member", "--out", "bca"]));
    let bhxh_key = value(&run(d, &["keys", "member", "--out", "bhxh"]));
    let bca_fp = value(&run(
        d,
        &[
            "keys",
            "node",
            "--ca-dir",
            "ca",
            "--member",
            "VN/GOV/BCA/DANCU",
            "--out",
            "bca",
        ],
    ));
    // BHXH keeps its TLS key: request at the agency, signature at the registry.
    run(
        d,
        &[
            "keys",
            "request",
            "--member",
            "VN/GOV/BHXH/SI",
            "--host",
            "127.0.0.1",
            "--out",
            "bhxh",
        ],
    );
    let bhxh_fp = value(&run(
        d,
        &[
            "keys",
            "sign",
            "--ca-dir",
            "ca",
            "--member",
            "VN/GOV/BHXH/SI",
            "--csr",
            "bhxh/node.csr",
            "--out",
            "bhxh/node.crt",
        ],
    ));
    let (reg_port, bca_peer, bca_client, bhxh_peer, bhxh_client) =
        (port(), port(), port(), port(), port());
    let token_out = run(d, &["registry", "token"]);
    let token = token_out
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let token_sha = value(token_out.lines().nth(1).unwrap());
    std::fs::write(d.join("admin.token"), &token).unwrap();

    std::fs::write(
        d.join("registry.toml"),
        format!(
            r#"
listen = "127.0.0.1:{reg_port}"
signing_key = "registry/signing.key"
database_url = "sqlite://registry/state.db?mode=rwc"
admin_token_sha256 = "{token_sha}"
[registry]
instance = "VN"
[[registry.members]]
id = "VN/GOV/BCA/DANCU"
name = "Bộ Công an"
signing_key = "{bca_key}"
address = "127.0.0.1:{bca_peer}"
cert_fingerprint = "{bca_fp}"
[[registry.members]]
id = "VN/GOV/BHXH/SI"
name = "Bảo hiểm xã hội Việt Nam"
signing_key = "{bhxh_key}"
address = "127.0.0.1:{bhxh_peer}"
cert_fingerprint = "{bhxh_fp}"
[[registry.services]]
id = "VN/GOV/BCA/DANCU/citizen"
dataset = "citizen"
[[registry.services]]
id = "VN/GOV/BHXH/SI/participants"
dataset = "social_insurance"
[[registry.agreements]]
consumer = "VN/GOV/BHXH/SI"
service = "VN/GOV/BCA/DANCU/citizen"
fields = ["personal_id", "full_name", "birth_date"]
purposes = ["insurance-enrolment"]
legal_basis = "Luật Bảo hiểm xã hội 2024"
valid_from = "2025-01-01"
valid_to = "2099-12-31"
[[registry.agreements]]
consumer = "VN/GOV/BCA/DANCU"
service = "VN/GOV/BHXH/SI/participants"
fields = ["*"]
purposes = ["residence-verification"]
legal_basis = "Luật Cư trú 2020"
valid_from = "2025-01-01"
valid_to = "2099-12-31"
"#
        ),
    )
    .unwrap();
    for (name, member, client, peer, db, tbl, service, dataset) in [
        (
            "bca",
            "VN/GOV/BCA/DANCU",
            bca_client,
            bca_peer,
            pg.as_str(),
            citizen_t.as_str(),
            "citizen",
            "citizen",
        ),
        (
            "bhxh",
            "VN/GOV/BHXH/SI",
            bhxh_client,
            bhxh_peer,
            maria.as_str(),
            si_t.as_str(),
            "participants",
            "social_insurance",
        ),
    ] {
        std::fs::write(
            d.join(format!("{name}.toml")),
            format!(
                r#"
member = "{member}"
client_listen = "127.0.0.1:{client}"
peer_listen = "127.0.0.1:{peer}"
admin_listen = "127.0.0.1:0"
signing_key = "{name}/signing.key"
ca_cert = "ca/ca.crt"
tls_cert = "{name}/node.crt"
tls_key = "{name}/node.key"
registry_url = "http://127.0.0.1:{reg_port}"
registry_key = "{registry_key}"
registry_poll_ms = 300
[[tables]]
service = "{service}"
dataset = "{dataset}"
database_url = "{db}"
table = "{tbl}"
filters = ["province_code"]
"#
            ),
        )
        .unwrap();
    }
    let children = start_network(
        d,
        reg_port,
        &[("bca.toml", bca_client), ("bhxh.toml", bhxh_client)],
    );

    // BHXH asks the population register (PostgreSQL) through its own node.
    let r = http(
        bhxh_client,
        "/r1/VN/GOV/BCA/DANCU/citizen/records/001090123456",
        &[
            ("X-Road-Client", "VN/GOV/BHXH/SI"),
            ("X-Lienthong-Purpose", "insurance-enrolment"),
            ("X-Road-UserId", "VN-OFFICER-1"),
            ("X-Road-Id", "ev-42"),
        ],
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        r.to_ascii_lowercase().contains("x-road-request-hash:"),
        "{r}"
    );
    assert!(
        r.contains("\"full_name\":\"Trần Văn Bình\""),
        "normalised: {r}"
    );
    assert!(r.contains("\"birth_date\":\"1990-03-25\""), "{r}");
    assert!(
        !r.contains("ethnicity"),
        "fields outside the agreement are left out: {r}"
    );
    // The population register asks social insurance (MariaDB) through its node.
    let r = http(
        bca_client,
        "/r1/VN/GOV/BHXH/SI/participants/records?province_code=01",
        &[
            ("X-Road-Client", "VN/GOV/BCA/DANCU"),
            ("X-Lienthong-Purpose", "residence-verification"),
        ],
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("0112345678"), "{r}");
    // Refused for purpose, with the X-Road error header.
    let r = http(
        bhxh_client,
        "/r1/VN/GOV/BCA/DANCU/citizen/records/001090123456",
        &[
            ("X-Road-Client", "VN/GOV/BHXH/SI"),
            ("X-Lienthong-Purpose", "marketing"),
        ],
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("x-road-error: client.purposenotallowed"),
        "{r}"
    );
    // Both nodes logged the exchange: the logs verify and the evidence checks offline.
    let verified = run(
        d,
        &[
            "log",
            "verify",
            "--db",
            "VN_GOV_BHXH_SI.messages.db",
            "--key",
            &bhxh_key,
        ],
    );
    assert!(verified.starts_with("intact: 3 entries"), "{verified}");
    let verified = run(
        d,
        &[
            "log",
            "verify",
            "--db",
            "VN_GOV_BCA_DANCU.messages.db",
            "--key",
            &bca_key,
        ],
    );
    assert!(verified.starts_with("intact: 3 entries"), "{verified}");
    // Another member's key: the log is not called tampered, the key is questioned.
    let wrong = crate::lienthong(
        &[
            "log",
            "verify",
            "--db",
            "VN_GOV_BCA_DANCU.messages.db",
            "--key",
            &bhxh_key,
        ],
        d,
    );
    let wrong_out = String::from_utf8_lossy(&wrong.stdout);
    assert_eq!(wrong.status.code(), Some(1), "{wrong_out}");
    assert!(
        wrong_out.starts_with("does not verify with this key"),
        "{wrong_out}"
    );
    run(
        d,
        &[
            "log",
            "evidence",
            "--db",
            "VN_GOV_BCA_DANCU.messages.db",
            "--key",
            &bca_key,
            "ev-42",
            "--out",
            "ev.json",
        ],
    );
    let checked = run(
        d,
        &[
            "log",
            "verify-evidence",
            "--file",
            "ev.json",
            "--key",
            &bca_key,
        ],
    );
    assert!(
        checked.starts_with("valid:")
            && checked.contains("VN-OFFICER-1")
            && checked.contains("001090123456"),
        "{checked}"
    );
    // The operator withdraws BHXH's agreement through the admin API; nodes pick it up.
    let content = std::fs::read_to_string(d.join("registry.toml")).unwrap();
    let registry_part = content
        .split("[registry]\n")
        .nth(1)
        .unwrap()
        .replace("[[registry.", "[[");
    let without = registry_part
        .split("[[agreements]]")
        .take(1)
        .collect::<String>()
        + &registry_part
            .split("[[agreements]]")
            .skip(2)
            .map(|a| format!("[[agreements]]{a}"))
            .collect::<String>();
    std::fs::write(d.join("content.toml"), without).unwrap();
    let applied = run(
        d,
        &[
            "registry",
            "apply",
            "--url",
            &format!("http://127.0.0.1:{reg_port}"),
            "--token-file",
            "admin.token",
            "--file",
            "content.toml",
        ],
    );
    assert!(
        applied.contains("published registry version 2"),
        "{applied}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http(
            bhxh_client,
            "/r1/VN/GOV/BCA/DANCU/citizen/records/001090123456",
            &[
                ("X-Road-Client", "VN/GOV/BHXH/SI"),
                ("X-Lienthong-Purpose", "insurance-enrolment"),
            ],
        )
        .unwrap();
        if r.starts_with("HTTP/1.1 403") {
            assert!(
                r.to_ascii_lowercase()
                    .contains("x-road-error: client.accessdenied"),
                "{r}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agreement withdrawal not seen: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(children);
    for (db, t) in [(&pg, &citizen_t), (&maria, &si_t)] {
        let pool = sqlx::AnyPool::connect(db).await.unwrap();
        sqlx::query(&format!("DROP TABLE {t}"))
            .execute(&pool)
            .await
            .unwrap();
    }
}

#[test]
fn bad_configs_fail_fast_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.toml"), "member = \"VN/GOV\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["node", "run", "--config", "bad.toml"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing field"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["registry", "run", "--config", "missing.toml"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}
