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
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

mod archive;
mod audit;
mod documents;
mod incidents;
mod reader;
mod sqlite_writer;
mod store;
mod witnessed;
mod writer;

pub use archive::*;
pub use audit::*;
pub use documents::{issued_documents, set_document_status, IssuedDocument};
pub use incidents::{incidents, open_incident, records, update_incident};
pub use reader::{LogEntry, LogReader};
pub use store::SQLITE_PAGE_SIZE;
use store::{connect, writer_lock, Store};
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
    /// A SQLite file's writer thread, joined by the last handle's `close`.
    writer: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
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
        let mut thread = None;
        if store == Store::Sqlite && !path.starts_with(":memory:") {
            thread = Some(sqlite_writer::spawn(path, wpool, wtree, key, wnotes, rx)?);
        } else {
            tokio::spawn(async move {
                writer::task(store, wpool, wtree, key, wnotes, rx).await;
                drop(lock);
            });
        }
        Ok(MessageLog {
            tx,
            tree,
            pool,
            store,
            notes,
            writer: Arc::new(std::sync::Mutex::new(thread)),
        })
    }

    /// Appends one record given as JSON (a refusal, an incident); returns its index once it
    /// is durable. The persons it names are its `data_subjects`.
    pub async fn append(
        &self,
        message_id: &str,
        entry: &Value,
        bodies: Vec<(String, Vec<u8>)>,
    ) -> Result<u64, String> {
        let subjects = entry["data_subjects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let entry = crate::record::Entry {
            text: entry.to_string(),
            subjects,
        };
        self.append_entry(message_id, entry, bodies).await
    }

    /// Appends one exchange record as it is stored; returns its index once it is durable.
    pub async fn append_entry(
        &self,
        message_id: &str,
        entry: crate::record::Entry,
        bodies: Vec<(String, Vec<u8>)>,
    ) -> Result<u64, String> {
        let (ack, done) = oneshot::channel();
        let crate::record::Entry { text, mut subjects } = entry;
        subjects.retain(|s| s.len() <= SUBJECT_BYTES_MAX);
        let pending = Pending {
            message_id: message_id.to_owned(),
            subjects,
            entry: text,
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

    /// Stops appends through this handle and closes the pool; the last handle also waits
    /// for a SQLite file's writer thread to commit what it holds and close its connection, so
    /// that the file is closed when this returns.
    pub async fn close(self) {
        let last = self.tx.strong_count() == 1;
        drop(self.tx);
        let thread = if last {
            self.writer.lock().ok().and_then(|mut w| w.take())
        } else {
            None
        };
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.pool.close().await;
    }
}
