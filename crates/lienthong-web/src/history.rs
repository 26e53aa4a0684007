//! The center's history: time series the dashboard samples from what it reads (exchanges
//! and refusals from the nodes' message logs, lag, throughput and quarantine per pipeline,
//! node health, quality scores), kept in a small store of its own — a SQLite file by
//! default, PostgreSQL by URL at scale. Bounded: every point is kept per minute for two
//! days, per hour for 92 days and per day for five years, and older buckets are dropped.
//!
//! A series is named `kind:label` (`exchanges:VN/GOV/BCA/DANCU/citizen`, `lag_s:pipeline`);
//! how a bucket combines the points that fall in it is the series kind's [`Agg`].
//! Counts read from a log are written with the log's new read position in one transaction,
//! so a restart neither loses nor counts twice an entry.

use sqlx::{AnyPool, Row};

/// How points falling in one bucket combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Counts: added.
    Sum,
    /// Gauges where the worst matters (lag, a node down): the largest.
    Max,
    /// Gauges where the newest matters (quarantine size, a score): the last written.
    Last,
}

/// The kinds of series, their unit and how they combine.
pub const KINDS: &[(&str, Agg)] = &[
    ("exchanges", Agg::Sum),
    ("served", Agg::Sum),
    ("consumed", Agg::Sum),
    ("refusals", Agg::Sum),
    ("applied", Agg::Sum),
    ("downtime_s", Agg::Sum),
    ("lag_s", Agg::Max),
    ("down", Agg::Max),
    ("quarantined", Agg::Last),
    ("quality", Agg::Last),
    // A catalogue entry's step: 2 done, 1 pending, 0 overdue (`road:<id>/<step>`).
    ("road", Agg::Last),
];

/// The resolutions kept: (bucket width s, how long its buckets are kept s).
pub const STEPS: [(i64, i64); 3] = [
    (60, 2 * 86_400),
    (3_600, 92 * 86_400),
    (86_400, 5 * 366 * 86_400),
];

/// A range a chart shows: its bucket width and length (s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Month,
}

impl Range {
    pub fn parse(s: Option<&str>) -> Option<Range> {
        match s.unwrap_or("hour") {
            "hour" => Some(Range::Hour),
            "day" => Some(Range::Day),
            "month" => Some(Range::Month),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Range::Hour => "hour",
            Range::Day => "day",
            Range::Month => "month",
        }
    }

    /// (bucket width s, number of buckets).
    pub fn buckets(self) -> (i64, i64) {
        match self {
            Range::Hour => (60, 60),
            Range::Day => (3_600, 24),
            Range::Month => (86_400, 31),
        }
    }
}

/// One point to add: series, time (s since the epoch), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub series: String,
    pub t: i64,
    pub value: f64,
}

/// The store.
#[derive(Clone)]
pub struct History {
    pub(crate) pool: AnyPool,
    postgres: bool,
}

fn agg_of(series: &str) -> Result<Agg, String> {
    let kind = series.split(':').next().unwrap_or("");
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, a)| *a)
        .ok_or_else(|| format!("history: unknown series kind {kind:?}"))
}

impl History {
    /// Opens (creating) the store: `sqlite://FILE?mode=rwc` or `postgres://…`.
    pub async fn open(url: &str) -> Result<History, String> {
        let postgres = match lienthong_store::Dialect::of(url) {
            Ok(lienthong_store::Dialect::Postgres) => true,
            Ok(lienthong_store::Dialect::Sqlite) => {
                if let Some(file) = lienthong_store::private::sqlite_file(url) {
                    lienthong_store::private::private_file(&file)
                        .map_err(|e| format!("history {}: {e}", file.display()))?;
                }
                false
            }
            _ => {
                return Err(format!(
                    "history: {url:?} is neither a sqlite:// nor a postgres:// URL"
                ))
            }
        };
        let pool = lienthong_store::connect(url, 2)
            .await
            .map_err(|e| format!("history {url}: {e}"))?;
        for ddl in [
            "CREATE TABLE IF NOT EXISTS history (series VARCHAR(400) NOT NULL, step BIGINT NOT NULL, t BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (series, step, t))",
            "CREATE TABLE IF NOT EXISTS history_position (source VARCHAR(400) PRIMARY KEY, position BIGINT NOT NULL)",
        ] {
            sqlx::query(ddl)
                .execute(&pool)
                .await
                .map_err(|e| format!("history {url}: {e}"))?;
        }
        let h = History { pool, postgres };
        h.alerts_table()
            .await
            .map_err(|e| format!("history {url}: {e}"))?;
        Ok(h)
    }

