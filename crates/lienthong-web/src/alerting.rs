//! Alerts with a state: what the center measures is checked against the rules at every
//! sample; a condition that holds on two samples in a row opens an alert (firing), an operator may
//! acknowledge it, and it resolves by itself once the condition no longer holds. Every alert
//! is kept with its times (the history), in the history store.
//!
//! The rules (`conditions`, pure): a node not answering its health probe; a pipeline that ran
//! and stopped (no process holds its lease); a running pipeline over its lag bound; a
//! pipeline's open quarantine growing over the last ten minutes; a burst of refusals (in the
//! last five minutes at least 20, and three times the rate of the hour before). The same
//! rules, for Prometheus Alertmanager, ship in `deploy/prometheus/alerts.yml`.

use serde::Serialize;
use sqlx::Row;

use crate::history::History;

/// What one sample measured, for the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// (member, answers its health probe).
    pub health: Vec<(String, bool)>,
    pub pipelines: Vec<PipelineNow>,
    /// Refusals in the last five minutes, and in the hour before them.
    pub refusals_5m: f64,
    pub refusals_hour_before: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineNow {
    pub name: String,
    /// It ran at least once into this replica.
    pub ran: bool,
    pub running: bool,
    pub lag_ms: Option<i64>,
    pub quarantined_open: u64,
    /// Its open quarantine ten minutes ago, if known.
    pub quarantined_before: Option<u64>,
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub rule: &'static str,
    pub subject: String,
    pub detail: String,
}

/// The rules applied to one sample.
pub fn conditions(m: &Measured, lag_max_s: i64) -> Vec<Condition> {
    let mut out = Vec::new();
    let mut hold = |rule, subject: &str, detail: String| {
        out.push(Condition {
            rule,
            subject: subject.to_owned(),
            detail,
        })
    };
    for (member, up) in &m.health {
        if !up {
            hold(
                "node_down",
                member,
                "the node does not answer its health probe".into(),
            );
        }
    }
    for p in &m.pipelines {
        if p.ran && !p.running {
            hold(
                "pipeline_stopped",
                &p.name,
                "no process holds the pipeline's lease".into(),
            );
        }
        if let Some(lag) = p.lag_ms.filter(|l| p.running && *l > lag_max_s * 1000) {
            hold(
                "pipeline_lagging",
                &p.name,
                format!("lag {} s over {lag_max_s} s", lag / 1000),
            );
        }
        if let Some(before) = p.quarantined_before.filter(|b| p.quarantined_open > *b) {
            hold(
                "quarantine_growing",
                &p.name,
                format!(
                    "open quarantine {before} → {} in ten minutes",
                    p.quarantined_open
                ),
            );
        }
    }
    // Per five minutes, the hour before: its twelfth.
    let usual = m.refusals_hour_before / 12.0;
    if m.refusals_5m >= 20.0 && m.refusals_5m >= 3.0 * usual {
        hold(
            "refusal_burst",
            "exchange",
            format!(
                "{} refusals in five minutes (usually {usual:.0})",
                m.refusals_5m
            ),
        );
    }
    out
}

/// One alert and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// `rule|subject|started_ms`.
    pub id: String,
    pub rule: String,
    pub subject: String,
    /// `firing`, `acknowledged` or `resolved`.
    pub state: String,
    pub detail: String,
    pub started_ms: i64,
    /// The last sample its condition held.
    pub last_ms: i64,
    pub acked_ms: Option<i64>,
    pub acked_by: Option<String>,
    pub resolved_ms: Option<i64>,
}

/// The alerts to write after a sample at `now_ms`: open ones whose condition still holds
/// (updated), new ones (firing), and open ones whose condition no longer holds (resolved).
pub fn step(open: &[Alert], now: &[Condition], now_ms: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    for c in now {
        match open
            .iter()
            .find(|a| a.rule == c.rule && a.subject == c.subject)
        {
            Some(a) => out.push(Alert {
                detail: c.detail.clone(),
                last_ms: now_ms,
                ..a.clone()
            }),
            None => out.push(Alert {
                id: format!("{}|{}|{now_ms}", c.rule, c.subject),
                rule: c.rule.into(),
                subject: c.subject.clone(),
                state: "firing".into(),
                detail: c.detail.clone(),
                started_ms: now_ms,
                last_ms: now_ms,
                acked_ms: None,
                acked_by: None,
                resolved_ms: None,
            }),
        }
    }
    for a in open {
        if !now
            .iter()
            .any(|c| c.rule == a.rule && c.subject == a.subject)
        {
            out.push(Alert {
                state: "resolved".into(),
                resolved_ms: Some(now_ms),
                ..a.clone()
            });
        }
    }
    out
}

pub(crate) const COLUMNS: &str =
    "id, rule, subject, state, detail, started_ms, last_ms, acked_ms, acked_by, resolved_ms";

impl History {
    pub(crate) async fn alerts_table(&self) -> Result<(), String> {
        sqlx::query("CREATE TABLE IF NOT EXISTS alerts (id VARCHAR(500) PRIMARY KEY, rule VARCHAR(64) NOT NULL, subject VARCHAR(400) NOT NULL, state VARCHAR(16) NOT NULL, detail TEXT NOT NULL, started_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL, acked_ms BIGINT, acked_by TEXT, resolved_ms BIGINT)")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Open alerts (firing or acknowledged), oldest first.
    pub async fn open_alerts(&self) -> Result<Vec<Alert>, String> {
        self.read_alerts(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE state <> 'resolved' ORDER BY started_ms, id"
        ))
        .await
    }

