//! What the log keeps for witnessing: its checkpoints as C2SP signed notes (signed with the
//! node's log key, apart from its member key), the witness's cosignatures on them, the
//! checkpoints this node saw from other members' logs, the witness's own state when this
//! node is the witness, and the alarms raised when a log shrank, forked or was rewound.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use lienthong_ledger::{hash_from_hex, hash_to_hex, Hash, MerkleTree, TlogCheckpoint};
use lienthong_trust::note::NoteSigner;
use sqlx::Row;

use super::MessageLog;

/// The latest durable checkpoint as a signed note.
#[derive(Debug, Clone)]
pub struct LatestNote {
    pub size: u64,
    pub root: Hash,
    /// The signed note.
    pub note: Arc<str>,
    /// The note in base64, as carried in `x-lt-checkpoint`.
    pub header: Arc<str>,
}

/// The log's note signer and its latest published note.
pub struct LogNotes {
    signer: NoteSigner,
    latest: RwLock<LatestNote>,
}

impl LogNotes {
    /// The signer, with the note of the tree as loaded (the log as it stands at start).
    pub(super) fn new(signer: NoteSigner, tree: &MerkleTree) -> LogNotes {
        let first = Self::make(&signer, tree.size(), tree.root());
        LogNotes {
            signer,
            latest: RwLock::new(first),
        }
    }

    fn make(signer: &NoteSigner, size: u64, root: Hash) -> LatestNote {
        let text = TlogCheckpoint::new(signer.name(), size, root).text();
        let note: Arc<str> = signer.note(&text, 0).render().into();
        LatestNote {
            size,
            root,
            header: B64.encode(note.as_bytes()).into(),
            note,
        }
    }

    pub(super) fn sign(&self, size: u64, root: Hash) -> LatestNote {
        Self::make(&self.signer, size, root)
    }

    /// Makes `note` the latest, unless a larger one is already published.
    pub(super) fn publish(&self, note: LatestNote) {
        if let Ok(mut l) = self.latest.write() {
            if note.size >= l.size {
                *l = note;
            }
        }
    }

    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    pub fn vkey(&self) -> String {
        self.signer.vkey()
    }
}

/// A witness alarm: a log that shrank, forked, was rewound, or signed with a wrong key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alarm {
    pub origin: String,
    pub member: String,
    /// `fork`, `rewound`, `bad_signature`.
    pub kind: String,
    pub first_ms: u64,
    pub last_ms: u64,
    pub count: u64,
    pub detail: String,
    /// The signed notes that prove it, one after the other.
    pub evidence: String,
}

fn db(e: sqlx::Error) -> String {
    format!("message log: {e}")
}

impl MessageLog {
    /// The latest durable checkpoint as a signed note (None without a log key).
    pub fn latest_note(&self) -> Option<LatestNote> {
        let notes = self.notes.as_ref()?;
        notes.latest.read().ok().map(|l| l.clone())
    }

