//! The node's view of the registry: polls the registry, verifies each snapshot against the
//! pinned key, refuses rollbacks, and after expiry refuses to serve instead of using stale
//! rules. Each installed snapshot is saved beside the message log: a restarted node starts
//! from it while the registry is unreachable, and still refuses anything older.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lienthong_registry::lookup::Lookup;
use lienthong_registry::{Agreement, Member, Service, SignedSnapshot, SnapshotBody};

use crate::error::GatewayError;

pub use lienthong_core::time::{now_ms, now_s};

/// Snapshot bodies are small; anything bigger is refused.
const SNAPSHOT_BYTES_MAX: usize = 16 << 20;

/// A snapshot in force, with its registry's lookups by id (built once, when it is installed).
pub struct Installed {
    body: SnapshotBody,
    lookup: Lookup,
}

impl Installed {
    pub fn new(body: SnapshotBody) -> Installed {
        let lookup = Lookup::new(&body.registry);
        Installed { body, lookup }
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.lookup.member(&self.body.registry, id)
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.lookup.service(&self.body.registry, id)
    }

    /// The agreements of `consumer` for `service`, in the registry's order.
    pub fn agreements<'a>(
        &'a self,
        consumer: &str,
        service: &str,
    ) -> impl Iterator<Item = &'a Agreement> + use<'a> {
        self.lookup
            .agreements(&self.body.registry, consumer, service)
    }

    pub fn is_revoked(&self, id: &str) -> bool {
        self.lookup.is_revoked(id)
    }
}

impl std::ops::Deref for Installed {
    type Target = SnapshotBody;
    fn deref(&self) -> &SnapshotBody {
        &self.body
    }
}

pub struct SnapshotCache {
    registry_url: String,
    /// The registry key trusted now: the configured one, or one it announced since.
    registry_key: RwLock<String>,
    current: RwLock<Option<Arc<Installed>>>,
    /// The highest version seen, saved ones included (expired too): nothing below it is
    /// installed, across restarts.
    floor: AtomicU64,
    /// Where installed snapshots are kept.
    saved: Option<crate::msglog::MessageLog>,
    /// TLS to an `https://` registry: the registry CA as roots.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl SnapshotCache {
    pub fn new(registry_url: String, registry_key: String) -> Self {
        SnapshotCache {
            registry_url,
            registry_key: RwLock::new(registry_key),
            current: RwLock::new(None),
            floor: AtomicU64::new(0),
            saved: None,
            tls: None,
        }
    }

    /// An `https://` registry is reached over TLS 1.3, its certificate issued by `ca_pem`.
    pub fn trusting(mut self, ca_pem: &str) -> Result<Self, String> {
        self.tls = Some(
            lienthong_trust::client_config_roots(ca_pem)
                .map_err(|e| format!("registry TLS: {e}"))?,
        );
        Ok(self)
    }

    /// As [`SnapshotCache::new`], keeping installed snapshots in the node's log database.
    pub fn saved_in(
        registry_url: String,
        registry_key: String,
        log: crate::msglog::MessageLog,
    ) -> Self {
        SnapshotCache {
            saved: Some(log),
            ..SnapshotCache::new(registry_url, registry_key)
        }
    }

    /// Loads the snapshot saved at the last run: its version becomes the rollback floor,
    /// and it is served while it has not expired. Returns its version, or `None` when there
    /// is none, or when it is not signed by the configured registry key (a key changed in
    /// the configuration: it is then ignored, with a warning).
    pub async fn restore(&self) -> Result<Option<u64>, GatewayError> {
        let Some(log) = &self.saved else {
            return Ok(None);
        };
        // From the configured key along the saved announcements (each made by a snapshot the
        // key before signed) to the key the registry uses now.
        let announcements = log
            .key_announcements()
            .await
            .map_err(GatewayError::Registry)?;
        let mut trusted = self.trusted_key();
        for _ in 0..=announcements.len() {
            let next = announcements.iter().find_map(|(key, text)| {
                let signed: SignedSnapshot = serde_json::from_str(text).ok()?;
                let body = signed.verify(&trusted, None, 0).ok()?;
                (body.next_key.as_deref() == Some(key.as_str()) && *key != trusted)
                    .then(|| key.clone())
            });
            match next {
                Some(k) => trusted = k,
                None => break,
            }
        }
        let Some(text) = log.saved_snapshot().await.map_err(GatewayError::Registry)? else {
            return Ok(None);
        };
        let signed: SignedSnapshot = serde_json::from_str(&text)
            .map_err(|e| GatewayError::Registry(format!("saved snapshot unreadable: {e}")))?;
        // Expiry is checked below (an expired snapshot still sets the floor). The saved
        // snapshot may be signed by the key before the newest announced one.
        let verified = signed
            .verify(&trusted, None, 0)
            .map(|b| (b, trusted.clone()));
        let verified = verified.or_else(|e| {
            let configured = self.trusted_key();
            signed
                .verify(&configured, None, 0)
                .map(|b| (b, configured))
                .map_err(|_| e)
        });
        let body = match verified {
            Ok((body, key)) => {
                if let Ok(mut k) = self.registry_key.write() {
                    *k = key;
                }
                body
            }
            Err(e) => {
                tracing::warn!(error = %e, "the saved registry snapshot does not verify with the configured registry key (or one it announced); ignored");
                return Ok(None);
            }
        };
        let version = body.version;
        self.floor.fetch_max(version, Ordering::SeqCst);
        if now_s() < body.expires_at {
            // Indexed before the lock: exchanges read the snapshot in force meanwhile.
            let installed = Arc::new(Installed::new(body));
            if let Ok(mut c) = self.current.write() {
                *c = Some(installed);
            }
        }
        Ok(Some(version))
    }

