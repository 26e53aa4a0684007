//! Defect injection. Each class has a rate (per applicable record); every injected defect is
//! recorded in the truth list. At most one defect per field, and fields a defect depends on
//! are locked, so every recorded defect stays detectable on its own. Legacy encodings are
//! made by the generator's own encoders (`encoders`), never the dictionary's, and injected
//! whenever they change the value; one whose text reads as Unicode Vietnamese is recorded as
//! an expected miss.

use std::collections::HashSet;

use lienthong_dictionary::codes::{ETHNICITY_GSO, ETHNICITY_QD121};
use lienthong_dictionary::units;
use lienthong_dictionary::vn::fold_key;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use unicode_normalization::UnicodeNormalization;

use crate::encoders;
use crate::people::{address, Geo};

/// The defect classes the generator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Defect {
    Nfd,
    Tcvn3,
    Vni,
    Mojibake,
    Deaccented,
    UpperCase,
    Abbreviation,
    OldUnitName,
    LostLeadingZeros,
    CmndInId,
    WrongCentury,
    SwappedDayMonth,
    Duplicate,
    DeceasedActive,
    StaleAddress,
    MissingMandatory,
    OtherEthnicityOrdering,
    // What spreadsheets, SQL exports and web forms do (off by default: rate 0).
    TextMarker,
    FullwidthDigits,
    InvisibleChars,
    MidnightDatetime,
    Phone0084,
    PhoneGrouped,
    ScientificNotation,
    /// One digit of a tax code or CAS number mistyped, so that its check digit fails.
    CheckDigitTypo,
}

impl Defect {
    pub const ALL: [Defect; 25] = [
        Defect::Nfd,
        Defect::Tcvn3,
        Defect::Vni,
        Defect::Mojibake,
        Defect::Deaccented,
        Defect::UpperCase,
        Defect::Abbreviation,
        Defect::OldUnitName,
        Defect::LostLeadingZeros,
        Defect::CmndInId,
        Defect::WrongCentury,
        Defect::SwappedDayMonth,
        Defect::Duplicate,
        Defect::DeceasedActive,
        Defect::StaleAddress,
        Defect::MissingMandatory,
        Defect::OtherEthnicityOrdering,
        Defect::TextMarker,
        Defect::FullwidthDigits,
        Defect::InvisibleChars,
        Defect::MidnightDatetime,
        Defect::Phone0084,
        Defect::PhoneGrouped,
        Defect::ScientificNotation,
        Defect::CheckDigitTypo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Defect::Nfd => "nfd",
            Defect::Tcvn3 => "tcvn3",
            Defect::Vni => "vni",
            Defect::Mojibake => "mojibake",
            Defect::Deaccented => "deaccented",
            Defect::UpperCase => "upper_case",
            Defect::Abbreviation => "abbreviation",
            Defect::OldUnitName => "old_unit_name",
            Defect::LostLeadingZeros => "lost_leading_zeros",
            Defect::CmndInId => "cmnd_in_id",
            Defect::WrongCentury => "wrong_century",
            Defect::SwappedDayMonth => "swapped_day_month",
            Defect::Duplicate => "duplicate",
            Defect::DeceasedActive => "deceased_active",
            Defect::StaleAddress => "stale_address",
            Defect::MissingMandatory => "missing_mandatory",
            Defect::OtherEthnicityOrdering => "other_ethnicity_ordering",
            Defect::TextMarker => "text_marker",
            Defect::FullwidthDigits => "fullwidth_digits",
            Defect::InvisibleChars => "invisible_chars",
            Defect::MidnightDatetime => "midnight_datetime",
            Defect::Phone0084 => "phone_0084",
            Defect::PhoneGrouped => "phone_grouped",
            Defect::ScientificNotation => "scientific_notation",
            Defect::CheckDigitTypo => "check_digit_typo",
        }
    }

    pub fn from_name(name: &str) -> Option<Defect> {
        Defect::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Default rate per applicable record.
    pub fn default_rate(self) -> f64 {
        match self {
            Defect::Duplicate => 0.01,
            // Per deceased participant, who are few.
            Defect::DeceasedActive => 0.3,
            Defect::OtherEthnicityOrdering => 0.2,
            // Export damage is asked for (`--noise text_marker=0.01`): left out by default so
            // that a seed's data stays what it was before these classes existed.
            Defect::TextMarker
            | Defect::FullwidthDigits
            | Defect::InvisibleChars
            | Defect::MidnightDatetime
            | Defect::Phone0084
            | Defect::PhoneGrouped
            | Defect::ScientificNotation => 0.0,
            _ => 0.005,
        }
    }
}

