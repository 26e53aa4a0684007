//! Vietnamese letters: tone and vowel-quality decomposition, key folding, canonical tone
//! placement and syllable plausibility. Pure functions over `&str`.
//!
//! Canonical tone placement (documented in docs/dictionary.md): the *classic* style used by
//! QĐ 19/2025's unit names and most government text — in an open syllable whose nucleus is
//! `oa`, `oe` or `uy` the tone sits on the first vowel (`hòa`, `khỏe`, `thủy`); with a final
//! consonant both styles agree (`hoàng`, `huỳnh`). `qu` + `y` keeps the tone on `y` (`quý`).

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

/// The five marked tones, in the order used by [`Tone`] indices 1..=5.
const TONE_MARKS: [char; 5] = ['\u{300}', '\u{301}', '\u{309}', '\u{303}', '\u{323}'];

/// Tone of a Vietnamese vowel: 0 level, 1 grave (huyền), 2 acute (sắc), 3 hook (hỏi),
/// 4 tilde (ngã), 5 dot below (nặng).
pub type Tone = u8;

/// Vowel bases with their quality marks (ă â ê ô ơ ư), lower and upper case.
const BASES: &str = "aăâeêioôơuưyAĂÂEÊIOÔƠUƯY";

/// Code points below this bound are looked up in a flat table (Vietnamese letters end at
/// U+1EF9); a flat table keeps the per-character lookup off the hash path.
const TABLE_END: usize = 0x1F00;

struct Tables {
    /// toned vowel → (base vowel, tone), indexed by code point
    split: Vec<Option<(char, Tone)>>,
    /// (base vowel, tone) → toned vowel
    join: HashMap<(char, Tone), char>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut split = vec![None; TABLE_END];
        let mut join = HashMap::new();
        for base in BASES.chars() {
            split[base as usize] = Some((base, 0));
            join.insert((base, 0), base);
            for (i, mark) in TONE_MARKS.iter().enumerate() {
                // Through NFC, not char::compose: ặ/ậ/ệ/ộ decompose with the dot below first.
                let composed: String = [base, *mark].iter().collect::<String>().nfc().collect();
                let toned = composed
                    .chars()
                    .next()
                    .filter(|_| composed.chars().count() == 1)
                    .expect("every Vietnamese vowel composes with every tone");
                split[toned as usize] = Some((base, i as Tone + 1));
                join.insert((base, i as Tone + 1), toned);
            }
        }
        Tables { split, join }
    })
}

/// Splits a vowel into its base (keeping ă/â/ê/ô/ơ/ư) and tone; `None` for non-vowels.
pub fn split_tone(c: char) -> Option<(char, Tone)> {
    tables().split.get(c as usize).copied().flatten()
}

/// Joins a base vowel and a tone into one precomposed character.
pub fn join_tone(base: char, tone: Tone) -> Option<char> {
    tables().join.get(&(base, tone)).copied()
}

/// Removes vowel quality: ă/â → a, ê → e, ô/ơ → o, ư → u (case kept).
pub fn plain_vowel(base: char) -> char {
    match base {
        'ă' | 'â' => 'a',
        'Ă' | 'Â' => 'A',
        'ê' => 'e',
        'Ê' => 'E',
        'ô' | 'ơ' => 'o',
        'Ô' | 'Ơ' => 'O',
        'ư' => 'u',
        'Ư' => 'U',
        other => other,
    }
}

/// Folds a letter to lower-case ASCII where it is a Vietnamese letter: tones and vowel
/// qualities removed, Đ/đ (and the look-alikes Ð U+00D0, Ɖ U+0189) → d.
pub fn fold_char(c: char) -> char {
    // ASCII folds to its lower case (a vowel's split is itself, tone 0): most characters of
    // addresses and codes take this path.
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    match c {
        'Đ' | 'đ' | 'Ð' | 'Ɖ' | 'ð' | 'ɖ' => 'd',
        _ => match split_tone(c) {
            Some((base, _)) => plain_vowel(base).to_ascii_lowercase(),
            None => {
                let mut lower = c.to_lowercase();
                let first = lower.next().unwrap_or(c);
                if lower.next().is_some() {
                    c
                } else {
                    first
                }
            }
        },
    }
}

/// The matching key of a text: NFC-insensitive (expects NFC input), case-, tone- and
/// Đ-folded, whitespace collapsed to single spaces. `"  Nguyễn  Văn ĐỨC"` → `"nguyen van duc"`.
pub fn fold_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(fold_char(c));
    }
    out
}

/// Whether the folded form of `s` starts with `prefix` (given folded), without allocating.
pub fn folded_starts_with(s: &str, prefix: &str) -> bool {
    let mut folded = s.chars().map(fold_char);
    prefix.chars().all(|p| folded.next() == Some(p))
}

/// True when the text carries any Vietnamese diacritic (tone, vowel quality or đ).
pub fn has_diacritics(s: &str) -> bool {
    s.chars()
        .any(|c| !c.is_ascii() && fold_char(c) != c.to_lowercase().next().unwrap_or(c))
}

