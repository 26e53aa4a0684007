//! The change model every source produces and every sink consumes. Pure: no I/O.
//!
//! A change carries a deterministic id, unique within its pipeline and ordered like the
//! source's own log (fixed width, so byte order is log order). A batch ends at a position
//! the source can resume from; applying a batch twice has the effect of applying it once.

use std::collections::HashMap;

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Insert or update: `values` holds the new record.
    Upsert,
    /// The record with `key` is gone.
    Delete,
    /// Every record of the source table is gone (PostgreSQL `TRUNCATE`).
    Truncate,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
            Op::Truncate => "truncate",
        }
    }
}

/// One change of one record, as the source wrote it (not yet validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub op: Op,
    /// Deterministic id: `(source, position)` in fixed-width form; byte order = log order.
    pub id: String,
    /// Raw values in dataset field order (`""` = absent or NULL); for a delete only the key
    /// fields are filled.
    pub values: Vec<String>,
    /// When the source committed it (ms since the Unix epoch), when the source knows.
    pub committed_at_ms: Option<i64>,
    /// Why the source could not read this change whole: it goes to quarantine with this
    /// reason whatever its values.
    pub defect: Option<String>,
    /// The source reported an insert: the record did not exist there before this change. A
    /// hint only (the replica may try a plain insert first and upserts when the key exists).
    pub inserted: bool,
}

/// Changes in source order up to a position the source can resume from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub changes: Vec<Change>,
    /// The source position after this batch (opaque to everything but its source). An
    /// empty batch with a new position is a heartbeat: the source moved past changes that
    /// were not ours.
    pub position: String,
    /// The batch belongs to the initial snapshot.
    pub snapshot: bool,
    /// The batch is the first of a fresh initial snapshot: the replica table starts empty.
    pub snapshot_start: bool,
}

/// The key of a record: its key fields joined by U+001F (which no valid key contains).
pub fn key_of(values: &[String], key_indexes: &[usize]) -> String {
    let mut k = String::new();
    for (n, &i) in key_indexes.iter().enumerate() {
        if n > 0 {
            k.push('\u{1f}');
        }
        k.push_str(values.get(i).map(String::as_str).unwrap_or(""));
    }
    k
}

/// What a batch does to the replica once its invalid changes are set aside: per key only
/// the last valid change counts, since the whole batch commits in one transaction.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Net<'a> {
    /// Keys whose last valid change is a delete, with the normalised key record.
    pub deletes: Vec<(&'a Change, &'a [String])>,
    /// Keys whose last valid change is an upsert, with the normalised values.
    pub upserts: Vec<(&'a Change, &'a [String])>,
    /// Upserts whose key's first change in the run is an insert at the source: the replica
    /// is not expected to hold them yet (kept apart from `upserts`).
    pub inserts: Vec<(&'a Change, &'a [String])>,
}

/// Reduces `changes` (in source order, none of them a truncate) to their net effect.
/// `values[i]` are change `i`'s normalised values (for a delete, its normalised key record),
/// `keys[i]` its normalised key, and `valid[i]` says whether it takes effect at all: keys are
/// compared as the replica stores them, so `ab123` and `AB123` are one record.
pub fn net<'a>(
    changes: &'a [Change],
    values: &'a [Vec<String>],
    valid: &[bool],
    keys: &[String],
) -> Net<'a> {
    debug_assert!(changes.len() == values.len() && changes.len() == valid.len());
    debug_assert_eq!(changes.len(), keys.len());
    // Per key: its first change in the run, and its last valid one.
    let mut seen: HashMap<&str, (usize, Option<usize>), foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(changes.len(), Default::default());
    for (i, c) in changes.iter().enumerate() {
        debug_assert!(c.op != Op::Truncate, "truncates split batches");
        let (_, last) = seen.entry(&keys[i]).or_insert((i, None));
        if valid[i] {
            *last = Some(i);
        }
    }
    let mut winners: Vec<(usize, bool)> = seen
        .into_values()
        .filter_map(|(first, last)| last.map(|i| (i, changes[first].inserted)))
        .collect();
    winners.sort_unstable();
    let mut out = Net::default();
    for (i, new) in winners {
        let row = (&changes[i], values[i].as_slice());
        match changes[i].op {
            Op::Upsert if new => out.inserts.push(row),
            Op::Upsert => out.upserts.push(row),
            _ => out.deletes.push(row),
        }
    }
    out
}

/// A log position as fixed-width upper-case hex, so that byte order is numeric order.
pub fn hex16(n: u64) -> String {
    format!("{n:016X}")
}

