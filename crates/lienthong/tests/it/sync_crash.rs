//! Seeded kill -9 of `lienthong sync run` at random points (20 per run here; set
//! `LIENTHONG_SYNC_KILLS=200` for the long run): afterwards the replica equals the source
//! row for row, nothing is lost and nothing is applied twice. The seed is printed and
//! `LIENTHONG_SYNC_SEED` replays it.

use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::Row;

use crate::lienthong;

const GIVEN_UPPER: [&str; 5] = ["AN", "BÌNH", "CƯỜNG", "DŨNG", "HÀ"];
const GIVEN: [&str; 5] = ["An", "Bình", "Cường", "Dũng", "Hà"];

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_sync_loses_and_duplicates_nothing() {
    let (seed, kills) = crate::crash_seed_and_kills();
    eprintln!("sync crash seed {seed} (replay with LIENTHONG_SYNC_SEED={seed}), {kills} kills");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = format!("sqlite://{}?mode=rwc", d.join("agency.db").display());
    let rep = format!("sqlite://{}?mode=rwc", d.join("center.db").display());
    let pool = crate::dataset_table(&src, "dan_cu", &lienthong_dictionary::catalog::CITIZEN).await;
    let rows = 6000;
    let mut tx = pool.begin().await.unwrap();
    for i in 0..rows {
        // Every 97th row is invalid (a CMND in the personal-ID field): it must be quarantined.
        let pid = if i % 97 == 0 {
            format!("0{:08}", i)
        } else {
            format!("001090{i:06}")
        };
        sqlx::query(&format!("INSERT INTO dan_cu (personal_id, full_name, birth_date, sex, province_code, commune_code, updated_at) VALUES ('{pid}', 'NGUYỄN VĂN {}', '1990-03-25', '1', '01', '00004', '2025-08-01T{:02}:{:02}:{:02}+07:00')", GIVEN_UPPER[i % 5], i / 3600, (i / 60) % 60, i % 60))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    std::fs::write(
        d.join("sync.toml"),
        format!("replica_url = \"{rep}\"\npoll_interval_ms = 50\n[[pipelines]]\nname = \"crash\"\ndataset = \"citizen\"\nsource_url = \"{src}\"\nsource_table = \"dan_cu\"\nbatch_rows_max = 100\n"),
    )
    .unwrap();
    let mut rng = seed;
    let mut progress = vec![0i64];
    let valid = rows as i64 - (0..rows).filter(|i| i % 97 == 0).count() as i64;
    for round in 0..kills {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = 30 + (rng >> 33) % 250;
        // Killed when the test ends, however it ends.
        let mut child = crate::exchange::Kill(vec![Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args(["sync", "run", "--config", "sync.toml"])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()]);
        // Every fourth run is killed only after it made progress (unless the work is done):
        // a restarted process that could not resume fails here. The others die at a seeded
        // moment, startup included.
        let last = *progress.last().unwrap();
        if round % 4 == 3 && last < valid {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while crate::rows_applied(&rep, "crash").await <= last {
                assert!(
                    std::time::Instant::now() < deadline,
                    "seed {seed}: a restarted sync made no progress in 30 s: {progress:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(Duration::from_millis(wait));
        child.0[0].kill().unwrap(); // SIGKILL
        child.0[0].wait().unwrap();
        progress.push(crate::rows_applied(&rep, "crash").await);
    }
    eprintln!("seed {seed}: rows applied after each kill {progress:?}");
    // Finish, then compare.
    let out = lienthong(&["sync", "run", "--config", "sync.toml", "--once"], d);
    assert!(
        out.status.success(),
        "seed {seed}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let invalid = (0..rows).filter(|i| i % 97 == 0).count() as u64;
    let expected = format!(
        "crash: {} rows applied, 0 deleted, {invalid} quarantined, backlog 0 rows",
        rows as u64 - invalid
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&expected),
        "seed {seed}: {} (expected {expected})",
        String::from_utf8_lossy(&out.stdout)
    );
    let rpool = sqlx::AnyPool::connect(&rep).await.unwrap();
    let replica: Vec<(String, String)> =
        sqlx::query("SELECT personal_id, full_name FROM citizen ORDER BY personal_id")
            .fetch_all(&rpool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    assert_eq!(
        replica.len() as u64,
        rows as u64 - invalid,
        "seed {seed}: replica row count"
    );
    for (pid, name) in &replica {
        let i: usize = pid[6..].parse().unwrap();
        assert_eq!(
            name,
            &format!("Nguyễn Văn {}", GIVEN[i % 5]),
            "seed {seed}: row {pid} normalised once, exactly"
        );
    }
    let quarantined: i64 =
        sqlx::query("SELECT COUNT(*) FROM lt_quarantine WHERE pipeline = 'crash'")
            .fetch_one(&rpool)
            .await
            .unwrap()
            .get(0);
    assert_eq!(quarantined as u64, invalid, "seed {seed}: quarantine");
}
