//! The quality scorecard of one dataset on the six criteria of the national data program
//! ("đúng, đủ, sạch, sống, thống nhất, dùng chung"; definitions in docs/quality.md, after
//! ../shared/domain/vietnam.md §4). The caller feeds records, findings of the dictionary,
//! duplicates found by linkage and the reconciliation with the register; [`Builder::finish`]
//! gives the [`Report`] (serialised as the JSON report) and [`html`] renders it.
//!
//! **Invariant:** pure — no file, clock or network; "now" arrives as a string.

mod html;
pub mod scoring;

use std::collections::BTreeMap;

use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::finding::Severity;
use serde::{Deserialize, Serialize};

pub use html::html;

/// The six criteria, in the order of the slogan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    Correct,
    Complete,
    Clean,
    Live,
    Unified,
    Shared,
}

impl Criterion {
    pub const ALL: [Criterion; 6] = [
        Criterion::Correct,
        Criterion::Complete,
        Criterion::Clean,
        Criterion::Live,
        Criterion::Unified,
        Criterion::Shared,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Criterion::Correct => "correct",
            Criterion::Complete => "complete",
            Criterion::Clean => "clean",
            Criterion::Live => "live",
            Criterion::Unified => "unified",
            Criterion::Shared => "shared",
        }
    }

    pub fn vi(self) -> &'static str {
        match self {
            Criterion::Correct => "Đúng",
            Criterion::Complete => "Đủ",
            Criterion::Clean => "Sạch",
            Criterion::Live => "Sống",
            Criterion::Unified => "Thống nhất",
            Criterion::Shared => "Dùng chung",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Criterion::Correct => "Correct",
            Criterion::Complete => "Complete",
            Criterion::Clean => "Clean",
            Criterion::Live => "Live",
            Criterion::Unified => "Unified",
            Criterion::Shared => "Shared",
        }
    }

    /// Weight in the overall score (documented in docs/quality.md); criteria not measured
    /// are left out and the others' weights rescaled.
    pub fn weight(self) -> f64 {
        match self {
            Criterion::Correct => 0.25,
            Criterion::Complete => 0.20,
            Criterion::Clean => 0.20,
            Criterion::Live => 0.15,
            Criterion::Unified => 0.15,
            Criterion::Shared => 0.05,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The criterion a dictionary finding counts against.
pub fn criterion_of(rule: &str, severity: Severity) -> Criterion {
    match rule {
        "mandatory.missing" => Criterion::Complete,
        "key.duplicate"
        | "address.unit_mismatch"
        | "commune_code.not_in_province"
        | "ethnicity.label_mismatch"
        | "date.order" => Criterion::Clean,
        "status.deceased_active"
        | "address.old_units"
        | "commune_code.retired"
        | "province_code.retired" => Criterion::Live,
        "ethnicity.other_ordering" => Criterion::Unified,
        "personal_id.structure" | "personal_id.is_cmnd" => Criterion::Correct,
        _ => match severity {
            Severity::Error => Criterion::Correct,
            // A value that had to be repaired or standardised was not clean as stored.
            _ => Criterion::Clean,
        },
    }
}

/// One failing record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub record: u64,
    pub key: String,
    pub criterion: Criterion,
    pub field: String,
    pub rule: String,
    pub reason: String,
}

/// Failures of one field under one criterion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldStat {
    /// Records failing on this field.
    pub failing: u64,
    /// `failing / records`.
    pub rate: f64,
}

/// One criterion's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionReport {
    /// 0–1; `null` when the criterion could not be measured from what was given.
    pub score: Option<f64>,
    /// Records failing it.
    pub failing: u64,
    pub examples: Vec<Failure>,
    pub by_field: BTreeMap<String, FieldStat>,
    /// Measurements behind the score beside the failing share (coverage, fill rates…).
    pub metrics: BTreeMap<String, f64>,
    /// What was measured, or why not.
    pub note: String,
}

/// The overall score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overall {
    pub score: f64,
    /// The weights used (measured criteria only, rescaled to sum to 1).
    pub weights: BTreeMap<String, f64>,
}

/// The scorecard of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub dataset: String,
    pub title: String,
    pub records: u64,
    pub criteria: BTreeMap<String, CriterionReport>,
    pub overall: Overall,
    pub generated_at: String,
    /// What the scorecard was computed from (input, register, reference).
    pub sources: BTreeMap<String, String>,
}

