//! `lienthong log …`: verify, evidence, archives and retention of a node's message log.

use super::*;

#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Re-derive every entry hash and checkpoint of a node's message log and check every
    /// checkpoint signature; exit 0 when intact, 1 when anything was changed.
    Verify {
        /// The node's message log (SQLite file, or a `postgres://` URL).
        #[arg(long)]
        db: PathBuf,
        /// The node member's public signing key (base64), as the registry lists it.
        #[arg(long)]
        key: String,
    },
    /// Export one exchange with its signatures and proofs as a self-contained evidence file.
    Evidence {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        key: String,
        /// The X-Road-Id of the exchange.
        message_id: String,
        /// Where to write it (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A person the exchange named (a personal id; repeatable): the log stores persons
        /// as pseudonyms, and the evidence then carries the request as it was signed, so its
        /// signature checks offline too. Needs `--log-key`.
        #[arg(long = "subject", requires = "log_key")]
        subjects: Vec<String>,
        /// The node's log key (its `log_key` file), which keys the pseudonyms.
        #[arg(long)]
        log_key: Option<PathBuf>,
    },
    /// Check an evidence file offline against the log's pinned public key.
    VerifyEvidence {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        key: String,
    },
    /// Move old entries (and the bodies only they reference) into a self-verifying archive
    /// file; the log keeps their leaf hashes, so it still verifies, and drops their content.
    #[command(after_long_help = "Example:
  lienthong log archive --db node.messages.db --older-than-days 365 --out-dir archive/
  lienthong log verify-archive --file archive/log-000000000000-000000120000.jsonl --key KEY")]
    Archive {
        #[arg(long)]
        db: PathBuf,
        /// Entries under checkpoints older than this many days.
        #[arg(long, conflicts_with = "through")]
        older_than_days: Option<u32>,
        /// Entries before this index (rounded down to a checkpoint).
        #[arg(long)]
        through: Option<u64>,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Check an archive file offline against the log's pinned public key.
    VerifyArchive {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        key: String,
    },
    /// Save the log's signed checkpoints (C2SP notes, with the witness's cosignature where
    /// the node holds one) as files `<size>.checkpoint` in a folder: what others keep to
    /// check the log later with `witness-check`.
    Checkpoints {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Check saved checkpoints of a log offline: each signed by the log key (`--key`, its
    /// vkey as the registry lists it), cosigned by the witnesses given, no two of one size
    /// with different roots, and — with `--db` — each a state the log really held (a log
    /// cut at its tail, restored from an older copy or rewritten is found). Exit 0 when
    /// consistent, 1 when anything is wrong.
    #[command(after_long_help = "Example:
  lienthong log checkpoints --db node.messages.db --out-dir saved/
  lienthong log witness-check --key 'lienthong.log/VN/GOV/BCA/DANCU+1a2b3c4d+AR…' --db node.messages.db saved/")]
    WitnessCheck {
        /// The log key's vkey (the member's `log_key` in the registry).
        #[arg(long)]
        key: String,
        /// A witness's vkey (the registry's `[witness] key`); repeatable.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
        /// The log itself, to check every saved checkpoint against what it holds now.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Files holding one signed note each, or folders of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// A person's history in a node's log: the exchanges where the node gave out their data,
    /// each with its inclusion proof to a signed checkpoint (cosigned by the witness where
    /// the node holds that), as a `lienthong-history/v1` file `verify-proof` checks offline.
    History {
        #[arg(long)]
        db: PathBuf,
        /// The node's member id (names the log's origin).
        #[arg(long)]
        member: String,
        /// The node's log key (its `log_key` file): the log names persons by pseudonym.
        #[arg(long)]
        log_key: PathBuf,
        /// The person's personal id.
        #[arg(long)]
        subject: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a person's history file offline: the checkpoint signed by the log key (`--key`,
    /// the member's `log_key` vkey), cosigned by a witness given, and every entry in the log
    /// under it. Exit 0 when it holds, 1 when not.
    VerifyProof {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        key: String,
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
    },
    /// Delete bodies kept longer than a number of days (the entries and their proofs stay).
    PruneBodies {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        older_than_days: u32,
    },
}

/// A JSON document, pretty, to `out` or standard output.
fn write_json(doc: &serde_json::Value, out: Option<&std::path::Path>) -> Result<ExitCode> {
    let text = serde_json::to_string_pretty(doc)?;
    match out {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--key` and every `--witness-key`, parsed as vkeys.
fn note_keys(
    key: &str,
    witness_keys: &[String],
) -> Result<(
    lienthong_trust::note::NoteVerifier,
    Vec<lienthong_trust::note::NoteVerifier>,
)> {
    use lienthong_trust::note::NoteVerifier;
    let log_key = NoteVerifier::parse(key).context("--key")?;
    let witnesses = witness_keys
        .iter()
        .map(|k| NoteVerifier::parse(k).context("--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    Ok((log_key, witnesses))
}

pub(super) fn days_ago_ms(days: u32) -> u64 {
    lienthong_core::time::now_ms().saturating_sub(u64::from(days) * 86_400_000)
}

pub async fn log(command: LogCommand) -> Result<ExitCode> {
    use lienthong_gateway::msglog;
    match command {
        LogCommand::Verify { db, key } => {
            match msglog::verify(&db.display().to_string(), &key).await {
                Ok(r) => {
                    println!(
                        "intact: {} entries, {} signed checkpoints{}",
                        r.entries,
                        r.checkpoints,
                        if r.archived > 0 {
                            format!(
                                ", {} archived (check the archive files with log verify-archive)",
                                r.archived
                            )
                        } else {
                            String::new()
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(
                    e @ (msglog::LogError::NotFound(_)
                    | msglog::LogError::NoSuch(_)
                    | msglog::LogError::Database(_)),
                ) => {
                    bail!(e)
                }
                // A signature that fails is a wrong key as often as an altered log: say so.
                Err(msglog::LogError::Key(e)) => {
                    println!(
                        "does not verify with this key: {e}; check that --key is the member's \
                         public key as the registry lists it (its public.key) — with that key, \
                         the log was altered"
                    );
                    Ok(ExitCode::from(1))
                }
                Err(msglog::LogError::Altered(e)) => {
                    println!("TAMPERED: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        LogCommand::Evidence {
            db,
            key,
            message_id,
            out,
            subjects,
            log_key,
        } => {
            let pseudonyms = match &log_key {
                Some(p) => Some(lienthong_gateway::record::Pseudonymiser::of_log_key(
                    &lienthong_trust::SigningKey::from_pem(&read(p)?)
                        .with_context(|| p.display().to_string())?,
                )),
                None => None,
            };
            let restore = pseudonyms
                .as_ref()
                .filter(|_| !subjects.is_empty())
                .map(|p| (p, subjects.as_slice()));
            let doc =
                msglog::evidence_restored(&db.display().to_string(), &message_id, &key, restore)
                    .await
                    .map_err(anyhow::Error::msg)?;
            write_json(&doc, out.as_deref())
        }
        LogCommand::Archive {
            db,
            older_than_days,
            through,
            out_dir,
        } => {
            let until = match (older_than_days, through) {
                (Some(d), None) => msglog::ArchiveUntil::Before(days_ago_ms(d)),
                (None, Some(n)) => msglog::ArchiveUntil::Size(n),
                _ => bail!("give --older-than-days or --through"),
            };
            match msglog::archive(&db.display().to_string(), until, &out_dir)
                .await
                .map_err(anyhow::Error::msg)?
            {
                Some(r) => println!(
                    "archived entries {}..{} ({} bodies) to {}",
                    r.from,
                    r.to,
                    r.bodies,
                    r.file.display()
                ),
                None => println!("nothing to archive"),
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::VerifyArchive { file, key } => match msglog::verify_archive(&file, &key) {
            Ok((from, to)) => {
                println!("valid: entries {from}..{to} under a signed checkpoint");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("INVALID: {e}");
                Ok(ExitCode::from(1))
            }
        },
        LogCommand::PruneBodies {
            db,
            older_than_days,
        } => {
            let n = msglog::prune_bodies(&db.display().to_string(), days_ago_ms(older_than_days))
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{n} bodies deleted");
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::History {
            db,
            member,
            log_key,
            subject,
            out,
        } => {
            lienthong_core::MemberId::parse(&member).context("--member")?;
            let key = lienthong_trust::SigningKey::from_pem(&read(&log_key)?)
                .with_context(|| log_key.display().to_string())?;
            let stored =
                lienthong_gateway::record::Pseudonymiser::of_log_key(&key).pseudonym(&subject);
            let doc = msglog::history_of(
                &db.display().to_string(),
                &lienthong_registry::log_origin(&member),
                &stored,
                msglog::HISTORY_ENTRIES_MAX,
            )
            .await?;
            write_json(&doc, out.as_deref())
        }
        LogCommand::VerifyProof {
            file,
            key,
            witness_keys,
        } => {
            let (log_key, witnesses) = note_keys(&key, &witness_keys)?;
            let doc: serde_json::Value = serde_json::from_str(&read(&file)?)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            match lienthong_gateway::witness::verify_history(&doc, &log_key, &witnesses) {
                Ok((entries, cosigned)) => {
                    println!(
                        "valid: {} entries in the log of {} under its signed checkpoint{}",
                        entries.len(),
                        log_key.name,
                        if cosigned {
                            ", cosigned by the witness"
                        } else {
                            " (not cosigned by a witness given)"
                        }
                    );
                    for e in &entries {
                        println!(
                            "  {} {} → {} purpose {} officer {:?} fields {} status {}",
                            lienthong_core::vietnam_time(e["timestamp"].as_i64().unwrap_or(0)),
                            e["client"].as_str().unwrap_or(""),
                            e["service"].as_str().unwrap_or(""),
                            e["purpose"].as_str().unwrap_or(""),
                            e["user_id"].as_str().unwrap_or(""),
                            e["fields"],
                            e["status"]
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("INVALID: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        LogCommand::Checkpoints { db, out_dir } => {
            let notes = msglog::saved_notes(&db.display().to_string()).await?;
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            for (size, note) in &notes {
                let path = out_dir.join(format!("{size:012}.checkpoint"));
                std::fs::write(&path, note)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!(
                "{} signed checkpoints saved in {}",
                notes.len(),
                out_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::WitnessCheck {
            key,
            witness_keys,
            db,
            files,
        } => {
            let (log_key, witnesses) = note_keys(&key, &witness_keys)?;
            let mut notes = Vec::new();
            for f in &files {
                let mut paths = Vec::new();
                if f.is_dir() {
                    for e in
                        std::fs::read_dir(f).with_context(|| format!("reading {}", f.display()))?
                    {
                        let p = e?.path();
                        if p.is_file() {
                            paths.push(p);
                        }
                    }
                    paths.sort();
                } else {
                    paths.push(f.clone());
                }
                for p in paths {
                    notes.push((p.display().to_string(), read(&p)?));
                }
            }
            let tree = match &db {
                Some(db) => Some(msglog::stored_tree(&db.display().to_string()).await?),
                None => None,
            };
            let report = lienthong_gateway::witness::check_saved(
                &notes,
                &log_key,
                &witnesses,
                tree.as_ref(),
            );
            for f in &report.findings {
                println!("FOUND: {f}");
            }
            let sizes = report.checkpoints.iter().map(|c| c.1);
            println!(
                "{} checkpoints of {} verified (sizes {}..{}), {} cosigned by a witness given{}",
                report.checkpoints.len(),
                log_key.name,
                sizes.clone().min().unwrap_or(0),
                sizes.max().unwrap_or(0),
                report.cosigned,
                match &tree {
                    Some(t) => format!(", checked against the log's {} entries", t.size()),
                    None => String::new(),
                }
            );
            Ok(ExitCode::from(
                if report.findings.is_empty() && !report.checkpoints.is_empty() {
                    0
                } else {
                    1
                },
            ))
        }
        LogCommand::VerifyEvidence { file, key } => {
            let doc: serde_json::Value = serde_json::from_str(&read(&file)?)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            match msglog::verify_evidence(&doc, &key) {
                Ok(record) => {
                    // The client's X-Road-Id where the entry has it (the node's id otherwise).
                    let id = record
                        .get("client_message_id")
                        .unwrap_or(&record["message_id"]);
                    println!(
                        "valid: {} {} → {} {} {} for purpose {:?} by officer {:?}, status {}, subjects {}{}",
                        id, record["client"], record["service"], record["method"].as_str().unwrap_or(""), record["path"].as_str().unwrap_or(""), record["purpose"], record["user_id"], record["status"], record["data_subjects"],
                        if record["request_signature_checked"] == false {
                            " (the request names persons by pseudonym: its own signature is checked in evidence exported with --subject)"
                        } else {
                            ""
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("INVALID: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
