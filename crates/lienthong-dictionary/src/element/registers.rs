//! Identifiers of other national registers whose rules are public: the tax identification
//! number (which is also the enterprise code) with its check digit, CAS Registry Numbers
//! with theirs, and UN numbers of dangerous goods. Sources in docs/dictionary.md.

use super::*;

/// The weights of the tax code's check digit over its first nine digits.
const TAX_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// The tenth digit that nine digits of a tax code call for: `10 − (Σ dᵢwᵢ mod 11)`. The rule
/// gives 10 when the sum is a multiple of 11; such a code is written with 0 (accepted as in
/// circulation rather than refused: a check that refuses real codes would do more harm).
pub fn tax_code_check_digit(nine: &[u8; 9]) -> u8 {
    let sum: u32 = nine
        .iter()
        .zip(TAX_WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    ((10 - sum % 11) % 10) as u8
}

fn digits_of(s: &str) -> Option<Vec<u8>> {
    s.bytes()
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect()
}

/// Tax identification number (mã số thuế): 10 digits whose last is the check digit; a
/// dependent unit's is the same 10 digits, a dash and its 3-digit number (001–999); since
/// 1 July 2025 a person's (and a household's) is their 12-digit personal id number.
pub(super) fn tax_code(raw: &str, out: &mut Out<'_>) -> String {
    let v = export_marks(raw, out);
    if is_scientific(&v) {
        scientific_error(&v, out);
        return v.into_owned();
    }
    let v = v.trim();
    // Spaces and dots are how people group digits; the dash before a branch number is kept.
    let compact: String = v.chars().filter(|c| !matches!(c, ' ' | '.')).collect();
    if compact.len() != v.len() {
        out.repaired("id.separators", "spaces or dots removed");
    }
    let (main, branch) = match compact.split_once('-') {
        Some((m, b)) => (m.to_owned(), Some(b.to_owned())),
        None if compact.len() == 13 && compact.bytes().all(|b| b.is_ascii_digit()) => {
            out.repaired(
                "tax_code.branch_dash",
                "13 digits: the dash before the dependent unit's number written",
            );
            (compact[..10].to_owned(), Some(compact[10..].to_owned()))
        }
        None => (compact.clone(), None),
    };
    let main_digits = digits_of(&main);
    let branch_ok = branch
        .as_deref()
        .map(|b| b.len() == 3 && b.bytes().all(|c| c.is_ascii_digit()));
    let form_ok = match (&main_digits, branch_ok) {
        (Some(d), None) => d.len() == 10 || d.len() == 12,
        (Some(d), Some(true)) => d.len() == 10,
        _ => false,
    };
    if !form_ok {
        out.error(
            "tax_code.format",
            "expected 10 digits, 10 digits-3 digits for a dependent unit, or a 12-digit \
             personal id number",
        );
        return compact;
    }
    let Some(d) = main_digits else {
        return compact;
    };
    if d.len() == 10 {
        let nine: [u8; 9] = std::array::from_fn(|i| d[i]);
        let expected = tax_code_check_digit(&nine);
        if d[9] != expected {
            out.error(
                "tax_code.check_digit",
                format!(
                    "the check digit is {}, the first nine digits call for {expected}: a \
                     digit was mistyped or two were swapped",
                    d[9]
                ),
            );
        }
    }
    if branch.as_deref() == Some("000") {
        out.error(
            "tax_code.branch",
            "a dependent unit's number runs from 001 to 999",
        );
    }
    match branch {
        Some(b) => format!("{main}-{b}"),
        None => main,
    }
}

/// The check digit of a CAS Registry Number: the digits before it, from the right, times
/// 1, 2, 3…, summed, modulo 10.
pub fn cas_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| (i as u32 + 1) * u32::from(*d))
        .sum();
    (sum % 10) as u8
}

/// CAS Registry Number: 2–7 digits, 2 digits, 1 check digit, joined by dashes
/// (`7732-18-5`). Written without dashes, they are put back.
pub(super) fn cas_number(raw: &str, out: &mut Out<'_>) -> String {
    let v = export_marks(raw, out);
    let v = v.trim();
    let parts: Vec<&str> = v.split('-').collect();
    let digits_only = v.bytes().all(|b| b.is_ascii_digit());
    let (first, second, check) = match parts.as_slice() {
        [a, b, c] => (a.to_string(), b.to_string(), c.to_string()),
        [_] if digits_only && (5..=10).contains(&v.len()) => {
            out.repaired("cas_number.dashes", "the dashes of a CAS number written");
            let n = v.len();
            (
                v[..n - 3].to_owned(),
                v[n - 3..n - 1].to_owned(),
                v[n - 1..].to_owned(),
            )
        }
        _ => {
            out.error(
                "cas_number.format",
                "expected 2-7 digits, 2 digits and a check digit joined by dashes, e.g. 7732-18-5",
            );
            return v.to_owned();
        }
    };
    let all_digits = [&first, &second, &check]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let shape = all_digits
        && (2..=7).contains(&first.len())
        && !first.starts_with('0')
        && second.len() == 2
        && check.len() == 1;
    let written = format!("{first}-{second}-{check}");
    if !shape {
        out.error(
            "cas_number.format",
            "expected 2-7 digits (no leading zero), 2 digits and a check digit, e.g. 7732-18-5",
        );
        return written;
    }
    let body: Vec<u8> = format!("{first}{second}")
        .bytes()
        .map(|b| b - b'0')
        .collect();
    let expected = cas_check_digit(&body);
    let given = check.as_bytes()[0] - b'0';
    if given != expected {
        out.error(
            "cas_number.check_digit",
            format!("the check digit is {given}, the digits before it call for {expected}"),
        );
    }
    written
}