    /// A consistency proof between two sizes the log has held.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, String> {
        let tree = self.tree.read().map_err(|_| "tree lock poisoned")?;
        tree.consistency_proof(old, new).map_err(|e| e.to_string())
    }

    /// Keeps a checkpoint with the witness's cosignature.
    pub async fn save_cosigned(&self, size: u64, note: &str) -> Result<(), String> {
        let sql = self.store.sql("INSERT INTO log_cosigned (size, note, at_ms) VALUES (?, ?, ?) ON CONFLICT (size) DO UPDATE SET note = excluded.note, at_ms = excluded.at_ms");
        sqlx::query(&sql)
            .bind(size as i64)
            .bind(note.to_owned())
            .bind(lienthong_core::time::now_ms() as i64)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The latest checkpoint of `origin` this node verified (table `table`): size, root, note.
    async fn origin_state(
        &self,
        table: &str,
        origin: &str,
    ) -> Result<Option<(u64, Hash, String)>, String> {
        let sql = self.store.sql(&format!(
            "SELECT size, root, note FROM {table} WHERE origin = ?"
        ));
        let row = sqlx::query(&sql)
            .bind(origin.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let root: String = r.try_get(1).map_err(db)?;
        Ok(Some((
            r.try_get::<i64, _>(0).map_err(db)? as u64,
            hash_from_hex(&root).ok_or("malformed root in the witness state")?,
            r.try_get::<String, _>(2).map_err(db)?,
        )))
    }

    async fn set_origin_state(
        &self,
        table: &str,
        origin: &str,
        (size, root, note): (u64, &Hash, &str),
    ) -> Result<(), String> {
        let sql = self.store.sql(&format!(
            "INSERT INTO {table} (origin, size, root, note, at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, at_ms = excluded.at_ms"
        ));
        sqlx::query(&sql)
            .bind(origin.to_owned())
            .bind(size as i64)
            .bind(hash_to_hex(root))
            .bind(note.to_owned())
            .bind(lienthong_core::time::now_ms() as i64)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The latest checkpoint of another member's log this node verified.
    pub async fn seen(&self, origin: &str) -> Result<Option<(u64, Hash, String)>, String> {
        self.origin_state("witness_seen", origin).await
    }

    pub async fn set_seen(&self, origin: &str, state: (u64, &Hash, &str)) -> Result<(), String> {
        self.set_origin_state("witness_seen", origin, state).await
    }

    /// Every other log's latest verified checkpoint: (origin, size, note).
    pub async fn all_seen(&self) -> Result<Vec<(String, u64, String)>, String> {
        let rows = sqlx::query("SELECT origin, size, note FROM witness_seen ORDER BY origin")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0).map_err(db)?,
                    r.try_get::<i64, _>(1).map_err(db)? as u64,
                    r.try_get::<String, _>(2).map_err(db)?,
                ))
            })
            .collect()
    }

    /// As the witness: the latest checkpoint of `origin` it cosigned.
    pub async fn witness_state(&self, origin: &str) -> Result<Option<(u64, Hash, String)>, String> {
        self.origin_state("witness_state", origin).await
    }

    /// As the witness: records a newly cosigned checkpoint (before answering).
    pub async fn set_witness_state(
        &self,
        origin: &str,
        state: (u64, &Hash, &str),
    ) -> Result<(), String> {
        self.set_origin_state("witness_state", origin, state).await
    }

    /// Records an alarm (counted when the same log raises the same kind again).
    pub async fn raise_alarm(
        &self,
        origin: &str,
        member: &str,
        kind: &str,
        detail: &str,
        evidence: &str,
    ) -> Result<(), String> {
        let now = lienthong_core::time::now_ms() as i64;
        let sql = self.store.sql("INSERT INTO witness_alarms (origin, kind, member, first_ms, last_ms, count, detail, evidence) VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (origin, kind) DO UPDATE SET last_ms = excluded.last_ms, count = witness_alarms.count + 1, detail = excluded.detail, evidence = excluded.evidence");
        sqlx::query(&sql)
            .bind(origin.to_owned())
            .bind(kind.to_owned())
            .bind(member.to_owned())
            .bind(now)
            .bind(now)
            .bind(detail.to_owned())
            .bind(evidence.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Every alarm raised, newest first.
    pub async fn alarms(&self) -> Result<Vec<Alarm>, String> {
        alarms(&self.pool).await
    }
}

pub(super) async fn alarms(pool: &sqlx::AnyPool) -> Result<Vec<Alarm>, String> {
    let rows = sqlx::query("SELECT origin, member, kind, first_ms, last_ms, count, detail, evidence FROM witness_alarms ORDER BY last_ms DESC")
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(Alarm {
                origin: r.try_get(0).map_err(db)?,
                member: r.try_get(1).map_err(db)?,
                kind: r.try_get(2).map_err(db)?,
                first_ms: r.try_get::<i64, _>(3).map_err(db)? as u64,
                last_ms: r.try_get::<i64, _>(4).map_err(db)? as u64,
                count: r.try_get::<i64, _>(5).map_err(db)? as u64,
                detail: r.try_get(6).map_err(db)?,
                evidence: r.try_get(7).map_err(db)?,
            })
        })
        .collect()
}

/// The tree of a log as stored, read-only (for offline checks against saved checkpoints).
/// Archived entries keep their leaf hashes, so the whole tree is rebuilt.
pub async fn stored_tree(path: &str) -> Result<MerkleTree, super::LogError> {
    let pool = super::audit::connect_ro(path).await?;
    let rows = sqlx::query("SELECT idx, leaf_hash FROM log_entries ORDER BY idx")
        .fetch_all(&pool)
        .await
        .map_err(super::LogError::db)?;
    let mut tree = MerkleTree::with_capacity(rows.len());
    for (n, row) in rows.iter().enumerate() {
        let idx: i64 = row.try_get(0).map_err(super::LogError::db)?;
        let hex: String = row.try_get(1).map_err(super::LogError::db)?;
        let hash = hash_from_hex(&hex)
            .filter(|_| idx as usize == n)
            .ok_or_else(|| {
                super::LogError::Altered(format!("entry {n} is missing or malformed"))
            })?;
        tree.append_leaf_hash(hash);
    }
    pool.close().await;
    Ok(tree)
}

