//! Identifiers: personal ids, unit codes, land parcels, codes of other registers — and what
//! exports do to them (text markers, full-width digits, scientific notation).

use super::*;

pub(super) fn digits_id(raw: &str, len: usize, out: &mut Out<'_>) -> String {
    match digits_in_form(raw, len) {
        Some(t) => t.to_owned(),
        None => digits_id_general(raw, len, out),
    }
}

/// Fast path: `raw` trimmed when it is already `len` ASCII digits, which the general path
/// returns unchanged and without a finding (a test compares the two).
pub(super) fn digits_in_form(raw: &str, len: usize) -> Option<&str> {
    let t = raw.trim();
    (t.len() == len && t.bytes().all(|b| b.is_ascii_digit())).then_some(t)
}

pub(super) fn digits_id_general(raw: &str, len: usize, out: &mut Out<'_>) -> String {
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

/// The ASCII form of a full-width digit or Latin letter (U+FF10–FF19, FF21–FF3A, FF41–FF5A:
/// compatibility forms of the same characters, typed with an East Asian input method).
pub(super) fn ascii_of_fullwidth(c: char) -> Option<char> {
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
pub(super) fn export_marks<'a>(raw: &'a str, out: &mut Out<'_>) -> Cow<'a, str> {
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
pub(super) fn is_scientific(v: &str) -> bool {
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

pub(super) fn scientific_error(v: &str, out: &mut Out<'_>) {
    out.error(
        "id.scientific_notation",
        format!(
            "{v} is a number in scientific notation: a spreadsheet read the identifier as a \
             number and kept only its first digits; not restored, since a guessed id could \
             name another person (export the column as text)"
        ),
    );
}

pub(super) fn padded_code(raw: &str, width: usize, out: &mut Out<'_>) -> Option<String> {
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

pub(super) fn province_code(raw: &str, out: &mut Out<'_>) -> String {
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

pub(super) fn commune_code(raw: &str, out: &mut Out<'_>) -> String {
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

pub(super) fn land_parcel_id(raw: &str, out: &mut Out<'_>) -> String {
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

pub(super) fn identifier(
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
