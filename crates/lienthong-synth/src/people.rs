//! Clean synthetic people: names, ethnicity, religion, birth, residence, identifiers.
//! Distributions are approximate and documented in docs/synth.md; every value produced here
//! validates against the dictionary with no finding (tested).

use lienthong_dictionary::codes::ETHNICITY_QD121;
use lienthong_dictionary::element::days_in_month;
use lienthong_dictionary::units::{self, Commune, Province};
use lienthong_dictionary::vn::has_diacritics;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Picks from `(item, weight)` pairs.
pub fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

pub fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

const KINH_FAMILY: &[(&str, f64)] = &[
    ("Nguyễn", 38.0),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Hoàng", 4.0),
    ("Huỳnh", 3.0),
    ("Phan", 4.5),
    ("Vũ", 2.5),
    ("Võ", 2.5),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    ("Đinh", 1.0),
    ("Trịnh", 0.5),
    ("Mai", 0.5),
    ("Đào", 0.5),
    ("Lưu", 0.3),
    ("Tô", 0.3),
    ("Tôn Nữ", 0.03),
    ("Tôn Thất", 0.03),
    ("Âu Dương", 0.02),
    ("Nguyễn Phúc", 0.02),
];
const MALE_MIDDLE: &[(&str, f64)] = &[
    ("Văn", 45.0),
    ("Hữu", 8.0),
    ("Đức", 8.0),
    ("Minh", 8.0),
    ("Quang", 6.0),
    ("Công", 5.0),
    ("Thành", 5.0),
    ("Xuân", 4.0),
    ("Ngọc", 3.0),
    ("Gia", 4.0),
    ("Anh", 4.0),
    ("Quốc", 4.0),
];
const FEMALE_MIDDLE: &[(&str, f64)] = &[
    ("Thị", 55.0),
    ("Ngọc", 10.0),
    ("Thu", 6.0),
    ("Thanh", 6.0),
    ("Kim", 5.0),
    ("Minh", 4.0),
    ("Phương", 4.0),
    ("Hồng", 5.0),
    ("Bảo", 3.0),
    ("Khánh", 2.0),
];
const MALE_GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Đạt", "Đức", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khoa",
    "Khánh", "Long", "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Quân", "Sơn", "Tài", "Thắng",
    "Thành", "Toàn", "Trung", "Tuấn", "Việt", "Vinh", "Hòa", "Lộc", "Thịnh", "Kiên", "Tùng",
];
const FEMALE_GIVEN: &[&str] = &[
    "Anh", "Ánh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hồng", "Hương",
    "Lan", "Linh", "Loan", "Mai", "My", "Nga", "Ngọc", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo",
    "Thủy", "Trang", "Tuyết", "Uyên", "Vân", "Yến", "Hòa", "Nhàn",
];
const TAY_THAI_FAMILY: &[&str] = &[
    "Hoàng", "Nông", "Lường", "Lò", "Quàng", "Cầm", "Đinh", "Bùi", "Hà", "Lục", "Vi", "Lộc",
];
const HMONG_FAMILY: &[&str] = &["Giàng", "Vàng", "Sùng", "Thào", "Hờ", "Lý", "Mùa", "Vừ"];
const HMONG_GIVEN: &[&str] = &[
    "Pao", "Sình", "Chứ", "Dính", "Tủa", "Mỷ", "Dợ", "Súa", "Chớ", "Mai", "Dua",
];
const EDE_FAMILY: &[&str] = &[
    "Niê",
    "Êban",
    "Ksor",
    "Rơ Chăm",
    "Siu",
    "Mlô",
    "Byă",
    "Adrơng",
];
const EDE_GIVEN: &[&str] = &[
    "Bih", "Ngông", "Tlam", "Jut", "Hen", "Ly", "Ngơm", "Nhi", "Blốk", "Wơn",
];
const KHMER_FAMILY: &[&str] = &["Thạch", "Danh", "Sơn", "Kim", "Lâm", "Châu"];
const KHMER_GIVEN: &[&str] = &[
    "Sa Rươn",
    "Sóc",
    "Phol",
    "Sô Phia",
    "Ra",
    "Thươl",
    "Sóc Kha",
    "Chanh Thu",
];

/// Ethnic groups by QĐ 121 code with approximate shares (percent).
const ETHNICITY: &[(&str, f64)] = &[
    ("01", 85.3),
    ("02", 1.9),
    ("03", 1.9),
    ("06", 1.5),
    ("05", 1.3),
    ("04", 0.8),
    ("07", 1.1),
    ("08", 1.5),
    ("09", 0.9),
    ("10", 0.5),
    ("12", 0.4),
    ("13", 0.3),
];
const RELIGION: &[(&str, f64)] = &[
    ("", 86.0),
    ("01", 6.0),
    ("02", 6.0),
    ("08", 1.0),
    ("05", 0.5),
    ("03", 0.5),
];

