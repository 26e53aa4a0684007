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

/// Entries waiting for the writer, at most; callers wait when it is full.
pub const QUEUE_ENTRIES_MAX: usize = 65_536;
/// Entries committed in one transaction, at most.
pub const BATCH_ENTRIES_MAX: usize = 4_096;

type Ack = oneshot::Sender<Result<u64, String>>;

struct Pending {
    message_id: String,
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

async fn connect(location: &str) -> Result<AnyPool, String> {
    sqlx::any::install_default_drivers();
    let store = Store::of(location);
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
        format!("CREATE TABLE IF NOT EXISTS node_registry_snapshot (id {int} PRIMARY KEY, version {int} NOT NULL, issued_at {int} NOT NULL, signed TEXT NOT NULL)"),
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
        let pool = connect(path).await?;
        let store = Store::of(path);
        let lock = match store {
            Store::Postgres => Some(writer_lock(&pool, path).await?),
            Store::Sqlite => None,
        };
        let tree = load_tree(&pool, path).await?;
        check_head(&pool, path, &tree, &key.public_b64()).await?;
        let tree = Arc::new(RwLock::new(tree));
        let (tx, rx) = mpsc::channel(QUEUE_ENTRIES_MAX);
        let (wpool, wtree) = (pool.clone(), tree.clone());
        tokio::spawn(async move {
            writer(store, wpool, wtree, key, rx).await;
            drop(lock);
        });
        Ok(MessageLog {
            tx,
            tree,
            pool,
            store,
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
        let pending = Pending {
            message_id: message_id.to_owned(),
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
    mut rx: mpsc::Receiver<Pending>,
) {
    // After a failed commit the in-memory tree may hold leaves the disk does not: the log
    // fails closed (every later append is refused) until the node restarts and rebuilds the
    // tree from what is on disk.
    let mut broken: Option<String> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH_ENTRIES_MAX {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let result = match &broken {
            Some(e) => Err(format!(
                "message log failed earlier ({e}); restart the node"
            )),
            None => commit(store, &pool, &tree, &key, &batch).await,
        };
        if let Err(e) = &result {
            broken.get_or_insert_with(|| e.clone());
        }
        for (i, p) in batch.into_iter().enumerate() {
            let _ = p.ack.send(result.clone().map(|start| start + i as u64));
        }
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
        (start, t.checkpoint(crate::snapshot::now_s() * 1000))
    };
    let signature = key.sign(&checkpoint.to_signing_bytes());
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
    let now_ms = crate::snapshot::now_ms() as i64;
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
            "INSERT INTO log_checkpoints (size, root, timestamp, signature) VALUES (?, ?, ?, ?)",
        ),
    )
    .bind(checkpoint.size as i64)
    .bind(hash_to_hex(&checkpoint.root))
    .bind(checkpoint.timestamp as i64)
    .bind(signature)
    .execute(&mut *tx)
    .await
    .map_err(err)?;
    tx.commit().await.map_err(err)?;
    Ok(start)
}

/// What `lienthong log verify` found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub entries: u64,
    pub checkpoints: u64,
    /// Entries whose content was moved to archive files (their leaf hashes stay).
    pub archived: u64,
}

/// Opens an existing log read-only (verification and export must not change what they inspect).
async fn connect_ro(path: &str) -> Result<AnyPool, String> {
    sqlx::any::install_default_drivers();
    if Store::of(path) == Store::Postgres {
        return AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET default_transaction_read_only = on")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(path)
            .await
            .map_err(|e| format!("message log {path}: {e}"));
    }
    if !std::path::Path::new(path).exists() {
        return Err(format!("no message log at {path}"));
    }
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{path}?mode=ro"))
        .await
        .map_err(|e| format!("message log {path}: {e}"))
}

/// Re-derives every leaf and every checkpoint root from the stored entries and checks every
/// checkpoint signature: any changed byte in an entry, a leaf hash or a checkpoint is found,
/// and so are two checkpoints of the same size with different roots (a split view).
pub async fn verify(path: &str, public_key: &str) -> Result<VerifyReport, String> {
    let pool = connect_ro(path).await?;
    let rows = sqlx::query("SELECT idx, entry, leaf_hash FROM log_entries ORDER BY idx")
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
    // Logs from before archiving have no archive table: nothing is archived there.
    let archived_through: i64 = sqlx::query("SELECT COALESCE(MAX(to_idx), 0) FROM log_archives")
        .fetch_one(&pool)
        .await
        .and_then(|r| r.try_get(0))
        .unwrap_or(0);
    let mut archived = 0;
    let mut tree = MerkleTree::with_capacity(rows.len());
    for (n, row) in rows.iter().enumerate() {
        let idx: i64 = row.try_get(0).map_err(|e| e.to_string())?;
        let entry: String = row.try_get(1).map_err(|e| e.to_string())?;
        let stored: String = row.try_get(2).map_err(|e| e.to_string())?;
        if idx as usize != n {
            return Err(format!("entry {n} is missing (next stored index is {idx})"));
        }
        let leaf = if entry.is_empty() {
            // Archived: the content is in an archive file (`log verify-archive`); an empty
            // entry anywhere else is a deletion.
            if idx >= archived_through {
                return Err(format!(
                    "entry {idx}: content is gone but no archive covers it"
                ));
            }
            archived += 1;
            hash_from_hex(&stored).ok_or(format!("entry {idx}: malformed leaf hash"))?
        } else {
            let leaf = leaf_hash(entry.as_bytes());
            if hash_to_hex(&leaf) != stored {
                return Err(format!(
                    "entry {idx}: content does not match its leaf hash (entry or hash changed)"
                ));
            }
            leaf
        };
        tree.append_leaf_hash(leaf);
    }
    let checkpoints = sqlx::query(
        "SELECT size, root, timestamp, signature FROM log_checkpoints ORDER BY size, timestamp",
    )
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    for row in &checkpoints {
        let size: i64 = row.try_get(0).map_err(|e| e.to_string())?;
        let root: String = row.try_get(1).map_err(|e| e.to_string())?;
        let timestamp: i64 = row.try_get(2).map_err(|e| e.to_string())?;
        let signature: String = row.try_get(3).map_err(|e| e.to_string())?;
        let root =
            hash_from_hex(&root).ok_or(format!("checkpoint at size {size}: malformed root"))?;
        let cp = Checkpoint {
            size: size as u64,
            root,
            timestamp: timestamp as u64,
        };
        lienthong_trust::verify(public_key, &cp.to_signing_bytes(), &signature).map_err(|_| {
            format!("checkpoint at size {size}: signature does not verify with the given key")
        })?;
        let derived = tree
            .root_at(cp.size)
            .map_err(|e| format!("checkpoint at size {size}: {e}"))?;
        if derived != cp.root {
            return Err(format!(
                "checkpoint at size {size}: root differs from the one derived from the entries"
            ));
        }
        seen.push(cp);
    }
    if let Some(split) = lienthong_ledger::find_split_view(seen.iter()) {
        return Err(format!(
            "split view: two checkpoints of size {} with different roots",
            split.size
        ));
    }
    // Entries are committed with their checkpoint: one past the last signed checkpoint was
    // added behind the writer's back.
    let covered = seen.iter().map(|c| c.size).max().unwrap_or(0);
    if (rows.len() as u64) > covered {
        return Err(format!(
            "entries {covered}..{} are under no signed checkpoint (added outside the node)",
            rows.len()
        ));
    }
    // The archive table is not signed: its ranges must follow each other from 0, end at
    // signed checkpoints, and their files must be there and verify.
    if archived > 0 {
        let ranges = sqlx::query(
            "SELECT from_idx, to_idx, file, file_sha256 FROM log_archives ORDER BY from_idx",
        )
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
        let mut next = 0i64;
        for r in &ranges {
            let (from, to): (i64, i64) = (
                r.try_get(0).map_err(|e| e.to_string())?,
                r.try_get(1).map_err(|e| e.to_string())?,
            );
            let file: String = r.try_get(2).map_err(|e| e.to_string())?;
            let sha: String = r.try_get(3).map_err(|e| e.to_string())?;
            if from != next || to <= from || !seen.iter().any(|c| c.size == to as u64) {
                return Err(format!(
                    "archive record {from}..{to} does not continue the one before or does not end at a signed checkpoint"
                ));
            }
            let text = std::fs::read(&file).map_err(|e| {
                format!("archive file {file} (entries {from}..{to}) cannot be read: {e}")
            })?;
            if lienthong_trust::sha256_hex(&text) != sha {
                return Err(format!(
                    "archive file {file} is not the file that was archived"
                ));
            }
            let (f, t) = check_archive(&text, Some(public_key))?;
            if (f, t) != (from as u64, to as u64) {
                return Err(format!(
                    "archive file {file} holds {f}..{t}, not {from}..{to}"
                ));
            }
            // Its entries are the tree's leaves there.
            next = to;
        }
    }
    pool.close().await;
    Ok(VerifyReport {
        entries: rows.len() as u64,
        checkpoints: checkpoints.len() as u64,
        archived,
    })
}

/// A self-contained evidence document for one exchange: the entry, its inclusion proof to a
/// signed checkpoint, and the key that signed it.
pub async fn evidence(path: &str, message_id: &str, public_key: &str) -> Result<Value, String> {
    let pool = connect_ro(path).await?;
    // Several entries can share a message id (a refusal of a replay, a junk call reusing a
    // real id): the evidence is the first one whose recorded signatures verify.
    let rows = sqlx::query(
        &Store::of(path)
            .sql("SELECT idx, entry FROM log_entries WHERE message_id = ? ORDER BY idx"),
    )
    .bind(message_id.to_owned())
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string())?;
    let decoded: Vec<(i64, String)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.try_get::<i64, _>(0).ok()?,
                r.try_get::<String, _>(1).ok()?,
            ))
        })
        .collect();
    let (idx, entry) = decoded
        .iter()
        .find(|(_, e)| {
            serde_json::from_str::<Value>(e)
                .ok()
                .is_some_and(|v| crate::record::verify_signatures(&v).is_ok())
        })
        .or(decoded.first())
        .cloned()
        .ok_or(format!(
            "no exchange with message id {message_id:?} in {path}"
        ))?;
    if entry.is_empty() {
        return Err(format!(
            "the exchange {message_id:?} (entry {idx}) was archived: its evidence is the archive file (lienthong log verify-archive)"
        ));
    }
    let cp = sqlx::query(&Store::of(path).sql("SELECT size, root, timestamp, signature FROM log_checkpoints WHERE size > ? ORDER BY size DESC, timestamp DESC LIMIT 1"))
        .bind(idx)
        .fetch_optional(&pool)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no checkpoint covers the entry yet")?;
    let tree = load_tree(&pool, path).await?;
    let size: i64 = cp.try_get(0).map_err(|e| e.to_string())?;
    let proof = tree
        .inclusion_proof(idx as u64, size as u64)
        .map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(json!({
        "format": "lienthong-evidence/v1",
        "entry": entry,
        "index": idx,
        "inclusion_proof": proof.iter().map(hash_to_hex).collect::<Vec<_>>(),
        "checkpoint": {
            "size": size,
            "root": cp.try_get::<String, _>(1).map_err(|e| e.to_string())?,
            "timestamp": cp.try_get::<i64, _>(2).map_err(|e| e.to_string())?,
            "signature": cp.try_get::<String, _>(3).map_err(|e| e.to_string())?,
        },
        "log_public_key": public_key,
    }))
}

