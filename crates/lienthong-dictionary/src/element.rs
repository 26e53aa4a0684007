//! Dictionary elements: name, labels, type, format, code-list binding, sensitivity and the
//! single-value check + normaliser. Cross-field rules live in `validate`.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::codes::{self, CodeSystem};
use crate::finding::{Finding, Severity};
use crate::legacy;
use crate::units;
use crate::vn;

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

fn digits_id(raw: &str, len: usize, out: &mut Out<'_>) -> String {
    let v = export_marks(raw, out);
    if is_scientific(&v) {
        scientific_error(&v, out);
        return v.into_owned();
    }
    let stripped: String = v
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect();
    if stripped.len() != v.len() {
        out.repaired("id.separators", "spaces, dots or dashes removed");
    }
    if !stripped.chars().all(|c| c.is_ascii_digit()) {
        out.error("id.non_digit", "contains characters other than digits");
    } else if len == 12 && stripped.len() == 9 {
        out.error(
            "personal_id.is_cmnd",
            "9 digits: an old CMND number in the personal-ID field",
        );
    } else if stripped.len() < len {
        // A spreadsheet that read the id as a number dropped its leading zeros; which digits
        // were lost is a guess, and a guessed id may be another person's.
        out.error(
            "id.length",
            format!(
                "{} digits, {len} expected: digits were lost (a spreadsheet drops leading \
                 zeros, e.g. {}{stripped}?); not restored, since a guessed id could name \
                 another person",
                stripped.len(),
                "0".repeat(len - stripped.len())
            ),
        );
    } else if stripped.len() != len {
        out.error(
            "id.length",
            format!("{} digits, {len} expected", stripped.len()),
        );
    }
    stripped
}

/// Whether `c` is invisible: a format character (Unicode category Cf: zero-width space and
/// joiners, direction marks, word joiner, byte-order mark, soft hyphen…), a variation
/// selector, the combining grapheme joiner or a filler. None belongs in a name, an id or an
/// address; they arrive with text copied from web pages and word processors.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether `s` holds a byte that starts (or is) a whitespace character other than the
/// space, or an invisible one (`is_invisible`): ASCII controls 09–0D, the lead bytes C2, CD,
/// D8, E2, E3, EF, F0, F3, or E1 before 85, 9A, 9E, A0. Vietnamese letters (C3–C6, E1 BA/BB,
/// combining marks CC) are none of them, so clean text is cleared in one byte pass.
fn rare_bytes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &x)| match x {
        0x09..=0x0D | 0xC2 | 0xCD | 0xD8 | 0xE2 | 0xE3 | 0xEF | 0xF0 | 0xF3 => true,
        0xE1 => matches!(b.get(i + 1), Some(0x85 | 0x9A | 0x9E | 0xA0)),
        _ => false,
    })
}

/// `s` without invisible characters, or `None` when it has none.
fn without_invisible(s: &str) -> Option<String> {
    without_invisible_but(s, '\0')
}

/// `s` without invisible characters other than `keep`, or `None` when it has none.
fn without_invisible_but(s: &str, keep: char) -> Option<String> {
    let gone = |c: char| c != keep && is_invisible(c);
    (!s.is_ascii() && s.contains(gone)).then(|| s.chars().filter(|c| !gone(*c)).collect())
}

/// The ASCII form of a full-width digit or Latin letter (U+FF10–FF19, FF21–FF3A, FF41–FF5A:
/// compatibility forms of the same characters, typed with an East Asian input method).
fn ascii_of_fullwidth(c: char) -> Option<char> {
    match c {
        '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
            char::from_u32(c as u32 - 0xFF10 + 0x30)
        }
        _ => None,
    }
}

/// Undoes what exports do to an identifier's text when the characters meant are certain:
/// invisible characters, full-width digits and letters, and the leading apostrophe a
/// spreadsheet keeps to mark a cell as text. Each is reported; the value comes back trimmed.
fn export_marks<'a>(raw: &'a str, out: &mut Out<'_>) -> Cow<'a, str> {
    let mut s = Cow::Borrowed(raw.trim());
    if !s.is_ascii() {
        if let Some(v) = without_invisible(&s) {
            out.repaired(
                "text.invisible_chars",
                "invisible characters removed (zero-width, soft hyphen, byte-order mark)",
            );
            s = Cow::Owned(v.trim().to_owned());
        }
        if s.chars().any(|c| ascii_of_fullwidth(c).is_some()) {
            out.repaired(
                "id.fullwidth",
                "full-width digits or letters written as ASCII",
            );
            s = Cow::Owned(
                s.chars()
                    .map(|c| ascii_of_fullwidth(c).unwrap_or(c))
                    .collect(),
            );
        }
    }
    if let Some(rest) = s.strip_prefix(['\'', '\u{2018}', '\u{2019}', '\u{FF07}']) {
        let rest = rest.trim_start();
        if !rest.is_empty() {
            out.repaired(
                "id.text_marker",
                "leading apostrophe (a spreadsheet's text marker) removed",
            );
            s = Cow::Owned(rest.to_owned());
        }
    }
    s
}

