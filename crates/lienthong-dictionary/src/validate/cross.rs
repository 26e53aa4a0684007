//! Cross-field checks: each [`CrossCheck`] of a dataset resolved once to field indices, and
//! run on every record after its fields, on the values that have no error.

use crate::catalog::{CrossCheck, Dataset};
use crate::codes::{self, CodeSystem};
use crate::element::address_units;
use crate::finding::{Finding, Severity};
use crate::units;
use crate::vn::fold_key;

use super::{Invalid, Outcome, Validator};

/// A [`CrossCheck`] with its fields as indices into the record, resolved once.
pub(super) enum Cross {
    PersonalIdStructure {
        id: usize,
        birth_date: usize,
        sex: Option<usize>,
    },
    CommuneInProvince {
        commune: usize,
        province: usize,
    },
    AddressAgrees {
        address: usize,
        commune: Option<usize>,
        province: usize,
    },
    EthnicityLabel {
        code: usize,
        label: usize,
    },
    NotDeceasedWhenActive {
        id: usize,
        status: usize,
    },
    InRegister {
        field: usize,
        register: &'static str,
    },
    DateOrder {
        from: usize,
        to: usize,
    },
}

impl Cross {
    pub(super) fn resolve(dataset: &Dataset, check: &CrossCheck) -> Self {
        let at = |name: &str| {
            dataset
                .index(name)
                .expect("shipped cross-field checks name fields of their dataset (tested)")
        };
        match *check {
            CrossCheck::PersonalIdStructure {
                id,
                birth_date,
                sex,
            } => Cross::PersonalIdStructure {
                id: at(id),
                birth_date: at(birth_date),
                sex: sex.map(at),
            },
            CrossCheck::CommuneInProvince { commune, province } => Cross::CommuneInProvince {
                commune: at(commune),
                province: at(province),
            },
            CrossCheck::AddressAgrees {
                address,
                commune,
                province,
            } => Cross::AddressAgrees {
                address: at(address),
                commune: commune.map(at),
                province: at(province),
            },
            CrossCheck::EthnicityLabel { code, label } => Cross::EthnicityLabel {
                code: at(code),
                label: at(label),
            },
            CrossCheck::NotDeceasedWhenActive { id, status } => Cross::NotDeceasedWhenActive {
                id: at(id),
                status: at(status),
            },
            CrossCheck::InRegister { field, register } => Cross::InRegister {
                field: at(field),
                register,
            },
            CrossCheck::DateOrder { from, to } => Cross::DateOrder {
                from: at(from),
                to: at(to),
            },
        }
    }
}

impl Validator {
    /// The value of field `i` when it is present and has no error.
    fn value(out: &Outcome, invalid: Invalid, i: usize) -> Option<&str> {
        let v = out.values[i].as_str();
        (!v.is_empty() && !invalid.has(i)).then_some(v)
    }

