//! Code lists other than administrative units: ethnic groups (two orderings), religions (two
//! lists), sex, marital status and ISO 3166-1 alpha-2 nationalities. Every code is stored
//! with its code system; a bare code is never enough (code 04 is Hoa in one ethnic ordering
//! and Mường in the other).

use crate::vn::fold_key;

/// One entry of a code list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub label: &'static str,
    /// Other spellings in circulation, matched after folding.
    pub aliases: &'static [&'static str],
}

/// A versioned code system.
#[derive(Debug)]
pub struct CodeSystem {
    /// Stable identifier, e.g. `ethnicity/qd121-tctk`.
    pub id: &'static str,
    pub version: &'static str,
    pub title: &'static str,
    /// Where the list comes from and how sure we are of it.
    pub source: &'static str,
    pub codes: &'static [Code],
}

impl CodeSystem {
    pub fn get(&self, code: &str) -> Option<&'static Code> {
        self.codes.iter().find(|c| c.code == code)
    }

    /// Finds an entry by its label or an alias, ignoring case, tones, Đ/D and spacing.
    pub fn by_label(&self, label: &str) -> Option<&'static Code> {
        let key = label_key(label);
        self.codes
            .iter()
            .find(|c| label_key(c.label) == key || c.aliases.iter().any(|a| label_key(a) == key))
    }
}

