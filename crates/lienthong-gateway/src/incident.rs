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

/// What counts as unusual (docs/incidents.md, "Detection").
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// The recent window a consumer's reading is judged over.
    pub window_s: u64,
    /// How far back its usual rate is taken from (before the window).
    pub baseline_s: u64,
    /// Persons in the window above this many times the usual rate…
    pub volume_factor: f64,
    /// …and above this many persons at least.
    pub volume_floor: u64,
    /// Refusals of identity, agreement or signature within this span…
    pub burst_window_s: u64,
    /// …this many or more from one consumer.
    pub burst_min: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            window_s: 3600,
            baseline_s: 7 * 86_400,
            volume_factor: 10.0,
            volume_floor: 100,
            burst_window_s: 300,
            burst_min: 20,
        }
    }
}

/// Something in the log an operator should look at, perhaps a breach.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `volume` (far more persons than usual), `refusal_burst` (refused for identity,
    /// signature or agreement, many times), `outside_agreement` (calls outside an
    /// agreement's validity).
    pub kind: &'static str,
    /// The consumer member.
    pub member: String,
    pub count: u64,
    pub detail: String,
}

/// Refusal codes that say a caller is not who, or not allowed what, it claims.
const SUSPECT_CODES: &[&str] = &[
    "Client.BadSignature",
    "Client.PeerCertificate",
    "Client.AccessDenied",
    "Client.PurposeNotAllowed",
    "Client.FieldNotAllowed",
    "Client.Revoked",
    "Client.UnknownMember",
    "Client.AgreementNotInForce",
    "Client.Replay",
    "Client.StaleMessage",
    "Client.MethodNotAllowed",
];

/// Alerts from provider-side records (any order) as of `now`.
pub fn detect<'a>(
    records: impl IntoIterator<Item = &'a Value>,
    now: u64,
    t: &Thresholds,
) -> Vec<Alert> {
    #[derive(Default)]
    struct Seen {
        recent: BTreeSet<String>,
        before: BTreeSet<String>,
        burst: u64,
        outside: u64,
    }
    let recent_from = now.saturating_sub(t.window_s);
    let baseline_from = recent_from.saturating_sub(t.baseline_s);
    let burst_from = now.saturating_sub(t.burst_window_s);
    let mut by: BTreeMap<String, Seen> = BTreeMap::new();
    let mut earliest = u64::MAX;
    for r in records {
        if r["side"] != "provider" {
            continue;
        }
        let ts = r["timestamp"].as_u64().unwrap_or(0);
        if ts < baseline_from || ts > now {
            continue;
        }
        earliest = earliest.min(ts);
        let Some(client) = r["client"].as_str() else {
            continue;
        };
        let code = r["code"].as_str().unwrap_or("");
        let seen = by.entry(client.to_owned()).or_default();
        if code == "ok" {
            let into = if ts >= recent_from {
                &mut seen.recent
            } else {
                &mut seen.before
            };
            for s in r["data_subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                into.insert(s.to_owned());
            }
        }
        if ts >= burst_from && SUSPECT_CODES.contains(&code) {
            seen.burst += 1;
        }
        if ts >= recent_from && code == "Client.AgreementNotInForce" {
            seen.outside += 1;
        }
    }
    // The usual rate needs history: at least one window's worth before the recent one, in
    // the records given (a log read only to its newest entries may not reach back).
    let covered = recent_from.saturating_sub(earliest.max(baseline_from));
    let windows = covered as f64 / t.window_s.max(1) as f64;
    let mut out = Vec::new();
    for (member, s) in by {
        let usual = s.before.len() as f64 / windows.max(1.0);
        let recent = s.recent.len() as u64;
        if windows >= 1.0 && recent >= t.volume_floor && recent as f64 > t.volume_factor * usual {
            out.push(Alert {
                kind: "volume",
                member: member.clone(),
                count: recent,
                detail: format!(
                    "{recent} persons in the last {} min, against {usual:.1} usually",
                    t.window_s / 60
                ),
            });
        }
        if s.burst >= t.burst_min {
            out.push(Alert {
                kind: "refusal_burst",
                member: member.clone(),
                count: s.burst,
                detail: format!(
                    "{} calls refused for identity, signature or agreement in {} min",
                    s.burst,
                    t.burst_window_s / 60
                ),
            });
        }
        if s.outside > 0 {
            out.push(Alert {
                kind: "outside_agreement",
                member,
                count: s.outside,
                detail: format!(
                    "{} calls outside the agreement's validity in the last {} min",
                    s.outside,
                    t.window_s / 60
                ),
            });
        }
    }
    out
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

    #[test]
    fn unusual_reading_and_refusal_bursts_raise_alerts() {
        let t = Thresholds::default();
        let now = 10_000_000;
        let mut records = Vec::new();
        // Usual: 5 persons an hour over the week before, for one consumer.
        for h in 2..(7 * 24) {
            for p in 0..5 {
                records.push(record(
                    "provider",
                    now - h * 3600,
                    "VN/GOV/BHXH/SI",
                    "ok",
                    &[&format!("p1:{h}-{p}")],
                ));
            }
        }
        assert!(detect(&records, now, &t).is_empty(), "a usual week");
        // Without history before the window, no rate is usual: no volume alert.
        let burst_only: Vec<Value> = (0..150)
            .map(|p| {
                record(
                    "provider",
                    now - 60,
                    "VN/GOV/BHXH/SI",
                    "ok",
                    &[&format!("p1:{p}")],
                )
            })
            .collect();
        assert!(detect(&burst_only, now, &t).is_empty());
        // Then 150 persons in the last hour.
        for p in 0..150 {
            records.push(record(
                "provider",
                now - 60,
                "VN/GOV/BHXH/SI",
                "ok",
                &[&format!("p1:new-{p}")],
            ));
        }
        // Another member, refused 25 times in 5 minutes, twice outside its agreement.
        for n in 0..25 {
            let code = if n < 2 {
                "Client.AgreementNotInForce"
            } else {
                "Client.BadSignature"
            };
            records.push(record("provider", now - 30, "VN/GOV/OTHER/X", code, &[]));
        }
        let alerts = detect(&records, now, &t);
        let kinds: Vec<(&str, &str)> = alerts.iter().map(|a| (a.kind, a.member.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                ("volume", "VN/GOV/BHXH/SI"),
                ("refusal_burst", "VN/GOV/OTHER/X"),
                ("outside_agreement", "VN/GOV/OTHER/X"),
            ]
        );
        assert_eq!(alerts[0].count, 150);
    }
}
