//! Legacy Vietnamese encodings seen inside UTF-8 files: TCVN3 (TCVN 5712:1993, ".VnTime"
//! fonts), VNI-Windows, and UTF-8 read as Windows-1252 ("mojibake"), possibly twice.
//!
//! Written by hand because no maintained Rust crate converts TCVN3 or VNI (the tables are
//! small); Windows-1252 itself comes from `encoding_rs`. Text from a legacy file that was
//! opened as Latin-1/Windows-1252 and saved as UTF-8 shows each legacy byte as the Latin-1
//! character with the same value, so the tables below map *characters* U+00A1..U+00FF.
//!
//! Each encoder is the exact inverse of its decoder on the text it can represent; `repair`
//! detects which one (if any) a value went through. The synthetic generator has encoders of
//! its own, and tests/legacy_samples.rs checks repairs against hand-written and iconv-made
//! samples, so that the tables here are not only checked against themselves.

use crate::vn::{join_tone, split_tone, syllable_plausible, Tone};

/// Which legacy encoding a value was repaired from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    Tcvn3,
    Vni,
    Mojibake,
}

impl Legacy {
    pub fn name(self) -> &'static str {
        match self {
            Legacy::Tcvn3 => "tcvn3",
            Legacy::Vni => "vni",
            Legacy::Mojibake => "utf8_as_cp1252",
        }
    }
}

/// TCVN3 byte (as Latin-1 char) → Unicode, lower-case font. Upper-case accented letters lived
/// in separate fonts reusing the same bytes, so their case is lost; only Ă Â Ê Ô Ơ Ư Đ exist.
const TCVN3: &[(u8, char)] = &[
    (0xA1, 'Ă'),
    (0xA2, 'Â'),
    (0xA3, 'Ê'),
    (0xA4, 'Ô'),
    (0xA5, 'Ơ'),
    (0xA6, 'Ư'),
    (0xA7, 'Đ'),
    (0xA8, 'ă'),
    (0xA9, 'â'),
    (0xAA, 'ê'),
    (0xAB, 'ô'),
    (0xAC, 'ơ'),
    (0xAD, 'ư'),
    (0xAE, 'đ'),
    (0xB5, 'à'),
    (0xB6, 'ả'),
    (0xB7, 'ã'),
    (0xB8, 'á'),
    (0xB9, 'ạ'),
    (0xBB, 'ằ'),
    (0xBC, 'ẳ'),
    (0xBD, 'ẵ'),
    (0xBE, 'ắ'),
    (0xC6, 'ặ'),
    (0xC7, 'ầ'),
    (0xC8, 'ẩ'),
    (0xC9, 'ẫ'),
    (0xCA, 'ấ'),
    (0xCB, 'ậ'),
    (0xCC, 'è'),
    (0xCE, 'ẻ'),
    (0xCF, 'ẽ'),
    (0xD0, 'é'),
    (0xD1, 'ẹ'),
    (0xD2, 'ề'),
    (0xD3, 'ể'),
    (0xD4, 'ễ'),
    (0xD5, 'ế'),
    (0xD6, 'ệ'),
    (0xD7, 'ì'),
    (0xD8, 'ỉ'),
    (0xDC, 'ĩ'),
    (0xDD, 'í'),
    (0xDE, 'ị'),
    (0xDF, 'ò'),
    (0xE1, 'ỏ'),
    (0xE2, 'õ'),
    (0xE3, 'ó'),
    (0xE4, 'ọ'),
    (0xE5, 'ồ'),
    (0xE6, 'ổ'),
    (0xE7, 'ỗ'),
    (0xE8, 'ố'),
    (0xE9, 'ộ'),
    (0xEA, 'ờ'),
    (0xEB, 'ở'),
    (0xEC, 'ỡ'),
    (0xED, 'ớ'),
    (0xEE, 'ợ'),
    (0xEF, 'ù'),
    (0xF1, 'ủ'),
    (0xF2, 'ũ'),
    (0xF3, 'ú'),
    (0xF4, 'ụ'),
    (0xF5, 'ừ'),
    (0xF6, 'ử'),
    (0xF7, 'ữ'),
    (0xF8, 'ứ'),
    (0xF9, 'ự'),
    (0xFA, 'ỳ'),
    (0xFB, 'ỷ'),
    (0xFC, 'ỹ'),
    (0xFD, 'ý'),
    (0xFE, 'ỵ'),
];

