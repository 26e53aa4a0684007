//! `lienthong doc`: e-documents as SD-JWT VCs (docs/documents.md) — issue one from a claims
//! file with a member key, present it disclosing chosen claims (with a key-binding JWT when
//! it is bound to a holder key), verify one with the registry's snapshot, revoke one a node
//! issued.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use lienthong_gateway::documents;
use lienthong_trust::sdjwt::{self, status};
use lienthong_trust::SigningKey;
use serde_json::{Map, Value};

#[derive(Subcommand)]
pub enum DocCommand {
    /// Issue an SD-JWT VC signed with a member key: every claim of the JSON object in
    /// `--claims` selectively disclosable (members of nested objects too).
    #[command(
        after_long_help = "Example:\n  lienthong doc issue --key keys/signing.pem --member VN/GOV/BCA/DANCU --vct urn:vn:lienthong:vct:residence --claims claims.json --out residence.sd-jwt"
    )]
    Issue {
        /// The member's signing key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// The issuing member's id: `iss` is `urn:lienthong:member:<id>`.
        #[arg(long)]
        member: String,
        /// The document's type (`vct`).
        #[arg(long)]
        vct: String,
        /// A JSON object: the claims.
        #[arg(long)]
        claims: PathBuf,
        #[arg(long, default_value_t = 365)]
        valid_days: u32,
        /// Bind the document to the holder's public key (a JWK file, as `doc holder-key`
        /// writes): presenting it then needs a key-binding JWT with the holder's key.
        #[arg(long)]
        holder_jwk: Option<PathBuf>,
        /// The status list the document's revocation entry is in, and its index there.
        #[arg(long, requires = "status_idx")]
        status_uri: Option<String>,
        #[arg(long, requires = "status_uri")]
        status_idx: Option<u64>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A presentation of a document disclosing only the claims named (dotted paths; naming
    /// an object discloses all of it; default: every claim). With `--holder-key`, a
    /// key-binding JWT for the verifier's `--aud` and `--nonce` is added.
    Present {
        #[arg(long)]
        doc: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "*")]
        disclose: Vec<String>,
        #[arg(long, requires_all = ["aud", "nonce"])]
        holder_key: Option<PathBuf>,
        #[arg(long)]
        aud: Option<String>,
        #[arg(long)]
        nonce: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a document or presentation with the members of a registry snapshot (checked
    /// with the registry's key): issuer, signature, disclosures, validity, key binding when
    /// `--aud` and `--nonce` are given, status when `--status-list` is. Prints the claims;
    /// exit 0 valid, 1 not.
    Verify {
        file: PathBuf,
        /// The registry's signed snapshot (JSON, as `GET /snapshot` serves it).
        #[arg(long)]
        snapshot: PathBuf,
        /// The registry's public key (base64) or a file holding it.
        #[arg(long)]
        registry_key: String,
        #[arg(long, requires = "nonce")]
        aud: Option<String>,
        #[arg(long, requires = "aud")]
        nonce: Option<String>,
        /// The issuer's status list token (`statuslist+jwt`, from the document's status URI).
        #[arg(long)]
        status_list: Option<PathBuf>,
    },
    /// Revoke a document a node issued (or suspend it, or put it back in force): its entry in
    /// the node's status list, published from the next time the list is fetched.
    Revoke {
        /// The issuing node's message log (where its documents are kept).
        #[arg(long)]
        db: PathBuf,
        /// The document's index (`status.status_list.idx`; `doc list` shows them).
        #[arg(long)]
        idx: u64,
        #[arg(long, default_value = "")]
        reason: String,
        /// Suspend instead of revoke.
        #[arg(long, conflicts_with = "reinstate")]
        suspend: bool,
        /// Put a suspended (or wrongly revoked) document back in force.
        #[arg(long)]
        reinstate: bool,
    },
    /// The documents a node issued: index, kind, dates, status (not their contents).
    List {
        #[arg(long)]
        db: PathBuf,
    },
    /// A new holder key, ECDSA P-256 (PKCS#8 PEM, created 0600), and its public JWK beside
    /// it (`<out>.jwk.json`), for documents bound to a holder.
    HolderKey {
        #[arg(long)]
        out: PathBuf,
    },
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn write_out(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, format!("{text}\n"))
            .with_context(|| format!("writing {}", p.display())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

fn json_object(path: &Path) -> Result<Map<String, Value>> {
    match serde_json::from_str(&read(path)?) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => bail!("{} is not a JSON object", path.display()),
        Err(e) => bail!("{} is not JSON: {e}", path.display()),
    }
}

pub fn run(command: DocCommand) -> Result<ExitCode> {
    let now = lienthong_core::time::now_s();
    match command {
        DocCommand::Revoke {
            db,
            idx,
            reason,
            suspend,
            reinstate,
        } => {
            let status = match (suspend, reinstate) {
                (true, _) => status::SUSPENDED,
                (_, true) => status::VALID,
                _ => status::INVALID,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let doc = rt.block_on(lienthong_gateway::msglog::set_document_status(
                &db.display().to_string(),
                idx,
                status,
                &reason,
            ))?;
            println!(
                "document {idx} ({}, issued {}): {}",
                doc.kind,
                lienthong_core::vietnam_date(doc.issued_at as i64),
                status::status_name(doc.status)
            );
            Ok(ExitCode::SUCCESS)
        }
        DocCommand::List { db } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let docs = rt.block_on(lienthong_gateway::msglog::issued_documents(
                &db.display().to_string(),
            ))?;
            for d in &docs {
                println!(
                    "{:>6}  {:<20} issued {}  expires {}  {}{}",
                    d.idx,
                    d.kind,
                    lienthong_core::vietnam_date(d.issued_at as i64),
                    lienthong_core::vietnam_date(d.expires_at as i64),
                    status::status_name(d.status),
                    if d.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", d.reason)
                    }
                );
            }
            println!("{} document(s)", docs.len());
            Ok(ExitCode::SUCCESS)
        }
        DocCommand::Issue {
            key,
            member,
            vct,
            claims,
            valid_days,
            holder_jwk,
            status_uri,
            status_idx,
            out,
        } => {
            let key = SigningKey::from_pem(&read(&key)?)
                .with_context(|| format!("{} is not a member key", key.display()))?;
            lienthong_core::MemberId::parse(&member)
                .with_context(|| format!("--member {member}"))?;
            let mut visible = Map::new();
            visible.insert("iss".into(), documents::issuer_uri(&member).into());
            visible.insert("vct".into(), vct.into());
            visible.insert("iat".into(), now.into());
            visible.insert("exp".into(), (now + u64::from(valid_days) * 86_400).into());
            if let (Some(uri), Some(idx)) = (status_uri, status_idx) {
                visible.insert(
                    "status".into(),
                    serde_json::json!({ "status_list": { "idx": idx, "uri": uri } }),
                );
            }
            let holder_jwk = holder_jwk
                .map(|p| json_object(&p).map(Value::Object))
                .transpose()?;
            let doc = sdjwt::issue(sdjwt::Issue {
                key: &key,
                kid: &member,
                visible,
                disclosable: json_object(&claims)?,
                holder_jwk,
            })?;
            write_out(&doc, out.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        DocCommand::Present {
            doc,
            disclose,
            holder_key,
            aud,
            nonce,
            out,
        } => {
            let holder = holder_key
                .map(|p| {
                    sdjwt::HolderKey::from_pem(&read(&p)?).with_context(|| p.display().to_string())
                })
                .transpose()?;
            let kb = match (&holder, &aud, &nonce) {
                (Some(key), Some(aud), Some(nonce)) => Some(sdjwt::KeyBinding {
                    key,
                    aud,
                    nonce,
                    iat: now,
                }),
                _ => None,
            };
            let names: Vec<&str> = disclose
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect();
            let shown = sdjwt::present(&read(&doc)?, &names, kb)?;
            write_out(&shown, out.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        DocCommand::Verify {
            file,
            snapshot,
            registry_key,
            aud,
            nonce,
            status_list,
        } => {
            let registry = snapshot_registry(&snapshot, &registry_key, now)?;
            let kb = aud.as_deref().zip(nonce.as_deref());
            let verified = match documents::verify(&read(&file)?, &registry, now, kb) {
                Ok(v) => v,
                Err(e) => {
                    println!("invalid: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let member = documents::issuer_member(verified.issuer()).unwrap_or("");
            let name = registry
                .member(member)
                .map(|m| m.name.as_str())
                .unwrap_or("");
            println!(
                "valid: issued by {member} ({name}), type {}",
                verified
                    .claims
                    .get("vct")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            );
            if let Some(kb) = &verified.key_binding {
                println!(
                    "  held by the bound key: presented to {} (nonce {})",
                    kb.get("aud").and_then(Value::as_str).unwrap_or("?"),
                    kb.get("nonce").and_then(Value::as_str).unwrap_or("?")
                );
            } else if verified.claims.contains_key("cnf") {
                println!(
                    "  bound to a holder key, but not presented with it (no --aud/--nonce asked)"
                );
            }
            let mut code = ExitCode::SUCCESS;
            match (status_list, verified.status_entry()) {
                (Some(path), Some((uri, idx))) => {
                    match documents::status_of(&verified, &registry, &read(&path)?, now) {
                        Ok(s) => {
                            println!(
                                "  status: {} (entry {idx} of {uri})",
                                status::status_name(s)
                            );
                            if s != status::VALID {
                                code = ExitCode::from(1);
                            }
                        }
                        Err(e) => {
                            println!("  status: unknown: {e}");
                            code = ExitCode::from(1);
                        }
                    }
                }
                (None, Some((uri, idx))) => {
                    println!("  status: not checked (entry {idx} of {uri}; give --status-list)")
                }
                (_, None) => println!("  status: the document has no status entry"),
            }
            let mut claims = verified.claims.clone();
            for internal in ["cnf", "status"] {
                claims.remove(internal);
            }
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(code)
        }
        DocCommand::HolderKey { out } => {
            let pem = sdjwt::HolderKey::generate_p256_pem()?;
            let key = sdjwt::HolderKey::from_pem(&pem)?;
            crate::roles::write_new(&out, &pem)?;
            let jwk_path = PathBuf::from(format!("{}.jwk.json", out.display()));
            std::fs::write(&jwk_path, key.public_jwk().to_string() + "\n")
                .with_context(|| format!("writing {}", jwk_path.display()))?;
            println!(
                "holder key {} (public JWK {})",
                out.display(),
                jwk_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The registry in a signed snapshot file, its signature checked with the registry key.
/// An expired snapshot still names the keys members had: it is used, with a warning.
fn snapshot_registry(
    path: &Path,
    registry_key: &str,
    now: u64,
) -> Result<lienthong_registry::Registry> {
    let key = match std::fs::read_to_string(registry_key) {
        Ok(k) => k.trim().to_owned(),
        Err(_) => registry_key.trim().to_owned(),
    };
    let signed: lienthong_registry::SignedSnapshot = serde_json::from_str(&read(path)?)
        .with_context(|| format!("{} is not a registry snapshot", path.display()))?;
    match signed.verify(&key, None, now) {
        Ok(body) => Ok(body.registry),
        Err(lienthong_registry::RegistryError::Expired { expires_at, .. }) => {
            let body = signed.verify(&key, None, expires_at.saturating_sub(1))?;
            eprintln!("warning: the snapshot (version {}) expired at {}; its members' keys are used as they were", body.version, lienthong_core::vietnam_time(expires_at as i64));
            Ok(body.registry)
        }
        Err(e) => bail!("{}: {e}", path.display()),
    }
}
