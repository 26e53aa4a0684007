//! The catalogue of national and sectoral databases and each one's road: built, connected to
//! the exchange, synchronised to the National Data Center, standardised. An entry is typed
//! by the center's operators (names, owner, legal basis, datasets, planned dates); where a
//! database stands on its road is never typed: [`road`] works it out from what was measured
//! (the registry, the message logs, the pipelines, the dictionary and the scorecards).
//! Pure: the caller gathers the [`Evidence`] and gives today's date.

use serde::{Deserialize, Serialize};

/// One database of the program. Wire format (registry TOML `[[catalogue]]` and snapshot JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// A short stable id: lowercase ASCII letters, digits, `-` and `_` (`population`).
    pub id: String,
    /// The database's name as the order writes it (Vietnamese).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    pub scope: Scope,
    /// The agency that owns it (ministry, sector or province), as named in the order.
    pub agency: String,
    /// The law, decree or decision that establishes it.
    pub legal_basis: String,
    /// The dictionary datasets its records map to.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// The member subsystems whose services publish it through the exchange.
    #[serde(default)]
    pub members: Vec<String>,
    /// The center's sync pipelines that bring it to the National Data Center.
    #[serde(default)]
    pub pipelines: Vec<String>,
    #[serde(default)]
    pub planned: Planned,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A national database (cơ sở dữ liệu quốc gia).
    National,
    /// A sectoral database (cơ sở dữ liệu chuyên ngành).
    Sectoral,
}

/// The planned date (`YYYY-MM-DD`) of each step, where one was set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Planned {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardised: Option<String>,
}

/// The four steps, in the order of the road.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Built,
    Connected,
    Synced,
    Standardised,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Step::Built,
        Step::Connected,
        Step::Synced,
        Step::Standardised,
    ];

    pub fn vi(self) -> &'static str {
        match self {
            Step::Built => "Xây dựng",
            Step::Connected => "Kết nối",
            Step::Synced => "Đồng bộ",
            Step::Standardised => "Chuẩn hóa",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Step::Built => "Built",
            Step::Connected => "Connected",
            Step::Synced => "Synced",
            Step::Standardised => "Standardised",
        }
    }
}

/// What was measured of one database, gathered by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Services in the registry published by the database's members for its datasets (or,
    /// when it names no dataset, any service of its members).
    pub services: Vec<String>,
    /// The newest answer (provider side, code `ok`) of any of those services, ms since the epoch.
    pub last_answer_ms: Option<i64>,
    /// Each named pipeline as the center sees it; `None` where the center does not run it.
    pub pipelines: Vec<(String, Option<PipelineState>)>,
    /// Each named dataset: whether the dictionary defines it, and its latest overall quality
    /// score (0–1) where a scorecard was computed.
    pub datasets: Vec<(String, bool, Option<f64>)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineState {
    /// A process holds the pipeline's lease now (it runs).
    pub running: bool,
    pub snapshot_done: bool,
    /// The pipeline's lag now (ms; 0 once caught up), if known.
    pub lag_ms: Option<i64>,
    /// When its last batch committed at the center (ms since the epoch; 0 never).
    pub applied_at_ms: i64,
}

/// The bounds a step is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Connected: a service answered within this window (default one day).
    pub connected_within_s: i64,
    /// Synced: every pipeline's lag is at most this (default 5 minutes).
    pub lag_max_s: i64,
    /// Standardised: every scorecard's overall score is at least this (default 0.9).
    pub quality_floor: f64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            connected_within_s: 86_400,
            lag_max_s: 300,
            quality_floor: 0.9,
        }
    }
}

/// Where one step stands.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Measured as done now.
    Done,
    /// Not done, and its planned date (if any) is today or later.
    Pending,
    /// Not done, and its planned date has passed.
    Overdue,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepStatus {
    pub step: Step,
    pub state: State,
    pub planned: Option<String>,
    /// What the state was measured from (English, for operators and the JSON).
    pub why: String,
}

/// The road of one database today (`YYYY-MM-DD`, the center's date), at `now_ms`.
pub fn road(
    db: &Database,
    ev: &Evidence,
    today: &str,
    now_ms: i64,
    bounds: &Bounds,
) -> Vec<StepStatus> {
    let built = if ev.services.is_empty() {
        (
            false,
            "no service of it is published in the registry".to_owned(),
        )
    } else {
        (true, format!("{} service(s) published", ev.services.len()))
    };
    let connected = match ev.last_answer_ms {
        _ if ev.services.is_empty() => (false, "nothing to call".to_owned()),
        Some(t) if now_ms - t <= bounds.connected_within_s * 1000 => (
            true,
            format!("answered {} s ago", ((now_ms - t) / 1000).max(0)),
        ),
        Some(t) => (
            false,
            format!("last answer {} h ago", (now_ms - t) / 3_600_000),
        ),
        None => (false, "no answer through the exchange yet".to_owned()),
    };
    let synced = synced(ev, bounds);
    let standardised = standardised(ev, bounds);
    let planned = [
        &db.planned.built,
        &db.planned.connected,
        &db.planned.synced,
        &db.planned.standardised,
    ];
    Step::ALL
        .into_iter()
        .zip([built, connected, synced, standardised])
        .zip(planned)
        .map(|((step, (done, why)), planned)| StepStatus {
            step,
            state: match planned {
                _ if done => State::Done,
                // ISO dates compare as strings.
                Some(p) if p.as_str() < today => State::Overdue,
                _ => State::Pending,
            },
            planned: planned.clone(),
            why,
        })
        .collect()
}

