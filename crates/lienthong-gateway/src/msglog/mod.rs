//! The node's message log: every exchange, on both nodes, appended to a Merkle log
//! (`lienthong-ledger`, RFC 9162) stored in SQLite. An entry is acknowledged — and the
//! exchange answered — only after the batch holding it is committed with
//! `synchronous=FULL`; each batch ends with a checkpoint signed by the member key.
//! Bodies, when logged, are stored apart from the tree and referenced by their SHA-256.
//! (SQLite by default, PostgreSQL by configuration.) The same database keeps the last
//! registry snapshot the node installed: the node's one other piece of durable state.

use std::sync::{Arc, RwLock};

use lienthong_ledger::{hash_from_hex, hash_to_hex, leaf_hash, Checkpoint, MerkleTree};
use lienthong_trust::SigningKey;
use serde_json::{json, Value};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

mod archive;
mod audit;
mod documents;
mod incidents;
mod reader;
mod witnessed;

pub use archive::*;
pub use audit::*;
pub use documents::{issued_documents, set_document_status, IssuedDocument};
pub use incidents::{incidents, open_incident, records, update_incident};
pub use reader::{LogEntry, LogReader};
pub use witnessed::{
    history_of, saved_notes, stored_tree, Alarm, LatestNote, LogNotes, HISTORY_ENTRIES_MAX,
};

/// Why a log could not be read back or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no message log at {0}")]
    NotFound(String),
    /// A record beside the log (an incident, a document) that the log does not hold.
    #[error("{0} is not in this log")]
    NoSuch(String),
    /// A checkpoint signature does not verify with the key given: a wrong key, or a
    /// checkpoint not signed by the member.
    #[error("{0}")]
    Key(String),
    /// The log's entries, checkpoints or archive records contradict each other: altered.
    #[error("{0}")]
    Altered(String),
    /// The database could not be read.
    #[error("{0}")]
    Database(String),
}

impl LogError {
    fn db(e: sqlx::Error) -> LogError {
        LogError::Database(e.to_string())
    }
}

/// For the functions that still answer `String` errors.
impl From<LogError> for String {
    fn from(e: LogError) -> String {
        e.to_string()
    }
}

/// Entries waiting for the writer, at most; callers wait when it is full.
pub const QUEUE_ENTRIES_MAX: usize = 65_536;
/// Entries committed in one transaction, at most.
pub const BATCH_ENTRIES_MAX: usize = 4_096;
/// A person's id or pseudonym longer than this is not indexed (ids are 12 characters,
/// pseudonyms 25).
pub const SUBJECT_BYTES_MAX: usize = 64;

type Ack = oneshot::Sender<Result<u64, String>>;

struct Pending {
    message_id: String,
    /// The persons the entry names (as stored: pseudonyms where the node has a log key).
    subjects: Vec<String>,
    entry: String,
    bodies: Vec<(String, Vec<u8>)>,
    ack: Ack,
}

/// Handle to the log; cheap to clone.
#[derive(Clone)]
pub struct MessageLog {
    tx: mpsc::Sender<Pending>,
    tree: Arc<RwLock<MerkleTree>>,
    pool: AnyPool,
    store: Store,
    /// The checkpoints as C2SP signed notes, when the node has a log key.
    notes: Option<Arc<LogNotes>>,
}

