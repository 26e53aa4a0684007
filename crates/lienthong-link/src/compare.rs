//! Comparators: how two values of one field agree, as a level. Level 0 is "null" (a side
//! is empty: no evidence either way); level 1 is the closest agreement; the last level is
//! "different". Every comparator works on values the dictionary has already normalised.

use lienthong_dictionary::units;
use serde::{Deserialize, Serialize};
use strsim::jaro_winkler;

use crate::text::{
    fold, one_edit_same_bytes, one_edit_same_length, within_one_edit, Name, NameKey,
};

/// The comparators a model can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Person names: exact, without diacritics, variant (regional surname, middle name
    /// left out, the same words in another order), close (Jaro–Winkler ≥ 0.92 or one edit on the folded text), similar
    /// (Jaro–Winkler ≥ 0.80), different.
    Name,
    /// Dates (`YYYY-MM-DD` or `YYYY`): exact, day and month swapped, one off (a year off by
    /// one, or one digit), year only (a side has only the year, and it agrees), same year
    /// (two full dates in the same year), different.
    Date,
    /// Personal ids: exact, one digit wrong or two adjacent swapped, same birth province
    /// (two 12-digit ids with the same `PPP`; `G YY` — sex, century, birth year — are left
    /// out: their own fields weigh them, and counting them twice would break the model's
    /// independence), CMND (9 digits) against CCCD (12), different.
    Id,
    /// Exact or different (sex, phone, codes).
    Exact,
    /// Commune or province codes across the 2025 reorganisation: exact, same current
    /// province (an old unit and its successor agree), different.
    Unit,
    /// Free text (addresses, employers): folded exact, similar (Jaro–Winkler ≥ 0.9 or at
    /// least 60 % of the words shared), different.
    Text,
}

impl Kind {
    /// Level names, level 1 first (level 0, null, is implicit).
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Kind::Name => &[
                "exact",
                "folded",
                "variant",
                "close",
                "similar",
                "different",
            ],
            Kind::Date => &[
                "exact",
                "day_month_swapped",
                "one_off",
                "year_only",
                "same_year",
                "different",
            ],
            Kind::Id => &[
                "exact",
                "one_edit",
                "same_birth_province",
                "cmnd_cccd",
                "different",
            ],
            Kind::Exact => &["exact", "different"],
            Kind::Unit => &["exact", "same_province", "different"],
            Kind::Text => &["exact", "similar", "different"],
        }
    }
}

/// Shared words over all distinct words of two folded texts (Jaccard on words).
fn word_overlap(a: &str, b: &str) -> f64 {
    let wa: std::collections::HashSet<&str> = a
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let wb: std::collections::HashSet<&str> = b
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let union = wa.union(&wb).count();
    if union == 0 {
        return 0.0;
    }
    wa.intersection(&wb).count() as f64 / union as f64
}

/// Whether a pair at `level` disagrees on this field: not null and not the closest level,
/// except that a commune and a province it lies in agree (one side only knows the
/// province).
pub fn disagrees(kind: Kind, level: u8, a: &Value, b: &Value) -> bool {
    if level <= 1 {
        return false;
    }
    match (kind, a, b) {
        (Kind::Unit, Value::Unit { commune: ca, .. }, Value::Unit { commune: cb, .. })
            if level == 2 =>
        {
            ca == cb
        }
        _ => true,
    }
}

impl Kind {
    /// Levels that say the values agree as well as this comparator can tell.
    pub fn agrees(self, level: u8) -> bool {
        match self {
            Kind::Name => (1..=3).contains(&level),
            Kind::Unit => (1..=2).contains(&level),
            _ => level == 1,
        }
    }
}