/// Checks an evidence document offline with a pinned log key: the checkpoint signature, the
/// entry's inclusion under the checkpoint root, and the two member signatures recorded in
/// the entry (request and response). Returns the entry.
pub fn verify_evidence(doc: &Value, public_key: &str) -> Result<Value, String> {
    let field =
        |v: &Value, name: &str| v.get(name).cloned().ok_or(format!("evidence lacks {name}"));
    let s = |v: Value, name: &str| {
        v.as_str()
            .map(str::to_owned)
            .ok_or(format!("evidence {name} is not a string"))
    };
    let n = |v: Value, name: &str| v.as_u64().ok_or(format!("evidence {name} is not a number"));
    if doc.get("format").and_then(Value::as_str) != Some("lienthong-evidence/v1") {
        return Err("not a lienthong-evidence/v1 document".into());
    }
    let entry = s(field(doc, "entry")?, "entry")?;
    let index = n(field(doc, "index")?, "index")?;
    let cp = field(doc, "checkpoint")?;
    let checkpoint = Checkpoint {
        size: n(field(&cp, "size")?, "checkpoint.size")?,
        root: hash_from_hex(&s(field(&cp, "root")?, "checkpoint.root")?)
            .ok_or("checkpoint root is not a hash")?,
        timestamp: n(field(&cp, "timestamp")?, "checkpoint.timestamp")?,
    };
    lienthong_trust::verify(
        public_key,
        &checkpoint.to_signing_bytes(),
        &s(field(&cp, "signature")?, "checkpoint.signature")?,
    )
    .map_err(|_| "the checkpoint signature does not verify with the given log key".to_owned())?;
    let proof = field(doc, "inclusion_proof")?
        .as_array()
        .ok_or("inclusion_proof is not a list")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(hash_from_hex)
                .ok_or("inclusion_proof holds a non-hash")
        })
        .collect::<Result<Vec<_>, _>>()?;
    lienthong_ledger::verify_inclusion(
        &leaf_hash(entry.as_bytes()),
        index,
        checkpoint.size,
        &proof,
        &checkpoint.root,
    )
    .map_err(|e| format!("the entry is not in the log under this checkpoint: {e}"))?;
    let record: Value =
        serde_json::from_str(&entry).map_err(|e| format!("entry is not JSON: {e}"))?;
    crate::record::verify_signatures(&record)?;
    Ok(record)
}

