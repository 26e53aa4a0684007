//! `lienthong sync run --once` and `sync status` from a config file, SQLite to SQLite.

use crate::lienthong;

#[tokio::test]
async fn sync_once_then_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = format!("sqlite://{}?mode=rwc", d.join("agency.db").display());
    let pool = crate::dataset_table(&src, "dan_cu", &lienthong_dictionary::catalog::CITIZEN).await;
    for i in 0..25 {
        let pid = if i == 7 {
            "123".to_owned()
        } else {
            format!("0010900000{i:02}")
        };
        sqlx::query(&format!("INSERT INTO dan_cu (personal_id, full_name, birth_date, sex, province_code, commune_code, updated_at) VALUES ('{pid}', 'Trần Văn Bình', '1990-03-25', '1', '01', '00004', '2025-08-01T10:00:{i:02}+07:00')"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    std::fs::write(
        d.join("sync.toml"),
        format!("replica_url = \"sqlite://{}?mode=rwc\"\n[[pipelines]]\nname = \"bca-citizen\"\ndataset = \"citizen\"\nsource_url = \"{src}\"\nsource_table = \"dan_cu\"\nbatch_rows_max = 10\n", d.join("center.db").display()),
    )
    .unwrap();
    let out = lienthong(&["sync", "run", "--config", "sync.toml", "--once"], d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("bca-citizen: 24 rows applied, 0 deleted, 1 quarantined, backlog 0 rows"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = lienthong(
        &[
            "sync",
            "status",
            "--config",
            "sync.toml",
            "--format",
            "json",
        ],
        d,
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status[0]["rows_applied"], 24);
    assert_eq!(status[0]["quarantined_open"], 1);
    assert_eq!(status[0]["source"], "poll");
    assert_eq!(status[0]["snapshot_done"], true);
    std::fs::write(d.join("bad.toml"), "replica_url = \"x\"\npipelines = []\n").unwrap();
    let out = lienthong(&["sync", "run", "--config", "bad.toml"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [[pipelines]]"));
}
