//! Text, names and addresses: NFC, legacy encodings, invisible characters, whitespace, tone
//! placement, case; address abbreviations and pre-2025 unit names.

use super::*;

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
pub(super) fn rare_bytes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &x)| match x {
        0x09..=0x0D | 0xC2 | 0xCD | 0xD8 | 0xE2 | 0xE3 | 0xEF | 0xF0 | 0xF3 => true,
        0xE1 => matches!(b.get(i + 1), Some(0x85 | 0x9A | 0x9E | 0xA0)),
        _ => false,
    })
}

/// Whether `s` is surely NFC without the per-character quick check: every character is
/// below U+0300 (ASCII, Latin-1, Latin Extended-A/B, IPA, spacing modifiers) or in Latin
/// Extended Additional U+1E00–U+1EFF (the precomposed Vietnamese letters) — each of them
/// NFC_QC=Yes with combining class 0 (a test checks every one), so their sequence is NFC.
pub(super) fn surely_nfc(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&x) = b.get(i) {
        i += match x {
            0x00..=0x7F => 1,
            0xC2..=0xCB => 2,
            0xE1 if matches!(b.get(i + 1), Some(0xB8..=0xBB)) => 3,
            _ => return false,
        };
    }
    true
}

/// `s` without invisible characters, or `None` when it has none.
pub(super) fn without_invisible(s: &str) -> Option<String> {
    without_invisible_but(s, '\0')
}

/// `s` without invisible characters other than `keep`, or `None` when it has none.
pub(super) fn without_invisible_but(s: &str, keep: char) -> Option<String> {
    let gone = |c: char| c != keep && is_invisible(c);
    (!s.is_ascii() && s.contains(gone)).then(|| s.chars().filter(|c| !gone(*c)).collect())
}

/// NFC, legacy-encoding repair, whitespace, canonical tone placement. Each change reported.
pub fn clean_text<'a>(raw: &'a str, out: &mut Out<'_>) -> Cow<'a, str> {
    let mut s: Cow<'a, str> = Cow::Borrowed(raw);
    if !surely_nfc(&s) && is_nfc_quick(s.chars()) != IsNormalized::Yes {
        let n: String = s.nfc().collect();
        if n != *s {
            out.repaired("text.not_nfc", "decomposed (NFD) text recomposed to NFC");
            s = Cow::Owned(n);
        }
    }
    // One byte pass says whether the slower character scans below can find anything.
    let mut odd = rare_bytes(&s);
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
            // The repaired text is new text: its whitespace is checked afresh below.
            odd = rare_bytes(&s);
        }
        if invisible {
            out.repaired(
                "text.invisible_chars",
                "invisible characters removed (zero-width, soft hyphen, byte-order mark)",
            );
        }
    }
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

pub(super) fn is_all_upper(s: &str) -> bool {
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

pub(super) fn name(raw: &str, out: &mut Out<'_>) -> String {
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

pub(super) const COMMUNE_PREFIXES: [&str; 4] = ["phuong ", "xa ", "thi tran ", "dac khu "];

pub(super) const DISTRICT_PREFIXES: [&str; 4] = ["quan ", "huyen ", "thi xa ", "thanh pho "];

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

/// The commune, district and province an address names, as [`parse_address`] finds them,
/// without collecting its segments (the checks that run on every address read only these).
pub fn address_units(s: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    fn starts(seg: &str, prefixes: &[&str]) -> bool {
        // The first letter, folded once, rules out most prefixes (and most segments).
        let Some(first) = seg.chars().next().map(vn::fold_char) else {
            return false;
        };
        prefixes
            .iter()
            .any(|p| p.starts_with(first) && vn::folded_starts_with(seg, p))
    }
    // Each segment is placed once the next one shows it is not the last (the province).
    fn place<'a>(seg: &'a str, commune: &mut Option<&'a str>, district: &mut Option<&'a str>) {
        if commune.is_none() && starts(seg, &COMMUNE_PREFIXES) {
            *commune = Some(seg);
        } else if commune.is_some() && district.is_none() && starts(seg, &DISTRICT_PREFIXES) {
            *district = Some(seg);
        }
    }
    let (mut commune, mut district) = (None, None);
    let mut last = None;
    let mut n = 0;
    for seg in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        if let Some(before) = last {
            place(before, &mut commune, &mut district);
        }
        last = Some(seg);
        n += 1;
    }
    match last {
        Some(only) if n == 1 => {
            place(only, &mut commune, &mut district);
            (commune, district, None)
        }
        province => (commune, district, province),
    }
}

/// Expands a unit abbreviation at the start of an address segment.
pub(super) fn expand_segment(seg: &str) -> Option<String> {
    let t = seg.trim();
    // Only a first word with a dot, or one of the dotless forms, can be an abbreviation.
    let first = t.split(' ').next().unwrap_or("");
    if !first.contains('.')
        && !["TP", "KP", "TPHCM", "HCM"]
            .iter()
            .any(|a| first.eq_ignore_ascii_case(a))
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

pub(super) fn address(raw: &str, out: &mut Out<'_>) -> String {
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
pub(super) fn old_units(s: &str, out: &mut Out<'_>) -> Option<String> {
    let (commune, district, province) = address_units(s);
    let province = province?;
    let current_province = units::current().province_by_name(province);
    let township = commune.is_some_and(|c| vn::folded_starts_with(c, "thi tran "));
    if district.is_none() && current_province.is_some() && !township {
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
    let commune_key = commune.map(vn::fold_key).unwrap_or_default();
    let district_key = district.map(vn::fold_key);
    let old = units::pre_2025();
    let candidates: Vec<&units::Commune> = old
        .communes_named(&old_province.code, &commune_key)
        .filter(|c| {
            district_key.as_ref().is_none_or(|d| {
                c.district_code
                    .as_deref()
                    .and_then(|dc| old.district_folded_name(dc))
                    .is_some_and(|dd| dd == d)
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
            let mut segs: Vec<&str> = parse_address(s).street;
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
