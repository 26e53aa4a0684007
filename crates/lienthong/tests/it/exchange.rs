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

pub fn value(line: &str) -> String {
    line.split('"').nth(1).unwrap().to_owned()
}

/// A listening socket the test binds at port 0 and reads the port back from, then hands to
/// the child that serves it (systemd socket activation: `LISTEN_FDS`): nothing else can take
/// the port in between, and it stays bound while the child restarts.
pub struct Socket(std::net::TcpListener);

impl Socket {
    pub fn new() -> Socket {
        Socket(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// `N` sockets and their ports.
    pub fn many<const N: usize>() -> ([Socket; N], [u16; N]) {
        let sockets: [Socket; N] = std::array::from_fn(|_| Socket::new());
        let ports = sockets.each_ref().map(Socket::port);
        (sockets, ports)
    }

    pub fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// A new descriptor of the socket, for a child to inherit.
    pub fn fd(&self) -> std::os::fd::OwnedFd {
        self.0.try_clone().unwrap().into()
    }
}

/// Starts the binary in `dir` serving `sockets` (each named for the face that takes it:
/// `registry`, `client`, `peer`, `admin`), its output discarded.
pub fn spawn_with(dir: &Path, args: &[&str], sockets: &[(&str, &Socket)]) -> Child {
    use command_fds::{CommandFdExt, FdMapping};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lienthong"));
    cmd.args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !sockets.is_empty() {
        let names: Vec<&str> = sockets.iter().map(|(n, _)| *n).collect();
        cmd.env("LISTEN_FDS", sockets.len().to_string())
            .env("LISTEN_FDNAMES", names.join(":"))
            .env_remove("LISTEN_PID");
        cmd.fd_mappings(
            sockets
                .iter()
                .enumerate()
                .map(|(i, (_, s))| FdMapping {
                    parent_fd: s.fd(),
                    child_fd: 3 + i as i32,
                })
                .collect(),
        )
        .unwrap();
    }
    cmd.spawn().unwrap()
}

/// Starts `registry.toml`'s registry and one node per config in `d` (with its client and
/// peer sockets), each once its predecessor answers; returns them, killed when dropped.
pub fn start_network(d: &Path, registry: &Socket, nodes: &[(&str, &Socket, &Socket)]) -> Kill {
    let mut children = Kill(vec![spawn_with(
        d,
        &["registry", "run", "--config", "registry.toml"],
        &[("registry", registry)],
    )]);
    wait_http(registry.port());
    for (config, client, peer) in nodes {
        children.0.push(spawn_with(
            d,
            &["node", "run", "--config", config],
            &[("client", client), ("peer", peer)],
        ));
    }
    for (_, client, _) in nodes {
        wait_http(client.port());
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
    // BCA's message log is witnessed: its own log key, and BHXH's node as the witness.
    let bca_log = value(&run(
        d,
        &[
            "keys",
            "log",
            "--member",
            "VN/GOV/BCA/DANCU",
            "--out",
            "bca",
        ],
    ));
    let witness_out = run(
        d,
        &[
            "keys",
            "witness",
            "--member",
            "VN/GOV/BHXH/SI",
            "--out",
            "bhxh",
        ],
    );
    let witness_vkey = value(witness_out.lines().last().unwrap());
    let (sockets, [reg_port, bca_peer, bca_client, bhxh_peer, bhxh_client]) = Socket::many();
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
witness = {{ member = "VN/GOV/BHXH/SI", key = "{witness_vkey}" }}
[[registry.members]]
id = "VN/GOV/BCA/DANCU"
name = "Bộ Công an"
signing_key = "{bca_key}"
address = "127.0.0.1:{bca_peer}"
cert_fingerprint = "{bca_fp}"
log_key = "{bca_log}"
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
    for (name, member, client, peer, db, tbl, service, dataset, witnessing) in [
        (
            "bca",
            "VN/GOV/BCA/DANCU",
            bca_client,
            bca_peer,
            pg.as_str(),
            citizen_t.as_str(),
            "citizen",
            "citizen",
            "log_key = \"bca/log.key\"\nwitness_every_ms = 200",
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
            "witness_key = \"bhxh/witness.key\"",
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
{witnessing}
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
        &sockets[0],
        &[
            ("bca.toml", &sockets[2], &sockets[1]),
            ("bhxh.toml", &sockets[4], &sockets[3]),
        ],
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
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
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
            // BCA's log names persons by pseudonym: the evidence for this person carries
            // the request as it was signed.
            "--subject",
            "001090123456",
            "--log-key",
            "bca/log.key",
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
    // BHXH's node witnessed BCA's log: the checkpoints BCA keeps carry its cosignature, and
    // they check offline against the log — until the log is cut at its tail.
    let bca_db = "VN_GOV_BCA_DANCU.messages.db";
    let deadline = Instant::now() + Duration::from_secs(10);
    let saved = loop {
        run(
            d,
            &["log", "checkpoints", "--db", bca_db, "--out-dir", "saved"],
        );
        let check = crate::lienthong(
            &[
                "log",
                "witness-check",
                "--key",
                &bca_log,
                "--witness-key",
                &witness_vkey,
                "--db",
                bca_db,
                "saved",
            ],
            d,
        );
        let out = String::from_utf8_lossy(&check.stdout).into_owned();
        assert_eq!(check.status.code(), Some(0), "{out}");
        if !out.contains(" 0 cosigned") {
            break out;
        }
        assert!(Instant::now() < deadline, "never cosigned: {out}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        saved.contains("checkpoints of lienthong.log/VN/GOV/BCA/DANCU verified"),
        "{saved}"
    );
    // The person's history at BCA: the one exchange that gave out their record, with its
    // proof to the witnessed checkpoint, checked offline.
    run(
        d,
        &[
            "log",
            "history",
            "--db",
            bca_db,
            "--member",
            "VN/GOV/BCA/DANCU",
            "--log-key",
            "bca/log.key",
            "--subject",
            "001090123456",
            "--out",
            "history.json",
        ],
    );
    let history = run(
        d,
        &[
            "log",
            "verify-proof",
            "--file",
            "history.json",
            "--key",
            &bca_log,
            "--witness-key",
            &witness_vkey,
        ],
    );
    assert!(
        history.starts_with("valid: 1 entries") && history.contains("VN-OFFICER-1"),
        "{history}"
    );
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("history.json")).unwrap()).unwrap();
    doc["entries"][0]["entry"] = doc["entries"][0]["entry"]
        .as_str()
        .unwrap()
        .replace("VN-OFFICER-1", "VN-OFFICER-2")
        .into();
    std::fs::write(d.join("forged.json"), doc.to_string()).unwrap();
    let forged = crate::lienthong(
        &[
            "log",
            "verify-proof",
            "--file",
            "forged.json",
            "--key",
            &bca_log,
        ],
        d,
    );
    assert_eq!(forged.status.code(), Some(1));
    // A breach at BCA: opened at discovery, the facts from its log, the notice in Vietnamese.
    let opened = run(
        d,
        &[
            "incident",
            "open",
            "--db",
            bca_db,
            "--title",
            "Truy cập bất thường <b>",
            "--from",
            "2020-01-01 00:00",
            "--consumer",
            "VN/GOV/BHXH/SI",
        ],
    );
    assert!(opened.contains("notice due by"), "{opened}");
    let id = opened.split_whitespace().nth(1).unwrap().to_owned();
    assert!(id.starts_with("INC-"), "{opened}");
    let shown: serde_json::Value =
        serde_json::from_str(&run(d, &["incident", "show", "--db", bca_db, &id])).unwrap();
    let facts = &shown["facts"];
    assert_eq!(facts["subjects"], 1, "{shown}");
    assert_eq!(facts["answered"], 1, "{shown}");
    assert!(
        facts["exchanges"].as_u64().unwrap() >= 2,
        "the refusal too: {shown}"
    );
    assert!(facts["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "full_name"));
    assert!(shown["remaining_s"].as_i64().unwrap() > 71 * 3600);
    let reported = run(
        d,
        &[
            "incident",
            "report",
            "--db",
            bca_db,
            &id,
            "--agency",
            "Bộ Công an",
            "--member",
            "VN/GOV/BCA/DANCU",
            "--contact",
            "Nguyễn Văn A, 024 0000 0000",
            "--html",
            "notice.html",
        ],
    );
    assert!(reported.contains("1 persons"), "{reported}");
    let notice = std::fs::read_to_string(d.join("notice.html")).unwrap();
    for want in [
        "Thông báo vi phạm quy định về bảo vệ dữ liệu cá nhân",
        "Điều 23 Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15",
        "72 giờ",
        "<b id=\"subjects\">1</b>",
        "VN/GOV/BHXH/SI",
        "Truy cập bất thường &lt;b&gt;",
        "VN-OFFICER-1",
    ] {
        assert!(notice.contains(want), "{want} not in the notice:\n{notice}");
    }
    run(d, &["incident", "notified", "--db", bca_db, &id]);
    let listed = run(d, &["incident", "list", "--db", bca_db]);
    assert!(
        listed.contains(&id) && listed.contains("notified"),
        "{listed}"
    );
    let bad = crate::lienthong(
        &[
            "incident",
            "open",
            "--db",
            bca_db,
            "--title",
            "x",
            "--discovered",
            "yesterday",
        ],
        d,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--discovered"));
    // A copy of the log as it stands (consistent, WAL included), then cut at its tail.
    let copy = d.join("cut.db");
    {
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", d.join(bca_db).display()))
            .await
            .unwrap();
        sqlx::query(&format!("VACUUM INTO '{}'", copy.display()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=rw", copy.display()))
            .await
            .unwrap();
        sqlx::query("DELETE FROM log_entries WHERE idx >= 1")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let cut = crate::lienthong(
        &[
            "log",
            "witness-check",
            "--key",
            &bca_log,
            "--db",
            "cut.db",
            "saved",
        ],
        d,
    );
    let cut_out = String::from_utf8_lossy(&cut.stdout);
    assert_eq!(cut.status.code(), Some(1), "{cut_out}");
    assert!(
        cut_out.contains("FOUND:") && cut_out.contains("cut, or restored"),
        "{cut_out}"
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
        if r.starts_with("HTTP/1.1 400") {
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

    // A registry given its socket serves on it; one given a socket under a name it does not
    // take refuses to start, naming it.
    run(d, &["keys", "member", "--out", "registry"]);
    std::fs::write(
        d.join("registry.toml"),
        "listen = \"127.0.0.1:1\"\nsigning_key = \"registry/signing.key\"\ndatabase_url = \"sqlite://registry.db?mode=rwc\"\n[registry]\ninstance = \"VN\"\n",
    )
    .unwrap();
    let socket = Socket::new();
    let served = Kill(vec![spawn_with(
        d,
        &["registry", "run", "--config", "registry.toml"],
        &[("registry", &socket)],
    )]);
    wait_http(socket.port());
    drop(served);
    let out = {
        use command_fds::{CommandFdExt, FdMapping};
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lienthong"));
        cmd.args(["registry", "run", "--config", "registry.toml"])
            .current_dir(d)
            .env("LISTEN_FDS", "1")
            .env("LISTEN_FDNAMES", "peer")
            .env_remove("LISTEN_PID");
        cmd.fd_mappings(vec![FdMapping {
            parent_fd: Socket::new().fd(),
            child_fd: 3,
        }])
        .unwrap();
        cmd.output().unwrap()
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a socket under a wrong name was accepted"
    );
    assert!(
        stderr.contains("a socket was passed as \"peer\"; this command takes registry"),
        "{stderr}"
    );
}
