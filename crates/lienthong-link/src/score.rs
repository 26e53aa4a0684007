//! Fellegi–Sunter scoring: a pair's match weight is the prior's log-odds plus, per
//! comparison, log2(m / u) of the level the pair falls in (with the term-frequency
//! adjustment where the model asks for it); its probability is 2^w / (1 + 2^w).

use serde::Serialize;

use crate::compare::compare;
use crate::model::Model;
use crate::schema::Prepared;

/// Precomputed weights of one model.
#[derive(Debug, Clone)]
pub struct Scorer {
    /// log2(λ / (1 − λ)).
    pub prior: f64,
    /// Per comparison, per level (index 0 = null = 0.0).
    pub weights: Vec<Vec<f64>>,
    /// Per comparison, per level: u (for the term-frequency adjustment).
    u: Vec<Vec<f64>>,
    /// Per comparison: the levels whose weight is adjusted by term frequency.
    tf_levels: Vec<u8>,
    pub model: Model,
}

/// One comparison's part in a score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldScore {
    pub field: String,
    pub level: &'static str,
    pub weight: f64,
}

/// A scored pair explained field by field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Explanation {
    pub prior: f64,
    pub fields: Vec<FieldScore>,
    pub weight: f64,
    pub probability: f64,
}

pub fn probability(weight: f64) -> f64 {
    let odds = weight.exp2();
    if odds.is_infinite() {
        1.0
    } else {
        odds / (1.0 + odds)
    }
}

/// The weight at which the probability reaches `p`.
pub fn weight_for(p: f64) -> f64 {
    (p / (1.0 - p)).log2()
}

impl Scorer {
    pub fn new(model: &Model) -> Scorer {
        let weights = model
            .comparisons
            .iter()
            .map(|c| {
                std::iter::once(0.0)
                    .chain(c.m.iter().zip(&c.u).map(|(m, u)| (m / u).log2()))
                    .collect()
            })
            .collect();
        Scorer {
            prior: (model.lambda / (1.0 - model.lambda)).log2(),
            weights,
            u: model
                .comparisons
                .iter()
                .map(|c| std::iter::once(1.0).chain(c.u.iter().copied()).collect())
                .collect(),
            tf_levels: model
                .comparisons
                .iter()
                .map(|c| match (c.tf, c.kind) {
                    (false, _) => 0,
                    (true, crate::compare::Kind::Name) => 2,
                    (true, _) => 1,
                })
                .collect(),
            model: model.clone(),
        }
    }

    /// The level of every comparison for a pair.
    pub fn levels(&self, a: &Prepared, b: &Prepared, out: &mut Vec<u8>) {
        out.clear();
        out.extend(
            self.model
                .comparisons
                .iter()
                .enumerate()
                .map(|(c, comp)| compare(comp.kind, &a.values[c], &b.values[c])),
        );
    }

    fn field_weight(&self, c: usize, level: u8, a: &Prepared, b: &Prepared) -> f64 {
        let mut w = self.weights[c][level as usize];
        if level >= 1 && level <= self.tf_levels[c] {
            let tf = a.tf[c].max(b.tf[c]) as f64;
            if tf > 0.0 {
                w += (self.u[c][level as usize] / tf).log2();
            }
        }
        w
    }

    /// The match weight of a pair.
    pub fn weight(&self, a: &Prepared, b: &Prepared) -> f64 {
        let mut w = self.prior;
        for (c, comp) in self.model.comparisons.iter().enumerate() {
            let level = compare(comp.kind, &a.values[c], &b.values[c]);
            w += self.field_weight(c, level, a, b);
        }
        w
    }

    /// The weight and every field's part of it.
    pub fn explain(&self, a: &Prepared, b: &Prepared) -> Explanation {
        let mut fields = Vec::new();
        let mut w = self.prior;
        for (c, comp) in self.model.comparisons.iter().enumerate() {
            let level = compare(comp.kind, &a.values[c], &b.values[c]);
            let fw = self.field_weight(c, level, a, b);
            w += fw;
            fields.push(FieldScore {
                field: comp.field.clone(),
                level: if level == 0 {
                    "null"
                } else {
                    comp.kind.levels()[level as usize - 1]
                },
                weight: fw,
            });
        }
        Explanation {
            prior: self.prior,
            fields,
            weight: w,
            probability: probability(w),
        }
    }
}
