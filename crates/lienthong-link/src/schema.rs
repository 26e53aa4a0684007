//! A model bound to the columns of one input: which column feeds each comparison and each
//! blocking-rule part, and records prepared once for every comparison and rule.

use std::hash::{Hash, Hasher};

use crate::compare::{self, Kind, Value};
use crate::model::{KeyPart, Model, ModelError, Transform};
use crate::text::{Name, NameKey};

/// One record ready to compare: a value per comparison, a key hash per blocking rule (0:
/// the record has no key for that rule) and, for comparisons with `tf`, the frequency of
/// its value.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub values: Box<[Value]>,
    pub keys: Box<[u64]>,
    pub tf: Box<[f32]>,
}

/// The model's fields resolved against one input's field names.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Per comparison: its column and its fallback's, where the input has those fields.
    pub comparison_columns: Vec<(Option<usize>, Option<usize>)>,
    pub kinds: Vec<Kind>,
    /// Per blocking rule: its parts with their columns (`None` when the input lacks a part's
    /// field: the rule finds nothing on this input).
    pub rules: Vec<Vec<(KeyPart, Option<usize>)>>,
}

impl Schema {
    /// Binds `model` to an input whose fields are `fields` (in column order).
    pub fn new(model: &Model, fields: &[&str]) -> Result<Schema, ModelError> {
        model.check()?;
        model.check_fields(fields)?;
        let col = |f: &str| fields.iter().position(|x| *x == f);
        let rules = model
            .blocking
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(r.parts(i + 1)?
                    .into_iter()
                    .map(|p| {
                        let c = col(&p.field);
                        (p, c)
                    })
                    .collect())
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Schema {
            comparison_columns: model
                .comparisons
                .iter()
                .map(|c| (col(&c.field), c.fallback.as_deref().and_then(col)))
                .collect(),
            kinds: model.comparisons.iter().map(|c| c.kind).collect(),
            rules,
        })
    }

    /// The input columns the model reads (comparisons, fallbacks, blocking rules).
    pub fn columns_used(&self) -> Vec<usize> {
        let mut cols: Vec<usize> = self
            .comparison_columns
            .iter()
            .flat_map(|(a, b)| [*a, *b])
            .chain(self.rules.iter().flatten().map(|(_, c)| *c))
            .flatten()
            .collect();
        cols.sort_unstable();
        cols.dedup();
        cols
    }

    /// Whether blocking rule `r` can produce keys on this input.
    pub fn rule_usable(&self, r: usize) -> bool {
        self.rules[r].iter().all(|(_, c)| c.is_some())
    }

    /// Prepares one record given as normalised values in column order.
    pub fn prepare(&self, row: &[&str]) -> Prepared {
        // Names are parsed once: the compact form is kept, the parts serve blocking keys.
        let mut parsed: Vec<(usize, Name)> = Vec::new();
        let values: Box<[Value]> = self
            .comparison_columns
            .iter()
            .zip(&self.kinds)
            .map(|((c, fallback), k)| {
                let value = |c: &Option<usize>| c.and_then(|c| row.get(c)).map(|v| v.trim());
                let (column, v) = match value(c).filter(|v| !v.is_empty()) {
                    Some(v) => (*c, v),
                    None => match value(fallback) {
                        Some(v) => (*fallback, v),
                        None => return Value::Null,
                    },
                };
                if *k == Kind::Name {
                    return match Name::new(v) {
                        Some(n) => {
                            let key = Value::Name(Box::new(NameKey::from(&n)));
                            if let Some(col) = column {
                                parsed.push((col, n));
                            }
                            key
                        }
                        None => Value::Null,
                    };
                }
                compare::prepare(*k, v)
            })
            .collect();
        let names: Vec<(usize, &Name)> = parsed.iter().map(|(c, n)| (*c, n)).collect();
        let keys = self
            .rules
            .iter()
            .map(|parts| rule_key(parts, row, &names))
            .collect();
        Prepared {
            tf: vec![0.0; values.len()].into(),
            values,
            keys,
        }
    }
}

fn rule_key(parts: &[(KeyPart, Option<usize>)], row: &[&str], names: &[(usize, &Name)]) -> u64 {
    // SipHash with fixed keys: the same key on every run and thread.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (part, col) in parts {
        let Some(raw) = col.and_then(|c| row.get(c)) else {
            return 0;
        };
        let name = names
            .iter()
            .find(|(c, _)| Some(*c) == *col)
            .map(|(_, n)| *n);
        let Some(piece) = key_piece(part.transform, raw.trim(), name) else {
            return 0;
        };
        piece.hash(&mut h);
        0xffu8.hash(&mut h);
    }
    match h.finish() {
        0 => 1,
        k => k,
    }
}

/// The key part of one value, `None` when there is none (empty, or no given name).
fn key_piece(t: Transform, raw: &str, parsed: Option<&Name>) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    let name = || parsed.cloned().or_else(|| Name::new(raw));
    let piece = match t {
        Transform::Value => raw.to_owned(),
        Transform::Folded => match parsed {
            Some(n) => n.folded.clone(),
            None => crate::text::fold(raw),
        },
        Transform::Surname => name()?.surname,
        Transform::Given => {
            let n = name()?;
            // A one-word name has no given part: its only word stands in.
            if n.given.is_empty() {
                n.surname
            } else {
                n.given
            }
        }
        Transform::Year => raw.get(..4)?.to_owned(),
        Transform::MonthDay => {
            let (m, d) = (raw.get(5..7)?, raw.get(8..10)?);
            if m <= d {
                format!("{m}{d}")
            } else {
                format!("{d}{m}")
            }
        }
        Transform::First(n) => raw.chars().take(n).collect(),
    };
    (!piece.is_empty()).then_some(piece)
}

/// Fills `tf` for every comparison with `tf`: the share of records carrying the same
/// folded value, counted over `reference` (the records themselves when deduplicating, the
/// register when linking to it; `None` means `targets`).
pub fn fill_term_frequencies(
    model: &Model,
    reference: Option<&[Prepared]>,
    targets: &mut [Prepared],
) {
    use std::collections::HashMap;
    for (c, comparison) in model.comparisons.iter().enumerate() {
        if !comparison.tf {
            continue;
        }
        let freqs: Vec<f32> = {
            let reference = reference.unwrap_or(targets);
            let mut counts: HashMap<u64, u32> = HashMap::with_capacity(reference.len() / 4);
            let mut total = 0u32;
            for r in reference {
                if let Some(k) = r.values[c].tf_hash() {
                    *counts.entry(k).or_default() += 1;
                    total += 1;
                }
            }
            if total == 0 {
                continue;
            }
            targets
                .iter()
                .map(|t| {
                    t.values[c].tf_hash().map_or(0.0, |k| {
                        counts.get(&k).copied().unwrap_or(1).max(1) as f32 / total as f32
                    })
                })
                .collect()
        };
        for (t, f) in targets.iter_mut().zip(freqs) {
            t.tf[c] = f;
        }
    }
}
