//! Node-to-node envelope parsing on arbitrary header values: identifiers, query strings and
//! the canonical request never panic, and the canonical form always has its 12 lines, 13
//! with passed headers (no header value can forge another field); an officer id survives its
//! header encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_core::{MemberId, ServiceId};
use lienthong_gateway::protocol::{
    parse_query, percent_decode_path, percent_encode_header, RequestParts,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut f = text.split('\0');
    let mut next = || f.next().unwrap_or("");
    let (method, path, query, client, service, id, purpose, user, issue, body, headers) = (next(), next(), next(), next(), next(), next(), next(), next(), next(), next(), next());
    let _ = MemberId::parse(client).map(|m| m.to_string());
    let _ = ServiceId::parse(service).map(|s| s.to_string());
    let _ = parse_query(query);
    let parts = RequestParts { method, path, query, client, service, message_id: id, timestamp: data.len() as u64, purpose, user_id: user, issue, body_sha256: body, headers_sha256: headers };
    let lines = if headers.is_empty() { 12 } else { 13 };
    assert_eq!(parts.canonical().split('\n').count(), lines);
    assert_eq!(percent_decode_path(&percent_encode_header(user)), user);
    let _ = parts.hash();
});
