//! The message log on both nodes: every exchange recorded, verifiable, exportable as offline
//! evidence; any changed byte and any split view detected.

use lienthong_gateway::msglog;

use crate::harness::*;

const PURPOSE: (&str, &str) = ("X-Lienthong-Purpose", "insurance-enrolment");
const CLIENT: (&str, &str) = ("X-Road-Client", CONSUMER);

fn db(t: &Topology, member: &str) -> String {
    log_path(&t.dir_path, member)
}

async fn exec(path: &str, sql: &str) {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn both_nodes_log_every_exchange_and_evidence_verifies_offline() {
    let t = start(3600).await;
    let ok = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[
            CLIENT,
            PURPOSE,
            ("X-Road-Id", "ev-1"),
            ("X-Road-UserId", "VN-OFFICER-7"),
        ],
    )
    .await;
    assert_eq!(ok.status, 200);
    let refused = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[
            CLIENT,
            ("X-Lienthong-Purpose", "marketing"),
            ("X-Road-Id", "ev-2"),
        ],
    )
    .await;
    assert_eq!(refused.status, 400);
    let (provider_db, consumer_db) = (db(&t, PROVIDER), db(&t, CONSUMER));
    let (provider_key, consumer_key) = (
        t.provider_id.key.public_b64(),
        t.consumer_id.key.public_b64(),
    );
    t.provider.shutdown().await;
    t.consumer.shutdown().await;

    let report = msglog::verify(&provider_db, &provider_key).await.unwrap();
    assert_eq!(report.entries, 2, "the refusal is logged too");
    assert_eq!(
        msglog::verify(&consumer_db, &consumer_key)
            .await
            .unwrap()
            .entries,
        2
    );

    for (path, key, side) in [
        (&provider_db, &provider_key, "provider"),
        (&consumer_db, &consumer_key, "consumer"),
    ] {
        let evidence = msglog::evidence(path, "ev-1", key).await.unwrap();
        let record = msglog::verify_evidence(&evidence, key).unwrap();
        assert_eq!(record["side"], side);
        assert_eq!(record["user_id"], "VN-OFFICER-7");
        assert_eq!(record["purpose"], "insurance-enrolment");
        assert_eq!(record["data_subjects"], serde_json::json!([PID]));
        assert!(record["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "full_name"));
        // One changed byte in the exported file is found offline.
        let mut forged = evidence.clone();
        forged["entry"] = forged["entry"]
            .as_str()
            .unwrap()
            .replace("VN-OFFICER-7", "VN-OFFICER-8")
            .into();
        assert!(msglog::verify_evidence(&forged, key).is_err());
        let mut wrong_key = evidence.clone();
        wrong_key["checkpoint"]["timestamp"] =
            (evidence["checkpoint"]["timestamp"].as_u64().unwrap() + 1).into();
        assert!(msglog::verify_evidence(&wrong_key, key)
            .unwrap_err()
            .contains("checkpoint signature"));
        assert!(msglog::verify_evidence(
            &evidence,
            &lienthong_trust::SigningKey::generate().public_b64()
        )
        .is_err());
    }
    let refusal = msglog::evidence(&provider_db, "ev-2", &provider_key)
        .await
        .unwrap();
    assert_eq!(
        msglog::verify_evidence(&refusal, &provider_key).unwrap()["code"],
        "Client.PurposeNotAllowed"
    );
}

#[tokio::test]
async fn changed_bytes_and_split_views_are_detected() {
    let t = start(3600).await;
    for i in 0..3 {
        let r = call(
            &t.consumer,
            &format!("/r1/{SERVICE}/records/{PID}"),
            &[CLIENT, PURPOSE, ("X-Road-Id", &format!("m-{i}"))],
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let path = db(&t, PROVIDER);
    let key = t.provider_id.key.public_b64();
    t.provider.shutdown().await;
    assert_eq!(msglog::verify(&path, &key).await.unwrap().entries, 3);

    // A changed byte in an entry.
    exec(&path, "UPDATE log_entries SET entry = replace(entry, 'insurance-enrolment', 'insurance-enrolmenT') WHERE idx = 1").await;
    assert!(msglog::verify(&path, &key)
        .await
        .unwrap_err()
        .to_string()
        .contains("entry 1"));
    exec(&path, "UPDATE log_entries SET entry = replace(entry, 'insurance-enrolmenT', 'insurance-enrolment') WHERE idx = 1").await;
    assert!(msglog::verify(&path, &key).await.is_ok());

    // A changed checkpoint root: the first checkpoint's (which sizes have one depends on how
    // the writer grouped the entries).
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let first: i64 = sqlx::Row::get(
        &sqlx::query("SELECT MIN(size) FROM log_checkpoints")
            .fetch_one(&pool)
            .await
            .unwrap(),
        0,
    );
    exec(
        &path,
        &format!("UPDATE log_checkpoints SET root = '00' || substr(root, 3) WHERE size = {first}"),
    )
    .await;
    assert!(msglog::verify(&path, &key).await.is_err());
    sqlx::query(&format!("DELETE FROM log_checkpoints WHERE size = {first}"))
        .execute(&pool)
        .await
        .unwrap();

    // A second, properly signed checkpoint for the same size with another root: split view.
    let forged = lienthong_ledger::Checkpoint {
        size: 3,
        root: [7u8; 32],
        timestamp: 1,
    };
    let signature = t.provider_id.key.sign(&forged.to_signing_bytes());
    sqlx::query(&format!("INSERT INTO log_checkpoints (size, root, timestamp, signature) VALUES (3, '{}', 1, '{signature}')", lienthong_ledger::hash_to_hex(&forged.root))).execute(&pool).await.unwrap();
    pool.close().await;
    let err = msglog::verify(&path, &key).await.unwrap_err().to_string();
    assert!(err.contains("size 3"), "{err}");
}

#[tokio::test]
async fn subjects_are_logged_even_when_the_consumer_may_not_see_the_id() {
    let t = start_with(3600, |r| {
        r.agreements[0].fields = vec!["province_code".into(), "full_name".into()]
    })
    .await;
    let r = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records?province_code=01"),
        &[CLIENT, PURPOSE, ("X-Road-Id", "q-1")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.json["records"][0].get("personal_id").is_none());
    // A refusal names nobody: its path is the caller's claim, not an access.
    let refused = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[
            CLIENT,
            ("X-Lienthong-Purpose", "marketing"),
            ("X-Road-Id", "q-2"),
        ],
    )
    .await;
    assert_eq!(refused.status, 400);
    let path = db(&t, PROVIDER);
    let key = t.provider_id.key.public_b64();
    t.provider.shutdown().await;
    let answered =
        msglog::verify_evidence(&msglog::evidence(&path, "q-1", &key).await.unwrap(), &key)
            .unwrap();
    assert_eq!(
        answered["data_subjects"],
        serde_json::json!([PID, "001190123457"])
    );
    let refusal =
        msglog::verify_evidence(&msglog::evidence(&path, "q-2", &key).await.unwrap(), &key)
            .unwrap();
    assert_eq!(refusal["data_subjects"], serde_json::json!([]));
}

async fn count(path: &str, table: &str) -> i64 {
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let n: i64 = sqlx::Row::get(
        &sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap(),
        0,
    );
    pool.close().await;
    n
}

#[tokio::test]
async fn bodies_are_kept_only_for_the_services_configured() {
    let t = start_nodes(
        3600,
        |_| {},
        vec![],
        |c| {
            c.log_bodies = false;
            c.log_bodies_services = vec![SERVICE.into()];
        },
    )
    .await;
    let ok = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(ok.status, 200);
    let (provider_db, consumer_db) = (db(&t, PROVIDER), db(&t, CONSUMER));
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
    assert_eq!(
        count(&provider_db, "log_bodies").await,
        1,
        "the answer's body, on the provider"
    );
    assert_eq!(
        count(&consumer_db, "log_bodies").await,
        1,
        "and on the consumer"
    );
    // Another service of the same nodes: metadata only.
    let t = start_nodes(
        3600,
        |_| {},
        vec![],
        |c| {
            c.log_bodies = false;
            c.log_bodies_services = vec!["VN/GOV/BCA/DANCU/household".into()];
        },
    )
    .await;
    let ok = call(
        &t.consumer,
        &format!("/r1/{SERVICE}/records/{PID}"),
        &[CLIENT, PURPOSE],
    )
    .await;
    assert_eq!(ok.status, 200);
    let provider_db = db(&t, PROVIDER);
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
    assert_eq!(count(&provider_db, "log_entries").await, 1);
    assert_eq!(count(&provider_db, "log_bodies").await, 0);
}

/// The same log in PostgreSQL (by configuration): appends, verification, evidence, one
/// writer per database, and a reopened log continues its tree.
#[tokio::test]
async fn a_postgresql_message_log_verifies_and_has_one_writer() {
    let Some(base) = lienthong_testkit::service("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    sqlx::any::install_default_drivers();
    let name = format!("lt_log_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let key = lienthong_trust::SigningKey::generate();
    let public = key.public_b64();
    let log = msglog::MessageLog::open(
        &url,
        lienthong_trust::SigningKey::from_pem(&key.to_pem().unwrap()).unwrap(),
    )
    .await
    .unwrap();
    let second = msglog::MessageLog::open(&url, lienthong_trust::SigningKey::generate()).await;
    assert!(second
        .err()
        .unwrap()
        .contains("another node writes this log"));
    // The registry snapshot kept beside the log: a newer one replaces it, an older never.
    assert_eq!(log.saved_snapshot().await.unwrap(), None);
    log.save_snapshot(3, 100, "v3").await.unwrap();
    log.save_snapshot(2, 200, "v2").await.unwrap();
    assert_eq!(log.saved_snapshot().await.unwrap().as_deref(), Some("v3"));
    log.save_snapshot(3, 50, "v3 issued earlier").await.unwrap();
    assert_eq!(log.saved_snapshot().await.unwrap().as_deref(), Some("v3"));
    log.save_snapshot(3, 150, "v3 issued later").await.unwrap();
    assert_eq!(
        log.saved_snapshot().await.unwrap().as_deref(),
        Some("v3 issued later")
    );
    log.save_snapshot(4, 10, "v4").await.unwrap();
    assert_eq!(log.saved_snapshot().await.unwrap().as_deref(), Some("v4"));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append(
                &format!("pg-{i}"),
                &serde_json::json!({ "n": i }),
                vec![(format!("{i:064}"), vec![i as u8])],
            )
            .await
            .unwrap()
        }));
    }
    let mut indexes: Vec<u64> = Vec::new();
    for t in tasks {
        indexes.push(t.await.unwrap());
    }
    indexes.sort();
    assert_eq!(indexes, (0..40).collect::<Vec<_>>());
    log.close().await;
    // Reopened: the tree continues from what PostgreSQL holds.
    let log = msglog::MessageLog::open(
        &url,
        lienthong_trust::SigningKey::from_pem(&key.to_pem().unwrap()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(log.size(), 40);
    assert_eq!(
        log.append("pg-40", &serde_json::json!({ "n": 40 }), vec![])
            .await
            .unwrap(),
        40
    );
    log.close().await;
    let report = msglog::verify(&url, &public).await.unwrap();
    assert_eq!(report.entries, 41);
    let doc = msglog::evidence(&url, "pg-7", &public).await.unwrap();
    assert_eq!(doc["index"], 7);
    // The entry is not an exchange record, so the offline check stops at its signatures —
    // after the checkpoint signature and the inclusion proof have verified.
    let e = msglog::verify_evidence(&doc, &public).unwrap_err();
    assert!(
        !e.contains("checkpoint") && !e.contains("not in the log"),
        "{e}"
    );
    // A changed byte is found.
    let pg = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE log_entries SET entry = '{\"n\":70}' WHERE idx = 7")
        .execute(&pg)
        .await
        .unwrap();
    pg.close().await;
    assert!(msglog::verify(&url, &public)
        .await
        .unwrap_err()
        .to_string()
        .contains("entry 7"));
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

/// Archiving: old entries move to a file that verifies offline; the log still verifies,
/// later evidence still exports, a changed byte in the archive is found, and a second
/// archive continues where the first ended. Bodies past retention go, the tree stays.
#[tokio::test]
async fn archives_verify_offline_and_the_log_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.messages.db").display().to_string();
    let key = lienthong_trust::SigningKey::generate();
    let public = key.public_b64();
    let log = msglog::MessageLog::open(
        &path,
        lienthong_trust::SigningKey::from_pem(&key.to_pem().unwrap()).unwrap(),
    )
    .await
    .unwrap();
    // Appended one by one: every entry is its own batch, so every size has a checkpoint.
    for i in 0..30u32 {
        let body = vec![i as u8; 3];
        let sha = lienthong_trust::sha256_hex(&body);
        let entry = serde_json::json!({ "n": i, "response_body_sha256": sha });
        log.append(&format!("a-{i}"), &entry, vec![(sha, body)])
            .await
            .unwrap();
    }
    log.close().await;
    let out = dir.path().join("archive");
    let first = msglog::archive(&path, msglog::ArchiveUntil::Size(12), &out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.from, first.to, first.bodies), (0, 12, 12));
    assert_eq!(
        msglog::verify_archive(&first.file, &public).unwrap(),
        (0, 12)
    );
    let report = msglog::verify(&path, &public).await.unwrap();
    assert_eq!((report.entries, report.archived), (30, 12));
    let e = msglog::evidence(&path, "a-3", &public).await.unwrap_err();
    assert!(e.contains("archived"), "{e}");
    msglog::evidence(&path, "a-20", &public).await.unwrap();
    // The next archive starts where the first ended, its compact range standing in for
    // the entries before it.
    let second = msglog::archive(&path, msglog::ArchiveUntil::Size(25), &out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.from, second.to), (12, 25));
    assert_eq!(
        msglog::verify_archive(&second.file, &public).unwrap(),
        (12, 25)
    );
    assert!(msglog::archive(&path, msglog::ArchiveUntil::Size(25), &out)
        .await
        .unwrap()
        .is_none());
    // Tampering with an archive, or with the log's archived part, is found.
    let original_archive = std::fs::read_to_string(&second.file).unwrap();
    let text = original_archive.replace("\\\"n\\\":20", "\\\"n\\\":21");
    std::fs::write(&second.file, text).unwrap();
    assert!(msglog::verify_archive(&second.file, &public)
        .unwrap_err()
        .contains("root"));
    assert!(
        msglog::verify(&path, &public)
            .await
            .unwrap_err()
            .to_string()
            .contains("not the file that was archived"),
        "the log checks its archive files too"
    );
    std::fs::write(&second.file, &original_archive).unwrap();
    assert!(msglog::verify_archive(
        &first.file,
        &lienthong_trust::SigningKey::generate().public_b64()
    )
    .unwrap_err()
    .contains("signature"));
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let original: String = sqlx::Row::get(
        &sqlx::query("SELECT entry FROM log_entries WHERE idx = 27")
            .fetch_one(&pool)
            .await
            .unwrap(),
        0,
    );
    sqlx::query("UPDATE log_entries SET entry = '' WHERE idx = 27")
        .execute(&pool)
        .await
        .unwrap();
    assert!(msglog::verify(&path, &public)
        .await
        .unwrap_err()
        .to_string()
        .contains("no archive covers it"));
    sqlx::query("UPDATE log_entries SET entry = ? WHERE idx = 27")
        .bind(original)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    msglog::verify(&path, &public).await.unwrap();
    // Retention: every remaining body is older than "now + 1 s".
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 1000;
    assert_eq!(msglog::prune_bodies(&path, later).await.unwrap(), 5);
    assert_eq!(count(&path, "log_bodies").await, 0);
    msglog::verify(&path, &public).await.unwrap();
}

