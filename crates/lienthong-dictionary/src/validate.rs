//! Record validation: each field through its element's check, then the dataset's
//! cross-field checks. `Validator::validate` is `&self` and allocation-light so callers may
//! run it on several threads; state across records (duplicate keys) is in [`KeyTracker`].

use std::collections::{HashMap, HashSet};

use crate::catalog::{element, Dataset};
use crate::element::{check, check_into, Element, Out};
use crate::finding::{Finding, Severity};

/// What validation needs from outside the record.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Today's date (ISO); dates after it are errors. Empty disables the check.
    pub today: String,
    /// Personal IDs with a death event, for [`CrossCheck::NotDeceasedWhenActive`].
    pub deceased: Option<HashSet<String>>,
    /// The keys of other registers, by dataset name, for [`CrossCheck::InRegister`]; a
    /// register not given is not checked.
    pub registers: HashMap<String, HashSet<String>>,
}

/// The verdict on one record.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Normalised values in dataset field order.
    pub values: Vec<String>,
    pub findings: Vec<Finding>,
    /// The record's key digested for a [`KeyTracker`], when the validator was given its
    /// digester ([`Validator::with_key_digests`]) and the record has a whole key.
    pub key_digest: Option<KeyDigest>,
}

impl Outcome {
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

mod cross;

pub use cross::personal_id_structure;
use cross::Cross;

pub struct Validator {
    pub dataset: &'static Dataset,
    elements: Vec<&'static Element>,
    /// The dataset's cross-field checks with their fields resolved to indices.
    checks: Vec<Cross>,
    /// Indices of the date fields (checked against `options.today`).
    dates: Vec<usize>,
    /// Per field, whether its results are memoised (see [`memo_pays`]).
    memoised: Vec<bool>,
    options: Options,
    /// Digests each record's key for a [`KeyTracker`] (see [`Validator::with_key_digests`]).
    key_digester: Option<KeyDigester>,
}

/// Which fields of the record have an error finding (bit `i` for field `i`): kept while
/// the record is checked so that a cross-field rule never searches the findings.
#[derive(Clone, Copy, Default)]
struct Invalid(u64);

impl Invalid {
    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }
    fn set(&mut self, i: usize) {
        self.0 |= 1 << i;
    }
}

/// The most fields a dataset may have (one bit each in [`Invalid`]).
pub const FIELDS_MAX: usize = 64;

impl Validator {
    pub fn new(dataset: &'static Dataset, options: Options) -> Self {
        assert!(
            dataset.fields.len() <= FIELDS_MAX,
            "dataset {} has more than {FIELDS_MAX} fields",
            dataset.name
        );
        let elements: Vec<&'static Element> = dataset
            .fields
            .iter()
            .map(|f| element(f.element).expect("shipped datasets bind to known elements (tested)"))
            .collect();
        let dates = elements
            .iter()
            .enumerate()
            .filter(|(_, el)| matches!(el.kind, crate::element::Kind::Date { .. }))
            .map(|(i, _)| i)
            .collect();
        Validator {
            dataset,
            memoised: elements.iter().map(|el| memo_pays(&el.kind)).collect(),
            checks: dataset
                .checks
                .iter()
                .map(|c| Cross::resolve(dataset, c))
                .collect(),
            dates,
            elements,
            options,
            key_digester: None,
        }
    }

    /// Also digests each record's key for the tracker `digester` came from
    /// ([`KeyTracker::digester`]), into [`Outcome::key_digest`]: the hashing then runs on the
    /// threads that validate, and the tracker, which sees records one at a time in order,
    /// only looks the digest up.
    pub fn with_key_digests(mut self, digester: KeyDigester) -> Self {
        self.key_digester = Some(digester);
        self
    }

    /// The digest of `values`' key for this validator's tracker, if it was given one.
    pub(crate) fn key_digest(&self, values: &[String]) -> Option<KeyDigest> {
        self.key_digester
            .as_ref()
            .and_then(|d| d.digest(self.dataset, values))
    }

    /// Validates one record given as raw values in dataset field order (empty = absent).
    pub fn validate(&self, raw: &[&str]) -> Outcome {
        let mut out = Outcome::default();
        self.validate_into(raw, &mut out);
        out
    }

