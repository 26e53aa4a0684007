//! Storage shared by the crates that keep or read tables: SQL dialects chosen from a
//! database URL, connections, identifier checks, and the change-log table that sync writes
//! beside a replica table and the gateway serves as a change feed. No policy: statements and
//! connections only.

pub mod changelog;
pub mod dialect;
pub mod private;

pub use dialect::{connect, identifier_ok, numbered_params, text_at, Dialect};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database url must start with postgres:, mysql:, mariadb: or sqlite: (got {0:?})")]
    Url(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