    pub(crate) fn sql(&self, s: &str) -> String {
        if !self.postgres {
            return s.to_owned();
        }
        lienthong_store::numbered_params(s)
    }

    /// Adds points at every resolution and sets read positions, in one transaction.
    pub async fn add(&self, points: &[Point], positions: &[(String, i64)]) -> Result<(), String> {
        let mut tx = self.pool.begin().await.map_err(|e| e.to_string())?;
        for p in points {
            let set = match agg_of(&p.series)? {
                Agg::Sum => "value = history.value + excluded.value",
                Agg::Max => "value = CASE WHEN excluded.value > history.value THEN excluded.value ELSE history.value END",
                Agg::Last => "value = excluded.value",
            };
            if !p.value.is_finite() {
                continue;
            }
            let sql = self.sql(&format!(
                "INSERT INTO history (series, step, t, value) VALUES (?, ?, ?, ?) ON CONFLICT (series, step, t) DO UPDATE SET {set}"
            ));
            for (step, _) in STEPS {
                sqlx::query(&sql)
                    .bind(p.series.clone())
                    .bind(step)
                    .bind(p.t.div_euclid(step) * step)
                    .bind(p.value)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let sql = self.sql("INSERT INTO history_position (source, position) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET position = excluded.position");
        for (source, position) in positions {
            sqlx::query(&sql)
                .bind(source.clone())
                .bind(*position)
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
        }
        tx.commit().await.map_err(|e| e.to_string())
    }

    /// A source's read position, if one was recorded.
    pub async fn position(&self, source: &str) -> Result<Option<i64>, String> {
        let row = sqlx::query(&self.sql("SELECT position FROM history_position WHERE source = ?"))
            .bind(source.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        row.map(|r| r.try_get::<i64, _>(0).map_err(|e| e.to_string()))
            .transpose()
    }

    /// Drops the buckets older than each resolution keeps.
    pub async fn prune(&self, now_s: i64) -> Result<u64, String> {
        let mut dropped = 0;
        for (step, keep) in STEPS {
            dropped += sqlx::query(&self.sql("DELETE FROM history WHERE step = ? AND t < ?"))
                .bind(step)
                .bind(now_s - keep)
                .execute(&self.pool)
                .await
                .map_err(|e| e.to_string())?
                .rows_affected();
        }
        Ok(dropped)
    }

    /// The buckets of one series (or, with `series` ending in `:`, of every series of that
    /// kind combined by its [`Agg`]) at `step` from `from_s` (inclusive) to `to_s`
    /// (exclusive), oldest first. Buckets with no point are absent.
    pub async fn points(
        &self,
        series: &str,
        step: i64,
        from_s: i64,
        to_s: i64,
    ) -> Result<Vec<(i64, f64)>, String> {
        let rows = if let Some(kind) = series.strip_suffix(':') {
            let f = match agg_of(series)? {
                Agg::Sum => "SUM",
                Agg::Max => "MAX",
                // The last of a combined gauge means nothing per series: their sum.
                Agg::Last => "SUM",
            };
            sqlx::query(&self.sql(&format!(
                "SELECT t, {f}(value) FROM history WHERE step = ? AND series LIKE ? AND t >= ? AND t < ? GROUP BY t ORDER BY t"
            )))
            .bind(step)
            .bind(format!("{}:%", kind.replace('%', "")))
            .bind(from_s)
            .bind(to_s)
            .fetch_all(&self.pool)
            .await
        } else {
            sqlx::query(&self.sql(
                "SELECT t, value FROM history WHERE step = ? AND series = ? AND t >= ? AND t < ? ORDER BY t",
            ))
            .bind(step)
            .bind(series.to_owned())
            .bind(from_s)
            .bind(to_s)
            .fetch_all(&self.pool)
            .await
        }
        .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0).map_err(|e| e.to_string())?,
                    r.try_get::<f64, _>(1).map_err(|e| e.to_string())?,
                ))
            })
            .collect()
    }

    /// The alerts that were open at some time in `[from_ms, to_ms)`, oldest first.
    pub async fn alerts_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<crate::alerting::Alert>, String> {
        // Bounds are integers: written into the statement, nothing of a caller's text.
        self.read_alerts(&format!(
            "SELECT {} FROM alerts WHERE started_ms < {to_ms} AND (resolved_ms IS NULL OR resolved_ms >= {from_ms}) ORDER BY started_ms, id",
            crate::alerting::COLUMNS
        ))
        .await
    }

    /// The series of one kind that hold any point, sorted.
    pub async fn names(&self, kind: &str) -> Result<Vec<String>, String> {
        let rows = sqlx::query(&self.sql(
            "SELECT DISTINCT series FROM history WHERE step = 86400 AND series LIKE ? ORDER BY series",
        ))
        .bind(format!("{}:%", kind.replace('%', "")))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(|e| e.to_string()))
            .collect()
    }

    /// The start of the newest minute in which `series` had a positive value, at or after
    /// `since_s` (minutes are kept two days; older: the hour).
    pub async fn last_positive(&self, series: &str, since_s: i64) -> Result<Option<i64>, String> {
        let row = sqlx::query(&self.sql(
            "SELECT MAX(t) FROM history WHERE series = ? AND step IN (60, 3600) AND value > 0 AND t >= ?",
        ))
        .bind(series.to_owned())
        .bind(since_s - 3_600)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        row.try_get::<Option<i64>, _>(0).map_err(|e| e.to_string())
    }
}

