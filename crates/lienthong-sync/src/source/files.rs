//! File drops: an agency writes CSV or JSONL files (`.csv`, `.jsonl`, `.ndjson`) into a
//! folder; each file is applied once, in name order, then moved to `done/`. A file that
//! cannot be read as the dataset (wrong header, not UTF-8, broken CSV) goes to `rejected/`
//! and its reason to the quarantine; a malformed record goes to the quarantine and the
//! rest of the file is applied.
//!
//! Position: the file's SHA-256, the records applied, and whether it is finished (done or
//! rejected), with its name. A file is moved only after the replica committed its last
//! record, so a crash in between finds it still in the folder, finished: it is moved then,
//! not applied again. Change ids are `drop:record`, the drop from the file's digest, name and
//! modification time: a resumed file keeps its ids, the same content dropped again gets new
//! ones. A file is read once it has been left untouched for two seconds.

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::finding::Severity;
use lienthong_dictionary::input::{Format, RawRecord, Reader};
use sha2::{Digest, Sha256};

use super::Backlog;
use crate::change::{Batch, Change, Op};
use crate::state::State;
use crate::SyncError;

/// A file must be left untouched this long before it is read (write elsewhere and rename
/// into the folder to be read at once).
pub const SETTLE_MS: u128 = 2_000;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pos {
    digest: String,
    records: u64,
    /// 0 reading, 1 done, 2 rejected.
    finished: u8,
    name: String,
}

impl Pos {
    fn encode(&self) -> String {
        format!(
            "{}/{:012}/{}/{}",
            self.digest, self.records, self.finished, self.name
        )
    }

    fn decode(s: &str) -> Option<Pos> {
        let mut it = s.splitn(4, '/');
        let digest = it.next()?.to_owned();
        let records = it.next()?.parse().ok()?;
        let finished = it.next()?.parse().ok().filter(|f| *f <= 2)?;
        let name = it.next()?.to_owned();
        (digest.len() == 64 && !name.is_empty()).then_some(Pos {
            digest,
            records,
            finished,
            name,
        })
    }
}

struct Current {
    /// `None` when the file was rejected as a whole, for `rejected`.
    reader: Option<Reader<BufReader<std::fs::File>>>,
    rejected: String,
    /// Change ids of this drop: `{drop}:{record}`.
    drop: String,
    pos: Pos,
}

pub struct FileSource {
    pipeline: String,
    dir: PathBuf,
    dataset: &'static Dataset,
    current: Option<Current>,
    /// The position the replica holds, until its file is dealt with.
    resume: Option<Pos>,
    /// Finished files handed out and not yet moved (waiting for the replica).
    handed: HashSet<String>,
    last: String,
}

fn io(pipeline: &str, what: &str, path: &Path, e: std::io::Error) -> SyncError {
    SyncError::Source(format!("{pipeline}: {what} {}: {e}", path.display()))
}