/// Where a log lives: a SQLite file (the embedded default) or a PostgreSQL database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    fn of(location: &str) -> Store {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Store::Postgres
        } else {
            Store::Sqlite
        }
    }

    /// The statement with `?` placeholders numbered for PostgreSQL.
    fn sql(self, s: &str) -> String {
        if self == Store::Sqlite {
            return s.to_owned();
        }
        let mut out = String::with_capacity(s.len() + 16);
        let mut n = 0;
        for c in s.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
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

async fn connect(location: &str) -> Result<AnyPool, String> {
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
        witnessed::backfill_subjects(&pool, store)
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
async fn writer_lock(pool: &AnyPool, location: &str) -> Result<sqlx::AnyConnection, String> {
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

/// Rebuilds the tree from the stored leaf hashes, refusing a gap in the indexes.
async fn load_tree(pool: &AnyPool, path: &str) -> Result<MerkleTree, String> {
    let rows = sqlx::query("SELECT idx, leaf_hash FROM log_entries ORDER BY idx")
        .fetch_all(pool)
        .await
        .map_err(|e| e.to_string())?;
    let mut tree = MerkleTree::with_capacity(rows.len());
    for (n, row) in rows.iter().enumerate() {
        let idx: i64 = row.try_get(0).map_err(|e| e.to_string())?;
        let hex: String = row.try_get(1).map_err(|e| e.to_string())?;
        let hash = hash_from_hex(&hex).ok_or(format!(
            "message log {path}: entry {idx} has a malformed leaf hash"
        ))?;
        if idx as usize != n {
            return Err(format!("message log {path}: entry {n} is missing (found {idx}); run `lienthong log verify`"));
        }
        tree.append_leaf_hash(hash);
    }
    Ok(tree)
}

/// Before the writer signs anything more: the stored tree must be exactly what the latest
/// checkpoint, signed with this node's key, says — else rows were added, removed or changed
/// outside the node, and signing on would cover them.
async fn check_head(
    pool: &AnyPool,
    path: &str,
    tree: &MerkleTree,
    public_key: &str,
) -> Result<(), String> {
    let refuse = |what: String| {
        Err(format!(
            "message log {path}: {what}; run `lienthong log verify` before starting the node"
        ))
    };
    let row = sqlx::query("SELECT size, root, timestamp, signature FROM log_checkpoints ORDER BY size DESC, timestamp DESC LIMIT 1")
        .fetch_optional(pool)
        .await
        .map_err(|e| e.to_string())?;
    let Some(row) = row else {
        return if tree.is_empty() {
            Ok(())
        } else {
            refuse(format!("{} entries but no checkpoint", tree.size()))
        };
    };
    let size: i64 = row.try_get(0).map_err(|e| e.to_string())?;
    let root: String = row.try_get(1).map_err(|e| e.to_string())?;
    let cp = Checkpoint {
        size: size as u64,
        root: hash_from_hex(&root).ok_or("malformed checkpoint root")?,
        timestamp: row.try_get::<i64, _>(2).map_err(|e| e.to_string())? as u64,
    };
    let signature: String = row.try_get(3).map_err(|e| e.to_string())?;
    if lienthong_trust::verify(public_key, &cp.to_signing_bytes(), &signature).is_err() {
        return refuse("the latest checkpoint is not signed by this node's key".into());
    }
    if cp.size != tree.size() || tree.root() != cp.root {
        return refuse(format!(
            "the entries ({}) do not match the latest signed checkpoint (size {})",
            tree.size(),
            cp.size
        ));
    }
    Ok(())
}

impl MessageLog {
    /// Opens (or creates) the log, rebuilds the tree from the stored leaf hashes and starts
    /// the writer task.
    pub async fn open(path: &str, key: SigningKey) -> Result<MessageLog, String> {
        Self::open_with(path, key, None).await
    }

    /// As [`MessageLog::open`], also signing every checkpoint as a C2SP note with the
    /// node's log key (`notes`), the form peers and the witness check.
    pub async fn open_with(
        path: &str,
        key: SigningKey,
        notes: Option<lienthong_trust::note::NoteSigner>,
    ) -> Result<MessageLog, String> {
        let pool = connect(path).await?;
        let store = Store::of(path);
        let lock = match store {
            Store::Postgres => Some(writer_lock(&pool, path).await?),
            Store::Sqlite => None,
        };
        let tree = load_tree(&pool, path).await?;
        check_head(&pool, path, &tree, &key.public_b64()).await?;
        let notes = notes.map(|signer| Arc::new(LogNotes::new(signer, &tree)));
        let tree = Arc::new(RwLock::new(tree));
        let (tx, rx) = mpsc::channel(QUEUE_ENTRIES_MAX);
        let (wpool, wtree, wnotes) = (pool.clone(), tree.clone(), notes.clone());
        tokio::spawn(async move {
            writer(store, wpool, wtree, key, wnotes, rx).await;
            drop(lock);
        });
        Ok(MessageLog {
            tx,
            tree,
            pool,
            store,
            notes,
        })
    }

    /// Appends one exchange record; returns its index once it is durable.
    pub async fn append(
        &self,
        message_id: &str,
        entry: &Value,
        bodies: Vec<(String, Vec<u8>)>,
    ) -> Result<u64, String> {
        let (ack, done) = oneshot::channel();
        let subjects = entry["data_subjects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|s| s.len() <= SUBJECT_BYTES_MAX)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let pending = Pending {
            message_id: message_id.to_owned(),
            subjects,
            entry: entry.to_string(),
            bodies,
            ack,
        };
        self.tx
            .send(pending)
            .await
            .map_err(|_| "message log writer stopped".to_owned())?;
        done.await
            .map_err(|_| "message log writer stopped".to_owned())?
    }

    pub fn size(&self) -> u64 {
        self.tree.read().map_or(0, |t| t.size())
    }

    /// The registry snapshot (signed JSON) the node last installed, if any.
    pub async fn saved_snapshot(&self) -> Result<Option<String>, String> {
        let row = sqlx::query("SELECT signed FROM node_registry_snapshot WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| format!("reading the saved registry snapshot: {e}"))?;
        row.map(|r| r.try_get::<String, _>(0).map_err(|e| e.to_string()))
            .transpose()
    }

    /// Keeps an installed registry snapshot; an older one — a lower version, or the same
    /// version issued earlier — never replaces a newer one.
    pub async fn save_snapshot(
        &self,
        version: u64,
        issued_at: u64,
        signed: &str,
    ) -> Result<(), String> {
        let sql = self.store.sql("INSERT INTO node_registry_snapshot (id, version, issued_at, signed) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, issued_at = excluded.issued_at, signed = excluded.signed WHERE excluded.version > node_registry_snapshot.version OR (excluded.version = node_registry_snapshot.version AND excluded.issued_at > node_registry_snapshot.issued_at)");
        sqlx::query(&sql)
            .bind(version as i64)
            .bind(issued_at as i64)
            .bind(signed.to_owned())
            .execute(&self.pool)
            .await
            .map_err(|e| format!("saving the registry snapshot: {e}"))?;
        Ok(())
    }

    /// Keeps the signed snapshot that announced the registry's next key: the evidence a
    /// restarted node follows from its configured key to the one the registry signs with now.
    pub async fn save_key_announcement(&self, key: &str, signed: &str) -> Result<(), String> {
        let sql = self.store.sql("INSERT INTO node_registry_keys (registry_key, announced_by) VALUES (?, ?) ON CONFLICT (registry_key) DO NOTHING");
        sqlx::query(&sql)
            .bind(key.to_owned())
            .bind(signed.to_owned())
            .execute(&self.pool)
            .await
            .map_err(|e| format!("saving the registry's next key: {e}"))?;
        Ok(())
    }

    /// Every saved announcement: (announced key, the signed snapshot that announced it).
    pub async fn key_announcements(&self) -> Result<Vec<(String, String)>, String> {
        let rows = sqlx::query("SELECT registry_key, announced_by FROM node_registry_keys")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| format!("reading the registry's announced keys: {e}"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0).map_err(|e| e.to_string())?,
                    r.try_get::<String, _>(1).map_err(|e| e.to_string())?,
                ))
            })
            .collect()
    }

    pub async fn close(self) {
        drop(self.tx);
        self.pool.close().await;
    }
}