fn synced(ev: &Evidence, bounds: &Bounds) -> (bool, String) {
    if ev.pipelines.is_empty() {
        return (false, "no pipeline to the center".into());
    }
    for (name, state) in &ev.pipelines {
        let Some(p) = state else {
            return (false, format!("pipeline {name} does not run at the center"));
        };
        if !p.running {
            return (false, format!("pipeline {name} is stopped"));
        }
        if !p.snapshot_done || p.applied_at_ms <= 0 {
            return (false, format!("pipeline {name}: initial snapshot not done"));
        }
        match p.lag_ms {
            Some(lag) if lag <= bounds.lag_max_s * 1000 => {}
            Some(lag) => {
                return (
                    false,
                    format!(
                        "pipeline {name}: lag {} s over {} s",
                        lag / 1000,
                        bounds.lag_max_s
                    ),
                )
            }
            None => return (false, format!("pipeline {name}: lag unknown")),
        }
    }
    (
        true,
        format!("{} pipeline(s) within the lag bound", ev.pipelines.len()),
    )
}

fn standardised(ev: &Evidence, bounds: &Bounds) -> (bool, String) {
    if ev.datasets.is_empty() {
        return (false, "maps to no dictionary dataset".into());
    }
    let mut scored = 0;
    for (name, known, score) in &ev.datasets {
        if !known {
            return (false, format!("dataset {name} is not in the dictionary"));
        }
        if let Some(s) = score {
            scored += 1;
            if *s < bounds.quality_floor {
                return (
                    false,
                    format!(
                        "dataset {name}: quality {:.1} % under {:.1} %",
                        s * 100.0,
                        bounds.quality_floor * 100.0
                    ),
                );
            }
        }
    }
    (
        true,
        format!(
            "{} dataset(s) in the dictionary, {scored} scored at or above the floor",
            ev.datasets.len()
        ),
    )
}

/// Checks one entry's form: the id, the dates, no empty names. Every error names the entry.
pub fn check(db: &Database) -> Result<(), String> {
    let id_ok = !db.id.is_empty()
        && db.id.len() <= 64
        && db
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!(
            "catalogue {:?}: the id is 1 to 64 lowercase ASCII letters, digits, - or _",
            db.id
        ));
    }
    for (what, text) in [
        ("name", &db.name),
        ("agency", &db.agency),
        ("legal_basis", &db.legal_basis),
    ] {
        if text.trim().is_empty() {
            return Err(format!("catalogue {}: {what} is empty", db.id));
        }
    }
    let p = &db.planned;
    for (step, date) in Step::ALL
        .iter()
        .zip([&p.built, &p.connected, &p.synced, &p.standardised])
    {
        if let Some(d) = date {
            if !iso_date(d) {
                return Err(format!(
                    "catalogue {}: planned.{} must be a date YYYY-MM-DD, not {d:?}",
                    db.id,
                    step.en().to_lowercase()
                ));
            }
        }
    }
    Ok(())
}