fn digest(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl FileSource {
    pub fn open(
        pipeline: &str,
        dir: &Path,
        dataset: &'static Dataset,
        state: Option<&State>,
    ) -> Result<FileSource, SyncError> {
        if !dir.is_dir() {
            return Err(SyncError::Config(format!(
                "pipeline {pipeline}: drop folder {} does not exist",
                dir.display()
            )));
        }
        for sub in ["done", "rejected"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| io(pipeline, "creating", &p, e))?;
        }
        let resume = state.and_then(|s| Pos::decode(&s.position));
        Ok(FileSource {
            pipeline: pipeline.to_owned(),
            dir: dir.to_owned(),
            dataset,
            current: None,
            last: state.map(|s| s.position.clone()).unwrap_or_default(),
            resume,
            handed: HashSet::new(),
        })
    }

    /// Files waiting in the folder, in name order — only those left untouched for
    /// `SETTLE_MS`, so that a file still being written is not read to a half-way end.
    fn pending(&self) -> Result<Vec<String>, SyncError> {
        let mut names = Vec::new();
        let rd = std::fs::read_dir(&self.dir)
            .map_err(|e| io(&self.pipeline, "reading", &self.dir, e))?;
        let now = std::time::SystemTime::now();
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let settled = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age.as_millis() >= SETTLE_MS);
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false)
                && Format::from_path(&name).is_some()
                && !self.handed.contains(&name)
                && settled
            {
                names.push(name);
            }
        }
        names.sort();
        // The file the replica left off at comes first, whatever its name; once it is gone
        // (moved, removed) its position means nothing any more.
        if let Some(i) = self
            .resume
            .as_ref()
            .and_then(|r| names.iter().position(|n| *n == r.name))
        {
            let n = names.remove(i);
            names.insert(0, n);
        }
        Ok(names)
    }

    fn move_finished(&mut self, pos: &Pos) -> Result<(), SyncError> {
        let from = self.dir.join(&pos.name);
        if !from.exists() {
            self.handed.remove(&pos.name);
            return Ok(());
        }
        let sub = if pos.finished == 2 {
            "rejected"
        } else {
            "done"
        };
        let mut to = self.dir.join(sub).join(&pos.name);
        if to.exists() {
            to = self
                .dir
                .join(sub)
                .join(format!("{}.{}", &pos.digest[..12], pos.name));
        }
        std::fs::rename(&from, &to).map_err(|e| io(&self.pipeline, "moving", &from, e))?;
        self.handed.remove(&pos.name);
        tracing::info!(pipeline = %self.pipeline, file = %pos.name, to = sub, records = pos.records, "file drop finished");
        Ok(())
    }

    /// Opens the next file to read, dealing first with the one the replica left off at.
    fn open_next(&mut self) -> Result<bool, SyncError> {
        if let Some(r) = &self.resume {
            if !self.dir.join(&r.name).exists() {
                self.resume = None;
            } else if self.pending()?.first().is_none_or(|n| *n != r.name) {
                return Ok(false); // the partly applied file is being rewritten: wait
            }
        }
        for name in self.pending()? {
            let path = self.dir.join(&name);
            let digest = digest(&path).map_err(|e| io(&self.pipeline, "reading", &path, e))?;
            let mut skip = 0;
            if let Some(r) = self.resume.take() {
                if r.name == name && r.digest == digest {
                    if r.finished != 0 {
                        self.move_finished(&r)?;
                        continue;
                    }
                    skip = r.records;
                } else if r.name == name {
                    tracing::warn!(pipeline = %self.pipeline, file = %name, "file changed since it was partly applied; applying it as a new file");
                }
            }
            let format = Format::from_path(&name).expect("pending lists known formats");
            let file =
                std::fs::File::open(&path).map_err(|e| io(&self.pipeline, "opening", &path, e))?;
            // One drop of a file: the same content dropped again later gets other ids.
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let drop = {
                let mut h = Sha256::new();
                h.update(format!("{digest}\u{1f}{name}\u{1f}{modified}").as_bytes());
                h.finalize()
                    .iter()
                    .take(16)
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            };
            let mut pos = Pos {
                digest,
                records: 0,
                finished: 0,
                name,
            };
            let reader = match Reader::new(BufReader::new(file), format, self.dataset) {
                Ok(mut reader) => {
                    let mut rec = RawRecord::default();
                    while pos.records < skip && reader.next_into(&mut rec).unwrap_or(false) {
                        pos.records += 1;
                    }
                    Some(reader)
                }
                Err(e) => {
                    // Unusable as a whole: one quarantine entry says why.
                    self.current = Some(Current {
                        reader: None,
                        rejected: e.to_string(),
                        drop,
                        pos,
                    });
                    return Ok(true);
                }
            };
            self.current = Some(Current {
                reader,
                rejected: String::new(),
                drop,
                pos,
            });
            return Ok(true);
        }
        Ok(false)
    }

    pub fn next(&mut self, rows_max: usize) -> Result<Batch, SyncError> {
        if self.current.is_none() && !self.open_next()? {
            return Ok(Batch {
                changes: Vec::new(),
                position: self.last.clone(),
                ..Batch::default()
            });
        }
        let n_fields = self.dataset.fields.len();
        let cur = self.current.as_mut().expect("opened");
        let mut changes = Vec::new();
        let drop = cur.drop.clone();
        let id = |_: &Pos, n: u64| format!("{drop}:{n:012}");
        match cur.reader.as_mut() {
            None => {
                // Unusable as a whole: one quarantine entry says why.
                changes.push(Change {
                    op: Op::Upsert,
                    id: id(&cur.pos, 0),
                    values: vec![String::new(); n_fields],
                    committed_at_ms: None,
                    inserted: false,
                    defect: Some(format!(
                        "file {}: {}; the file is moved to rejected/",
                        cur.pos.name, cur.rejected
                    )),
                });
                cur.pos.finished = 2;
            }
            Some(reader) => {
                let mut rec = RawRecord::default();
                while changes.len() < rows_max {
                    match reader.next_into(&mut rec) {
                        Ok(true) => {
                            cur.pos.records += 1;
                            let errors: Vec<String> = rec
                                .findings
                                .iter()
                                .filter(|f| f.severity == Severity::Error)
                                .map(|f| format!("{}: {}", f.rule, f.message))
                                .collect();
                            changes.push(Change {
                                op: Op::Upsert,
                                id: id(&cur.pos, cur.pos.records),
                                values: std::mem::take(&mut rec.values),
                                committed_at_ms: None,
                                inserted: false,
                                defect: (!errors.is_empty()).then(|| {
                                    format!(
                                        "file {} line {}: {}",
                                        cur.pos.name,
                                        rec.line,
                                        errors.join("; ")
                                    )
                                }),
                            });
                        }
                        Ok(false) => {
                            cur.pos.finished = 1;
                            break;
                        }
                        Err(e) => {
                            // The rest of the file cannot be trusted: it is rejected, with
                            // the records before the error applied.
                            changes.push(Change {
                                op: Op::Upsert,
                                id: id(&cur.pos, cur.pos.records + 1),
                                values: vec![String::new(); n_fields],
                                committed_at_ms: None,
                                inserted: false,
                                defect: Some(format!(
                                    "file {}: {e}; the file is moved to rejected/ and the records after this point were not applied",
                                    cur.pos.name
                                )),
                            });
                            cur.pos.finished = 2;
                            break;
                        }
                    }
                }
            }
        }
        let pos = cur.pos.clone();
        if pos.finished != 0 {
            self.handed.insert(pos.name.clone());
            self.current = None;
        }
        self.last = pos.encode();
        Ok(Batch {
            changes,
            position: self.last.clone(),
            ..Batch::default()
        })
    }

    pub fn acknowledged(&mut self, position: &str) -> Result<(), SyncError> {
        if let Some(pos) = Pos::decode(position) {
            if pos.finished != 0 {
                self.move_finished(&pos)?;
            }
        }
        Ok(())
    }

    pub fn backlog(&self) -> Option<Backlog> {
        let n = self.pending().ok()?.len() + usize::from(self.current.is_some());
        Some(Backlog {
            amount: n as i64,
            unit: "files",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let p = Pos {
            digest: "ab".repeat(32),
            records: 12,
            finished: 1,
            name: "ho-tich 2026-11.csv".into(),
        };
        assert_eq!(Pos::decode(&p.encode()), Some(p));
        for bad in ["", "abc/1/0/x", &format!("{}/1/3/x", "ab".repeat(32))] {
            assert_eq!(Pos::decode(bad), None);
        }
    }
}