/// Whether `v` is a number as a spreadsheet writes it in scientific notation (`7.20562E+10`,
/// `7,20562E+10`): one digit, an optional fraction, `E+` and the exponent.
fn is_scientific(v: &str) -> bool {
    let b = v.as_bytes();
    let Some(e) = b.iter().position(|c| matches!(c, b'E' | b'e')) else {
        return false;
    };
    let (mantissa, exp) = (&b[..e], &b[e + 1..]);
    let frac_ok = match mantissa.get(1) {
        None => true,
        Some(b'.' | b',') => mantissa.len() > 2 && mantissa[2..].iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    mantissa.first().is_some_and(u8::is_ascii_digit)
        && frac_ok
        && exp.len() >= 2
        && exp[0] == b'+'
        && exp[1..].iter().all(u8::is_ascii_digit)
}

fn scientific_error(v: &str, out: &mut Out<'_>) {
    out.error(
        "id.scientific_notation",
        format!(
            "{v} is a number in scientific notation: a spreadsheet read the identifier as a \
             number and kept only its first digits; not restored, since a guessed id could \
             name another person (export the column as text)"
        ),
    );
}

/// NFC, legacy-encoding repair, whitespace, canonical tone placement. Each change reported.
pub fn clean_text<'a>(raw: &'a str, out: &mut Out<'_>) -> Cow<'a, str> {
    let mut s: Cow<'a, str> = Cow::Borrowed(raw);
    if is_nfc_quick(s.chars()) != IsNormalized::Yes {
        let n: String = s.nfc().collect();
        if n != *s {
            out.repaired("text.not_nfc", "decomposed (NFD) text recomposed to NFC");
            s = Cow::Owned(n);
        }
    }
    // One byte pass says whether the slower character scans below can find anything.
    let odd = rare_bytes(&s);
    if !s.is_ascii() {
        // Invisible characters make clean text look like a legacy encoding, and a soft
        // hyphen may be a byte of one: `repair_beside_invisible` tells which.
        let mut invisible = false;
        let stripped = if odd { without_invisible(&s) } else { None };
        let legacy_fix = match stripped {
            None => legacy::repair(&s),
            Some(v) => {
                let (fix, dropped) = legacy::repair_beside_invisible(&s, &v);
                if dropped {
                    invisible = true;
                    s = Cow::Owned(v);
                }
                fix
            }
        };
        if let Some((fixed, kind)) = legacy_fix {
            out.repaired(
                "text.legacy_encoding",
                format!("repaired from {}", kind.name()),
            );
            let fixed: String = fixed.nfc().collect();
            // A byte-order mark read in a legacy encoding comes back as U+FEFF.
            s = Cow::Owned(match without_invisible(&fixed) {
                Some(v) => {
                    invisible = true;
                    v
                }
                None => fixed,
            });
        }
        if invisible {
            out.repaired(
                "text.invisible_chars",
                "invisible characters removed (zero-width, soft hyphen, byte-order mark)",
            );
        }
    }
    let odd = odd || matches!(s, Cow::Owned(_)) && rare_bytes(&s);
    if s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
        || s.contains("  ")
        || (odd && s.contains(|c: char| c.is_whitespace() && c != ' '))
    {
        out.repaired("text.whitespace", "whitespace trimmed and collapsed");
        s = Cow::Owned(s.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if !s.is_ascii() {
        if let Some(fixed) = vn::canonical_tone_placement(&s) {
            out.repaired(
                "text.tone_placement",
                "tone mark moved to the canonical position (hòa, thủy)",
            );
            s = Cow::Owned(fixed);
        }
    }
    s
}

fn is_all_upper(s: &str) -> bool {
    // One pass, out at the first lower-case letter (the second character of most names).
    let mut upper = 0;
    for c in s.chars() {
        if c.is_lowercase() {
            return false;
        }
        upper += usize::from(c.is_uppercase());
    }
    upper > 1
}

fn name(raw: &str, out: &mut Out<'_>) -> String {
    let mut s = clean_text(raw, out).into_owned();
    // Ê Đê and Gia Rai names (H’Hen) are often typed with a typographic apostrophe.
    if s.contains(['\u{2019}', '\u{2018}', '\u{02BC}']) {
        out.repaired("text.apostrophe", "typographic apostrophe replaced by '");
        s = s.replace(['\u{2019}', '\u{2018}', '\u{02BC}'], "'");
    }
    if is_all_upper(&s) {
        out.repaired("text.upper_case", "upper-case name title-cased");
        s = vn::title_case(&s);
    } else if s.chars().any(|c| c.is_alphabetic()) && !s.chars().any(|c| c.is_uppercase()) {
        out.repaired("text.lower_case", "lower-case name title-cased");
        s = vn::title_case(&s);
    }
    if s.chars()
        .any(|c| !(c.is_alphabetic() || c == ' ' || c == '\'' || c == '-'))
    {
        out.error("name.invalid_chars", "contains digits or symbols");
    } else if s.contains(' ') && !vn::has_diacritics(&s) {
        out.warning(
            "name.no_diacritics",
            "written without Vietnamese diacritics",
        );
    }
    s
}

/// A comma-separated address split into street part, commune, district and province.
#[derive(Debug, Default, PartialEq)]
pub struct AddressParts<'a> {
    pub street: Vec<&'a str>,
    pub commune: Option<&'a str>,
    pub district: Option<&'a str>,
    pub province: Option<&'a str>,
}

const COMMUNE_PREFIXES: [&str; 4] = ["phuong ", "xa ", "thi tran ", "dac khu "];
const DISTRICT_PREFIXES: [&str; 4] = ["quan ", "huyen ", "thi xa ", "thanh pho "];

pub fn parse_address(s: &str) -> AddressParts<'_> {
    let mut parts = AddressParts::default();
    let segments: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    let n = segments.len();
    for (i, seg) in segments.iter().enumerate() {
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| vn::folded_starts_with(seg, p));
        if i + 1 == n && n > 1 {
            parts.province = Some(seg);
        } else if parts.commune.is_none() && starts(&COMMUNE_PREFIXES) {
            parts.commune = Some(seg);
        } else if parts.commune.is_some() && parts.district.is_none() && starts(&DISTRICT_PREFIXES)
        {
            parts.district = Some(seg);
        } else {
            parts.street.push(seg);
        }
    }
    parts
}

