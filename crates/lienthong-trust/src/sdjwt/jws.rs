//! Compact JWS as SD-JWT uses it: signing with a member's Ed25519 key (`EdDSA`), and
//! verifying with a public JWK whose type must fit the header's `alg` (EdDSA, ES256/384,
//! RS/PS 256–512), through `jsonwebtoken`'s crypto provider. `none` and HMAC are refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::{Map, Value};

use super::SdJwtError;
use crate::SigningKey;

pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    B64URL.encode(bytes)
}

pub(crate) fn b64url_decode(s: &str) -> Result<Vec<u8>, SdJwtError> {
    B64URL
        .decode(s)
        .map_err(|_| SdJwtError::Malformed(format!("not base64url: {}", clip(s))))
}

/// The first characters of something malformed, for an error message.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `header.payload.signature`, signed with Ed25519 (`alg` is set to `EdDSA`).
pub(crate) fn sign(key: &SigningKey, mut header: Map<String, Value>, payload: &Value) -> String {
    header.insert("alg".into(), "EdDSA".into());
    let input = format!(
        "{}.{}",
        b64url(Value::Object(header).to_string()),
        b64url(payload.to_string())
    );
    let signature = key.sign_raw(input.as_bytes());
    format!("{input}.{}", b64url(signature))
}

/// `header.payload.signature` signed with a holder's key through `jsonwebtoken`.
pub(crate) fn sign_holder(
    key: &super::HolderKey,
    mut header: Map<String, Value>,
    payload: &Value,
) -> Result<String, SdJwtError> {
    header.insert("alg".into(), key.alg_name().into());
    let input = format!(
        "{}.{}",
        b64url(Value::Object(header).to_string()),
        b64url(payload.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key.key, key.alg)
        .map_err(|e| SdJwtError::Signature(format!("signing with the holder key: {e}")))?;
    Ok(format!("{input}.{signature}"))
}

/// A compact JWS split and decoded, not yet verified.
pub(crate) struct Jws<'a> {
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
    input: &'a str,
    signature: &'a str,
}

impl<'a> Jws<'a> {
    pub fn parse(token: &'a str) -> Result<Jws<'a>, SdJwtError> {
        let (input, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| SdJwtError::Malformed("a JWS has three parts".into()))?;
        let (h, p) = input
            .split_once('.')
            .filter(|(_, p)| !p.contains('.'))
            .ok_or_else(|| SdJwtError::Malformed("a JWS has three parts".into()))?;
        let object = |part: &str, what: &str| -> Result<Map<String, Value>, SdJwtError> {
            match serde_json::from_slice(&b64url_decode(part)?) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(SdJwtError::Malformed(format!(
                    "the {what} is not a JSON object"
                ))),
            }
        };
        Ok(Jws {
            header: object(h, "JWS header")?,
            payload: object(p, "JWS payload")?,
            input,
            signature,
        })
    }

    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// Checks the signature with `jwk`; the key's type and curve must be the ones `alg` names.
    pub fn verify(&self, jwk: &Value) -> Result<(), SdJwtError> {
        use jsonwebtoken::Algorithm::*;
        let alg: jsonwebtoken::Algorithm = self
            .alg()
            .parse()
            .map_err(|_| SdJwtError::Signature(format!("unsupported alg {:?}", self.alg())))?;
        let (kty, crv) = match alg {
            EdDSA => ("OKP", Some("Ed25519")),
            ES256 => ("EC", Some("P-256")),
            ES384 => ("EC", Some("P-384")),
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => ("RSA", None),
            _ => {
                return Err(SdJwtError::Signature(format!(
                    "alg {} cannot sign an SD-JWT (HMAC is a shared secret)",
                    self.alg()
                )))
            }
        };
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        if field("kty") != Some(kty) || crv.is_some_and(|c| field("crv") != Some(c)) {
            return Err(SdJwtError::Signature(format!(
                "alg {} does not fit the key ({} {})",
                self.alg(),
                field("kty").unwrap_or("?"),
                field("crv").unwrap_or("")
            )));
        }
        let key = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone())
            .ok()
            .and_then(|k| jsonwebtoken::DecodingKey::from_jwk(&k).ok())
            .ok_or_else(|| SdJwtError::Signature("the public key is not a usable JWK".into()))?;
        match jsonwebtoken::crypto::verify(self.signature, self.input.as_bytes(), &key, alg) {
            Ok(true) => Ok(()),
            _ => Err(SdJwtError::Signature(
                "the signature does not verify".into(),
            )),
        }
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.payload.get(name).and_then(Value::as_str)
    }
}