/// Regression: rows added behind the node's back (under no signed checkpoint) and archive
/// records that were never archived are found, and the node refuses to sign on over them.
#[tokio::test]
async fn rows_and_archive_records_added_outside_the_node_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.messages.db").display().to_string();
    let key = lienthong_trust::SigningKey::generate();
    let public = key.public_b64();
    let reopen = || {
        msglog::MessageLog::open(
            &path,
            lienthong_trust::SigningKey::from_pem(&key.to_pem().unwrap()).unwrap(),
        )
    };
    let log = reopen().await.unwrap();
    for i in 0..5u32 {
        log.append(&format!("r-{i}"), &serde_json::json!({ "n": i }), vec![])
            .await
            .unwrap();
    }
    log.close().await;
    msglog::verify(&path, &public).await.unwrap();
    // A forged exchange appended at the tail, with a correct leaf hash.
    let forged = "{\"n\":99}";
    let leaf = lienthong_ledger::hash_to_hex(&lienthong_ledger::leaf_hash(forged.as_bytes()));
    exec(&path, &format!("INSERT INTO log_entries (idx, message_id, entry, leaf_hash) VALUES (5, 'forged', '{forged}', '{leaf}')")).await;
    assert!(msglog::verify(&path, &public)
        .await
        .unwrap_err()
        .to_string()
        .contains("under no signed checkpoint"));
    let e = reopen().await.err().unwrap();
    assert!(
        e.contains("do not match the latest signed checkpoint"),
        "{e}"
    );
    exec(&path, "DELETE FROM log_entries WHERE idx = 5").await;
    reopen().await.unwrap().close().await;
    // An entry blanked and covered by an archive record nobody archived.
    exec(&path, "UPDATE log_entries SET entry = '' WHERE idx = 2").await;
    exec(&path, "INSERT INTO log_archives (from_idx, to_idx, file, file_sha256, at_ms) VALUES (0, 5, 'nowhere.jsonl', 'x', 0)").await;
    let e = msglog::verify(&path, &public).await.unwrap_err();
    assert!(matches!(e, msglog::LogError::Altered(_)), "{e}");
    assert!(e.to_string().contains("nowhere.jsonl"), "{e}");
}