    /// The newest `limit` alerts, whatever their state, newest first.
    pub async fn alert_history(&self, limit: u32) -> Result<Vec<Alert>, String> {
        self.read_alerts(&format!(
            "SELECT {COLUMNS} FROM alerts ORDER BY started_ms DESC, id LIMIT {limit}"
        ))
        .await
    }

    pub(crate) async fn read_alerts(&self, sql: &str) -> Result<Vec<Alert>, String> {
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|r| {
                let e = |e: sqlx::Error| e.to_string();
                Ok(Alert {
                    id: r.try_get(0).map_err(e)?,
                    rule: r.try_get(1).map_err(e)?,
                    subject: r.try_get(2).map_err(e)?,
                    state: r.try_get(3).map_err(e)?,
                    detail: r.try_get(4).map_err(e)?,
                    started_ms: r.try_get(5).map_err(e)?,
                    last_ms: r.try_get(6).map_err(e)?,
                    acked_ms: r.try_get(7).map_err(e)?,
                    acked_by: r.try_get(8).map_err(e)?,
                    resolved_ms: r.try_get(9).map_err(e)?,
                })
            })
            .collect()
    }

    /// Writes alerts (each replacing the one with its id), in one transaction.
    pub async fn save_alerts(&self, alerts: &[Alert]) -> Result<(), String> {
        let mut tx = self.pool.begin().await.map_err(|e| e.to_string())?;
        let sql = self.sql(&format!(
            "INSERT INTO alerts ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, detail = excluded.detail, last_ms = excluded.last_ms, acked_ms = excluded.acked_ms, acked_by = excluded.acked_by, resolved_ms = excluded.resolved_ms"
        ));
        for a in alerts {
            sqlx::query(&sql)
                .bind(a.id.clone())
                .bind(a.rule.clone())
                .bind(a.subject.clone())
                .bind(a.state.clone())
                .bind(a.detail.clone())
                .bind(a.started_ms)
                .bind(a.last_ms)
                .bind(a.acked_ms)
                .bind(a.acked_by.clone())
                .bind(a.resolved_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
        }
        tx.commit().await.map_err(|e| e.to_string())
    }

    /// Acknowledges a firing alert: who and when. Refused for an unknown or resolved one.
    pub async fn acknowledge(&self, id: &str, by: &str, now_ms: i64) -> Result<Alert, String> {
        let open = self.open_alerts().await?;
        let Some(a) = open.into_iter().find(|a| a.id == id) else {
            return Err(format!("no open alert {id:?}"));
        };
        if a.state == "acknowledged" {
            return Ok(a);
        }
        let acked = Alert {
            state: "acknowledged".into(),
            acked_ms: Some(now_ms),
            acked_by: Some(by.to_owned()),
            ..a
        };
        self.save_alerts(std::slice::from_ref(&acked)).await?;
        Ok(acked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(name: &str) -> PipelineNow {
        PipelineNow {
            name: name.into(),
            ran: true,
            running: true,
            lag_ms: Some(0),
            quarantined_open: 0,
            quarantined_before: Some(0),
        }
    }

    #[test]
    fn each_rule_holds_on_its_condition_only() {
        let quiet = Measured {
            health: vec![("a".into(), true)],
            pipelines: vec![pipeline("p")],
            refusals_5m: 19.0,
            refusals_hour_before: 0.0,
        };
        assert_eq!(conditions(&quiet, 300), vec![]);
        let rules = |m: &Measured| -> Vec<(&str, String)> {
            conditions(m, 300)
                .into_iter()
                .map(|c| (c.rule, c.subject))
                .collect()
        };
        let mut m = quiet.clone();
        m.health[0].1 = false;
        m.pipelines = vec![
            PipelineNow {
                running: false,
                ..pipeline("stopped")
            },
            PipelineNow {
                running: false,
                ran: false,
                ..pipeline("never-ran")
            },
            PipelineNow {
                lag_ms: Some(301_000),
                ..pipeline("slow")
            },
            PipelineNow {
                quarantined_open: 4,
                quarantined_before: Some(3),
                ..pipeline("dirty")
            },
        ];
        m.refusals_5m = 40.0;
        m.refusals_hour_before = 12.0 * 13.0;
        assert_eq!(
            rules(&m),
            [
                ("node_down", "a".to_owned()),
                ("pipeline_stopped", "stopped".into()),
                ("pipeline_lagging", "slow".into()),
                ("quarantine_growing", "dirty".into()),
                ("refusal_burst", "exchange".into()),
            ]
        );
        // Steady refusals are not a burst.
        m.refusals_hour_before = 12.0 * 14.0;
        assert!(!rules(&m).iter().any(|r| r.0 == "refusal_burst"));
    }

    #[test]
    fn alerts_fire_stay_open_and_resolve() {
        let c = |s: &str| Condition {
            rule: "node_down",
            subject: s.into(),
            detail: "d".into(),
        };
        let fired = step(&[], &[c("a")], 1_000);
        assert_eq!(fired.len(), 1);
        assert_eq!(
            (fired[0].state.as_str(), fired[0].id.as_str()),
            ("firing", "node_down|a|1000")
        );
        let mut acked = fired[0].clone();
        acked.state = "acknowledged".into();
        // Still holding: the same alert, its acknowledgement kept; a new subject fires apart.
        let next = step(std::slice::from_ref(&acked), &[c("a"), c("b")], 2_000);
        assert_eq!(next[0].state, "acknowledged");
        assert_eq!((next[0].started_ms, next[0].last_ms), (1_000, 2_000));
        assert_eq!(next[1].id, "node_down|b|2000");
        // Gone: resolved.
        let done = step(&next, &[], 3_000);
        assert!(done
            .iter()
            .all(|a| a.state == "resolved" && a.resolved_ms == Some(3_000)));
    }
}