/// Folded label key: hyphens, apostrophes and spaces ignored (`Khơ-me` = `Khơ Me` = `khome`).
pub fn label_key(s: &str) -> String {
    fold_key(s)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

macro_rules! codes {
    ($($code:literal $label:literal $([$($alias:literal),*])?),* $(,)?) => {
        &[$(Code { code: $code, label: $label, aliases: &[$($($alias),*)?] }),*]
    };
}

/// Ethnic groups, ordering A: QĐ 121-TCTK/PPCĐ (1979), cited by the health sector.
pub static ETHNICITY_QD121: CodeSystem = CodeSystem {
    id: "ethnicity/qd121-tctk",
    version: "1979",
    title: "Danh mục các thành phần dân tộc Việt Nam (QĐ 121-TCTK/PPCĐ)",
    source: "QĐ 121-TCTK/PPCĐ 02/03/1979; full order from a CSDL dân cư lookup list [S]",
    codes: codes![
        "01" "Kinh" ["Việt"], "02" "Tày" ["Thổ Lao", "Thù Lao"], "03" "Thái", "04" "Hoa" ["Hán"],
        "05" "Khơ-me" ["Khmer", "Khơ Me"], "06" "Mường", "07" "Nùng",
        "08" "HMông" ["Mông", "H'Mông", "Hmông", "Mèo"], "09" "Dao", "10" "Gia-rai" ["Gia Rai", "Jrai"],
        "11" "Ngái", "12" "Ê-đê" ["Ê Đê", "Rađê"], "13" "Ba Na" ["Bahnar"], "14" "Xơ-Đăng" ["Xơ Đăng"],
        "15" "Sán Chay" ["Cao Lan", "Sán Chỉ"], "16" "Cơ-ho" ["Cơ Ho", "Kơ Ho"], "17" "Chăm" ["Chàm"],
        "18" "Sán Dìu", "19" "Hrê", "20" "Mnông" ["M'Nông"], "21" "Ra-glai" ["Ra Glai", "Raglay"],
        "22" "Xtiêng" ["Stiêng", "X'tiêng"], "23" "Bru-Vân Kiều" ["Bru Vân Kiều", "Vân Kiều"], "24" "Thổ",
        "25" "Giáy", "26" "Cơ-tu" ["Cơ Tu"], "27" "Gié-Triêng" ["Giẻ Triêng", "Giẻ-Triêng"], "28" "Mạ",
        "29" "Khơ-mú" ["Khơ Mú", "Khmu"], "30" "Co", "31" "Tà-ôi" ["Tà Ôi"], "32" "Chơ-ro" ["Chơ Ro"],
        "33" "Kháng", "34" "Xinh-mun" ["Xinh Mun"], "35" "Hà Nhì", "36" "Chu-ru" ["Chu Ru"], "37" "Lào",
        "38" "La Chí", "39" "La Ha", "40" "Phù Lá", "41" "La Hủ", "42" "Lự", "43" "Lô Lô", "44" "Chứt",
        "45" "Mảng", "46" "Pà Thẻn", "47" "Cơ Lao" ["Cờ Lao", "Co Lao"], "48" "Cống", "49" "Bố Y",
        "50" "Si La", "51" "Pu Péo" ["Pu Piéo"], "52" "Brâu", "53" "Ơ Đu", "54" "Rơ-măm" ["Rơ Măm"],
    ],
};

/// Ethnic groups, ordering B: the GSO census list ("Danh mục các dân tộc Việt Nam").
pub static ETHNICITY_GSO: CodeSystem = CodeSystem {
    id: "ethnicity/gso-census",
    version: "2019",
    title: "Danh mục các dân tộc Việt Nam (Tổng cục Thống kê)",
    source: "gso.gov.vn DocID 15172: 01-20 verified [V]; 21-54 from a public list [S], order of 35/36 uncertain",
    codes: codes![
        "01" "Kinh" ["Việt"], "02" "Tày" ["Thổ Lao", "Thù Lao"], "03" "Thái", "04" "Mường", "05" "Khmer" ["Khơ-me", "Khơ Me"],
        "06" "Hoa" ["Hán"], "07" "Nùng", "08" "Mông" ["HMông", "H'Mông", "Hmông", "Mèo"], "09" "Dao",
        "10" "Gia Rai" ["Gia-rai", "Jrai"], "11" "Ê Đê" ["Ê-đê", "Rađê"], "12" "Ba Na" ["Bahnar"],
        "13" "Sán Chay" ["Cao Lan", "Sán Chỉ"], "14" "Chăm" ["Chàm"], "15" "Cơ Ho" ["Cơ-ho", "Kơ Ho"],
        "16" "Xơ Đăng" ["Xơ-Đăng"], "17" "Sán Dìu", "18" "Hrê", "19" "Ra Glai" ["Ra-glai", "Raglay"],
        "20" "Mnông" ["M'Nông"], "21" "Thổ", "22" "Xtiêng" ["Stiêng", "X'tiêng"], "23" "Khơ Mú" ["Khơ-mú", "Khmu"],
        "24" "Bru-Vân Kiều" ["Bru Vân Kiều", "Vân Kiều"], "25" "Cơ Tu" ["Cơ-tu"], "26" "Giáy",
        "27" "Tà Ôi" ["Tà-ôi"], "28" "Mạ", "29" "Giẻ-Triêng" ["Gié-Triêng", "Giẻ Triêng"], "30" "Co",
        "31" "Chơ Ro" ["Chơ-ro"], "32" "Xinh Mun" ["Xinh-mun"], "33" "Hà Nhì", "34" "Chu Ru" ["Chu-ru"],
        "35" "La Chí", "36" "Lào", "37" "Kháng", "38" "Phù Lá", "39" "La Hủ", "40" "La Ha",
        "41" "Pà Thẻn", "42" "Lự", "43" "Ngái", "44" "Chứt", "45" "Lô Lô", "46" "Mảng",
        "47" "Cơ Lao" ["Cờ Lao", "Co Lao"], "48" "Bố Y", "49" "Cống", "50" "Si La", "51" "Pu Péo" ["Pu Piéo"],
        "52" "Rơ Măm" ["Rơ-măm"], "53" "Brâu", "54" "Ơ Đu",
    ],
};

/// Religions per QCVN 109:2017 Appendix G (QĐ 1019/QĐ-TCTK 2008, Mặc Môn added 2014).
/// No code for "none": the value is left empty.
pub static RELIGION_QCVN109: CodeSystem = CodeSystem {
    id: "religion/qcvn109-g",
    version: "2017",
    title: "Danh mục tôn giáo (QCVN 109:2017/BTTTT Phụ lục G)",
    source: "qcvn109.gov.vn Appendix G [V]",
    codes: codes![
        "01" "Phật giáo", "02" "Công giáo", "03" "Phật giáo Hoà Hảo", "04" "Hồi giáo",
        "05" "Cao Đài", "06" "Minh sư đạo", "07" "Minh Lý đạo", "08" "Tin Lành",
        "09" "Tịnh độ cư sĩ Phật hội Việt Nam", "10" "Đạo Tứ ấn hiếu nghĩa", "11" "Bửu sơn Kỳ hương",
        "12" "Đạo Ba Ha'i" ["Baha'i"], "13" "Bà La Môn", "14" "Mặc Môn" ["Mormon"],
    ],
};

/// Sex as exchanged in QCVN 109 and the health XML: 1 male, 2 female.
pub static SEX: CodeSystem = CodeSystem {
    id: "sex/qcvn109",
    version: "2017",
    title: "Giới tính",
    source: "QCVN 109 sample (1 = Nam) and QĐ 4750/QĐ-BYT (1 Nam, 2 Nữ) [S]",
    codes: codes!["1" "Nam" ["M", "Male", "Trai"], "2" "Nữ" ["F", "Female", "Gái"]],
};

/// Marital status. 1 and 2 are seen in C06 data [S]; 3 and 4 are lienthong's own pending
/// the official enumeration of QCVN 109 Appendix A.
pub static MARITAL_STATUS: CodeSystem = CodeSystem {
    id: "marital-status/lienthong",
    version: "1",
    title: "Tình trạng hôn nhân",
    source: "1, 2 from C06 lookups [S]; 3, 4 lienthong's own [U]",
    codes: codes!["1" "Chưa kết hôn", "2" "Đã kết hôn", "3" "Ly hôn", "4" "Góa"],
};

const ISO_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO \
DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM \
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR \
LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL \
NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ \
SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA \
VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// ISO 3166-1 alpha-2 country codes (QCVN 109 Appendix H uses them for nationality).
pub fn is_iso_alpha2(code: &str) -> bool {
    // The list is sorted with a fixed stride of three bytes ("AD AE …"): binary search.
    if code.len() != 2 {
        return false;
    }
    let (mut lo, mut hi) = (0, ISO_ALPHA2.len().div_ceil(3));
    while lo < hi {
        let mid = (lo + hi) / 2;
        match ISO_ALPHA2[mid * 3..mid * 3 + 2].cmp(code) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    false
}

pub fn iso_alpha2_codes() -> impl Iterator<Item = &'static str> {
    ISO_ALPHA2.split(' ')
}

/// The code systems an element can bind to, by id.
pub fn system(id: &str) -> Option<&'static CodeSystem> {
    [
        &ETHNICITY_QD121,
        &ETHNICITY_GSO,
        &RELIGION_QCVN109,
        &SEX,
        &MARITAL_STATUS,
    ]
    .into_iter()
    .find(|s| s.id == id)
}

