//! Taking an SD-JWT apart and applying its disclosures to the signed payload: each
//! disclosure decoded, referenced exactly once, never over an existing claim, each with
//! its claim path.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::jws::{b64url_decode, clip};
use super::{digest, invalid, SdJwtError, ELEMENT, SD, SD_ALG};

/// An SD-JWT taken apart: the issuer-signed JWT, the disclosures, the key-binding JWT.
pub(super) struct Parts<'a> {
    pub jwt: &'a str,
    pub disclosures: Vec<&'a str>,
    pub kb: Option<&'a str>,
    /// Everything before the key-binding JWT: what its `sd_hash` covers.
    pub bound: &'a str,
}

pub(super) fn split(sd_jwt: &str) -> Result<Parts<'_>, SdJwtError> {
    let sd_jwt = sd_jwt.trim();
    let cut = sd_jwt
        .rfind('~')
        .ok_or_else(|| SdJwtError::Malformed("no '~' after the issuer-signed JWT".into()))?;
    let (bound, kb) = (&sd_jwt[..=cut], &sd_jwt[cut + 1..]);
    let mut pieces = bound[..cut].split('~');
    let jwt = pieces.next().unwrap_or("");
    let disclosures: Vec<&str> = pieces.collect();
    if disclosures.iter().any(|d| d.is_empty()) {
        return Err(SdJwtError::Malformed("an empty disclosure".into()));
    }
    Ok(Parts {
        jwt,
        disclosures,
        kb: (!kb.is_empty()).then_some(kb),
        bound,
    })
}

/// One decoded disclosure: an object member (`name`) or an array element (no name).
pub(super) struct Disclosure<'a> {
    text: &'a str,
    pub name: Option<String>,
    value: Value,
}

pub(super) fn decode(text: &str) -> Result<Disclosure<'_>, SdJwtError> {
    let bad = || SdJwtError::Malformed(format!("disclosure {} is not a salted claim", clip(text)));
    let Value::Array(mut items) =
        serde_json::from_slice(&b64url_decode(text)?).map_err(|_| bad())?
    else {
        return Err(bad());
    };
    if !items.first().is_some_and(Value::is_string) {
        return Err(bad());
    }
    let value = items.pop().ok_or_else(bad)?;
    let name = match items.len() {
        1 => None,
        2 => match items.pop() {
            Some(Value::String(n)) if n != SD && n != ELEMENT => Some(n),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    Ok(Disclosure { text, name, value })
}

/// Walks a payload, replacing digests by what their disclosures hold. Records the path of
/// each disclosure used; refuses a digest seen twice and a disclosed name already present.
struct Unpack<'a> {
    by_digest: HashMap<String, Disclosure<'a>>,
    seen: HashSet<String>,
    /// Each disclosure used, in payload order.
    used: Paths<'a>,
}

impl<'a> Unpack<'a> {
    fn new(disclosures: &[&'a str]) -> Result<Unpack<'a>, SdJwtError> {
        let mut by_digest = HashMap::new();
        for text in disclosures {
            if by_digest.insert(digest(text), decode(text)?).is_some() {
                return Err(SdJwtError::Malformed("a disclosure is given twice".into()));
            }
        }
        Ok(Unpack {
            by_digest,
            seen: Default::default(),
            used: Vec::new(),
        })
    }

    fn take(&mut self, digest: &str) -> Result<Option<Disclosure<'a>>, SdJwtError> {
        if !self.seen.insert(digest.to_owned()) {
            return Err(SdJwtError::Malformed(format!(
                "digest {} appears twice",
                clip(digest)
            )));
        }
        Ok(self.by_digest.remove(digest))
    }

    fn value(&mut self, v: Value, path: &str) -> Result<Value, SdJwtError> {
        match v {
            Value::Object(m) => self.object(m, path).map(Value::Object),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let element = match &item {
                        Value::Object(m) if m.len() == 1 => m.get(ELEMENT).map(|d| {
                            d.as_str().map(str::to_owned).ok_or_else(|| {
                                SdJwtError::Malformed(
                                    "an array element's digest is not a string".into(),
                                )
                            })
                        }),
                        _ => None,
                    };
                    match element {
                        Some(d) => {
                            let Some(found) = self.take(&d?)? else {
                                continue; // undisclosed or a decoy
                            };
                            if found.name.is_some() {
                                return Err(SdJwtError::Malformed(
                                    "an object member's disclosure is used as an array element"
                                        .into(),
                                ));
                            }
                            let p = format!("{path}[]");
                            self.used.push((p.clone(), found.text));
                            out.push(self.value(found.value, &p)?);
                        }
                        None => out.push(self.value(item, &format!("{path}[]"))?),
                    }
                }
                Ok(Value::Array(out))
            }
            v => Ok(v),
        }
    }

    fn object(
        &mut self,
        mut m: Map<String, Value>,
        path: &str,
    ) -> Result<Map<String, Value>, SdJwtError> {
        let digests = match m.remove(SD) {
            None => Vec::new(),
            Some(Value::Array(d)) => d,
            Some(_) => return Err(SdJwtError::Malformed("_sd is not an array".into())),
        };
        let join = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        let mut out = Map::new();
        for (name, v) in m {
            let p = join(&name);
            out.insert(name, self.value(v, &p)?);
        }
        for d in digests {
            let d = d
                .as_str()
                .ok_or_else(|| SdJwtError::Malformed("a digest in _sd is not a string".into()))?;
            let Some(found) = self.take(d)? else {
                continue;
            };
            let Some(name) = found.name else {
                return Err(SdJwtError::Malformed(
                    "an array element's disclosure is used as an object member".into(),
                ));
            };
            if out.contains_key(&name) {
                return Err(SdJwtError::Malformed(format!(
                    "claim {name} is disclosed over an existing one"
                )));
            }
            let p = join(&name);
            self.used.push((p.clone(), found.text));
            let v = self.value(found.value, &p)?;
            out.insert(name, v);
        }
        Ok(out)
    }
}

/// (claim path, disclosure) of each disclosure used.
pub(super) type Paths<'a> = Vec<(String, &'a str)>;

/// The payload of the issuer-signed JWT with its disclosures applied (not verified), and
/// each disclosure's claim path.
pub(super) fn unpack<'a>(
    payload: Map<String, Value>,
    disclosures: &[&'a str],
) -> Result<(Map<String, Value>, Paths<'a>), SdJwtError> {
    match payload.get(SD_ALG).map(|a| a.as_str()) {
        None | Some(Some("sha-256")) => {}
        Some(a) => {
            return Err(invalid(format!(
                "digest algorithm {a:?} is not supported (sha-256 is)"
            )))
        }
    }
    let mut u = Unpack::new(disclosures)?;
    let mut claims = u.object(payload, "")?;
    claims.remove(SD_ALG);
    if !u.by_digest.is_empty() {
        return Err(SdJwtError::Malformed(format!(
            "{} disclosure(s) not referenced by the signed payload",
            u.by_digest.len()
        )));
    }
    Ok((claims, u.used))
}