/// True for a character that belongs to written Vietnamese: ASCII, Vietnamese vowels and đ.
pub fn is_vietnamese_char(c: char) -> bool {
    c.is_ascii() || split_tone(c).is_some() || matches!(c, 'đ' | 'Đ')
}

/// Vowel nuclei (tone removed, lower case) that Vietnamese syllables use.
const NUCLEI: &[&str] = &[
    "a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "ai", "ao", "au", "ay", "âu", "ây",
    "eo", "êu", "ia", "iê", "iu", "oa", "oă", "oe", "oi", "ôi", "ơi", "oo", "ua", "uâ", "uê", "ui",
    "uô", "uơ", "uy", "ưa", "ưi", "ưu", "ươ", "yê", "iêu", "oai", "oay", "oao", "oeo", "uây",
    "uôi", "ươi", "ươu", "uya", "uyê", "uyu", "yêu", "ưo",
];
const INITIALS: &[&str] = &[
    "", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng", "ngh",
    "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x",
];
const FINALS: &[&str] = &[
    "", "c", "ch", "m", "n", "ng", "nh", "p", "t", "i", "o", "u", "y",
];

/// Whether a single word reads as a Vietnamese syllable: known initial, known vowel nucleus,
/// known final, at most one tone mark. Used to choose between candidate decodings of legacy
/// text; minority and foreign names may fail it, so it never rejects a value on its own.
pub fn syllable_plausible(word: &str) -> bool {
    const MAX: usize = 16;
    let mut tones = 0;
    let mut tone: Tone = 0;
    // Fixed buffers: this runs on every word of every text value.
    let mut plain = ['\0'; MAX];
    let mut len = 0;
    for c in word.chars() {
        if len == MAX {
            return false;
        }
        plain[len] = if let Some((base, t)) = split_tone(c) {
            if t != 0 {
                tones += 1;
                tone = t;
            }
            base.to_lowercase().next().unwrap_or(base)
        } else if c == 'đ' || c == 'Đ' {
            'đ'
        } else if c.is_ascii_alphabetic() {
            c.to_ascii_lowercase()
        } else {
            return false;
        };
        len += 1;
    }
    if tones > 1 || len == 0 {
        return false;
    }
    let chars = &plain[..len];
    let is_vowel = |c: char| "aăâeêioôơuưy".contains(c);
    let mut start = chars.iter().position(|c| is_vowel(*c)).unwrap_or(len);
    // `qu` and `gi` take their vowel letter into the initial.
    let takes_vowel = (start == 1 && chars[0] == 'q' && chars.get(1) == Some(&'u'))
        || (start == 1
            && chars[0] == 'g'
            && chars.get(1) == Some(&'i')
            && chars[2..].iter().any(|c| is_vowel(*c)));
    if takes_vowel {
        start += 1;
    }
    let vowel_end = chars[start..]
        .iter()
        .position(|c| !is_vowel(*c))
        .map_or(len, |p| start + p);
    let initial: String = chars[..start].iter().collect();
    let nucleus: String = chars[start..vowel_end].iter().collect();
    let final_: String = chars[vowel_end..].iter().collect();
    // Nuclei ending in a glide (sáu, tôi, kêu) take no final consonant, and their tone never
    // sits on the glide.
    const GLIDE_ENDED: &[&str] = &[
        "ai", "ao", "au", "ay", "âu", "ây", "eo", "êu", "ia", "iu", "oi", "ôi", "ơi", "ui", "ưi",
        "ưu", "ưa", "iêu", "yêu", "oai", "oay", "oao", "oeo", "uây", "uôi", "ươi", "ươu", "uya",
        "uyu",
    ];
    let glide_ended = GLIDE_ENDED.contains(&nucleus.as_str());
    if glide_ended && !final_.is_empty() {
        return false;
    }
    if glide_ended
        && tones == 1
        && matches!(
            nucleus.as_str(),
            "ai" | "ao"
                | "au"
                | "ay"
                | "âu"
                | "ây"
                | "eo"
                | "êu"
                | "iu"
                | "oi"
                | "ôi"
                | "ơi"
                | "ui"
                | "ưi"
                | "ưu"
        )
    {
        let last_vowel = word.chars().rev().find(|c| split_tone(*c).is_some());
        if last_vowel.and_then(split_tone).is_some_and(|(_, t)| t != 0) {
            return false;
        }
    }
    // `oo` is only in a few loanwords: boong, xoong, goòng; moóc, soóc. Read loosely it makes
    // VNI's `ô` (`Coâng`, `Ngoâ`) look like TCVN3 text (`Coõng`, `Ngoõ`).
    if nucleus == "oo" && !matches!((final_.as_str(), tone), ("ng", 0 | 1) | ("c", 2)) {
        return false;
    }
    INITIALS.contains(&initial.as_str())
        && (NUCLEI.contains(&nucleus.as_str()) || (nucleus.is_empty() && initial == "gi"))
        && FINALS.contains(&final_.as_str())
        && !(nucleus.is_empty() && final_.is_empty())
}

