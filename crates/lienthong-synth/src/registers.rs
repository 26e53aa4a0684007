//! The other priority registers, drawn per person from a random stream of their own:
//! enterprises (the person as legal representative, a tax code with its check digit) and the
//! chemicals some declare (real substances with their CAS and UN numbers); officials' asset
//! declarations; administrative violation decisions (traffic ones with a plate);
//! construction permits on a land parcel; farm records.

use std::collections::HashSet;

use lienthong_dictionary::catalog::{self, Dataset};
use lienthong_dictionary::element::tax_code_check_digit;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::noise::Draft;
use crate::people::{address, pick, random_date, Person, AS_OF};
use crate::{iso, SynthError};

/// The datasets this module writes, in the order of their sinks after the first ones.
pub(crate) const DATASETS: [&Dataset; 6] = [
    &catalog::ENTERPRISE,
    &catalog::CHEMICAL_DECLARATION,
    &catalog::ASSET_DECLARATION,
    &catalog::ADMINISTRATIVE_VIOLATION,
    &catalog::CONSTRUCTION_PERMIT,
    &catalog::FARM_RECORD,
];

/// What the registers remember across people.
#[derive(Default)]
pub(crate) struct State {
    tax_codes: HashSet<String>,
    counter: u64,
}

/// Writes a record: the sink's index among [`DATASETS`], the draft (noise is injected by the
/// caller), the random stream.
pub(crate) type Put<'p> =
    dyn FnMut(usize, &mut Draft<'_>, &mut ChaCha8Rng) -> Result<u64, SynthError> + 'p;

fn draft<'a>(
    dataset: usize,
    values: Vec<String>,
    commune: Option<&'static lienthong_dictionary::units::Commune>,
    street: &'a str,
) -> Draft<'a> {
    Draft {
        dataset: DATASETS[dataset],
        values,
        locked: HashSet::new(),
        commune,
        street,
    }
}

/// Every register record person `p` (aged `age` in 2025) has.
pub(crate) fn generate(
    rng: &mut ChaCha8Rng,
    p: &Person,
    age: u32,
    state: &mut State,
    put: &mut Put<'_>,
) -> Result<(), SynthError> {
    if age >= 25 && rng.gen_bool(0.05) {
        let (values, street) = enterprise(rng, p, &mut state.tax_codes);
        let (tax_code, founded) = (values[0].clone(), values[4].clone());
        put(0, &mut draft(0, values, Some(p.commune), &street), rng)?;
        if rng.gen_bool(0.3) {
            for values in declarations(rng, &tax_code, &founded, &mut state.counter) {
                put(1, &mut draft(1, values, None, ""), rng)?;
            }
        }
    }
    if (30..=65).contains(&age) && p.deceased.is_none() && rng.gen_bool(0.03) {
        state.counter += 1;
        let values = asset_declaration(rng, p, state.counter);
        put(2, &mut draft(2, values, None, ""), rng)?;
    }
    if age >= 18 && rng.gen_bool(0.03) {
        state.counter += 1;
        let values = violation(rng, p, state.counter);
        put(3, &mut draft(3, values, None, ""), rng)?;
    }
    if age >= 25 && rng.gen_bool(0.02) {
        state.counter += 1;
        let street = format!(
            "Số {}, Ngõ {}",
            rng.gen_range(1..200),
            rng.gen_range(1..100)
        );
        let values = permit(rng, p, state.counter, &street);
        put(4, &mut draft(4, values, Some(p.commune), &street), rng)?;
    }
    if age >= 20 && rng.gen_bool(0.05) {
        state.counter += 1;
        let values = farm(rng, p, state.counter);
        put(5, &mut draft(5, values, None, ""), rng)?;
    }
    Ok(())
}

const KINDS: &[&str] = &[
    "Thương mại",
    "Xây dựng",
    "Dịch vụ",
    "Sản xuất",
    "Nông sản",
    "Hóa chất",
    "Vận tải",
];
const NAMES: &[&str] = &[
    "An Phát",
    "Minh Long",
    "Hòa Bình",
    "Thành Công",
    "Phú Thịnh",
    "Việt Tiến",
    "Hồng Hà",
    "Sông Đà",
];

