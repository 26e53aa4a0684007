//! One scorecard computed from records already validated by the dictionary: each record's
//! findings by criterion, staleness, the same person under another key (linkage), and the
//! reconciliation with the population register. Record sources (files, replica tables) are
//! the caller's; this module does no I/O.

use std::collections::{BTreeMap, HashSet};

use lienthong_dictionary::catalog::{CrossCheck, Dataset};
use lienthong_dictionary::finding::Finding;
use lienthong_dictionary::validate::{record_key, KeyTracker, Outcome};
use lienthong_link::block::Blocks;
use lienthong_link::link::{dedupe, link, How};
use lienthong_link::model::ModelError;
use lienthong_link::schema::fill_term_frequencies;
use lienthong_link::{cluster, train, Kind, Model, Prepared, Schema, Scorer};

use crate::{criterion_of, Builder, Criterion, Failure, Report};

/// What a scorecard needs besides the records.
#[derive(Debug, Clone)]
pub struct Options {
    /// Today's date (ISO).
    pub today: String,
    pub stale_after_days: u32,
    pub examples: usize,
    /// The linkage model; `None`: the shipped model, trained on the records.
    pub model: Option<Model>,
    pub threshold: Option<f64>,
    pub seed: u64,
    /// Whether deceased people were given to the validator (`Options::deceased`).
    pub has_deceased_reference: bool,
}

/// The register, prepared with [`Scoring::schema_for`] of the register's dataset.
pub struct Register {
    pub prepared: Vec<Prepared>,
    pub keys: Vec<String>,
}

/// A scorecard being computed.
pub struct Scoring {
    dataset: &'static Dataset,
    opts: Options,
    model: Model,
    /// The model bound to the dataset; `None` for a dataset that names no person.
    schema: Option<Schema>,
    builder: Builder,
    keys: KeyTracker,
    record_keys: Vec<String>,
    prepared: Vec<Prepared>,
    today: Option<i64>,
    updated_at: Option<usize>,
    oldest: Option<i64>,
    stale: u64,
    person: bool,
}

/// Days since 1970-01-01 of an ISO date (`YYYY-MM-DD…`).
pub fn day_number(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (
        date[..4].parse().ok()?,
        date[5..7].parse().ok()?,
        date[8..10].parse().ok()?,
    );
    ((1..=12).contains(&m) && (1..=31).contains(&d))
        .then(|| lienthong_core::time::days_from_civil(y, m, d))
}

impl Scoring {
    pub fn new(dataset: &'static Dataset, opts: Options) -> Result<Scoring, ModelError> {
        let mut model = opts.model.clone().unwrap_or_else(Model::default_person);
        if let Some(t) = opts.threshold {
            model.threshold = t;
        }
        let person = dataset.field("full_name").is_some() && dataset.field("birth_date").is_some();
        let schema = match Scoring::schema_for(&model, dataset) {
            Ok(schema) => Some(schema),
            // A dataset that names no person (chemicals, parcels without owners) is scored
            // without the same-person checks; a model asked for must bind.
            Err(_) if !person && opts.model.is_none() => None,
            Err(e) => return Err(e),
        };
        Ok(Scoring {
            dataset,
            builder: Builder::new(dataset, opts.examples),
            keys: KeyTracker::default(),
            record_keys: Vec::new(),
            prepared: Vec::new(),
            today: day_number(&opts.today),
            updated_at: dataset.index("updated_at"),
            oldest: None,
            stale: 0,
            person,
            model,
            schema,
            opts,
        })
    }