/// Accumulates a scorecard record by record.
pub struct Builder {
    dataset: &'static Dataset,
    records: u64,
    /// Bit per criterion per record (1-based record − 1).
    flags: Vec<u8>,
    /// Per criterion, per field: records failing.
    by_field: BTreeMap<(Criterion, String), u64>,
    /// Last record counted per (criterion, field): a record counts once per field.
    last: BTreeMap<(Criterion, String), u64>,
    examples: BTreeMap<Criterion, Vec<Failure>>,
    max_examples: usize,
    filled: Vec<u64>,
    metrics: BTreeMap<Criterion, BTreeMap<String, f64>>,
    notes: BTreeMap<Criterion, String>,
    /// Coverage of the register's population: (covered, population).
    coverage: Option<(u64, u64)>,
    measured: [bool; 6],
}

impl Builder {
    pub fn new(dataset: &'static Dataset, max_examples: usize) -> Builder {
        let mut measured = [true; 6];
        measured[Criterion::Shared as usize] = false;
        Builder {
            dataset,
            records: 0,
            flags: Vec::new(),
            by_field: BTreeMap::new(),
            last: BTreeMap::new(),
            examples: BTreeMap::new(),
            max_examples,
            filled: vec![0; dataset.fields.len()],
            metrics: BTreeMap::new(),
            notes: BTreeMap::new(),
            coverage: None,
            measured,
        }
    }

    /// Counts one record (its normalised values in dataset field order); returns its number.
    pub fn record(&mut self, values: &[String]) -> u64 {
        self.records += 1;
        self.flags.push(0);
        for (f, v) in self.filled.iter_mut().zip(values) {
            if !v.trim().is_empty() {
                *f += 1;
            }
        }
        self.records
    }

    /// Records that `record` fails `criterion` on `field`; returns the failure so the caller
    /// can stream it out.
    pub fn fail(
        &mut self,
        record: u64,
        key: &str,
        criterion: Criterion,
        field: &str,
        rule: &str,
        reason: impl Into<String>,
    ) -> Failure {
        let failure = Failure {
            record,
            key: key.to_owned(),
            criterion,
            field: field.to_owned(),
            rule: rule.to_owned(),
            reason: reason.into(),
        };
        if let Some(f) = self.flags.get_mut(record as usize - 1) {
            *f |= criterion.bit();
        }
        let k = (criterion, field.to_owned());
        if self.last.get(&k) != Some(&record) {
            self.last.insert(k.clone(), record);
            *self.by_field.entry(k).or_default() += 1;
        }
        let ex = self.examples.entry(criterion).or_default();
        if ex.len() < self.max_examples {
            ex.push(failure.clone());
        }
        failure
    }

    pub fn metric(&mut self, criterion: Criterion, name: &str, value: f64) {
        self.metrics
            .entry(criterion)
            .or_default()
            .insert(name.to_owned(), value);
    }

    pub fn note(&mut self, criterion: Criterion, note: impl Into<String>) {
        let n = self.notes.entry(criterion).or_default();
        if !n.is_empty() {
            n.push(' ');
        }
        n.push_str(&note.into());
    }

    /// The share of the register's population the dataset covers (for datasets meant to
    /// hold everyone).
    pub fn coverage(&mut self, covered: u64, population: u64) {
        self.coverage = Some((covered, population));
    }

    /// Marks a criterion measured (or not: its score is then `null`).
    pub fn measured(&mut self, criterion: Criterion, measured: bool) {
        self.measured[criterion as usize] = measured;
    }

