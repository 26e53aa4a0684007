//! Aggregates findings into a validation report: counts per rule and field, and up to
//! `examples_max` examples each with record number, line and offending value.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::finding::{Finding, Severity};

#[derive(Debug, Clone)]
pub struct Example {
    pub record: u64,
    pub line: u64,
    pub value: String,
    pub message: String,
}

#[derive(Debug, Default, Clone)]
pub struct RuleStats {
    pub count: u64,
    pub examples: Vec<Example>,
}

#[derive(Debug)]
pub struct Report {
    pub dataset: &'static str,
    pub records: u64,
    pub invalid_records: u64,
    pub records_with_warnings: u64,
    pub repaired_records: u64,
    /// (rule, field, severity) → stats
    pub rules: BTreeMap<(&'static str, &'static str, Severity), RuleStats>,
    examples_max: usize,
}

impl Report {
    pub fn new(dataset: &'static str, examples_max: usize) -> Self {
        Report {
            dataset,
            records: 0,
            invalid_records: 0,
            records_with_warnings: 0,
            repaired_records: 0,
            rules: BTreeMap::new(),
            examples_max,
        }
    }

    /// Adds one record's findings; `value_of` gives the raw value of a field for examples.
    pub fn add<'a>(
        &mut self,
        record: u64,
        line: u64,
        findings: &[Finding],
        value_of: impl Fn(&str) -> &'a str,
    ) {
        self.records += 1;
        let has = |s: Severity| findings.iter().any(|f| f.severity == s);
        self.invalid_records += u64::from(has(Severity::Error));
        self.records_with_warnings += u64::from(has(Severity::Warning));
        self.repaired_records += u64::from(has(Severity::Repaired));
        for f in findings {
            let stats = self.rules.entry((f.rule, f.field, f.severity)).or_default();
            stats.count += 1;
            if stats.examples.len() < self.examples_max {
                stats.examples.push(Example {
                    record,
                    line,
                    value: value_of(f.field).to_owned(),
                    message: f.message.clone(),
                });
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|((rule, field, severity), s)| {
                json!({
                    "rule": rule,
                    "field": field,
                    "severity": severity.as_str(),
                    "count": s.count,
                    "examples": s.examples.iter().map(|e| json!({
                        "record": e.record, "line": e.line, "value": e.value, "message": e.message,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "dataset": self.dataset,
            "records": self.records,
            "valid_records": self.records - self.invalid_records,
            "invalid_records": self.invalid_records,
            "records_with_warnings": self.records_with_warnings,
            "repaired_records": self.repaired_records,
            "rules": rules,
        })
    }

    /// A per-rule summary for people, one line per rule and field.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "dataset {}: {} records, {} valid, {} invalid, {} with warnings, {} repaired\n",
            self.dataset,
            self.records,
            self.records - self.invalid_records,
            self.invalid_records,
            self.records_with_warnings,
            self.repaired_records
        );
        if !self.rules.is_empty() {
            s.push_str(&format!(
                "{:<9} {:>10}  {:<32} {}\n",
                "severity", "count", "rule", "field"
            ));
        }
        let mut rows: Vec<_> = self.rules.iter().collect();
        rows.sort_by(|a, b| b.0 .2.cmp(&a.0 .2).then(b.1.count.cmp(&a.1.count)));
        for ((rule, field, sev), stats) in rows {
            s.push_str(&format!(
                "{:<9} {:>10}  {:<32} {}\n",
                sev.as_str(),
                stats.count,
                rule,
                field
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_caps_examples() {
        let mut r = Report::new("citizen", 1);
        let f = |rule, sev| Finding::new("personal_id", rule, sev, "m");
        r.add(1, 2, &[f("id.length", Severity::Error)], |_| "123");
        r.add(
            2,
            3,
            &[
                f("id.length", Severity::Error),
                f("id.separators", Severity::Repaired),
            ],
            |_| "1 23",
        );
        r.add(3, 4, &[], |_| "");
        let j = r.to_json();
        assert_eq!(j["records"], 3);
        assert_eq!(j["invalid_records"], 2);
        assert_eq!(j["repaired_records"], 1);
        let rule = j["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["rule"] == "id.length")
            .unwrap();
        assert_eq!(rule["count"], 2);
        assert_eq!(rule["examples"].as_array().unwrap().len(), 1);
        assert!(r.summary().contains("id.length"));
    }
}
