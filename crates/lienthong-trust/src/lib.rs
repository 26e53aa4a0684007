//! Trust material: Ed25519 member signing keys, the registry CA that issues node TLS
//! certificates (rcgen), rustls configurations for mutual TLS 1.3, detached signatures and
//! certificate fingerprints. No network I/O; the only files are the PEM strings callers pass.

pub mod note;
pub mod sdjwt;
mod tls;

pub use tls::*;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::Signer;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("invalid key: {0}")]
    Key(String),
    #[error("invalid certificate: {0}")]
    Certificate(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("tls configuration: {0}")]
    Tls(String),
}

/// A member's Ed25519 signing key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    pub fn generate() -> Self {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
    }

    pub fn from_pem(pem: &str) -> Result<Self, TrustError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey)
            .map_err(|e| TrustError::Key(e.to_string()))
    }

    pub fn to_pem(&self) -> Result<String, TrustError> {
        self.0
            .to_pkcs8_pem(Default::default())
            .map(|p| p.to_string())
            .map_err(|e| TrustError::Key(e.to_string()))
    }

    /// The public half, base64 (what the registry publishes).
    pub fn public_b64(&self) -> String {
        B64.encode(self.0.verifying_key().as_bytes())
    }

    /// Detached signature over `message`, base64.
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.sign_raw(message))
    }

    /// Detached signature over `message`, the 64 bytes.
    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The public half as a JWK (RFC 8037: `OKP`, `Ed25519`).
    pub fn public_jwk(&self) -> serde_json::Value {
        jwk_of(self.0.verifying_key().as_bytes())
    }

    /// A secret of its own for `label`, derived from this key (HMAC-SHA256 keyed with the
    /// private key, over the label): used where the holder of the key needs a keyed hash
    /// (the message log's pseudonyms) without another file to keep.
    pub fn derive_secret(&self, label: &str) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(self.0.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Parsed member keys, by their base64 form: decompressing a point costs a fifth of a
/// verification, and the same few keys verify every message. Bounded: cleared when full.
fn verifying_key(public_b64: &str) -> Result<ed25519_dalek::VerifyingKey, TrustError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    const KEYS_MAX: usize = 4096;
    static CACHE: OnceLock<Mutex<HashMap<String, ed25519_dalek::VerifyingKey>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(k) = cache.lock().ok().and_then(|c| c.get(public_b64).copied()) {
        return Ok(k);
    }
    let bytes: [u8; 32] = B64
        .decode(public_b64)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or(TrustError::Key(
            "public key is not 32 bytes of base64".into(),
        ))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|e| TrustError::Key(e.to_string()))?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= KEYS_MAX {
            c.clear();
        }
        c.insert(public_b64.to_owned(), key);
    }
    Ok(key)
}

fn jwk_of(public: &[u8; 32]) -> serde_json::Value {
    serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": sdjwt::b64url(public) })
}

/// The JWK of a base64 Ed25519 public key (a member's `signing_key` in the registry).
pub fn ed25519_jwk(public_b64: &str) -> Result<serde_json::Value, TrustError> {
    Ok(jwk_of(verifying_key(public_b64)?.as_bytes()))
}

/// Checks that a base64 string is an Ed25519 public key.
pub fn check_public_key(public_b64: &str) -> Result<(), TrustError> {
    verifying_key(public_b64).map(|_| ())
}

/// Verifies a detached base64 signature with a base64 public key.
pub fn verify(public_b64: &str, message: &[u8], signature_b64: &str) -> Result<(), TrustError> {
    let key = verifying_key(public_b64)?;
    let sig: [u8; 64] = B64
        .decode(signature_b64)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(TrustError::BadSignature)?;
    // Strict: no small-order keys, no malleable signatures (evidence must be non-repudiable).
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| TrustError::BadSignature)
}

/// The subject's common name of a DER certificate (a node certificate names its member id
/// there), if it has exactly one.
pub fn cert_common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut names = cert.subject().iter_common_name();
    let first = names.next()?.as_str().ok()?.to_owned();
    names.next().is_none().then_some(first)
}

