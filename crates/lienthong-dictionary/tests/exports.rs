//! What spreadsheets, SQL exports and web forms do to values: each form is repaired when the
//! value meant is certain (reported with a rule of its own) and stays an error, with the
//! reason, when repairing it would be a guess. Data-driven: element, input → normalised
//! value and the findings' (rule, severity).

use lienthong_dictionary::catalog;
use lienthong_dictionary::element::{check, FieldOpts, Out};
use lienthong_dictionary::finding::Severity::{self, Error, Repaired, Warning};

type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, Severity)],
);

const CASES: &[Case] = &[
    // Excel's text marker: a leading apostrophe keeps the leading zeros of an id.
    (
        "personal_id",
        "'001090123456",
        "001090123456",
        &[("id.text_marker", Repaired)],
    ),
    (
        "personal_id",
        "\u{2019}001090123456",
        "001090123456",
        &[("id.text_marker", Repaired)],
    ),
    (
        "old_id",
        "'012345678",
        "012345678",
        &[("id.text_marker", Repaired)],
    ),
    (
        "phone",
        "'0912345678",
        "+84912345678",
        &[("id.text_marker", Repaired)],
    ),
    (
        "commune_code",
        "'00004",
        "00004",
        &[("id.text_marker", Repaired)],
    ),
    (
        "insurance_no",
        "'0123456789",
        "0123456789",
        &[("id.text_marker", Repaired)],
    ),
    // Full-width digits: the same digits in their compatibility form.
    (
        "personal_id",
        "００１０９０１２３４５６",
        "001090123456",
        &[("id.fullwidth", Repaired)],
    ),
    (
        "phone",
        "０９１２３４５６７８",
        "+84912345678",
        &[("id.fullwidth", Repaired)],
    ),
    (
        "health_card_no",
        "ＤＮ4010123456789",
        "DN4010123456789",
        &[("id.fullwidth", Repaired)],
    ),
    (
        "personal_id",
        "'００１０９０１２３４５６",
        "001090123456",
        &[("id.fullwidth", Repaired), ("id.text_marker", Repaired)],
    ),
    // Invisible characters in names, text and ids.
    (
        "full_name",
        "Nguyễn\u{200B} Văn An",
        "Nguyễn Văn An",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "full_name",
        "\u{FEFF}Trần Thị Bình",
        "Trần Thị Bình",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "full_name",
        "Lê Thị Hoa\u{00AD}",
        "Lê Thị Hoa",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "full_name",
        "Phạm Văn\u{200D} Đức\u{2060}",
        "Phạm Văn Đức",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "full_name",
        "Nguyễn Văn\u{00AD} An",
        "Nguyễn Văn An",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "full_name",
        "Đặng\u{00AD} Thị Thủy",
        "Đặng Thị Thủy",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "full_name",
        "Hoàng Minh Ch\u{00AD}âu",
        "Hoàng Minh Châu",
        &[("text.invisible_chars", Repaired)],
    ),
    // A soft hyphen that is TCVN3's byte for "ư" is repaired as TCVN3.
    (
        "full_name",
        "L\u{00AD}u Minh Vinh",
        "Lưu Minh Vinh",
        &[("text.legacy_encoding", Repaired)],
    ),
    (
        "address",
        "Số 1,\u{200E} Phường Ba Đình, Thành phố Hà Nội",
        "Số 1, Phường Ba Đình, Thành phố Hà Nội",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "personal_id",
        "\u{FEFF}001090123456",
        "001090123456",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "personal_id",
        "00109\u{200B}0123456",
        "001090123456",
        &[("text.invisible_chars", Repaired)],
    ),
    (
        "full_name",
        "Nguyễn\u{2009}Văn An",
        "Nguyễn Văn An",
        &[("text.whitespace", Repaired)],
    ),
    // Dates exported as date-times at midnight.
    (
        "birth_date",
        "1963-06-03 00:00:00.000",
        "1963-06-03",
        &[("date.midnight_time", Repaired)],
    ),
    (
        "birth_date",
        "1963-06-03T00:00:00",
        "1963-06-03",
        &[("date.midnight_time", Repaired)],
    ),
    (
        "birth_date",
        "1963-06-03 00:00",
        "1963-06-03",
        &[("date.midnight_time", Repaired)],
    ),
    (
        "birth_date",
        "03/06/1963 0:00",
        "1963-06-03",
        &[("date.midnight_time", Repaired)],
    ),
    (
        "birth_date",
        "1963-06-03T00:00:00+07:00",
        "1963-06-03",
        &[("date.midnight_time", Repaired)],
    ),
    (
        "birth_date",
        "1963-06-03T00:00:00Z",
        "1963-06-03",
        &[("date.midnight_time", Repaired)],
    ),
    (
        "birth_date",
        "1963-06-03 00:00:00-05:00",
        "1963-06-03",
        &[("date.midnight_time", Repaired)],
    ),
    // …and what stays an error: a time of day, a zone that moves the date, a bad date.
    (
        "birth_date",
        "1963-06-03 08:30:00",
        "1963-06-03 08:30:00",
        &[("date.has_time", Error)],
    ),
    (
        "birth_date",
        "1963-06-03 00:00:00.001",
        "1963-06-03 00:00:00.001",
        &[("date.has_time", Error)],
    ),
    (
        "birth_date",
        "1963-06-02T17:00:00Z",
        "1963-06-02T17:00:00Z",
        &[("date.has_time", Error)],
    ),
    (
        "birth_date",
        "1963-06-03T00:00:00+09:00",
        "1963-06-03T00:00:00+09:00",
        &[("date.zone_moves_date", Error)],
    ),
    (
        "birth_date",
        "1963-13-03 00:00:00",
        "1963-13-03 00:00:00",
        &[("date.impossible", Error)],
    ),
    (
        "birth_date",
        "1963-06-03 00:00:00 AM",
        "1963-06-03 00:00:00 AM",
        &[("date.format", Error)],
    ),
    (
        "birth_date",
        "1963 00:00:00",
        "1963 00:00:00",
        &[("date.format", Error)],
    ),
    // Phones: 0084, grouping, the trunk zero after +84.
    (
        "phone",
        "0084912345678",
        "+84912345678",
        &[("phone.international_0084", Repaired)],
    ),
    (
        "phone",
        "0084 912 345 678",
        "+84912345678",
        &[
            ("phone.international_0084", Repaired),
            ("phone.separators", Repaired),
        ],
    ),
    (
        "phone",
        "0912.345.678",
        "+84912345678",
        &[("phone.separators", Repaired)],
    ),
    (
        "phone",
        "0912-345-678",
        "+84912345678",
        &[("phone.separators", Repaired)],
    ),
    (
        "phone",
        "(024) 3825-1234",
        "+842438251234",
        &[("phone.separators", Repaired)],
    ),
    (
        "phone",
        "+84 (0) 912 345 678",
        "+84912345678",
        &[
            ("phone.trunk_zero", Repaired),
            ("phone.separators", Repaired),
        ],
    ),
    ("phone", "0912345678", "+84912345678", &[]),
    ("phone", "+84912345678", "+84912345678", &[]),
    (
        "phone",
        "0912+345678",
        "0912+345678",
        &[("phone.format", Error)],
    ),
    (
        "phone",
        "0083912345678",
        "0083912345678",
        &[("phone.format", Error)],
    ),
    // A spreadsheet that read an id as a number: never guessed back.
    (
        "personal_id",
        "7.20562E+10",
        "7.20562E+10",
        &[("id.scientific_notation", Error)],
    ),
    (
        "personal_id",
        "1,09012E+11",
        "1,09012E+11",
        &[("id.scientific_notation", Error)],
    ),
    (
        "insurance_no",
        "1.23457E+9",
        "1.23457E+9",
        &[("id.scientific_notation", Error)],
    ),
    (
        "phone",
        "9.12346E+8",
        "9.12346E+8",
        &[("id.scientific_notation", Error)],
    ),
    (
        "personal_id",
        "1090123456",
        "1090123456",
        &[("id.length", Error)],
    ),
    (
        "personal_id",
        "01090123456",
        "01090123456",
        &[("id.length", Error)],
    ),
    // Nothing to repair: nothing reported.
    ("personal_id", "001090123456", "001090123456", &[]),
    ("birth_date", "1963-06-03", "1963-06-03", &[]),
    ("full_name", "Nguyễn Văn An", "Nguyễn Văn An", &[]),
    (
        "full_name",
        "Nguyen\u{200B} Van An",
        "Nguyen Van An",
        &[
            ("text.invisible_chars", Repaired),
            ("name.no_diacritics", Warning),
        ],
    ),
];