/// UN number of a dangerous substance or article: `UN` and four digits (`UN1203`). The list
/// is revised every two years, so only the form is checked.
pub(super) fn un_number(raw: &str, out: &mut Out<'_>) -> String {
    let v = export_marks(raw, out);
    let v = v.trim();
    let compact: String = v
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let digits = compact.strip_prefix("UN").unwrap_or(&compact);
    let ok = digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) && digits != "0000";
    if !ok {
        out.error(
            "un_number.format",
            "expected UN and four digits, e.g. UN1203",
        );
        return v.to_owned();
    }
    let written = format!("UN{digits}");
    if written != v {
        out.repaired("un_number.form", "written as UN and four digits");
    }
    written
}

/// Number and symbol of an administrative document (số, ký hiệu: `123/QĐ-UBND`, with the year
/// for legal documents `15/2024/QĐ-UBND`, a permit `45/GPXD`): digits, an optional year, the
/// document type's abbreviation and the issuer's, joined as Decree 30/2020/NĐ-CP lays out. A
/// leading `Số:` and spaces around the separators are removed.
pub(super) fn document_number(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let bare = ["Số:", "số:", "Số", "số", "SỐ:"]
        .iter()
        .find_map(|p| v.strip_prefix(p))
        .map(str::trim_start);
    let mut written: String = bare.unwrap_or(v).to_owned();
    if bare.is_some() {
        out.repaired("document_number.prefix", "the leading \"Số:\" removed");
    }
    let compact: String = written.chars().filter(|c| !c.is_whitespace()).collect();
    if compact != written {
        out.repaired("id.separators", "spaces removed");
        written = compact;
    }
    let upper = written.to_uppercase();
    if upper != written {
        out.repaired("document_number.case", "abbreviations upper-cased");
        written = upper;
    }
    let parts: Vec<&str> = written.split('/').collect();
    let number_ok =
        |p: &str| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit());
    let symbol_ok = |p: &str| {
        let mut pieces = p.split('-');
        let kind = pieces.next().unwrap_or("");
        !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_uppercase() || c == 'Đ')
            && pieces.all(|q| {
                !q.is_empty()
                    && q.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == 'Đ')
            })
    };
    let ok = match parts.as_slice() {
        [n, s] => number_ok(n) && symbol_ok(s),
        [n, y, s] => {
            number_ok(n) && y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) && symbol_ok(s)
        }
        _ => false,
    };
    if !ok {
        out.error(
            "document_number.format",
            "expected NUMBER/TYPE-ISSUER (123/QĐ-UBND), with the year for a legal document \
             (15/2024/QĐ-UBND)",
        );
    }
    written
}

/// Vehicle registration plate, stored without separators (`30A12345`, `29B112345`): the
/// locality's two digits (not 00 or 10), a series of one or two letters (a motorcycle's with
/// one digit more), and a number of four or five digits. The separators people write (`30A-
/// 123.45`, `29-B1 123.45`) are removed; only the form is checked.
pub(super) fn vehicle_plate(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let compact: String = v
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.'))
        .collect::<String>()
        .to_ascii_uppercase();
    if compact != v {
        out.repaired(
            "vehicle_plate.separators",
            "written without separators, upper-cased",
        );
    }
    let b = compact.as_bytes();
    let letters = b
        .iter()
        .skip(2)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    let rest = b.get(2 + letters..).unwrap_or(&[]);
    let ok = b.len() >= 7
        && b[..2].iter().all(u8::is_ascii_digit)
        && !matches!(&b[..2], b"00" | b"10")
        && (1..=2).contains(&letters)
        && (4..=6).contains(&rest.len())
        && rest.iter().all(u8::is_ascii_digit);
    if !ok {
        out.error(
            "vehicle_plate.format",
            "expected the locality's two digits, a series of one or two letters (and a digit \
             for a motorcycle) and four or five digits, e.g. 30A-123.45",
        );
    }
    compact
}