pub const STREETS: &[&str] = &[
    "Đường Lê Lợi",
    "Đường Trần Hưng Đạo",
    "Phố Hàng Bông",
    "Đường Nguyễn Trãi",
    "Đường Hai Bà Trưng",
    "Đường Lý Thường Kiệt",
    "Đường Quang Trung",
    "Đường 3 Tháng 2",
    "Đường Nguyễn Huệ",
    "Phố Huế",
    "Đường Võ Thị Sáu",
];
pub const HAMLETS: &[&str] = &[
    "Thôn Đông",
    "Thôn Tây",
    "Thôn 3",
    "Ấp Tân Hòa",
    "Bản Nà Hang",
    "Thôn Trung",
    "Xóm Mới",
    "Ấp Bình Thạnh",
];

/// A clean synthetic person.
#[derive(Debug, Clone)]
pub struct Person {
    pub personal_id: String,
    pub full_name: String,
    pub birth: (u32, u32, u32),
    /// "1" male, "2" female
    pub sex: &'static str,
    pub ethnicity: &'static str,
    pub religion: &'static str,
    pub province: &'static Province,
    pub commune: &'static Commune,
    pub street: String,
    pub phone: String,
    pub email: String,
    pub deceased: Option<(u32, u32, u32)>,
}

impl Person {
    pub fn birth_iso(&self) -> String {
        let (y, m, d) = self.birth;
        format!("{y:04}-{m:02}-{d:02}")
    }

    pub fn age_in(&self, year: u32) -> u32 {
        year.saturating_sub(self.birth.0)
    }
}

/// Address of a person (or parcel) in the commune: street part, commune, province.
pub fn address(street: &str, commune: &Commune) -> String {
    let province = units::current()
        .province(&commune.province_code)
        .map_or("", |p| p.full_name.as_str());
    format!("{street}, {}, {province}", commune.full_name)
}

/// Pre-computed tables for drawing residences and birth provinces.
pub struct Geo {
    provinces: Vec<(&'static Province, f64)>,
    communes_by_province: Vec<Vec<&'static Commune>>,
    /// For each current province, the pre-2025 province codes it was formed from.
    old_codes: Vec<Vec<&'static str>>,
    all_old: Vec<&'static str>,
}

impl Geo {
    pub fn new() -> Self {
        let cur = units::current();
        let provinces: Vec<_> = cur
            .provinces
            .iter()
            .map(|p| (p, cur.communes_of(&p.code).count() as f64))
            .collect();
        let communes_by_province = cur
            .provinces
            .iter()
            .map(|p| cur.communes_of(&p.code).collect())
            .collect();
        let old = units::pre_2025();
        let old_codes = cur
            .provinces
            .iter()
            .map(|p| {
                old.provinces
                    .iter()
                    .filter(|o| {
                        units::successor_province(&o.code).is_some_and(|s| s.code == p.code)
                    })
                    .map(|o| o.code.as_str())
                    .collect()
            })
            .collect();
        let all_old = old.provinces.iter().map(|o| o.code.as_str()).collect();
        Geo {
            provinces,
            communes_by_province,
            old_codes,
            all_old,
        }
    }

    pub fn residence(&self, rng: &mut ChaCha8Rng) -> (&'static Province, &'static Commune) {
        let i = {
            let total: f64 = self.provinces.iter().map(|(_, w)| w).sum();
            let mut x = rng.gen::<f64>() * total;
            let mut idx = 0;
            for (j, (_, w)) in self.provinces.iter().enumerate() {
                if x < *w {
                    idx = j;
                    break;
                }
                x -= w;
            }
            idx
        };
        (
            self.provinces[i].0,
            *pick(rng, &self.communes_by_province[i]),
        )
    }

    pub fn random_commune(&self, rng: &mut ChaCha8Rng) -> &'static Commune {
        self.residence(rng).1
    }

    fn birth_province(&self, rng: &mut ChaCha8Rng, residence: &Province) -> &'static str {
        let i = self
            .provinces
            .iter()
            .position(|(p, _)| p.code == residence.code)
            .unwrap_or(0);
        if rng.gen_bool(0.75) && !self.old_codes[i].is_empty() {
            self.old_codes[i][rng.gen_range(0..self.old_codes[i].len())]
        } else {
            self.all_old[rng.gen_range(0..self.all_old.len())]
        }
    }
}

