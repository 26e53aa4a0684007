//! The Token Status List (IETF OAuth "Token Status List"): a document's `status.status_list`
//! points at an index in a list its issuer signs as a JWT of type `statuslist+jwt`; the list
//! is `bits` per entry, least significant bits first, DEFLATE-compressed in the zlib format
//! and base64url-encoded (`lst`). 0 is valid, 1 invalid (revoked), 2 suspended.

use std::io::{Read, Write};

use serde_json::{Map, Value};

use super::jws::{self, b64url, b64url_decode, Jws};
use super::{check_times, invalid, SdJwtError};
use crate::SigningKey;

pub const TYP: &str = "statuslist+jwt";
pub const VALID: u8 = 0;
pub const INVALID: u8 = 1;
pub const SUSPENDED: u8 = 2;
/// A decompressed list larger than this is refused (a small token must not become gigabytes).
const BYTES_MAX: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl StatusList {
    pub fn new(bits: u8) -> Result<StatusList, SdJwtError> {
        if ![1, 2, 4, 8].contains(&bits) {
            return Err(invalid(format!("bits must be 1, 2, 4 or 8, not {bits}")));
        }
        Ok(StatusList {
            bits,
            bytes: Vec::new(),
        })
    }

    pub fn bits(&self) -> u8 {
        self.bits
    }

    fn per_byte(&self) -> usize {
        8 / self.bits as usize
    }

    /// Entries the list holds (a multiple of the entries per byte).
    pub fn len(&self) -> usize {
        self.bytes.len() * self.per_byte()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Sets entry `idx` (the list grows as needed; new entries are valid).
    pub fn set(&mut self, idx: usize, status: u8) {
        let (byte, shift) = (
            idx / self.per_byte(),
            (idx % self.per_byte()) * self.bits as usize,
        );
        if byte >= self.bytes.len() {
            self.bytes.resize(byte + 1, 0);
        }
        let mask = ((1u16 << self.bits) - 1) as u8;
        self.bytes[byte] = (self.bytes[byte] & !(mask << shift)) | ((status & mask) << shift);
    }

    /// Entry `idx`, or `None` past the end of the list.
    pub fn get(&self, idx: usize) -> Option<u8> {
        let (byte, shift) = (
            idx / self.per_byte(),
            (idx % self.per_byte()) * self.bits as usize,
        );
        let mask = ((1u16 << self.bits) - 1) as u8;
        self.bytes.get(byte).map(|b| (b >> shift) & mask)
    }

    /// The `status_list` claim: `{"bits": …, "lst": …}`.
    pub fn to_claim(&self) -> Value {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&self.bytes).expect("writing to memory");
        let compressed = z.finish().expect("writing to memory");
        serde_json::json!({ "bits": self.bits, "lst": b64url(compressed) })
    }

    pub fn from_claim(claim: &Value) -> Result<StatusList, SdJwtError> {
        let bits = claim
            .get("bits")
            .and_then(Value::as_u64)
            .and_then(|b| u8::try_from(b).ok())
            .ok_or_else(|| SdJwtError::Malformed("status_list.bits is missing".into()))?;
        let mut list = StatusList::new(bits)?;
        let lst = claim
            .get("lst")
            .and_then(Value::as_str)
            .ok_or_else(|| SdJwtError::Malformed("status_list.lst is missing".into()))?;
        let compressed = b64url_decode(lst)?;
        flate2::read::ZlibDecoder::new(compressed.as_slice())
            .take(BYTES_MAX as u64 + 1)
            .read_to_end(&mut list.bytes)
            .map_err(|_| SdJwtError::Malformed("status_list.lst is not zlib data".into()))?;
        if list.bytes.len() > BYTES_MAX {
            return Err(SdJwtError::Malformed("the status list is too large".into()));
        }
        Ok(list)
    }
}

/// The status list token for `uri` (its `sub`), signed by the issuer's key.
pub fn sign_token(
    key: &SigningKey,
    kid: &str,
    uri: &str,
    list: &StatusList,
    iat: u64,
    ttl_s: u64,
) -> String {
    let mut header = Map::new();
    header.insert("typ".into(), TYP.into());
    header.insert("kid".into(), kid.into());
    let payload = serde_json::json!({
        "sub": uri, "iat": iat, "exp": iat + 2 * ttl_s, "ttl": ttl_s,
        "status_list": list.to_claim(),
    });
    jws::sign(key, header, &payload)
}

/// Verifies a status list token with the issuer's JWK: type, signature, that it is the
/// list at `uri`, and that it has not expired. Returns the list.
pub fn verify_token(
    token: &str,
    jwk: &Value,
    uri: &str,
    now: u64,
) -> Result<StatusList, SdJwtError> {
    let jwt = Jws::parse(token.trim())?;
    if jwt.header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(invalid("not a status list token (typ statuslist+jwt)"));
    }
    jwt.verify(jwk)?;
    if jwt.str_claim("sub") != Some(uri) {
        return Err(invalid(format!(
            "the status list token is for {:?}, not {uri:?}",
            jwt.str_claim("sub").unwrap_or("")
        )));
    }
    check_times(&jwt.payload, now, "the status list")?;
    let claim = jwt
        .payload
        .get("status_list")
        .ok_or_else(|| SdJwtError::Malformed("no status_list claim".into()))?;
    StatusList::from_claim(claim)
}

/// The word for a status value.
pub fn status_name(status: u8) -> &'static str {
    match status {
        VALID => "valid",
        INVALID => "revoked",
        SUSPENDED => "suspended",
        _ => "application-specific",
    }
}