/// Calls the consumer's own node refuses — no purpose, a client of another member, no client,
/// an unknown service — leave a log entry each, before the refusal is answered, and the log
/// still verifies.
#[tokio::test]
async fn calls_refused_by_the_consumer_node_are_logged() {
    // Two purposes in the agreement: a call without one has no default and is refused.
    let t = start_with(3600, |r| r.agreements[0].purposes.push("audit".into())).await;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 4] = [
        ("no-purpose", vec![CLIENT], "Client.PurposeRequired"),
        (
            "other-client",
            vec![("X-Road-Client", "VN/GOV/OTHER/X"), PURPOSE],
            "Client.InvalidClient",
        ),
        ("no-client", vec![PURPOSE], "Client.BadRequest"),
        ("unknown", vec![CLIENT, PURPOSE], "Client.UnknownService"),
    ];
    for (id, headers, code) in &cases {
        let mut headers = headers.clone();
        headers.push(("X-Road-Id", id));
        headers.push(("X-Road-UserId", "VN-OFFICER-7"));
        let path = if *id == "unknown" {
            format!("/r1/{PROVIDER}/nope/records/{PID}")
        } else {
            format!("/r1/{SERVICE}/records/{PID}")
        };
        let r = call(&t.consumer, &path, &headers).await;
        assert_eq!(r.json["type"], *code, "{id}");
    }
    let path = db(&t, CONSUMER);
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    for (id, _, code) in &cases {
        let rows: Vec<String> =
            sqlx::query_scalar::<_, String>("SELECT entry FROM log_entries WHERE message_id = ?")
                .bind(id.to_string())
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(rows.len(), 1, "{id}: one entry");
        let e: serde_json::Value = serde_json::from_str(&rows[0]).unwrap();
        assert_eq!(e["refused_by"], "consumer", "{id}");
        assert_eq!(e["code"], *code, "{id}");
        assert_eq!(e["user_id"], "VN-OFFICER-7", "{id}");
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{id}");
    }
    pool.close().await;
    // The provider saw none of them.
    let provider = sqlx::AnyPool::connect(&format!("sqlite://{}", db(&t, PROVIDER)))
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_entries")
        .fetch_one(&provider)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    provider.close().await;
    let key = t.consumer_id.key.public_b64();
    let report = msglog::verify(&path, &key).await.unwrap();
    assert_eq!(report.entries, 4);
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

