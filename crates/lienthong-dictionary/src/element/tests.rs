//! Data-driven tests of every element kind.

use super::*;

fn run(kind: Kind, raw: &str) -> (String, Vec<(&'static str, Severity)>) {
    let mut findings = Vec::new();
    let mut out = Out {
        field: "f",
        findings: &mut findings,
    };
    let v = check(&kind, &FieldOpts::default(), raw, &mut out);
    (
        v,
        findings.into_iter().map(|f| (f.rule, f.severity)).collect(),
    )
}

#[test]
fn data_driven_single_values() {
    use Severity::*;
    type Case = (
        Kind,
        &'static str,
        &'static str,
        Vec<(&'static str, Severity)>,
    );
    let cases: Vec<Case> = vec![
        (Kind::PersonalId, "001090123456", "001090123456", vec![]),
        (
            Kind::PersonalId,
            "001 090 123 456",
            "001090123456",
            vec![("id.separators", Repaired)],
        ),
        (
            Kind::PersonalId,
            "01090123456",
            "01090123456",
            vec![("id.length", Error)],
        ),
        (
            Kind::PersonalId,
            "012345678",
            "012345678",
            vec![("personal_id.is_cmnd", Error)],
        ),
        (
            Kind::PersonalId,
            "00109012345X",
            "00109012345X",
            vec![("id.non_digit", Error)],
        ),
        (
            Kind::Name,
            "NGUYỄN VĂN AN",
            "Nguyễn Văn An",
            vec![("text.upper_case", Repaired)],
        ),
        (
            Kind::Name,
            "Nguyen Van An",
            "Nguyen Van An",
            vec![("name.no_diacritics", Warning)],
        ),
        (
            Kind::Name,
            "Nguyễn  Văn An ",
            "Nguyễn Văn An",
            vec![("text.whitespace", Repaired)],
        ),
        (
            Kind::Name,
            "Lê Thị Hoà",
            "Lê Thị Hòa",
            vec![("text.tone_placement", Repaired)],
        ),
        (
            Kind::Name,
            "Nguyá»…n VÄƒn An",
            "Nguyễn Văn An",
            vec![("text.legacy_encoding", Repaired)],
        ),
        (
            Kind::Name,
            "Nguy\u{65}\u{302}\u{303}n Văn An",
            "Nguyễn Văn An",
            vec![("text.not_nfc", Repaired)],
        ),
        (
            Kind::Name,
            "H\u{2019}Hen Niê",
            "H'Hen Niê",
            vec![("text.apostrophe", Repaired)],
        ),
        (
            Kind::Name,
            "Nguyễn Văn 2",
            "Nguyễn Văn 2",
            vec![("name.invalid_chars", Error)],
        ),
        (
            Kind::Date { year_only: true },
            "1990-03-25",
            "1990-03-25",
            vec![],
        ),
        (
            Kind::Date { year_only: true },
            "19900325",
            "1990-03-25",
            vec![],
        ),
        (
            Kind::Date { year_only: true },
            "25/03/1990",
            "1990-03-25",
            vec![],
        ),
        (Kind::Date { year_only: true }, "1990", "1990", vec![]),
        (
            Kind::Date { year_only: true },
            "03/25/1990",
            "03/25/1990",
            vec![("date.impossible", Error)],
        ),
        (
            Kind::Date { year_only: true },
            "1990-02-30",
            "1990-02-30",
            vec![("date.impossible", Error)],
        ),
        (
            Kind::Date { year_only: false },
            "1990",
            "1990",
            vec![("date.format", Error)],
        ),
        (
            Kind::Date { year_only: true },
            "hôm qua",
            "hôm qua",
            vec![("date.format", Error)],
        ),
        (
            Kind::Timestamp,
            "2025-08-01 10:20:30",
            "2025-08-01T10:20:30+07:00",
            vec![],
        ),
        (
            Kind::Timestamp,
            "2025-08-01T10:20:30.5Z",
            "2025-08-01T10:20:30.5Z",
            vec![],
        ),
        (
            Kind::Timestamp,
            "2025-08-01 03:20:30.123456+00",
            "2025-08-01T03:20:30.123456+00:00",
            vec![],
        ),
        (
            Kind::Timestamp,
            "2025-08-01T10:20:30+0700",
            "2025-08-01T10:20:30+07:00",
            vec![],
        ),
        (
            Kind::Timestamp,
            "2025-08-01T10:20:30+7",
            "2025-08-01T10:20:30+7",
            vec![("timestamp.format", Error)],
        ),
        (
            Kind::Timestamp,
            "2025-08-01",
            "2025-08-01",
            vec![("timestamp.format", Error)],
        ),
        (
            Kind::Timestamp,
            "2025-08-01T10:20:3é",
            "2025-08-01T10:20:3é",
            vec![("timestamp.format", Error)],
        ),
        (
            Kind::Timestamp,
            "2025-08-01T10:20:30+ab:cd",
            "2025-08-01T10:20:30+ab:cd",
            vec![("timestamp.format", Error)],
        ),
        (
            Kind::Timestamp,
            "2025-08-01T10:20:30.Z",
            "2025-08-01T10:20:30.Z",
            vec![("timestamp.format", Error)],
        ),
        (
            Kind::Coded(&codes::SEX),
            "Nữ",
            "2",
            vec![("code.label_as_code", Repaired)],
        ),
        (
            Kind::Coded(&codes::SEX),
            "3",
            "3",
            vec![("code.unknown", Error)],
        ),
        (
            Kind::Ethnicity,
            "Khmer",
            "05",
            vec![("code.label_as_code", Repaired)],
        ),
        (
            Kind::Ethnicity,
            "1",
            "01",
            vec![("code.leading_zero", Repaired)],
        ),
        (
            Kind::Religion,
            "00",
            "",
            vec![("religion.none_code", Repaired)],
        ),
        (Kind::Religion, "15", "15", vec![("code.unknown", Error)]),
        (
            Kind::Nationality,
            "vn",
            "VN",
            vec![("nationality.case", Repaired)],
        ),
        (
            Kind::Nationality,
            "XX",
            "XX",
            vec![("nationality.unknown", Error)],
        ),
        (
            Kind::ProvinceCode,
            "1",
            "01",
            vec![("unit_code.leading_zero", Repaired)],
        ),
        (
            Kind::ProvinceCode,
            "02",
            "02",
            vec![("province_code.retired", Error)],
        ),
        (
            Kind::ProvinceCode,
            "99",
            "99",
            vec![("province_code.unknown", Error)],
        ),
        (
            Kind::CommuneCode,
            "4",
            "00004",
            vec![("unit_code.leading_zero", Repaired)],
        ),
        (
            Kind::CommuneCode,
            "00001",
            "00001",
            vec![("commune_code.retired", Error)],
        ),
        (
            Kind::Phone,
            "0912 345 678",
            "+84912345678",
            vec![("phone.separators", Repaired)],
        ),
        (
            Kind::Phone,
            "+84 24 3825 1234",
            "+842438251234",
            vec![("phone.separators", Repaired)],
        ),
        (
            Kind::Phone,
            "01662345678",
            "+84362345678",
            vec![("phone.old_mobile_prefix", Repaired)],
        ),
        (Kind::Phone, "12345", "12345", vec![("phone.format", Error)]),
        (
            Kind::Email,
            "an.nguyen@Gmail.COM",
            "an.nguyen@gmail.com",
            vec![],
        ),
        (
            Kind::Email,
            "an.nguyen@",
            "an.nguyen@",
            vec![("email.format", Error)],
        ),
        (Kind::AmountVnd, "1.500.000 đ", "1500000", vec![]),
        (
            Kind::AmountVnd,
            "-5",
            "-5",
            vec![("amount_vnd.format", Error)],
        ),
        (Kind::LandParcelId, "00004-12-345", "00004-12-345", vec![]),
        (
            Kind::LandParcelId,
            "4-12-345",
            "4-12-345",
            vec![("land_parcel_id.format", Error)],
        ),
        (
            Kind::Address,
            "Số 1, P. Ba Đình, TP. Hà Nội",
            "Số 1, Phường Ba Đình, Thành phố Hà Nội",
            vec![("address.abbreviation", Repaired)],
        ),
        (
            Kind::Address,
            "Số 1, Phường Ba Đình, Thành phố Hà Nội",
            "Số 1, Phường Ba Đình, Thành phố Hà Nội",
            vec![],
        ),
        (
            Kind::Address,
            "Số 1, Phường Trúc Bạch, Quận Ba Đình, Thành phố Hà Nội",
            "Số 1, Phường Ba Đình, Thành phố Hà Nội",
            vec![("address.old_units", Repaired)],
        ),
    ];
    for (kind, raw, want, want_findings) in cases {
        let (got, findings) = run(kind, raw);
        assert_eq!(got, want, "{raw}");
        assert_eq!(findings, want_findings, "{raw}");
    }
}

#[test]
fn register_identifiers_with_their_check_digits() {
    use Severity::*;
    // Each rule: a real code, one digit wrong, two neighbours swapped, and the repairs.
    let cases = vec![
        (Kind::TaxCode, "0100109106", "0100109106", vec![]),
        (Kind::TaxCode, "0300588569", "0300588569", vec![]),
        (
            Kind::TaxCode,
            "0100109107",
            "0100109107",
            vec![("tax_code.check_digit", Error)],
        ),
        (
            Kind::TaxCode,
            "0100019106",
            "0100019106",
            vec![("tax_code.check_digit", Error)],
        ),
        (Kind::TaxCode, "0100109106-001", "0100109106-001", vec![]),
        (
            Kind::TaxCode,
            "0100109106001",
            "0100109106-001",
            vec![("tax_code.branch_dash", Repaired)],
        ),
        (
            Kind::TaxCode,
            "0100 109 106",
            "0100109106",
            vec![("id.separators", Repaired)],
        ),
        (
            Kind::TaxCode,
            "0100109106-000",
            "0100109106-000",
            vec![("tax_code.branch", Error)],
        ),
        (Kind::TaxCode, "001090123456", "001090123456", vec![]),
        (
            Kind::TaxCode,
            "01001091",
            "01001091",
            vec![("tax_code.format", Error)],
        ),
        (Kind::CasNumber, "7732-18-5", "7732-18-5", vec![]),
        (Kind::CasNumber, "50-00-0", "50-00-0", vec![]),
        (Kind::CasNumber, "64-17-5", "64-17-5", vec![]),
        (
            Kind::CasNumber,
            "7732185",
            "7732-18-5",
            vec![("cas_number.dashes", Repaired)],
        ),
        (
            Kind::CasNumber,
            "7732-18-6",
            "7732-18-6",
            vec![("cas_number.check_digit", Error)],
        ),
        (
            Kind::CasNumber,
            "7723-18-5",
            "7723-18-5",
            vec![("cas_number.check_digit", Error)],
        ),
        (
            Kind::CasNumber,
            "0064-17-5",
            "0064-17-5",
            vec![("cas_number.format", Error)],
        ),
        (
            Kind::CasNumber,
            "water",
            "water",
            vec![("cas_number.format", Error)],
        ),
        (Kind::UnNumber, "UN1203", "UN1203", vec![]),
        (
            Kind::UnNumber,
            "un 1203",
            "UN1203",
            vec![("un_number.form", Repaired)],
        ),
        (
            Kind::UnNumber,
            "1203",
            "UN1203",
            vec![("un_number.form", Repaired)],
        ),
        (
            Kind::UnNumber,
            "UN12",
            "UN12",
            vec![("un_number.format", Error)],
        ),
        (Kind::DocumentNumber, "123/QĐ-UBND", "123/QĐ-UBND", vec![]),
        (Kind::DocumentNumber, "45/GPXD", "45/GPXD", vec![]),
        (
            Kind::DocumentNumber,
            "Số: 123/QĐ-UBND",
            "123/QĐ-UBND",
            vec![("document_number.prefix", Repaired)],
        ),
        (
            Kind::DocumentNumber,
            "15/2024/qđ-ubnd",
            "15/2024/QĐ-UBND",
            vec![("document_number.case", Repaired)],
        ),
        (
            Kind::DocumentNumber,
            "123 / QĐ-UBND",
            "123/QĐ-UBND",
            vec![("id.separators", Repaired)],
        ),
        (
            Kind::DocumentNumber,
            "QĐ-UBND",
            "QĐ-UBND",
            vec![("document_number.format", Error)],
        ),
        (
            Kind::VehiclePlate,
            "30A-123.45",
            "30A12345",
            vec![("vehicle_plate.separators", Repaired)],
        ),
        (Kind::VehiclePlate, "29B112345", "29B112345", vec![]),
        (
            Kind::VehiclePlate,
            "29-B1 123.45",
            "29B112345",
            vec![("vehicle_plate.separators", Repaired)],
        ),
        (
            Kind::VehiclePlate,
            "00A12345",
            "00A12345",
            vec![("vehicle_plate.format", Error)],
        ),
        (
            Kind::VehiclePlate,
            "ABC",
            "ABC",
            vec![("vehicle_plate.format", Error)],
        ),
    ];
    for (kind, raw, want, want_findings) in cases {
        let (got, findings) = run(kind, raw);
        assert_eq!(got, want, "{raw}");
        assert_eq!(findings, want_findings, "{raw}");
    }
}

/// Over many tax codes: every single wrong digit and every swap of two different neighbours
/// is caught, but where the rule's 10 and 0 fall together (both written 0); CAS numbers catch
/// every swap of neighbours and every wrong digit whose weight times the error is not a
/// multiple of ten.
#[test]
fn check_digits_catch_typing_errors() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10) as u8
    };
    let sum_mod_11 = |d: &[u8]| {
        d.iter()
            .zip([31u32, 29, 23, 19, 17, 13, 7, 5, 3])
            .map(|(a, w)| u32::from(*a) * w)
            .sum::<u32>()
            % 11
    };
    let (mut tried, mut missed) = (0, 0);
    for _ in 0..500 {
        let nine: [u8; 9] = std::array::from_fn(|_| next());
        let check = tax_code_check_digit(&nine);
        let mut changed = Vec::new();
        for i in 0..9 {
            for v in 0..10u8 {
                if v != nine[i] {
                    let mut c = nine;
                    c[i] = v;
                    changed.push(c);
                }
            }
            if i < 8 && nine[i] != nine[i + 1] {
                let mut c = nine;
                c.swap(i, i + 1);
                changed.push(c);
            }
        }
        for c in changed {
            tried += 1;
            if tax_code_check_digit(&c) == check {
                missed += 1;
                let remainders = [sum_mod_11(&nine), sum_mod_11(&c)];
                assert!(
                    remainders.contains(&0) && remainders.contains(&10),
                    "{nine:?} → {c:?} missed outside the 0/10 case"
                );
            }
        }
    }
    assert!(missed * 10 < tried, "{missed} of {tried} missed");
    for _ in 0..500 {
        let body: Vec<u8> = (0..6).map(|_| next()).collect();
        let check = cas_check_digit(&body);
        for i in 0..body.len() - 1 {
            if body[i] != body[i + 1] {
                let mut c = body.clone();
                c.swap(i, i + 1);
                assert_ne!(cas_check_digit(&c), check, "{body:?} swap at {i}");
            }
        }
        for i in 0..body.len() {
            let weight = (body.len() - i) as i32;
            for v in 0..10u8 {
                let mut c = body.clone();
                c[i] = v;
                let caught = cas_check_digit(&c) != check;
                let multiple_of_ten = (weight * (i32::from(v) - i32::from(body[i]))) % 10 == 0;
                assert_eq!(caught, !multiple_of_ten, "{body:?} digit {i} → {v}");
            }
        }
    }
}

