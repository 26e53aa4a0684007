//! Coded values (code lists, ethnicity, religion, nationality), phones, e-mail and amounts.

use super::*;

pub(super) fn coded(raw: &str, system: &'static CodeSystem, out: &mut Out<'_>) -> String {
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

pub(super) fn ethnicity(raw: &str, system: &'static CodeSystem, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    if v.len() == 1 && v.chars().all(|c| c.is_ascii_digit()) {
        out.repaired("code.leading_zero", "leading zero restored");
        return coded(&format!("0{v}"), system, out);
    }
    coded(v, system, out)
}

pub(super) fn religion(raw: &str, out: &mut Out<'_>) -> String {
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

pub(super) fn nationality(raw: &str, out: &mut Out<'_>) -> String {
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

/// 2018 renumbering of 11-digit mobile numbers (Bộ TT&TT): old prefix → new prefix.
pub(super) const OLD_MOBILE: [(&str, &str); 21] = [
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

pub(super) fn phone(raw: &str, out: &mut Out<'_>) -> String {
    match national_in_form(raw) {
        Some(t) => international(t),
        None => phone_general(raw, out),
    }
}

/// Fast path: `raw` trimmed when it is a national number as most registers hold it, `0` +
/// a 9-digit mobile number or a 10-digit landline (`02…`), digits only; the general path
/// gives it `+84` ([`international`]) and no finding (a test compares the two).
pub(super) fn national_in_form(raw: &str) -> Option<&str> {
    let t = raw.trim();
    let b = t.as_bytes();
    let plain = match b {
        [b'0', b'3' | b'5' | b'7' | b'8' | b'9', ..] => b.len() == 10,
        [b'0', b'2', ..] => b.len() == 11,
        _ => false,
    };
    (plain && b.iter().all(u8::is_ascii_digit)).then_some(t)
}

/// `+84` and the national number `t` (from [`national_in_form`]) without its leading `0`.
pub(super) fn international(t: &str) -> String {
    let mut v = String::with_capacity(t.len() + 2);
    international_into(t, &mut v);
    v
}

pub(super) fn international_into(t: &str, v: &mut String) {
    v.clear();
    v.push_str("+84");
    v.push_str(&t[1..]);
}

pub(super) fn phone_general(raw: &str, out: &mut Out<'_>) -> String {
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

pub(super) fn email(raw: &str, out: &mut Out<'_>) -> String {
    match email_in_form(raw) {
        Some(t) => t.to_owned(),
        None => email_general(raw, out),
    }
}

/// Fast path: `raw` trimmed when it is an ASCII address `local@domain.tld` whose domain is
/// already lower case, which the general path returns unchanged and without a finding (a
/// test compares the two).
pub(super) fn email_in_form(raw: &str) -> Option<&str> {
    let v = raw.trim();
    let (local, domain) = v.split_once('@')?;
    let in_form = |c: u8| c.is_ascii_graphic() && c != b'@';
    let ok = !local.is_empty()
        && local.bytes().all(in_form)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|c| in_form(c) && !c.is_ascii_uppercase());
    ok.then_some(v)
}

pub(super) fn email_general(raw: &str, out: &mut Out<'_>) -> String {
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

pub(super) fn amount_vnd(raw: &str, out: &mut Out<'_>) -> String {
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