/// A prepared value: compact, so that comparing is mostly integer equality.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Name(Box<NameKey>),
    Date {
        year: u16,
        month_day: Option<(u8, u8)>,
        /// `YYYYMMDD` (zeros after a year alone).
        digits: [u8; 8],
    },
    Id {
        hash: u64,
        digits: Box<str>,
    },
    /// Hash of the value.
    Exact(u64),
    /// Hash of the code as written, the current province it lies in (0 when unknown), and
    /// whether it is a commune (5 digits) rather than a province.
    Unit {
        code: u64,
        province: u16,
        commune: bool,
    },
    Text {
        hash: u64,
        folded: Box<str>,
    },
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A hash of the value for term frequencies (the folded form for names).
    pub fn tf_hash(&self) -> Option<u64> {
        match self {
            Value::Null => None,
            Value::Name(n) => Some(n.folded_hash),
            Value::Date { digits, .. } => Some(hash(digits)),
            Value::Id { hash, .. } | Value::Exact(hash) | Value::Text { hash, .. } => Some(*hash),
            Value::Unit { code, .. } => Some(*code),
        }
    }
}

/// A stable 64-bit hash (SipHash with fixed keys: the same on every run and thread).
pub fn hash<T: std::hash::Hash + ?Sized>(v: &T) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Prepares one normalised value for `kind`.
pub fn prepare(kind: Kind, raw: &str) -> Value {
    let raw = raw.trim();
    if raw.is_empty() {
        return Value::Null;
    }
    match kind {
        Kind::Name => {
            Name::new(raw).map_or(Value::Null, |n| Value::Name(Box::new(NameKey::from(&n))))
        }
        Kind::Date => parse_date(raw).unwrap_or_else(|| text(raw)),
        Kind::Id => {
            let digits: String = raw
                .chars()
                .filter(|c| !matches!(c, ' ' | '.' | '-'))
                .collect();
            Value::Id {
                hash: hash(&digits),
                digits: digits.into(),
            }
        }
        Kind::Exact => Value::Exact(hash(raw)),
        Kind::Unit => Value::Unit {
            code: hash(raw),
            province: current_province(raw).parse::<u16>().map_or(0, |p| p + 1),
            commune: raw.len() == 5,
        },
        Kind::Text => text(raw),
    }
}

fn text(raw: &str) -> Value {
    let folded = fold(raw);
    Value::Text {
        hash: hash(&folded),
        folded: folded.into(),
    }
}

fn parse_date(s: &str) -> Option<Value> {
    let b = s.as_bytes();
    if !b
        .iter()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || (b.len() == 10 && (i == 4 || i == 7) && *c == b'-'))
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> u16 {
        b[r].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
    };
    let mut digits = [0u8; 8];
    match b.len() {
        4 => {
            digits[..4].copy_from_slice(&b[..4]);
            Some(Value::Date {
                year: num(0..4),
                month_day: None,
                digits,
            })
        }
        10 if b[4] == b'-' && b[7] == b'-' => {
            digits[..4].copy_from_slice(&b[..4]);
            digits[4..6].copy_from_slice(&b[5..7]);
            digits[6..].copy_from_slice(&b[8..10]);
            Some(Value::Date {
                year: num(0..4),
                month_day: Some((num(5..7) as u8, num(8..10) as u8)),
                digits,
            })
        }
        _ => None,
    }
}