/// Expands a unit abbreviation at the start of an address segment.
fn expand_segment(seg: &str) -> Option<String> {
    let t = seg.trim();
    // Only a first word with a dot, or one of the dotless forms, can be an abbreviation.
    let first = t.split(' ').next().unwrap_or("");
    if !first.contains('.')
        && !matches!(
            first.to_ascii_uppercase().as_str(),
            "TP" | "KP" | "TPHCM" | "HCM"
        )
    {
        return None;
    }
    let compact: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect::<String>()
        .to_uppercase();
    if matches!(compact.as_str(), "TPHCM" | "HCM") {
        return Some("Thành phố Hồ Chí Minh".into());
    }
    const ABBR: [(&str, &str); 12] = [
        ("T.P.", "Thành phố"),
        ("T.P", "Thành phố"),
        ("TP.", "Thành phố"),
        ("Tp.", "Thành phố"),
        ("TP ", "Thành phố"),
        ("TX.", "Thị xã"),
        ("T.X.", "Thị xã"),
        ("TT.", "Thị trấn"),
        ("P.", "Phường"),
        ("X.", "Xã"),
        ("Q.", "Quận"),
        ("H.", "Huyện"),
    ];
    for (abbr, full) in ABBR {
        if let Some(rest) = t.strip_prefix(abbr) {
            let rest = rest.trim_start();
            if !rest.is_empty() {
                return Some(format!("{full} {rest}"));
            }
        }
    }
    if let Some(rest) = t.strip_prefix("KP").filter(|r| r.starts_with([' ', '.'])) {
        return Some(format!(
            "Khu phố {}",
            rest.trim_start_matches('.').trim_start()
        ));
    }
    None
}

fn address(raw: &str, out: &mut Out<'_>) -> String {
    let mut s = clean_text(raw, out).into_owned();
    if is_all_upper(&s) {
        out.repaired("text.upper_case", "upper-case address title-cased");
        s = vn::title_case(&s);
    }
    if !s.split(',').any(|seg| expand_segment(seg).is_some()) {
        if let Some(mapped) = old_units(&s, out) {
            s = mapped;
        }
        return s;
    }
    let mut expanded = false;
    let segments: Vec<String> = s
        .split(',')
        .map(|seg| match expand_segment(seg) {
            Some(full) => {
                expanded = true;
                full
            }
            None => seg.trim().to_owned(),
        })
        .collect();
    if expanded {
        out.repaired(
            "address.abbreviation",
            "unit abbreviations expanded (TP., P., Q., X., …)",
        );
        s = segments.join(", ");
    }
    if let Some(mapped) = old_units(&s, out) {
        s = mapped;
    }
    s
}

/// Detects pre-2025 unit names (district level, townships, merged provinces) and maps them
/// to current units where the mapping is unambiguous.
fn old_units(s: &str, out: &mut Out<'_>) -> Option<String> {
    let parts = parse_address(s);
    let province = parts.province?;
    let current_province = units::current().province_by_name(province);
    let township = parts
        .commune
        .is_some_and(|c| vn::fold_key(c).starts_with("thi tran "));
    if parts.district.is_none() && current_province.is_some() && !township {
        return None;
    }
    let old_province = units::pre_2025().province_by_name(province);
    let Some(old_province) = old_province else {
        if current_province.is_none() {
            out.warning(
                "address.unknown_province",
                "the province in the address is not a known unit",
            );
        }
        return None;
    };
    // Find the old commune by name within the old province (and district when given).
    let commune_key = parts.commune.map(vn::fold_key);
    let district_key = parts.district.map(vn::fold_key);
    let old = units::pre_2025();
    let candidates: Vec<&units::Commune> = old
        .communes_of(&old_province.code)
        .filter(|c| Some(vn::fold_key(&c.full_name)) == commune_key)
        .filter(|c| {
            district_key.as_ref().is_none_or(|d| {
                c.district_code
                    .as_deref()
                    .and_then(|dc| old.district(dc))
                    .is_some_and(|dd| vn::fold_key(&dd.full_name) == *d)
            })
        })
        .collect();
    let successor = match candidates.as_slice() {
        [one] => units::current().commune(&one.code),
        _ => None,
    };
    match successor {
        Some(new) => {
            let new_province = units::current().province(&new.province_code)?;
            out.repaired(
                "address.old_units",
                format!(
                    "pre-2025 unit names mapped to {}, {}",
                    new.full_name, new_province.full_name
                ),
            );
            let mut segs: Vec<&str> = parts.street.clone();
            segs.push(&new.full_name);
            segs.push(&new_province.full_name);
            Some(segs.join(", "))
        }
        None => {
            out.warning(
                "address.old_units",
                "pre-2025 unit names with no unambiguous current unit; left as written",
            );
            None
        }
    }
}

