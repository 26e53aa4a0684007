//! SD-JWT (RFC 9901) as SD-JWT VC documents use it: issuing with every claim selectively
//! disclosable (members of nested objects too), presenting a chosen subset with an optional
//! key-binding JWT, and verifying — signature, digests, the disclosures' rules, times and key
//! binding. The Token Status List the documents point into is in [`status`].
//!
//! Written here rather than taken from a crate: `sd-jwt-rs` 0.7.1 follows draft 07, takes
//! the algorithm from the token's own header and needs `exp` (jsonwebtoken 9's defaults);
//! `sd_jwt` 0.1 brings OpenSSL through `josekit`. The format itself is small; the signatures
//! are `jsonwebtoken`'s, and the tests check against the IETF reference implementation.
//!
//! Pure: time arrives as an argument, randomness only for salts.

mod jws;
pub mod status;
mod unpack;

use rand_core::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use jws::b64url;
use jws::Jws;
use unpack::{split, unpack, Parts};

use crate::SigningKey;

/// The media type and JWS `typ` of an SD-JWT VC.
pub const VC_TYP: &str = "dc+sd-jwt";
/// The `typ` earlier drafts of SD-JWT VC used; still accepted when verifying.
pub const VC_TYP_LEGACY: &str = "vc+sd-jwt";
pub const KB_TYP: &str = "kb+jwt";
const SD: &str = "_sd";
const SD_ALG: &str = "_sd_alg";
const ELEMENT: &str = "...";
/// Clock difference accepted on `iat`, `nbf` and `exp`.
pub const SKEW_S: u64 = 60;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SdJwtError {
    #[error("malformed SD-JWT: {0}")]
    Malformed(String),
    #[error("signature: {0}")]
    Signature(String),
    #[error("{0}")]
    Invalid(String),
}

fn invalid(s: impl Into<String>) -> SdJwtError {
    SdJwtError::Invalid(s.into())
}

/// What the issuer signs besides the disclosable claims.
pub struct Issue<'a> {
    pub key: &'a SigningKey,
    /// `kid` in the header: which of the issuer's keys signed.
    pub kid: &'a str,
    /// Claims always visible: `iss`, `vct`, `iat`, `exp`, `status`…
    pub visible: Map<String, Value>,
    /// Each claim its own disclosure; members of objects are disclosable one by one too.
    pub disclosable: Map<String, Value>,
    /// The holder's public JWK, bound as `cnf.jwk`: a presentation then needs a key-binding
    /// JWT signed by the holder.
    pub holder_jwk: Option<Value>,
}

fn salt() -> String {
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    b64url(bytes)
}

/// The digest of a disclosure (or of an SD-JWT for `sd_hash`): base64url SHA-256 of its ASCII.
pub fn digest(text: &str) -> String {
    b64url(Sha256::digest(text.as_bytes()))
}

/// Replaces every member of `claims` by its digest in `_sd` (objects first concealed inside),
/// pushing the disclosures; `decoys` more digests of nothing hide how many claims there are.
fn conceal(claims: Map<String, Value>, decoys: usize, out: &mut Vec<String>) -> Map<String, Value> {
    let mut digests = Vec::with_capacity(claims.len() + decoys);
    for (name, value) in claims {
        let value = match value {
            Value::Object(m) if !m.is_empty() => Value::Object(conceal(m, 0, out)),
            v => v,
        };
        let disclosure = b64url(Value::Array(vec![salt().into(), name.into(), value]).to_string());
        digests.push(digest(&disclosure));
        out.push(disclosure);
    }
    digests.extend((0..decoys).map(|_| digest(&salt())));
    digests.sort();
    let mut m = Map::new();
    m.insert(SD.into(), digests.into_iter().map(Value::String).collect());
    m
}

/// An SD-JWT `<issuer-signed JWT>~<disclosure>~…~` of type [`VC_TYP`].
pub fn issue(spec: Issue) -> Result<String, SdJwtError> {
    for reserved in [SD, SD_ALG, ELEMENT, "cnf"] {
        if spec.visible.contains_key(reserved) || spec.disclosable.contains_key(reserved) {
            return Err(invalid(format!("{reserved} is set by the issuer itself")));
        }
    }
    if let Some(name) = spec
        .disclosable
        .keys()
        .find(|k| spec.visible.contains_key(*k))
    {
        return Err(invalid(format!("{name} is both visible and disclosable")));
    }
    let mut disclosures = Vec::new();
    // Round the top level up to a multiple of 8 digests.
    let decoys = (8 - spec.disclosable.len() % 8) % 8;
    let mut payload = conceal(spec.disclosable, decoys, &mut disclosures);
    payload.insert(SD_ALG.into(), "sha-256".into());
    payload.extend(spec.visible);
    if let Some(jwk) = spec.holder_jwk {
        payload.insert("cnf".into(), serde_json::json!({ "jwk": jwk }));
    }
    let mut header = Map::new();
    header.insert("typ".into(), VC_TYP.into());
    header.insert("kid".into(), spec.kid.into());
    let jwt = jws::sign(spec.key, header, &Value::Object(payload));
    Ok(std::iter::once(jwt)
        .chain(disclosures)
        .map(|p| p + "~")
        .collect())
}

