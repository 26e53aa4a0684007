//! The log's writer, apart from where it runs: batches gathered from the queue, appended to
//! the in-memory tree with a signed checkpoint (`Prepared`), written in one transaction, each
//! caller answered; the fail-closed state after a failed commit (`Health`). The writer task
//! here commits through the pool (PostgreSQL, an in-memory SQLite log); a SQLite file's
//! writer thread is `sqlite_writer.rs`.

use std::sync::{Arc, RwLock};

use lienthong_ledger::{hash_to_hex, leaf_hash, Checkpoint, MerkleTree};
use lienthong_trust::SigningKey;
use sqlx::AnyPool;
use tokio::sync::mpsc;

use super::store::Store;
use super::{check_head, load_tree, LatestNote, LogNotes, Pending, BATCH_ENTRIES_MAX};

/// The writer task (PostgreSQL, or an in-memory SQLite log): takes every waiting entry and
/// commits them in one transaction through the pool.
pub(super) async fn task(
    store: Store,
    pool: AnyPool,
    tree: Arc<RwLock<MerkleTree>>,
    key: SigningKey,
    notes: Option<Arc<LogNotes>>,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut health = Health::new(key.public_b64());
    while let Some(first) = rx.recv().await {
        let batch = gather(first, &mut rx);
        if health.reopen_due() {
            let reopened = reopen(&pool, &tree, &health.public_key).await;
            health.reopened(reopened);
        }
        let result = match health.refusal() {
            Some(refused) => Err(refused),
            None => commit(store, &pool, &tree, &key, notes.as_deref(), &batch).await,
        };
        health.record(&result);
        answer(batch, result);
    }
}

/// The first waiting entry and every other one waiting behind it, up to a batch.
pub(super) fn gather(first: Pending, rx: &mut mpsc::Receiver<Pending>) -> Vec<Pending> {
    let mut batch = vec![first];
    while batch.len() < BATCH_ENTRIES_MAX {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
    batch
}

/// Each caller learns its entry's index, or why the batch was refused.
pub(super) fn answer(batch: Vec<Pending>, result: Result<u64, String>) {
    for (i, p) in batch.into_iter().enumerate() {
        let _ = p.ack.send(result.clone().map(|start| start + i as u64));
    }
}

/// Whether a writer may commit. After a failed commit the in-memory tree may hold leaves
/// the disk does not: the log fails closed — every append is refused — until the stored log
/// again matches its latest signed checkpoint (checked at most once a second); then the
/// tree is rebuilt from disk and appends resume, with no restart. Nothing answered was
/// lost: a failed batch's callers were refused.
pub(super) struct Health {
    pub(super) public_key: String,
    broken: Option<(String, Option<std::time::Instant>)>,
}

impl Health {
    pub(super) fn new(public_key: String) -> Health {
        Health {
            public_key,
            broken: None,
        }
    }

    /// Whether to check now whether a failed log verifies again.
    pub(super) fn reopen_due(&mut self) -> bool {
        match &mut self.broken {
            Some((_, tried)) if tried.is_none_or(|t| t.elapsed() >= REOPEN_EVERY) => {
                *tried = Some(std::time::Instant::now());
                true
            }
            _ => false,
        }
    }

    pub(super) fn reopened(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => {
                if let Some((e, _)) = self.broken.take() {
                    tracing::warn!(error = %e, "message log verified again after a failed commit: appends resume");
                }
            }
            Err(why) => tracing::warn!(error = %why, "message log still unusable"),
        }
    }

    /// Why appends are refused now, if they are.
    pub(super) fn refusal(&self) -> Option<String> {
        self.broken.as_ref().map(|(e, _)| {
            format!("message log failed ({e}); appends resume once the stored log verifies again")
        })
    }

    pub(super) fn record(&mut self, result: &Result<u64, String>) {
        if let (Err(e), None) = (result, &self.broken) {
            self.broken = Some((e.clone(), Some(std::time::Instant::now())));
        }
    }
}

/// How often a log that failed a commit is checked for whether it can be used again.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Rebuilds the tree from disk and checks it against the latest signed checkpoint; on
/// success the in-memory tree is replaced (the leaves of failed batches are dropped).
pub(super) async fn reopen(
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
pub(super) const ROWS_PER_STATEMENT: usize = 256;

/// A value bound in a commit's statements.
enum Arg {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    Blob(Vec<u8>),
}

fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    args.into_iter().fold(query, |q, arg| match arg {
        Arg::Int(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::OptText(v) => q.bind(v),
        Arg::Blob(v) => q.bind(v),
    })
}

/// Runs `statements` in one transaction. On SQLite they go to its connection's thread as
/// one script, `BEGIN IMMEDIATE` to `COMMIT`: one round trip instead of one per statement
/// (measured in docs/benchmarks.md, issue 14); a failed script is rolled back and its
/// connection closed, so no transaction is left open in the pool. PostgreSQL does not take
/// several statements with parameters at once: a transaction, statement by statement.
async fn in_one_transaction(
    store: Store,
    pool: &AnyPool,
    statements: Vec<(String, Vec<Arg>)>,
) -> Result<(), String> {
    let err = |e: sqlx::Error| format!("message log: {e}");
    match store {
        Store::Sqlite => {
            let mut script = String::from("BEGIN IMMEDIATE;");
            let mut args = Vec::new();
            for (sql, a) in statements {
                script.push_str(&sql);
                script.push(';');
                args.extend(a);
            }
            script.push_str("COMMIT;");
            let mut conn = pool.acquire().await.map_err(err)?;
            if let Err(e) = bind(sqlx::query(&script), args).execute(&mut *conn).await {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                let _ = conn.close().await;
                return Err(err(e));
            }
        }
        Store::Postgres => {
            let mut tx = pool.begin().await.map_err(err)?;
            for (sql, args) in statements {
                let sql = store.sql(&sql);
                bind(sqlx::query(&sql), args)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
            }
            tx.commit().await.map_err(err)?;
        }
    }
    Ok(())
}

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
    let prepared = Prepared::new(tree, key, notes, batch)?;
    in_one_transaction(store, pool, prepared.statements(batch)).await?;
    Ok(prepared.durable(notes))
}