/// What a page of log entries adds: per provider-side record, one exchange of its service
/// in its minute, one served if its code is `ok`, else one refusal of its code, and one
/// consumed by its client. Consumer-side records are not counted (an exchange between two
/// nodes the center reads would count twice).
pub fn tally(records: &[serde_json::Value]) -> Vec<Point> {
    use std::collections::BTreeMap;
    let mut counts: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for e in records {
        if e["side"] != "provider" {
            continue;
        }
        let Some(t) = e["timestamp"].as_i64() else {
            continue;
        };
        let minute = t.div_euclid(60) * 60;
        let service = e["service"].as_str().unwrap_or("");
        let code = e["code"].as_str().unwrap_or("");
        if let Some(client) = e["client"].as_str().filter(|c| !c.is_empty()) {
            *counts
                .entry((format!("consumed:{client}"), minute))
                .or_default() += 1.0;
        }
        *counts
            .entry((format!("exchanges:{service}"), minute))
            .or_default() += 1.0;
        let other = if code == "ok" {
            format!("served:{service}")
        } else {
            format!("refusals:{code}")
        };
        *counts.entry((other, minute)).or_default() += 1.0;
    }
    counts
        .into_iter()
        .map(|((series, t), value)| Point { series, t, value })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_log_page_is_counted_per_service_minute_and_code() {
        let r = |side: &str, t: i64, svc: &str, code: &str| json!({ "side": side, "timestamp": t, "service": svc, "code": code, "client": "c" });
        let points = tally(&[
            r("provider", 120, "a", "ok"),
            r("provider", 179, "a", "ok"),
            r("provider", 180, "a", "Client.Forbidden"),
            r("consumer", 150, "a", "ok"),
            json!({ "side": "provider" }),
        ]);
        let p = |s: &str, t: i64, v: f64| Point {
            series: s.into(),
            t,
            value: v,
        };
        assert_eq!(
            points,
            vec![
                p("consumed:c", 120, 2.0),
                p("consumed:c", 180, 1.0),
                p("exchanges:a", 120, 2.0),
                p("exchanges:a", 180, 1.0),
                p("refusals:Client.Forbidden", 180, 1.0),
                p("served:a", 120, 2.0),
            ]
        );
    }

    #[test]
    fn ranges_and_kinds() {
        assert_eq!(Range::parse(None), Some(Range::Hour));
        assert_eq!(Range::parse(Some("month")), Some(Range::Month));
        assert_eq!(Range::parse(Some("year")), None);
        assert_eq!(agg_of("lag_s:x"), Ok(Agg::Max));
        assert!(agg_of("bogus:x").is_err());
    }
}
