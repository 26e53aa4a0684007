//! The generator's own legacy encoders, written from the published code charts and kept apart
//! from the dictionary's decoders, so that a repair is tested against text the dictionary did
//! not make itself. Text from a legacy file that was opened as Windows-1252 and saved as UTF-8
//! shows each byte as the Windows-1252 character with that value: that is what these return.

/// TCVN3 (TCVN 5712:1993, table VN3: the ABC keyboard's `.VnTime` fonts), bytes 0xA0..=0xFF
/// by rows of 16 as the chart prints them; `_` is a byte VN3 leaves to the other tables (the
/// combining marks and the capitals with a tone of VN1).
const VN3_ROWS: [&str; 6] = [
    "_ĂÂÊÔƠƯĐăâêôơưđ_",
    "_____àảãáạ_ằẳẵắ_",
    "______ặầẩẫấậè_ẻẽ",
    "éẹềểễếệìỉ___ĩíịò",
    "_ỏõóọồổỗốộờởỡớợù",
    "_ủũúụừửữứựỳỷỹýỵ_",
];

fn vn3_byte(c: char) -> Option<u8> {
    VN3_ROWS.iter().enumerate().find_map(|(row, chars)| {
        let col = chars.chars().position(|x| x == c && x != '_')?;
        u8::try_from(0xA0 + row * 16 + col).ok()
    })
}

/// TCVN3 as a `.VnTime` user typed it. VN3 has no capitals with a tone mark (they lived in
/// the `.VnTimeH` fonts, on the bytes of the small letters), so those are written with the
/// small letter's byte: `Ánh` comes out as `¸nh`, whose case no decoder can recover.
pub fn tcvn3(s: &str) -> String {
    s.chars()
        .map(|c| {
            let byte = vn3_byte(c).or_else(|| c.to_lowercase().next().and_then(vn3_byte));
            byte.map_or(c, char::from)
        })
        .collect()
}

/// The text as TCVN3 carries it: capitals with a tone mark in small letters (`Ánh` → `ánh`).
pub fn tcvn3_carried(s: &str) -> String {
    s.chars()
        .map(|c| {
            let small = c.to_lowercase().next().unwrap_or(c);
            if vn3_byte(c).is_none() && vn3_byte(small).is_some() {
                small
            } else {
                c
            }
        })
        .collect()
}

/// VNI-Windows, small letters: each vowel with no tone, grave, acute, hook, tilde and dot
/// below, then the bytes (as Latin-1 characters) the VNI fonts draw it with: a base letter and
/// a mark byte, or one byte for ơ, ư, đ and the toned i and ỵ. A capital is the same bytes in
/// capitals (the fonts have capital-height marks at the capital letters' code points).
const VNI: [(&str, [&str; 6]); 12] = [
    ("aàáảãạ", ["a", "aø", "aù", "aû", "aõ", "aï"]),
    ("ăằắẳẵặ", ["aê", "aè", "aé", "aú", "aü", "aë"]),
    ("âầấẩẫậ", ["aâ", "aà", "aá", "aå", "aã", "aä"]),
    ("eèéẻẽẹ", ["e", "eø", "eù", "eû", "eõ", "eï"]),
    ("êềếểễệ", ["eâ", "eà", "eá", "eå", "eã", "eä"]),
    ("iìíỉĩị", ["i", "ì", "í", "æ", "ó", "ò"]),
    ("oòóỏõọ", ["o", "oø", "où", "oû", "oõ", "oï"]),
    ("ôồốổỗộ", ["oâ", "oà", "oá", "oå", "oã", "oä"]),
    ("ơờớởỡợ", ["ô", "ôø", "ôù", "ôû", "ôõ", "ôï"]),
    ("uùúủũụ", ["u", "uø", "uù", "uû", "uõ", "uï"]),
    ("ưừứửữự", ["ö", "öø", "öù", "öû", "öõ", "öï"]),
    ("yỳýỷỹỵ", ["y", "yø", "yù", "yû", "yõ", "î"]),
];

fn vni_small(c: char) -> Option<&'static str> {
    if c == 'đ' {
        return Some("ñ");
    }
    VNI.iter()
        .find_map(|(letters, bytes)| letters.chars().position(|x| x == c).map(|i| bytes[i]))
}

/// VNI-Windows: `Nguyễn Văn Đức` → `Nguyeãn Vaên Ñöùc`.
pub fn vni(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        let small = c.to_lowercase().next().unwrap_or(c);
        match vni_small(small) {
            Some(bytes) if small != c => out.extend(bytes.chars().flat_map(char::to_uppercase)),
            Some(bytes) => out.push_str(bytes),
            None => out.push(c),
        }
    }
    out
}

/// Whether every character is ASCII or a letter of the Vietnamese alphabet (either case).
/// Legacy text made only of such characters is byte for byte something Unicode Vietnamese
/// could say (VNI's `Hoàng` for `Hồng`, TCVN3's `Léc` for `Lộc`): only a reader who knows
/// which syllables the language has, or what the value should be, can tell.
pub fn only_vietnamese_letters(s: &str) -> bool {
    s.chars().all(|c| {
        let small = c.to_lowercase().next().unwrap_or(c);
        c.is_ascii() || vni_small(small).is_some()
    })
}

/// Windows-1252 bytes 0x80..=0x9F. The five the code page leaves undefined (0x81, 0x8D, 0x8F,
/// 0x90, 0x9D) come out as the C1 control of the same value, as Windows and ICU convert them.
const CP1252_80: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// UTF-8 read as Windows-1252: `Nguyễn` → `Nguyá»…n`.
pub fn utf8_as_cp1252(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            0x80..=0x9F => CP1252_80[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_have_every_letter_once() {
        let vn3: Vec<char> = VN3_ROWS.concat().chars().filter(|c| *c != '_').collect();
        assert!(VN3_ROWS.iter().all(|r| r.chars().count() == 16));
        // 12 vowels × 5 tones, the 7 letters with a quality mark in both cases.
        assert_eq!(vn3.len(), 60 + 14);
        let vni: Vec<char> = VNI.iter().flat_map(|(l, _)| l.chars()).collect();
        assert_eq!(vni.len(), 72);
        for letters in [&vn3, &vni] {
            let mut sorted = letters.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), letters.len());
        }
    }

    #[test]
    fn published_samples() {
        // The samples printed beside the charts.
        assert_eq!(tcvn3("Xin chào các bạn"), "Xin chµo c¸c b¹n");
        assert_eq!(vni("Xin chào các bạn"), "Xin chaøo caùc baïn");
        assert_eq!(vni("Tôi đi học"), "Toâi ñi hoïc");
        assert_eq!(vni("ĐỨC"), "ÑÖÙC");
        assert_eq!(tcvn3("Đặng Ánh"), "§Æng ¸nh");
        assert_eq!(tcvn3_carried("Lê Ánh Ấp"), "Lê ánh ấp");
        assert_eq!(tcvn3_carried("Âu Dương Đức"), "Âu Dương Đức");
        assert_eq!(utf8_as_cp1252("Nguyễn Văn"), "Nguyá»…n VÄƒn");
        assert_eq!(utf8_as_cp1252("Á"), "Ã\u{81}");
    }
}
