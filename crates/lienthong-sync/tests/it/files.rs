//! File drops: CSV and JSONL applied once each, malformed records and files quarantined
//! with reasons, finished files moved, a crash between commit and move repeats nothing.

use lienthong_sync::SourceConfig;

use super::*;

/// Writes a drop as an agency's system would, finished a while ago (files are read once
/// they have settled).
fn drop_file(path: &std::path::Path, content: impl AsRef<[u8]>) {
    std::fs::write(path, content).unwrap();
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(past)
        .unwrap();
}

const HEADER: &str = "personal_id,full_name,birth_date,sex,province_code,commune_code,updated_at";

#[tokio::test]
async fn drops_are_applied_once_and_bad_ones_explained() {
    let dir = tempfile::tempdir().unwrap();
    let drops = dir.path().join("drops");
    std::fs::create_dir(&drops).unwrap();
    let replica = sqlite(dir.path(), "center.db");
    drop_file(&
        drops.join("2026-11-01.csv"),
        format!("{HEADER}\n001090000001,NGUYỄN VĂN AN,1990-03-25,1,01,00004,2026-11-01T08:00:00+07:00\n12345,Sai,1990-03-25,1,01,00004,2026-11-01T08:00:00+07:00\n001090000002,Lê Thị Bình,1990-03-25,2,01,00004\n"),
    );
    drop_file(&
        drops.join("2026-11-02.jsonl"),
        "{\"personal_id\":\"001090000003\",\"full_name\":\"Phạm Văn Cường\",\"birth_date\":\"1990-03-25\",\"sex\":\"1\",\"province_code\":\"01\",\"commune_code\":\"00004\"}\nnot json at all\n",
    );
    drop_file(&drops.join("2026-11-03.csv"), "ho_ten,ngay_sinh\nAn,1990\n");
    drop_file(&drops.join("notes.txt"), "ignored");
    let mut cfg = config(
        "drops",
        SourceConfig::Files { dir: drops.clone() },
        &replica,
        "rep",
    );
    cfg.batch_rows_max = 2;
    let mut p = open(&cfg).await;
    p.catch_up().await.unwrap();
    let got = names(&replica, "rep").await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["001090000001", "001090000003"]
    );
    let q = quarantine(&p).await.join("\n");
    assert!(q.contains("id.length"), "bad id: {q}");
    assert!(q.contains("field_count"), "short CSV row: {q}");
    assert!(q.contains("2026-11-02.jsonl line 2"), "bad JSON line: {q}");
    assert!(
        q.contains("2026-11-03.csv") && q.contains("not in dataset"),
        "bad header: {q}"
    );
    assert_eq!(p.state().rows_quarantined, 4);
    for (sub, name) in [
        ("done", "2026-11-01.csv"),
        ("done", "2026-11-02.jsonl"),
        ("rejected", "2026-11-03.csv"),
    ] {
        assert!(drops.join(sub).join(name).exists(), "{sub}/{name}");
        assert!(!drops.join(name).exists());
    }
    assert!(drops.join("notes.txt").exists());

    // The same content dropped again under another name: the same ids, no new rows.
    drop_file(
        &drops.join("again.csv"),
        std::fs::read(drops.join("done/2026-11-01.csv")).unwrap(),
    );
    let before = p.state().rows_applied;
    p.catch_up().await.unwrap();
    assert_eq!(
        p.state().rows_applied,
        before + 1,
        "applied again is idempotent"
    );
    assert_eq!(names(&replica, "rep").await.len(), 2);
    p.close().await;

    // A crash after the commit of a file's last record but before its move: the next run
    // moves it and applies nothing.
    drop_file(
        &drops.join("z.csv"),
        format!("{HEADER}\n001090000004,Đỗ Thị Dung,1990-03-25,2,01,00004,\n"),
    );
    let mut p = open(&cfg).await;
    let b = p.step(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(b.applied, 1);
    // The move happened (acknowledged); put the file back as if it had not.
    std::fs::rename(drops.join("done/z.csv"), drops.join("z.csv")).unwrap();
    p.close().await;
    let mut p = open(&cfg).await;
    let applied = p.state().rows_applied;
    p.catch_up().await.unwrap();
    assert_eq!(p.state().rows_applied, applied);
    assert!(drops.join("done/z.csv").exists());

    // An invalid new version of a key is quarantined and the replica keeps the last valid
    // one; a later valid version replaces it.
    drop_file(
        &drops.join("zz1.csv"),
        format!("{HEADER}\n001090000003,Sai Ngày Sinh,2990-01-01,1,01,00004,\n"),
    );
    let quarantined = p.state().rows_quarantined;
    p.catch_up().await.unwrap();
    assert_eq!(p.state().rows_quarantined, quarantined + 1);
    assert_eq!(
        names(&replica, "rep").await["001090000003"],
        "Phạm Văn Cường"
    );
    drop_file(
        &drops.join("zz2.csv"),
        format!("{HEADER}\n001090000003,Phạm Văn Cương,1990-03-25,1,01,00004,\n"),
    );
    p.catch_up().await.unwrap();
    assert_eq!(
        names(&replica, "rep").await["001090000003"],
        "Phạm Văn Cương"
    );
    p.close().await;
}

