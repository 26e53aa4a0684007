//! PostgreSQL pgoutput messages from arbitrary bytes: decoding never panics, and what
//! decodes as a row carries at most the column limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_sync::pgoutput::{decode, Message, COLUMNS_MAX};

fuzz_target!(|data: &[u8]| {
    if let Ok(Message::Insert { new, .. } | Message::Update { new, .. }) = decode(data) {
        assert!(new.len() <= COLUMNS_MAX);
    }
});
