//! Administrative units, versioned by effective date: the 34 provinces / 3,321 communes in
//! force from 2025-07-01 and the 63 / 696 / 10,035 tree before it (for historical addresses
//! and the `PPP` part of personal IDs). Data: `data/admin-units/` (MIT, see its LICENSE),
//! compiled in with `include_str!` and parsed once on first use.

// Fixed tables read with untrusted keys but never grown by them: a fast hash is safe here.
use foldhash::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::vn::fold_key;

/// The date the two-level local government took effect (NQ 202/2025/QH15, QĐ 19/2025).
pub const REFORM_DATE: &str = "2025-07-01";

#[derive(Debug, Clone)]
pub struct Province {
    pub code: String,
    pub name: String,
    pub full_name: String,
    pub name_en: String,
}

#[derive(Debug, Clone)]
pub struct District {
    pub code: String,
    pub name: String,
    pub full_name: String,
    pub province_code: String,
}

#[derive(Debug, Clone)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub full_name: String,
    pub province_code: String,
    /// Only in the pre-2025 tree.
    pub district_code: Option<String>,
}

/// One version of the unit tree.
#[derive(Debug)]
pub struct UnitTree {
    /// First day this tree is in force (ISO date).
    pub effective_from: &'static str,
    /// Last day (inclusive), `None` while current.
    pub effective_to: Option<&'static str>,
    pub provinces: Vec<Province>,
    pub districts: Vec<District>,
    pub communes: Vec<Commune>,
    province_index: HashMap<String, usize>,
    commune_index: HashMap<String, usize>,
    district_index: HashMap<String, usize>,
    province_by_name: HashMap<String, usize>,
    /// Exact full names ("Thành phố Hà Nội"): the common case, looked up before folding.
    province_by_full_name: HashMap<String, usize>,
    /// Communes by province code and folded full name (`fold_key`), for finding a unit
    /// written in an address without scanning the province's communes.
    commune_by_folded_name: HashMap<(String, String), Vec<usize>>,
    /// `fold_key` of each district's full name, in `districts` order.
    district_folded_names: Vec<String>,
}

impl UnitTree {
    pub fn province(&self, code: &str) -> Option<&Province> {
        self.province_index.get(code).map(|i| &self.provinces[*i])
    }

    pub fn commune(&self, code: &str) -> Option<&Commune> {
        self.commune_index.get(code).map(|i| &self.communes[*i])
    }

    pub fn district(&self, code: &str) -> Option<&District> {
        self.district_index.get(code).map(|i| &self.districts[*i])
    }

    /// Finds a province by name with or without its prefix (`Tỉnh`, `Thành phố`, `TP.`),
    /// ignoring case, tone placement and Đ/D; common aliases (`TP.HCM`, `Sài Gòn`) included.
    pub fn province_by_name(&self, name: &str) -> Option<&Province> {
        let i = self
            .province_by_full_name
            .get(name)
            .or_else(|| self.province_by_name.get(&province_key(name)));
        i.map(|i| &self.provinces[*i])
    }

    /// The communes of a province whose full name folds (`fold_key`) to `folded`.
    pub fn communes_named<'a>(
        &'a self,
        province_code: &str,
        folded: &str,
    ) -> impl Iterator<Item = &'a Commune> + 'a {
        self.commune_by_folded_name
            .get(&(province_code.to_owned(), folded.to_owned()))
            .into_iter()
            .flatten()
            .map(|i| &self.communes[*i])
    }

    /// `fold_key` of the district's full name.
    pub fn district_folded_name(&self, code: &str) -> Option<&str> {
        self.district_index
            .get(code)
            .map(|i| self.district_folded_names[*i].as_str())
    }

    pub fn communes_of<'a>(
        &'a self,
        province_code: &'a str,
    ) -> impl Iterator<Item = &'a Commune> + 'a {
        self.communes
            .iter()
            .filter(move |c| c.province_code == province_code)
    }
}

