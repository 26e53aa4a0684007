//! Archives (self-verifying files of old entries, their bodies and the compact range before
//! them) and body retention.

use super::*;

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

pub(super) const ARCHIVE_FORMAT: &str = "lienthong-archive/v1";

/// The body hashes an entry names (request and response).
pub(super) fn body_hashes(entry: &str) -> Vec<String> {
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
    // An earlier run cut short between recording its archive and releasing its entries (only
    // the newest archive can be: each run finishes the one before it first).
    if let Some(r) =
        sqlx::query("SELECT from_idx, to_idx FROM log_archives ORDER BY to_idx DESC LIMIT 1")
            .fetch_optional(&pool)
            .await
            .map_err(e)?
    {
        let (from, to): (i64, i64) = (r.try_get(0).map_err(e)?, r.try_get(1).map_err(e)?);
        let last: Option<String> =
            sqlx::query(&store.sql("SELECT entry FROM log_entries WHERE idx = ?"))
                .bind(to - 1)
                .fetch_optional(&pool)
                .await
                .map_err(e)?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(e)?;
        // Released last to first chunk, entries after bodies: a blank last entry means done.
        if last.is_some_and(|entry| !entry.is_empty()) {
            release(&pool, store, path, (from, to), None).await?;
        }
    }
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
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|x| format!("creating {}: {x}", dir.display()))?;
    }
    let file = dir.join(format!("log-{from:012}-{to:012}.jsonl"));
    let tmp = file.with_extension("jsonl.tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Archives hold who asked for whose data: the owner's only.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|x| format!("writing {}: {x}", tmp.display()))?;
        f.write_all(&text)
            .map_err(|x| format!("writing {}: {x}", tmp.display()))?;
        f.sync_all()
            .map_err(|x| format!("syncing {}: {x}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &file).map_err(|x| format!("renaming {}: {x}", tmp.display()))?;
    // The archive is recorded first (one short commit): from then on the file is the
    // entries' home, and the log lets go of them in small commits, so that appends never
    // wait longer than one of them; a run cut short is finished by the next.
    sqlx::query(&store.sql("INSERT INTO log_archives (from_idx, to_idx, file, file_sha256, at_ms) VALUES (?, ?, ?, ?, ?)"))
        .bind(from)
        .bind(to)
        .bind(file.display().to_string())
        .bind(lienthong_trust::sha256_hex(&text))
        .bind(lienthong_core::time::now_s() as i64 * 1000)
        .execute(&pool)
        .await
        .map_err(e)?;
    release(&pool, store, path, (from, to), Some(&moved)).await?;
    pool.close().await;
    Ok(Some(ArchiveReport {
        from: from as u64,
        to: to as u64,
        bodies: moved.len() as u64,
        file,
    }))
}

/// Entries and bodies released per commit when archiving.
const RELEASE_CHUNK: i64 = 1_000;

/// Lets go of an archived range `[from, to)`, a chunk per commit (each a short write;
/// appends interleave): first the bodies only its entries referenced (`bodies`, or, resuming a
/// run cut short, every body whose last reference is in the range), then the entries'
/// content, in index order — so a blank last entry means the release is complete.
async fn release(
    pool: &sqlx::AnyPool,
    store: Store,
    path: &str,
    (from, to): (i64, i64),
    bodies: Option<&[String]>,
) -> Result<(), String> {
    let e = |e: sqlx::Error| format!("message log {path}: {e}");
    match bodies {
        Some(shas) => {
            for chunk in shas.chunks(RELEASE_CHUNK as usize) {
                let mut tx = pool.begin().await.map_err(e)?;
                for sha in chunk {
                    sqlx::query(
                        &store.sql("DELETE FROM log_bodies WHERE sha256 = ? AND last_idx < ?"),
                    )
                    .bind(sha.clone())
                    .bind(to)
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?;
                }
                tx.commit().await.map_err(e)?;
            }
        }
        None => loop {
            let deleted = sqlx::query(&store.sql(&format!(
                "DELETE FROM log_bodies WHERE sha256 IN (SELECT sha256 FROM log_bodies WHERE last_idx >= ? AND last_idx < ? LIMIT {RELEASE_CHUNK})"
            )))
            .bind(from)
            .bind(to)
            .execute(pool)
            .await
            .map_err(e)?
            .rows_affected();
            if deleted == 0 {
                break;
            }
        },
    }
    let mut at = from;
    while at < to {
        let end = (at + RELEASE_CHUNK).min(to);
        sqlx::query(
            &store.sql(
                "UPDATE log_entries SET entry = '' WHERE idx >= ? AND idx < ? AND entry <> ''",
            ),
        )
        .bind(at)
        .bind(end)
        .execute(pool)
        .await
        .map_err(e)?;
        at = end;
    }
    Ok(())
}

/// Checks an archive file offline with a pinned log key: its entries, folded onto the
/// compact range of the entries before them, give the root of the signed checkpoint; every
/// body matches its hash. Returns (first index, end index).
pub fn verify_archive(file: &std::path::Path, public_key: &str) -> Result<(u64, u64), String> {
    let text = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    check_archive(&text, Some(public_key))
}

pub(super) fn check_archive(text: &[u8], public_key: Option<&str>) -> Result<(u64, u64), String> {
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