    /// [`Validator::validate`] into `out`, whatever it held: its strings are reused (a run
    /// that hands outcomes back allocates little per record).
    pub fn validate_into<S: AsRef<str>>(&self, raw: &[S], out: &mut Outcome) {
        debug_assert_eq!(raw.len(), self.dataset.fields.len());
        out.findings.clear();
        out.values.truncate(raw.len());
        out.values.resize(raw.len(), String::new());
        let mut invalid = Invalid::default();
        let Outcome {
            values, findings, ..
        } = out;
        crate::memo::with(|memo| {
            let fields = self.dataset.fields.iter().zip(&self.elements);
            let cells = fields.zip(raw).zip(values.iter_mut()).enumerate();
            for (i, (((field, el), value), slot)) in cells {
                let value = value.as_ref();
                if is_blank(value) {
                    if field.mandatory {
                        findings.push(Finding::new(
                            field.name,
                            "mandatory.missing",
                            Severity::Error,
                            "mandatory field is empty",
                        ));
                        invalid.set(i);
                    }
                    slot.clear();
                    continue;
                }
                let before = findings.len();
                let run = |findings: &mut Vec<Finding>| {
                    let mut o = Out {
                        field: field.name,
                        findings,
                    };
                    check(&el.kind, &field.opts, value, &mut o)
                };
                if self.memoised[i] {
                    // The field's `'static` address names its element and options: the key.
                    let key = std::ptr::from_ref(field) as usize;
                    memo.check_into(key, value, findings, slot, run);
                } else {
                    let mut o = Out {
                        field: field.name,
                        findings,
                    };
                    check_into(&el.kind, &field.opts, value, &mut o, slot);
                }
                if findings[before..]
                    .iter()
                    .any(|f| f.severity == Severity::Error)
                {
                    invalid.set(i);
                }
            }
        });
        if !self.options.today.is_empty() {
            for &i in &self.dates {
                let v = out.values[i].as_str();
                // ISO strings compare in date order; a bare year compares below its own days.
                if !v.is_empty() && v > self.options.today.as_str() && !invalid.has(i) {
                    out.findings.push(Finding::new(
                        self.dataset.fields[i].name,
                        "date.future",
                        Severity::Error,
                        "date is in the future",
                    ));
                    invalid.set(i);
                }
            }
        }
        for c in &self.checks {
            self.cross(c, out, &mut invalid);
        }
        out.key_digest = self.key_digest(&out.values);
    }
}

/// Whether remembering a kind's results pays: not for kinds whose values rarely repeat
/// (ids, phone numbers, e-mail addresses, timestamps, amounts) nor for dates, whose check
/// in the usual form costs less than a lookup in a table of tens of thousands of dates
/// (a lookup that misses the cache). Names, addresses, text and codes are remembered.
fn memo_pays(kind: &crate::element::Kind) -> bool {
    use crate::element::Kind as K;
    !matches!(
        kind,
        K::PersonalId
            | K::OldId
            | K::Date { .. }
            | K::Timestamp
            | K::Phone
            | K::Email
            | K::AmountVnd
            | K::Decimal { .. }
    )
}

/// Whether a value is empty or only whitespace (absent). Most values begin with a visible
/// ASCII character, which settles it without a scan.
fn is_blank(value: &str) -> bool {
    match value.as_bytes().first() {
        None => true,
        Some(&b) if b > b' ' && b < 0x80 => false,
        Some(_) => value.trim().is_empty(),
    }
}

/// Remembers keys across records to report duplicates. Each key is kept as a digest (two
/// SipHash-1-3 hashes under keys drawn at random for this tracker, 88 bits of them kept),
/// not as the key itself, packed with the record that first had it in 16 bytes — 10 M
/// records fit in a few hundred MB. Two different keys share a digest with probability
/// about n²/2⁸⁹ (10⁻¹³ at 10 M records, 10⁻¹¹ at 100 M), and since the hash keys are secret
/// to the process, keys cannot be made to collide on purpose. Record numbers are kept up
/// to 2⁴⁰ − 1 (a trillion); a later first record is named as that.
#[derive(Default)]
pub struct KeyTracker {
    digester: KeyDigester,
    /// The digest in the high 88 bits, the record in the low [`RECORD_BITS`].
    seen: hashbrown::HashTable<u128>,
}

/// A [`KeyTracker`]'s hash keys: digests a record's key wherever it is validated.
#[derive(Clone)]
pub struct KeyDigester {
    hashers: [std::collections::hash_map::RandomState; 2],
    /// Tells this digester's trackers apart (drawn from its random hash keys).
    id: u64,
}

impl Default for KeyDigester {
    /// Hash keys drawn at random.
    fn default() -> Self {
        use std::hash::BuildHasher;
        let hashers: [std::collections::hash_map::RandomState; 2] = Default::default();
        let id = hashers[0].hash_one(0x6c74_u16);
        KeyDigester { hashers, id }
    }
}

/// A record's key as a [`KeyTracker`] keeps it, with the tracker it was digested for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDigest {
    /// Which tracker's hash keys made it (a digest made for another is not used).
    tracker: u64,
    parts: [u64; 2],
}