/// One injected defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub dataset: &'static str,
    pub record: u64,
    pub field: &'static str,
    pub defect: Defect,
    /// Legacy text that is, character for character, Unicode Vietnamese
    /// ([`encoders::only_vietnamese_letters`]): no validator can be expected to find it.
    pub expected_miss: bool,
}

/// A record being generated: values by field name, plus what noise may need to know.
pub struct Draft<'a> {
    pub dataset: &'static lienthong_dictionary::catalog::Dataset,
    pub values: Vec<String>,
    pub locked: HashSet<&'static str>,
    /// The record's commune (for address defects), when it has an address.
    pub commune: Option<&'static units::Commune>,
    pub street: &'a str,
}

impl Draft<'_> {
    fn idx(&self, field: &str) -> Option<usize> {
        self.dataset.index(field)
    }

    fn get(&self, field: &str) -> Option<&str> {
        self.idx(field)
            .map(|i| self.values[i].as_str())
            .filter(|v| !v.is_empty())
    }

    fn free(&self, field: &str) -> bool {
        !self.locked.contains(field) && self.get(field).is_some()
    }

    fn set(&mut self, field: &'static str, value: String) {
        if let Some(i) = self.idx(field) {
            self.values[i] = value;
        }
        self.locked.insert(field);
    }
}

const CMND_PREFIXES: &[&str] = &[
    "01", "02", "03", "05", "07", "10", "11", "12", "13", "14", "16", "18", "19", "20", "21", "22",
    "26", "27", "29", "32", "35", "36", "38",
];

fn strip_diacritics(s: &str) -> String {
    // Keep case, drop tones, qualities and đ.
    s.chars()
        .map(|c| {
            let f = lienthong_dictionary::vn::fold_char(c);
            if c.is_uppercase() {
                f.to_ascii_uppercase()
            } else {
                f
            }
        })
        .collect()
}

fn abbreviate(addr: &str) -> Option<String> {
    let mut changed = false;
    let segs: Vec<String> = addr
        .split(", ")
        .map(|seg| {
            for (full, abbr) in [("Thành phố ", "TP. "), ("Phường ", "P. "), ("Xã ", "X. ")]
            {
                if let Some(rest) = seg.strip_prefix(full) {
                    changed = true;
                    return format!("{abbr}{rest}");
                }
            }
            seg.to_owned()
        })
        .collect();
    changed.then(|| segs.join(", "))
}

fn old_address(street: &str, commune: &units::Commune) -> Option<String> {
    let old = units::pre_2025();
    let oc = old.commune(&commune.code)?;
    let district = old.district(oc.district_code.as_deref()?)?;
    let province = old.province(&oc.province_code)?;
    Some(format!(
        "{street}, {}, {}, {}",
        oc.full_name, district.full_name, province.full_name
    ))
}

/// One of `fields` that the record has and no defect holds yet.
/// The fields whose values carry a check digit.
const CHECK_DIGIT_FIELDS: [&str; 2] = ["tax_code", "cas_number"];

