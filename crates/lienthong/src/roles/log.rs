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
    /// Delete bodies kept longer than a number of days (the entries and their proofs stay).
    PruneBodies {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        older_than_days: u32,
    },
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
                Err(e @ (msglog::LogError::NotFound(_) | msglog::LogError::Database(_))) => {
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
        } => {
            let doc = msglog::evidence(&db.display().to_string(), &message_id, &key)
                .await
                .map_err(anyhow::Error::msg)?;
            let text = serde_json::to_string_pretty(&doc)?;
            match out {
                Some(path) => std::fs::write(&path, text + "\n")
                    .with_context(|| format!("writing {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
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
                        "valid: {} {} → {} for purpose {:?} by officer {:?}, status {}, subjects {}",
                        id, record["client"], record["service"], record["purpose"], record["user_id"], record["status"], record["data_subjects"]
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