impl KeyDigester {
    /// The digest of the record's key (its normalised `values`), hashed part by part
    /// without joining it into a string; `None` when a key part is empty.
    pub fn digest(&self, dataset: &Dataset, values: &[String]) -> Option<KeyDigest> {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut hashers = self.hashers.each_ref().map(|h| h.build_hasher());
        for k in dataset.key {
            let v = values.get(dataset.index(k)?)?;
            if v.is_empty() {
                return None;
            }
            // `str`'s `Hash` ends each part with a marker: parts cannot run into each other.
            hashers.iter_mut().for_each(|h| v.as_str().hash(h));
        }
        Some(KeyDigest {
            tracker: self.id,
            parts: hashers.map(|h| h.finish()),
        })
    }
}

/// Bits of a [`KeyTracker`] entry that hold the record.
const RECORD_BITS: u32 = 40;
const RECORD_MASK: u128 = (1 << RECORD_BITS) - 1;

impl KeyTracker {
    /// A tracker with room for `keys` keys before its table grows (each growth moves
    /// every key into a table twice the size, on fresh memory).
    pub fn with_capacity(keys: usize) -> Self {
        KeyTracker {
            digester: KeyDigester::default(),
            seen: hashbrown::HashTable::with_capacity(keys),
        }
    }

    /// This tracker's hash keys, for [`Validator::with_key_digests`].
    pub fn digester(&self) -> KeyDigester {
        self.digester.clone()
    }

    /// Records `key` for `record`; returns the earlier record with the same key, if any.
    pub fn observe(&mut self, key: String, record: u64) -> Option<u64> {
        use std::hash::BuildHasher;
        let digest = self
            .digester
            .hashers
            .each_ref()
            .map(|h| h.hash_one(key.as_str()));
        self.observe_digest(digest, record)
    }

    /// [`KeyTracker::observe`] for the key of a validated record ([`record_key`]), hashed
    /// part by part without joining it into a string — or its digest, when the validator
    /// made one for this tracker; `None` also when it has no key.
    pub fn observe_record(
        &mut self,
        dataset: &Dataset,
        outcome: &Outcome,
        record: u64,
    ) -> Option<u64> {
        let digest = match outcome.key_digest {
            Some(d) if d.tracker == self.digester.id => d,
            _ => self.digester.digest(dataset, &outcome.values)?,
        };
        self.observe_digest(digest.parts, record)
    }

    fn observe_digest(&mut self, digest: [u64; 2], record: u64) -> Option<u64> {
        use hashbrown::hash_table::Entry;
        let key = ((u128::from(digest[0]) << 64) | u128::from(digest[1])) & !RECORD_MASK;
        // The digest's first 64 bits are uniform: they place it in the table.
        let place = |e: &u128| (e >> 64) as u64;
        match self
            .seen
            .entry(digest[0], |e| e & !RECORD_MASK == key, place)
        {
            Entry::Occupied(e) => Some((e.get() & RECORD_MASK) as u64),
            Entry::Vacant(e) => {
                e.insert(key | u128::from(record).min(RECORD_MASK));
                None
            }
        }
    }
}

