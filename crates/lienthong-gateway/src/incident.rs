//! Personal-data breach incidents, pure (docs/incidents.md): the 72-hour clock from the
//! discovery (Law 91/2025 Art. 23(1): notify the specialised agency within 72 hours of
//! discovering a breach), and the facts a notice needs, drawn from message-log records —
//! what was exchanged, when, which data types, how many persons, which consumers.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Hours from discovery to the notice's deadline.
pub const NOTICE_HOURS: u64 = 72;

/// An incident as recorded: what the operator said when opening it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `INC-YYYYMMDD-N`.
    pub id: String,
    pub title: String,
    pub description: String,
    /// Unix seconds.
    pub discovered_at: u64,
    /// The window of exchanges the breach may concern (Unix seconds, inclusive).
    pub from: u64,
    pub to: u64,
    /// Services concerned (ids); empty: all.
    pub services: Vec<String>,
    /// Consumers concerned (member ids); empty: all.
    pub consumers: Vec<String>,
    /// `open`, `notified`, `closed`.
    pub status: String,
    /// When the notice was sent (Unix seconds), once it was.
    pub notified_at: Option<u64>,
}

impl Incident {
    /// The notice's deadline: 72 hours after discovery.
    pub fn deadline(&self) -> u64 {
        self.discovered_at + NOTICE_HOURS * 3600
    }

    /// Seconds left before the deadline at `now` (negative: overdue).
    pub fn remaining_s(&self, now: u64) -> i64 {
        self.deadline() as i64 - now as i64
    }

    /// Whether a record (a message-log entry) falls in the incident: provider side, in the
    /// window, of a service and a consumer concerned.
    pub fn concerns(&self, record: &Value) -> bool {
        let ts = record["timestamp"].as_u64().unwrap_or(0);
        let of = |list: &[String], v: &Value| {
            list.is_empty() || v.as_str().is_some_and(|s| list.iter().any(|x| x == s))
        };
        record["side"] == "provider"
            && ts >= self.from
            && ts <= self.to
            && of(&self.services, &record["service"])
            && of(&self.consumers, &record["client"])
    }
}

/// What the message logs say about an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// Exchanges concerned (answered with data, refused).
    pub exchanges: u64,
    pub answered: u64,
    pub refused: u64,
    /// Distinct persons named (as the log stores them).
    pub subjects: u64,
    /// Data types: the fields given out.
    pub fields: BTreeSet<String>,
    /// Service → exchanges.
    pub services: BTreeMap<String, u64>,
    /// Consumer → (exchanges, distinct persons).
    pub consumers: BTreeMap<String, (u64, u64)>,
    /// Officers (`X-Road-UserId`) → exchanges.
    pub officers: BTreeMap<String, u64>,
    /// Purposes → exchanges.
    pub purposes: BTreeMap<String, u64>,
    pub first: Option<u64>,
    pub last: Option<u64>,
}

/// Collects the facts from records (any order).
pub fn facts<'a>(incident: &Incident, records: impl IntoIterator<Item = &'a Value>) -> Facts {
    let mut f = Facts::default();
    let mut subjects = BTreeSet::new();
    let mut per_consumer: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in records {
        if !incident.concerns(r) {
            continue;
        }
        f.exchanges += 1;
        let ok = r["code"] == "ok" && r["status"].as_u64().is_some_and(|s| s < 400);
        if ok {
            f.answered += 1;
        } else {
            f.refused += 1;
        }
        let client = r["client"].as_str().unwrap_or("").to_owned();
        let ts = r["timestamp"].as_u64().unwrap_or(0);
        f.first = Some(f.first.map_or(ts, |x| x.min(ts)));
        f.last = Some(f.last.map_or(ts, |x| x.max(ts)));
        *f.services
            .entry(r["service"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
        *f.purposes
            .entry(r["purpose"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
        if let Some(u) = r["user_id"].as_str().filter(|u| !u.is_empty()) {
            *f.officers.entry(u.to_owned()).or_default() += 1;
        }
        f.consumers.entry(client.clone()).or_default().0 += 1;
        if ok {
            for field in r["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                f.fields.insert(field.to_owned());
            }
            for s in r["data_subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                subjects.insert(s.to_owned());
                per_consumer
                    .entry(client.clone())
                    .or_default()
                    .insert(s.to_owned());
            }
        }
    }
    f.subjects = subjects.len() as u64;
    for (c, s) in per_consumer {
        if let Some(e) = f.consumers.get_mut(&c) {
            e.1 = s.len() as u64;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incident() -> Incident {
        Incident {
            id: "INC-20261202-1".into(),
            title: "t".into(),
            description: String::new(),
            discovered_at: 1_000_000,
            from: 100,
            to: 200,
            services: vec![],
            consumers: vec!["VN/GOV/BHXH/SI".into()],
            status: "open".into(),
            notified_at: None,
        }
    }

    fn record(side: &str, ts: u64, client: &str, code: &str, subjects: &[&str]) -> Value {
        json!({ "side": side, "timestamp": ts, "client": client, "service": "VN/GOV/BCA/DANCU/citizen",
            "code": code, "status": if code == "ok" { 200 } else { 400 }, "purpose": "insurance-enrolment",
            "user_id": "OFFICER-1", "fields": ["personal_id", "full_name"], "data_subjects": subjects })
    }

    #[test]
    fn the_clock_runs_72_hours_from_discovery() {
        let i = incident();
        assert_eq!(i.deadline(), 1_000_000 + 72 * 3600);
        assert_eq!(i.remaining_s(1_000_000), 72 * 3600);
        assert_eq!(i.remaining_s(i.deadline() + 60), -60);
    }

    #[test]
    fn the_facts_count_what_the_window_and_filters_concern() {
        let i = incident();
        let records = [
            record("provider", 150, "VN/GOV/BHXH/SI", "ok", &["p1:a", "p1:b"]),
            record("provider", 160, "VN/GOV/BHXH/SI", "ok", &["p1:a"]),
            record(
                "provider",
                170,
                "VN/GOV/BHXH/SI",
                "Client.PurposeNotAllowed",
                &[],
            ),
            // Outside the window, another consumer, the consumer's own record: not counted.
            record("provider", 250, "VN/GOV/BHXH/SI", "ok", &["p1:c"]),
            record("provider", 150, "VN/GOV/OTHER/X", "ok", &["p1:d"]),
            record("consumer", 150, "VN/GOV/BHXH/SI", "ok", &["p1:e"]),
        ];
        let f = facts(&i, &records);
        assert_eq!(
            (f.exchanges, f.answered, f.refused, f.subjects),
            (3, 2, 1, 2)
        );
        assert_eq!(f.consumers["VN/GOV/BHXH/SI"], (3, 2));
        assert_eq!(f.consumers.len(), 1);
        assert!(f.fields.contains("full_name"));
        assert_eq!(f.officers["OFFICER-1"], 3);
        assert_eq!((f.first, f.last), (Some(150), Some(170)));
    }
}