/// Substances: Vietnamese name, CAS number, UN number (UN Model Regulations).
const SUBSTANCES: &[(&str, &str, &str)] = &[
    ("Metanol", "67-56-1", "UN1230"),
    ("Etanol", "64-17-5", "UN1170"),
    ("Axeton", "67-64-1", "UN1090"),
    ("Toluen", "108-88-3", "UN1294"),
    ("Axit sunfuric", "7664-93-9", "UN1830"),
    ("Natri hydroxit", "1310-73-2", "UN1823"),
    ("Axit clohydric", "7647-01-0", "UN1789"),
    ("Amoniac", "7664-41-7", "UN1005"),
    ("Clo", "7782-50-5", "UN1017"),
    ("Benzen", "71-43-2", "UN1114"),
    ("Axit nitric", "7697-37-2", "UN2031"),
    ("Xylen", "1330-20-7", "UN1307"),
];

/// An enterprise `p` represents: its `enterprise` values and its street (for address
/// defects). The tax code starts with the province's code, as codes issued by a province's
/// tax department do, and is unique.
fn enterprise(
    rng: &mut ChaCha8Rng,
    p: &Person,
    used: &mut HashSet<String>,
) -> (Vec<String>, String) {
    let tax_code = loop {
        let mut nine = [0u8; 9];
        for (i, d) in nine.iter_mut().enumerate() {
            *d = match p.province.code.as_bytes().get(i) {
                Some(b) if i < 2 => b - b'0',
                _ => rng.gen_range(0..10),
            };
        }
        let code: String = nine
            .iter()
            .chain(std::iter::once(&tax_code_check_digit(&nine)))
            .map(|d| char::from(b'0' + d))
            .collect();
        if used.insert(code.clone()) {
            break code;
        }
    };
    let street = format!("Số {}, Đường {}", rng.gen_range(1..300), pick(rng, NAMES));
    let founded = random_date(rng, (p.birth.0 + 20).clamp(1990, 2025), 2025, AS_OF);
    let status = match rng.gen_range(0..20) {
        0 => "dissolved",
        1 | 2 => "suspended",
        _ => "active",
    };
    let values = vec![
        tax_code,
        format!("Công ty TNHH {} {}", pick(rng, KINDS), pick(rng, NAMES)),
        p.personal_id.clone(),
        p.full_name.clone(),
        iso(founded),
        status.into(),
        p.province.code.clone(),
        p.commune.code.clone(),
        address(&street, p.commune),
    ];
    (values, street)
}

/// One to three `chemical_declaration` rows for the enterprise with `tax_code`, founded on
/// `founded` (ISO); `counter` numbers them.
fn declarations(
    rng: &mut ChaCha8Rng,
    tax_code: &str,
    founded: &str,
    counter: &mut u64,
) -> Vec<Vec<String>> {
    let from: u32 = founded
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or(2020)
        .max(2015);
    (0..rng.gen_range(1..=3))
        .map(|_| {
            *counter += 1;
            let (name, cas, un) = SUBSTANCES[rng.gen_range(0..SUBSTANCES.len())];
            vec![
                format!("HC{:08}", *counter),
                tax_code.to_owned(),
                cas.to_owned(),
                un.to_owned(),
                name.to_owned(),
                format!("{:.1}", rng.gen_range(1.0..50_000.0)),
                iso(random_date(rng, from, 2025, AS_OF)),
            ]
        })
        .collect()
}

const AGENCIES: &[&str] = &[
    "Ủy ban nhân dân xã",
    "Sở Tài chính",
    "Bộ Xây dựng",
    "Thanh tra tỉnh",
    "Kho bạc Nhà nước",
];
const POSITIONS: &[&str] = &[
    "Chuyên viên",
    "Trưởng phòng",
    "Phó Giám đốc",
    "Giám đốc",
    "Thanh tra viên",
];