/// The log's own checkpoints as signed notes, read-only, each once: the witness's cosigned
/// version where it has one. (size, note), oldest first.
pub async fn saved_notes(path: &str) -> Result<Vec<(u64, String)>, super::LogError> {
    let pool = super::audit::connect_ro(path).await?;
    let mut notes: std::collections::BTreeMap<u64, String> = Default::default();
    for sql in [
        "SELECT size, note FROM log_checkpoints WHERE note IS NOT NULL",
        "SELECT size, note FROM log_cosigned",
    ] {
        let rows = sqlx::query(sql)
            .fetch_all(&pool)
            .await
            .map_err(super::LogError::db)?;
        for r in rows {
            let size: i64 = r.try_get(0).map_err(super::LogError::db)?;
            notes.insert(size as u64, r.try_get(1).map_err(super::LogError::db)?);
        }
    }
    pool.close().await;
    Ok(notes.into_iter().collect())
}

/// Entries a person's history holds at most.
pub const HISTORY_ENTRIES_MAX: u32 = 1_000;

/// The provider-side entries naming `subject` (as stored: its pseudonym where the log has
/// one), newest first: (index, entry).
async fn entries_naming(
    pool: &sqlx::AnyPool,
    store: super::Store,
    subject: &str,
    limit: u32,
) -> Result<Vec<(u64, String)>, String> {
    let sql = store.sql(&format!(
        "SELECT e.idx, e.entry FROM log_subjects s JOIN log_entries e ON e.idx = s.idx WHERE s.subject = ? ORDER BY s.idx DESC LIMIT {}",
        limit.min(HISTORY_ENTRIES_MAX)
    ));
    let rows = sqlx::query(&sql)
        .bind(subject.to_owned())
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let idx: i64 = r.try_get(0).map_err(db)?;
        let entry: String = r.try_get(1).map_err(db)?;
        // Only where this node gave the data out; an archived entry has no content here.
        if entry.contains("\"side\":\"provider\"") {
            out.push((idx as u64, entry));
        }
    }
    Ok(out)
}

/// The newest witness-cosigned checkpoint covering `size` entries, else None.
async fn cosigned_covering(
    pool: &sqlx::AnyPool,
    store: super::Store,
    size: u64,
) -> Result<Option<(u64, String)>, String> {
    let sql =
        store.sql("SELECT size, note FROM log_cosigned WHERE size >= ? ORDER BY size DESC LIMIT 1");
    let row = sqlx::query(&sql)
        .bind(size as i64)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok((
            r.try_get::<i64, _>(0).map_err(db)? as u64,
            r.try_get::<String, _>(1).map_err(db)?,
        ))
    })
    .transpose()
}

/// A person's history document: the entries naming them, each with its inclusion proof to
/// one checkpoint — the witness-cosigned one where the witness has cosigned past the newest
/// entry, else the log's own latest (`"witnessed": false`). Checked offline by
/// [`crate::witness::verify_history`] (`lienthong log verify-proof`).
fn history_doc(
    origin: &str,
    entries: Vec<(u64, String)>,
    (size, note, witnessed): (u64, String, bool),
    tree: &MerkleTree,
) -> Result<serde_json::Value, String> {
    let mut out = Vec::with_capacity(entries.len());
    for (idx, entry) in entries {
        if idx >= size {
            continue;
        }
        let proof = tree.inclusion_proof(idx, size).map_err(|e| e.to_string())?;
        out.push(serde_json::json!({
            "index": idx,
            "entry": entry,
            "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
        }));
    }
    Ok(serde_json::json!({
        "format": "lienthong-history/v1",
        "origin": origin,
        "checkpoint": note,
        "witnessed": witnessed,
        "entries": out,
    }))
}

impl MessageLog {
    /// The history of the person `subject` (as stored) in this log, with proofs.
    pub async fn history(&self, subject: &str, limit: u32) -> Result<serde_json::Value, String> {
        let latest = self
            .latest_note()
            .ok_or("this log has no log key: no signed checkpoints")?;
        let origin = self
            .notes
            .as_ref()
            .map(|n| n.origin().to_owned())
            .unwrap_or_default();
        let entries = entries_naming(&self.pool, self.store, subject, limit).await?;
        let newest = entries.first().map_or(0, |e| e.0 + 1);
        let checkpoint = match cosigned_covering(&self.pool, self.store, newest).await? {
            Some((size, note)) => (size, note, true),
            None => (latest.size, latest.note.to_string(), false),
        };
        let tree = self.tree.read().map_err(|_| "tree lock poisoned")?;
        history_doc(&origin, entries, checkpoint, &tree)
    }
}

