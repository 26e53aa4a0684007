//! kill -9 of either node under load: after a restart both message logs verify, no entry is
//! torn, and every exchange a client saw answered 200 is in both logs. Seeded: the seed is
//! printed and `LIENTHONG_CRASH_SEED` replays a run.

use std::collections::HashSet;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::exchange::{http, run, spawn_with, value, wait_http, Kill, Socket};

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_either_node_loses_no_acknowledged_exchange() {
    let seed: u64 = std::env::var("LIENTHONG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64);
    eprintln!("crash test seed {seed} (replay with LIENTHONG_CRASH_SEED={seed})");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    // A SQLite table for the provider's dataset.
    let db = format!("sqlite://{}?mode=rwc", d.join("dancu.db").display());
    let pool = crate::dataset_table(&db, "citizen", &lienthong_dictionary::catalog::CITIZEN).await;
    sqlx::query("INSERT INTO citizen (personal_id, full_name, birth_date, sex, province_code, commune_code) VALUES ('001090123456', 'Trần Văn Bình', '1990-03-25', '1', '01', '00004')").execute(&pool).await.unwrap();
    pool.close().await;

    run(&d, &["keys", "ca", "--name", "VN", "--out", "ca"]);
    let registry_key = value(&run(&d, &["keys", "member", "--out", "registry"]));
    let bca_key = value(&run(&d, &["keys", "member", "--out", "bca"]));
    let bhxh_key = value(&run(&d, &["keys", "member", "--out", "bhxh"]));
    let bca_fp = value(&run(
        &d,
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
    let bhxh_fp = value(&run(
        &d,
        &[
            "keys",
            "node",
            "--ca-dir",
            "ca",
            "--member",
            "VN/GOV/BHXH/SI",
            "--out",
            "bhxh",
        ],
    ));
    let (sockets, [reg, bca_peer, bca_client, bhxh_client, bhxh_peer]) = Socket::many();
    // Each node keeps its sockets across restarts: a client's connection waits in the
    // socket's queue while the node is down instead of being refused.
    let node_sockets = |config: &str| -> Vec<(&'static str, &Socket)> {
        match config {
            "bca.toml" => vec![("client", &sockets[2]), ("peer", &sockets[1])],
            _ => vec![("client", &sockets[3]), ("peer", &sockets[4])],
        }
    };
    let spawn = |d: &std::path::Path, args: &[&str]| -> Child {
        let sockets = match args {
            ["registry", ..] => vec![("registry", &sockets[0])],
            [_, _, _, config] => node_sockets(config),
            _ => vec![],
        };
        spawn_with(d, args, &sockets)
    };
    std::fs::write(
        d.join("registry.toml"),
        format!(
            r#"
listen = "127.0.0.1:{reg}"
signing_key = "registry/signing.key"
[registry]
instance = "VN"
[[registry.members]]
id = "VN/GOV/BCA/DANCU"
name = "BCA"
signing_key = "{bca_key}"
address = "127.0.0.1:{bca_peer}"
cert_fingerprint = "{bca_fp}"
[[registry.members]]
id = "VN/GOV/BHXH/SI"
name = "BHXH"
signing_key = "{bhxh_key}"
cert_fingerprint = "{bhxh_fp}"
[[registry.services]]
id = "VN/GOV/BCA/DANCU/citizen"
dataset = "citizen"
[[registry.agreements]]
consumer = "VN/GOV/BHXH/SI"
service = "VN/GOV/BCA/DANCU/citizen"
fields = ["personal_id", "full_name"]
purposes = ["insurance-enrolment"]
legal_basis = "test"
valid_from = "2025-01-01"
valid_to = "2099-12-31"
"#
        ),
    )
    .unwrap();
    for (name, member, client, peer, tables) in [
        ("bca", "VN/GOV/BCA/DANCU", bca_client, bca_peer, format!("[[tables]]\nservice = \"citizen\"\ndataset = \"citizen\"\ndatabase_url = \"{db}\"\ntable = \"citizen\"\n")),
        ("bhxh", "VN/GOV/BHXH/SI", bhxh_client, bhxh_peer, String::new()),
    ] {
        std::fs::write(d.join(format!("{name}.toml")), format!(r#"
member = "{member}"
client_listen = "127.0.0.1:{client}"
peer_listen = "127.0.0.1:{peer}"
admin_listen = "127.0.0.1:0"
signing_key = "{name}/signing.key"
ca_cert = "ca/ca.crt"
tls_cert = "{name}/node.crt"
tls_key = "{name}/node.key"
registry_url = "http://127.0.0.1:{reg}"
registry_key = "{registry_key}"
request_timeout_ms = 2000
{tables}"#)).unwrap();
    }
    let registry = Kill(vec![spawn(
        &d,
        &["registry", "run", "--config", "registry.toml"],
    )]);
    wait_http(reg);
    let provider = Arc::new(Mutex::new(Some(spawn(
        &d,
        &["node", "run", "--config", "bca.toml"],
    ))));
    let consumer = Arc::new(Mutex::new(Some(spawn(
        &d,
        &["node", "run", "--config", "bhxh.toml"],
    ))));
    // Both nodes are killed when the test ends, however it ends.
    let _nodes = Nodes(vec![provider.clone(), consumer.clone()]);
    wait_http(bca_client);
    wait_http(bhxh_client);

    // Load: 6 clients, each exchange with its own X-Road-Id; remember what was answered 200.
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (acknowledged, stop, counter) =
                (acknowledged.clone(), stop.clone(), counter.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("crash-{}", counter.fetch_add(1, Ordering::Relaxed));
                    let answer = http(
                        bhxh_client,
                        "/r1/VN/GOV/BCA/DANCU/citizen/records/001090123456",
                        &[
                            ("X-Road-Client", "VN/GOV/BHXH/SI"),
                            ("X-Lienthong-Purpose", "insurance-enrolment"),
                            ("X-Road-Id", &id),
                        ],
                    );
                    match answer {
                        Ok(r) if r.starts_with("HTTP/1.1 200") => {
                            acknowledged.lock().unwrap().insert(id);
                        }
                        _ => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        })
        .collect();

    // Kill the provider, then the consumer, each with SIGKILL at a seeded moment, and restart.
    let mut rng = seed;
    let mut next_ms = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        300 + (rng >> 33) % 700
    };
    let mut previous = 0;
    for (victim, config, client_port) in [
        (&provider, "bca.toml", bca_client),
        (&consumer, "bhxh.toml", bhxh_client),
    ] {
        // Exchanges go on between the kills (after the first restart too): wait for one, then
        // kill at a seeded moment after it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acknowledged.lock().unwrap().len() <= previous {
            assert!(
                Instant::now() < deadline,
                "seed {seed}: no exchange succeeded in 30 s since the last kill"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(next_ms()));
        let before = acknowledged.lock().unwrap().len();
        let mut child = victim.lock().unwrap().take().unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        *victim.lock().unwrap() = Some(spawn(&d, &["node", "run", "--config", config]));
        wait_http(client_port);
        previous = before;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let settled = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < settled + 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    for n in [&provider, &consumer] {
        if let Some(mut c) = n.lock().unwrap().take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
    drop(registry);

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 20,
        "seed {seed}: too few exchanges succeeded ({})",
        acknowledged.len()
    );
    for (log, key) in [
        ("VN_GOV_BCA_DANCU.messages.db", &bca_key),
        ("VN_GOV_BHXH_SI.messages.db", &bhxh_key),
    ] {
        let out = run(&d, &["log", "verify", "--db", log, "--key", key]);
        assert!(out.starts_with("intact:"), "seed {seed}: {log}: {out}");
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", d.join(log).display()))
            .await
            .unwrap();
        let rows = sqlx::query("SELECT message_id FROM log_entries")
            .fetch_all(&pool)
            .await
            .unwrap();
        let logged: HashSet<String> = rows
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, 0))
            .collect();
        let missing: Vec<_> = acknowledged
            .iter()
            .filter(|id| !logged.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "seed {seed}: {log}: acknowledged but not logged: {missing:?}"
        );
        pool.close().await;
    }
}

/// Nodes a test restarts, killed when it ends (a failed assertion included).
struct Nodes(Vec<Arc<Mutex<Option<Child>>>>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for n in &self.0 {
            if let Some(mut c) = n.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
