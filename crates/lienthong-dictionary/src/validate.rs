//! Record validation: each field through its element's check, then the dataset's
//! cross-field checks. `Validator::validate` is `&self` and allocation-light so callers may
//! run it on several threads; state across records (duplicate keys) is in [`KeyTracker`].

use std::collections::{HashMap, HashSet};

use crate::catalog::{element, CrossCheck, Dataset};
use crate::codes::{self, CodeSystem};
use crate::element::{check, parse_address, Element, Out};
use crate::finding::{Finding, Severity};
use crate::units;
use crate::vn::fold_key;

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
}

impl Outcome {
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

pub struct Validator {
    pub dataset: &'static Dataset,
    elements: Vec<&'static Element>,
    options: Options,
}

impl Validator {
    pub fn new(dataset: &'static Dataset, options: Options) -> Self {
        let elements = dataset
            .fields
            .iter()
            .map(|f| element(f.element).expect("shipped datasets bind to known elements (tested)"))
            .collect();
        Validator {
            dataset,
            elements,
            options,
        }
    }

    /// Validates one record given as raw values in dataset field order (empty = absent).
    pub fn validate(&self, raw: &[&str]) -> Outcome {
        let mut out = Outcome::default();
        self.validate_into(raw, &mut out);
        out
    }

    /// [`Validator::validate`] into `out`, whatever it held: its strings are reused (a run
    /// that hands outcomes back allocates little per record).
    pub fn validate_into(&self, raw: &[&str], out: &mut Outcome) {
        debug_assert_eq!(raw.len(), self.dataset.fields.len());
        out.findings.clear();
        out.values.truncate(raw.len());
        out.values.resize(raw.len(), String::new());
        let Outcome { values, findings } = out;
        crate::memo::with(|memo| {
            let fields = self.dataset.fields.iter().zip(&self.elements);
            for (((field, el), value), slot) in fields.zip(raw).zip(values.iter_mut()) {
                if value.trim().is_empty() {
                    if field.mandatory {
                        findings.push(Finding::new(
                            field.name,
                            "mandatory.missing",
                            Severity::Error,
                            "mandatory field is empty",
                        ));
                    }
                    slot.clear();
                    continue;
                }
                // The field's `'static` address names its element and options: the memo's key.
                let key = std::ptr::from_ref(field) as usize;
                memo.check_into(key, value, findings, slot, |findings| {
                    let mut o = Out {
                        field: field.name,
                        findings,
                    };
                    check(&el.kind, &field.opts, value, &mut o)
                });
            }
        });
        if !self.options.today.is_empty() {
            for (i, (field, el)) in self.dataset.fields.iter().zip(&self.elements).enumerate() {
                let v = out.values[i].as_str();
                let is_date = matches!(el.kind, crate::element::Kind::Date { .. });
                // ISO strings compare in date order; a bare year compares below its own days.
                if is_date
                    && !v.is_empty()
                    && v > self.options.today.as_str()
                    && field_valid(&out.findings, field.name)
                {
                    out.findings.push(Finding::new(
                        field.name,
                        "date.future",
                        Severity::Error,
                        "date is in the future",
                    ));
                }
            }
        }
        for c in self.dataset.checks {
            self.cross(c, out);
        }
    }