/// Whether `s` is a real calendar date written `YYYY-MM-DD`.
pub fn is_iso_date(s: &str) -> bool {
    s.len() == 10
        && s.as_bytes()[4] == b'-'
        && parse_date(s)
            .is_some_and(|(y, m, d)| (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
}

/// Parses an accepted date form into (year, month, day); month/day 0 for a bare year.
fn parse_date(v: &str) -> Option<(u32, u32, u32)> {
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let b = v.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return Some((num(&v[..4])?, num(&v[5..7])?, num(&v[8..])?));
    }
    if b.len() == 8 && v.chars().all(|c| c.is_ascii_digit()) {
        return Some((num(&v[..4])?, num(&v[4..6])?, num(&v[6..])?));
    }
    if b.len() == 4 {
        return Some((num(v)?, 0, 0));
    }
    let parts: Vec<&str> = v.split(['/', '.', '-']).collect();
    if parts.len() == 3 && parts[2].len() == 4 && parts[0].len() <= 2 && parts[1].len() <= 2 {
        return Some((num(parts[2])?, num(parts[1])?, num(parts[0])?));
    }
    None
}

/// Days in month `m` of year `y` (Gregorian); 0 for a month outside 1..=12.
pub fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Splits a date exported as a date-time (`1963-06-03 00:00:00.000`, `1963-06-03T00:00:00`,
/// `03/06/1963 0:00`) into its date and its time, when it has one.
fn split_time(v: &str) -> Option<(&str, &str)> {
    let at = v.find([' ', 'T'])?;
    let (date, time) = (&v[..at], v[at + 1..].trim_start());
    (!time.is_empty() && time.as_bytes()[0].is_ascii_digit()).then_some((date, time))
}

/// Reads a time of day `H[H]:MM[:SS[.fff]]` with an optional zone (`Z`, `±HH`, `±HH:MM`,
/// `±HHMM`): whether it is midnight, and the zone's offset in minutes.
fn read_time(t: &str) -> Option<(bool, i32)> {
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(t.len());
    let (clock, zone) = (&t[..end], &t[end..]);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    let num = |s: &str, max: u32| -> Option<u32> {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
            .filter(|n| *n <= max)
    };
    if !(2..=3).contains(&parts.len())
        || parts[1].len() != 2
        || (parts.len() == 2 && !frac.is_empty())
    {
        return None;
    }
    let h = num(parts[0], 23)?;
    let m = num(parts[1], 59)?;
    let sec = match parts.get(2) {
        Some(x) if x.len() == 2 => num(x, 60)?,
        Some(_) => return None,
        None => 0,
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let midnight = h == 0 && m == 0 && sec == 0 && frac.bytes().all(|b| b == b'0');
    let offset = match zone {
        "" | "Z" => 0,
        z if matches!(z.as_bytes()[0], b'+' | b'-') => {
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            if !(digits.len() == 2 || digits.len() == 4) || z[1..].len() > 5 {
                return None;
            }
            let hh = num(&digits[..2], 14)? as i32;
            let mm = if digits.len() == 4 {
                num(&digits[2..], 59)? as i32
            } else {
                0
            };
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (hh * 60 + mm)
        }
        _ => return None,
    };
    Some((midnight, offset))
}

/// Vietnam time's offset from UTC in minutes.
const VIETNAM_OFFSET_MIN: i32 = 7 * 60;

fn date(raw: &str, year_only: bool, out: &mut Out<'_>) -> String {
    let whole = raw.trim();
    let mut v = whole;
    if let Some((date_part, time)) = split_time(whole) {
        let Some((midnight, offset)) = read_time(time) else {
            out.error(
                "date.format",
                "not a date in an accepted form (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY)",
            );
            return whole.to_owned();
        };
        if !midnight {
            out.error(
                "date.has_time",
                format!(
                    "a date-time at {time}, not midnight: not a date exported with its time,                      so the date is not taken from it"
                ),
            );
            return whole.to_owned();
        }
        // Midnight at an offset east of Vietnam is the evening before in Vietnam.
        if offset > VIETNAM_OFFSET_MIN {
            out.error(
                "date.zone_moves_date",
                format!(
                    "midnight at UTC{} is the previous day in Vietnam (UTC+07:00): which date                      is meant is not certain",
                    &time[time.find(['+', '-']).unwrap_or(0)..]
                ),
            );
            return whole.to_owned();
        }
        if parse_date(date_part).is_none_or(|(_, m, _)| m == 0) {
            out.error(
                "date.format",
                "not a date in an accepted form (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY)",
            );
            return whole.to_owned();
        }
        v = date_part;
    }
    let mut findings = Vec::new();
    let mut sub = Out {
        field: out.field,
        findings: &mut findings,
    };
    let date = calendar_date(v, year_only, &mut sub);
    let failed = findings.iter().any(|f| f.severity == Severity::Error);
    if v.len() != whole.len() && !failed {
        out.repaired(
            "date.midnight_time",
            "a date exported as a date-time at midnight: the time removed",
        );
    }
    out.findings.append(&mut findings);
    // An invalid value is kept as written, time and all.
    if failed {
        whole.to_owned()
    } else {
        date
    }
}

/// Checks and normalises a date written in one of the accepted forms.
fn calendar_date(v: &str, year_only: bool, out: &mut Out<'_>) -> String {
    let Some((y, m, d)) = parse_date(v) else {
        out.error(
            "date.format",
            "not a date in an accepted form (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY)",
        );
        return v.to_owned();
    };
    if m == 0 {
        if !year_only {
            out.error("date.format", "a year alone is not accepted for this field");
        }
        if !(1800..=2200).contains(&y) {
            out.error("date.impossible", format!("year {y} is out of range"));
        }
        return format!("{y:04}");
    }
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || !(1800..=2200).contains(&y) {
        out.error(
            "date.impossible",
            format!("{v} is not a calendar date (day and month swapped?)"),
        );
        return v.to_owned();
    }
    if v.len() == 10 && v.as_bytes()[4] == b'-' {
        return v.to_owned();
    }
    format!("{y:04}-{m:02}-{d:02}")
}

fn timestamp(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let (date_part, rest) = if v.len() >= 19 && matches!(v.as_bytes()[10], b'T' | b' ') {
        (&v[..10], &v[11..])
    } else {
        (v, "")
    };
    let mut sub = Out {
        field: out.field,
        findings: &mut Vec::new(),
    };
    let d = date(date_part, false, &mut sub);
    let time_ok = rest.len() >= 8
        && rest.as_bytes()[..8].is_ascii()
        && rest.as_bytes()[2] == b':'
        && rest.as_bytes()[5] == b':'
        && rest[..2].parse::<u32>().is_ok_and(|h| h < 24)
        && rest[3..5].parse::<u32>().is_ok_and(|m| m < 60)
        && rest[6..8].parse::<u32>().is_ok_and(|s| s < 61);
    if !sub.findings.is_empty() || !time_ok {
        out.error(
            "timestamp.format",
            "not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS+07:00)",
        );
        return v.to_owned();
    }
    let tail = &rest[8..];
    let (frac, zone) = match tail.strip_prefix('.') {
        Some(t) => {
            let n = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            if n == 0 {
                out.error(
                    "timestamp.format",
                    "a decimal point with no fraction digits",
                );
                return v.to_owned();
            }
            (&tail[..n + 1], &t[n..])
        }
        None => ("", tail),
    };
    // PostgreSQL's timestamptz text and ISO 8601's short forms give `+07` and `+0700`.
    let long_zone;
    let zone = if (zone.len() == 3 || zone.len() == 5)
        && matches!(zone.as_bytes()[0], b'+' | b'-')
        && zone[1..].bytes().all(|b| b.is_ascii_digit())
    {
        let mm = if zone.len() == 5 { &zone[3..5] } else { "00" };
        long_zone = format!("{}:{mm}", &zone[..3]);
        long_zone.as_str()
    } else {
        zone
    };
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && zone[1..3].parse::<u32>().is_ok_and(|h| h <= 14)
            && zone[4..6].parse::<u32>().is_ok_and(|m| m < 60));
    if !zone_ok {
        out.error("timestamp.format", "bad time-zone offset");
        return v.to_owned();
    }
    if !zone.is_empty() && v.as_bytes()[10] == b'T' && v.ends_with(zone) {
        return v.to_owned();
    }
    // A timestamp without an offset is Vietnam time (UTC+07:00).
    let zone = if zone.is_empty() { "+07:00" } else { zone };
    format!("{d}T{}{frac}{zone}", &rest[..8])
}

fn coded(raw: &str, system: &'static CodeSystem, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    if system.get(v).is_some() {
        return v.to_owned();
    }
    if let Some(c) = system.by_label(v) {
        out.repaired(
            "code.label_as_code",
            format!("label written instead of code {}", c.code),
        );
        return c.code.to_owned();
    }
    out.error("code.unknown", format!("not a code of {}", system.id));
    v.to_owned()
}

fn ethnicity(raw: &str, system: &'static CodeSystem, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    if v.len() == 1 && v.chars().all(|c| c.is_ascii_digit()) {
        out.repaired("code.leading_zero", "leading zero restored");
        return coded(&format!("0{v}"), system, out);
    }
    coded(v, system, out)
}