    pub(super) fn cross(&self, check: &Cross, out: &mut Outcome, invalid: &mut Invalid) {
        let name = |i: usize| self.dataset.fields[i].name;
        let inv = *invalid;
        let (field, finding) = match *check {
            Cross::PersonalIdStructure {
                id,
                birth_date,
                sex,
            } => {
                let (Some(pid), Some(birth)) =
                    (Self::value(out, inv, id), Self::value(out, inv, birth_date))
                else {
                    return;
                };
                let sex = sex.and_then(|s| Self::value(out, inv, s));
                (
                    id,
                    personal_id_structure(pid, birth, sex).map(|m| {
                        Finding::new(name(id), "personal_id.structure", Severity::Warning, m)
                    }),
                )
            }
            Cross::CommuneInProvince { commune, province } => {
                let (Some(c), Some(p)) = (
                    Self::value(out, inv, commune),
                    Self::value(out, inv, province),
                ) else {
                    return;
                };
                (
                    commune,
                    units::current()
                        .commune(c)
                        .filter(|unit| unit.province_code != p)
                        .map(|unit| {
                            Finding::new(
                                name(commune),
                                "commune_code.not_in_province",
                                Severity::Error,
                                format!(
                                    "commune {c} belongs to province {}, not {p}",
                                    unit.province_code
                                ),
                            )
                        }),
                )
            }
            Cross::AddressAgrees {
                address,
                commune,
                province,
            } => {
                let Some(addr) = Self::value(out, inv, address) else {
                    return;
                };
                let commune_unit = commune
                    .and_then(|c| Self::value(out, inv, c))
                    .and_then(|c| units::current().commune(c));
                let province_unit =
                    Self::value(out, inv, province).and_then(|p| units::current().province(p));
                (
                    address,
                    address_agrees(addr, commune_unit, province_unit).map(|m| {
                        Finding::new(name(address), "address.unit_mismatch", Severity::Warning, m)
                    }),
                )
            }
            Cross::EthnicityLabel { code, label } => {
                let system = self.dataset.fields[code].opts.ethnicity;
                let (Some(c), Some(l)) =
                    (Self::value(out, inv, code), Self::value(out, inv, label))
                else {
                    return;
                };
                let (c, l) = (c.to_owned(), l.to_owned());
                let finding = match ethnicity_label(&c, &l, system) {
                    LabelVerdict::Agrees => None,
                    LabelVerdict::OtherOrdering(recoded) => {
                        out.values[code] = recoded.to_owned();
                        Some(Finding::new(
                            name(code),
                            "ethnicity.other_ordering",
                            Severity::Repaired,
                            format!("code {c} is '{l}' in the other ethnic ordering; recoded to {recoded} ({})", system.id),
                        ))
                    }
                    LabelVerdict::Mismatch => Some(Finding::new(
                        name(code),
                        "ethnicity.label_mismatch",
                        Severity::Error,
                        format!(
                            "code {c} does not match the ethnic name in the record ({})",
                            system.id
                        ),
                    )),
                };
                (code, finding)
            }
            Cross::NotDeceasedWhenActive { id, status } => {
                let Some(deceased) = &self.options.deceased else {
                    return;
                };
                let (Some(pid), Some(st)) =
                    (Self::value(out, inv, id), Self::value(out, inv, status))
                else {
                    return;
                };
                (
                    status,
                    (st == "active" && deceased.contains(pid)).then(|| {
                        Finding::new(
                            name(status),
                            "status.deceased_active",
                            Severity::Error,
                            "active although the civil-status register records a death",
                        )
                    }),
                )
            }
            Cross::InRegister { field, register } => {
                let (Some(keys), Some(v)) = (
                    self.options.registers.get(register),
                    Self::value(out, inv, field),
                ) else {
                    return;
                };
                (
                    field,
                    (!keys.contains(v)).then(|| {
                        Finding::new(
                            name(field),
                            "reference.not_in_register",
                            Severity::Error,
                            format!("{v} is not in the {register} register given as reference"),
                        )
                    }),
                )
            }
            Cross::DateOrder { from, to } => {
                let (Some(a), Some(b)) = (Self::value(out, inv, from), Self::value(out, inv, to))
                else {
                    return;
                };
                (
                    to,
                    (a > b).then(|| {
                        Finding::new(
                            name(to),
                            "date.order",
                            Severity::Error,
                            format!("{} is before {}", name(to), name(from)),
                        )
                    }),
                )
            }
        };
        if let Some(f) = finding {
            if f.severity == Severity::Error {
                invalid.set(field);
            }
            out.findings.push(f);
        }
    }
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
    let (written_commune, _, written_province) = address_units(addr);
    let mut problems = Vec::new();
    if let (Some(written), Some(c)) = (written_commune, commune) {
        if written != c.full_name && fold_key(written) != fold_key(&c.full_name) {
            problems.push(format!(
                "address names '{written}' but commune_code is {} {}",
                c.code, c.full_name
            ));
        }
    }
    if let (Some(written), Some(p)) = (written_province, province) {
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
