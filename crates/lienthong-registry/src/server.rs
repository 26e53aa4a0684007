//! `lienthong registry run`: serves the signed snapshot at `GET /snapshot` and, when an
//! admin token is configured, an authenticated admin API under `/admin`. Content lives in
//! the [`Store`]; every accepted change becomes the next version and is published at once.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lienthong_trust::SigningKey;
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::store::Store;
use crate::{Agreement, Registry, RegistryError, SignedSnapshot, SnapshotBody};

pub use lienthong_core::time::now_s;

/// Typed registry-server configuration (the CLI builds it from TOML).
pub struct Config {
    pub store: Store,
    /// Content to store when the store is empty (first start).
    pub seed: Option<Registry>,
    pub key: SigningKey,
    pub validity_s: u64,
    /// The operators of the admin API, each with a bearer token of their own; none disables
    /// it. Every change is stored with the name of the operator who made it.
    pub operators: Vec<Operator>,
    /// The next signing key's public half, announced in every snapshot until the registry
    /// signs with it (key rotation).
    pub next_key: Option<String>,
}

/// An operator of the admin API: a name (recorded with each change) and the SHA-256 (hex) of
/// their bearer token.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub token_sha256: String,
}

struct Current {
    version: u64,
    registry: Registry,
    snapshot: SignedSnapshot,
    issued_at: u64,
}

struct AppState {
    config: Config,
    current: RwLock<Current>,
    /// Serialises read-modify-write changes from the admin API.
    writer: Mutex<()>,
}

fn sign(config: &Config, version: u64, registry: &Registry, now: u64) -> SignedSnapshot {
    let body = SnapshotBody {
        version,
        issued_at: now,
        expires_at: now + config.validity_s,
        registry: registry.clone(),
        next_key: config.next_key.clone(),
    };
    SignedSnapshot::sign(&body, &config.key)
}

/// Builds the app: loads (or seeds) the store and signs the first snapshot; the public
/// routes and the admin API on one router.
pub async fn app(config: Config) -> Result<Router, RegistryError> {
    let (public, admin) = apps(config).await?;
    Ok(public.merge(admin))
}

/// As [`app`], the public routes (`/healthz`, `/snapshot`) and the admin API (`/admin/…`)
/// apart, for a listener of each.
pub async fn apps(config: Config) -> Result<(Router, Router), RegistryError> {
    if config.validity_s > crate::SNAPSHOT_VALIDITY_MAX_S {
        return Err(RegistryError::Invalid(format!(
            "snapshot validity {} s is more than nodes accept ({} s)",
            config.validity_s,
            crate::SNAPSHOT_VALIDITY_MAX_S
        )));
    }
    let mut names = std::collections::HashSet::new();
    for op in &config.operators {
        if op.name.is_empty() || !names.insert(op.name.as_str()) {
            return Err(RegistryError::Invalid(format!(
                "operator names must be given and distinct ({:?})",
                op.name
            )));
        }
        if op.token_sha256.len() != 64 || !op.token_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RegistryError::Invalid(format!(
                "operator {}: token_sha256 must be 64 hex digits",
                op.name
            )));
        }
    }
    let now = now_s();
    let (version, registry) = match config.store.latest().await? {
        Some((version, stored)) => {
            // A stored version is published only if it is still valid content.
            stored.validate()?;
            (version, stored)
        }
        None => {
            let seed = config.seed.clone().unwrap_or_default();
            let version = config.store.save(&seed, now).await?;
            (version, seed)
        }
    };
    let snapshot = sign(&config, version, &registry, now);
    let state = Arc::new(AppState {
        current: RwLock::new(Current {
            version,
            registry,
            snapshot,
            issued_at: now,
        }),
        config,
        writer: Mutex::new(()),
    });
    let public = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/snapshot", get(get_snapshot))
        .with_state(state.clone());
    let admin = Router::new()
        .route("/admin/registry", get(admin_get).put(admin_put))
        .route("/admin/registry/additions", post(admin_add))
        .route(
            "/admin/agreements",
            post(admin_agreement).delete(admin_agreement_delete),
        )
        .route(
            "/admin/catalogue",
            axum::routing::put(admin_catalogue_put).delete(admin_catalogue_delete),
        )
        .route("/admin/revocations", post(admin_revoke))
        .route("/admin/history", get(admin_history))
        .with_state(state);
    Ok((public, admin))
}

/// The current snapshot, re-signed with a fresh expiry every quarter of the validity.
async fn get_snapshot(State(state): State<Arc<AppState>>) -> Json<SignedSnapshot> {
    let now = now_s();
    let stale = state.current.read().await.issued_at + state.config.validity_s / 4 <= now;
    if stale {
        let mut c = state.current.write().await;
        c.snapshot = sign(&state.config, c.version, &c.registry, now);
        c.issued_at = now;
    }
    Json(state.current.read().await.snapshot.clone())
}

enum AdminError {
    Unauthorized,
    Disabled,
    Invalid(String),
    Store(String),
}