fn tcvn3_decode_char(c: char) -> Option<char> {
    let code = u32::from(c);
    if !(0xA1..=0xFE).contains(&code) {
        return None;
    }
    TCVN3
        .iter()
        .find(|(b, _)| u32::from(*b) == code)
        .map(|(_, u)| *u)
}

/// Encodes text as TCVN3-in-Latin-1, losing the case of accented capitals as the fonts did.
pub fn tcvn3_encode(s: &str) -> String {
    s.chars()
        .map(|c| {
            let find = |t: char| {
                TCVN3
                    .iter()
                    .find(|(_, u)| *u == t)
                    .map(|(b, _)| char::from(*b))
            };
            find(c)
                .or_else(|| c.to_lowercase().next().and_then(find))
                .unwrap_or(c)
        })
        .collect()
}

pub fn tcvn3_decode(s: &str) -> String {
    s.chars()
        .map(|c| tcvn3_decode_char(c).unwrap_or(c))
        .collect()
}

// VNI-Windows: base letter followed by a mark byte. Index = tone (0 none, 1 grave, 2 acute,
// 3 hook, 4 tilde, 5 dot).
const VNI_TONE: [char; 6] = ['\0', 'ø', 'ù', 'û', 'õ', 'ï'];
const VNI_CIRC: [char; 6] = ['â', 'à', 'á', 'å', 'ã', 'ä'];
const VNI_BREVE: [char; 6] = ['ê', 'è', 'é', 'ú', 'ü', 'ë'];
const VNI_I: [char; 6] = ['i', 'ì', 'í', 'æ', 'ó', 'ò'];

fn upper(c: char) -> char {
    c.to_uppercase().next().unwrap_or(c)
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Encodes text as VNI-Windows-in-Latin-1.
pub fn vni_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        let cased = |ch: char, is_upper: bool| if is_upper { upper(ch) } else { ch };
        if c == 'đ' || c == 'Đ' {
            out.push(cased('ñ', c == 'Đ'));
            continue;
        }
        let Some((base, tone)) = split_tone(c) else {
            out.push(c);
            continue;
        };
        let up = base.is_uppercase();
        let t = usize::from(tone);
        match lower(base) {
            'i' => out.push(cased(VNI_I[t], up)),
            'y' if tone == 5 => out.push(cased('î', up)),
            'â' | 'ê' | 'ô' => {
                out.push(cased(crate::vn::plain_vowel(lower(base)), up));
                out.push(cased(VNI_CIRC[t], up));
            }
            'ă' => {
                out.push(cased('a', up));
                out.push(cased(VNI_BREVE[t], up));
            }
            b => {
                let lead = match b {
                    'ơ' => 'ô',
                    'ư' => 'ö',
                    other => other,
                };
                out.push(cased(lead, up));
                if tone != 0 {
                    out.push(cased(VNI_TONE[t], up));
                }
            }
        }
    }
    out
}

fn position(table: &[char; 6], c: char) -> Option<Tone> {
    let l = lower(c);
    table
        .iter()
        .position(|t| *t == l && *t != '\0')
        .map(|i| i as Tone)
}

pub fn vni_decode(s: &str) -> String {
    vni_decode_counting(s).0
}

/// [`vni_decode`], with the number of non-ASCII characters it left as they were.
fn vni_decode_counting(s: &str) -> (String, usize) {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut kept = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let up = c.is_uppercase();
        let next = chars.get(i + 1).copied();
        let lead = match lower(c) {
            'ô' => Some('ơ'),
            'ö' => Some('ư'),
            l @ ('a' | 'e' | 'o' | 'u' | 'y') => Some(l),
            _ => None,
        };
        if let (Some(lead), Some(n)) = (lead, next) {
            let combined = match lead {
                'a' | 'e' | 'o' => position(&VNI_CIRC, n)
                    .map(|t| (circ_of(lead), t))
                    .or_else(|| {
                        (lead == 'a')
                            .then(|| position(&VNI_BREVE, n).map(|t| ('ă', t)))
                            .flatten()
                    })
                    .or_else(|| position(&VNI_TONE, n).map(|t| (lead, t))),
                _ => position(&VNI_TONE, n).map(|t| (lead, t)),
            };
            if let Some((base, tone)) = combined {
                let base = if up { upper(base) } else { base };
                if let Some(v) = join_tone(base, tone) {
                    out.push(v);
                    i += 2;
                    continue;
                }
            }
        }
        let single = match lower(c) {
            'ô' => Some('ơ'),
            'ö' => Some('ư'),
            'ñ' => Some('đ'),
            'î' => Some('ỵ'),
            l => position(&VNI_I, l)
                .filter(|t| *t != 0)
                .and_then(|t| join_tone('i', t)),
        };
        out.push(match single {
            Some(v) if up => upper(v),
            Some(v) => v,
            None => {
                kept += usize::from(!c.is_ascii());
                c
            }
        });
        i += 1;
    }
    (out, kept)
}

