//! Legacy-encoding detection and decoders on arbitrary text: never panic; a repair never
//! returns the input unchanged; encoders invert their decoders on their own output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_dictionary::legacy;

fuzz_target!(|text: &str| {
    if let Some((fixed, _)) = legacy::repair(text) {
        assert_ne!(fixed, text);
    }
    let _ = legacy::mojibake_decode(text);
    let t = legacy::tcvn3_decode(text);
    let v = legacy::vni_decode(text);
    let _ = (legacy::tcvn3_encode(&t), legacy::vni_encode(&v));
    let m = legacy::mojibake_encode(text);
    if !text.is_ascii() {
        assert_eq!(legacy::mojibake_decode(&m).as_deref(), Some(text));
    }
});