impl From<RegistryError> for AdminError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(m) => AdminError::Invalid(m),
            other => AdminError::Store(other.to_string()),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AdminError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or wrong admin token".to_owned(),
            ),
            AdminError::Disabled => (
                StatusCode::NOT_FOUND,
                "the admin API is disabled (no operators configured)".to_owned(),
            ),
            AdminError::Invalid(m) => (StatusCode::BAD_REQUEST, m),
            AdminError::Store(m) => {
                tracing::error!(error = %m, "registry store failed");
                (StatusCode::INTERNAL_SERVER_ERROR, m)
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// The operator whose token the request carries.
fn authorise(state: &AppState, headers: &HeaderMap) -> Result<String, AdminError> {
    if state.config.operators.is_empty() {
        return Err(AdminError::Disabled);
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.is_empty() {
        return Err(AdminError::Unauthorized);
    }
    let given = lienthong_trust::sha256_hex(token.as_bytes());
    // Every operator's digest compared in full: no early exit on the first differing byte.
    let mut found = None;
    for op in &state.config.operators {
        let expected = op.token_sha256.to_ascii_lowercase();
        let same = given.len() == expected.len()
            && given
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same && found.is_none() {
            found = Some(op.name.clone());
        }
    }
    found.ok_or(AdminError::Unauthorized)
}

/// Applies a change to the current content, stores it as the next version, publishes it.
async fn change(
    state: &AppState,
    (operator, what): (&str, &str),
    f: impl FnOnce(&mut Registry) -> Result<(), AdminError>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let _guard = state.writer.lock().await;
    let mut next = state.current.read().await.registry.clone();
    f(&mut next)?;
    let now = now_s();
    let version = state
        .config
        .store
        .save_by(&next, now, operator, what)
        .await?;
    let snapshot = sign(&state.config, version, &next, now);
    *state.current.write().await = Current {
        version,
        registry: next,
        snapshot,
        issued_at: now,
    };
    tracing::info!(
        version,
        operator,
        change = what,
        "registry content published"
    );
    Ok(Json(serde_json::json!({ "version": version })))
}

async fn admin_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, AdminError> {
    authorise(&state, &headers)?;
    let c = state.current.read().await;
    Ok(Json(
        serde_json::json!({ "version": c.version, "registry": c.registry }),
    ))
}

async fn admin_put(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AdminError> {
    let operator = authorise(&state, &headers)?;
    let registry: Registry = serde_json::from_slice(&body)
        .map_err(|e| AdminError::Invalid(format!("registry content: {e}")))?;
    change(&state, (&operator, "put"), |r| {
        *r = registry;
        Ok(())
    })
    .await
}

/// Adds members, services and agreements (each replacing the entry with its key).
async fn admin_add(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AdminError> {
    let operator = authorise(&state, &headers)?;
    let additions: crate::Additions = serde_json::from_slice(&body)
        .map_err(|e| AdminError::Invalid(format!("additions: {e}")))?;
    if additions.is_empty() {
        return Err(AdminError::Invalid(
            "additions: no members, services, agreements or catalogue entries".into(),
        ));
    }
    change(&state, (&operator, "add"), |r| {
        r.add(additions);
        Ok(())
    })
    .await
}

async fn admin_agreement(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AdminError> {
    let operator = authorise(&state, &headers)?;
    let agreement: Agreement = serde_json::from_slice(&body)
        .map_err(|e| AdminError::Invalid(format!("agreement: {e}")))?;
    change(&state, (&operator, "agreement"), |r| {
        r.agreements
            .retain(|a| !(a.consumer == agreement.consumer && a.service == agreement.service));
        r.agreements.push(agreement);
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
struct AgreementKey {
    consumer: String,
    service: String,
}

async fn admin_agreement_delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(key): Query<AgreementKey>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let operator = authorise(&state, &headers)?;
    change(&state, (&operator, "agreement-delete"), |r| {
        let before = r.agreements.len();
        r.agreements
            .retain(|a| !(a.consumer == key.consumer && a.service == key.service));
        if r.agreements.len() == before {
            return Err(AdminError::Invalid(format!(
                "no agreement {} → {}",
                key.consumer, key.service
            )));
        }
        Ok(())
    })
    .await
}

/// Adds a catalogue entry or replaces the one with its id.
async fn admin_catalogue_put(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AdminError> {
    let operator = authorise(&state, &headers)?;
    let entry: crate::catalogue::Database = serde_json::from_slice(&body)
        .map_err(|e| AdminError::Invalid(format!("catalogue entry: {e}")))?;
    change(&state, (&operator, "catalogue"), |r| {
        r.add(crate::Additions {
            catalogue: vec![entry],
            ..Default::default()
        });
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
struct CatalogueKey {
    id: String,
}

async fn admin_catalogue_delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(key): Query<CatalogueKey>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let operator = authorise(&state, &headers)?;
    change(&state, (&operator, "catalogue-delete"), |r| {
        let before = r.catalogue.len();
        r.catalogue.retain(|d| d.id != key.id);
        if r.catalogue.len() == before {
            return Err(AdminError::Invalid(format!(
                "no catalogue entry {:?}",
                key.id
            )));
        }
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
struct Revocation {
    member: String,
}

async fn admin_revoke(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(rev): Json<Revocation>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let operator = authorise(&state, &headers)?;
    change(&state, (&operator, "revoke"), |r| {
        lienthong_core::MemberId::parse(&rev.member)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        if !r.revoked.contains(&rev.member) {
            r.revoked.push(rev.member);
        }
        Ok(())
    })
    .await
}

async fn admin_history(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, AdminError> {
    authorise(&state, &headers)?;
    let versions = state.config.store.history(100).await?;
    let items: Vec<_> = versions.iter().map(|v| serde_json::json!({ "version": v.version, "content_sha256": v.content_sha256, "created_at": v.created_at, "changed_by": v.changed_by, "change": v.change })).collect();
    Ok(Json(serde_json::json!({ "versions": items })))
}