fn religion(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    if matches!(v, "00" | "99") || vn::fold_key(v) == "khong" {
        out.repaired(
            "religion.none_code",
            "a 'no religion' code; stored as empty (QCVN 109 has no code for none)",
        );
        return String::new();
    }
    coded(v, &codes::RELIGION_QCVN109, out)
}

fn nationality(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let up = v.to_ascii_uppercase();
    if codes::is_iso_alpha2(&up) {
        if up != v {
            out.repaired("nationality.case", "country code upper-cased");
        }
        return up;
    }
    if matches!(
        vn::fold_key(v).as_str(),
        "viet nam" | "vietnam" | "vn" | "vnm"
    ) {
        out.repaired(
            "nationality.name_as_code",
            "country name written instead of VN",
        );
        return "VN".into();
    }
    out.error("nationality.unknown", "not an ISO 3166-1 alpha-2 code");
    v.to_owned()
}

fn padded_code(raw: &str, width: usize, out: &mut Out<'_>) -> Option<String> {
    let v = export_marks(raw, out);
    let v = v.as_ref();
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) || v.len() > width {
        out.error("unit_code.format", format!("not a {width}-digit code"));
        return None;
    }
    if v.len() < width {
        out.repaired("unit_code.leading_zero", "leading zeros restored");
        return Some(format!("{v:0>width$}"));
    }
    Some(v.to_owned())
}

fn province_code(raw: &str, out: &mut Out<'_>) -> String {
    let Some(code) = padded_code(raw, 2, out) else {
        return raw.trim().to_owned();
    };
    if units::current().province(&code).is_none() {
        match units::successor_province(&code) {
            Some(p) if units::pre_2025().province(&code).is_some() => out.error(
                "province_code.retired",
                format!(
                    "pre-2025 province {code}, merged into {} {} on {}",
                    p.code,
                    p.name,
                    units::REFORM_DATE
                ),
            ),
            _ => out.error("province_code.unknown", "not a province code"),
        }
    }
    code
}