/// When a PEM certificate expires (its `notAfter`), Unix seconds.
pub fn cert_not_after(cert_pem: &str) -> Result<i64, TrustError> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| TrustError::Certificate(e.to_string()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| TrustError::Certificate(e.to_string()))?;
    Ok(cert.validity().not_after.timestamp())
}

/// SHA-256, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`. By table, not `format!` per byte: an exchange hashes its
/// request and answer bodies on both nodes, and a `String` per byte cost each ~1 µs.
/// `lienthong_ledger::hash_to_hex` is the same loop for its 32-byte hashes: neither crate
/// depends on another lienthong crate, and `hex::encode` (in the build through sqlx)
/// measured 121 ns a 32-byte hash against this loop's 26 ns.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// SHA-512 digest, base64 — the `X-Road-Request-Hash` form.
pub fn sha512_b64(bytes: &[u8]) -> String {
    B64.encode(sha2::Sha512::digest(bytes))
}

/// SHA-256 fingerprint of a PEM certificate's DER bytes, hex.
pub fn cert_fingerprint(cert_pem: &str) -> Result<String, TrustError> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| TrustError::Certificate(e.to_string()))?;
    Ok(sha256_hex(&der))
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{name} registry CA"));
    dn.push(DnType::OrganizationName, "lienthong");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 12, 31);
    params
}

fn node_params(node: &str, hosts: &[&str]) -> Result<CertificateParams, TrustError> {
    if hosts.is_empty() {
        return Err(TrustError::Certificate(
            "a node certificate needs at least one host name or address".into(),
        ));
    }
    let mut params =
        CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
            .map_err(|e| TrustError::Certificate(e.to_string()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, node);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2030, 12, 31);
    Ok(params)
}

/// A node's TLS key and certificate request, made at the agency: returns (csr, key) PEM.
pub fn node_request(node: &str, hosts: &[&str]) -> Result<(String, String), TrustError> {
    let key = KeyPair::generate().map_err(|e| TrustError::Key(e.to_string()))?;
    let csr = node_params(node, hosts)?
        .serialize_request(&key)
        .map_err(|e| TrustError::Certificate(e.to_string()))?;
    Ok((
        csr.pem()
            .map_err(|e| TrustError::Certificate(e.to_string()))?,
        key.serialize_pem(),
    ))
}

/// The registry's certificate authority. Its parameters are derived from its name, so the
/// issuer can be rebuilt from the stored key without parsing the certificate.
pub struct Ca {
    name: String,
    key: KeyPair,
    pub cert_pem: String,
}

impl Ca {
    pub fn generate(name: &str) -> Result<Ca, TrustError> {
        let key = KeyPair::generate().map_err(|e| TrustError::Key(e.to_string()))?;
        let cert = ca_params(name)
            .self_signed(&key)
            .map_err(|e| TrustError::Certificate(e.to_string()))?;
        Ok(Ca {
            name: name.to_owned(),
            key,
            cert_pem: cert.pem(),
        })
    }