/// A holder's private key for key binding: Ed25519 (`EdDSA`) or ECDSA P-256 / P-384
/// (`ES256` / `ES384`, what most wallets hold), from PKCS#8 PEM.
pub struct HolderKey {
    key: jsonwebtoken::EncodingKey,
    alg: jsonwebtoken::Algorithm,
    jwk: Value,
}

impl HolderKey {
    pub fn from_pem(pem: &str) -> Result<HolderKey, SdJwtError> {
        use jsonwebtoken::{Algorithm, EncodingKey};
        let bad = |e: String| {
            invalid(format!(
                "not an Ed25519 or ECDSA P-256/P-384 private key: {e}"
            ))
        };
        if let Ok(ed) = SigningKey::from_pem(pem) {
            let key = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
            return Ok(HolderKey {
                key,
                alg: Algorithm::EdDSA,
                jwk: ed.public_jwk(),
            });
        }
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            if let Ok(jwk) = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, alg) {
                let full = serde_json::to_value(&jwk).map_err(|e| bad(e.to_string()))?;
                let jwk: Map<String, Value> = ["kty", "crv", "x", "y"]
                    .into_iter()
                    .filter_map(|k| full.get(k).map(|v| (k.to_owned(), v.clone())))
                    .collect();
                return Ok(HolderKey {
                    key,
                    alg,
                    jwk: Value::Object(jwk),
                });
            }
        }
        Err(bad("an unsupported curve".into()))
    }

    /// A new ECDSA P-256 key, PKCS#8 PEM.
    pub fn generate_p256_pem() -> Result<String, SdJwtError> {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map(|k| k.serialize_pem())
            .map_err(|e| invalid(e.to_string()))
    }

    /// The public half as a JWK (`kty`, `crv`, `x`, `y`).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    fn alg_name(&self) -> &'static str {
        match self.alg {
            jsonwebtoken::Algorithm::EdDSA => "EdDSA",
            jsonwebtoken::Algorithm::ES384 => "ES384",
            _ => "ES256",
        }
    }
}

/// The holder's key-binding: their key, and what the verifier asked to be signed.
pub struct KeyBinding<'a> {
    pub key: &'a HolderKey,
    pub aud: &'a str,
    pub nonce: &'a str,
    pub iat: u64,
}

/// A presentation of `sd_jwt` disclosing only the claims in `disclose` (dotted paths such
/// as `address.province`; naming an object discloses all of it; `*` discloses everything),
/// with the containers they need, and a key-binding JWT when `kb` is given.
pub fn present(
    sd_jwt: &str,
    disclose: &[&str],
    kb: Option<KeyBinding>,
) -> Result<String, SdJwtError> {
    let parts = split(sd_jwt)?;
    let jwt = Jws::parse(parts.jwt)?;
    let (_, used) = unpack(jwt.payload.clone(), &parts.disclosures)?;
    let all = disclose.contains(&"*");
    let wanted = |p: &str| {
        let p = p.trim_end_matches("[]");
        all || disclose.iter().any(|d| {
            d == &p
                || d.starts_with(&format!("{p}."))
                || p.starts_with(&format!("{d}."))
                || p.starts_with(&format!("{d}["))
        })
    };
    if let Some(unknown) = disclose
        .iter()
        .find(|d| **d != "*" && !used.iter().any(|(p, _)| p.trim_end_matches("[]") == **d))
    {
        let names: Vec<&str> = used.iter().map(|(p, _)| p.as_str()).collect();
        return Err(invalid(format!(
            "{unknown} is not a disclosable claim of this document (it has: {})",
            names.join(", ")
        )));
    }
    let mut out: String = std::iter::once(parts.jwt)
        .chain(used.iter().filter(|(p, _)| wanted(p)).map(|(_, t)| *t))
        .map(|p| format!("{p}~"))
        .collect();
    if let Some(kb) = kb {
        let bound = jwt
            .payload
            .get("cnf")
            .and_then(|c| c.get("jwk"))
            .ok_or_else(|| invalid("this document is not bound to a holder key"))?;
        let same = ["kty", "crv", "x", "y"]
            .iter()
            .all(|k| bound.get(k) == kb.key.public_jwk().get(k));
        if !same {
            return Err(invalid("this document is bound to another holder key"));
        }
        let mut header = Map::new();
        header.insert("typ".into(), KB_TYP.into());
        let payload = serde_json::json!({
            "iat": kb.iat, "aud": kb.aud, "nonce": kb.nonce, "sd_hash": digest(&out),
        });
        out.push_str(&jws::sign_holder(kb.key, header, &payload)?);
    }
    Ok(out)
}

/// What the verifier expects.
pub struct Expect<'a> {
    /// Seconds since the epoch.
    pub now: u64,
    /// Accepted `typ` headers of the issuer-signed JWT; empty: any.
    pub typs: &'a [&'a str],
    /// Key binding: required, with this audience and nonce, signed at most `kb_age_s` ago.
    pub kb: Option<(&'a str, &'a str)>,
    pub kb_age_s: u64,
}