/// The dashboard's reader: typed entries, newest first, by message id; a missing log is an
/// error (never created).
#[tokio::test]
async fn the_read_only_reader_reads_entries_and_creates_nothing() {
    let t = start(3600).await;
    for id in ["r-1", "r-2"] {
        let r = call(
            &t.consumer,
            &format!("/r1/{SERVICE}/records/{PID}"),
            &[CLIENT, PURPOSE, ("X-Road-Id", id)],
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let reader = msglog::LogReader::open(&db(&t, PROVIDER)).await.unwrap();
    let recent = reader.recent(10).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent[0].index > recent[1].index, "newest first");
    assert_eq!(recent[0].record["client_message_id"], "r-2");
    assert_eq!(recent[0].record["side"], "provider");
    let one = reader.by_message_id("r-1").await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].record["code"], "ok");
    let missing = t.dir_path.join("nobody.messages.db");
    assert!(msglog::LogReader::open(&missing.display().to_string())
        .await
        .is_err());
    assert!(!missing.exists(), "a reader creates no file");
    t.provider.shutdown().await;
    t.consumer.shutdown().await;
}

/// A SQLite message log (who asked for whose data) and its write-ahead files are the owner's
/// only; a log found readable by others is tightened when opened.
#[tokio::test]
async fn a_sqlite_log_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/node.messages.db");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let log = msglog::MessageLog::open(
        path.to_str().unwrap(),
        lienthong_trust::SigningKey::generate(),
    )
    .await
    .unwrap();
    log.append("m-1", &serde_json::json!({ "n": 1 }), vec![])
        .await
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    let wal = dir.path().join("logs/node.messages.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600);
    log.close().await;
    // Closing the last handle closes the file: the writer's connection and the pool's are
    // gone, so SQLite has folded the write-ahead file back and removed it.
    assert!(!wal.exists(), "the log is still open after close");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key = lienthong_trust::SigningKey::generate();
    let reopened = msglog::MessageLog::open(path.to_str().unwrap(), key).await;
    // Another key does not verify the head: what matters here is that the mode was fixed first.
    drop(reopened);
    assert_eq!(mode(&path), 0o600);
}