/// `YYYY-MM-DD` with a month 01–12 and a day that month has.
pub fn iso_date(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| d.get(r).and_then(|s| s.parse::<u32>().ok());
    let (Some(y), Some(m), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    if !d
        .bytes()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return false;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Database {
        Database {
            id: "population".into(),
            name: "Cơ sở dữ liệu quốc gia về dân cư".into(),
            name_en: None,
            scope: Scope::National,
            agency: "Bộ Công an".into(),
            legal_basis: "Luật Căn cước 2023".into(),
            datasets: vec!["citizen".into()],
            members: vec!["VN/GOV/BCA/DANCU".into()],
            pipelines: vec!["VN/GOV/BCA/DANCU/citizen".into()],
            planned: Planned {
                built: Some("2021-07-01".into()),
                connected: Some("2022-01-01".into()),
                synced: Some("2026-12-31".into()),
                standardised: Some("2026-06-30".into()),
            },
        }
    }

    const NOW: i64 = 1_790_000_000_000;

    fn states(ev: &Evidence) -> Vec<State> {
        road(&db(), ev, "2026-12-01", NOW, &Bounds::default())
            .iter()
            .map(|s| s.state)
            .collect()
    }

    #[test]
    fn nothing_measured_is_overdue_where_the_date_passed_and_pending_before() {
        assert_eq!(
            states(&Evidence::default()),
            [
                State::Overdue,
                State::Overdue,
                State::Pending,
                State::Overdue
            ]
        );
    }

    #[test]
    fn every_step_done_when_measured() {
        let ev = Evidence {
            services: vec!["VN/GOV/BCA/DANCU/citizen".into()],
            last_answer_ms: Some(NOW - 60_000),
            pipelines: vec![(
                "p".into(),
                Some(PipelineState {
                    running: true,
                    snapshot_done: true,
                    lag_ms: Some(0),
                    applied_at_ms: NOW - 1_000,
                }),
            )],
            datasets: vec![("citizen".into(), true, Some(0.97))],
        };
        assert_eq!(states(&ev), [State::Done; 4]);
    }

    #[test]
    fn each_bound_undoes_its_step() {
        let good = PipelineState {
            running: true,
            snapshot_done: true,
            lag_ms: Some(0),
            applied_at_ms: NOW,
        };
        let mut ev = Evidence {
            services: vec!["s".into()],
            // Older than a day.
            last_answer_ms: Some(NOW - 86_401_000),
            pipelines: vec![(
                "p".into(),
                Some(PipelineState {
                    lag_ms: Some(301_000),
                    ..good
                }),
            )],
            datasets: vec![("citizen".into(), true, Some(0.89))],
        };
        assert_eq!(
            states(&ev),
            [State::Done, State::Overdue, State::Pending, State::Overdue]
        );
        let r = road(&db(), &ev, "2026-12-01", NOW, &Bounds::default());
        assert!(r[2].why.contains("lag 301 s over 300 s"), "{}", r[2].why);
        assert!(r[3].why.contains("under 90.0 %"), "{}", r[3].why);
        // A pipeline the center does not run, a dataset the dictionary lacks.
        ev.pipelines = vec![("p".into(), Some(good)), ("q".into(), None)];
        ev.datasets = vec![("citizen".into(), true, None), ("x".into(), false, None)];
        let r = road(&db(), &ev, "2026-12-01", NOW, &Bounds::default());
        assert_eq!(r[2].state, State::Pending);
        assert!(r[2].why.contains("q does not run"), "{}", r[2].why);
        assert_eq!(r[3].state, State::Overdue);
        assert!(r[3].why.contains("x is not in the dictionary"));
        // A stopped pipeline is not synced, however caught up it was.
        ev.pipelines = vec![(
            "p".into(),
            Some(PipelineState {
                running: false,
                ..good
            }),
        )];
        let r = road(&db(), &ev, "2026-12-01", NOW, &Bounds::default());
        assert!(r[2].why.contains("p is stopped"), "{}", r[2].why);
        // No scorecard yet: standardised on the mapping alone.
        ev.datasets = vec![("citizen".into(), true, None)];
        let r = road(&db(), &ev, "2026-12-01", NOW, &Bounds::default());
        assert_eq!(r[3].state, State::Done);
    }

    #[test]
    fn entries_are_added_by_id_and_checked_with_the_registry() {
        use crate::{Additions, Registry};
        let mut r = Registry::default();
        // Catalogue entries by id; a duplicate or a malformed entry is invalid content.
        let entry: Database = toml::from_str(
            r#"id = "population"
name = "Cơ sở dữ liệu quốc gia về dân cư"
scope = "national"
agency = "Bộ Công an"
legal_basis = "Luật Căn cước 2023"
planned = { synced = "2026-12-31" }"#,
        )
        .unwrap();
        let mut renamed = entry.clone();
        renamed.agency = "Bộ Công an (C06)".into();
        for d in [entry, renamed.clone()] {
            r.add(Additions {
                catalogue: vec![d],
                ..Default::default()
            });
        }
        assert_eq!(r.catalogue, vec![renamed.clone()]);
        assert!(r.validate().is_ok());
        r.catalogue.push(renamed.clone());
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("population: listed twice"));
        r.catalogue.pop();
        r.catalogue[0].planned.built = Some("2021-7-1".into());
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("planned.built"));
    }

    #[test]
    fn entries_are_checked() {
        assert_eq!(check(&db()), Ok(()));
        let mut bad = db();
        bad.id = "Dân cư".into();
        assert!(check(&bad).unwrap_err().contains("the id is"));
        let mut bad = db();
        bad.planned.synced = Some("2026-02-30".into());
        assert!(check(&bad).unwrap_err().contains("planned.synced"));
        let mut bad = db();
        bad.legal_basis = " ".into();
        assert!(check(&bad).unwrap_err().contains("legal_basis is empty"));
        for (d, ok) in [
            ("2024-02-29", true),
            ("2023-02-29", false),
            ("2026-13-01", false),
            ("2026-1-01", false),
            ("2026-01-+1", false),
        ] {
            assert_eq!(iso_date(d), ok, "{d}");
        }
    }
}