/// Moves the tone of open `oa`/`oe`/`uy` syllables to the canonical (classic) position:
/// `hoà` → `hòa`, `thuỷ` → `thủy`, `khoẻ` → `khỏe`. Returns `None` when nothing changes.
pub fn canonical_tone_placement(s: &str) -> Option<String> {
    // Cheap scan first: a toned a/e/y right after o/u is the only pattern that can move.
    let mut prev = ' ';
    let candidate = s.chars().any(|c| {
        let hit = matches!(prev, 'o' | 'u' | 'O' | 'U')
            && split_tone(c)
                .is_some_and(|(b, t)| t != 0 && matches!(b, 'a' | 'e' | 'y' | 'A' | 'E' | 'Y'));
        prev = c;
        hit
    });
    if !candidate {
        return None;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out: Option<Vec<char>> = None;
    let mut i = 0;
    while i + 1 < chars.len() {
        let (a, b) = (chars[i], chars[i + 1]);
        // Only an unmarked o or u can open a movable pair (oa, oe, uy): the rest is skipped
        // without looking the letters up.
        if !matches!(a, 'o' | 'u' | 'O' | 'U') {
            i += 1;
            continue;
        }
        let next_is_letter = chars.get(i + 2).is_some_and(|c| c.is_alphabetic());
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        if let (Some((ba, ta)), Some((bb, tb))) = (split_tone(a), split_tone(b)) {
            let pair = (
                ba.to_lowercase().next().unwrap_or(ba),
                bb.to_lowercase().next().unwrap_or(bb),
            );
            let eligible = matches!(pair, ('o', 'a') | ('o', 'e') | ('u', 'y'))
                && ta == 0
                && tb != 0
                && !next_is_letter
                && !(pair.0 == 'u' && matches!(prev, Some('q' | 'Q')))
                && prev.is_none_or(|p| split_tone(p).is_none());
            // Only inside a word that reads as a Vietnamese syllable ("Chloé" stays as it is).
            let word_ok = || {
                let start = chars[..i]
                    .iter()
                    .rposition(|c| !c.is_alphabetic())
                    .map_or(0, |p| p + 1);
                let word: String = chars[start..i + 2].iter().collect();
                syllable_plausible(&word)
            };
            if eligible && word_ok() {
                let buf = out.get_or_insert_with(|| chars.clone());
                buf[i] = join_tone(ba, tb).unwrap_or(a);
                buf[i + 1] = join_tone(bb, 0).unwrap_or(b);
            }
        }
        i += 1;
    }
    out.map(|v| v.into_iter().collect())
}

/// Title-cases words (first letter upper, rest lower), keeping separators as they are.
pub fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.chars() {
        if c.is_alphabetic() {
            if at_word_start {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            at_word_start = false;
        } else {
            out.push(c);
            at_word_start = c.is_whitespace() || matches!(c, '-' | '\'');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_tones_qualities_and_d() {
        assert_eq!(fold_key("  Nguyễn  Văn ĐỨC "), "nguyen van duc");
        assert_eq!(fold_key("Ðặng Ɖức"), "dang duc");
        assert_eq!(fold_key("Thủy Hòa"), fold_key("Thuỷ Hoà"));
    }

    #[test]
    fn tone_placement_canonicalises_open_syllables_only() {
        let cases = [
            ("Khánh Hoà", Some("Khánh Hòa")),
            ("Thanh Hoá", Some("Thanh Hóa")),
            ("thuỷ", Some("thủy")),
            ("khoẻ", Some("khỏe")),
            ("HOÀ", Some("HÒA")),
            ("Khánh Hòa", None),
            ("hoàng", None),
            ("huỳnh", None),
            ("quý", None),
            ("Nguyễn", None),
            ("Chloé", None),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_tone_placement(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn syllables() {
        for ok in [
            "nguyễn",
            "văn",
            "thị",
            "hòa",
            "hoà",
            "quý",
            "giữa",
            "gì",
            "đường",
            "khuya",
            "ngoằn",
            "xoong",
            "goòng",
            "soóc",
        ] {
            assert!(syllable_plausible(ok), "{ok}");
        }
        for bad in [
            "nguyeón", "ngưêng", "xyz", "bảó", "th¾ng", "aùnh", "saú", "tôin", "coõng", "ngoõ",
            "loọc", "quoỏc",
        ] {
            assert!(!syllable_plausible(bad), "{bad}");
        }
    }

    #[test]
    fn diacritics_and_title_case() {
        assert!(has_diacritics("Lê Văn A"));
        assert!(has_diacritics("Đinh"));
        assert!(!has_diacritics("Nguyen Van A"));
        assert_eq!(title_case("NGUYỄN THỊ ÁNH"), "Nguyễn Thị Ánh");
        assert_eq!(title_case("h'hen niê"), "H'Hen Niê");
    }
}