proptest::proptest! {
    /// No check panics, whatever the text (found: a non-ASCII byte inside a timestamp).
    #[test]
    fn no_check_panics_on_any_text(s in proptest::prop_oneof![
        proptest::prelude::any::<String>(),
        "[0-9:T +.Z/-]{0,30}\\PC{0,3}",
        "20[0-9]{2}-[0-9]{2}-[0-9]{2}[T ][0-9:]{0,8}\\PC{0,6}",
        "(Số 1, )?(P\\.|TP\\.|X\\.|Q\\.|KP)?\\PC{0,12}(, \\PC{0,10}){0,4}",
    ]) {
        for el in crate::catalog::ELEMENTS {
            let mut findings = Vec::new();
            let mut out = Out { field: "f", findings: &mut findings };
            let _ = check(&el.kind, &FieldOpts::default(), &s, &mut out);
        }
    }
}

#[test]
fn rare_bytes_catch_every_odd_character() {
    // Every character the byte pass must not miss: all of `is_invisible`'s and every
    // whitespace other than the space.
    for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
        if is_invisible(c) || (c.is_whitespace() && c != ' ') {
            let s = format!("Nguyễn{c}Văn");
            assert!(rare_bytes(&s), "U+{:04X}", c as u32);
        }
    }
    assert!(!rare_bytes(
        "Nguyễn Thị Hồng Nhung, Phường Ba Đình, Thành phố Hà Nội"
    ));
    assert!(!rare_bytes("Nguye\u{303}\u{302}n"));
}

