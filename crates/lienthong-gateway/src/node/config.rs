//! The node's typed configuration (the CLI builds it from node TOML).

use std::collections::HashMap;
use std::net::SocketAddr;

use lienthong_core::MemberId;
use lienthong_trust::SigningKey;

use super::ClientAuth;
use crate::backend::TableConfig;

/// Typed node configuration (the CLI builds it from node TOML).
pub struct NodeConfig {
    /// The subsystem this node acts for, `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
    pub member: MemberId,
    pub client_listen: SocketAddr,
    pub peer_listen: SocketAddr,
    /// `/healthz` and Prometheus `/metrics`.
    pub admin_listen: SocketAddr,
    pub signing_key: SigningKey,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub registry_url: String,
    pub registry_key: String,
    pub registry_poll_ms: u64,
    pub request_timeout_ms: u64,
    pub body_bytes_max: usize,
    /// Bytes of bodies the node holds at once, over all exchanges (requests, answers, JSON
    /// being projected): calls wait for room, then get `Server.ClientProxy.Busy` (or
    /// `Server.ServerProxy.Busy`) at the timeout, so memory stays bounded whatever the mix
    /// of sizes.
    pub inflight_body_bytes_max: usize,
    /// Accepted clock difference between nodes, and how long message ids are remembered.
    pub replay_window_s: u64,
    pub replay_entries_max: usize,
    pub tables: Vec<TableConfig>,
    /// The message log (SQLite file); every exchange is recorded before it is answered.
    pub log_path: String,
    /// Also keep response bodies (apart from the tree, by SHA-256); otherwise metadata only.
    pub log_bodies: bool,
    /// Services (ids) whose bodies are kept even when `log_bodies` is off, on either side.
    pub log_bodies_services: Vec<String>,
    /// Retention: bodies older than this many days are deleted (the entries stay).
    pub log_bodies_retention_days: Option<u32>,
    /// Archiving: entries under checkpoints older than `log_archive_after_days` move to
    /// self-verifying files in `log_archive_dir` (checked every hour).
    pub log_archive_dir: Option<String>,
    pub log_archive_after_days: Option<u32>,
    /// Services proxied to an existing REST backend.
    pub rest: Vec<RestConfig>,
    /// The purpose this node's client systems call a service for when they send none (service
    /// id → purpose code). Without one here, a service whose agreement names a single purpose
    /// is called for that purpose; a personal-data call with no purpose at all is refused.
    pub default_purposes: HashMap<String, String>,
    /// How the agency's information systems authenticate on the client face.
    pub client_auth: ClientAuth,
    /// Connections each face holds open at once (more wait in the backlog).
    pub connections_max: usize,
    /// Calls one consumer member may have in progress at this provider at once; more are
    /// refused (`Client.TooManyRequests`) so that no member can take every backend slot.
    pub consumer_calls_max: usize,
    /// Calls per second one consumer member may make at this provider (a burst of one
    /// second's worth); 0: no rate limit.
    pub consumer_rate_per_s: u32,
    /// The message-log key: signs the log's checkpoints as C2SP notes, apart from the
    /// member key. Without it the node's log is not witnessed.
    pub log_key: Option<SigningKey>,
    /// The witness's cosigning key, on the node the registry names as witness.
    pub witness_key: Option<SigningKey>,
    /// How often the node submits its latest checkpoint to the witness.
    pub witness_every_ms: u64,
    /// The e-documents this node issues from its tables, if any.
    pub documents: Option<crate::documents::DocumentsConfig>,
}

/// A service answered by an existing REST backend (plain HTTP on the provider's side).
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Service code (last part of the service id).
    pub code: String,
    /// `http://host:port[/prefix]`; the call's sub-path and query are appended.
    pub base_url: String,
}

/// `[default_purposes]`: each key a service id (`INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`),
/// each purpose a non-empty line of at most 200 characters — checked at start, not at the
/// first call that needs it.
pub fn check_default_purposes(purposes: &HashMap<String, String>) -> Result<(), String> {
    let mut keys: Vec<&String> = purposes.keys().collect();
    keys.sort();
    for service in keys {
        lienthong_core::ServiceId::parse(service).map_err(|e| {
            format!("[default_purposes] {service:?}: not a service id (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE): {e}")
        })?;
        let purpose = &purposes[service];
        if purpose.trim().is_empty()
            || purpose.chars().count() > 200
            || purpose.chars().any(char::is_control)
        {
            return Err(format!(
                "[default_purposes] {service}: the purpose must be one line of 1 to 200 characters"
            ));
        }
    }
    Ok(())
}
