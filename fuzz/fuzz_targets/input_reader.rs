//! CSV and JSONL reader plus validator on arbitrary bytes: never panics, and every record it
//! yields has one value per dataset field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_dictionary::catalog::CITIZEN;
use lienthong_dictionary::input::{Format, RawRecord, Reader};
use lienthong_dictionary::validate::{Options, Validator};

fuzz_target!(|data: &[u8]| {
    let validator = Validator::new(&CITIZEN, Options { today: "2026-01-01".into(), ..Options::default() });
    for format in [Format::Csv, Format::Jsonl] {
        let Ok(mut reader) = Reader::new(data, format, &CITIZEN) else { continue };
        let mut rec = RawRecord::default();
        while let Ok(true) = reader.next_into(&mut rec) {
            assert_eq!(rec.values.len(), CITIZEN.fields.len());
            let outcome = validator.validate(&rec.as_strs());
            assert_eq!(outcome.values.len(), CITIZEN.fields.len());
        }
    }
});