#[test]
fn address_parts() {
    let p = parse_address("Số 3, Thôn Đông, Xã An Khánh, Huyện Hoài Đức, Thành phố Hà Nội");
    assert_eq!(p.street, vec!["Số 3", "Thôn Đông"]);
    assert_eq!(p.commune, Some("Xã An Khánh"));
    assert_eq!(p.district, Some("Huyện Hoài Đức"));
    assert_eq!(p.province, Some("Thành phố Hà Nội"));
}

#[test]
fn address_units_agree_with_the_full_parse() {
    for a in [
        "Số 3, Thôn Đông, Xã An Khánh, Huyện Hoài Đức, Thành phố Hà Nội",
        "Xã An Khánh",
        "Phường Ba Đình",
        "Số 3",
        "",
        " , ,",
        "Xã A, Xã B, Tỉnh C",
        "Số 1, Tỉnh C",
        "Thị trấn Đông Anh, Thành phố Hà Nội",
        "XÃ AN KHÁNH,THÀNH PHỐ HÀ NỘI",
        "Số 9,, Phường Hồng Hà ,  Thành phố Hà Nội ",
        "Đặc khu Phú Quốc, Tỉnh An Giang",
        "Phường X",
        "Xã A, Huyện B, Quận C, Tỉnh D",
        "Huyện B, Xã A, Huyện C, Tỉnh D",
        "Số 1, Phường A, Thị xã B, Thành phố C",
        "Huyện B, Tỉnh D",
    ] {
        let p = parse_address(a);
        assert_eq!(address_units(a), (p.commune, p.district, p.province), "{a}");
    }
}

