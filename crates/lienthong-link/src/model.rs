//! The linkage model: which fields are compared and how, the trained m and u probabilities
//! per level, the prior, the blocking rules and the threshold. Stored as TOML so one model
//! serves any person dataset.

use serde::{Deserialize, Serialize};

use crate::compare::Kind;

/// Why a model cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("model TOML: {0}")]
    Toml(String),
    #[error("comparison {field}: {what}")]
    Comparison { field: String, what: String },
    #[error("blocking rule {rule}: {what}")]
    Blocking { rule: usize, what: String },
    #[error("{0}")]
    Other(String),
}

/// One compared field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// The dataset field (the same name in every dictionary dataset that has it).
    pub field: String,
    /// Read instead when `field` is absent or empty (`province_code` for `commune_code`:
    /// a dataset without communes still compares the province, and one field carries the
    /// residence so it is not counted twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    pub kind: Kind,
    /// Adjust the weight of an agreement by how common the value is (names: a match on
    /// "Nguyễn Văn Anh" says less than one on a rare name).
    #[serde(default)]
    pub tf: bool,
    /// P(level | same person), one per level of `kind` (null excluded).
    pub m: Vec<f64>,
    /// P(level | different people).
    pub u: Vec<f64>,
}

/// A blocking rule: records are compared only when every part of some rule's key agrees.
/// Parts are `field` or `field:transform` with transform `value` (the default), `folded`,
/// `surname`, `given`, `year`, `month_day` (day and month in either order) or `first:N`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlockingRule {
    pub on: Vec<String>,
}

/// A parsed blocking-rule part.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPart {
    pub field: String,
    pub transform: Transform,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    Value,
    Folded,
    Surname,
    Given,
    Year,
    MonthDay,
    First(usize),
}

impl BlockingRule {
    pub fn parts(&self, rule: usize) -> Result<Vec<KeyPart>, ModelError> {
        if self.on.is_empty() {
            return Err(ModelError::Blocking {
                rule,
                what: "no parts".into(),
            });
        }
        self.on
            .iter()
            .map(|p| {
                let (field, t) = p.split_once(':').unwrap_or((p, "value"));
                let transform = match t {
                    "value" => Transform::Value,
                    "folded" => Transform::Folded,
                    "surname" => Transform::Surname,
                    "given" => Transform::Given,
                    "year" => Transform::Year,
                    "month_day" => Transform::MonthDay,
                    t => match t.strip_prefix("first:").and_then(|n| n.parse().ok()) {
                        Some(n) if n > 0 => Transform::First(n),
                        _ => {
                            return Err(ModelError::Blocking {
                                rule,
                                what: format!(
                                    "unknown transform {t:?} in {p:?} (value, folded, surname, given, year, month_day, first:N)"
                                ),
                            })
                        }
                    },
                };
                Ok(KeyPart {
                    field: field.trim().to_owned(),
                    transform,
                })
            })
            .collect()
    }
}

/// The whole model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Probability that two records drawn at random are the same person (λ).
    pub lambda: f64,
    /// A pair whose match probability is at least this is a match.
    pub threshold: f64,
    /// The field looked up exactly when linking to a register (`personal_id`).
    #[serde(default = "default_id_field")]
    pub id_field: String,
    #[serde(rename = "comparison")]
    pub comparisons: Vec<Comparison>,
    #[serde(rename = "blocking")]
    pub blocking: Vec<BlockingRule>,
    /// How the parameters were obtained (written by `link train`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<Trained>,
}

fn default_id_field() -> String {
    "personal_id".into()
}

/// What training saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Trained {
    pub records: u64,
    pub u_pairs: u64,
    pub em_pairs: u64,
    pub seed: u64,
}

impl Model {
    pub fn from_toml(text: &str) -> Result<Model, ModelError> {
        // One line: the message and where (toml's own rendering spans several lines).
        let model: Model = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim().replace('\n', "; ");
            ModelError::Toml(match line {
                Some(l) => format!("line {l}: {message}"),
                None => message,
            })
        })?;
        model.check()?;
        Ok(model)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a model always serialises")
    }

    /// Checks the numbers and the rules (not the fields: see [`Model::check_fields`]).
    pub fn check(&self) -> Result<(), ModelError> {
        if !(self.lambda > 0.0 && self.lambda < 1.0) {
            return Err(ModelError::Other(format!(
                "lambda {} is not in (0, 1)",
                self.lambda
            )));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(ModelError::Other(format!(
                "threshold {} is not in (0, 1)",
                self.threshold
            )));
        }
        if self.comparisons.is_empty() {
            return Err(ModelError::Other("no comparisons".into()));
        }
        for c in &self.comparisons {
            let levels = c.kind.levels().len();
            for (name, p) in [("m", &c.m), ("u", &c.u)] {
                let bad = |what: String| ModelError::Comparison {
                    field: c.field.clone(),
                    what,
                };
                if p.len() != levels {
                    return Err(bad(format!(
                        "{name} has {} values, {:?} has {levels} levels ({})",
                        p.len(),
                        c.kind,
                        c.kind.levels().join(", ")
                    )));
                }
                if p.iter().any(|x| !(*x > 0.0 && *x <= 1.0)) {
                    return Err(bad(format!("{name} values must be in (0, 1]")));
                }
                let sum: f64 = p.iter().sum();
                if (sum - 1.0).abs() > 0.01 {
                    return Err(bad(format!("{name} values sum to {sum:.3}, not 1")));
                }
            }
        }
        if self.blocking.is_empty() {
            return Err(ModelError::Other("no blocking rules".into()));
        }
        for (i, r) in self.blocking.iter().enumerate() {
            r.parts(i + 1)?;
        }
        Ok(())
    }

    /// Checks that every field the model names is one of `fields` (blocking rules may name
    /// fields a side lacks only when `lenient`: that rule then finds nothing).
    pub fn check_fields(&self, fields: &[&str]) -> Result<(), ModelError> {
        let known = |f: &str| fields.contains(&f);
        if !self
            .comparisons
            .iter()
            .any(|c| known(&c.field) || c.fallback.as_deref().is_some_and(known))
        {
            return Err(ModelError::Other(format!(
                "none of the model's fields ({}) is in the data",
                self.comparisons
                    .iter()
                    .map(|c| c.field.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    /// The default model for the dictionary's person datasets (citizen register, insurance,
    /// education…): parameters trained on `lienthong synth --linkage` data (see
    /// docs/linkage.md); `link train` re-estimates them on real data.
    pub fn default_person() -> Model {
        Model::from_toml(DEFAULT_PERSON).expect("the shipped model is valid (tested)")
    }
}

/// Shipped in the binary and printed by `lienthong link model`.
pub const DEFAULT_PERSON: &str = include_str!("default_person.toml");