async fn writer(
    store: Store,
    pool: AnyPool,
    tree: Arc<RwLock<MerkleTree>>,
    key: SigningKey,
    notes: Option<Arc<LogNotes>>,
    mut rx: mpsc::Receiver<Pending>,
) {
    // After a failed commit the in-memory tree may hold leaves the disk does not: the log
    // fails closed — every append is refused — until the stored log again matches its latest
    // signed checkpoint (checked at most once a second); then the tree is rebuilt from disk
    // and appends resume, with no restart. Nothing answered was lost: a failed batch's
    // callers were refused.
    let mut broken: Option<(String, Option<std::time::Instant>)> = None;
    let public_key = key.public_b64();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH_ENTRIES_MAX {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        if let Some((e, tried)) = &mut broken {
            let due = tried.is_none_or(|t| t.elapsed() >= REOPEN_EVERY);
            if due {
                *tried = Some(std::time::Instant::now());
                match reopen(&pool, &tree, &public_key).await {
                    Ok(()) => {
                        tracing::warn!(error = %e, "message log verified again after a failed commit: appends resume");
                        broken = None;
                    }
                    Err(why) => tracing::warn!(error = %why, "message log still unusable"),
                }
            }
        }
        let result = match &broken {
            Some((e, _)) => Err(format!(
                "message log failed ({e}); appends resume once the stored log verifies again"
            )),
            None => commit(store, &pool, &tree, &key, notes.as_deref(), &batch).await,
        };
        if let Err(e) = &result {
            if broken.is_none() {
                broken = Some((e.clone(), Some(std::time::Instant::now())));
            }
        }
        for (i, p) in batch.into_iter().enumerate() {
            let _ = p.ack.send(result.clone().map(|start| start + i as u64));
        }
    }
}