fn circ_of(b: char) -> char {
    match b {
        'a' => 'â',
        'e' => 'ê',
        _ => 'ô',
    }
}

/// UTF-8 bytes shown as Windows-1252 characters: `Nguyễn` → `Nguyá»…n`.
pub fn mojibake_encode(s: &str) -> String {
    // Without BOM sniffing: a leading U+FEFF must survive as "ï»¿" (found by fuzzing).
    let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(s.as_bytes());
    text.into_owned()
}

/// Reverses [`mojibake_encode`] when the value is exactly that: every character representable
/// in Windows-1252 and the bytes valid UTF-8 with at least one non-ASCII character.
pub fn mojibake_decode(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
    if unmappable {
        return None;
    }
    let decoded = std::str::from_utf8(&bytes).ok()?;
    (decoded != s).then(|| decoded.to_owned())
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | '.' | '-' | '/' | '(' | ')' | ';' | ':')
    })
    .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
}

fn plausible_words(s: &str) -> usize {
    words(s).filter(|w| syllable_plausible(w)).count()
}

fn all_vietnamese(s: &str) -> bool {
    s.chars()
        .all(|c| crate::vn::is_vietnamese_char(c) || c.is_whitespace() || c.is_ascii_punctuation())
}

/// Fast path for clean text: every legacy form above is made of Latin-1 / Windows-1252
/// characters only, so a value that holds a Vietnamese letter beyond Latin-1 (ă, đ, ơ, ư, ạ…)
/// and nothing outside written Vietnamese was not produced by any of them.
fn reads_as_unicode_vietnamese(s: &str) -> bool {
    let mut beyond_latin1 = false;
    for c in s.chars() {
        if c.is_ascii() {
            continue;
        }
        if !(crate::vn::is_vietnamese_char(c) || c.is_whitespace()) {
            return false;
        }
        beyond_latin1 |= u32::from(c) > 0xFF;
    }
    beyond_latin1
}

fn tone_marks(s: &str) -> usize {
    s.chars()
        .filter(|c| split_tone(*c).is_some_and(|(_, t)| t != 0))
        .count()
}

/// For a value holding invisible characters: repairs it, deciding whether they were put into
/// clean text (then `stripped`, the value without them, is the text) or a soft hyphen is a
/// byte of a legacy encoding (0xAD is "ư" in TCVN3 and part of UTF-8 read as Windows-1252).
/// Returns the repair, if any, and whether the invisible characters were simply dropped.
pub fn repair_beside_invisible(s: &str, stripped: &str) -> (Option<(String, Legacy)>, bool) {
    let as_bytes = repair(s);
    let stripped_fix = repair(stripped);
    // Clean without them: holds a letter no legacy form makes, or reads as more Vietnamese
    // than their legacy reading does (on a tie, "L\u{ad}u" is TCVN3's "Lưu").
    let clean_without = stripped_fix.is_none()
        && all_vietnamese(stripped)
        && (reads_as_unicode_vietnamese(stripped)
            || as_bytes.as_ref().is_none_or(|(fixed, kind)| {
                *kind != Legacy::Mojibake && plausible_words(stripped) > plausible_words(fixed)
            }));
    match (clean_without, as_bytes) {
        (true, _) => (None, true),
        (false, Some(fix)) => (Some(fix), false),
        (false, None) => (stripped_fix, true),
    }
}