/// A verified presentation.
#[derive(Debug)]
pub struct Verified {
    pub header: Map<String, Value>,
    /// The claims: visible ones and those disclosed, without the SD-JWT machinery.
    pub claims: Map<String, Value>,
    /// The paths of the disclosed claims.
    pub disclosed: Vec<String>,
    /// The key-binding JWT's claims, when the presentation had one (and it verified).
    pub key_binding: Option<Map<String, Value>>,
}

impl Verified {
    pub fn issuer(&self) -> &str {
        self.claims.get("iss").and_then(Value::as_str).unwrap_or("")
    }

    /// The status list entry (`status.status_list`: `uri`, `idx`), when there is one.
    pub fn status_entry(&self) -> Option<(&str, u64)> {
        let s = self.claims.get("status")?.get("status_list")?;
        Some((s.get("uri")?.as_str()?, s.get("idx")?.as_u64()?))
    }
}

fn check_times(claims: &Map<String, Value>, now: u64, what: &str) -> Result<(), SdJwtError> {
    let time = |name: &str| -> Result<Option<u64>, SdJwtError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|t| *t >= 0.0)
                .map(|t| Some(t as u64))
                .ok_or_else(|| SdJwtError::Malformed(format!("{what} {name} is not a time"))),
        }
    };
    if let Some(exp) = time("exp")? {
        if now > exp + SKEW_S {
            return Err(invalid(format!("{what} expired at {exp}")));
        }
    }
    if let Some(nbf) = time("nbf")? {
        if nbf > now + SKEW_S {
            return Err(invalid(format!("{what} is not valid before {nbf}")));
        }
    }
    if let Some(iat) = time("iat")? {
        if iat > now + SKEW_S {
            return Err(invalid(format!("{what} is issued in the future ({iat})")));
        }
    }
    Ok(())
}

/// Verifies a presentation (or an issued SD-JWT): `issuer_key(iss, header)` gives the JWK
/// of the issuer's key, or `None` when the issuer is unknown.
pub fn verify(
    presentation: &str,
    issuer_key: impl Fn(&str, &Map<String, Value>) -> Option<Value>,
    expect: &Expect,
) -> Result<Verified, SdJwtError> {
    let parts = split(presentation)?;
    let jwt = Jws::parse(parts.jwt)?;
    let typ = jwt.header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !expect.typs.is_empty() && !expect.typs.contains(&typ) {
        return Err(invalid(format!(
            "typ {typ:?} is not one of {:?}",
            expect.typs
        )));
    }
    let iss = jwt.str_claim("iss").unwrap_or("");
    let key =
        issuer_key(iss, &jwt.header).ok_or_else(|| invalid(format!("unknown issuer {iss:?}")))?;
    jwt.verify(&key)?;
    check_times(&jwt.payload, expect.now, "the document")?;
    let (claims, used) = unpack(jwt.payload.clone(), &parts.disclosures)?;
    let key_binding = match parts.kb {
        None if expect.kb.is_some() => return Err(invalid("a key-binding JWT is required")),
        None => None,
        Some(kb) => Some(check_kb(kb, &parts, &claims, expect)?),
    };
    Ok(Verified {
        header: jwt.header,
        claims,
        disclosed: used.into_iter().map(|(p, _)| p).collect(),
        key_binding,
    })
}

fn check_kb(
    kb: &str,
    parts: &Parts,
    claims: &Map<String, Value>,
    expect: &Expect,
) -> Result<Map<String, Value>, SdJwtError> {
    let jwk = claims
        .get("cnf")
        .and_then(|c| c.get("jwk"))
        .ok_or_else(|| invalid("a key-binding JWT, but no holder key (cnf.jwk) in the document"))?;
    let kb = Jws::parse(kb)?;
    if kb.header.get("typ").and_then(Value::as_str) != Some(KB_TYP) {
        return Err(invalid("the key-binding JWT's typ is not kb+jwt"));
    }
    kb.verify(jwk)?;
    if kb.str_claim("sd_hash") != Some(digest(parts.bound).as_str()) {
        return Err(invalid(
            "the key-binding JWT's sd_hash does not match the presentation",
        ));
    }
    let iat = kb
        .payload
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("the key-binding JWT has no iat"))?;
    if iat > expect.now + SKEW_S || iat + expect.kb_age_s + SKEW_S < expect.now {
        return Err(invalid(format!(
            "the key-binding JWT was signed at {iat}, too far from now"
        )));
    }
    check_times(&kb.payload, expect.now, "the key-binding JWT")?;
    if let Some((aud, nonce)) = expect.kb {
        if kb.str_claim("aud") != Some(aud) {
            return Err(invalid(format!(
                "the presentation is meant for {:?}, not {aud:?}",
                kb.str_claim("aud").unwrap_or("")
            )));
        }
        if kb.str_claim("nonce") != Some(nonce) {
            return Err(invalid("the presentation's nonce is not the one asked"));
        }
    }
    Ok(kb.payload)
}

#[cfg(test)]
mod tests;
