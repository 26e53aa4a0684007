//! Where a message log is stored: SQLite (the embedded default, a 0600 file, WAL with
//! `synchronous=FULL`) or PostgreSQL; the connection, the tables, and the single writer's
//! lock.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

/// Where a log lives: a SQLite file (the embedded default) or a PostgreSQL database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    pub(super) fn of(location: &str) -> Store {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Store::Postgres
        } else {
            Store::Sqlite
        }
    }

    /// The statement with `?` placeholders numbered for PostgreSQL.
    pub(super) fn sql(self, s: &str) -> String {
        if self == Store::Sqlite {
            return s.to_owned();
        }
        lienthong_store::numbered_params(s)
    }
}

/// Makes a SQLite log file the owner's only (0600) before SQLite opens it: the log holds
/// who asked for whose data. A file found readable by others is tightened, with a warning.
fn private_sqlite_file(location: &str) -> Result<(), String> {
    let tightened = lienthong_store::private::private_file(std::path::Path::new(location))
        .map_err(|e| format!("message log {location}: {e}"))?;
    if tightened {
        tracing::warn!(
            log = location,
            "message log was readable by others: set to 0600"
        );
    }
    Ok(())
}

/// The page size of a SQLite log file made new.
pub const SQLITE_PAGE_SIZE: u32 = 8192;