/// The key of a validated record (normalised values joined), or `None` when a key part is
/// empty.
pub fn record_key(dataset: &Dataset, outcome: &Outcome) -> Option<String> {
    let mut key = String::new();
    for (n, k) in dataset.key.iter().enumerate() {
        let v = &outcome.values[dataset.index(k)?];
        if v.is_empty() {
            return None;
        }
        if n > 0 {
            key.push('\u{1f}');
        }
        key.push_str(v);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CITIZEN, HEALTH_INSURANCE};

    fn citizen(values: [&str; 13]) -> Outcome {
        Validator::new(
            &CITIZEN,
            Options {
                today: "2026-11-23".into(),
                deceased: None,
                registers: Default::default(),
            },
        )
        .validate(&values)
    }

    const CLEAN: [&str; 13] = [
        "001090123456",
        "Nguyễn Văn An",
        "1990-03-25",
        "1",
        "01",
        "",
        "VN",
        "01",
        "00004",
        "Số 12, Phố Quán Thánh, Phường Ba Đình, Thành phố Hà Nội",
        "0912345678",
        "an@example.vn",
        "2025-08-01T10:00:00+07:00",
    ];

    #[test]
    fn a_clean_citizen_has_no_findings() {
        let o = citizen(CLEAN);
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        assert_eq!(o.values[10], "+84912345678");
    }

    #[test]
    fn cross_field_rules() {
        let cases: Vec<(usize, &str, &str)> = vec![
            (0, "001290123456", "personal_id.structure"),
            (0, "099090123456", "personal_id.structure"),
            (2, "1991-03-25", "personal_id.structure"),
            (3, "2", "personal_id.structure"),
            (8, "00691", "commune_code.not_in_province"),
            (
                9,
                "Số 12, Phường Hồng Hà, Thành phố Hà Nội",
                "address.unit_mismatch",
            ),
            (2, "2030-01-01", "date.future"),
            (1, "", "mandatory.missing"),
        ];
        for (i, v, rule) in cases {
            let mut rec = CLEAN;
            rec[i] = v;
            let o = citizen(rec);
            assert!(
                o.findings.iter().any(|f| f.rule == rule),
                "{v}: {:?}",
                o.findings
            );
        }
    }

    #[test]
    fn ethnicity_label_detects_the_other_ordering() {
        let v = Validator::new(&HEALTH_INSURANCE, Options::default());
        let rec = [
            "DN4010123456789",
            "001090123456",
            "Đinh Văn Hùng",
            "1990-03-25",
            "1",
            "04",
            "Mường",
            "2025-01-01",
            "2025-12-31",
            "01",
        ];
        let o = v.validate(&rec);
        assert_eq!(o.values[5], "06");
        assert!(
            o.findings
                .iter()
                .any(|f| f.rule == "ethnicity.other_ordering"),
            "{:?}",
            o.findings
        );
    }

    #[test]
    fn duplicates_are_tracked_by_the_record_key() {
        let mut t = KeyTracker::default();
        let rec = |pid: &str| {
            let mut r = CLEAN;
            r[0] = pid;
            citizen(r)
        };
        assert_eq!(t.observe_record(&CITIZEN, &rec("001090123456"), 1), None);
        assert_eq!(t.observe_record(&CITIZEN, &rec("001090123457"), 2), None);
        assert_eq!(
            t.observe_record(&CITIZEN, &rec(" 001090123456"), 3),
            Some(1)
        );
        assert_eq!(t.observe_record(&CITIZEN, &rec(""), 4), None, "no key");
        assert_eq!(t.observe_record(&CITIZEN, &rec(""), 5), None, "no key");
    }

    /// Keys digested by the validator (on the workers) find the same duplicates as keys
    /// digested by the tracker; a digest made for another tracker is not trusted.
    #[test]
    fn keys_digested_by_the_validator_find_the_same_duplicates() {
        let mut by_validator = KeyTracker::default();
        let mut by_tracker = KeyTracker::default();
        let other = KeyTracker::default();
        let digesting =
            Validator::new(&CITIZEN, Options::default()).with_key_digests(by_validator.digester());
        let foreign =
            Validator::new(&CITIZEN, Options::default()).with_key_digests(other.digester());
        let plain = Validator::new(&CITIZEN, Options::default());
        let pids = [
            "001090123456",
            "001090123457",
            " 001090123456",
            "",
            "001090123457",
        ];
        for (i, pid) in pids.iter().enumerate() {
            let mut r = CLEAN;
            r[0] = pid;
            let o = digesting.validate(&r);
            assert_eq!(o.key_digest.is_some(), !pid.is_empty(), "record {i}");
            assert_eq!(plain.validate(&r).key_digest, None);
            let record = i as u64 + 1;
            let want = by_tracker.observe_record(&CITIZEN, &plain.validate(&r), record);
            assert_eq!(by_validator.observe_record(&CITIZEN, &o, record), want);
        }
        // Records 3 and 5 repeat the keys of 1 and 2.
        let mut t = KeyTracker::default();
        let mut firsts = Vec::new();
        for (i, pid) in pids.iter().enumerate() {
            let mut r = CLEAN;
            r[0] = pid;
            // Digested for `other`: this tracker hashes the key itself.
            firsts.push(t.observe_record(&CITIZEN, &foreign.validate(&r), i as u64 + 1));
        }
        assert_eq!(firsts, [None, None, Some(1), None, Some(2)]);
    }

    #[test]
    fn duplicates_are_tracked_by_key() {
        let mut t = KeyTracker::default();
        assert_eq!(t.observe("a".into(), 1), None);
        assert_eq!(t.observe("b".into(), 2), None);
        assert_eq!(t.observe("a".into(), 3), Some(1));
        // Record numbers up to the bound are kept as they are, later ones as the bound.
        let big = (1u64 << RECORD_BITS) - 1;
        assert_eq!(t.observe("c".into(), big), None);
        assert_eq!(t.observe("c".into(), big + 9), Some(big));
        assert_eq!(t.observe("d".into(), big + 5), None);
        assert_eq!(t.observe("d".into(), big + 6), Some(big));
        // Many keys, presized or not: each one's first record comes back.
        for mut t in [KeyTracker::default(), KeyTracker::with_capacity(10)] {
            for i in 0..50_000u64 {
                assert_eq!(t.observe(i.to_string(), i + 1), None);
            }
            for i in (0..50_000u64).step_by(7) {
                assert_eq!(t.observe(i.to_string(), 60_000), Some(i + 1));
            }
        }
    }
}
