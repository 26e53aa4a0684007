//! The center scores every synced dataset in its replica against the register's replica
//! (the `citizen` table) and keeps the latest scorecards for the dashboard.

use std::collections::BTreeMap;
use std::time::Duration;

use lienthong_dictionary::catalog::{self, Dataset};
use lienthong_sync::StatusReader;
use lienthong_web::QualityBoard;

/// The center's pipelines (read-only) and the dataset each one syncs.
pub(super) type Lags = (StatusReader, Vec<(String, &'static str)>);

/// The live criterion's sync measures: the largest lag of the dataset's pipelines into the
/// center and their open quarantine rows.
async fn add_sync_lag(report: &mut lienthong_quality::Report, (reader, dataset_of): &Lags) {
    let Ok(statuses) = reader.statuses().await else {
        return;
    };
    let mine: Vec<_> = statuses
        .iter()
        .filter(|s| {
            dataset_of
                .iter()
                .any(|(p, d)| *p == s.name && *d == report.dataset)
        })
        .collect();
    if mine.is_empty() {
        return;
    }
    let Some(live) = report.criteria.get_mut("live") else {
        return;
    };
    let lag = mine.iter().filter_map(|s| s.lag_ms()).max();
    if let Some(lag) = lag {
        live.metrics.insert("sync_lag_ms".into(), lag as f64);
    }
    let quarantined: u64 = mine.iter().map(|s| s.quarantined_open).sum();
    live.metrics
        .insert("quarantined_open".into(), quarantined as f64);
    let names: Vec<&str> = mine.iter().map(|s| s.name.as_str()).collect();
    live.note.push_str(&format!(
        "{}sync into the center: lag {} ms, {quarantined} changes in quarantine ({}).",
        if live.note.is_empty() { "" } else { " " },
        lag.map_or("unknown".to_owned(), |l| l.to_string()),
        names.join(", ")
    ));
}

/// Scores each dataset once the first sync had time to run, then every `every`.
pub(super) async fn keep_scoring(
    replica_url: String,
    datasets: Vec<&'static Dataset>,
    board: QualityBoard,
    lags: Lags,
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
                Ok(Ok(mut report)) => {
                    add_sync_lag(&mut report, &lags).await;
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
