//! Deduplicating one dataset and linking a dataset to a register.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::block::{dedupe_candidates, link_candidates, Blocks};
use crate::compare::{Kind, Value};
use crate::schema::Prepared;
use crate::score::{probability, weight_for, Scorer};

/// A pair at or above the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoredPair {
    pub a: u32,
    pub b: u32,
    pub weight: f64,
}

/// Every pair of `recs` at or above `threshold` (a probability), in a fixed order.
pub fn dedupe(
    scorer: &Scorer,
    recs: &[Prepared],
    blocks: &Blocks,
    threshold: f64,
) -> Vec<ScoredPair> {
    let min = weight_for(threshold);
    dedupe_candidates(recs, blocks, None, |a, b| {
        scorer
            .weight_at_least(&recs[a as usize], &recs[b as usize], min)
            .map(|weight| ScoredPair { a, b, weight })
    })
}

/// How a record was linked to the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum How {
    /// The personal id is in the register and name, birth date and sex agree.
    Id,
    /// The personal id is in the register; some fields differ but the pair still scores
    /// above the threshold.
    IdFuzzy,
    /// Found by probabilistic matching (the id is missing, wrong or names someone else).
    Fuzzy,
    /// No register record scores above the threshold.
    None,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Id => "id",
            How::IdFuzzy => "id+fuzzy",
            How::Fuzzy => "fuzzy",
            How::None => "none",
        }
    }
}

/// The link of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    /// Index into the register.
    pub register: Option<u32>,
    pub probability: f64,
    pub how: How,
    /// Comparisons (indices into the model) that are present on both sides and not at
    /// their closest level.
    pub disagree: Vec<usize>,
}

fn id_of<'a>(scorer: &Scorer, rec: &'a Prepared) -> Option<&'a str> {
    let c = scorer
        .model
        .comparisons
        .iter()
        .position(|c| c.field == scorer.model.id_field && c.kind == Kind::Id)?;
    match &rec.values[c] {
        Value::Id { digits, .. } => Some(digits),
        _ => None,
    }
}

/// Links every `input` record to at most one `register` record.
pub fn link(
    scorer: &Scorer,
    input: &[Prepared],
    register: &[Prepared],
    threshold: f64,
) -> Vec<Linked> {
    let min = weight_for(threshold);
    let mut by_id: HashMap<&str, u32> = HashMap::with_capacity(register.len());
    for (j, r) in register.iter().enumerate() {
        if let Some(id) = id_of(scorer, r) {
            by_id.entry(id).or_insert(j as u32);
        }
    }
    let rules = scorer.model.blocking.len();
    // Best probabilistic candidate per input record.
    let found = link_candidates(input, register, rules, |a, b| {
        scorer
            .weight_at_least(&input[a as usize], &register[b as usize], min)
            .map(|w| (a, b, w))
    });
    let mut best: Vec<Option<(u32, f64)>> = vec![None; input.len()];
    for (a, b, w) in found {
        let slot = &mut best[a as usize];
        // Ties go to the lower register index: the same answer on every run.
        if slot.is_none_or(|(j, bw)| w > bw || (w == bw && b < j)) {
            *slot = Some((b, w));
        }
    }
    let identity: Vec<bool> = scorer
        .model
        .comparisons
        .iter()
        .map(|c| matches!(c.kind, Kind::Name | Kind::Date) || c.field == "sex")
        .collect();
    input
        .par_iter()
        .zip(best.par_iter())
        .map(|(rec, best)| {
            let mut levels = Vec::new();
            let disagree = |j: u32, levels: &mut Vec<u8>| -> Vec<usize> {
                let other = &register[j as usize];
                scorer.levels(rec, other, levels);
                levels
                    .iter()
                    .enumerate()
                    .filter(|(c, l)| {
                        let kind = scorer.model.comparisons[*c].kind;
                        crate::compare::disagrees(kind, **l, &rec.values[*c], &other.values[*c])
                    })
                    .map(|(c, _)| c)
                    .collect()
            };
            if let Some(&j) = id_of(scorer, rec).and_then(|id| by_id.get(id)) {
                let w = scorer.weight(rec, &register[j as usize]);
                scorer.levels(rec, &register[j as usize], &mut levels);
                let agrees = levels.iter().enumerate().all(|(c, l)| {
                    !identity[c] || *l == 0 || scorer.model.comparisons[c].kind.agrees(*l)
                });
                if agrees || w >= min {
                    return Linked {
                        register: Some(j),
                        probability: probability(w),
                        how: if agrees { How::Id } else { How::IdFuzzy },
                        disagree: disagree(j, &mut levels),
                    };
                }
            }
            match best {
                Some((j, w)) => Linked {
                    register: Some(*j),
                    probability: probability(*w),
                    how: How::Fuzzy,
                    disagree: disagree(*j, &mut levels),
                },
                None => Linked {
                    register: None,
                    probability: 0.0,
                    how: How::None,
                    disagree: Vec::new(),
                },
            }
        })
        .collect()
}
