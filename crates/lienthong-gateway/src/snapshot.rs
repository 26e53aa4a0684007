//! The node's view of the registry: polls the registry, verifies each snapshot against the
//! pinned key, refuses rollbacks, and after expiry refuses to serve instead of using stale
//! rules.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lienthong_registry::{SignedSnapshot, SnapshotBody};

use crate::error::GatewayError;

pub fn now_s() -> u64 {
    lienthong_registry::server::now_s()
}

/// Ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Snapshot bodies are small; anything bigger is refused.
const SNAPSHOT_BYTES_MAX: usize = 16 << 20;

pub struct SnapshotCache {
    registry_url: String,
    registry_key: String,
    current: RwLock<Option<Arc<SnapshotBody>>>,
}

impl SnapshotCache {
    pub fn new(registry_url: String, registry_key: String) -> Self {
        SnapshotCache {
            registry_url,
            registry_key,
            current: RwLock::new(None),
        }
    }

    /// The snapshot in force, or an explicit error once it has expired (or none was loaded).
    pub fn current(&self) -> Result<Arc<SnapshotBody>, GatewayError> {
        let guard = self
            .current
            .read()
            .map_err(|_| GatewayError::Registry("snapshot lock poisoned".into()))?;
        match guard.as_ref() {
            Some(s) if now_s() < s.expires_at => Ok(s.clone()),
            Some(s) => Err(GatewayError::Registry(format!(
                "cached snapshot v{} expired at {}; the registry could not be reached since",
                s.version, s.expires_at
            ))),
            None => Err(GatewayError::Registry(
                "no registry snapshot loaded yet".into(),
            )),
        }
    }

    /// Installs a signed snapshot after verification (signature, no rollback, not expired).
    pub fn install(&self, signed: &SignedSnapshot) -> Result<u64, GatewayError> {
        let have = self
            .current
            .read()
            .ok()
            .and_then(|c| c.as_ref().map(|s| s.version));
        let body = signed
            .verify(&self.registry_key, have, now_s())
            .map_err(|e| GatewayError::Registry(e.to_string()))?;
        let version = body.version;
        if let Ok(mut c) = self.current.write() {
            *c = Some(Arc::new(body));
        }
        Ok(version)
    }

    /// Fetches and installs the registry's current snapshot once.
    pub async fn refresh(&self) -> Result<u64, GatewayError> {
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let uri: hyper::Uri = format!("{}/snapshot", self.registry_url.trim_end_matches('/'))
            .parse()
            .map_err(|e| GatewayError::Registry(format!("registry url: {e}")))?;
        let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
            .await
            .map_err(|_| GatewayError::Registry("registry did not answer within 5 s".into()))?
            .map_err(|e| GatewayError::Registry(format!("registry unreachable: {e}")))?;
        let bytes = Limited::new(response.into_body(), SNAPSHOT_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| GatewayError::Registry(format!("reading snapshot: {e}")))?
            .to_bytes();
        let signed: SignedSnapshot = serde_json::from_slice(&bytes)
            .map_err(|e| GatewayError::Registry(format!("snapshot is not JSON: {e}")))?;
        self.install(&signed)
    }

    /// Polls every `interval` until the task is dropped; failures keep the cached snapshot.
    pub async fn poll(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "registry refresh failed; serving from the cached snapshot until it expires");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_registry::{Registry, SignedSnapshot, SnapshotBody};

    #[test]
    fn older_snapshots_and_foreign_signatures_are_refused() {
        let key = lienthong_trust::SigningKey::generate();
        let cache = SnapshotCache::new("http://127.0.0.1:1".into(), key.public_b64());
        assert!(cache.current().is_err(), "nothing loaded yet");
        let snap = |version| {
            SignedSnapshot::sign(
                &SnapshotBody {
                    version,
                    issued_at: now_s(),
                    expires_at: now_s() + 60,
                    registry: Registry::default(),
                },
                &key,
            )
        };
        assert_eq!(cache.install(&snap(3)).unwrap(), 3);
        assert!(cache
            .install(&snap(2))
            .unwrap_err()
            .to_string()
            .contains("rollback"));
        assert_eq!(cache.current().unwrap().version, 3);
        let other = lienthong_trust::SigningKey::generate();
        let forged = SignedSnapshot::sign(
            &SnapshotBody {
                version: 9,
                issued_at: now_s(),
                expires_at: now_s() + 60,
                registry: Registry::default(),
            },
            &other,
        );
        assert!(cache.install(&forged).is_err());
        assert_eq!(cache.current().unwrap().version, 3);
    }
}