/// The current province of a commune (2 or 5 digit code, current or pre-2025) or province
/// code; empty when unknown.
pub fn current_province(code: &str) -> String {
    match code.len() {
        2 => {
            if units::current().province(code).is_some() {
                code.to_owned()
            } else {
                units::successor_province(code).map_or(String::new(), |p| p.code.clone())
            }
        }
        5 => {
            if let Some(c) = units::current().commune(code) {
                c.province_code.clone()
            } else if let Some(c) = units::pre_2025().commune(code) {
                units::successor_province(&c.province_code)
                    .map_or(String::new(), |p| p.code.clone())
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

/// How costly a comparator is, cheapest first: scoring evaluates cheap comparisons first
/// and stops once the pair cannot reach the threshold.
pub fn cost(kind: Kind) -> u8 {
    match kind {
        Kind::Exact | Kind::Id | Kind::Unit => 0,
        Kind::Date => 1,
        Kind::Name | Kind::Text => 2,
    }
}

/// The level at which `a` and `b` agree under `kind` (0: a side is null).
pub fn compare(kind: Kind, a: &Value, b: &Value) -> u8 {
    if a.is_null() || b.is_null() {
        return 0;
    }
    match (kind, a, b) {
        (Kind::Name, Value::Name(a), Value::Name(b)) => compare_names(a, b),
        (
            Kind::Date,
            Value::Date {
                year: ya,
                month_day: ma,
                digits: da,
            },
            Value::Date {
                year: yb,
                month_day: mb,
                digits: db,
            },
        ) => match (ma, mb) {
            (Some(x), Some(y)) if ya == yb && x == y => 1,
            (None, None) if ya == yb => 1,
            (Some((m1, d1)), Some((m2, d2))) if ya == yb && m1 == d2 && d1 == m2 => 2,
            (Some(x), Some(y))
                if (x == y && ya.abs_diff(*yb) == 1) || one_edit_same_bytes(da, db) =>
            {
                3
            }
            (None, _) | (_, None) if ya == yb => 4,
            _ if ya == yb => 5,
            _ => 6,
        },
        (
            Kind::Id,
            Value::Id {
                hash: ha,
                digits: a,
            },
            Value::Id {
                hash: hb,
                digits: b,
            },
        ) => {
            if ha == hb {
                1
            } else if one_edit_same_length(a, b) {
                2
            } else if a.len() == 12 && b.len() == 12 && a[..3] == b[..3] {
                3
            } else if (a.len() == 9 && b.len() == 12) || (a.len() == 12 && b.len() == 9) {
                4
            } else {
                5
            }
        }
        (Kind::Exact, Value::Exact(a), Value::Exact(b)) => {
            if a == b {
                1
            } else {
                2
            }
        }
        (
            Kind::Unit,
            Value::Unit {
                code: ca,
                province: pa,
                ..
            },
            Value::Unit {
                code: cb,
                province: pb,
                ..
            },
        ) => {
            if ca == cb {
                1
            } else if *pa != 0 && pa == pb {
                2
            } else {
                3
            }
        }
        (
            _,
            Value::Text {
                hash: ha,
                folded: a,
            },
            Value::Text {
                hash: hb,
                folded: b,
            },
        ) => {
            let last = kind.levels().len() as u8;
            if ha == hb {
                1
            } else if kind == Kind::Text && (jaro_winkler(a, b) >= 0.9 || word_overlap(a, b) >= 0.6)
            {
                2
            } else {
                last
            }
        }
        // Values of different shapes (a date that did not parse against one that did).
        _ => kind.levels().len() as u8,
    }
}

fn compare_names(a: &NameKey, b: &NameKey) -> u8 {
    if a.exact_hash == b.exact_hash {
        1
    } else if a.folded_hash == b.folded_hash {
        if diacritics_missing_only(&a.exact, &b.exact) {
            2
        } else {
            // Both sides carry diacritics and they differ (Hùng / Hưng): another name, as
            // close as one letter.
            4
        }
    } else if a.canonical_equals(b) || a.core_equals(b) || a.same_words(b) {
        3
    } else {
        let jw = jaro_winkler(&a.folded, &b.folded);
        if jw >= 0.92 || within_one_edit(&a.folded, &b.folded) {
            4
        } else if jw >= 0.80 {
            5
        } else {
            6
        }
    }
}

/// Whether two names with the same folded form differ only because one is written without
/// diacritics at all, or in Đ / D. A name written with diacritics whose marks differ
/// ("Anh" / "Ánh" beside "Nguyễn Văn") names someone else.
fn diacritics_missing_only(a: &str, b: &str) -> bool {
    if a.is_ascii() || b.is_ascii() {
        return true;
    }
    a.replace('đ', "d") == b.replace('đ', "d")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(kind: Kind, a: &str, b: &str) -> &'static str {
        let l = compare(kind, &prepare(kind, a), &prepare(kind, b));
        if l == 0 {
            "null"
        } else {
            kind.levels()[l as usize - 1]
        }
    }

    #[test]
    fn names() {
        let cases = [
            ("Nguyễn Văn An", "NGUYỄN VĂN AN", "exact"),
            ("Nguyễn Văn An", "Nguyen Van An", "folded"),
            ("Đặng Thị Hà", "Dang Thi Ha", "folded"),
            ("Huỳnh Văn Tài", "Hoàng Văn Tài", "variant"),
            ("Võ Thị Lan", "Vũ Thị Lan", "variant"),
            ("Nguyễn Văn An", "Nguyễn An", "variant"),
            ("chandler hamish", "hamish chandler", "variant"),
            ("Nguyễn Văn Anh", "Nguyễn Văn Ánh", "close"),
            ("Nguyễn Văn Hùng", "Nguyễn Văn Hưng", "close"),
            ("Nguyễn Văn Hùng", "Nguyen Van Hung", "folded"),
            ("Đỗ Văn Hùng", "Dỗ Văn Hùng", "folded"),
            ("Trần Thị Thu", "Trần Thị Thư", "close"),
            ("Trần Thị Thu", "Trần Thị Thuy", "close"),
            ("Trần Thị Thu", "Phạm Văn Đức", "different"),
            ("", "Phạm Văn Đức", "null"),
        ];
        for (a, b, want) in cases {
            assert_eq!(level(Kind::Name, a, b), want, "{a} / {b}");
        }
    }

    #[test]
    fn a_missing_diacritic_costs_less_than_a_letter() {
        // "folded" is a closer level than "close": the default model weighs it higher.
        let diacritic = compare(
            Kind::Name,
            &prepare(Kind::Name, "Lê Văn Nam"),
            &prepare(Kind::Name, "Le Van Nam"),
        );
        let letter = compare(
            Kind::Name,
            &prepare(Kind::Name, "Lê Văn Nam"),
            &prepare(Kind::Name, "Lê Văn Lam"),
        );
        assert!(diacritic < letter, "{diacritic} {letter}");
    }

    #[test]
    fn dates() {
        let cases = [
            ("1990-03-04", "1990-03-04", "exact"),
            ("1990-03-04", "1990-04-03", "day_month_swapped"),
            ("1990-03-04", "1991-03-04", "one_off"),
            ("1990-03-04", "1990-03-05", "one_off"),
            ("1990-03-04", "1990", "year_only"),
            ("1990", "1990", "exact"),
            ("1990-03-04", "1990-11-21", "same_year"),
            ("1990-03-04", "1975-11-21", "different"),
            ("1990-03-04", "", "null"),
        ];
        for (a, b, want) in cases {
            assert_eq!(level(Kind::Date, a, b), want, "{a} / {b}");
        }
    }

    #[test]
    fn ids() {
        let cases = [
            ("001090123456", "001090123456", "exact"),
            ("001090123456", "001090123457", "one_edit"),
            ("001090123456", "001090123546", "one_edit"),
            ("001090123456", "001190654321", "same_birth_province"),
            ("001090123456", "012345678", "cmnd_cccd"),
            ("001090123456", "079190654321", "different"),
            ("001090123456", "", "null"),
        ];
        for (a, b, want) in cases {
            assert_eq!(level(Kind::Id, a, b), want, "{a} / {b}");
        }
    }

    #[test]
    fn units_across_the_reorganisation() {
        // 00001 (Phường Phúc Xá, Hà Nội, pre-2025) and a current Hà Nội commune agree on the province.
        assert_eq!(level(Kind::Unit, "00004", "00004"), "exact");
        let hanoi: Vec<_> = units::current()
            .communes
            .iter()
            .filter(|c| c.province_code == "01")
            .take(2)
            .collect();
        assert_eq!(
            level(Kind::Unit, &hanoi[0].code, &hanoi[1].code),
            "same_province"
        );
        // An old province code and its successor (Hà Giang 02 → Tuyên Quang 08).
        assert_eq!(level(Kind::Unit, "02", "08"), "same_province");
        assert_eq!(level(Kind::Unit, "01", "79"), "different");
    }
}
