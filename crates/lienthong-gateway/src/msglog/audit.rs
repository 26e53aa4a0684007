//! Reading a log back: `verify` (every entry against the signed checkpoints), `evidence`
//! (one exchange with its proofs) and `verify_evidence` (offline).

use super::*;

/// What `lienthong log verify` found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub entries: u64,
    pub checkpoints: u64,
    /// Entries whose content was moved to archive files (their leaf hashes stay).
    pub archived: u64,
}

/// Opens an existing log read-only (verification and export must not change what they inspect).
pub(super) async fn connect_ro(path: &str) -> Result<AnyPool, LogError> {
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
            .map_err(|e| LogError::Database(format!("message log {path}: {e}")));
    }
    if !std::path::Path::new(path).exists() {
        return Err(LogError::NotFound(path.to_owned()));
    }
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{path}?mode=ro"))
        .await
        .map_err(|e| LogError::Database(format!("message log {path}: {e}")))
}

/// Re-derives every leaf and every checkpoint root from the stored entries and checks every
/// checkpoint signature: any changed byte in an entry, a leaf hash or a checkpoint is found,
/// and so are two checkpoints of the same size with different roots (a split view).
pub async fn verify(path: &str, public_key: &str) -> Result<VerifyReport, LogError> {
    let pool = connect_ro(path).await?;
    let rows = sqlx::query("SELECT idx, entry, leaf_hash FROM log_entries ORDER BY idx")
        .fetch_all(&pool)
        .await
        .map_err(LogError::db)?;
    // Logs from before archiving have no archive table: nothing is archived there.
    let archived_through: i64 = sqlx::query("SELECT COALESCE(MAX(to_idx), 0) FROM log_archives")
        .fetch_one(&pool)
        .await
        .and_then(|r| r.try_get(0))
        .unwrap_or(0);
    let mut archived = 0;
    let mut tree = MerkleTree::with_capacity(rows.len());
    for (n, row) in rows.iter().enumerate() {
        let idx: i64 = row.try_get(0).map_err(LogError::db)?;
        let entry: String = row.try_get(1).map_err(LogError::db)?;
        let stored: String = row.try_get(2).map_err(LogError::db)?;
        if idx as usize != n {
            return Err(LogError::Altered(format!(
                "entry {n} is missing (next stored index is {idx})"
            )));
        }
        let leaf = if entry.is_empty() {
            // Archived: the content is in an archive file (`log verify-archive`); an empty
            // entry anywhere else is a deletion.
            if idx >= archived_through {
                return Err(LogError::Altered(format!(
                    "entry {idx}: content is gone but no archive covers it"
                )));
            }
            archived += 1;
            hash_from_hex(&stored)
                .ok_or_else(|| LogError::Altered(format!("entry {idx}: malformed leaf hash")))?
        } else {
            let leaf = leaf_hash(entry.as_bytes());
            if hash_to_hex(&leaf) != stored {
                return Err(LogError::Altered(format!(
                    "entry {idx}: content does not match its leaf hash (entry or hash changed)"
                )));
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
    .map_err(LogError::db)?;
    let mut seen = Vec::new();
    for row in &checkpoints {
        let size: i64 = row.try_get(0).map_err(LogError::db)?;
        let root: String = row.try_get(1).map_err(LogError::db)?;
        let timestamp: i64 = row.try_get(2).map_err(LogError::db)?;
        let signature: String = row.try_get(3).map_err(LogError::db)?;
        let root = hash_from_hex(&root).ok_or_else(|| {
            LogError::Altered(format!("checkpoint at size {size}: malformed root"))
        })?;
        let cp = Checkpoint {
            size: size as u64,
            root,
            timestamp: timestamp as u64,
        };
        lienthong_trust::verify(public_key, &cp.to_signing_bytes(), &signature).map_err(|_| {
            LogError::Key(format!(
                "checkpoint at size {size}: signature does not verify with the given key"
            ))
        })?;
        let derived = tree
            .root_at(cp.size)
            .map_err(|e| LogError::Altered(format!("checkpoint at size {size}: {e}")))?;
        if derived != cp.root {
            return Err(LogError::Altered(format!(
                "checkpoint at size {size}: root differs from the one derived from the entries"
            )));
        }
        seen.push(cp);
    }
    if let Some(split) = lienthong_ledger::find_split_view(seen.iter()) {
        return Err(LogError::Altered(format!(
            "split view: two checkpoints of size {} with different roots",
            split.size
        )));
    }
    // Entries are committed with their checkpoint: one past the last signed checkpoint was
    // added behind the writer's back.
    let covered = seen.iter().map(|c| c.size).max().unwrap_or(0);
    if (rows.len() as u64) > covered {
        return Err(LogError::Altered(format!(
            "entries {covered}..{} are under no signed checkpoint (added outside the node)",
            rows.len()
        )));
    }
    // The archive table is not signed: its ranges must follow each other from 0, end at
    // signed checkpoints, and their files must be there and verify.
    if archived > 0 {
        let ranges = sqlx::query(
            "SELECT from_idx, to_idx, file, file_sha256 FROM log_archives ORDER BY from_idx",
        )
        .fetch_all(&pool)
        .await
        .map_err(LogError::db)?;
        let mut next = 0i64;
        for r in &ranges {
            let (from, to): (i64, i64) = (
                r.try_get(0).map_err(LogError::db)?,
                r.try_get(1).map_err(LogError::db)?,
            );
            let file: String = r.try_get(2).map_err(LogError::db)?;
            let sha: String = r.try_get(3).map_err(LogError::db)?;
            if from != next || to <= from || !seen.iter().any(|c| c.size == to as u64) {
                return Err(LogError::Altered(format!(
                    "archive record {from}..{to} does not continue the one before or does not end at a signed checkpoint"
                )));
            }
            let text = std::fs::read(&file).map_err(|e| {
                LogError::Altered(format!(
                    "archive file {file} (entries {from}..{to}) cannot be read: {e}"
                ))
            })?;
            if lienthong_trust::sha256_hex(&text) != sha {
                return Err(LogError::Altered(format!(
                    "archive file {file} is not the file that was archived"
                )));
            }
            let (f, t) = check_archive(&text, Some(public_key)).map_err(LogError::Altered)?;
            if (f, t) != (from as u64, to as u64) {
                return Err(LogError::Altered(format!(
                    "archive file {file} holds {f}..{t}, not {from}..{to}"
                )));
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
    evidence_restored(path, message_id, public_key, None).await
}

/// As [`evidence`], with the path and query the request was signed with put back for the
/// persons `ids` (their pseudonyms replaced by the ids, with the node's pseudonymiser), so
/// that the request's signature checks offline too. The stored entry is unchanged.
pub async fn evidence_restored(
    path: &str,
    message_id: &str,
    public_key: &str,
    restore: Option<(&crate::record::Pseudonymiser, &[String])>,
) -> Result<Value, String> {
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
    let restored = match restore {
        Some((p, ids)) => {
            let record: Value = serde_json::from_str(&entry).map_err(|e| e.to_string())?;
            let text = |name: &str| record[name].as_str().unwrap_or("").to_owned();
            let restored = json!({ "path": p.restore(&text("path"), ids), "query": p.restore(&text("query"), ids) });
            let mut check = record.clone();
            check["path"] = restored["path"].clone();
            check["query"] = restored["query"].clone();
            if crate::record::verify_signatures(&check) != Ok(true) {
                return Err("the ids given are not the ones the request named".into());
            }
            Some(restored)
        }
        None => None,
    };
    let mut doc = json!({
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
    });
    if let Some(r) = restored {
        doc["restored"] = r;
    }
    Ok(doc)
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
    let mut record: Value =
        serde_json::from_str(&entry).map_err(|e| format!("entry is not JSON: {e}"))?;
    // Where the exporter put back the person's id, the request is checked as it was signed.
    let mut check = record.clone();
    if let Some(r) = doc.get("restored") {
        for name in ["path", "query"] {
            check[name] = r
                .get(name)
                .cloned()
                .ok_or(format!("restored lacks {name}"))?;
        }
    }
    let request_checked = crate::record::verify_signatures(&check)?;
    if doc.get("restored").is_some() {
        if !request_checked {
            return Err("the restored request still holds pseudonyms".into());
        }
        record["path"] = check["path"].clone();
        record["query"] = check["query"].clone();
    }
    record["request_signature_checked"] = request_checked.into();
    Ok(record)
}