fn run(element: &str, raw: &str) -> (String, Vec<(&'static str, Severity)>, Vec<String>) {
    let el = catalog::element(element).unwrap_or_else(|| panic!("no element {element}"));
    let mut findings = Vec::new();
    let mut out = Out {
        field: "f",
        findings: &mut findings,
    };
    let v = check(&el.kind, &FieldOpts::default(), raw, &mut out);
    (
        v,
        findings.iter().map(|f| (f.rule, f.severity)).collect(),
        findings.into_iter().map(|f| f.message).collect(),
    )
}

#[test]
fn export_forms_repaired_or_refused() {
    for (element, raw, want, want_findings) in CASES {
        let (got, findings, _) = run(element, raw);
        assert_eq!(got, *want, "{element} {raw:?}");
        assert_eq!(findings, want_findings.to_vec(), "{element} {raw:?}");
    }
}

#[test]
fn a_guessed_id_is_refused_with_the_reason() {
    for raw in ["7.20562E+10", "01090123456"] {
        let (_, _, messages) = run("personal_id", raw);
        assert!(
            messages
                .iter()
                .any(|m| m.contains("could name another person")),
            "{raw}: {messages:?}"
        );
    }
}

#[test]
fn repairs_are_stable() {
    // A repaired value checked again needs no repair: the normaliser is idempotent on them.
    for (element, raw, _, want_findings) in CASES {
        if want_findings.iter().any(|(_, s)| *s == Error) {
            continue;
        }
        let (once, _, _) = run(element, raw);
        let (twice, findings, _) = run(element, &once);
        assert_eq!(twice, once, "{element} {raw:?}");
        assert!(
            findings.iter().all(|(_, s)| *s == Warning),
            "{element} {raw:?} → {once:?}: {findings:?}"
        );
    }
}