impl Default for Geo {
    fn default() -> Self {
        Self::new()
    }
}

/// A random calendar date in `[from_year, to_year]`, not after `max`.
pub fn random_date(
    rng: &mut ChaCha8Rng,
    from_year: u32,
    to_year: u32,
    max: (u32, u32, u32),
) -> (u32, u32, u32) {
    loop {
        let y = rng.gen_range(from_year..=to_year);
        let m = rng.gen_range(1..=12);
        let d = rng.gen_range(1..=days_in_month(y, m));
        if (y, m, d) <= max {
            return (y, m, d);
        }
    }
}

fn name(rng: &mut ChaCha8Rng, sex: &str, ethnicity: &str) -> String {
    let male = sex == "1";
    match ethnicity {
        "08" => {
            let middle = if male { "A" } else { "Thị" };
            format!(
                "{} {middle} {}",
                pick(rng, HMONG_FAMILY),
                pick(rng, HMONG_GIVEN)
            )
        }
        "10" | "12" => {
            let prefix = if male { "Y" } else { "H'" };
            let given = pick(rng, EDE_GIVEN);
            let sep = if male { " " } else { "" };
            format!("{prefix}{sep}{given} {}", pick(rng, EDE_FAMILY))
        }
        "05" => {
            let middle = if male { "" } else { "Thị " };
            format!(
                "{} {middle}{}",
                pick(rng, KHMER_FAMILY),
                pick(rng, KHMER_GIVEN)
            )
        }
        "02" | "03" | "06" | "07" => {
            let middle = if male { "Văn" } else { "Thị" };
            let given = if male {
                pick(rng, MALE_GIVEN)
            } else {
                pick(rng, FEMALE_GIVEN)
            };
            format!("{} {middle} {given}", pick(rng, TAY_THAI_FAMILY))
        }
        _ => {
            let family = weighted(rng, KINH_FAMILY);
            let (middle, given) = if male {
                (weighted(rng, MALE_MIDDLE), pick(rng, MALE_GIVEN))
            } else {
                (weighted(rng, FEMALE_MIDDLE), pick(rng, FEMALE_GIVEN))
            };
            format!("{family} {middle} {given}")
        }
    }
}

const MOBILE_PREFIXES: &[&str] = &[
    "32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "70", "76", "77", "78", "79", "81",
    "82", "83", "84", "85", "86", "88", "89", "90", "91", "92", "93", "94", "96", "97", "98",
];
const EMAIL_DOMAINS: &[&str] = &["gmail.com", "yahoo.com.vn", "outlook.com", "example.vn"];

/// The generation reference date: nothing is generated after it, so output is the same
/// whatever day it runs.
pub const AS_OF: (u32, u32, u32) = (2025, 10, 31);