/// [`MessageLog::history`] from a log's files, read-only (the CLI's `log history`).
pub async fn history_of(
    path: &str,
    origin: &str,
    subject: &str,
    limit: u32,
) -> Result<serde_json::Value, super::LogError> {
    let pool = super::audit::connect_ro(path).await?;
    let store = super::Store::of(path);
    let entries = entries_naming(&pool, store, subject, limit)
        .await
        .map_err(super::LogError::Database)?;
    let newest = entries.first().map_or(0, |e| e.0 + 1);
    let checkpoint = match cosigned_covering(&pool, store, newest)
        .await
        .map_err(super::LogError::Database)?
    {
        Some((size, note)) => (size, note, true),
        None => {
            let row = sqlx::query("SELECT size, note FROM log_checkpoints WHERE note IS NOT NULL ORDER BY size DESC LIMIT 1")
                .fetch_optional(&pool)
                .await
                .map_err(super::LogError::db)?
                .ok_or_else(|| super::LogError::Database("the log has no signed notes (no log key)".into()))?;
            (
                row.try_get::<i64, _>(0).map_err(super::LogError::db)? as u64,
                row.try_get::<String, _>(1).map_err(super::LogError::db)?,
                false,
            )
        }
    };
    pool.close().await;
    let tree = stored_tree(path).await?;
    history_doc(origin, entries, checkpoint, &tree).map_err(super::LogError::Database)
}

/// A person's consent as a provider node holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Consent {
    pub consumer: String,
    pub service: String,
    pub purpose: String,
    pub granted: bool,
    pub at_ms: u64,
}

impl MessageLog {
    /// Records a person's consent (`subject` as stored: their pseudonym) to `consumer`
    /// calling `service` for `purpose`, granted or withdrawn, durably before returning.
    pub async fn set_consent(
        &self,
        subject: &str,
        (consumer, service, purpose): (&str, &str, &str),
        granted: bool,
    ) -> Result<(), String> {
        let sql = self.store.sql("INSERT INTO consents (subject, consumer, service, purpose, granted, at_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (subject, consumer, service, purpose) DO UPDATE SET granted = excluded.granted, at_ms = excluded.at_ms");
        sqlx::query(&sql)
            .bind(subject.to_owned())
            .bind(consumer.to_owned())
            .bind(service.to_owned())
            .bind(purpose.to_owned())
            .bind(i64::from(granted))
            .bind(lienthong_core::time::now_ms() as i64)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Whether the person consented (and has not withdrawn).
    pub async fn consented(
        &self,
        subject: &str,
        (consumer, service, purpose): (&str, &str, &str),
    ) -> Result<bool, String> {
        let sql = self.store.sql("SELECT granted FROM consents WHERE subject = ? AND consumer = ? AND service = ? AND purpose = ?");
        let row = sqlx::query(&sql)
            .bind(subject.to_owned())
            .bind(consumer.to_owned())
            .bind(service.to_owned())
            .bind(purpose.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.is_some_and(|r| r.try_get::<i64, _>(0).unwrap_or(0) == 1))
    }

    /// The person's consents recorded here.
    pub async fn consents_of(&self, subject: &str) -> Result<Vec<Consent>, String> {
        let sql = self.store.sql("SELECT consumer, service, purpose, granted, at_ms FROM consents WHERE subject = ? ORDER BY consumer, service, purpose");
        let rows = sqlx::query(&sql)
            .bind(subject.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Consent {
                    consumer: r.try_get(0).map_err(db)?,
                    service: r.try_get(1).map_err(db)?,
                    purpose: r.try_get(2).map_err(db)?,
                    granted: r.try_get::<i64, _>(3).map_err(db)? == 1,
                    at_ms: r.try_get::<i64, _>(4).map_err(db)? as u64,
                })
            })
            .collect()
    }
}

/// Indexes the persons of every entry already in the log (entries archived away have none).
pub(super) async fn backfill_subjects(
    pool: &sqlx::AnyPool,
    store: super::Store,
) -> Result<(), sqlx::Error> {
    let rows = sqlx::query("SELECT idx, entry FROM log_entries ORDER BY idx")
        .fetch_all(pool)
        .await?;
    let mut pairs: Vec<(String, i64)> = Vec::new();
    for r in &rows {
        let idx: i64 = r.try_get(0)?;
        let entry: String = r.try_get(1)?;
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&entry) {
            for s in v["data_subjects"].as_array().into_iter().flatten() {
                if let Some(s) = s.as_str().filter(|s| s.len() <= super::SUBJECT_BYTES_MAX) {
                    pairs.push((s.to_owned(), idx));
                }
            }
        }
    }
    let mut tx = pool.begin().await?;
    for chunk in pairs.chunks(super::writer::ROWS_PER_STATEMENT) {
        let values = vec!["(?, ?)"; chunk.len()].join(", ");
        let sql = store.sql(&format!(
            "INSERT INTO log_subjects (subject, idx) VALUES {values}"
        ));
        let mut q = sqlx::query(&sql);
        for (subject, idx) in chunk {
            q = q.bind(subject.clone()).bind(*idx);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await
}