#[test]
fn surely_nfc_holds_only_characters_the_quick_check_passes() {
    use unicode_normalization::char::canonical_combining_class;
    let fast = (0..0x300u32)
        .chain(0x1E00..0x1F00)
        .filter_map(char::from_u32);
    for c in fast {
        let s = c.to_string();
        assert!(surely_nfc(&s), "U+{:04X}", c as u32);
        assert_eq!(
            (is_nfc_quick(s.chars()), canonical_combining_class(c)),
            (IsNormalized::Yes, 0),
            "U+{:04X}",
            c as u32
        );
    }
    for s in [
        "Nguye\u{303}\u{302}n",
        "\u{300}",
        "Ω",
        "\u{1F00}",
        "한",
        "𝐀",
    ] {
        assert!(!surely_nfc(s), "{s}");
    }
    assert!(surely_nfc("Nguyễn Văn Đức, Phường Ba Đình"));
}

/// Inputs for comparing a fast path with its general path: every string the generator
/// makes from `alphabet` (seeded, so a failure repeats), biased towards the shapes the fast
/// paths take, plus the given edge cases.
fn near_misses(alphabet: &[&str], lens: std::ops::Range<usize>, edge: &[&str]) -> Vec<String> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out: Vec<String> = edge.iter().map(|s| (*s).to_owned()).collect();
    for _ in 0..60_000 {
        let len = lens.start + (next() as usize) % (lens.end - lens.start);
        // Mostly digits (the fast shapes), sometimes any symbol of the alphabet.
        let s: String = (0..len)
            .map(|_| {
                let r = next() as usize;
                if r.is_multiple_of(8) {
                    alphabet[(r >> 8) % alphabet.len()]
                } else {
                    ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"][(r >> 8) % 10]
                }
            })
            .collect();
        out.push(s);
    }
    out
}