fn commune_code(raw: &str, out: &mut Out<'_>) -> String {
    let Some(code) = padded_code(raw, 5, out) else {
        return raw.trim().to_owned();
    };
    if units::current().commune(&code).is_none() {
        if units::pre_2025().commune(&code).is_some() {
            out.error(
                "commune_code.retired",
                format!(
                    "pre-2025 commune code, not in force since {}",
                    units::REFORM_DATE
                ),
            );
        } else {
            out.error("commune_code.unknown", "not a commune code");
        }
    }
    code
}

/// 2018 renumbering of 11-digit mobile numbers (Bộ TT&TT): old prefix → new prefix.
const OLD_MOBILE: [(&str, &str); 21] = [
    ("120", "70"),
    ("121", "79"),
    ("122", "77"),
    ("126", "76"),
    ("128", "78"),
    ("123", "83"),
    ("124", "84"),
    ("125", "85"),
    ("127", "81"),
    ("129", "82"),
    ("162", "32"),
    ("163", "33"),
    ("164", "34"),
    ("165", "35"),
    ("166", "36"),
    ("167", "37"),
    ("168", "38"),
    ("169", "39"),
    ("186", "56"),
    ("188", "58"),
    ("199", "59"),
];

fn phone(raw: &str, out: &mut Out<'_>) -> String {
    let v = export_marks(raw, out);
    let v = v.as_ref();
    if is_scientific(v) {
        scientific_error(v, out);
        return v.to_owned();
    }
    let digits: String = v.chars().filter(|c| c.is_ascii_digit()).collect();
    let junk = v
        .chars()
        .any(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')' | '+')))
        || v.char_indices().any(|(i, c)| c == '+' && i > 0);
    let separators = v.contains([' ', '.', '-', '(', ')']);
    // The international prefix as `+84`, as `0084` (00 is the international call prefix
    // dialled from Vietnam) or as a bare `84` before a full 9- or 10-digit number.
    let (international, national) = if v.starts_with('+') {
        match digits.strip_prefix("84") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, String::new()),
        }
    } else if let Some(rest) = digits.strip_prefix("0084") {
        out.repaired(
            "phone.international_0084",
            "international prefix 0084 written as +84",
        );
        (true, rest.to_owned())
    } else if let Some(rest) = digits.strip_prefix('0') {
        (false, rest.to_owned())
    } else if digits.len() == 11 && digits.starts_with("84") {
        (true, digits[2..].to_owned())
    } else {
        (false, String::new())
    };
    // `+84 (0) 90…`: the trunk zero written after the country code.
    let national = match national.strip_prefix('0') {
        Some(rest) if international && matches!(rest.len(), 9 | 10) => {
            out.repaired(
                "phone.trunk_zero",
                "trunk prefix 0 after the country code removed",
            );
            rest.to_owned()
        }
        _ => national,
    };
    let mobile = national.len() == 9 && national.starts_with(['3', '5', '7', '8', '9']);
    let landline = national.len() == 10 && national.starts_with('2');
    let renumbered = (!mobile && !landline && national.len() == 10)
        .then(|| OLD_MOBILE.iter().find(|(old, _)| national.starts_with(old)))
        .flatten();
    if junk || !(mobile || landline || renumbered.is_some()) {
        out.error("phone.format", "not a Vietnamese mobile or landline number");
        return v.to_owned();
    }
    if separators {
        out.repaired(
            "phone.separators",
            "grouping spaces, dots, dashes or brackets removed",
        );
    }
    if let Some((_, new)) = renumbered {
        out.repaired(
            "phone.old_mobile_prefix",
            "11-digit mobile number renumbered (2018 plan)",
        );
        return format!("+84{new}{}", &national[3..]);
    }
    format!("+84{national}")
}

fn email(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let ok = v.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !v.contains(char::is_whitespace)
            && v.is_ascii()
    });
    if !ok {
        out.error("email.format", "not an e-mail address");
        return v.to_owned();
    }
    let (local, domain) = v.split_once('@').unwrap_or((v, ""));
    format!("{local}@{}", domain.to_ascii_lowercase())
}

fn amount_vnd(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let body = v.trim_end_matches(|c: char| c.is_alphabetic() || c == ' ' || c == '₫');
    let digits: String = body
        .chars()
        .filter(|c| !matches!(c, '.' | ',' | ' '))
        .collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        out.error(
            "amount_vnd.format",
            "not a whole, non-negative amount of đồng",
        );
        return v.to_owned();
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn land_parcel_id(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let parts: Vec<&str> = v.split('-').collect();
    let shape = parts.len() == 3
        && parts[0].len() == 5
        && (1..=4).contains(&parts[1].len())
        && (1..=5).contains(&parts[2].len())
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()));
    if !shape {
        out.error(
            "land_parcel_id.format",
            "expected COMMUNE(5 digits)-SHEET(1-4)-PARCEL(1-5), e.g. 00004-12-345",
        );
    } else if units::current().commune(parts[0]).is_none()
        && units::pre_2025().commune(parts[0]).is_none()
    {
        out.error(
            "land_parcel_id.unknown_commune",
            "the commune part is not a commune code",
        );
    }
    v.to_owned()
}