    pub fn from_pem(name: &str, cert_pem: &str, key_pem: &str) -> Result<Ca, TrustError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| TrustError::Key(e.to_string()))?;
        Ok(Ca {
            name: name.to_owned(),
            key,
            cert_pem: cert_pem.to_owned(),
        })
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Issues a TLS certificate for a node (client and server auth), generating its key here.
    /// Returns (cert, key) PEM. Prefer [`node_request`] + [`Ca::sign_request`], which keep the
    /// key with the agency.
    pub fn issue(&self, node: &str, hosts: &[&str]) -> Result<(String, String), TrustError> {
        let key = KeyPair::generate().map_err(|e| TrustError::Key(e.to_string()))?;
        let params = node_params(node, hosts)?;
        let issuer = Issuer::new(ca_params(&self.name), &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| TrustError::Certificate(e.to_string()))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Signs a node's certificate request. The request's subject must be `expect_member`;
    /// only its public key and host names are taken: subject, usages, CA flag and validity
    /// are the registry's.
    pub fn sign_request(&self, csr_pem: &str, expect_member: &str) -> Result<String, TrustError> {
        let request = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| TrustError::Certificate(format!("certificate request: {e}")))?;
        let subject = match request.params.distinguished_name.get(&DnType::CommonName) {
            Some(rcgen::DnValue::Utf8String(s)) => Some(s.clone()),
            Some(rcgen::DnValue::PrintableString(s)) => Some(s.as_str().to_owned()),
            _ => None,
        };
        if subject.as_deref() != Some(expect_member) {
            return Err(TrustError::Certificate(format!(
                "the request is for {subject:?}, not {expect_member}"
            )));
        }
        let hosts: Vec<String> = request
            .params
            .subject_alt_names
            .iter()
            .filter_map(|san| match san {
                rcgen::SanType::DnsName(d) => Some(d.to_string()),
                rcgen::SanType::IpAddress(ip) => Some(ip.to_string()),
                _ => None,
            })
            .collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let params = node_params(expect_member, &hosts)?;
        let issuer = Issuer::new(ca_params(&self.name), &self.key);
        let cert = params
            .signed_by(&request.public_key, &issuer)
            .map_err(|e| TrustError::Certificate(e.to_string()))?;
        Ok(cert.pem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_written_in_lower_case_hex() {
        // FIPS 180-2's "abc" and the empty input.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let all: Vec<u8> = (0..=255).collect();
        let by_format: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(to_hex(&all), by_format);
    }

    #[test]
    fn a_node_certificate_names_its_member() {
        let ca = Ca::generate("VN").unwrap();
        let (cert, _) = ca.issue("VN/GOV/BHXH/SI", &["127.0.0.1"]).unwrap();
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        assert_eq!(cert_common_name(&der).as_deref(), Some("VN/GOV/BHXH/SI"));
        assert_eq!(cert_common_name(b"not a certificate"), None);
    }

    #[test]
    fn signatures_verify_and_detect_changes() {
        let key = SigningKey::generate();
        let sig = key.sign(b"hello");
        assert!(verify(&key.public_b64(), b"hello", &sig).is_ok());
        assert!(verify(&key.public_b64(), b"hellO", &sig).is_err());
        let other = SigningKey::generate();
        assert!(verify(&other.public_b64(), b"hello", &sig).is_err());
        let pem = key.to_pem().unwrap();
        assert_eq!(
            SigningKey::from_pem(&pem).unwrap().public_b64(),
            key.public_b64()
        );
        assert!(verify("not base64!", b"x", &sig).is_err());
    }

    #[test]
    fn ca_issues_certificates_usable_by_rustls() {
        let ca = Ca::generate("VN").unwrap();
        let (cert, key) = ca
            .issue("VN/GOV/BCA/DANCU", &["127.0.0.1", "localhost"])
            .unwrap();
        assert!(server_config(&ca.cert_pem, &cert, &key).is_ok());
        assert!(client_config(&ca.cert_pem, &cert, &key).is_ok());
        let again = Ca::from_pem("VN", &ca.cert_pem, &ca.key_pem()).unwrap();
        assert!(again.issue("x", &["localhost"]).is_ok());
        assert_eq!(cert_fingerprint(&cert).unwrap().len(), 64);
    }

    #[test]
    fn certificate_requests_keep_the_key_at_the_agency() {
        let ca = Ca::generate("VN").unwrap();
        let (csr, key) =
            node_request("VN/GOV/BHXH/SI", &["127.0.0.1", "node.bhxh.example"]).unwrap();
        let cert = ca.sign_request(&csr, "VN/GOV/BHXH/SI").unwrap();
        assert!(
            server_config(&ca.cert_pem, &cert, &key).is_ok(),
            "the issued certificate matches the agency's key"
        );
        assert!(ca
            .sign_request(&csr, "VN/GOV/BCA/DANCU")
            .unwrap_err()
            .to_string()
            .contains("not VN/GOV/BCA/DANCU"));
        assert!(ca.sign_request("not a csr", "x").is_err());
    }
}
