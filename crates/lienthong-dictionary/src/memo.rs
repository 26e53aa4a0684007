//! Field values repeat: a few thousand names cover most people, addresses share their
//! communes and streets, dates and codes come from small sets. A field's check is a pure
//! function of the field (its element and options) and the raw value, so each thread keeps
//! the last results per field and a repeated value costs a hash lookup: the normalised value
//! and the findings, exactly as the check gave them.
//!
//! Bounded: at most [`ENTRIES_MAX`] values per field and [`THREAD_ENTRIES_MAX`] in all per
//! thread (values seen first stay; a long-lived thread validating many datasets, a node's,
//! holds no more than that). A
//! field whose values rarely repeat (ids, phone numbers, timestamps) is measured over each
//! window of [`WINDOW`] lookups and left alone from the first window with fewer than one
//! hit in [`MIN_HIT_SHARE`]: then it costs one branch per value.

use std::cell::RefCell;
use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::finding::Finding;

/// Values kept per field and thread.
pub const ENTRIES_MAX: usize = 32_768;
/// Values kept per thread, all fields together.
pub const THREAD_ENTRIES_MAX: usize = 131_072;
/// Lookups over which a field's hit share is judged.
pub const WINDOW: u32 = 8_192;
/// Below one hit in this many lookups (10 %), a field is not memoised.
pub const MIN_HIT_SHARE: u32 = 10;

struct Cached {
    value: String,
    findings: Vec<Finding>,
}

#[derive(Default)]
struct FieldMemo {
    map: HashMap<Box<str>, Cached, RandomState>,
    lookups: u32,
    hits: u32,
    off: bool,
}

/// The memo of one thread, by field (the address of the dataset's `'static` field, which
/// fixes the element and its options).
#[derive(Default)]
pub(crate) struct Memo {
    fields: HashMap<usize, FieldMemo, RandomState>,
    /// Values kept, all fields together.
    entries: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// Runs `f` with this thread's memo.
pub(crate) fn with<R>(f: impl FnOnce(&mut Memo) -> R) -> R {
    MEMO.with(|m| f(&mut m.borrow_mut()))
}

impl Memo {
    /// The check's result for `raw` in field `field`, written into `target`: from the memo
    /// (copied into `target`'s buffer), or `check` run now (its findings appended to
    /// `findings`) and remembered.
    pub(crate) fn check_into(
        &mut self,
        field: usize,
        raw: &str,
        findings: &mut Vec<Finding>,
        target: &mut String,
        check: impl FnOnce(&mut Vec<Finding>) -> String,
    ) {
        let memo = self.fields.entry(field).or_default();
        if memo.off {
            *target = check(findings);
            return;
        }
        memo.lookups += 1;
        if let Some(c) = memo.map.get(raw) {
            memo.hits += 1;
            findings.extend(c.findings.iter().cloned());
            target.clear();
            target.push_str(&c.value);
            return;
        }
        if memo.lookups >= WINDOW {
            if memo.hits * MIN_HIT_SHARE < memo.lookups {
                memo.off = true;
                self.entries -= memo.map.len();
                memo.map = HashMap::default();
            }
            memo.lookups = 0;
            memo.hits = 0;
        }
        let before = findings.len();
        *target = check(findings);
        if !memo.off && memo.map.len() < ENTRIES_MAX && self.entries < THREAD_ENTRIES_MAX {
            self.entries += 1;
            memo.map.insert(
                raw.into(),
                Cached {
                    value: target.clone(),
                    findings: findings[before..].to_vec(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    #[test]
    fn a_repeated_value_gives_the_same_value_and_findings_without_checking_again() {
        let mut memo = Memo::default();
        let mut calls = 0;
        let mut check = |raw: &str, findings: &mut Vec<Finding>| {
            calls += 1;
            findings.push(Finding::new("f", "r", Severity::Repaired, "m"));
            raw.to_uppercase()
        };
        let mut found = Vec::new();
        let (mut a, mut b, mut c) = (String::new(), "old".to_owned(), String::new());
        memo.check_into(1, "abc", &mut found, &mut a, |f| check("abc", f));
        memo.check_into(1, "abc", &mut found, &mut b, |f| check("abc", f));
        memo.check_into(2, "abc", &mut found, &mut c, |f| check("abc", f));
        assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("ABC", "ABC", "ABC"));
        assert_eq!(
            found.len(),
            3,
            "the finding comes with the remembered value"
        );
        assert_eq!(calls, 2, "once per field");
    }

    #[test]
    fn a_field_whose_values_do_not_repeat_is_left_alone() {
        let mut memo = Memo::default();
        let mut found = Vec::new();
        for i in 0..WINDOW as usize + 10 {
            let raw = i.to_string();
            memo.check_into(7, &raw, &mut found, &mut String::new(), |_| raw.clone());
        }
        let f = &memo.fields[&7];
        assert!(f.off && f.map.is_empty());
        assert_eq!(memo.entries, 0, "what it held is given back");
        // Still correct when off.
        let mut v = String::new();
        memo.check_into(7, "x", &mut found, &mut v, |_| "y".into());
        assert_eq!(v, "y");
    }
}