    /// The snapshot in force, or an explicit error once it has expired (or none was loaded).
    pub fn current(&self) -> Result<Arc<Installed>, GatewayError> {
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

    /// The registry key trusted now.
    pub fn trusted_key(&self) -> String {
        self.registry_key
            .read()
            .map(|k| k.clone())
            .unwrap_or_default()
    }

    /// Installs a signed snapshot after verification (signature, no rollback, not expired).
    pub fn install(&self, signed: &SignedSnapshot) -> Result<u64, GatewayError> {
        self.install_newer(signed).map(|(version, _)| version)
    }

    /// As [`SnapshotCache::install`]; also gives the new snapshot's issue time when it
    /// replaced the one in force. Of two signings of one version the later issued stays
    /// (an older one replayed would expire sooner).
    fn install_newer(&self, signed: &SignedSnapshot) -> Result<(u64, Option<u64>), GatewayError> {
        let current = self.current.read().ok().and_then(|c| c.clone());
        let floor = self.floor.load(Ordering::SeqCst);
        let have = match current.as_ref().map(|s| s.version) {
            Some(v) => Some(v.max(floor)),
            None => (floor > 0).then_some(floor),
        };
        let trusted = self.trusted_key();
        let body = match signed.verify(&trusted, have, now_s()) {
            Ok(body) => body,
            // Signed by another key: the next key the snapshot in force announced, if any.
            Err(lienthong_registry::RegistryError::BadSignature) => {
                let announced = current.as_ref().and_then(|c| c.next_key.clone());
                let Some(next) = announced.filter(|k| *k != trusted) else {
                    return Err(GatewayError::Registry(
                        lienthong_registry::RegistryError::BadSignature.to_string(),
                    ));
                };
                let body = signed
                    .verify(&next, have, now_s())
                    .map_err(|e| GatewayError::Registry(e.to_string()))?;
                tracing::warn!(key = %next, version = body.version, "the registry now signs with the key it announced; set registry_key to it in the node's configuration");
                if let Ok(mut k) = self.registry_key.write() {
                    *k = next;
                }
                body
            }
            Err(e) => return Err(GatewayError::Registry(e.to_string())),
        };
        let (version, issued_at) = (body.version, body.issued_at);
        if let Some(c) = &current {
            if c.version == version && c.issued_at >= issued_at {
                return Ok((version, None));
            }
        }
        self.floor.fetch_max(version, Ordering::SeqCst);
        // Indexed before the lock: exchanges read the snapshot in force meanwhile.
        let installed = Arc::new(Installed::new(body));
        if let Ok(mut c) = self.current.write() {
            *c = Some(installed);
        }
        Ok((version, Some(issued_at)))
    }

    /// Installs, then keeps the snapshot when it replaced the one in force (a new version,
    /// or the same one signed again later).
    async fn install_and_save(&self, signed: &SignedSnapshot) -> Result<u64, GatewayError> {
        let (version, replaced) = self.install_newer(signed)?;
        if let (Some(issued_at), Some(log)) = (replaced, &self.saved) {
            let text =
                serde_json::to_string(signed).map_err(|e| GatewayError::Registry(e.to_string()))?;
            // An announced next key is kept with the snapshot that announced it.
            let announced = self.current.read().ok().and_then(|c| {
                c.as_ref()
                    .and_then(|b| b.next_key.clone())
                    .filter(|k| *k != self.trusted_key())
            });
            if let Some(key) = announced {
                log.save_key_announcement(&key, &text)
                    .await
                    .map_err(GatewayError::Registry)?;
            }
            log.save_snapshot(version, issued_at, &text)
                .await
                .map_err(GatewayError::Registry)?;
        }
        Ok(version)
    }

    /// Fetches and installs the registry's current snapshot once.
    pub async fn refresh(&self) -> Result<u64, GatewayError> {
        let uri: hyper::Uri = format!("{}/snapshot", self.registry_url.trim_end_matches('/'))
            .parse()
            .map_err(|e| GatewayError::Registry(format!("registry url: {e}")))?;
        let get = async {
            if uri.scheme_str() == Some("https") {
                let tls = self.tls.clone().ok_or_else(|| {
                    GatewayError::Registry("an https registry needs the registry CA".into())
                })?;
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((*tls).clone())
                    .https_only()
                    .enable_http1()
                    .enable_http2()
                    .build();
                let client: Client<_, Empty<Bytes>> =
                    Client::builder(TokioExecutor::new()).build(connector);
                client.get(uri).await
            } else {
                let client: Client<_, Empty<Bytes>> =
                    Client::builder(TokioExecutor::new()).build_http();
                client.get(uri).await
            }
            .map_err(|e| GatewayError::Registry(format!("registry unreachable: {e}")))
        };
        let response = tokio::time::timeout(Duration::from_secs(5), get)
            .await
            .map_err(|_| GatewayError::Registry("registry did not answer within 5 s".into()))??;
        let bytes = Limited::new(response.into_body(), SNAPSHOT_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| GatewayError::Registry(format!("reading snapshot: {e}")))?
            .to_bytes();
        let signed: SignedSnapshot = serde_json::from_slice(&bytes)
            .map_err(|e| GatewayError::Registry(format!("snapshot is not JSON: {e}")))?;
        self.install_and_save(&signed).await
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

    fn signed(
        version: u64,
        key: &lienthong_trust::SigningKey,
        next: Option<String>,
    ) -> SignedSnapshot {
        SignedSnapshot::sign(
            &SnapshotBody {
                version,
                issued_at: now_s(),
                expires_at: now_s() + 600,
                registry: Registry::default(),
                next_key: next,
            },
            key,
        )
    }

    #[tokio::test]
    async fn the_registry_key_rotates_only_to_the_key_it_announced_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db").display().to_string();
        let (k1, k2, k3) = (
            lienthong_trust::SigningKey::generate(),
            lienthong_trust::SigningKey::generate(),
            lienthong_trust::SigningKey::generate(),
        );
        let node_key = lienthong_trust::SigningKey::generate();
        let log = crate::msglog::MessageLog::open(&path, node_key)
            .await
            .unwrap();
        let cache = SnapshotCache::saved_in("http://127.0.0.1:1".into(), k1.public_b64(), log);
        // Nothing announced yet: another key is refused.
        cache.install_and_save(&signed(1, &k1, None)).await.unwrap();
        assert!(cache.install_and_save(&signed(2, &k2, None)).await.is_err());
        // K2 announced under K1; an unannounced K3 is still refused; K2 is then taken.
        cache
            .install_and_save(&signed(2, &k1, Some(k2.public_b64())))
            .await
            .unwrap();
        assert!(cache.install_and_save(&signed(3, &k3, None)).await.is_err());
        cache.install_and_save(&signed(3, &k2, None)).await.unwrap();
        assert_eq!(cache.trusted_key(), k2.public_b64());
        // The old key is retired.
        assert!(cache.install_and_save(&signed(4, &k1, None)).await.is_err());
        // A restart with K1 still configured follows the saved announcement to K2.
        let log = crate::msglog::MessageLog::open(&path, lienthong_trust::SigningKey::generate())
            .await
            .unwrap();
        let restarted = SnapshotCache::saved_in("http://127.0.0.1:1".into(), k1.public_b64(), log);
        assert_eq!(restarted.restore().await.unwrap(), Some(3));
        assert_eq!(restarted.trusted_key(), k2.public_b64());
        assert_eq!(restarted.current().unwrap().version, 3);
    }

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
                    next_key: None,
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
                next_key: None,
            },
            &other,
        );
        assert!(cache.install(&forged).is_err());
        assert_eq!(cache.current().unwrap().version, 3);
        // Of two signings of one version the later issued stays: an earlier one, replayed,
        // would expire sooner.
        let signed_at = |issued_at: u64| {
            SignedSnapshot::sign(
                &SnapshotBody {
                    version: 3,
                    issued_at,
                    expires_at: issued_at + 600,
                    registry: Registry::default(),
                    next_key: None,
                },
                &key,
            )
        };
        let later = now_s() + 100;
        assert_eq!(cache.install(&signed_at(later)).unwrap(), 3);
        assert_eq!(cache.install(&signed_at(now_s() - 10)).unwrap(), 3);
        assert_eq!(cache.current().unwrap().issued_at, later);
    }
}
