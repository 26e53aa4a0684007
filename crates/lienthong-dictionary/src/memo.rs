//! Field values repeat: a few thousand names cover most people, addresses share their
//! communes and streets, dates and codes come from small sets. A field's check is a pure
//! function of the field (its element and options) and the raw value, so each thread keeps
//! the last results per field and a repeated value costs a hash lookup: the normalised value
//! and the findings, exactly as the check gave them.
//!
//! Bounded: at most [`ENTRIES_MAX`] values per field, [`THREAD_ENTRIES_MAX`] and
//! [`THREAD_BYTES_MAX`] bytes of values in all per thread (values seen first stay; a
//! long-lived thread validating many datasets, a node's, holds no more than that). A field
//! whose values rarely repeat (ids, phone numbers, timestamps) is measured over each
//! window of [`WINDOW`] lookups and left alone from the first window with fewer than one
//! hit in [`MIN_HIT_SHARE`]: then it costs one branch per value.

use std::cell::RefCell;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::finding::Finding;

/// Values kept per field and thread.
pub const ENTRIES_MAX: usize = 32_768;
/// Values kept per thread, all fields together.
pub const THREAD_ENTRIES_MAX: usize = 131_072;
/// Bytes of raw and normalised values kept per thread, all fields together.
pub const THREAD_BYTES_MAX: usize = 16 << 20;
/// Lookups over which a field's hit share is judged.
pub const WINDOW: u32 = 8_192;
/// Below one hit in this many lookups (10 %), a field is not memoised.
pub const MIN_HIT_SHARE: u32 = 10;

/// `Entry::value_len` of a value equal to its raw form (nothing stored twice).
const SAME: u32 = u32::MAX;
/// `Entry::findings` of a value without findings.
const NONE: u32 = u32::MAX;

/// A remembered value: where its raw form (and after it the normalised value) lies in the
/// thread's arena. The table holds these small records and the strings lie side by side
/// in one buffer, so a lookup reads the table and one place in the arena: a memo of owned
/// strings cost a cache miss for the key, another for the value.
#[derive(Clone, Copy)]
struct Entry {
    at: u32,
    raw_len: u32,
    value_len: u32,
    findings: u32,
}

struct FieldMemo {
    /// The field's `'static` address.
    field: usize,
    table: HashTable<Entry>,
    lookups: u32,
    hits: u32,
    off: bool,
}

/// The memo of one thread, by field (the address of the dataset's `'static` field, which
/// fixes the element and its options).
#[derive(Default)]
pub(crate) struct Memo {
    fields: Vec<FieldMemo>,
    /// Where the next field is most likely: fields are checked in record order.
    cursor: usize,
    /// Raw value, then the normalised value unless equal, of every entry.
    arena: String,
    /// Findings of the entries that have any.
    findings: Vec<Vec<Finding>>,
    /// Values kept, all fields together.
    entries: usize,
    hasher: RandomState,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// Runs `f` with this thread's memo.
pub(crate) fn with<R>(f: impl FnOnce(&mut Memo) -> R) -> R {
    MEMO.with(|m| f(&mut m.borrow_mut()))
}

impl Memo {
    /// Index of `field` in `fields`, added if new; looked for from the cursor on.
    fn slot(&mut self, field: usize) -> usize {
        let n = self.fields.len();
        let found = (0..n)
            .map(|k| (self.cursor + k) % n)
            .find(|&i| self.fields[i].field == field);
        let i = found.unwrap_or_else(|| {
            self.fields.push(FieldMemo {
                field,
                table: HashTable::new(),
                lookups: 0,
                hits: 0,
                off: false,
            });
            n
        });
        self.cursor = i + 1;
        i
    }

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
        let i = self.slot(field);
        let Memo {
            fields,
            arena,
            findings: kept,
            entries,
            hasher,
            ..
        } = self;
        let memo = &mut fields[i];
        if memo.off {
            *target = check(findings);
            return;
        }
        memo.lookups += 1;
        let hash = hasher.hash_one(raw);
        let raw_of = |e: &Entry| &arena[e.at as usize..][..e.raw_len as usize];
        if let Some(e) = memo.table.find(hash, |e| raw_of(e) == raw) {
            memo.hits += 1;
            target.clear();
            if e.value_len == SAME {
                target.push_str(raw);
            } else {
                let at = (e.at + e.raw_len) as usize;
                target.push_str(&arena[at..at + e.value_len as usize]);
            }
            if e.findings != NONE {
                findings.extend(kept[e.findings as usize].iter().cloned());
            }
            return;
        }
        if memo.lookups >= WINDOW {
            if memo.hits * MIN_HIT_SHARE < memo.lookups {
                memo.off = true;
                *entries -= memo.table.len();
                memo.table = HashTable::new();
            }
            memo.lookups = 0;
            memo.hits = 0;
        }
        let before = findings.len();
        *target = check(findings);
        let same = target.as_str() == raw;
        let bytes = raw.len() + if same { 0 } else { target.len() };
        if memo.off
            || memo.table.len() >= ENTRIES_MAX
            || *entries >= THREAD_ENTRIES_MAX
            || arena.len() + bytes > THREAD_BYTES_MAX
        {
            return;
        }
        if arena.capacity() == 0 {
            // Its whole bound at once: growing by doubling would copy the arena each time
            // onto fresh pages. Pages never written are never backed by memory.
            arena.reserve(THREAD_BYTES_MAX);
        }
        let at = arena.len() as u32;
        arena.push_str(raw);
        let value_len = if same {
            SAME
        } else {
            arena.push_str(target);
            target.len() as u32
        };
        let found = if findings.len() > before {
            kept.push(findings[before..].to_vec());
            (kept.len() - 1) as u32
        } else {
            NONE
        };
        memo.table.insert_unique(
            hash,
            Entry {
                at,
                raw_len: raw.len() as u32,
                value_len,
                findings: found,
            },
            // Growing the table hashes the entries again from the arena: smaller entries
            // (16 bytes, no stored hash) keep more of the table in cache on every lookup.
            |e| hasher.hash_one(&arena[e.at as usize..][..e.raw_len as usize]),
        );
        *entries += 1;
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
        let f = memo.fields.iter().find(|f| f.field == 7).unwrap();
        assert!(f.off && f.table.is_empty());
        assert_eq!(memo.entries, 0, "what it held is given back");
        // Still correct when off.
        let mut v = String::new();
        memo.check_into(7, "x", &mut found, &mut v, |_| "y".into());
        assert_eq!(v, "y");
    }
}
