//! Hop by hop with the real binary: a commune database syncs into the province's replica
//! (keeping a change log); the province's node publishes that replica table with its change
//! feed; the National Data Center subscribes through its own node — mutual TLS, signed
//! messages, the province's agreement check — into the center's replica.

use std::process::Command;

use sqlx::Row;

use crate::exchange::{run, start_network, value, Socket};

const FIELDS: &str = r#"["personal_id", "full_name", "birth_date", "sex", "ethnicity", "religion", "nationality", "province_code", "commune_code", "address", "phone", "email", "updated_at"]"#;

async fn names(url: &str) -> Vec<(String, String)> {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let rows = sqlx::query("SELECT personal_id, full_name FROM citizen ORDER BY personal_id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commune_to_province_to_center_through_the_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let commune = format!("sqlite://{}?mode=rwc", d.join("commune.db").display());
    let province = format!("sqlite://{}?mode=rwc", d.join("province.db").display());
    let center = format!("sqlite://{}?mode=rwc", d.join("center.db").display());
    let pool =
        crate::dataset_table(&commune, "dan_cu", &lienthong_dictionary::catalog::CITIZEN).await;
    let insert = |pid: &str, name: &str, at: &str| {
        format!("INSERT INTO dan_cu (personal_id, full_name, birth_date, sex, ethnicity, province_code, commune_code, updated_at) VALUES ('{pid}', '{name}', '1990-03-25', '1', '01', '01', '00004', '{at}')")
    };
    for (pid, name, at) in [
        ("001090000001", "NGUYỄN VĂN AN", "2026-11-01T08:00:00+07:00"),
        ("001090000002", "Lê Thị Bình", "2026-11-01T08:00:01+07:00"),
        ("12345", "Số sai", "2026-11-01T08:00:02+07:00"),
    ] {
        sqlx::query(&insert(pid, name, at))
            .execute(&pool)
            .await
            .unwrap();
    }

    // The province's sync: commune → province replica, with the change log.
    std::fs::write(
        d.join("province-sync.toml"),
        format!("replica_url = \"{province}\"\n[[pipelines]]\nname = \"xa-00004/citizen\"\ndataset = \"citizen\"\nsource_url = \"{commune}\"\nsource_table = \"dan_cu\"\nchangelog = true\n"),
    )
    .unwrap();
    let out = run(
        d,
        &["sync", "run", "--config", "province-sync.toml", "--once"],
    );
    assert!(out.contains("2 rows applied"), "{out}");

    // Keys, registry and two nodes: the province publishes its replica table with its feed.
    run(d, &["keys", "ca", "--name", "VN", "--out", "ca"]);
    let registry_key = value(&run(d, &["keys", "member", "--out", "registry"]));
    let hn_key = value(&run(d, &["keys", "member", "--out", "hn"]));
    let center_key = value(&run(d, &["keys", "member", "--out", "center"]));
    let hn_fp = value(&run(
        d,
        &[
            "keys",
            "node",
            "--ca-dir",
            "ca",
            "--member",
            "VN/GOV/HN/UBND",
            "--out",
            "hn",
        ],
    ));
    let center_fp = value(&run(
        d,
        &[
            "keys",
            "node",
            "--ca-dir",
            "ca",
            "--member",
            "VN/GOV/TTDLQG/CENTER",
            "--out",
            "center",
        ],
    ));
    let (sockets, [reg_port, hn_peer, hn_client, c_peer, c_client]) = Socket::many();
    std::fs::write(
        d.join("registry.toml"),
        format!(
            r#"
listen = "127.0.0.1:{reg_port}"
signing_key = "registry/signing.key"
database_url = "sqlite://registry/state.db?mode=rwc"
[registry]
instance = "VN"
[[registry.members]]
id = "VN/GOV/HN/UBND"
name = "UBND Thành phố Hà Nội"
signing_key = "{hn_key}"
address = "127.0.0.1:{hn_peer}"
cert_fingerprint = "{hn_fp}"
[[registry.members]]
id = "VN/GOV/TTDLQG/CENTER"
name = "Trung tâm Dữ liệu quốc gia"
signing_key = "{center_key}"
address = "127.0.0.1:{c_peer}"
cert_fingerprint = "{center_fp}"
[[registry.services]]
id = "VN/GOV/HN/UBND/citizen"
dataset = "citizen"
[[registry.agreements]]
consumer = "VN/GOV/TTDLQG/CENTER"
service = "VN/GOV/HN/UBND/citizen"
fields = {FIELDS}
purposes = ["national-sync"]
changes = true
legal_basis = "Nghị quyết 214/NQ-CP"
valid_from = "2025-01-01"
valid_to = "2099-12-31"
"#
        ),
    )
    .unwrap();
    for (name, member, client, peer, tables) in [
        ("hn", "VN/GOV/HN/UBND", hn_client, hn_peer, format!("[[tables]]\nservice = \"citizen\"\ndataset = \"citizen\"\ndatabase_url = \"{province}\"\ntable = \"citizen\"\nchanges = true\n")),
        ("center", "VN/GOV/TTDLQG/CENTER", c_client, c_peer, String::new()),
    ] {
        std::fs::write(
            d.join(format!("{name}.toml")),
            format!("member = \"{member}\"\nclient_listen = \"127.0.0.1:{client}\"\npeer_listen = \"127.0.0.1:{peer}\"\nadmin_listen = \"127.0.0.1:0\"\nsigning_key = \"{name}/signing.key\"\nca_cert = \"ca/ca.crt\"\ntls_cert = \"{name}/node.crt\"\ntls_key = \"{name}/node.key\"\nregistry_url = \"http://127.0.0.1:{reg_port}\"\nregistry_key = \"{registry_key}\"\nregistry_poll_ms = 300\n{tables}"),
        )
        .unwrap();
    }
    let _children = start_network(
        d,
        &sockets[0],
        &[
            ("hn.toml", &sockets[2], &sockets[1]),
            ("center.toml", &sockets[4], &sockets[3]),
        ],
    );

    // The center subscribes through its own node.
    let center_sync = |purpose: &str| {
        format!("replica_url = \"{center}\"\n[[pipelines]]\nname = \"VN/GOV/HN/UBND/citizen\"\ndataset = \"citizen\"\nsource = \"node\"\nnode_url = \"http://127.0.0.1:{c_client}\"\nservice = \"VN/GOV/HN/UBND/citizen\"\nclient = \"VN/GOV/TTDLQG/CENTER\"\npurpose = \"{purpose}\"\n")
    };
    std::fs::write(d.join("center-sync.toml"), center_sync("national-sync")).unwrap();
    let out = run(
        d,
        &["sync", "run", "--config", "center-sync.toml", "--once"],
    );
    assert!(out.contains("2 rows applied"), "{out}");
    assert_eq!(
        names(&center).await,
        [
            ("001090000001".to_owned(), "Nguyễn Văn An".to_owned()),
            ("001090000002".to_owned(), "Lê Thị Bình".to_owned())
        ]
    );

    // A change at the commune travels both hops; nothing is applied twice.
    sqlx::query("UPDATE dan_cu SET full_name = 'Lê Thị Bính', updated_at = '2026-11-02T08:00:00+07:00' WHERE personal_id = '001090000002'").execute(&pool).await.unwrap();
    sqlx::query(&insert(
        "001090000003",
        "Phạm Văn Cường",
        "2026-11-02T08:00:01+07:00",
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    run(
        d,
        &["sync", "run", "--config", "province-sync.toml", "--once"],
    );
    let out = run(
        d,
        &["sync", "run", "--config", "center-sync.toml", "--once"],
    );
    assert!(out.contains("4 rows applied"), "{out}");
    let got = names(&center).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].1, "Lê Thị Bính");

    // A purpose the agreement does not name is refused by the province's node.
    std::fs::write(
        d.join("bad-sync.toml"),
        center_sync("marketing").replace("center.db", "other.db"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["sync", "run", "--config", "bad-sync.toml", "--once"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PurposeNotAllowed") || err.contains("purpose"),
        "{err}"
    );
}