/// What [`archive`] moved out of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveReport {
    pub from: u64,
    pub to: u64,
    pub bodies: u64,
    pub file: std::path::PathBuf,
}

/// Where an archive ends.
#[derive(Debug, Clone, Copy)]
pub enum ArchiveUntil {
    /// At most this many entries from the start of the log.
    Size(u64),
    /// Every entry under checkpoints signed before this time (ms since the epoch).
    Before(u64),
}

const ARCHIVE_FORMAT: &str = "lienthong-archive/v1";

/// The body hashes an entry names (request and response).
fn body_hashes(entry: &str) -> Vec<String> {
    serde_json::from_str::<Value>(entry)
        .ok()
        .map(|v| {
            ["request_body_sha256", "response_body_sha256"]
                .iter()
                .filter_map(|k| v[*k].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Moves the entries after the last archive up to a signed checkpoint (the largest that
/// `until` allows) into a self-verifying archive file in `dir`: a header with the
/// checkpoint and the compact range of the entries before the first one, then the entries,
/// then the bodies only they reference. Only after the file is written, synced and checked
/// does the log drop those entries' content (their leaf hashes stay, so every checkpoint and
/// every later proof still verifies) and those bodies. `None`: nothing to archive.
pub async fn archive(
    path: &str,
    until: ArchiveUntil,
    dir: &std::path::Path,
) -> Result<Option<ArchiveReport>, String> {
    use base64::Engine;
    use std::io::Write;
    if Store::of(path) == Store::Sqlite && !std::path::Path::new(path).exists() {
        return Err(format!("no message log at {path}"));
    }
    let store = Store::of(path);
    let pool = connect(path).await?;
    let e = |e: sqlx::Error| format!("message log {path}: {e}");
    let from: i64 = sqlx::query("SELECT COALESCE(MAX(to_idx), 0) FROM log_archives")
        .fetch_one(&pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(e)?;
    let (sql, bound) = match until {
        ArchiveUntil::Size(n) => ("SELECT size, root, timestamp, signature FROM log_checkpoints WHERE size <= ? ORDER BY size DESC, timestamp DESC LIMIT 1", n as i64),
        ArchiveUntil::Before(ms) => ("SELECT size, root, timestamp, signature FROM log_checkpoints WHERE timestamp < ? ORDER BY size DESC, timestamp DESC LIMIT 1", ms as i64),
    };
    let Some(cp) = sqlx::query(&store.sql(sql))
        .bind(bound)
        .fetch_optional(&pool)
        .await
        .map_err(e)?
    else {
        return Ok(None);
    };
    let to: i64 = cp.try_get(0).map_err(e)?;
    if to <= from {
        return Ok(None);
    }
    let tree = load_tree(&pool, path).await?;
    let frontier = tree.frontier(from as u64).map_err(|x| x.to_string())?;
    let rows = sqlx::query(&store.sql(
        "SELECT idx, message_id, entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&pool)
    .await
    .map_err(e)?;
    let mut archived_shas = std::collections::BTreeSet::new();
    let mut lines = Vec::with_capacity(rows.len() + 1);
    lines.push(json!({
        "format": ARCHIVE_FORMAT,
        "from": from,
        "to": to,
        "frontier": frontier.iter().map(hash_to_hex).collect::<Vec<_>>(),
        "checkpoint": {
            "size": to,
            "root": cp.try_get::<String, _>(1).map_err(e)?,
            "timestamp": cp.try_get::<i64, _>(2).map_err(e)?,
            "signature": cp.try_get::<String, _>(3).map_err(e)?,
        },
    }));
    for r in &rows {
        let entry: String = r.try_get(2).map_err(e)?;
        archived_shas.extend(body_hashes(&entry));
        lines.push(json!({ "index": r.try_get::<i64, _>(0).map_err(e)?, "message_id": r.try_get::<String, _>(1).map_err(e)?, "entry": entry }));
    }
    // Bodies go with their entries unless a later entry references them too (each store
    // records the entry: `last_idx`), checked again inside the delete.
    let mut moved = Vec::new();
    for sha in &archived_shas {
        if let Some(r) =
            sqlx::query(&store.sql("SELECT body FROM log_bodies WHERE sha256 = ? AND last_idx < ?"))
                .bind(sha.clone())
                .bind(to)
                .fetch_optional(&pool)
                .await
                .map_err(e)?
        {
            let body: Vec<u8> = r.try_get(0).map_err(e)?;
            lines.push(json!({ "body_sha256": sha, "body_base64": base64::engine::general_purpose::STANDARD.encode(&body) }));
            moved.push(sha.clone());
        }
    }
    let mut text = Vec::new();
    for l in &lines {
        text.extend_from_slice(l.to_string().as_bytes());
        text.push(b'\n');
    }
    // The file must prove what it holds before the log lets go of it.
    check_archive(&text, None)?;
    std::fs::create_dir_all(dir).map_err(|x| format!("creating {}: {x}", dir.display()))?;
    let file = dir.join(format!("log-{from:012}-{to:012}.jsonl"));
    let tmp = file.with_extension("jsonl.tmp");
    {
        let mut f =
            std::fs::File::create(&tmp).map_err(|x| format!("writing {}: {x}", tmp.display()))?;
        f.write_all(&text)
            .map_err(|x| format!("writing {}: {x}", tmp.display()))?;
        f.sync_all()
            .map_err(|x| format!("syncing {}: {x}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &file).map_err(|x| format!("renaming {}: {x}", tmp.display()))?;
    let mut tx = pool.begin().await.map_err(e)?;
    sqlx::query(&store.sql("UPDATE log_entries SET entry = '' WHERE idx >= ? AND idx < ?"))
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    for sha in &moved {
        sqlx::query(&store.sql("DELETE FROM log_bodies WHERE sha256 = ? AND last_idx < ?"))
            .bind(sha.clone())
            .bind(to)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
    }
    sqlx::query(&store.sql("INSERT INTO log_archives (from_idx, to_idx, file, file_sha256, at_ms) VALUES (?, ?, ?, ?, ?)"))
        .bind(from)
        .bind(to)
        .bind(file.display().to_string())
        .bind(lienthong_trust::sha256_hex(&text))
        .bind(crate::snapshot::now_s() as i64 * 1000)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    tx.commit().await.map_err(e)?;
    pool.close().await;
    Ok(Some(ArchiveReport {
        from: from as u64,
        to: to as u64,
        bodies: moved.len() as u64,
        file,
    }))
}

/// Checks an archive file offline with a pinned log key: its entries, folded onto the
/// compact range of the entries before them, give the root of the signed checkpoint; every
/// body matches its hash. Returns (first index, end index).
pub fn verify_archive(file: &std::path::Path, public_key: &str) -> Result<(u64, u64), String> {
    let text = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    check_archive(&text, Some(public_key))
}

fn check_archive(text: &[u8], public_key: Option<&str>) -> Result<(u64, u64), String> {
    use base64::Engine;
    let text = std::str::from_utf8(text).map_err(|_| "archive is not UTF-8".to_owned())?;
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().ok_or("empty archive")?)
        .map_err(|e| format!("archive header: {e}"))?;
    if header["format"] != ARCHIVE_FORMAT {
        return Err(format!("not a {ARCHIVE_FORMAT} file"));
    }
    let num = |v: &Value, what: &str| v.as_u64().ok_or(format!("archive {what} is not a number"));
    let (from, to) = (num(&header["from"], "from")?, num(&header["to"], "to")?);
    let cp = &header["checkpoint"];
    let checkpoint = Checkpoint {
        size: num(&cp["size"], "checkpoint.size")?,
        root: cp["root"]
            .as_str()
            .and_then(hash_from_hex)
            .ok_or("archive checkpoint root is not a hash")?,
        timestamp: num(&cp["timestamp"], "checkpoint.timestamp")?,
    };
    if checkpoint.size != to || from >= to {
        return Err(format!(
            "archive range {from}..{to} does not end at its checkpoint"
        ));
    }
    if let Some(key) = public_key {
        lienthong_trust::verify(
            key,
            &checkpoint.to_signing_bytes(),
            cp["signature"].as_str().unwrap_or(""),
        )
        .map_err(|_| {
            "the archive's checkpoint signature does not verify with the given log key".to_owned()
        })?;
    }
    let frontier = header["frontier"]
        .as_array()
        .ok_or("archive frontier is not a list")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(hash_from_hex)
                .ok_or("archive frontier holds a non-hash")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut leaves = Vec::with_capacity((to - from).min(1 << 20) as usize);
    for line in lines {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("archive line: {e}"))?;
        if let Some(entry) = v["entry"].as_str() {
            if v["index"].as_u64() != Some(from + leaves.len() as u64) {
                return Err(format!("archive entry {} is out of order", v["index"]));
            }
            leaves.push(leaf_hash(entry.as_bytes()));
        } else if let Some(sha) = v["body_sha256"].as_str() {
            let body = base64::engine::general_purpose::STANDARD
                .decode(v["body_base64"].as_str().unwrap_or(""))
                .map_err(|_| format!("archive body {sha} is not base64"))?;
            if lienthong_trust::sha256_hex(&body) != sha {
                return Err(format!("archive body {sha} does not match its hash"));
            }
        } else {
            return Err("archive line is neither an entry nor a body".into());
        }
    }
    if leaves.len() as u64 != to - from {
        return Err(format!(
            "archive holds {} entries for a range of {}",
            leaves.len(),
            to - from
        ));
    }
    let root = lienthong_ledger::root_from_frontier(&frontier, from, &leaves)
        .map_err(|e| format!("archive frontier: {e}"))?;
    if root != checkpoint.root {
        return Err(
            "the archive's entries do not give its checkpoint's root (an entry changed)".into(),
        );
    }
    Ok((from, to))
}

/// Deletes bodies stored before `before_ms` (personal data kept no longer than the
/// retention asks); the tree is untouched. Returns how many went.
pub async fn prune_bodies(path: &str, before_ms: u64) -> Result<u64, String> {
    if Store::of(path) == Store::Sqlite && !std::path::Path::new(path).exists() {
        return Err(format!("no message log at {path}"));
    }
    let pool = connect(path).await?;
    let n = sqlx::query(&Store::of(path).sql("DELETE FROM log_bodies WHERE stored_at_ms < ?"))
        .bind(before_ms as i64)
        .execute(&pool)
        .await
        .map_err(|e| format!("message log {path}: {e}"))?
        .rows_affected();
    pool.close().await;
    Ok(n)
}
