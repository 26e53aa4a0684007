//! One sample of the center's history, then the alert rules on what it measured.

use serde_json::Value;

use crate::alerting::{self, Measured, PipelineNow};
use crate::history::{self, History};
use crate::{health, now_ms, Sources};

/// One sample: the log entries written since the last sample (counted per service and
/// minute, with each log's new position), per pipeline the rows applied since the last
/// sample, its lag and open quarantine, each node's health, each dataset's score; then the
/// alerts opened, kept or resolved by what was measured.
pub(crate) async fn sample_history(s: &Sources, h: &History) -> Result<(), String> {
    let now = now_ms() / 1000;
    let mut points = Vec::new();
    let mut positions = Vec::new();
    for (member, log) in &s.logs {
        let source = format!("log:{member}");
        let after = h.position(&source).await?.map(|i| i as u64);
        let entries = log.after(after, 20_000).await?;
        if let Some(last) = entries.last() {
            positions.push((source, last.index as i64));
        }
        let records: Vec<Value> = entries.into_iter().map(|e| e.record).collect();
        points.extend(history::tally(&records));
    }
    let point = |series: String, value: f64| history::Point {
        series,
        t: now,
        value,
    };
    let mut measured = Measured::default();
    for reader in &s.sync {
        for st in reader.statuses().await.unwrap_or_default() {
            let total = (st.state.rows_applied + st.state.rows_deleted) as i64;
            let source = format!("pipeline:{}", st.name);
            // The history starts at the first sample; a replica reset counts from zero.
            let applied = match h.position(&source).await? {
                Some(before) if total >= before => total - before,
                _ => 0,
            };
            points.push(point(format!("applied:{}", st.name), applied as f64));
            if let Some(lag) = st.lag_ms() {
                points.push(point(format!("lag_s:{}", st.name), lag as f64 / 1000.0));
            }
            let quarantined = format!("quarantined:{}", st.name);
            points.push(point(quarantined.clone(), st.quarantined_open as f64));
            positions.push((source, total));
            let before = h
                .points(&quarantined, 60, now - 660, now - 540)
                .await?
                .last()
                .map(|p| p.1 as u64);
            measured.pipelines.push(PipelineNow {
                ran: !st.state.position.is_empty() || st.state.applied_at_ms > 0,
                running: st.lease_until_ms > now * 1000,
                lag_ms: st.lag_ms(),
                quarantined_open: st.quarantined_open,
                quarantined_before: before,
                name: st.name,
            });
        }
    }
    for (member, state) in health(s).await {
        points.push(point(
            format!("down:{member}"),
            if state == "up" { 0.0 } else { 1.0 },
        ));
        if state != "up" {
            // Down since the last sample, as far as the center can tell.
            points.push(point(
                format!("downtime_s:{member}"),
                s.sample_every.as_secs_f64(),
            ));
        }
        measured.health.push((member, state == "up"));
    }
    measured.health.sort();
    let scores = crate::quality::scores(s);
    for (dataset, score) in scores {
        points.push(point(format!("quality:{dataset}"), score * 100.0));
    }
    // Each database's road as measured now, for the monthly report's "done by the month's end".
    let road = crate::catalogue::catalogue(s).await;
    for d in road["databases"].as_array().into_iter().flatten() {
        for step in d["road"].as_array().into_iter().flatten() {
            let value = match step["state"].as_str() {
                Some("done") => 2.0,
                Some("pending") => 1.0,
                _ => 0.0,
            };
            points.push(point(
                format!(
                    "road:{}/{}",
                    d["id"].as_str().unwrap_or(""),
                    step["step"].as_str().unwrap_or("")
                ),
                value,
            ));
        }
    }
    h.add(&points, &positions).await?;
    let sum = |p: Vec<(i64, f64)>| p.iter().map(|x| x.1).sum::<f64>();
    measured.refusals_5m = sum(h.points("refusals:", 60, now - 300, now + 60).await?);
    measured.refusals_hour_before = sum(h.points("refusals:", 60, now - 3_900, now - 300).await?);
    let held = alerting::conditions(&measured, s.bounds.lag_max_s);
    let open = h.open_alerts().await?;
    // A new condition fires once it held on two samples in a row (a node still starting,
    // a pipeline between two runs, do not page anyone); an open alert stays while it holds.
    let confirmed: Vec<_> = {
        let mut before = s
            .pending
            .lock()
            .map_err(|_| "alert state poisoned".to_owned())?;
        let confirmed = held
            .iter()
            .filter(|c| {
                before.contains(&(c.rule, c.subject.clone()))
                    || open
                        .iter()
                        .any(|a| a.rule == c.rule && a.subject == c.subject)
            })
            .cloned()
            .collect();
        *before = held.iter().map(|c| (c.rule, c.subject.clone())).collect();
        confirmed
    };
    let changed = alerting::step(&open, &confirmed, now_ms());
    for a in changed
        .iter()
        .filter(|a| a.started_ms == a.last_ms || a.state == "resolved")
    {
        tracing::warn!(rule = %a.rule, subject = %a.subject, state = %a.state, detail = %a.detail, "alert");
    }
    h.save_alerts(&changed).await
}