pub(super) async fn connect(location: &str) -> Result<AnyPool, String> {
    sqlx::any::install_default_drivers();
    let store = Store::of(location);
    if store == Store::Sqlite && !location.starts_with(":memory:") {
        private_sqlite_file(location)?;
    }
    let url = match store {
        Store::Sqlite => format!("sqlite://{location}?mode=rwc"),
        Store::Postgres => location.to_owned(),
    };
    let options: AnyConnectOptions = url
        .parse()
        .map_err(|e| format!("message log {location}: {e}"))?;
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if store == Store::Sqlite {
                    // A new file's pages are 8 KiB (before WAL is set: afterwards SQLite
                    // keeps the size it has; an existing log keeps its own). An exchange's
                    // entry is ~2 kB: two did not fit a 4 KiB page, so each took a page of
                    // its own in the WAL, the checkpoint and the file (docs/benchmarks.md,
                    // issue 14: 3.8 → 2.7 kB on disk an entry, less CPU an exchange).
                    sqlx::query(&format!("PRAGMA page_size={SQLITE_PAGE_SIZE}"))
                        .execute(&mut *conn)
                        .await?;
                    // WAL for concurrent readers; FULL so that a committed batch survives
                    // power loss. (PostgreSQL's commits are durable by default.)
                    sqlx::query("PRAGMA journal_mode=WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous=FULL")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| format!("message log {location}: {e}"))?;
    let (int, blob) = match store {
        Store::Sqlite => ("INTEGER", "BLOB"),
        Store::Postgres => ("BIGINT", "BYTEA"),
    };
    for ddl in [
        format!("CREATE TABLE IF NOT EXISTS log_entries (idx {int} PRIMARY KEY, message_id TEXT NOT NULL, entry TEXT NOT NULL, leaf_hash TEXT NOT NULL)"),
        "CREATE INDEX IF NOT EXISTS log_entries_message ON log_entries (message_id)".to_owned(),
        format!("CREATE TABLE IF NOT EXISTS log_checkpoints (size {int} NOT NULL, root TEXT NOT NULL, timestamp {int} NOT NULL, signature TEXT NOT NULL)"),
        format!("CREATE TABLE IF NOT EXISTS log_bodies (sha256 TEXT PRIMARY KEY, body {blob} NOT NULL, stored_at_ms {int} NOT NULL DEFAULT 0, last_idx {int} NOT NULL DEFAULT 9223372036854775807)"),
        format!("CREATE TABLE IF NOT EXISTS log_archives (from_idx {int} NOT NULL, to_idx {int} NOT NULL, file TEXT NOT NULL, file_sha256 TEXT NOT NULL, at_ms {int} NOT NULL)"),
        format!("CREATE TABLE IF NOT EXISTS log_cosigned (size {int} PRIMARY KEY, note TEXT NOT NULL, at_ms {int} NOT NULL)"),
        format!("CREATE TABLE IF NOT EXISTS witness_seen (origin VARCHAR(300) PRIMARY KEY, size {int} NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL, at_ms {int} NOT NULL)"),
        format!("CREATE TABLE IF NOT EXISTS witness_state (origin VARCHAR(300) PRIMARY KEY, size {int} NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL, at_ms {int} NOT NULL)"),
        format!("CREATE TABLE IF NOT EXISTS witness_alarms (origin VARCHAR(300) NOT NULL, kind VARCHAR(40) NOT NULL, member TEXT NOT NULL, first_ms {int} NOT NULL, last_ms {int} NOT NULL, count {int} NOT NULL, detail TEXT NOT NULL, evidence TEXT NOT NULL, PRIMARY KEY (origin, kind))"),
        format!("CREATE TABLE IF NOT EXISTS consents (subject VARCHAR(64) NOT NULL, consumer VARCHAR(200) NOT NULL, service VARCHAR(300) NOT NULL, purpose VARCHAR(200) NOT NULL, granted {int} NOT NULL, at_ms {int} NOT NULL, PRIMARY KEY (subject, consumer, service, purpose))"),
        format!("CREATE TABLE IF NOT EXISTS documents (idx {int} PRIMARY KEY, subject VARCHAR(64) NOT NULL, kind VARCHAR(100) NOT NULL, issued_at {int} NOT NULL, expires_at {int} NOT NULL, status {int} NOT NULL, changed_at {int} NOT NULL, reason TEXT NOT NULL, token TEXT NOT NULL)"),
        "CREATE INDEX IF NOT EXISTS documents_subject ON documents (subject)".to_owned(),
        format!("CREATE TABLE IF NOT EXISTS node_registry_snapshot (id {int} PRIMARY KEY, version {int} NOT NULL, issued_at {int} NOT NULL, signed TEXT NOT NULL)"),
        "CREATE TABLE IF NOT EXISTS node_registry_keys (registry_key VARCHAR(200) PRIMARY KEY, announced_by TEXT NOT NULL)".to_owned(),
    ] {
        sqlx::query(&ddl).execute(&pool).await.map_err(|e| format!("message log {location}: {e}"))?;
    }
    // Logs written before bodies had a storage time and a last referencing entry get the
    // columns (time 0: pruned first; last entry unknown: never archived away).
    for (column, default) in [("stored_at_ms", "0"), ("last_idx", "9223372036854775807")] {
        if sqlx::query(&format!("SELECT {column} FROM log_bodies WHERE 1 = 0"))
            .fetch_all(&pool)
            .await
            .is_err()
        {
            sqlx::query(&format!(
                "ALTER TABLE log_bodies ADD COLUMN {column} {int} NOT NULL DEFAULT {default}"
            ))
            .execute(&pool)
            .await
            .map_err(|e| format!("message log {location}: {e}"))?;
        }
    }
    // The index of entries by person; a log from before it is indexed once, at its first
    // open with this version.
    if sqlx::query("SELECT 1 FROM log_subjects WHERE 1 = 0")
        .fetch_all(&pool)
        .await
        .is_err()
    {
        sqlx::query(&format!(
            "CREATE TABLE log_subjects (subject VARCHAR(64) NOT NULL, idx {int} NOT NULL)"
        ))
        .execute(&pool)
        .await
        .map_err(|e| format!("message log {location}: {e}"))?;
        sqlx::query("CREATE INDEX log_subjects_subject ON log_subjects (subject, idx)")
            .execute(&pool)
            .await
            .map_err(|e| format!("message log {location}: {e}"))?;
        super::witnessed::backfill_subjects(&pool, store)
            .await
            .map_err(|e| format!("message log {location}: indexing persons: {e}"))?;
    }
    // Checkpoints written before logs had a log key carry no signed note.
    if sqlx::query("SELECT note FROM log_checkpoints WHERE 1 = 0")
        .fetch_all(&pool)
        .await
        .is_err()
    {
        sqlx::query("ALTER TABLE log_checkpoints ADD COLUMN note TEXT")
            .execute(&pool)
            .await
            .map_err(|e| format!("message log {location}: {e}"))?;
    }
    Ok(pool)
}

/// A PostgreSQL log has one writer: the writer task holds this session lock for its life,
/// so two nodes configured with the same database cannot interleave (and corrupt) one
/// tree. The lock goes with the connection when the writer ends.
pub(super) async fn writer_lock(
    pool: &AnyPool,
    location: &str,
) -> Result<sqlx::AnyConnection, String> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| format!("message log {location}: {e}"))?
        .detach();
    let locked: bool = sqlx::query("SELECT pg_try_advisory_lock(7423620510)")
        .fetch_one(&mut conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| format!("message log {location}: {e}"))?;
    if !locked {
        return Err(format!(
            "message log {location}: another node writes this log (give each node its own database)"
        ));
    }
    Ok(conn)
}