/// The same ethnic group in the other ordering, by name.
pub fn ethnicity_crosswalk(
    code: &str,
    from: &CodeSystem,
    to: &'static CodeSystem,
) -> Option<&'static Code> {
    from.get(code).and_then(|c| to.by_label(c.label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_complete_and_consistent() {
        assert_eq!(ETHNICITY_QD121.codes.len(), 54);
        assert_eq!(ETHNICITY_GSO.codes.len(), 54);
        assert_eq!(iso_alpha2_codes().count(), 249);
        for (i, c) in ETHNICITY_QD121.codes.iter().enumerate() {
            assert_eq!(c.code, format!("{:02}", i + 1));
            let other = ETHNICITY_GSO
                .by_label(c.label)
                .unwrap_or_else(|| panic!("{} has no census code", c.label));
            assert_eq!(
                ETHNICITY_QD121.by_label(other.label).map(|x| x.code),
                Some(c.code)
            );
        }
    }

    #[test]
    fn orderings_differ_where_documented() {
        assert_eq!(ETHNICITY_QD121.get("04").map(|c| c.label), Some("Hoa"));
        assert_eq!(ETHNICITY_GSO.get("04").map(|c| c.label), Some("Mường"));
        assert_eq!(
            ethnicity_crosswalk("04", &ETHNICITY_GSO, &ETHNICITY_QD121).map(|c| c.code),
            Some("06")
        );
        assert_eq!(
            ETHNICITY_QD121.by_label("khmer").map(|c| c.code),
            Some("05")
        );
        assert_eq!(
            ETHNICITY_QD121.by_label("H'MÔNG").map(|c| c.code),
            Some("08")
        );
        assert!(is_iso_alpha2("VN") && !is_iso_alpha2("XX") && !is_iso_alpha2("vn"));
    }
}