    fn value<'a>(&self, out: &'a Outcome, name: &str) -> Option<&'a str> {
        let i = self.dataset.index(name)?;
        let v = out.values[i].as_str();
        (!v.is_empty() && field_valid(&out.findings, self.dataset.fields[i].name)).then_some(v)
    }

    fn cross(&self, check: &CrossCheck, out: &mut Outcome) {
        let finding = match *check {
            CrossCheck::PersonalIdStructure {
                id,
                birth_date,
                sex,
            } => {
                let (Some(pid), Some(birth)) = (self.value(out, id), self.value(out, birth_date))
                else {
                    return;
                };
                let sex = sex.and_then(|s| self.value(out, s));
                personal_id_structure(pid, birth, sex).map(|m| {
                    Finding::new(
                        field_name(self.dataset, id),
                        "personal_id.structure",
                        Severity::Warning,
                        m,
                    )
                })
            }
            CrossCheck::CommuneInProvince { commune, province } => {
                let (Some(c), Some(p)) = (self.value(out, commune), self.value(out, province))
                else {
                    return;
                };
                units::current()
                    .commune(c)
                    .filter(|unit| unit.province_code != p)
                    .map(|unit| {
                        Finding::new(
                            field_name(self.dataset, commune),
                            "commune_code.not_in_province",
                            Severity::Error,
                            format!(
                                "commune {c} belongs to province {}, not {p}",
                                unit.province_code
                            ),
                        )
                    })
            }
            CrossCheck::AddressAgrees {
                address,
                commune,
                province,
            } => {
                let Some(addr) = self.value(out, address) else {
                    return;
                };
                let commune = commune
                    .and_then(|c| self.value(out, c))
                    .and_then(|c| units::current().commune(c));
                let province = self
                    .value(out, province)
                    .and_then(|p| units::current().province(p));
                address_agrees(addr, commune, province).map(|m| {
                    Finding::new(
                        field_name(self.dataset, address),
                        "address.unit_mismatch",
                        Severity::Warning,
                        m,
                    )
                })
            }
            CrossCheck::EthnicityLabel { code, label } => {
                let i = self.dataset.index(code).unwrap_or(0);
                let system = self.dataset.fields[i].opts.ethnicity;
                let (Some(c), Some(l)) = (self.value(out, code), self.value(out, label)) else {
                    return;
                };
                let (c, l) = (c.to_owned(), l.to_owned());
                match ethnicity_label(&c, &l, system) {
                    LabelVerdict::Agrees => None,
                    LabelVerdict::OtherOrdering(recoded) => {
                        out.values[i] = recoded.to_owned();
                        Some(Finding::new(
                            field_name(self.dataset, code),
                            "ethnicity.other_ordering",
                            Severity::Repaired,
                            format!("code {c} is '{l}' in the other ethnic ordering; recoded to {recoded} ({})", system.id),
                        ))
                    }
                    LabelVerdict::Mismatch => Some(Finding::new(
                        field_name(self.dataset, code),
                        "ethnicity.label_mismatch",
                        Severity::Error,
                        format!(
                            "code {c} does not match the ethnic name in the record ({})",
                            system.id
                        ),
                    )),
                }
            }
            CrossCheck::NotDeceasedWhenActive { id, status } => {
                let Some(deceased) = &self.options.deceased else {
                    return;
                };
                let (Some(pid), Some(st)) = (self.value(out, id), self.value(out, status)) else {
                    return;
                };
                (st == "active" && deceased.contains(pid)).then(|| {
                    Finding::new(
                        field_name(self.dataset, status),
                        "status.deceased_active",
                        Severity::Error,
                        "active although the civil-status register records a death",
                    )
                })
            }
            CrossCheck::InRegister { field, register } => {
                let (Some(keys), Some(v)) =
                    (self.options.registers.get(register), self.value(out, field))
                else {
                    return;
                };
                (!keys.contains(v)).then(|| {
                    Finding::new(
                        field_name(self.dataset, field),
                        "reference.not_in_register",
                        Severity::Error,
                        format!("{v} is not in the {register} register given as reference"),
                    )
                })
            }
            CrossCheck::DateOrder { from, to } => {
                let (Some(a), Some(b)) = (self.value(out, from), self.value(out, to)) else {
                    return;
                };
                (a > b).then(|| {
                    Finding::new(
                        field_name(self.dataset, to),
                        "date.order",
                        Severity::Error,
                        format!("{to} is before {from}"),
                    )
                })
            }
        };
        out.findings.extend(finding);
    }
}

fn field_name(dataset: &Dataset, name: &str) -> &'static str {
    dataset.field(name).map_or("record", |f| f.name)
}

fn field_valid(findings: &[Finding], field: &str) -> bool {
    !findings
        .iter()
        .any(|f| f.field == field && f.severity == Severity::Error)
}

