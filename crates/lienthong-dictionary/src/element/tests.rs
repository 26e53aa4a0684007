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