fn identifier(
    raw: &str,
    min_len: usize,
    max_len: usize,
    charset: Charset,
    out: &mut Out<'_>,
) -> String {
    let v = export_marks(raw, out);
    if is_scientific(&v) {
        scientific_error(&v, out);
        return v.into_owned();
    }
    let v = v.to_ascii_uppercase();
    let ok_chars = match charset {
        Charset::Digits => v.chars().all(|c| c.is_ascii_digit()),
        Charset::UpperAlnum => v
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
    };
    if !ok_chars || v.len() < min_len || v.len() > max_len {
        let what = if charset == Charset::Digits {
            "digits"
        } else {
            "letters and digits"
        };
        let len = if min_len == max_len {
            format!("{min_len}")
        } else {
            format!("{min_len}-{max_len}")
        };
        out.error("id.format", format!("expected {len} {what}"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: Kind, raw: &str) -> (String, Vec<(&'static str, Severity)>) {
        let mut findings = Vec::new();
        let mut out = Out {
            field: "f",
            findings: &mut findings,
        };
        let v = check(&kind, &FieldOpts::default(), raw, &mut out);
        (
            v,
            findings.into_iter().map(|f| (f.rule, f.severity)).collect(),
        )
    }

    #[test]
    fn data_driven_single_values() {
        use Severity::*;
        type Case = (
            Kind,
            &'static str,
            &'static str,
            Vec<(&'static str, Severity)>,
        );
        let cases: Vec<Case> = vec![
            (Kind::PersonalId, "001090123456", "001090123456", vec![]),
            (
                Kind::PersonalId,
                "001 090 123 456",
                "001090123456",
                vec![("id.separators", Repaired)],
            ),
            (
                Kind::PersonalId,
                "01090123456",
                "01090123456",
                vec![("id.length", Error)],
            ),
            (
                Kind::PersonalId,
                "012345678",
                "012345678",
                vec![("personal_id.is_cmnd", Error)],
            ),
            (
                Kind::PersonalId,
                "00109012345X",
                "00109012345X",
                vec![("id.non_digit", Error)],
            ),
            (
                Kind::Name,
                "NGUYỄN VĂN AN",
                "Nguyễn Văn An",
                vec![("text.upper_case", Repaired)],
            ),
            (
                Kind::Name,
                "Nguyen Van An",
                "Nguyen Van An",
                vec![("name.no_diacritics", Warning)],
            ),
            (
                Kind::Name,
                "Nguyễn  Văn An ",
                "Nguyễn Văn An",
                vec![("text.whitespace", Repaired)],
            ),
            (
                Kind::Name,
                "Lê Thị Hoà",
                "Lê Thị Hòa",
                vec![("text.tone_placement", Repaired)],
            ),
            (
                Kind::Name,
                "Nguyá»…n VÄƒn An",
                "Nguyễn Văn An",
                vec![("text.legacy_encoding", Repaired)],
            ),
            (
                Kind::Name,
                "Nguy\u{65}\u{302}\u{303}n Văn An",
                "Nguyễn Văn An",
                vec![("text.not_nfc", Repaired)],
            ),
            (
                Kind::Name,
                "H\u{2019}Hen Niê",
                "H'Hen Niê",
                vec![("text.apostrophe", Repaired)],
            ),
            (
                Kind::Name,
                "Nguyễn Văn 2",
                "Nguyễn Văn 2",
                vec![("name.invalid_chars", Error)],
            ),
            (
                Kind::Date { year_only: true },
                "1990-03-25",
                "1990-03-25",
                vec![],
            ),
            (
                Kind::Date { year_only: true },
                "19900325",
                "1990-03-25",
                vec![],
            ),
            (
                Kind::Date { year_only: true },
                "25/03/1990",
                "1990-03-25",
                vec![],
            ),
            (Kind::Date { year_only: true }, "1990", "1990", vec![]),
            (
                Kind::Date { year_only: true },
                "03/25/1990",
                "03/25/1990",
                vec![("date.impossible", Error)],
            ),
            (
                Kind::Date { year_only: true },
                "1990-02-30",
                "1990-02-30",
                vec![("date.impossible", Error)],
            ),
            (
                Kind::Date { year_only: false },
                "1990",
                "1990",
                vec![("date.format", Error)],
            ),
            (
                Kind::Date { year_only: true },
                "hôm qua",
                "hôm qua",
                vec![("date.format", Error)],
            ),
            (
                Kind::Timestamp,
                "2025-08-01 10:20:30",
                "2025-08-01T10:20:30+07:00",
                vec![],
            ),
            (
                Kind::Timestamp,
                "2025-08-01T10:20:30.5Z",
                "2025-08-01T10:20:30.5Z",
                vec![],
            ),
            (
                Kind::Timestamp,
                "2025-08-01 03:20:30.123456+00",
                "2025-08-01T03:20:30.123456+00:00",
                vec![],
            ),
            (
                Kind::Timestamp,
                "2025-08-01T10:20:30+0700",
                "2025-08-01T10:20:30+07:00",
                vec![],
            ),
            (
                Kind::Timestamp,
                "2025-08-01T10:20:30+7",
                "2025-08-01T10:20:30+7",
                vec![("timestamp.format", Error)],
            ),
            (
                Kind::Timestamp,
                "2025-08-01",
                "2025-08-01",
                vec![("timestamp.format", Error)],
            ),
            (
                Kind::Timestamp,
                "2025-08-01T10:20:3é",
                "2025-08-01T10:20:3é",
                vec![("timestamp.format", Error)],
            ),
            (
                Kind::Timestamp,
                "2025-08-01T10:20:30+ab:cd",
                "2025-08-01T10:20:30+ab:cd",
                vec![("timestamp.format", Error)],
            ),
            (
                Kind::Timestamp,
                "2025-08-01T10:20:30.Z",
                "2025-08-01T10:20:30.Z",
                vec![("timestamp.format", Error)],
            ),
            (
                Kind::Coded(&codes::SEX),
                "Nữ",
                "2",
                vec![("code.label_as_code", Repaired)],
            ),
            (
                Kind::Coded(&codes::SEX),
                "3",
                "3",
                vec![("code.unknown", Error)],
            ),
            (
                Kind::Ethnicity,
                "Khmer",
                "05",
                vec![("code.label_as_code", Repaired)],
            ),
            (
                Kind::Ethnicity,
                "1",
                "01",
                vec![("code.leading_zero", Repaired)],
            ),
            (
                Kind::Religion,
                "00",
                "",
                vec![("religion.none_code", Repaired)],
            ),
            (Kind::Religion, "15", "15", vec![("code.unknown", Error)]),
            (
                Kind::Nationality,
                "vn",
                "VN",
                vec![("nationality.case", Repaired)],
            ),
            (
                Kind::Nationality,
                "XX",
                "XX",
                vec![("nationality.unknown", Error)],
            ),
            (
                Kind::ProvinceCode,
                "1",
                "01",
                vec![("unit_code.leading_zero", Repaired)],
            ),
            (
                Kind::ProvinceCode,
                "02",
                "02",
                vec![("province_code.retired", Error)],
            ),
            (
                Kind::ProvinceCode,
                "99",
                "99",
                vec![("province_code.unknown", Error)],
            ),
            (
                Kind::CommuneCode,
                "4",
                "00004",
                vec![("unit_code.leading_zero", Repaired)],
            ),
            (
                Kind::CommuneCode,
                "00001",
                "00001",
                vec![("commune_code.retired", Error)],
            ),
            (
                Kind::Phone,
                "0912 345 678",
                "+84912345678",
                vec![("phone.separators", Repaired)],
            ),
            (
                Kind::Phone,
                "+84 24 3825 1234",
                "+842438251234",
                vec![("phone.separators", Repaired)],
            ),
            (
                Kind::Phone,
                "01662345678",
                "+84362345678",
                vec![("phone.old_mobile_prefix", Repaired)],
            ),
            (Kind::Phone, "12345", "12345", vec![("phone.format", Error)]),
            (
                Kind::Email,
                "an.nguyen@Gmail.COM",
                "an.nguyen@gmail.com",
                vec![],
            ),
            (
                Kind::Email,
                "an.nguyen@",
                "an.nguyen@",
                vec![("email.format", Error)],
            ),
            (Kind::AmountVnd, "1.500.000 đ", "1500000", vec![]),
            (
                Kind::AmountVnd,
                "-5",
                "-5",
                vec![("amount_vnd.format", Error)],
            ),
            (Kind::LandParcelId, "00004-12-345", "00004-12-345", vec![]),
            (
                Kind::LandParcelId,
                "4-12-345",
                "4-12-345",
                vec![("land_parcel_id.format", Error)],
            ),
            (
                Kind::Address,
                "Số 1, P. Ba Đình, TP. Hà Nội",
                "Số 1, Phường Ba Đình, Thành phố Hà Nội",
                vec![("address.abbreviation", Repaired)],
            ),
            (
                Kind::Address,
                "Số 1, Phường Ba Đình, Thành phố Hà Nội",
                "Số 1, Phường Ba Đình, Thành phố Hà Nội",
                vec![],
            ),
            (
                Kind::Address,
                "Số 1, Phường Trúc Bạch, Quận Ba Đình, Thành phố Hà Nội",
                "Số 1, Phường Ba Đình, Thành phố Hà Nội",
                vec![("address.old_units", Repaired)],
            ),
        ];
        for (kind, raw, want, want_findings) in cases {
            let (got, findings) = run(kind, raw);
            assert_eq!(got, want, "{raw}");
            assert_eq!(findings, want_findings, "{raw}");
        }
    }

    proptest::proptest! {
        /// No check panics, whatever the text (found: a non-ASCII byte inside a timestamp).
        #[test]
        fn no_check_panics_on_any_text(s in proptest::prop_oneof![
            proptest::prelude::any::<String>(),
            "[0-9:T +.Z/-]{0,30}\\PC{0,3}",
            "20[0-9]{2}-[0-9]{2}-[0-9]{2}[T ][0-9:]{0,8}\\PC{0,6}",
            "(Số 1, )?(P\\.|TP\\.|X\\.|Q\\.|KP)?\\PC{0,12}(, \\PC{0,10}){0,4}",
        ]) {
            for el in crate::catalog::ELEMENTS {
                let mut findings = Vec::new();
                let mut out = Out { field: "f", findings: &mut findings };
                let _ = check(&el.kind, &FieldOpts::default(), &s, &mut out);
            }
        }
    }

    #[test]
    fn rare_bytes_catch_every_odd_character() {
        // Every character the byte pass must not miss: all of `is_invisible`'s and every
        // whitespace other than the space.
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            if is_invisible(c) || (c.is_whitespace() && c != ' ') {
                let s = format!("Nguyễn{c}Văn");
                assert!(rare_bytes(&s), "U+{:04X}", c as u32);
            }
        }
        assert!(!rare_bytes(
            "Nguyễn Thị Hồng Nhung, Phường Ba Đình, Thành phố Hà Nội"
        ));
        assert!(!rare_bytes("Nguye\u{303}\u{302}n"));
    }

    #[test]
    fn address_parts() {
        let p = parse_address("Số 3, Thôn Đông, Xã An Khánh, Huyện Hoài Đức, Thành phố Hà Nội");
        assert_eq!(p.street, vec!["Số 3", "Thôn Đông"]);
        assert_eq!(p.commune, Some("Xã An Khánh"));
        assert_eq!(p.district, Some("Huyện Hoài Đức"));
        assert_eq!(p.province, Some("Thành phố Hà Nội"));
    }
}