/// An archive run cut short after recording its archive but before releasing the entries
/// (the release goes in small commits so that appends never wait on one long one): the log
/// still verifies, and the next run finishes the release.
#[tokio::test]
async fn an_archive_cut_short_is_released_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.messages.db").display().to_string();
    let key = lienthong_trust::SigningKey::generate();
    let public = key.public_b64();
    let log = msglog::MessageLog::open(&path, key).await.unwrap();
    // Appended 100 at a time, so that they share commits.
    for chunk in 0..30u32 {
        let mut set = tokio::task::JoinSet::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            let log = log.clone();
            set.spawn(async move {
                let body = i.to_be_bytes().to_vec();
                let sha = lienthong_trust::sha256_hex(&body);
                let entry = serde_json::json!({ "n": i, "response_body_sha256": sha });
                log.append(&format!("c-{i}"), &entry, vec![(sha, body)])
                    .await
                    .unwrap();
            });
        }
        set.join_all().await;
    }
    log.close().await;
    // The state a cut-short run leaves: archive made on a copy, then only its record added
    // to the original (entries and bodies still in place).
    let copy = dir.path().join("copy.db").display().to_string();
    // Through SQLite, not a file copy: what the log's last connections left in the WAL is
    // in the copy too (a bare copy of the main file, taken before they closed, was not).
    sqlx::any::install_default_drivers();
    let source = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query(&format!("VACUUM INTO '{copy}'"))
        .execute(&source)
        .await
        .unwrap();
    source.close().await;
    let out = dir.path().join("archive");
    let done = msglog::archive(&copy, msglog::ArchiveUntil::Size(2500), &out)
        .await
        .unwrap()
        .unwrap();
    assert!(done.to > 1000, "more than one release chunk: {}", done.to);
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query("INSERT INTO log_archives (from_idx, to_idx, file, file_sha256, at_ms) VALUES (0, ?, ?, ?, 0)")
        .bind(done.to as i64)
        .bind(done.file.display().to_string())
        .bind(lienthong_trust::sha256_hex(&std::fs::read(&done.file).unwrap()))
        .execute(&pool)
        .await
        .unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::Row::get::<i64, _>(&sqlx::query(sql).fetch_one(&pool).await.unwrap(), 0) }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM log_entries WHERE entry = ''").await,
        0
    );
    let report = msglog::verify(&path, &public).await.unwrap();
    assert_eq!((report.entries, report.archived), (3000, 0));
    // The next run releases what the record covers, and has nothing new to archive.
    assert!(
        msglog::archive(&path, msglog::ArchiveUntil::Size(2500), &out)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM log_entries WHERE entry = ''").await,
        done.to as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM log_bodies").await,
        3000 - done.to as i64
    );
    pool.close().await;
    let report = msglog::verify(&path, &public).await.unwrap();
    assert_eq!((report.entries, report.archived), (3000, done.to));
    assert_eq!(
        msglog::verify_archive(&done.file, &public).unwrap(),
        (0, done.to)
    );
    // Archives hold who asked for whose data: the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&done.file), 0o600);
    assert_eq!(mode(&out), 0o700);
}