/// Folded province key without its administrative prefix.
fn province_key(name: &str) -> String {
    let folded = fold_key(name).replace(['.', '-'], " ");
    let folded = fold_key(&folded);
    let stripped = ["thanh pho ", "tinh ", "tp "]
        .iter()
        .find_map(|p| folded.strip_prefix(p))
        .unwrap_or(&folded);
    match stripped {
        "hcm" | "tphcm" | "sai gon" | "tp hcm" => "ho chi minh".to_owned(),
        other => other.to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawUnit {
    code: String,
    name: String,
    name_en: String,
    full_name: String,
    #[serde(default)]
    wards: Option<Vec<RawUnit>>,
    #[serde(default)]
    district: Option<Vec<RawUnit>>,
    #[serde(default)]
    ward: Option<Vec<RawUnit>>,
}

fn build(json: &str, effective_from: &'static str, effective_to: Option<&'static str>) -> UnitTree {
    let raw: Vec<RawUnit> = serde_json::from_str(json).expect("shipped unit data parses");
    let mut provinces = Vec::new();
    let mut districts = Vec::new();
    let mut communes = Vec::new();
    for p in raw {
        let commune = |w: RawUnit, district_code: Option<String>| Commune {
            code: w.code,
            name: w.name,
            full_name: w.full_name,
            province_code: p.code.clone(),
            district_code,
        };
        for w in p.wards.into_iter().flatten() {
            communes.push(commune(w, None));
        }
        for d in p.district.into_iter().flatten() {
            for w in d.ward.into_iter().flatten() {
                communes.push(commune(w, Some(d.code.clone())));
            }
            districts.push(District {
                code: d.code,
                name: d.name,
                full_name: d.full_name,
                province_code: p.code.clone(),
            });
        }
        provinces.push(Province {
            code: p.code,
            name: p.name,
            full_name: p.full_name,
            name_en: p.name_en,
        });
    }
    let index = |codes: Vec<&String>| {
        codes
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect()
    };
    let mut province_by_name: HashMap<String, usize> = HashMap::default();
    for (i, p) in provinces.iter().enumerate() {
        province_by_name.insert(province_key(&p.name), i);
        province_by_name.insert(province_key(&p.full_name), i);
    }
    if let Some(i) = provinces.iter().position(|p| p.code == "46") {
        province_by_name.insert("thua thien hue".into(), i);
        province_by_name.insert("hue".into(), i);
    }
    let mut commune_by_folded_name: HashMap<(String, String), Vec<usize>> = HashMap::default();
    for (i, c) in communes.iter().enumerate() {
        commune_by_folded_name
            .entry((c.province_code.clone(), fold_key(&c.full_name)))
            .or_default()
            .push(i);
    }
    UnitTree {
        effective_from,
        commune_by_folded_name,
        district_folded_names: districts.iter().map(|d| fold_key(&d.full_name)).collect(),
        effective_to,
        province_index: index(provinces.iter().map(|p| &p.code).collect()),
        commune_index: index(communes.iter().map(|c| &c.code).collect()),
        district_index: index(districts.iter().map(|d| &d.code).collect()),
        province_by_name,
        province_by_full_name: provinces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.full_name.clone(), i))
            .collect(),
        provinces,
        districts,
        communes,
    }
}

/// The tree in force from 2025-07-01: 34 provinces, 3,321 communes.
pub fn current() -> &'static UnitTree {
    static T: OnceLock<UnitTree> = OnceLock::new();
    T.get_or_init(|| {
        build(
            include_str!("../data/admin-units/units-2025-07-01.json"),
            REFORM_DATE,
            None,
        )
    })
}

/// The tree in force until 2025-06-30: 63 provinces, 696 districts, 10,035 communes.
pub fn pre_2025() -> &'static UnitTree {
    static T: OnceLock<UnitTree> = OnceLock::new();
    T.get_or_init(|| {
        build(
            include_str!("../data/admin-units/units-2025-03-01.json"),
            "2025-03-01",
            Some("2025-06-30"),
        )
    })
}

/// The tree in force on an ISO date (`YYYY-MM-DD`; a year alone counts as its first day).
pub fn tree_on(date: &str) -> &'static UnitTree {
    if date < REFORM_DATE {
        pre_2025()
    } else {
        current()
    }
}

/// Old province code → the current province it became part of. Derived from commune-code
/// reuse (every new commune reuses an old commune code of its territory); matches the table
/// of NQ 202/2025 in docs/dictionary.md.
pub fn successor_province(old_code: &str) -> Option<&'static Province> {
    static MAP: OnceLock<HashMap<String, String>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        let mut votes: HashMap<(String, String), usize> = HashMap::default();
        for c in &current().communes {
            if let Some(old) = pre_2025().commune(&c.code) {
                *votes
                    .entry((old.province_code.clone(), c.province_code.clone()))
                    .or_default() += 1;
            }
        }
        let mut best: HashMap<String, (String, usize)> = HashMap::default();
        for ((old, new), n) in votes {
            let entry = best.entry(old).or_insert((new.clone(), 0));
            if n > entry.1 {
                *entry = (new, n);
            }
        }
        best.into_iter().map(|(k, (v, _))| (k, v)).collect()
    });
    map.get(old_code).and_then(|c| current().province(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_official_figures() {
        assert_eq!(
            (current().provinces.len(), current().communes.len()),
            (34, 3321)
        );
        assert_eq!(
            (
                pre_2025().provinces.len(),
                pre_2025().districts.len(),
                pre_2025().communes.len()
            ),
            (63, 696, 10035)
        );
    }

    #[test]
    fn merged_provinces_map_to_the_seat_code() {
        let cases = [
            ("24", "24"),
            ("27", "24"),
            ("02", "08"),
            ("64", "52"),
            ("87", "82"),
            ("72", "80"),
            ("45", "44"),
            ("10", "15"),
            ("89", "91"),
            ("74", "79"),
            ("77", "79"),
            ("46", "46"),
        ];
        for (old, new) in cases {
            assert_eq!(
                successor_province(old).map(|p| p.code.as_str()),
                Some(new),
                "old {old}"
            );
        }
        for p in &pre_2025().provinces {
            assert!(
                successor_province(&p.code).is_some(),
                "{} has no successor",
                p.name
            );
        }
    }

    #[test]
    fn provinces_by_name_and_alias() {
        let t = current();
        for (name, code) in [
            ("Hà Nội", "01"),
            ("thanh pho ho chi minh", "79"),
            ("TP.HCM", "79"),
            ("Sài Gòn", "79"),
            ("Tỉnh Khánh Hoà", "56"),
            ("Thừa Thiên Huế", "46"),
        ] {
            assert_eq!(
                t.province_by_name(name).map(|p| p.code.as_str()),
                Some(code),
                "{name}"
            );
        }
        assert!(t.province_by_name("Hà Giang").is_none());
        assert_eq!(
            pre_2025()
                .province_by_name("Hà Giang")
                .map(|p| p.code.as_str()),
            Some("02")
        );
        assert_eq!(
            t.commune("00004").map(|c| c.province_code.as_str()),
            Some("01")
        );
    }
}