/// Draws one clean person. `used_ids` keeps personal IDs unique.
pub fn person(
    rng: &mut ChaCha8Rng,
    geo: &Geo,
    used_ids: &mut std::collections::HashSet<u64>,
) -> Person {
    let sex = if rng.gen_bool(0.5) { "1" } else { "2" };
    let ethnicity = *weighted(rng, ETHNICITY);
    debug_assert!(ETHNICITY_QD121.get(ethnicity).is_some());
    let religion = *weighted(rng, RELIGION);
    let birth = random_date(rng, 1935, 2024, AS_OF);
    let (province, commune) = geo.residence(rng);
    let ppp = geo.birth_province(rng, province);
    let g = (birth.0 / 100 - 19) * 2 + u32::from(sex == "2");
    let personal_id = loop {
        let id = format!(
            "0{ppp}{g}{:02}{:06}",
            birth.0 % 100,
            rng.gen_range(0..1_000_000)
        );
        if used_ids.insert(id.parse().unwrap_or(0)) {
            break id;
        }
    };
    let full_name = loop {
        let n = name(rng, sex, ethnicity);
        if has_diacritics(&n) {
            break n;
        }
    };
    let street = if commune.full_name.starts_with("Xã") {
        pick(rng, HAMLETS).to_string()
    } else {
        format!("Số {}, {}", rng.gen_range(1..300), pick(rng, STREETS))
    };
    let phone = if birth.0 <= 2012 {
        format!(
            "0{}{:07}",
            pick(rng, MOBILE_PREFIXES),
            rng.gen_range(0..10_000_000)
        )
    } else {
        String::new()
    };
    let email = if !phone.is_empty() && rng.gen_bool(0.3) {
        let local: String = lienthong_dictionary::vn::fold_key(&full_name)
            .split(' ')
            .collect::<Vec<_>>()
            .join(".");
        format!(
            "{local}{}@{}",
            rng.gen_range(1..999),
            pick(rng, EMAIL_DOMAINS)
        )
    } else {
        String::new()
    };
    let death_chance = if birth.0 < 1950 { 0.08 } else { 0.008 };
    let deceased = rng
        .gen_bool(death_chance)
        .then(|| random_date(rng, (birth.0 + 1).max(2015), 2025, AS_OF))
        .filter(|d| *d > birth);
    Person {
        personal_id,
        full_name,
        birth,
        sex,
        ethnicity,
        religion,
        province,
        commune,
        street,
        phone,
        email,
        deceased,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders;
    use lienthong_dictionary::legacy::{repair, Legacy};

    /// Every name the generator can write, and one address per commune.
    fn every_value() -> Vec<String> {
        let mut values = Vec::new();
        let kinh = [
            (MALE_MIDDLE, MALE_GIVEN, "Văn"),
            (FEMALE_MIDDLE, FEMALE_GIVEN, "Thị"),
        ];
        for (middles, givens, tay_thai_middle) in kinh {
            for (family, _) in KINH_FAMILY {
                for (middle, _) in middles {
                    values.extend(givens.iter().map(|g| format!("{family} {middle} {g}")));
                }
            }
            for family in TAY_THAI_FAMILY {
                values.extend(
                    givens
                        .iter()
                        .map(|g| format!("{family} {tay_thai_middle} {g}")),
                );
            }
        }
        for family in HMONG_FAMILY {
            for given in HMONG_GIVEN {
                values.push(format!("{family} A {given}"));
                values.push(format!("{family} Thị {given}"));
            }
        }
        for family in EDE_FAMILY {
            for given in EDE_GIVEN {
                values.push(format!("Y {given} {family}"));
                values.push(format!("H'{given} {family}"));
            }
        }
        for family in KHMER_FAMILY {
            for given in KHMER_GIVEN {
                values.push(format!("{family} {given}"));
                values.push(format!("{family} Thị {given}"));
            }
        }
        for (i, commune) in units::current().communes.iter().enumerate() {
            let street = if commune.full_name.starts_with("Xã") {
                HAMLETS[i % HAMLETS.len()].to_owned()
            } else {
                format!("Số {}, {}", i % 299 + 1, STREETS[i % STREETS.len()])
            };
            values.push(address(&street, commune));
        }
        values
    }

    /// Through the generator's own encoders (not the dictionary's), every value the generator
    /// writes is repaired to exactly what the legacy text says, with the right kind, or is an
    /// expected miss: text that reads as Unicode Vietnamese. What TCVN3 says is the value with
    /// its toned capitals in small letters (`Ánh` is `¸nh`, the case was in the font).
    #[test]
    fn legacy_text_of_every_value_is_repaired_exactly() {
        let values = every_value();
        type Encoder = fn(&str) -> String;
        let encodings: [(Legacy, Encoder); 3] = [
            (Legacy::Tcvn3, encoders::tcvn3),
            (Legacy::Vni, encoders::vni),
            (Legacy::Mojibake, encoders::utf8_as_cp1252),
        ];
        for (kind, encode) in encodings {
            let (mut injected, mut expected_misses, mut wrong) = (0, Vec::new(), Vec::new());
            for value in &values {
                let encoded = encode(value);
                if encoded == *value {
                    continue;
                }
                injected += 1;
                let says = match kind {
                    Legacy::Tcvn3 => encoders::tcvn3_carried(value),
                    _ => value.clone(),
                };
                match repair(&encoded) {
                    Some((text, found)) if text == says && found == kind => {}
                    None if encoders::only_vietnamese_letters(&encoded) => {
                        expected_misses.push(encoded);
                    }
                    other => wrong.push(format!("{value:?} as {encoded:?} → {other:?}")),
                }
            }
            println!(
                "{}: {injected} values, {} expected misses, e.g. {:?}",
                kind.name(),
                expected_misses.len(),
                &expected_misses[..expected_misses.len().min(5)]
            );
            assert!(
                wrong.is_empty(),
                "{}: {} of {injected} wrong:\n{}",
                kind.name(),
                wrong.len(),
                wrong.join("\n")
            );
            // Misses stay the exception: at most 1 in 20 of what was encoded.
            assert!(
                expected_misses.len() * 20 <= injected,
                "{}: {} of {injected} missed",
                kind.name(),
                expected_misses.len()
            );
        }
    }
}