/// Ms since the Unix epoch of an RFC 3339 timestamp (`YYYY-MM-DD[T ]HH:MM:SS[.f][Z|±HH:MM]`;
/// no offset = Vietnam time, as the dictionary reads it). `None` when it is not one.
pub fn timestamp_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(b.get(r)?).ok()?.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        let digits = std::str::from_utf8(&frac[..n.min(3)]).ok()?;
        ms = format!("{digits:0<3}").parse().ok()?;
        rest = &frac[n..];
    }
    let offset_s = match rest {
        [] => 7 * 3600,
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let v = std::str::from_utf8(&[*h1, *h2]).ok()?.parse::<i64>().ok()? * 3600
                + std::str::from_utf8(&[*m1, *m2]).ok()?.parse::<i64>().ok()? * 60;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        [sign @ (b'+' | b'-'), h1, h2] => {
            let v = std::str::from_utf8(&[*h1, *h2]).ok()?.parse::<i64>().ok()? * 3600;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days =
        lienthong_core::time::days_from_civil(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_s) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(op: Op, id: &str, key: &str, name: &str) -> Change {
        Change {
            op,
            id: id.into(),
            values: vec![key.into(), name.into()],
            committed_at_ms: None,
            defect: None,
            inserted: false,
        }
    }

    #[test]
    fn the_last_valid_change_per_key_wins_and_invalid_ones_change_nothing() {
        let changes = vec![
            change(Op::Upsert, "1", "a", "A1"),
            change(Op::Upsert, "2", "b", "B1"),
            change(Op::Delete, "3", "a", ""),
            change(Op::Upsert, "4", "b", "bad"),
            change(Op::Upsert, "5", "c", "C1"),
            change(Op::Upsert, "6", "a", "A2"),
        ];
        let values: Vec<Vec<String>> = changes.iter().map(|c| c.values.clone()).collect();
        let keys: Vec<String> = changes.iter().map(|c| key_of(&c.values, &[0])).collect();
        let valid = [true, true, true, false, true, true];
        let n = net(&changes, &values, &valid, &keys);
        let ups: Vec<&str> = n.upserts.iter().map(|(c, _)| c.id.as_str()).collect();
        assert_eq!(
            ups,
            ["2", "5", "6"],
            "b keeps its valid value, a is re-inserted"
        );
        assert!(n.deletes.is_empty());

        let valid = [true, true, true, true, true, false];
        let n = net(&changes, &values, &valid, &keys);
        let dels: Vec<&str> = n.deletes.iter().map(|(c, _)| c.id.as_str()).collect();
        assert_eq!(dels, ["3"], "the invalid re-insert leaves a deleted");
    }

    /// An upsert is expected new when its key's first change in the run was an insert at
    /// the source, whatever came after it; a key deleted or updated first was held before.
    #[test]
    fn upserts_of_keys_first_inserted_in_the_run_are_expected_new() {
        let inserted = |id, key, name| Change {
            inserted: true,
            ..change(Op::Upsert, id, key, name)
        };
        let changes = vec![
            inserted("1", "a", "A1"),
            change(Op::Upsert, "2", "a", "A2"),
            change(Op::Upsert, "3", "b", "B1"),
            change(Op::Delete, "4", "c", ""),
            inserted("5", "c", "C1"),
            inserted("6", "d", "bad"),
            change(Op::Upsert, "7", "d", "D1"),
            inserted("8", "e", "E1"),
        ];
        let values: Vec<Vec<String>> = changes.iter().map(|c| c.values.clone()).collect();
        let keys: Vec<String> = changes.iter().map(|c| key_of(&c.values, &[0])).collect();
        let valid = [true, true, true, true, true, false, true, true];
        let n = net(&changes, &values, &valid, &keys);
        let ids =
            |v: &[(&Change, &[String])]| v.iter().map(|(c, _)| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(&n.inserts),
            ["2", "7", "8"],
            "a, d and e were inserted first"
        );
        assert_eq!(
            ids(&n.upserts),
            ["3", "5"],
            "b was held before, c deleted first"
        );
        assert!(n.deletes.is_empty());
        assert_eq!(n.inserts[0].1, ["a", "A2"], "with the last valid values");
    }

    #[test]
    fn composite_keys_join_with_a_separator_no_value_contains() {
        let v = vec!["p1".to_owned(), "x".to_owned(), "001".to_owned()];
        assert_eq!(key_of(&v, &[0, 2]), "p1\u{1f}001");
        assert_eq!(key_of(&v, &[5]), "", "a missing field is an empty part");
    }

    #[test]
    fn timestamps_to_epoch_ms() {
        for (text, want) in [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("1970-01-01T07:00:00+07:00", Some(0)),
            ("1970-01-01 07:00:00", Some(0)),
            ("2025-08-01T10:00:00+07:00", Some(1_754_017_200_000)),
            ("2025-08-01 03:00:00.25+00", Some(1_754_017_200_250)),
            ("2000-02-29T00:00:00-0130", Some(951_787_800_000)),
            ("2025-13-01T00:00:00Z", None),
            ("2025-08-01", None),
            ("hôm qua", None),
            ("2025-08-01T10:00:00+7", None),
        ] {
            assert_eq!(timestamp_ms(text), want, "{text}");
        }
    }

    #[test]
    fn fixed_width_hex_sorts_like_numbers() {
        let mut v = [hex16(255), hex16(16), hex16(u64::MAX), hex16(0)];
        v.sort();
        assert_eq!(v, [hex16(0), hex16(16), hex16(255), hex16(u64::MAX)]);
    }
}
