//! Witnessed logs: the provider's message log is cut at its tail, restored from an older
//! copy, or forked into two views for two consumers — each is caught by the center's
//! witness or by a peer, over real mutual TLS, from the checkpoints the nodes exchange.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lienthong_gateway::node::{self, NodeConfig, RunningNode};
use lienthong_registry::{log_origin, Agreement, Member, Registry, Witness};
use lienthong_trust::note::NoteSigner;
use lienthong_trust::{Ca, SigningKey};

use crate::harness::*;

const CENTER: &str = "VN/GOV/TTDL/CENTER";
const SECOND: &str = "VN/GOV/BYT/HIS";

struct Country {
    dir: tempfile::TempDir,
    ca: Ca,
    registry_key: SigningKey,
    registry_addr: SocketAddr,
    _registry: tokio::task::JoinHandle<()>,
    ids: Vec<(&'static str, Identity, SigningKey, SocketAddr)>,
    witness_key: SigningKey,
    table_url: String,
}

impl Country {
    async fn new() -> Country {
        let dir = tempfile::tempdir().unwrap();
        let table_url = sqlite_table(dir.path()).await;
        let ca = Ca::generate("VN").unwrap();
        let registry_key = SigningKey::generate();
        let witness_key = SigningKey::generate();
        let mut ids = Vec::new();
        for member in [PROVIDER, CONSUMER, SECOND, CENTER] {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            ids.push((member, identity(&ca, member), SigningKey::generate(), port));
        }
        let (p, c, _) = (&ids[0].1, &ids[1].1, ());
        let mut content: Registry = registry(p, ids[0].3, c);
        content.members = ids
            .iter()
            .map(|(m, ident, log_key, addr)| Member {
                id: (*m).into(),
                name: (*m).into(),
                signing_key: ident.key.public_b64(),
                address: Some(addr.to_string()),
                cert_fingerprint: lienthong_trust::cert_fingerprint(&ident.cert).unwrap(),
                log_key: Some(NoteSigner::log(&log_origin(m), log_key).unwrap().vkey()),
            })
            .collect();
        let second = Agreement {
            consumer: SECOND.into(),
            ..content.agreements[0].clone()
        };
        content.agreements.push(second);
        // The household service rests on each person's consent.
        content.agreements.push(Agreement {
            consumer: CONSUMER.into(),
            service: format!("{PROVIDER}/household"),
            basis: Some("consent".into()),
            ..content.agreements[0].clone()
        });
        // The health ministry's investigation may withhold its accesses for 30 days.
        content.agreements.push(Agreement {
            consumer: SECOND.into(),
            service: format!("{PROVIDER}/household"),
            basis: Some("investigation".into()),
            withhold_days: Some(30),
            purposes: vec!["investigation".into()],
            ..content.agreements[0].clone()
        });
        content.witness = Some(Witness {
            member: CENTER.into(),
            key: NoteSigner::witness(&format!("lienthong.witness/{CENTER}"), &witness_key)
                .unwrap()
                .vkey(),
        });
        content.validate().unwrap();
        let (registry_addr, registry) =
            serve_registry(content, &registry_key.to_pem().unwrap(), dir.path(), 3600).await;
        Country {
            dir,
            ca,
            registry_key,
            registry_addr,
            _registry: registry,
            ids,
            witness_key,
            table_url,
        }
    }