/// `value` with one digit before its check digit changed so that the check fails: the
/// typing error the check digit exists to catch.
fn mistyped(rng: &mut ChaCha8Rng, field: &str, value: &str) -> Option<String> {
    use lienthong_dictionary::element::{cas_check_digit, tax_code_check_digit};
    let mut bytes = value.as_bytes().to_vec();
    // Positions of the digits the check digit covers.
    let covered: Vec<usize> = match field {
        "tax_code" => (0..9).collect(),
        _ => (0..bytes.len().saturating_sub(2))
            .filter(|&i| bytes[i].is_ascii_digit())
            .collect(),
    };
    if covered.is_empty() || !bytes.iter().all(|b| b.is_ascii_digit() || *b == b'-') {
        return None;
    }
    let fails = |b: &[u8]| -> bool {
        let digits: Vec<u8> = b
            .iter()
            .filter(|c| c.is_ascii_digit())
            .map(|c| c - b'0')
            .collect();
        match field {
            "tax_code" => {
                let nine: [u8; 9] = std::array::from_fn(|i| digits[i]);
                tax_code_check_digit(&nine) != digits[9]
            }
            _ => {
                let (body, check) = digits.split_at(digits.len() - 1);
                cas_check_digit(body) != check[0]
            }
        }
    };
    for _ in 0..20 {
        let i = covered[rng.gen_range(0..covered.len())];
        let was = bytes[i];
        bytes[i] = b'0' + rng.gen_range(0..10u8);
        // A leading zero would make a CAS number malformed rather than mistyped.
        if bytes[i] != was
            && !(field == "cas_number" && i == 0 && bytes[i] == b'0')
            && fails(&bytes)
        {
            return String::from_utf8(bytes).ok();
        }
        bytes[i] = was;
    }
    None
}

fn free_of(d: &Draft<'_>, rng: &mut ChaCha8Rng, fields: &[&'static str]) -> Option<&'static str> {
    let free: Vec<&'static str> = fields.iter().copied().filter(|f| d.free(f)).collect();
    (!free.is_empty()).then(|| free[rng.gen_range(0..free.len())])
}

/// Applies each text or identifier defect class with its rate. Returns what was injected.
pub fn inject(
    rng: &mut ChaCha8Rng,
    rates: &[(Defect, f64)],
    geo: &Geo,
    draft: &mut Draft<'_>,
    record: u64,
    out: &mut Vec<Injected>,
) {
    let dataset = draft.dataset.name;
    // Only datasets with a checked identifier draw for a typo in one: the others' draws, and
    // so their data for a seed, stay what they were before the class existed.
    let has_check_digit = draft
        .dataset
        .fields
        .iter()
        .any(|f| CHECK_DIGIT_FIELDS.contains(&f.name));
    for &(defect, rate) in rates {
        if defect == Defect::CheckDigitTypo && !has_check_digit {
            continue;
        }
        if rate <= 0.0 || !rng.gen_bool(rate.min(1.0)) {
            continue;
        }
        if let Some(field) = apply(rng, defect, geo, draft) {
            let legacy = matches!(defect, Defect::Tcvn3 | Defect::Vni | Defect::Mojibake);
            let expected_miss = legacy
                && draft
                    .get(field)
                    .is_some_and(encoders::only_vietnamese_letters);
            out.push(Injected {
                dataset,
                record,
                field,
                defect,
                expected_miss,
            });
        }
    }
}

