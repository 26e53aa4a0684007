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
    /// Comparisons, cheapest first.
    order: Vec<usize>,
    /// Per comparison: the largest weight a level without term-frequency adjustment gives
    /// (0 at least: null).
    max_plain: Vec<f64>,
    /// Per comparison: the largest log2(m) of the adjusted levels (their weight is
    /// log2(m / tf)).
    max_log_m_tf: Vec<f64>,
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
            order: {
                let mut o: Vec<usize> = (0..model.comparisons.len()).collect();
                o.sort_by_key(|c| crate::compare::cost(model.comparisons[*c].kind));
                o
            },
            max_plain: Vec::new(),
            max_log_m_tf: Vec::new(),
            model: model.clone(),
        }
        .with_bounds()
    }

    fn with_bounds(mut self) -> Scorer {
        for (c, comp) in self.model.comparisons.iter().enumerate() {
            let tf_levels = self.tf_levels[c] as usize;
            let plain = (tf_levels + 1..=comp.m.len())
                .map(|l| self.weights[c][l])
                .fold(0.0f64, f64::max);
            let tf = comp.m[..tf_levels]
                .iter()
                .map(|m| m.log2())
                .fold(f64::NEG_INFINITY, f64::max);
            // Without a frequency the adjusted levels weigh as plain ones.
            let unadjusted = (1..=tf_levels)
                .map(|l| self.weights[c][l])
                .fold(0.0f64, f64::max);
            self.max_plain.push(plain.max(unadjusted));
            self.max_log_m_tf.push(tf);
        }
        self
    }

    fn bound(&self, c: usize, a: &Prepared, b: &Prepared) -> f64 {
        let tf = a.tf[c].max(b.tf[c]) as f64;
        if tf > 0.0 && self.tf_levels[c] > 0 {
            self.max_plain[c].max(self.max_log_m_tf[c] - tf.log2())
        } else {
            self.max_plain[c]
        }
    }

    /// The weight of a pair when it is at least `min`, else `None`: cheap comparisons run
    /// first and the rest are skipped once even their best levels could not reach `min`.
    pub fn weight_at_least(&self, a: &Prepared, b: &Prepared, min: f64) -> Option<f64> {
        let mut bounds = [0.0f64; 32];
        let n = self.order.len().min(32);
        let mut rest = 0.0;
        for (i, &c) in self.order.iter().take(n).enumerate() {
            bounds[i] = self.bound(c, a, b);
            rest += bounds[i];
        }
        let mut w = self.prior;
        for (i, &c) in self.order.iter().enumerate() {
            let comp = &self.model.comparisons[c];
            let level = compare(comp.kind, &a.values[c], &b.values[c]);
            w += self.field_weight(c, level, a, b);
            if i < n {
                rest -= bounds[i];
                if w + rest < min {
                    return None;
                }
            }
        }
        (w >= min).then_some(w)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    /// The early exit never changes a verdict: on every pair of a small mixed set,
    /// `weight_at_least` agrees with the full weight.
    #[test]
    fn early_exit_agrees_with_the_full_weight() {
        let model = Model::default_person();
        let fields = [
            "personal_id",
            "full_name",
            "birth_date",
            "sex",
            "commune_code",
            "phone",
        ];
        let schema = Schema::new(&model, &fields).unwrap();
        let rows = [
            [
                "001090123456",
                "Nguyễn Văn An",
                "1990-03-04",
                "1",
                "00004",
                "0912345678",
            ],
            [
                "001090654321",
                "Nguyen Van An",
                "1990-04-03",
                "1",
                "00004",
                "",
            ],
            [
                "001090123456",
                "Trần Thị Bình",
                "1990-03-04",
                "2",
                "26734",
                "0912345678",
            ],
            ["", "Nguyễn An", "1990", "1", "", ""],
            [
                "079190000001",
                "Lê Văn Cường",
                "1975-12-01",
                "1",
                "26734",
                "0987654321",
            ],
        ];
        let mut recs: Vec<Prepared> = rows.iter().map(|r| schema.prepare(r)).collect();
        crate::schema::fill_term_frequencies(&model, None, &mut recs);
        let scorer = Scorer::new(&model);
        for a in &recs {
            for b in &recs {
                let full = scorer.weight(a, b);
                for min in [-40.0, -10.0, 0.0, full - 0.001, full + 0.001, 10.0, 40.0] {
                    let fast = scorer.weight_at_least(a, b, min);
                    assert_eq!(fast.is_some(), full >= min, "min {min}, full {full}");
                    if let Some(w) = fast {
                        assert!((w - full).abs() < 1e-9);
                    }
                }
            }
        }
    }
}