    /// Starts `member`'s node with its message log at `log`.
    async fn start(&self, member: &str, log: &Path) -> RunningNode {
        let (_, ident, log_key, addr) = self.ids.iter().find(|i| i.0 == member).unwrap();
        let pub_key = self.registry_key.public_b64();
        let tables = if member == PROVIDER {
            vec![
                table("citizen", &self.table_url),
                table("household", &self.table_url),
            ]
        } else {
            vec![]
        };
        let mut config: NodeConfig = node_config(
            member,
            ident,
            &self.ca,
            (self.registry_addr, &pub_key),
            *addr,
            tables,
            self.dir.path(),
        );
        config.log_path = log.display().to_string();
        config.log_key = Some(SigningKey::from_pem(&log_key.to_pem().unwrap()).unwrap());
        config.witness_every_ms = 100;
        // Bodies hold the records themselves: kept only where an operator asks.
        config.log_bodies = false;
        if member == CENTER {
            config.witness_key =
                Some(SigningKey::from_pem(&self.witness_key.to_pem().unwrap()).unwrap());
        }
        // The port was free a moment ago; a restarted node takes it again.
        for _ in 0..50 {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => {
                    return node::start_on(
                        config,
                        node::Listeners {
                            peer: Some(l),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap()
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("port {addr} stayed taken");
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.messages.db"))
    }
}

async fn ask(consumer: &RunningNode, as_member: &str, n: usize) {
    for _ in 0..n {
        let r = call(
            consumer,
            &format!("/r1/{SERVICE}/records/{PID}"),
            &[
                ("X-Road-Client", as_member),
                ("X-Lienthong-Purpose", "insurance-enrolment"),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
}

async fn scalar(db: &Path, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}

async fn run(db: &Path, sql: &str) {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=rw", db.display()))
        .await
        .unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

/// Waits until the witness has cosigned the provider's log at its full size; returns it.
async fn cosigned(log: &Path) -> i64 {
    for _ in 0..100 {
        let size = scalar(log, "SELECT COUNT(*) FROM log_entries").await;
        let cosigned = scalar(log, "SELECT COALESCE(MAX(size), 0) FROM log_cosigned").await;
        if size > 0 && cosigned == size {
            return size;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the witness did not cosign {}", log.display());
}

/// The alarms a node's log holds about `member`'s log: kinds.
async fn alarms(log: &Path, member: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=ro", log.display()))
        .await
        .unwrap();
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM witness_alarms WHERE member = ? ORDER BY kind")
            .bind(member)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    kinds
}

/// Waits for an alarm of one of `kinds` (`a|b`) about `member` in a node's log.
async fn wait_alarm(log: &Path, member: &str, kinds: &str) -> Vec<String> {
    for _ in 0..100 {
        let got = alarms(log, member).await;
        if got.iter().any(|k| kinds.split('|').any(|want| want == k)) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no {kinds} alarm about {member} in {}: {:?}",
        log.display(),
        alarms(log, member).await
    );
}

#[tokio::test]
async fn an_honest_log_is_cosigned_and_raises_nothing() {
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let consumer = c.start(CONSUMER, &c.log("consumer")).await;
    ask(&consumer, CONSUMER, 5).await;
    let size = cosigned(&c.log("provider")).await;
    assert_eq!(size, 5);
    ask(&consumer, CONSUMER, 3).await;
    assert_eq!(cosigned(&c.log("provider")).await, 8);
    // The consumer's log is witnessed too.
    assert_eq!(cosigned(&c.log("consumer")).await, 8);
    // The consumer followed the provider's log to its latest size, proof by proof.
    let mut seen = 0;
    for _ in 0..50 {
        seen = scalar(
            &c.log("consumer"),
            "SELECT COALESCE(MAX(size), 0) FROM witness_seen",
        )
        .await;
        if seen >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen >= 7,
        "the consumer verified {seen} entries of the provider's log"
    );
    // The cosigned checkpoint is a C2SP note the witness's vkey verifies.
    let note: String = {
        let pool =
            sqlx::AnyPool::connect(&format!("sqlite://{}?mode=ro", c.log("provider").display()))
                .await
                .unwrap();
        sqlx::query_scalar("SELECT note FROM log_cosigned ORDER BY size DESC LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let witness = NoteSigner::witness(&format!("lienthong.witness/{CENTER}"), &c.witness_key)
        .unwrap()
        .verifier();
    let parsed = lienthong_trust::note::Note::parse(&note).unwrap();
    assert!(parsed
        .text
        .starts_with(&format!("{}\n8\n", log_origin(PROVIDER))));
    assert_eq!(parsed.verify(&[&witness]).unwrap().len(), 1);
    for log in ["center", "provider", "consumer"] {
        assert_eq!(
            scalar(&c.log(log), "SELECT COUNT(*) FROM witness_alarms").await,
            0,
            "{log}"
        );
    }
    for n in [consumer, provider, center] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn a_log_cut_at_its_tail_is_caught_by_the_witness_and_the_consumer() {
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let consumer = c.start(CONSUMER, &c.log("consumer")).await;
    for _ in 0..3 {
        ask(&consumer, CONSUMER, 2).await;
        cosigned(&c.log("provider")).await;
    }
    provider.shutdown().await;
    // The operator removes the last entries and the checkpoints over them: the log still
    // matches its own latest checkpoint, so the node starts.
    let log = c.log("provider");
    let keep = scalar(
        &log,
        "SELECT MAX(size) FROM log_checkpoints WHERE size <= 3",
    )
    .await;
    assert!(keep > 0 && keep < 6);
    run(
        &log,
        &format!("DELETE FROM log_entries WHERE idx >= {keep}"),
    )
    .await;
    run(
        &log,
        &format!("DELETE FROM log_checkpoints WHERE size > {keep}"),
    )
    .await;
    let provider = c.start(PROVIDER, &log).await;
    ask(&consumer, CONSUMER, 2).await;
    wait_alarm(&c.log("center"), PROVIDER, "rewound").await;
    // The consumer had verified sizes the cut log reaches again with other entries: a
    // fork, or a rewind where it had not.
    wait_alarm(&c.log("consumer"), PROVIDER, "rewound|fork").await;
    for n in [consumer, provider, center] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn an_older_copy_restored_is_caught_by_the_witness() {
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let consumer = c.start(CONSUMER, &c.log("consumer")).await;
    ask(&consumer, CONSUMER, 3).await;
    cosigned(&c.log("provider")).await;
    provider.shutdown().await;
    let log = c.log("provider");
    let backup = c.dir.path().join("provider.backup.db");
    run(&log, &format!("VACUUM INTO '{}'", backup.display())).await;
    let provider = c.start(PROVIDER, &log).await;
    ask(&consumer, CONSUMER, 4).await;
    assert_eq!(cosigned(&log).await, 7);
    provider.shutdown().await;
    // Yesterday's copy put back in place.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", log.display()));
    }
    std::fs::copy(&backup, &log).unwrap();
    assert_eq!(scalar(&log, "SELECT COUNT(*) FROM log_entries").await, 3);
    let provider = c.start(PROVIDER, &log).await;
    ask(&consumer, CONSUMER, 2).await;
    wait_alarm(&c.log("center"), PROVIDER, "rewound").await;
    // The consumer had verified sizes the cut log reaches again with other entries: a
    // fork, or a rewind where it had not.
    wait_alarm(&c.log("consumer"), PROVIDER, "rewound|fork").await;
    for n in [consumer, provider, center] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn a_log_forked_into_two_views_for_two_consumers_is_caught_by_the_witness() {
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let first = c.start(CONSUMER, &c.log("consumer")).await;
    ask(&first, CONSUMER, 2).await;
    cosigned(&c.log("provider")).await;
    provider.shutdown().await;
    let log = c.log("provider");
    let fork = c.dir.path().join("provider.fork.db");
    run(&log, &format!("VACUUM INTO '{}'", fork.display())).await;
    // View one, shown to the first consumer (and witnessed).
    let provider = c.start(PROVIDER, &log).await;
    ask(&first, CONSUMER, 2).await;
    cosigned(&log).await;
    provider.shutdown().await;
    // View two, from the copy, shown to the second consumer: a longer, different history.
    let provider = c.start(PROVIDER, &fork).await;
    let second = c.start(SECOND, &c.log("second")).await;
    ask(&second, SECOND, 4).await;
    // The second consumer alone cannot tell (it only ever saw view two)…
    assert!(alarms(&c.log("second"), PROVIDER).await.is_empty());
    // …the witness, which cosigned view one, refuses view two and raises the fork.
    wait_alarm(&c.log("center"), PROVIDER, "fork").await;
    let cosigned_views = scalar(&fork, "SELECT COUNT(*) FROM log_cosigned WHERE size > 4").await;
    assert_eq!(cosigned_views, 0, "the witness cosigned the second view");
    for n in [second, first, provider, center] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn persons_are_stored_as_pseudonyms_and_evidence_restores_them_for_the_person() {
    use lienthong_gateway::msglog;
    use lienthong_gateway::record::Pseudonymiser;
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let consumer = c.start(CONSUMER, &c.log("consumer")).await;
    let r = call(
        &consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[
            ("X-Road-Client", CONSUMER),
            ("X-Lienthong-Purpose", "insurance-enrolment"),
            ("X-Road-Id", "pseudo-1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    // A search naming the person in its query, and a refusal naming them in its path.
    let r = call(
        &consumer,
        &format!("/r1/{SERVICE}/records?personal_id={PID}&province_code=01"),
        &[
            ("X-Road-Client", CONSUMER),
            ("X-Lienthong-Purpose", "insurance-enrolment"),
        ],
    )
    .await;
    assert!(r.status == 200 || r.status == 400, "{}", r.json);
    let r = call(
        &consumer,
        &format!("/r1/VN/GOV/NONE/X/citizen/records/{PID}"),
        &[("X-Road-Client", CONSUMER)],
    )
    .await;
    assert_eq!(r.status, 400);
    for n in [consumer, provider, center] {
        n.shutdown().await;
    }
    // Neither node's log holds the personal id in clear, anywhere in its files.
    for (name, member) in [("provider", PROVIDER), ("consumer", CONSUMER)] {
        let log = c.log(name);
        run(&log, "PRAGMA wal_checkpoint(TRUNCATE)").await;
        for file in std::fs::read_dir(c.dir.path()).unwrap() {
            let path = file.unwrap().path();
            if path
                .display()
                .to_string()
                .starts_with(&log.display().to_string())
            {
                // SQLite removes the -wal and -shm files as its last connection closes.
                let bytes = match std::fs::read(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    read => read.unwrap(),
                };
                assert!(
                    !bytes.windows(PID.len()).any(|w| w == PID.as_bytes()),
                    "{} holds {PID} in clear",
                    path.display()
                );
            }
        }
        // The node finds the person's entries by their pseudonym.
        let (_, _, log_key, _) = c.ids.iter().find(|i| i.0 == member).unwrap();
        let p = Pseudonymiser::of_log_key(log_key);
        let pseudonym = p.pseudonym(PID);
        let found = scalar(
            &log,
            &format!("SELECT COUNT(*) FROM log_entries WHERE entry LIKE '%{pseudonym}%'"),
        )
        .await;
        assert!(found >= 2, "{name}: {found} entries name the person");
        // Evidence: as stored, the answer's signature checks; with the person's id put back
        // by the node, the request's own signature checks too.
        let key = c
            .ids
            .iter()
            .find(|i| i.0 == member)
            .unwrap()
            .1
            .key
            .public_b64();
        let path = log.display().to_string();
        let plain = msglog::evidence(&path, "pseudo-1", &key).await.unwrap();
        let record = msglog::verify_evidence(&plain, &key).unwrap();
        assert_eq!(record["request_signature_checked"], false);
        assert_eq!(record["data_subjects"], serde_json::json!([pseudonym]));
        let ids = [PID.to_owned()];
        let restored = msglog::evidence_restored(&path, "pseudo-1", &key, Some((&p, &ids)))
            .await
            .unwrap();
        let record = msglog::verify_evidence(&restored, &key).unwrap();
        assert_eq!(record["request_signature_checked"], true);
        assert_eq!(record["path"], format!("/records/{PID}"));
        // Another person's id does not fit the signed request.
        let other = ["001190123457".to_owned()];
        assert!(
            msglog::evidence_restored(&path, "pseudo-1", &key, Some((&p, &other)))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn the_center_gathers_a_persons_history_with_proofs_that_verify_offline() {
    use lienthong_gateway::witness::verify_history;
    use lienthong_trust::note::NoteVerifier;
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let consumer = c.start(CONSUMER, &c.log("consumer")).await;
    ask(&consumer, CONSUMER, 3).await;
    // Another person's record, read once: not in the first person's history.
    let r = call(
        &consumer,
        &format!("/r1/{SERVICE}/records/001190123457"),
        &[
            ("X-Road-Client", CONSUMER),
            ("X-Lienthong-Purpose", "insurance-enrolment"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    cosigned(&c.log("provider")).await;
    let gathered = center.accesses_of(PID).await;
    let (_, doc) = gathered
        .iter()
        .find(|(m, _)| m == PROVIDER)
        .expect("the provider answered");
    let doc = doc.as_ref().unwrap();
    let vkey = |m: &str| {
        let (_, _, k, _) = c.ids.iter().find(|i| i.0 == m).unwrap();
        NoteVerifier::parse(&NoteSigner::log(&log_origin(m), k).unwrap().vkey()).unwrap()
    };
    let witness = NoteSigner::witness(&format!("lienthong.witness/{CENTER}"), &c.witness_key)
        .unwrap()
        .verifier();
    let (entries, cosigned) =
        verify_history(doc, &vkey(PROVIDER), std::slice::from_ref(&witness)).unwrap();
    assert!(cosigned, "the proofs are against a witnessed checkpoint");
    assert_eq!(entries.len(), 3, "{entries:?}");
    for e in &entries {
        assert_eq!(e["client"], CONSUMER);
        assert_eq!(e["purpose"], "insurance-enrolment");
        assert_eq!(e["side"], "provider");
    }
    // One changed byte in an entry: the proof no longer holds.
    let mut forged = doc.clone();
    forged["entries"][0]["entry"] = forged["entries"][0]["entry"]
        .as_str()
        .unwrap()
        .replace("insurance-enrolment", "insurance-enrolmenu")
        .into();
    assert!(verify_history(&forged, &vkey(PROVIDER), std::slice::from_ref(&witness)).is_err());
    // Another log's key does not verify the checkpoint.
    assert!(verify_history(doc, &vkey(CONSUMER), &[]).is_err());
    // The other person's history holds only their one access.
    let other = center.accesses_of("001190123457").await;
    let (_, other) = other.iter().find(|(m, _)| m == PROVIDER).unwrap();
    let (entries, _) =
        verify_history(other.as_ref().unwrap(), &vkey(PROVIDER), &[witness]).unwrap();
    assert_eq!(entries.len(), 1);
    // Only the center's node may ask: another member's node is refused, whoever it asks for.
    let refused = consumer_asks_history(&c, PID).await;
    assert_eq!(refused, 403);
    for n in [consumer, provider, center] {
        n.shutdown().await;
    }
}

/// The consumer's node certificate asking the provider's peer face for a history.
async fn consumer_asks_history(c: &Country, id: &str) -> u16 {
    consumer_posts(
        c,
        "/lt1/transparency/accesses",
        &format!("{{\"subject\":\"{id}\"}}"),
    )
    .await
}

/// The consumer's node certificate posting `body` to the provider's peer face at `path`.
async fn consumer_posts(c: &Country, path: &str, body: &str) -> u16 {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let (_, consumer, _, _) = c.ids.iter().find(|i| i.0 == CONSUMER).unwrap();
    let (_, provider, _, addr) = c.ids.iter().find(|i| i.0 == PROVIDER).unwrap();
    let tls = lienthong_trust::client_config_pinned(
        &c.ca.cert_pem,
        &consumer.cert,
        &consumer.tls_key,
        &lienthong_trust::cert_fingerprint(&provider.cert).unwrap(),
    )
    .unwrap();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_only()
        .enable_http2()
        .build();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build(connector);
    let r = client
        .request(
            hyper::Request::post(format!("https://{addr}{path}"))
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = r.status().as_u16();
    let _ = r.into_body().collect().await;
    status
}

#[tokio::test]
async fn a_withdrawn_consent_refuses_the_next_request_at_once() {
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let consumer = c.start(CONSUMER, &c.log("consumer")).await;
    let household = format!("{PROVIDER}/household");
    let ask = |path: String| {
        let consumer = &consumer;
        async move {
            call(
                consumer,
                &path,
                &[
                    ("X-Road-Client", CONSUMER),
                    ("X-Lienthong-Purpose", "insurance-enrolment"),
                ],
            )
            .await
        }
    };
    let record = format!("/r1/{household}/records/{PID}");
    // No consent yet.
    let r = ask(record.clone()).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.headers["x-road-error"], "Client.NoConsent");
    // The person consents (through the center, which acts for them): the next call passes.
    let held = center
        .consent(
            PID,
            (CONSUMER, &household, "insurance-enrolment"),
            Some(true),
        )
        .await
        .unwrap();
    assert_eq!(held["consents"][0]["granted"], true, "{held}");
    let r = ask(record.clone()).await;
    assert_eq!(r.status, 200, "{}", r.json);
    // The answer states the purpose it was served under, and the agreement's basis.
    assert_eq!(r.headers["x-lienthong-purpose"], "insurance-enrolment");
    assert_eq!(r.headers["x-lienthong-legal-basis"], "consent");
    // Another person, who did not consent, and a search: refused.
    let r = ask(format!("/r1/{household}/records/001190123457")).await;
    assert_eq!(r.headers["x-road-error"], "Client.NoConsent");
    let r = ask(format!("/r1/{household}/records?province_code=01")).await;
    assert_eq!(r.headers["x-road-error"], "Client.NoConsent");
    // Withdrawn: the very next call is refused.
    center
        .consent(
            PID,
            (CONSUMER, &household, "insurance-enrolment"),
            Some(false),
        )
        .await
        .unwrap();
    let r = ask(record.clone()).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.headers["x-road-error"], "Client.NoConsent");
    // Consent only for agreements that rest on it, and only from the center's node.
    let e = center
        .consent(PID, (CONSUMER, SERVICE, "insurance-enrolment"), Some(true))
        .await
        .unwrap_err();
    assert!(e.contains("rests on consent"), "{e}");
    let status = consumer_posts(
        &c,
        "/lt1/transparency/consent",
        &format!("{{\"subject\":\"{PID}\",\"consumer\":\"{CONSUMER}\",\"service\":\"{household}\",\"purpose\":\"insurance-enrolment\",\"granted\":true}}"),
    )
    .await;
    assert_eq!(status, 403);
    for n in [consumer, provider, center] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn an_investigations_accesses_are_withheld_from_the_history_and_the_withholding_said() {
    use lienthong_gateway::witness::verify_history;
    use lienthong_trust::note::NoteVerifier;
    let c = Country::new().await;
    let center = c.start(CENTER, &c.log("center")).await;
    let provider = c.start(PROVIDER, &c.log("provider")).await;
    let consumer = c.start(CONSUMER, &c.log("consumer")).await;
    let second = c.start(SECOND, &c.log("second")).await;
    ask(&consumer, CONSUMER, 1).await;
    let r = call(
        &second,
        &format!("/r1/{PROVIDER}/household/records/{PID}"),
        &[
            ("X-Road-Client", SECOND),
            ("X-Lienthong-Purpose", "investigation"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let gathered = center.accesses_of(PID).await;
    let (_, doc) = gathered.iter().find(|(m, _)| m == PROVIDER).unwrap();
    let doc = doc.as_ref().unwrap();
    assert_eq!(doc["withheld"]["count"], 1, "{doc}");
    let until = doc["withheld"]["until"].as_u64().unwrap();
    let now = lienthong_core::time::now_s();
    assert!(
        until > now + 29 * 86_400 && until <= now + 30 * 86_400,
        "{doc}"
    );
    let (_, _, k, _) = c.ids.iter().find(|i| i.0 == PROVIDER).unwrap();
    let vkey =
        NoteVerifier::parse(&NoteSigner::log(&log_origin(PROVIDER), k).unwrap().vkey()).unwrap();
    let (entries, _) = verify_history(doc, &vkey, &[]).unwrap();
    assert_eq!(
        entries.len(),
        1,
        "only the insurance's access is shown: {entries:?}"
    );
    assert_eq!(entries[0]["client"], CONSUMER);
    for n in [second, consumer, provider, center] {
        n.shutdown().await;
    }
}