/// A bodies row: a body stored once by its hash, with the last entry that refers to it.
pub(super) const BODY_SQL: &str = "INSERT INTO log_bodies (sha256, body, stored_at_ms, last_idx) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET stored_at_ms = excluded.stored_at_ms, last_idx = excluded.last_idx";
pub(super) const CHECKPOINT_SQL: &str =
    "INSERT INTO log_checkpoints (size, root, timestamp, signature, note) VALUES (?, ?, ?, ?, ?)";

/// A batch appended to the in-memory tree and its checkpoint signed: what its transaction
/// writes.
pub(super) struct Prepared {
    /// The index of the batch's first entry.
    start: u64,
    pub(super) leaves: Vec<lienthong_ledger::Hash>,
    checkpoint: Checkpoint,
    signature: String,
    note: Option<LatestNote>,
    pub(super) now_ms: i64,
}

impl Prepared {
    pub(super) fn new(
        tree: &RwLock<MerkleTree>,
        key: &SigningKey,
        notes: Option<&LogNotes>,
        batch: &[Pending],
    ) -> Result<Prepared, String> {
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
        Ok(Prepared {
            start,
            signature: key.sign(&checkpoint.to_signing_bytes()),
            note: notes.map(|n| n.sign(checkpoint.size, checkpoint.root)),
            checkpoint,
            leaves,
            now_ms: lienthong_core::time::now_ms() as i64,
        })
    }

    /// The index of entry `n` of the batch.
    pub(super) fn idx(&self, n: usize) -> i64 {
        (self.start + n as u64) as i64
    }

    /// The checkpoint row's values, in `CHECKPOINT_SQL`'s order.
    pub(super) fn checkpoint_row(&self) -> (i64, String, i64, &str, Option<String>) {
        (
            self.checkpoint.size as i64,
            hash_to_hex(&self.checkpoint.root),
            self.checkpoint.timestamp as i64,
            &self.signature,
            self.note.as_ref().map(|n| n.note.to_string()),
        )
    }

    /// The transaction as statements of many rows each (one round trip per statement).
    fn statements(&self, batch: &[Pending]) -> Vec<(String, Vec<Arg>)> {
        let mut statements = Vec::new();
        for (chunk_no, chunk) in batch.chunks(ROWS_PER_STATEMENT).enumerate() {
            let values = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
            let mut args = Vec::with_capacity(4 * chunk.len());
            for (i, p) in chunk.iter().enumerate() {
                let n = chunk_no * ROWS_PER_STATEMENT + i;
                args.push(Arg::Int(self.idx(n)));
                args.push(Arg::Text(p.message_id.clone()));
                args.push(Arg::Text(p.entry.clone()));
                args.push(Arg::Text(hash_to_hex(&self.leaves[n])));
            }
            statements.push((
                format!(
                    "INSERT INTO log_entries (idx, message_id, entry, leaf_hash) VALUES {values}"
                ),
                args,
            ));
        }
        // The index by person: one row per (person, entry), in the same transaction.
        let rows: Vec<(&str, i64)> = batch
            .iter()
            .enumerate()
            .flat_map(|(n, p)| p.subjects.iter().map(move |s| (s.as_str(), self.idx(n))))
            .collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let values = vec!["(?, ?)"; chunk.len()].join(", ");
            let args = chunk
                .iter()
                .flat_map(|(subject, idx)| [Arg::Text(subject.to_string()), Arg::Int(*idx)])
                .collect();
            statements.push((
                format!("INSERT INTO log_subjects (subject, idx) VALUES {values}"),
                args,
            ));
        }
        for (n, p) in batch.iter().enumerate() {
            for (sha, body) in &p.bodies {
                statements.push((
                    BODY_SQL.to_owned(),
                    vec![
                        Arg::Text(sha.clone()),
                        Arg::Blob(body.clone()),
                        Arg::Int(self.now_ms),
                        Arg::Int(self.idx(n)),
                    ],
                ));
            }
        }
        let (size, root, timestamp, signature, note) = self.checkpoint_row();
        statements.push((
            CHECKPOINT_SQL.to_owned(),
            vec![
                Arg::Int(size),
                Arg::Text(root),
                Arg::Int(timestamp),
                Arg::Text(signature.to_owned()),
                Arg::OptText(note),
            ],
        ));
        statements
    }

    /// Once the batch is committed: its note is shown to others (only once durable), and the
    /// index of its first entry returned.
    pub(super) fn durable(self, notes: Option<&LogNotes>) -> u64 {
        if let (Some(notes), Some(note)) = (notes, self.note) {
            notes.publish(note);
        }
        self.start
    }
}
