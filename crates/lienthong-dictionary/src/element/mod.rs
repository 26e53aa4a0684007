//! Dictionary elements: name, labels, type, format, code-list binding, sensitivity and the
//! single-value check + normaliser. Cross-field rules live in `validate`.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::codes::{self, CodeSystem};
use crate::finding::{Finding, Severity};
use crate::legacy;
use crate::units;
use crate::vn;

mod dates;
mod ids;
mod registers;
#[cfg(test)]
mod tests;
mod text;
mod values;

use dates::*;
use ids::*;
use registers::*;
use values::*;

pub use dates::{days_in_month, is_iso_date};
pub use registers::{cas_check_digit, tax_code_check_digit};
pub use text::*;

/// Sensitivity class per Law 91/2025/QH15 (personal data) and NĐ 356/2025 (sensitive data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    Public,
    Personal,
    SensitivePersonal,
}

impl Sensitivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Personal => "personal",
            Sensitivity::SensitivePersonal => "sensitive_personal",
        }
    }
}

/// Which characters an identifier may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Digits,
    UpperAlnum,
}

/// The value type of an element, which selects its check and normaliser.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    PersonalId,
    OldId,
    /// A person's name or name part.
    Name,
    Text {
        max_chars: usize,
    },
    Address,
    /// A calendar date; `year_only` accepts a bare year (birth dates in C06 data).
    Date {
        year_only: bool,
    },
    Timestamp,
    Coded(&'static CodeSystem),
    /// Code bound per dataset field to one of the two ethnic orderings.
    Ethnicity,
    Religion,
    Nationality,
    ProvinceCode,
    CommuneCode,
    Phone,
    Email,
    AmountVnd,
    LandParcelId,
    /// Tax identification number, also the enterprise code: 10 digits with a check digit,
    /// `-NNN` for a dependent unit, or a person's 12-digit id number.
    TaxCode,
    /// CAS Registry Number of a chemical substance, with its check digit.
    CasNumber,
    /// UN number of dangerous goods (`UN1203`).
    UnNumber,
    /// Number and symbol of an administrative document (`123/QĐ-UBND`).
    DocumentNumber,
    /// Vehicle registration plate, without separators (`30A12345`).
    VehiclePlate,
    Identifier {
        min_len: usize,
        max_len: usize,
        charset: Charset,
    },
    Enum(&'static [&'static str]),
    Decimal {
        min: f64,
        max: f64,
    },
}

impl Kind {
    /// JSON Schema / OpenAPI type of the normalised value.
    pub fn json_type(&self) -> &'static str {
        match self {
            Kind::Decimal { .. } => "number",
            _ => "string",
        }
    }
}

/// A shared data element.
#[derive(Debug)]
pub struct Element {
    /// snake_case name, the key every dataset field maps to.
    pub name: &'static str,
    pub label_vi: &'static str,
    pub label_en: &'static str,
    pub kind: Kind,
    /// The normalised form in words, with length where it is fixed.
    pub format: &'static str,
    pub sensitivity: Sensitivity,
    /// What the normaliser does, in words (shown in exports and docs).
    pub normaliser: &'static str,
}

impl Element {
    /// Code system and version this element's values come from, if any.
    pub fn binding(&self) -> Option<(&'static str, &'static str)> {
        match self.kind {
            Kind::Coded(s) => Some((s.id, s.version)),
            Kind::Ethnicity => Some((codes::ETHNICITY_QD121.id, codes::ETHNICITY_QD121.version)),
            Kind::Religion => Some((codes::RELIGION_QCVN109.id, codes::RELIGION_QCVN109.version)),
            Kind::Nationality => Some(("iso-3166-1-alpha-2", "2020")),
            Kind::ProvinceCode | Kind::CommuneCode => {
                Some(("admin-units/qd19-2025", units::REFORM_DATE))
            }
            _ => None,
        }
    }
}

/// Per-field settings the dataset gives an element.
#[derive(Debug, Clone, Copy)]
pub struct FieldOpts {
    /// Ethnic code ordering for `Kind::Ethnicity`.
    pub ethnicity: &'static CodeSystem,
}

impl Default for FieldOpts {
    fn default() -> Self {
        FieldOpts {
            ethnicity: &codes::ETHNICITY_QD121,
        }
    }
}