fn agree(
    inputs: &[String],
    fast: impl Fn(&str, &mut Out<'_>) -> String,
    general: impl Fn(&str, &mut Out<'_>) -> String,
) {
    for raw in inputs {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let va = fast(
            raw,
            &mut Out {
                field: "f",
                findings: &mut a,
            },
        );
        let vb = general(
            raw,
            &mut Out {
                field: "f",
                findings: &mut b,
            },
        );
        assert_eq!((va, a), (vb, b), "{raw:?}");
    }
}

#[test]
fn fast_paths_give_what_the_general_checks_give() {
    let ids = near_misses(
        &[" ", ".", "-", "E", "e", "+", "'", "a", "０", "\u{200B}"],
        0..15,
        &[
            "001090123456",
            " 001090123456 ",
            "00109012345",
            "0010901234567",
            "123456789",
        ],
    );
    agree(
        &ids,
        |r, o| digits_id(r, 12, o),
        |r, o| digits_id_general(r, 12, o),
    );
    agree(
        &ids,
        |r, o| digits_id(r, 9, o),
        |r, o| digits_id_general(r, 9, o),
    );
    let phones = near_misses(
        &[" ", ".", "-", "(", ")", "+", "E", "0", "2", "8", "4"],
        0..14,
        &[
            "0912345678",
            "0084912345",
            "00849123456",
            "02439876543",
            "0212345678",
            "0312345678",
            "0412345678",
            "0112345678",
            "01231234567",
            " 0912345678",
            "+84912345678",
            "84912345678",
        ],
    );
    agree(&phones, phone, phone_general);
    let dates = near_misses(
        &["-", "/", ".", " ", "T", ":"],
        8..12,
        &[
            "2024-02-29",
            "2023-02-29",
            "1800-01-01",
            "1799-12-31",
            "2200-12-31",
            "2201-01-01",
            "2020-13-01",
            "2020-00-10",
            "2020-01-00",
            "2020-04-31",
            " 2020-04-30 ",
            "2020-04-30T00:00:00",
            "0000-01-01",
            "9999-12-31",
        ],
    );
    // Most random strings of length 10 are not dates: make the generator's digits into
    // `YYYY-MM-DD` shapes too.
    let shaped: Vec<String> = dates
        .iter()
        .filter(|s| s.len() == 8 && s.is_ascii())
        .map(|s| format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..]))
        .chain(dates.iter().cloned())
        .collect();
    for year_only in [false, true] {
        agree(
            &shaped,
            |r, o| date(r, year_only, o),
            |r, o| date_general(r, year_only, o),
        );
    }
    // Timestamps: valid dates with clocks and zones from the generator's digits.
    let stamps: Vec<String> = near_misses(&[":", "+", "-", "Z", "T", " ", "."], 10..12, &[])
        .iter()
        .filter(|s| s.is_ascii())
        .map(|s| {
            let zone = match s.as_bytes()[0] % 4 {
                0 => "Z".to_owned(),
                1 => format!("+{}:{}", &s[2..4], &s[4..6]),
                2 => format!("-{}:{}", &s[6..8], &s[8..10]),
                _ => s[8..].to_owned(),
            };
            format!(
                "2025-0{}-1{}T{}:{}:{}{zone}",
                &s[0..1],
                &s[1..2],
                &s[2..4],
                &s[4..6],
                &s[6..8]
            )
        })
        .chain(
            [
                "2025-08-02T11:15:11+07:00",
                "2025-08-02T23:59:60+14:00",
                "2025-08-02T24:00:00Z",
                "2025-08-02T11:15:11+15:00",
                "2025-08-02T11:15:11+07:60",
                "2025-08-02 11:15:11+07:00",
                "2025-08-02T11:15:11+0700",
                "2025-08-02T11:15:11.5+07:00",
                "2025-02-29T11:15:11Z",
                " 2025-08-02T11:15:11Z ",
                "1799-08-02T11:15:11Z",
                "2025-08-02T11:15:11",
            ]
            .map(str::to_owned),
        )
        .collect();
    agree(&stamps, timestamp, timestamp_general);
    let mails = near_misses(
        &["a", "B", "@", ".", " ", "-", "_", "é", "\t", "x"],
        0..12,
        &[
            "an@example.vn",
            "An.Nguyen@Example.VN",
            "an@example",
            "@example.vn",
            "an@.vn",
            "an@vn.",
            "a@b@c.vn",
            " an@example.vn ",
            "an b@example.vn",
            "ân@example.vn",
            "an@exämple.vn",
            "an@example.vn\u{200B}",
        ],
    );
    // Shaped as addresses too: most random strings hold no `@`.
    let mails: Vec<String> = mails
        .iter()
        .filter(|s| s.is_char_boundary(s.len() / 2))
        .map(|s| format!("{}@{}.vn", &s[..s.len() / 2], &s[s.len() / 2..]))
        .chain(mails.iter().cloned())
        .collect();
    agree(&mails, email, email_general);
    // `check_into` gives what `check` gives, whatever its target held.
    let kinds = [
        Kind::PersonalId,
        Kind::OldId,
        Kind::Date { year_only: false },
        Kind::Timestamp,
        Kind::Phone,
        Kind::Email,
    ];
    for kind in &kinds {
        for raw in ids
            .iter()
            .chain(&phones)
            .chain(&shaped)
            .chain(&stamps)
            .chain(&mails)
            .step_by(7)
        {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut target = "left over".to_owned();
            check_into(
                kind,
                &FieldOpts::default(),
                raw,
                &mut Out {
                    field: "f",
                    findings: &mut a,
                },
                &mut target,
            );
            let want = check(
                kind,
                &FieldOpts::default(),
                raw,
                &mut Out {
                    field: "f",
                    findings: &mut b,
                },
            );
            assert_eq!((target, a), (want, b), "{kind:?} {raw:?}");
        }
    }
}