/// A new SQLite log is made with 8 KiB pages (two ~2 kB entries fit a page); a log made
/// with SQLite's default 4 KiB pages keeps them, takes appends and verifies when reopened.
#[tokio::test]
async fn a_new_sqlite_log_has_8_kib_pages_and_an_older_log_keeps_its_own() {
    let page_size = |p: &std::path::Path| -> u32 {
        let c = rusqlite::Connection::open(p).unwrap();
        c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let entry = |n: u32| serde_json::json!({ "n": n, "pad": "x".repeat(2_000) });
    for (name, before) in [("new.db", None), ("old.db", Some(4096))] {
        let path = dir.path().join(name);
        if let Some(size) = before {
            // A log file as SQLite made them before: default pages, WAL, not yet a log.
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(&format!(
                "PRAGMA page_size={size}; PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);"
            ))
            .unwrap();
        }
        let key = lienthong_trust::SigningKey::generate();
        let public = key.public_b64();
        let pem = key.to_pem().unwrap();
        let log = msglog::MessageLog::open(path.to_str().unwrap(), key)
            .await
            .unwrap();
        for n in 0..20 {
            log.append(&format!("m-{n}"), &entry(n), vec![])
                .await
                .unwrap();
        }
        log.close().await;
        let want = before.unwrap_or(msglog::SQLITE_PAGE_SIZE);
        assert_eq!(page_size(&path), want, "{name}");
        // Reopened (its head verified against the signed checkpoint), it takes more.
        let key = lienthong_trust::SigningKey::from_pem(&pem).unwrap();
        let log = msglog::MessageLog::open(path.to_str().unwrap(), key)
            .await
            .unwrap();
        assert_eq!(log.size(), 20, "{name}");
        log.append("m-20", &entry(20), vec![]).await.unwrap();
        log.close().await;
        assert_eq!(page_size(&path), want, "{name}");
        let report = msglog::verify(path.to_str().unwrap(), &public)
            .await
            .unwrap();
        assert_eq!(report.entries, 21, "{name}");
    }
}