/// Collects findings for one field.
pub struct Out<'a> {
    pub field: &'static str,
    pub findings: &'a mut Vec<Finding>,
}

impl Out<'_> {
    fn push(&mut self, rule: &'static str, severity: Severity, message: impl Into<String>) {
        self.findings
            .push(Finding::new(self.field, rule, severity, message));
    }
    fn error(&mut self, rule: &'static str, message: impl Into<String>) {
        self.push(rule, Severity::Error, message);
    }
    fn repaired(&mut self, rule: &'static str, message: impl Into<String>) {
        self.push(rule, Severity::Repaired, message);
    }
    fn warning(&mut self, rule: &'static str, message: impl Into<String>) {
        self.push(rule, Severity::Warning, message);
    }
}

/// [`check`] into `target`: a value already in its normalised form (an id of digits, an ISO
/// date, an RFC 3339 timestamp, a national phone number, a lower-case e-mail address) is
/// copied into `target`'s buffer without a new allocation; any other value goes to [`check`].
pub fn check_into(
    kind: &Kind,
    opts: &FieldOpts,
    raw: &str,
    out: &mut Out<'_>,
    target: &mut String,
) {
    let in_form = match kind {
        Kind::PersonalId => digits_in_form(raw, 12),
        Kind::OldId => digits_in_form(raw, 9),
        Kind::Date { .. } => date_in_form(raw),
        Kind::Timestamp => timestamp_in_form(raw),
        Kind::Email => email_in_form(raw),
        Kind::Phone => {
            if let Some(t) = national_in_form(raw) {
                international_into(t, target);
                return;
            }
            None
        }
        _ => None,
    };
    match in_form {
        Some(t) => {
            target.clear();
            target.push_str(t);
        }
        None => *target = check(kind, opts, raw, out),
    }
}

/// Checks one non-empty value and returns its normalised form (the trimmed input when the
/// value is invalid, so nothing is lost).
pub fn check(kind: &Kind, opts: &FieldOpts, raw: &str, out: &mut Out<'_>) -> String {
    match kind {
        Kind::PersonalId => digits_id(raw, 12, out),
        Kind::OldId => digits_id(raw, 9, out),
        Kind::Name => name(raw, out),
        Kind::Text { max_chars } => {
            let t = clean_text(raw, out).into_owned();
            if t.chars().count() > *max_chars {
                out.error(
                    "text.too_long",
                    format!("longer than {max_chars} characters"),
                );
            }
            t
        }
        Kind::Address => address(raw, out),
        Kind::Date { year_only } => date(raw, *year_only, out),
        Kind::Timestamp => timestamp(raw, out),
        Kind::Coded(system) => coded(raw, system, out),
        Kind::Ethnicity => ethnicity(raw, opts.ethnicity, out),
        Kind::Religion => religion(raw, out),
        Kind::Nationality => nationality(raw, out),
        Kind::ProvinceCode => province_code(raw, out),
        Kind::CommuneCode => commune_code(raw, out),
        Kind::Phone => phone(raw, out),
        Kind::Email => email(raw, out),
        Kind::AmountVnd => amount_vnd(raw, out),
        Kind::LandParcelId => land_parcel_id(raw, out),
        Kind::TaxCode => tax_code(raw, out),
        Kind::CasNumber => cas_number(raw, out),
        Kind::UnNumber => un_number(raw, out),
        Kind::DocumentNumber => document_number(raw, out),
        Kind::VehiclePlate => vehicle_plate(raw, out),
        Kind::Identifier {
            min_len,
            max_len,
            charset,
        } => identifier(raw, *min_len, *max_len, *charset, out),
        Kind::Enum(values) => {
            let v = raw.trim();
            if !values.contains(&v) {
                out.error("code.unknown", format!("not one of {}", values.join(", ")));
            }
            v.to_owned()
        }
        Kind::Decimal { min, max } => {
            let v = raw.trim().replace(',', ".");
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= *min && x <= *max => v,
                Ok(_) => {
                    out.error("number.range", format!("outside {min}..{max}"));
                    v
                }
                Err(_) => {
                    out.error("number.format", "not a decimal number");
                    v
                }
            }
        }
    }
}