/// An official's yearly declaration of assets and income (Law on Anti-corruption 2018).
fn asset_declaration(rng: &mut ChaCha8Rng, p: &Person, n: u64) -> Vec<String> {
    let year = rng.gen_range(2021..=2024u32);
    vec![
        format!("KKTS{n:08}"),
        p.personal_id.clone(),
        p.full_name.clone(),
        p.birth_iso(),
        pick(rng, AGENCIES).to_string(),
        pick(rng, POSITIONS).to_string(),
        year.to_string(),
        (rng.gen_range(100_000u64..20_000_000) * 1_000).to_string(),
        iso((year, 12, rng.gen_range(1..=28))),
    ]
}

const TRAFFIC: &[&str] = &[
    "Không chấp hành hiệu lệnh của đèn tín hiệu giao thông",
    "Điều khiển xe chạy quá tốc độ quy định",
    "Không đội mũ bảo hiểm khi điều khiển xe mô tô",
];
const OTHER_VIOLATIONS: &[&str] = &[
    "Xây dựng không có giấy phép",
    "Gây ô nhiễm môi trường",
    "Kinh doanh không có giấy phép",
];
/// Plate locality codes (Circular 79/2024/TT-BCA) and series letters.
const PLATE_LOCALITIES: &[&str] = &["29", "30", "31", "43", "51", "59", "15", "36", "65", "92"];
const PLATE_SERIES: &[&str] = &["A", "B", "C", "D", "E", "F", "G", "H", "K", "L"];

/// A sanction decision against the person; a traffic one names the vehicle's plate.
fn violation(rng: &mut ChaCha8Rng, p: &Person, n: u64) -> Vec<String> {
    let traffic = rng.gen_bool(0.6);
    let plate = if traffic {
        let motorcycle = rng.gen_bool(0.5);
        format!(
            "{}{}{}{:05}",
            pick(rng, PLATE_LOCALITIES),
            pick(rng, PLATE_SERIES),
            if motorcycle {
                rng.gen_range(1..10).to_string()
            } else {
                String::new()
            },
            rng.gen_range(0..100_000)
        )
    } else {
        String::new()
    };
    let what = if traffic {
        pick(rng, TRAFFIC)
    } else {
        pick(rng, OTHER_VIOLATIONS)
    };
    vec![
        format!("{n}/QĐ-XPVPHC"),
        p.personal_id.clone(),
        p.full_name.clone(),
        String::new(),
        plate,
        what.to_string(),
        (rng.gen_range(1..500u64) * 100_000).to_string(),
        iso(random_date(rng, 2023, 2025, AS_OF)),
        p.province.code.clone(),
        p.commune.code.clone(),
    ]
}

/// A building permit for a house on a parcel of the person's commune.
fn permit(rng: &mut ChaCha8Rng, p: &Person, n: u64, street: &str) -> Vec<String> {
    vec![
        format!("{n}/GPXD"),
        p.personal_id.clone(),
        p.full_name.clone(),
        format!(
            "{}-{}-{}",
            p.commune.code,
            rng.gen_range(1..60),
            rng.gen_range(1..2000)
        ),
        p.province.code.clone(),
        p.commune.code.clone(),
        address(street, p.commune),
        rng.gen_range(1..=6u32).to_string(),
        format!("{:.1}", rng.gen_range(40.0..300.0)),
        iso(random_date(rng, 2015, 2025, AS_OF)),
    ]
}

const CROPS: &[&str] = &[
    "rice",
    "maize",
    "coffee",
    "rubber",
    "pepper",
    "fruit",
    "vegetables",
    "aquaculture",
    "pigs",
    "poultry",
    "cattle",
];

/// A household's farm record for a year.
fn farm(rng: &mut ChaCha8Rng, p: &Person, n: u64) -> Vec<String> {
    vec![
        format!("NN{n:08}"),
        p.personal_id.clone(),
        p.full_name.clone(),
        p.province.code.clone(),
        p.commune.code.clone(),
        pick(rng, CROPS).to_string(),
        format!("{:.1}", rng.gen_range(100.0..50_000.0)),
        rng.gen_range(2022..=2025u32).to_string(),
    ]
}