fn apply(
    rng: &mut ChaCha8Rng,
    defect: Defect,
    geo: &Geo,
    d: &mut Draft<'_>,
) -> Option<&'static str> {
    let text_field = |d: &Draft<'_>, rng: &mut ChaCha8Rng| -> Option<&'static str> {
        let candidates: Vec<&'static str> = ["full_name", "address"]
            .into_iter()
            .filter(|f| d.free(f))
            .collect();
        (!candidates.is_empty()).then(|| candidates[rng.gen_range(0..candidates.len())])
    };
    match defect {
        Defect::Nfd | Defect::Tcvn3 | Defect::Vni | Defect::Mojibake | Defect::UpperCase => {
            let field = text_field(d, rng)?;
            let v = d.get(field)?.to_owned();
            let dirty = match defect {
                Defect::Nfd => v.nfd().collect(),
                Defect::Tcvn3 => encoders::tcvn3(&v),
                Defect::Vni => encoders::vni(&v),
                Defect::Mojibake => encoders::utf8_as_cp1252(&v),
                _ => v.to_uppercase(),
            };
            (dirty != v).then(|| {
                d.set(field, dirty);
                field
            })
        }
        Defect::Deaccented => {
            if !d.free("full_name") {
                return None;
            }
            let v = strip_diacritics(d.get("full_name")?);
            d.set("full_name", v);
            Some("full_name")
        }
        Defect::Abbreviation => {
            if !d.free("address") {
                return None;
            }
            let v = abbreviate(d.get("address")?)?;
            d.set("address", v);
            Some("address")
        }
        Defect::OldUnitName => {
            if !d.free("address") {
                return None;
            }
            let v = old_address(d.street, d.commune?)?;
            d.set("address", v);
            Some("address")
        }
        Defect::StaleAddress => {
            let current = d.commune?;
            if !d.free("address") || !d.free("commune_code") || !d.free("province_code") {
                return None;
            }
            let other = geo.random_commune(rng);
            let same_name = fold_key(&other.full_name) == fold_key(&current.full_name);
            if other.code == current.code
                || (same_name && other.province_code == current.province_code)
            {
                return None;
            }
            d.set("address", address(d.street, other));
            d.locked.extend(["commune_code", "province_code"]);
            Some("address")
        }
        Defect::LostLeadingZeros => {
            let field = ["personal_id", "commune_code"]
                .into_iter()
                .filter(|f| d.free(f))
                .find(|f| d.get(f).is_some_and(|v| v.starts_with('0')))?;
            let v = d.get(field)?.trim_start_matches('0').to_owned();
            d.set(field, v);
            Some(field)
        }
        Defect::CmndInId => {
            if !d.free("personal_id") {
                return None;
            }
            let v = format!(
                "{}{:07}",
                CMND_PREFIXES[rng.gen_range(0..CMND_PREFIXES.len())],
                rng.gen_range(0..10_000_000)
            );
            d.set("personal_id", v);
            Some("personal_id")
        }
        Defect::WrongCentury => {
            // Detectable only where birth date and sex sit beside the ID.
            if !(d.free("personal_id") && d.free("birth_date") && d.free("sex")) {
                return None;
            }
            let mut id: Vec<u8> = d.get("personal_id")?.bytes().collect();
            id[3] = b'0' + (id[3] - b'0' + 2) % 4;
            d.set("personal_id", String::from_utf8(id).ok()?);
            d.locked.extend(["birth_date", "sex"]);
            Some("personal_id")
        }
        Defect::SwappedDayMonth => {
            if !d.free("birth_date") {
                return None;
            }
            let v = d.get("birth_date")?.to_owned();
            // Only swaps that no calendar accepts (day > 12) are detectable from the record.
            let (y, m, day) = (&v[..4], &v[5..7], &v[8..10]);
            if day.parse::<u32>().ok()? <= 12 {
                return None;
            }
            d.set("birth_date", format!("{y}-{day}-{m}"));
            Some("birth_date")
        }
        Defect::MissingMandatory => {
            let fields: Vec<&'static str> = d
                .dataset
                .fields
                .iter()
                .filter(|f| f.mandatory && d.free(f.name))
                .map(|f| f.name)
                .collect();
            if fields.is_empty() {
                return None;
            }
            let field = fields[rng.gen_range(0..fields.len())];
            d.set(field, String::new());
            Some(field)
        }
        Defect::OtherEthnicityOrdering => {
            if !(d.free("ethnicity") && d.free("ethnicity_name")) {
                return None;
            }
            let code = d.get("ethnicity")?;
            let other = lienthong_dictionary::codes::ethnicity_crosswalk(
                code,
                &ETHNICITY_QD121,
                &ETHNICITY_GSO,
            )?;
            if other.code == code {
                return None;
            }
            let other_code = other.code.to_owned();
            d.set("ethnicity", other_code);
            d.locked.insert("ethnicity_name");
            Some("ethnicity")
        }
        Defect::TextMarker => {
            let field = free_of(d, rng, &["personal_id", "phone", "insurance_no"])?;
            let v = format!("'{}", d.get(field)?);
            d.set(field, v);
            Some(field)
        }
        Defect::FullwidthDigits => {
            let field = free_of(d, rng, &["personal_id", "phone"])?;
            let v = d
                .get(field)?
                .chars()
                .map(|c| match c.to_digit(10) {
                    Some(n) => char::from_u32(0xFF10 + n).unwrap_or(c),
                    None => c,
                })
                .collect();
            d.set(field, v);
            Some(field)
        }
        Defect::InvisibleChars => {
            let field = text_field(d, rng)?;
            let v = d.get(field)?.to_owned();
            let dirty = if rng.gen_bool(0.3) {
                format!("\u{FEFF}{v}")
            } else {
                const INVISIBLE: [char; 5] =
                    ['\u{200B}', '\u{00AD}', '\u{200C}', '\u{2060}', '\u{200E}'];
                let at: Vec<usize> = v.char_indices().map(|(i, _)| i).skip(1).collect();
                if at.is_empty() {
                    return None;
                }
                let i = at[rng.gen_range(0..at.len())];
                let c = INVISIBLE[rng.gen_range(0..INVISIBLE.len())];
                format!("{}{c}{}", &v[..i], &v[i..])
            };
            d.set(field, dirty);
            Some(field)
        }
        Defect::MidnightDatetime => {
            if !d.free("birth_date") {
                return None;
            }
            let v = d.get("birth_date")?.to_owned();
            if v.len() != 10 {
                return None;
            }
            const TIMES: [&str; 4] = [" 00:00:00", "T00:00:00", " 00:00:00.000", " 00:00"];
            d.set(
                "birth_date",
                format!("{v}{}", TIMES[rng.gen_range(0..TIMES.len())]),
            );
            Some("birth_date")
        }
        Defect::Phone0084 => {
            let national = d.get("phone")?.strip_prefix('0')?.to_owned();
            if !d.free("phone") {
                return None;
            }
            d.set("phone", format!("0084{national}"));
            Some("phone")
        }
        Defect::PhoneGrouped => {
            if !d.free("phone") {
                return None;
            }
            let v = d.get("phone")?.to_owned();
            if v.len() != 10 {
                return None;
            }
            let sep = [".", "-", " "][rng.gen_range(0..3)];
            d.set(
                "phone",
                format!("{}{sep}{}{sep}{}", &v[..4], &v[4..7], &v[7..]),
            );
            Some("phone")
        }
        Defect::CheckDigitTypo => {
            let field = free_of(d, rng, &CHECK_DIGIT_FIELDS)?;
            let v = mistyped(rng, field, d.get(field)?)?;
            d.set(field, v);
            Some(field)
        }
        Defect::ScientificNotation => {
            // Excel's General format: the id read as a number, six significant digits.
            let field = free_of(d, rng, &["personal_id", "insurance_no"])?;
            let number = d.get(field)?.trim_start_matches('0').to_owned();
            if number.len() < 7 {
                return None;
            }
            let v = format!("{}.{}E+{}", &number[..1], &number[1..6], number.len() - 1);
            d.set(field, v);
            Some(field)
        }
        // Record-level defects are made by the generator itself.
        Defect::Duplicate | Defect::DeceasedActive => None,
    }
}