/// A file still being written (touched within the last two seconds) waits; a file that sorts
/// before a partly applied one does not take its place.
#[tokio::test]
async fn unsettled_files_wait_and_the_partly_applied_file_goes_first() {
    let dir = tempfile::tempdir().unwrap();
    let drops = dir.path().join("drops");
    std::fs::create_dir(&drops).unwrap();
    let replica = sqlite(dir.path(), "center.db");
    let rows = |from: u32, to: u32| {
        let mut t = format!("{HEADER}\n");
        for i in from..to {
            t.push_str(&format!(
                "0010900{i:05},Nguyễn Văn An,1990-03-25,1,01,00004,\n"
            ));
        }
        t
    };
    // Still being written: its modification time is not two seconds old. (Set an hour ahead,
    // so that a slow machine cannot let it settle before the first read.)
    std::fs::write(drops.join("b.csv"), rows(0, 5)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(drops.join("b.csv"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        .unwrap();
    let mut cfg = config(
        "settle",
        SourceConfig::Files { dir: drops.clone() },
        &replica,
        "rep",
    );
    cfg.batch_rows_max = 2;
    let mut p = open(&cfg).await;
    p.catch_up().await.unwrap();
    assert_eq!(
        p.state().rows_applied,
        0,
        "a file being written is not read"
    );
    drop_file(&drops.join("b.csv"), rows(0, 5));
    // Two of b's five records, then a crash; meanwhile a.csv (sorting first) arrives.
    p.step(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(p.state().rows_applied, 2);
    p.close().await;
    drop_file(&drops.join("a.csv"), rows(100, 102));
    let mut p = open(&cfg).await;
    p.step(std::time::Duration::ZERO).await.unwrap();
    let st = p.state().clone();
    assert_eq!(st.rows_applied, 4, "b continues first");
    assert!(st.position.ends_with("/b.csv"), "{}", st.position);
    p.catch_up().await.unwrap();
    assert_eq!(p.state().rows_applied, 7, "every record once");
    assert_eq!(names(&replica, "rep").await.len(), 7);
    p.close().await;
}

/// The dashboard's and `sync status`' reader writes nothing: on a replica no pipeline has
/// run into, every pipeline stands at the start and no table appears.
#[tokio::test]
async fn the_status_reader_creates_no_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("replica.db").display()
    );
    let reader = lienthong_sync::StatusReader::open(&url, vec![("p".into(), "poll")])
        .await
        .unwrap();
    let statuses = reader.statuses().await.unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].state, lienthong_sync::State::default());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tables, 0, "a reader creates no table");
    pool.close().await;
}

/// A record quarantined by one process and made valid later — after a restart, or in the
/// same process — closes its quarantine row (the pipeline knows which keys are open from
/// the replica when it starts, and from its own batches after).
#[tokio::test]
async fn a_quarantined_record_made_valid_later_closes_its_row_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let drops = dir.path().join("drops");
    std::fs::create_dir(&drops).unwrap();
    let replica = sqlite(dir.path(), "center.db");
    // A drop of (personal id, birth date) rows.
    let drop_rows = |name: &str, rows: &[(&str, &str)]| {
        let mut csv = format!("{HEADER}\n");
        for (id, born) in rows {
            csv += &format!("{id},Lê Thị Bình,{born},2,01,00004,2026-11-01T08:00:00+07:00\n");
        }
        drop_file(&drops.join(name), csv);
    };
    let cfg = config(
        "reopen",
        SourceConfig::Files { dir: drops.clone() },
        &replica,
        "rep",
    );
    drop_rows(
        "1.csv",
        &[
            ("001090000005", "1990-13-45"),
            ("001090000006", "1990-03-25"),
        ],
    );
    let mut p = open(&cfg).await;
    p.catch_up().await.unwrap();
    assert_eq!(p.status().await.unwrap().quarantined_open, 1);
    p.close().await;

    // Another process: the key quarantined before is made valid, another one goes bad.
    drop_rows(
        "2.csv",
        &[
            ("001090000005", "1990-03-25"),
            ("001090000007", "1990-02-30"),
        ],
    );
    let mut p = open(&cfg).await;
    p.catch_up().await.unwrap();
    assert!(names(&replica, "rep").await.contains_key("001090000005"));
    let open_rows = quarantine(&p).await;
    assert_eq!(open_rows.len(), 1, "{open_rows:?}");
    assert!(!names(&replica, "rep").await.contains_key("001090000007"));

    // The same process: the record quarantined in it is made valid.
    drop_rows("3.csv", &[("001090000007", "1990-02-28")]);
    p.catch_up().await.unwrap();
    assert_eq!(names(&replica, "rep").await.len(), 3);
    assert_eq!(p.status().await.unwrap().quarantined_open, 0);
}
