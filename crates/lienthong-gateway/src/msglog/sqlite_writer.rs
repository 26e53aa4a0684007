//! The writer of a SQLite log file: a thread of its own that owns a connection to the file,
//! takes every waiting entry, commits them with one fsync and answers their callers from
//! there. The writer task it replaces handed each batch to sqlx's connection thread and
//! back (two more thread wake-ups per batch, the statements rebuilt as text each time);
//! the measurement is in docs/benchmarks.md (issue 14). rusqlite, on the same SQLite
//! library sqlx links, since sqlx runs a connection only on its own thread.

use std::sync::{Arc, RwLock};

use lienthong_ledger::{hash_to_hex, MerkleTree};
use lienthong_trust::SigningKey;
use rusqlite::{params, Connection, TransactionBehavior};
use sqlx::AnyPool;
use tokio::sync::mpsc;

use super::writer::{answer, gather, reopen, Health, Prepared, BODY_SQL, CHECKPOINT_SQL};
use super::{LogNotes, Pending};

/// Opens the writer's connection to the log file at `path` (made by the pool already) and
/// starts its thread; the thread ends when every sender of `rx` is gone.
pub(super) fn spawn(
    path: &str,
    pool: AnyPool,
    tree: Arc<RwLock<MerkleTree>>,
    key: SigningKey,
    notes: Option<Arc<LogNotes>>,
    rx: mpsc::Receiver<Pending>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let conn = open(path).map_err(|e| format!("message log {path}: {e}"))?;
    // The check that a failed log verifies again reads through the pool, on this runtime.
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("lt-msglog".into())
        .spawn(move || run(conn, runtime, pool, tree, key, notes, rx))
        .map_err(|e| format!("message log {path}: starting its writer: {e}"))
}

fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // As the pool's connections: WAL, and FULL so that a committed batch survives power
    // loss; wait for another writer (an archive run, a snapshot saved) as sqlx does.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn run(
    mut conn: Connection,
    runtime: tokio::runtime::Handle,
    pool: AnyPool,
    tree: Arc<RwLock<MerkleTree>>,
    key: SigningKey,
    notes: Option<Arc<LogNotes>>,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut health = Health::new(key.public_b64());
    while let Some(first) = rx.blocking_recv() {
        let batch = gather(first, &mut rx);
        if health.reopen_due() {
            let reopened = runtime.block_on(reopen(&pool, &tree, &health.public_key));
            health.reopened(reopened);
        }
        let result = match health.refusal() {
            Some(refused) => Err(refused),
            None => commit(&mut conn, &tree, &key, notes.as_deref(), &batch),
        };
        health.record(&result);
        answer(batch, result);
    }
}

fn commit(
    conn: &mut Connection,
    tree: &RwLock<MerkleTree>,
    key: &SigningKey,
    notes: Option<&LogNotes>,
    batch: &[Pending],
) -> Result<u64, String> {
    let prepared = Prepared::new(tree, key, notes, batch)?;
    if let Err(e) = write(conn, &prepared, batch) {
        // The failed transaction was rolled back as it was dropped; should that have failed
        // too, no later batch may run inside it.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(format!("message log: {e}"));
    }
    Ok(prepared.durable(notes))
}

/// One transaction (`BEGIN IMMEDIATE`), a row at a time through cached statements; rolled
/// back when any statement fails.
fn write(conn: &mut Connection, p: &Prepared, batch: &[Pending]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut entry = tx.prepare_cached(
            "INSERT INTO log_entries (idx, message_id, entry, leaf_hash) VALUES (?, ?, ?, ?)",
        )?;
        let mut subject =
            tx.prepare_cached("INSERT INTO log_subjects (subject, idx) VALUES (?, ?)")?;
        for (n, pending) in batch.iter().enumerate() {
            let idx = p.idx(n);
            entry.execute(params![
                idx,
                pending.message_id,
                pending.entry,
                hash_to_hex(&p.leaves[n])
            ])?;
            for s in &pending.subjects {
                subject.execute(params![s, idx])?;
            }
            for (sha, body) in &pending.bodies {
                tx.prepare_cached(BODY_SQL)?
                    .execute(params![sha, body, p.now_ms, idx])?;
            }
        }
        let (size, root, timestamp, signature, note) = p.checkpoint_row();
        tx.prepare_cached(CHECKPOINT_SQL)?
            .execute(params![size, root, timestamp, signature, note])?;
    }
    tx.commit()
}
