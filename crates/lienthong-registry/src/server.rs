//! `lienthong registry run`: serves the signed snapshot at `GET /snapshot`. The content comes
//! from the registry TOML; the version is kept in a state file and only ever grows: it is
//! bumped whenever the content differs from the last published one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use lienthong_trust::SigningKey;
use tokio::sync::RwLock;

use crate::{Registry, RegistryError, SignedSnapshot, SnapshotBody};

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Typed registry-server configuration (the CLI builds it from TOML).
pub struct Config {
    pub registry: Registry,
    pub key: SigningKey,
    /// Keeps the last version and content hash: `version content-sha256`.
    pub state_file: PathBuf,
    pub validity_s: u64,
}

struct Published {
    snapshot: SignedSnapshot,
}

/// Builds the next snapshot, bumping the stored version when the content changed.
pub fn publish(config: &Config, now: u64) -> Result<SignedSnapshot, RegistryError> {
    config.registry.validate()?;
    let content = serde_json::to_string(&config.registry)
        .map_err(|e| RegistryError::Invalid(e.to_string()))?;
    let hash = lienthong_trust::sha256_hex(content.as_bytes());
    let (mut version, last_hash) = read_state(&config.state_file);
    if last_hash.as_deref() != Some(hash.as_str()) {
        version += 1;
        std::fs::write(&config.state_file, format!("{version} {hash}\n")).map_err(|e| {
            RegistryError::Invalid(format!("writing {}: {e}", config.state_file.display()))
        })?;
    }
    let body = SnapshotBody {
        version,
        issued_at: now,
        expires_at: now + config.validity_s,
        registry: config.registry.clone(),
    };
    Ok(SignedSnapshot::sign(&body, &config.key))
}

fn read_state(path: &Path) -> (u64, Option<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0, None);
    };
    let mut parts = text.split_whitespace();
    let version = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    (version, parts.next().map(str::to_owned))
}

/// The HTTP app: `GET /snapshot` (re-signed with a fresh expiry every `validity_s / 4`),
/// `GET /healthz`.
pub fn app(config: Config) -> Result<Router, RegistryError> {
    let first = publish(&config, now_s())?;
    let state = Arc::new((config, RwLock::new(Published { snapshot: first })));
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/snapshot",
            get(
                |State(state): State<Arc<(Config, RwLock<Published>)>>| async move {
                    let (config, published) = &*state;
                    let now = now_s();
                    let stale = {
                        let p = published.read().await;
                        let body: Option<SnapshotBody> =
                            serde_json::from_str(&p.snapshot.body).ok();
                        body.is_none_or(|b| b.issued_at + config.validity_s / 4 <= now)
                    };
                    if stale {
                        if let Ok(fresh) = publish(config, now) {
                            published.write().await.snapshot = fresh;
                        }
                    }
                    Json(published.read().await.snapshot.clone())
                },
            ),
        )
        .with_state(state))
}