/// Checks `PPP G YY` against birth date (`YYYY…`) and sex; `Some(message)` on mismatch.
pub fn personal_id_structure(pid: &str, birth: &str, sex: Option<&str>) -> Option<String> {
    if pid.len() != 12
        || !pid.bytes().all(|b| b.is_ascii_digit())
        || !birth
            .as_bytes()
            .get(..4)
            .is_some_and(|y| y.iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let mut problems = Vec::new();
    let ppp = &pid[..3];
    let old_province = ppp
        .strip_prefix('0')
        .and_then(|p| units::pre_2025().province(p));
    if old_province.is_none() {
        problems.push(format!("PPP {ppp} is not one of the 63 province codes"));
    }
    let g = pid.as_bytes()[3] - b'0';
    let year: u32 = birth[..4].parse().ok()?;
    if !(1900..=2399).contains(&year) {
        problems.push(format!(
            "birth year {year} has no century digit in the ID scheme (1900-2399)"
        ));
        return Some(problems.join("; "));
    }
    let century_digit = ((year / 100 - 19) * 2) as u8;
    let want_g = match sex {
        Some("1") => Some(century_digit),
        Some("2") => Some(century_digit + 1),
        _ => None,
    };
    match want_g {
        Some(w) if w != g => problems.push(format!(
            "century/sex digit {g} does not match birth year {year} and sex (expected {w})"
        )),
        None if g / 2 != century_digit / 2 => problems.push(format!(
            "century digit {g} does not match birth year {year}"
        )),
        _ => {}
    }
    if pid[4..6] != birth[2..4] {
        problems.push(format!(
            "YY {} does not match birth year {year}",
            &pid[4..6]
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn address_agrees(
    addr: &str,
    commune: Option<&units::Commune>,
    province: Option<&units::Province>,
) -> Option<String> {
    let parts = parse_address(addr);
    let mut problems = Vec::new();
    if let (Some(written), Some(c)) = (parts.commune, commune) {
        if written != c.full_name && fold_key(written) != fold_key(&c.full_name) {
            problems.push(format!(
                "address names '{written}' but commune_code is {} {}",
                c.code, c.full_name
            ));
        }
    }
    if let (Some(written), Some(p)) = (parts.province, province) {
        if units::current()
            .province_by_name(written)
            .is_none_or(|w| w.code != p.code)
        {
            problems.push(format!(
                "address names '{written}' but province_code is {} {}",
                p.code, p.full_name
            ));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

enum LabelVerdict {
    Agrees,
    OtherOrdering(&'static str),
    Mismatch,
}

fn ethnicity_label(code: &str, label: &str, system: &'static CodeSystem) -> LabelVerdict {
    let named = system.by_label(label);
    if named.is_some_and(|n| n.code == code) {
        return LabelVerdict::Agrees;
    }
    let other = if std::ptr::eq(system, &codes::ETHNICITY_QD121) {
        &codes::ETHNICITY_GSO
    } else {
        &codes::ETHNICITY_QD121
    };
    match (named, other.by_label(label)) {
        (Some(n), Some(o)) if o.code == code => LabelVerdict::OtherOrdering(n.code),
        _ => LabelVerdict::Mismatch,
    }
}

/// Remembers keys across records to report duplicates. Each key is kept as a 128-bit
/// digest (two SipHash-1-3 hashes under keys drawn at random for this tracker), not as the
/// key itself: 24 bytes a record instead of the key's string — 10 M records fit in a few
/// hundred MB. Two different keys share a digest with probability about n²/2¹²⁹ (10⁻²⁵ at
/// 10 M records), and since the hash keys are secret to the process, keys cannot be made
/// to collide on purpose.
#[derive(Default)]
pub struct KeyTracker {
    hashers: [std::collections::hash_map::RandomState; 2],
    /// foldhash for the table itself: the digests are already uniform.
    seen: HashMap<[u64; 2], u64, foldhash::fast::RandomState>,
}

impl KeyTracker {
    /// Records `key` for `record`; returns the earlier record with the same key, if any.
    pub fn observe(&mut self, key: String, record: u64) -> Option<u64> {
        use std::hash::BuildHasher;
        let digest = self.hashers.each_ref().map(|h| h.hash_one(key.as_str()));
        match self.seen.entry(digest) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(record);
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
    fn duplicates_are_tracked_by_key() {
        let mut t = KeyTracker::default();
        assert_eq!(t.observe("a".into(), 1), None);
        assert_eq!(t.observe("b".into(), 2), None);
        assert_eq!(t.observe("a".into(), 3), Some(1));
    }
}