/// Detects and repairs a value that went through a legacy encoding. Returns the repaired text
/// and the encoding, or `None` when the value reads as ordinary Unicode Vietnamese.
pub fn repair(s: &str) -> Option<(String, Legacy)> {
    if s.is_ascii() || reads_as_unicode_vietnamese(s) {
        return None;
    }
    if let Some(once) = mojibake_decode(s) {
        // UTF-8 decoded as Windows-1252 twice over is common after two bad imports.
        let fixed = mojibake_decode(&once).unwrap_or(once);
        return Some((fixed, Legacy::Mojibake));
    }
    let original_ok = all_vietnamese(s);
    let original_score = plausible_words(s);
    if original_ok && original_score == words(s).count() {
        return None;
    }
    let tcvn3_kept = s
        .chars()
        .filter(|c| !c.is_ascii() && tcvn3_decode_char(*c).is_none())
        .count();
    let (vni, vni_kept) = vni_decode_counting(s);
    // (candidate, kind, key): more plausible words, fewer characters it could not decode,
    // fewer tone marks; on a full tie the first (TCVN3) stays.
    type Key = (usize, std::cmp::Reverse<usize>, std::cmp::Reverse<usize>);
    let mut best: Option<(String, Legacy, Key)> = None;
    for (kind, candidate, kept) in [
        (Legacy::Tcvn3, tcvn3_decode(s), tcvn3_kept),
        (Legacy::Vni, vni, vni_kept),
    ] {
        if candidate == s || !all_vietnamese(&candidate) {
            continue;
        }
        let score = plausible_words(&candidate);
        // Characters outside Vietnamese are evidence on their own; otherwise the decoding
        // must read as more Vietnamese than the value does.
        let better = score > original_score || (!original_ok && score >= original_score);
        // When both read as Vietnamese: the one that decodes every character (text went
        // through one encoding, all of it: `Vâ Thu YÕn` is TCVN3's `Võ Thu Yến`, VNI has no
        // `â` on its own), then the one with fewer tone marks: every TCVN3 byte from 0xB5 up
        // is a toned letter, so TCVN3 read into VNI's ơ, ư and mark bytes adds tones the text
        // never had (`Löu Thò` is VNI's `Lưu Thị`, not TCVN3's `Lửu Thũ`).
        let tones = tone_marks(&candidate);
        let key = (score, std::cmp::Reverse(kept), std::cmp::Reverse(tones));
        if better && best.as_ref().is_none_or(|(_, _, b)| key > *b) {
            best = Some((candidate, kind, key));
        }
    }
    best.map(|(text, kind, _)| (text, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_samples_decode() {
        assert_eq!(tcvn3_decode("B¶o Th¾ng"), "Bảo Thắng");
        assert_eq!(tcvn3_decode("Ninh B×nh"), "Ninh Bình");
        assert_eq!(tcvn3_decode("M\u{AD}êng Kh\u{AD}¬ng"), "Mường Khương");
        assert_eq!(vni_decode("Xin chaøo caùc baïn"), "Xin chào các bạn");
        assert_eq!(mojibake_decode("Nguyá»…n").as_deref(), Some("Nguyễn"));
        // Regression (fuzz): a leading byte-order mark round-trips.
        let bom = "\u{feff}Hà";
        assert_eq!(mojibake_decode(&mojibake_encode(bom)).as_deref(), Some(bom));
    }

    #[test]
    fn repair_detects_each_encoding() {
        let cases = [
            ("Nguyễn Thị Hồng Nhung", Legacy::Tcvn3),
            ("Trần Văn Đức", Legacy::Vni),
            ("Phường Ba Đình, Thành phố Hà Nội", Legacy::Mojibake),
            ("Lê Thị Ánh Tuyết", Legacy::Vni),
            ("Đặng Quốc Việt", Legacy::Tcvn3),
        ];
        for (text, kind) in cases {
            let encoded = match kind {
                Legacy::Tcvn3 => tcvn3_encode(text),
                Legacy::Vni => vni_encode(text),
                Legacy::Mojibake => mojibake_encode(text),
            };
            let (fixed, found) =
                repair(&encoded).unwrap_or_else(|| panic!("not detected: {encoded}"));
            assert_eq!(found, kind, "{encoded}");
            assert_eq!(fixed, text, "{encoded}");
        }
    }

    #[test]
    fn clean_text_is_left_alone() {
        for clean in [
            "Nguyễn Văn An",
            "H'Hen Niê",
            "Giàng A Pao",
            "Phường Văn Miếu - Quốc Tử Giám",
            "Số 12, Thôn Bản Phố",
            "Hoà",
            "Ksor Y Blốk",
        ] {
            assert_eq!(repair(clean), None, "{clean}");
        }
    }
}
