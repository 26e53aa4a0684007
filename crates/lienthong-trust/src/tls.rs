//! rustls configurations for mutual TLS 1.3 between nodes (certificates from the registry
//! CA, peers pinned by fingerprint), the client face's TLS (information systems pinned by
//! their certificates) and self-signed client certificates.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair};

use crate::{sha256_hex, TrustError};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> Result<RootCertStore, TrustError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| TrustError::Certificate(e.to_string()))?)
            .map_err(|e| TrustError::Certificate(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TrustError::Certificate("no CA certificate in PEM".into()));
    }
    Ok(roots)
}

fn chain_and_key(
    cert_pem: &str,
    key_pem: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TrustError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrustError::Certificate(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TrustError::Key(e.to_string()))?;
    Ok((chain, key))
}

/// Server side of node-to-node mutual TLS: TLS 1.3 only, a client certificate from the
/// registry CA is required.
pub fn server_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, TrustError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
            .build()
            .map_err(|e| TrustError::Tls(e.to_string()))?;
    let (chain, key) = chain_and_key(cert_pem, key_pem)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TrustError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TrustError::Tls(e.to_string()))?;
    // Node-to-node is HTTP/2 only (docs/protocol.md).
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Client side of node-to-node mutual TLS: TLS 1.3 only, trusts only the registry CA.
pub fn client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ClientConfig>, TrustError> {
    let (chain, key) = chain_and_key(cert_pem, key_pem)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TrustError::Tls(e.to_string()))?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TrustError::Tls(e.to_string()))?;
    // ALPN (h2) is set by the HTTP connector that uses this config.
    Ok(Arc::new(config))
}

/// Verifies a server against the registry CA *and* pins its certificate: the SHA-256 of the
/// end-entity certificate must equal the fingerprint the registry lists for the provider, so
/// another member's valid certificate for the same host name is refused.
#[derive(Debug)]
struct PinnedServer {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    fingerprint: String,
}

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        if sha256_hex(end_entity) != self.fingerprint {
            return Err(rustls::Error::General(
                "server certificate is not the one the registry lists for this provider".into(),
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts exactly the client certificates whose SHA-256 fingerprints are registered (X-Road's
/// SSLAUTH: an information system's certificate, usually self-signed, pinned on its node); the
/// handshake still proves the client holds the certificate's key.
#[derive(Debug)]
struct PinnedClients {
    fingerprints: std::collections::HashSet<String>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        if self.fingerprints.contains(&sha256_hex(end_entity)) {
            Ok(rustls::server::danger::ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "client certificate is not registered on this node".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client face's TLS (TLS 1.3; HTTP/2 and HTTP/1.1): with `pinned` fingerprints, only
/// information systems holding one of those certificates get through (SSLAUTH); with `None`,
/// no client certificate is asked for (SSLNOAUTH).
pub fn client_face_config(
    cert_pem: &str,
    key_pem: &str,
    pinned: Option<&[String]>,
) -> Result<Arc<ServerConfig>, TrustError> {
    let (chain, key) = chain_and_key(cert_pem, key_pem)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TrustError::Tls(e.to_string()))?;
    let builder = match pinned {
        None => builder.with_no_client_auth(),
        Some(fingerprints) => {
            if fingerprints.is_empty() {
                return Err(TrustError::Tls(
                    "SSLAUTH needs at least one registered client certificate".into(),
                ));
            }
            builder.with_client_cert_verifier(Arc::new(PinnedClients {
                fingerprints: fingerprints
                    .iter()
                    .map(|f| f.to_ascii_lowercase())
                    .collect(),
                algorithms: provider().signature_verification_algorithms,
            }))
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TrustError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS 1.3 client that trusts the registry CA and presents no certificate (an operator's
/// `registry apply`, a node fetching the registry's snapshot).
pub fn client_config_roots(ca_pem: &str) -> Result<Arc<ClientConfig>, TrustError> {
    // ALPN is set by the HTTP connector that uses this config.
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TrustError::Tls(e.to_string()))?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A self-signed certificate and key for an information system (`CN=name`), to register on
/// its node for SSLAUTH.
pub fn self_signed(name: &str) -> Result<(String, String), TrustError> {
    let key = KeyPair::generate().map_err(|e| TrustError::Key(e.to_string()))?;
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| TrustError::Certificate(e.to_string()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params
        .self_signed(&key)
        .map_err(|e| TrustError::Certificate(e.to_string()))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Client side of node-to-node mutual TLS to one provider whose certificate is pinned by
/// its registry fingerprint (hex SHA-256).
pub fn client_config_pinned(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    fingerprint: &str,
) -> Result<Arc<ClientConfig>, TrustError> {
    let (chain, key) = chain_and_key(cert_pem, key_pem)?;
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots(ca_pem)?),
        provider(),
    )
    .build()
    .map_err(|e| TrustError::Tls(e.to_string()))?;
    let verifier = Arc::new(PinnedServer {
        inner,
        fingerprint: fingerprint.to_ascii_lowercase(),
    });
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TrustError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TrustError::Tls(e.to_string()))?;
    Ok(Arc::new(config))
}
