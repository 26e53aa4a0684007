//! The center scores every synced dataset in its replica against the register's replica
//! (the `citizen` table) and keeps the latest scorecards for the dashboard.

use std::collections::BTreeMap;
use std::time::Duration;

use lienthong_dictionary::catalog::{self, Dataset};
use lienthong_web::QualityBoard;

/// Scores each dataset once the first sync had time to run, then every `every`.
pub(super) async fn keep_scoring(
    replica_url: String,
    datasets: Vec<&'static Dataset>,
    board: QualityBoard,
    every: Duration,
) {
    tokio::time::sleep(Duration::from_secs(10)).await;
    loop {
        let register = crate::quality_cmd::replica_rows(
            &replica_url,
            catalog::CITIZEN.name,
            &catalog::CITIZEN,
        )
        .await
        .ok()
        .filter(|r| !r.is_empty());
        for ds in &datasets {
            let rows = match crate::quality_cmd::replica_rows(&replica_url, ds.name, ds).await {
                Ok(rows) if !rows.is_empty() => rows,
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!(dataset = ds.name, error = %format!("{e:#}"), "quality: replica table not readable yet");
                    continue;
                }
            };
            let register = register
                .clone()
                .filter(|_| ds.name != catalog::CITIZEN.name);
            let ds = *ds;
            let sources = BTreeMap::from([(
                "replica".to_owned(),
                format!("center replica, table {}", ds.name),
            )]);
            let scored = tokio::task::spawn_blocking(move || {
                crate::quality_cmd::score_rows(
                    ds,
                    &rows,
                    register.as_deref(),
                    &crate::validate::today(),
                    sources,
                )
            })
            .await;
            match scored {
                Ok(Ok(report)) => {
                    if let Ok(mut b) = board.write() {
                        b.insert(ds.name.to_owned(), report);
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(dataset = ds.name, error = %format!("{e:#}"), "quality: scorecard failed")
                }
                Err(e) => {
                    tracing::warn!(dataset = ds.name, error = %e, "quality: scorecard task failed")
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}
