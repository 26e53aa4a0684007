//! The center's history store on SQLite and on the real PostgreSQL: buckets at every
//! resolution combined by the series' kind, read positions written with the counts, bounded
//! by pruning.

use lienthong_web::history::{History, Point};

fn p(series: &str, t: i64, value: f64) -> Point {
    Point {
        series: series.into(),
        t,
        value,
    }
}

async fn contract(url: &str) {
    let h = History::open(url).await.unwrap();
    // 2026-12-01 00:00:00 UTC, a day boundary.
    let day = 1_796_083_200;
    assert_eq!(h.position("log:a").await.unwrap(), None);
    h.add(
        &[
            p("exchanges:s1", day + 5, 2.0),
            p("exchanges:s1", day + 59, 1.0),
            p("exchanges:s2", day + 61, 4.0),
            p("lag_s:p", day + 10, 3.5),
            p("lag_s:p", day + 20, 1.0),
            p("quarantined:p", day + 10, 7.0),
            p("quarantined:p", day + 20, 5.0),
        ],
        &[("log:a".into(), 41)],
    )
    .await
    .unwrap();
    assert_eq!(h.position("log:a").await.unwrap(), Some(41));
    // Sums per minute, the largest lag, the last quarantine size.
    assert_eq!(
        h.points("exchanges:s1", 60, day, day + 120).await.unwrap(),
        vec![(day, 3.0)]
    );
    assert_eq!(
        h.points("lag_s:p", 60, day, day + 60).await.unwrap(),
        vec![(day, 3.5)]
    );
    assert_eq!(
        h.points("quarantined:p", 3_600, day, day + 3_600)
            .await
            .unwrap(),
        vec![(day, 5.0)]
    );
    // Every service of a kind together, per minute and per hour and per day.
    assert_eq!(
        h.points("exchanges:", 60, day, day + 120).await.unwrap(),
        vec![(day, 3.0), (day + 60, 4.0)]
    );
    for step in [3_600, 86_400] {
        assert_eq!(
            h.points("exchanges:", step, day, day + step).await.unwrap(),
            vec![(day, 7.0)]
        );
    }
    // A second page adds to the same minute and moves the position on.
    h.add(&[p("exchanges:s1", day + 30, 1.0)], &[("log:a".into(), 42)])
        .await
        .unwrap();
    assert_eq!(
        h.points("exchanges:s1", 60, day, day + 60).await.unwrap(),
        vec![(day, 4.0)]
    );
    assert_eq!(h.position("log:a").await.unwrap(), Some(42));
    assert_eq!(
        h.names("exchanges").await.unwrap(),
        vec!["exchanges:s1".to_owned(), "exchanges:s2".to_owned()]
    );
    assert_eq!(
        h.last_positive("exchanges:s2", day).await.unwrap(),
        Some(day + 60)
    );
    assert_eq!(h.last_positive("exchanges:s3", day).await.unwrap(), None);
    // An unknown kind is refused, nothing written.
    assert!(h.add(&[p("bogus:x", day, 1.0)], &[]).await.is_err());
    // Three days on, the minutes are gone, the hours and days kept.
    let dropped = h.prune(day + 3 * 86_400).await.unwrap();
    assert_eq!(dropped, 4, "the four minute buckets");
    assert!(h
        .points("exchanges:", 60, day, day + 120)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        h.points("exchanges:", 3_600, day, day + 3_600)
            .await
            .unwrap(),
        vec![(day, 8.0)]
    );
    // Reopened, everything is still there.
    drop(h);
    let h = History::open(url).await.unwrap();
    assert_eq!(h.position("log:a").await.unwrap(), Some(42));
}

#[tokio::test]
async fn history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.db");
    contract(&format!("sqlite://{}?mode=rwc", file.display())).await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600,
        "the center's history is the owner's only"
    );
}

#[tokio::test]
async fn history_on_postgres() {
    sqlx::any::install_default_drivers();
    let Some(url) = lienthong_testkit::service("LIENTHONG_TEST_POSTGRES_URL") else {
        return;
    };
    let schema = format!("hist_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    contract(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn history_refuses_other_databases() {
    let err = History::open("mysql://root@127.0.0.1:3306/test")
        .await
        .err()
        .unwrap();
    assert!(
        err.contains("neither a sqlite:// nor a postgres://"),
        "{err}"
    );
}
