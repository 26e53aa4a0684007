//! The face as an OpenID Connect relying party: the provider's discovery document and JWKS
//! (cached), and the ID token's verification.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

use super::{Discovered, Face};

impl Face {
    pub(super) async fn fetch(
        &self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<Value, String> {
        let r = tokio::time::timeout(Duration::from_secs(10), self.http.request(request))
            .await
            .map_err(|_| "the identity provider did not answer in time".to_owned())?
            .map_err(|e| format!("the identity provider: {e}"))?;
        let status = r.status();
        let bytes = http_body_util::Limited::new(r.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| format!("the identity provider: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "the identity provider answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("the identity provider: not JSON: {e}"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let request = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.fetch(request).await
    }

    pub(super) async fn discovery(&self) -> Result<&Discovered, String> {
        self.discovered
            .get_or_try_init(|| async {
                let issuer = self.cfg.oidc.issuer.trim_end_matches('/');
                let d = self
                    .get_json(&format!("{issuer}/.well-known/openid-configuration"))
                    .await?;
                if d["issuer"].as_str() != Some(self.cfg.oidc.issuer.as_str()) {
                    return Err("the discovery document names another issuer".to_owned());
                }
                let s = |k: &str| {
                    d[k].as_str()
                        .map(str::to_owned)
                        .ok_or(format!("the discovery document lacks {k}"))
                };
                Ok(Discovered {
                    authorization_endpoint: s("authorization_endpoint")?,
                    token_endpoint: s("token_endpoint")?,
                    jwks_uri: s("jwks_uri")?,
                })
            })
            .await
    }

    /// The provider's keys, cached ten minutes; fetched again once for an unknown key id.
    async fn key_for(&self, kid: Option<&str>) -> Result<jsonwebtoken::DecodingKey, String> {
        for refresh in [false, true] {
            let cached = self.jwks.lock().ok().and_then(|j| {
                j.as_ref()
                    .filter(|(at, _)| !refresh && at.elapsed() < Duration::from_secs(600))
                    .map(|(_, set)| set.clone())
            });
            let set = match cached {
                Some(s) => s,
                None => {
                    let uri = self.discovery().await?.jwks_uri.clone();
                    let set: jsonwebtoken::jwk::JwkSet =
                        serde_json::from_value(self.get_json(&uri).await?)
                            .map_err(|e| format!("the provider's JWKS: {e}"))?;
                    if let Ok(mut j) = self.jwks.lock() {
                        *j = Some((Instant::now(), set.clone()));
                    }
                    set
                }
            };
            let found = match kid {
                Some(k) => set.find(k),
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            };
            if let Some(jwk) = found {
                return jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string());
            }
        }
        Err("the token's key is not in the provider's JWKS".into())
    }

    /// Verifies an ID token: signature by a key of the provider's JWKS (asymmetric
    /// algorithms only), issuer, audience, expiry (a minute's leeway), the nonce where one
    /// is expected. Returns the person's id and name.
    pub(super) async fn verify_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<(String, String), String> {
        use jsonwebtoken::Algorithm::*;
        let head = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        if !matches!(
            head.alg,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384 | EdDSA
        ) {
            return Err(format!("algorithm {:?} is not accepted", head.alg));
        }
        let key = self.key_for(head.kid.as_deref()).await?;
        let mut v = jsonwebtoken::Validation::new(head.alg);
        v.set_issuer(&[&self.cfg.oidc.issuer]);
        v.set_audience(&[&self.cfg.oidc.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 60;
        let data = jsonwebtoken::decode::<Value>(token, &key, &v)
            .map_err(|e| format!("the ID token: {e}"))?;
        let claims = data.claims;
        if let Some(n) = nonce {
            if claims["nonce"].as_str() != Some(n) {
                return Err("the ID token's nonce is not this sign-in's".into());
            }
        }
        let id = claims[self.cfg.oidc.id_claim.as_str()]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or(format!(
                "the ID token has no {} claim",
                self.cfg.oidc.id_claim
            ))?
            .to_owned();
        let name = claims["name"].as_str().unwrap_or("").to_owned();
        Ok((id, name))
    }
}