    pub fn finish(mut self, generated_at: &str, sources: BTreeMap<String, String>) -> Report {
        let n = self.records.max(1) as f64;
        for (i, f) in self.dataset.fields.iter().enumerate() {
            self.metrics
                .entry(Criterion::Complete)
                .or_default()
                .insert(format!("fill_rate.{}", f.name), self.filled[i] as f64 / n);
        }
        if let Some((covered, population)) = self.coverage {
            self.metrics.entry(Criterion::Complete).or_default().insert(
                "register_coverage".into(),
                covered as f64 / population.max(1) as f64,
            );
        }
        let mut criteria = BTreeMap::new();
        for c in Criterion::ALL {
            let failing = self.flags.iter().filter(|f| **f & c.bit() != 0).count() as u64;
            let mut score = 1.0 - failing as f64 / n;
            if c == Criterion::Complete {
                if let Some((covered, population)) = self.coverage {
                    score = (score + covered as f64 / population.max(1) as f64) / 2.0;
                }
            }
            let by_field = self
                .by_field
                .iter()
                .filter(|((cc, _), _)| *cc == c)
                .map(|((_, f), k)| {
                    (
                        f.clone(),
                        FieldStat {
                            failing: *k,
                            rate: *k as f64 / n,
                        },
                    )
                })
                .collect();
            criteria.insert(
                c.key().to_owned(),
                CriterionReport {
                    score: (self.measured[c as usize] && self.records > 0).then_some(score),
                    failing,
                    examples: self.examples.remove(&c).unwrap_or_default(),
                    by_field,
                    metrics: self.metrics.remove(&c).unwrap_or_default(),
                    note: self.notes.remove(&c).unwrap_or_default(),
                },
            );
        }
        let measured: Vec<Criterion> = Criterion::ALL
            .into_iter()
            .filter(|c| criteria[c.key()].score.is_some())
            .collect();
        let total: f64 = measured.iter().map(|c| c.weight()).sum();
        let weights: BTreeMap<String, f64> = measured
            .iter()
            .map(|c| (c.key().to_owned(), c.weight() / total))
            .collect();
        let score = measured
            .iter()
            .map(|c| criteria[c.key()].score.unwrap_or(0.0) * c.weight() / total)
            .sum();
        Report {
            dataset: self.dataset.name.to_owned(),
            title: self.dataset.title.to_owned(),
            records: self.records,
            criteria,
            overall: Overall { score, weights },
            generated_at: generated_at.to_owned(),
            sources,
        }
    }
}

/// One past run, for the trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub generated_at: String,
    pub records: u64,
    pub overall: f64,
    pub scores: BTreeMap<String, Option<f64>>,
}

impl From<&Report> for HistoryPoint {
    fn from(r: &Report) -> HistoryPoint {
        HistoryPoint {
            generated_at: r.generated_at.clone(),
            records: r.records,
            overall: r.overall.score,
            scores: r
                .criteria
                .iter()
                .map(|(k, c)| (k.clone(), c.score))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_dictionary::catalog::CITIZEN;

    #[test]
    fn scores_count_records_not_findings() {
        let mut b = Builder::new(&CITIZEN, 2);
        let empty = vec![String::new(); CITIZEN.fields.len()];
        for _ in 0..4 {
            b.record(&empty);
        }
        b.fail(
            1,
            "a",
            Criterion::Correct,
            "birth_date",
            "date.impossible",
            "no 31 February",
        );
        b.fail(1, "a", Criterion::Correct, "sex", "code.unknown", "x");
        b.fail(1, "a", Criterion::Correct, "sex", "code.unknown", "again");
        b.fail(3, "c", Criterion::Clean, "full_name", "text.not_nfc", "NFD");
        let r = b.finish("2026-12-02T00:00:00+07:00", BTreeMap::new());
        let correct = &r.criteria["correct"];
        assert_eq!((correct.score, correct.failing), (Some(0.75), 1));
        assert_eq!(correct.by_field["sex"].failing, 1);
        assert_eq!(correct.examples.len(), 2);
        assert_eq!(r.criteria["shared"].score, None);
        assert_eq!(r.criteria["complete"].score, Some(1.0));
        assert!((r.overall.weights.values().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(!r.overall.weights.contains_key("shared"));
        let expected = (0.75 * 0.25 + 0.2 + 0.75 * 0.2 + 0.15 + 0.15) / 0.95;
        assert!(
            (r.overall.score - expected).abs() < 1e-9,
            "{}",
            r.overall.score
        );
    }

    #[test]
    fn every_rule_maps_to_a_criterion() {
        assert_eq!(
            criterion_of("mandatory.missing", Severity::Error),
            Criterion::Complete
        );
        assert_eq!(
            criterion_of("text.legacy_encoding", Severity::Repaired),
            Criterion::Clean
        );
        assert_eq!(
            criterion_of("date.impossible", Severity::Error),
            Criterion::Correct
        );
        assert_eq!(
            criterion_of("address.old_units", Severity::Warning),
            Criterion::Live
        );
    }
}
