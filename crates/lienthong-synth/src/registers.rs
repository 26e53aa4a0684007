//! The finance and chemicals registers: enterprises (a person as legal representative, a tax
//! code with its check digit) and the chemicals some of them declare (real substances with
//! their CAS and UN numbers).

use std::collections::HashSet;

use lienthong_dictionary::element::tax_code_check_digit;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::iso;
use crate::people::{address, pick, random_date, Person, AS_OF};

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
pub(crate) fn enterprise(
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
pub(crate) fn declarations(
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