/// How often a log that failed a commit is checked for whether it can be used again.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Rebuilds the tree from disk and checks it against the latest signed checkpoint; on
/// success the in-memory tree is replaced (the leaves of failed batches are dropped).
async fn reopen(
    pool: &AnyPool,
    tree: &Arc<RwLock<MerkleTree>>,
    public_key: &str,
) -> Result<(), String> {
    let loaded = load_tree(pool, "message log").await?;
    check_head(pool, "message log", &loaded, public_key).await?;
    match tree.write() {
        Ok(mut t) => {
            *t = loaded;
            Ok(())
        }
        Err(_) => Err("the in-memory tree is poisoned".into()),
    }
}

/// Rows per INSERT statement (4 bound values each, well under SQLite's variable limit).
const ROWS_PER_STATEMENT: usize = 256;

/// Appends the batch to the tree, writes entries, bodies and the signed checkpoint in one
/// transaction, and returns the index of the first entry once committed.
async fn commit(
    store: Store,
    pool: &AnyPool,
    tree: &RwLock<MerkleTree>,
    key: &SigningKey,
    notes: Option<&LogNotes>,
    batch: &[Pending],
) -> Result<u64, String> {
    let err = |e: sqlx::Error| format!("message log: {e}");
    let leaves: Vec<_> = batch
        .iter()
        .map(|p| leaf_hash(p.entry.as_bytes()))
        .collect();
    let (start, checkpoint) = {
        let mut t = tree.write().map_err(|_| "tree lock poisoned".to_owned())?;
        let start = t.size();
        for leaf in &leaves {
            t.append_leaf_hash(*leaf);
        }
        (start, t.checkpoint(lienthong_core::time::now_s() * 1000))
    };
    let signature = key.sign(&checkpoint.to_signing_bytes());
    let note = notes.map(|n| n.sign(checkpoint.size, checkpoint.root));
    let mut tx = pool.begin().await.map_err(err)?;
    for (chunk_no, chunk) in batch.chunks(ROWS_PER_STATEMENT).enumerate() {
        let values = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = store.sql(&format!(
            "INSERT INTO log_entries (idx, message_id, entry, leaf_hash) VALUES {values}"
        ));
        let mut q = sqlx::query(&sql);
        for (i, p) in chunk.iter().enumerate() {
            let n = chunk_no * ROWS_PER_STATEMENT + i;
            q = q
                .bind((start + n as u64) as i64)
                .bind(p.message_id.clone())
                .bind(p.entry.clone())
                .bind(hash_to_hex(&leaves[n]));
        }
        q.execute(&mut *tx).await.map_err(err)?;
    }
    // The index by person: one row per (person, entry), in the same transaction.
    let rows: Vec<(&str, i64)> = batch
        .iter()
        .enumerate()
        .flat_map(|(n, p)| {
            p.subjects
                .iter()
                .map(move |s| (s.as_str(), (start + n as u64) as i64))
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values = vec!["(?, ?)"; chunk.len()].join(", ");
        let sql = store.sql(&format!(
            "INSERT INTO log_subjects (subject, idx) VALUES {values}"
        ));
        let mut q = sqlx::query(&sql);
        for (subject, idx) in chunk {
            q = q.bind(subject.to_string()).bind(*idx);
        }
        q.execute(&mut *tx).await.map_err(err)?;
    }
    let now_ms = lienthong_core::time::now_ms() as i64;
    for (n, p) in batch.iter().enumerate() {
        for (sha, body) in &p.bodies {
            sqlx::query(
                &store.sql(
                    "INSERT INTO log_bodies (sha256, body, stored_at_ms, last_idx) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET stored_at_ms = excluded.stored_at_ms, last_idx = excluded.last_idx",
                ),
            )
            .bind(sha.clone())
            .bind(body.clone())
            .bind(now_ms)
            .bind((start + n as u64) as i64)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
    }
    sqlx::query(
        &store.sql(
            "INSERT INTO log_checkpoints (size, root, timestamp, signature, note) VALUES (?, ?, ?, ?, ?)",
        ),
    )
    .bind(checkpoint.size as i64)
    .bind(hash_to_hex(&checkpoint.root))
    .bind(checkpoint.timestamp as i64)
    .bind(signature)
    .bind(note.as_ref().map(|n| n.note.to_string()))
    .execute(&mut *tx)
    .await
    .map_err(err)?;
    tx.commit().await.map_err(err)?;
    // Shown to others only once durable.
    if let (Some(notes), Some(note)) = (notes, note) {
        notes.publish(note);
    }
    Ok(start)
}