    /// The model bound to a dataset's fields (the register's, to prepare it).
    pub fn schema_for(model: &Model, dataset: &'static Dataset) -> Result<Schema, ModelError> {
        let fields: Vec<&str> = dataset.fields.iter().map(|f| f.name).collect();
        Schema::new(model, &fields)
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Prepares a register record from its validated outcome.
    pub fn prepare_register(
        schema: &Schema,
        dataset: &Dataset,
        outcome: &Outcome,
    ) -> (String, Prepared) {
        let values: Vec<&str> = outcome.values.iter().map(String::as_str).collect();
        let key = record_key(dataset, outcome)
            .unwrap_or_default()
            .replace('\u{1f}', "|");
        (key, schema.prepare(&values))
    }

    /// One record, in input order: `read` are the reader's own findings (field count,
    /// malformed JSON), `outcome` the validator's. Returns the record's failures.
    pub fn observe(&mut self, read: &[Finding], outcome: &Outcome) -> Vec<Failure> {
        let b = &mut self.builder;
        let n = b.record(&outcome.values);
        let key = record_key(self.dataset, outcome)
            .unwrap_or_default()
            .replace('\u{1f}', "|");
        let mut out = Vec::new();
        for f in read.iter().chain(&outcome.findings) {
            let c = criterion_of(f.rule, f.severity);
            out.push(b.fail(n, &key, c, f.field, f.rule, f.message.clone()));
        }
        if !key.is_empty() {
            if let Some(first) = self.keys.observe(key.clone(), n) {
                let field = self.dataset.key.join("|");
                out.push(b.fail(
                    n,
                    &key,
                    Criterion::Clean,
                    &field,
                    "key.duplicate",
                    format!("same key as record {first}"),
                ));
            }
        }
        if let (Some(today), Some(i)) = (self.today, self.updated_at) {
            if let Some(age) = day_number(&outcome.values[i]).map(|d| today - d) {
                self.oldest = Some(self.oldest.map_or(age, |o| o.max(age)));
                if age > i64::from(self.opts.stale_after_days) {
                    self.stale += 1;
                    out.push(b.fail(
                        n,
                        &key,
                        Criterion::Live,
                        "updated_at",
                        "record.stale",
                        format!("not updated for {age} days"),
                    ));
                }
            }
        }
        if let (true, Some(schema)) = (self.person, &self.schema) {
            let values: Vec<&str> = outcome.values.iter().map(String::as_str).collect();
            self.prepared.push(schema.prepare(&values));
        }
        self.record_keys.push(key);
        out
    }

    /// Records seen so far.
    pub fn records(&self) -> usize {
        self.record_keys.len()
    }

    /// Linkage and the register, then the report. Returns the failures found at this step
    /// too (the same person twice, register disagreements).
    pub fn finish(
        mut self,
        register: Option<Register>,
        generated_at: &str,
        sources: BTreeMap<String, String>,
    ) -> (Report, Vec<Failure>) {
        let mut out = Vec::new();
        let records = self.record_keys.len();
        let b = &mut self.builder;
        if self.updated_at.is_some() {
            b.metric(Criterion::Live, "stale_records", self.stale as f64);
            if let Some(o) = self.oldest {
                b.metric(Criterion::Live, "oldest_update_days", o as f64);
            }
            b.note(
                Criterion::Live,
                format!(
                    "records not updated for {} days count as not live.",
                    self.opts.stale_after_days
                ),
            );
        }
        if !self.opts.has_deceased_reference
            && self
                .dataset
                .checks
                .iter()
                .any(|c| matches!(c, CrossCheck::NotDeceasedWhenActive { .. }))
        {
            b.note(
                Criterion::Live,
                "no civil-status reference given: deceased people still active not checked.",
            );
        }
        if let (true, Some(schema), true) = (self.person, &self.schema, records > 0) {
            fill_term_frequencies(&self.model, None, &mut self.prepared);
            let blocks = Blocks::new(&self.prepared, self.model.blocking.len());
            let topts = train::Options {
                seed: self.opts.seed,
                ..train::Options::default()
            };
            // Trained as `link` and `link dedupe` train: with a register, on both together.
            let trained = match (&self.opts.model, &register) {
                (Some(_), _) => self.model.clone(),
                (None, None) => train::train(&self.model, schema, &self.prepared, &blocks, &topts),
                (None, Some(reg)) => {
                    let mut all: Vec<Prepared> =
                        self.prepared.iter().chain(&reg.prepared).cloned().collect();
                    fill_term_frequencies(&self.model, None, &mut all);
                    let all_blocks = Blocks::new(&all, self.model.blocking.len());
                    train::train(&self.model, schema, &all, &all_blocks, &topts)
                }
            };
            let scorer = Scorer::new(&trained);
            let pairs = dedupe(&scorer, &self.prepared, &blocks, trained.threshold);
            let clusters = cluster::clusters(records, pairs.iter().map(|p| (p.a, p.b)));
            let keys = &self.record_keys;
            let mut twice = 0u64;
            for (i, root) in clusters.iter().enumerate() {
                let root = *root as usize;
                if root != i && keys[root] != keys[i] {
                    twice += 1;
                    out.push(b.fail(
                        i as u64 + 1,
                        &keys[i],
                        Criterion::Clean,
                        "record",
                        "person.duplicate",
                        format!(
                            "the same person as record {} ({}) under another key",
                            root + 1,
                            keys[root]
                        ),
                    ));
                }
            }
            b.metric(Criterion::Clean, "same_person_other_key", twice as f64);
            if let Some(mut reg) = register {
                fill_term_frequencies(&trained, Some(&reg.prepared), &mut self.prepared);
                fill_term_frequencies(&trained, None, &mut reg.prepared);
                let links = link(&scorer, &self.prepared, &reg.prepared, trained.threshold);
                let id_comparison = trained
                    .comparisons
                    .iter()
                    .position(|c| c.field == trained.id_field);
                let mut covered = HashSet::new();
                let (mut found, mut disagree) = (0u64, 0u64);
                for (i, l) in links.iter().enumerate() {
                    let n = i as u64 + 1;
                    let key = &keys[i];
                    let Some(j) = l.register else {
                        out.push(b.fail(
                            n,
                            key,
                            Criterion::Unified,
                            "record",
                            "register.not_found",
                            "not found in the population register",
                        ));
                        continue;
                    };
                    found += 1;
                    covered.insert(j);
                    let id_given =
                        id_comparison.is_some_and(|c| !self.prepared[i].values[c].is_null());
                    if l.how == How::Fuzzy && id_given {
                        out.push(b.fail(
                            n,
                            key,
                            Criterion::Correct,
                            &trained.id_field,
                            "register.id_mismatch",
                            format!(
                                "the register holds this person under {}",
                                reg.keys[j as usize]
                            ),
                        ));
                    }
                    for c in &l.disagree {
                        let field = trained.comparisons[*c].field.as_str();
                        if field == trained.id_field {
                            continue;
                        }
                        let (criterion, rule, reason) = match trained.comparisons[*c].kind {
                            Kind::Unit => (
                                Criterion::Live,
                                "register.moved",
                                "the register has another residence".to_owned(),
                            ),
                            _ => (
                                Criterion::Unified,
                                "register.disagrees",
                                format!("differs from the register ({})", reg.keys[j as usize]),
                            ),
                        };
                        disagree += 1;
                        out.push(b.fail(n, key, criterion, field, rule, reason));
                    }
                }
                b.metric(
                    Criterion::Unified,
                    "register_found",
                    found as f64 / records as f64,
                );
                b.metric(
                    Criterion::Unified,
                    "register_disagreements",
                    disagree as f64,
                );
                if self.dataset.key == ["personal_id"] {
                    b.coverage(covered.len() as u64, reg.keys.len() as u64);
                    b.note(
                        Criterion::Complete,
                        "coverage of the register's population counts half.",
                    );
                }
            } else {
                b.note(Criterion::Unified, "no register given: agreement with the population register not measured, only the shared code lists.");
            }
        } else if !self.person {
            b.note(Criterion::Clean, "the dataset does not identify people by name and birth date: duplicates by key only.");
        }
        b.note(Criterion::Shared, "measured from the nodes' message logs (share of lookups served through the exchange); no log given.");
        (self.builder.finish(generated_at, sources), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2026-12-02T10:00:00+07:00"), Some(20_789));
        assert_eq!(
            day_number("2024-03-01")
                .zip(day_number("2024-02-28"))
                .map(|(a, b)| a - b),
            Some(2)
        );
        assert_eq!(day_number("2026-13-01"), None);
        assert_eq!(day_number("2026"), None);
    }
}
