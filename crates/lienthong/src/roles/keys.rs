//! `lienthong keys …`: the registry CA, member keys, joining requests and node certificates.

use super::*;

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create the registry CA (ca.crt, ca.key) — done once, by the registry operator.
    Ca {
        /// Instance name, e.g. VN.
        #[arg(long, default_value = "VN")]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a member's Ed25519 signing key (signing.key, secret) and its public key
    /// (public.key, for the registry).
    Member {
        #[arg(long)]
        out: PathBuf,
    },
    /// At the agency: create the node's TLS key (node.key, stays here), a certificate
    /// request (node.csr) and the joining request to send to the registry operator
    /// (request.toml: member id, name, node address, public key from public.key, the CSR).
    Request {
        /// The member subsystem the node acts for, e.g. VN/GOV/BHXH/SI.
        #[arg(long)]
        member: String,
        /// The agency's name as the registry lists it (default: the member id).
        #[arg(long)]
        name: Option<String>,
        /// Host names or IP addresses the node is reached at (repeatable).
        #[arg(long = "host", default_value = "127.0.0.1")]
        hosts: Vec<String>,
        /// Where other nodes reach this node's peer face (host:port), if it provides services.
        #[arg(long)]
        address: Option<String>,
        /// Directory of the member's keys (`keys member --out`); node.key, node.csr and
        /// request.toml are written here too.
        #[arg(long)]
        out: PathBuf,
    },
    /// At the registry: sign a joining request (`--request request.toml`: writes node.crt,
    /// ca.crt and member.toml, the registry entry for `registry apply --add`), or a bare
    /// certificate request (`--member` and `--csr`: writes the certificate to --out and
    /// prints its fingerprint).
    Sign {
        /// Directory with ca.crt and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// A joining request from `keys request`.
        #[arg(long, conflicts_with_all = ["member", "csr"])]
        request: Option<PathBuf>,
        /// The member the request must be for.
        #[arg(long, requires = "csr")]
        member: Option<String>,
        #[arg(long, requires = "member")]
        csr: Option<PathBuf>,
        /// With --request: the directory for node.crt, ca.crt and member.toml; with --csr:
        /// the certificate file.
        #[arg(long)]
        out: PathBuf,
    },
    /// At the agency: a TLS client certificate for one of its information systems
    /// (NAME.crt, NAME.key), self-signed, to register on its node under `[client_auth]`
    /// (SSLAUTH); prints the fingerprint the node pins.
    Client {
        /// The system's name, logged with each of its calls (letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// A node's message-log key (log.key, secret): signs the log's checkpoints for witnesses,
    /// apart from the member key; prints the `log_key` of the member's registry entry.
    /// (`keys request` makes one too.)
    Log {
        /// The member subsystem the node acts for.
        #[arg(long)]
        member: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The witness's cosigning key (witness.key, secret), on the center's node; prints the
    /// registry's `[witness]` entry.
    Witness {
        /// The member whose node witnesses (the center's).
        #[arg(long)]
        member: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue a node TLS certificate and key together at the registry (node.crt, node.key);
    /// `request` + `sign` keep the key at the agency instead.
    Node {
        /// Directory with ca.crt and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The member subsystem the node acts for, e.g. VN/GOV/BCA/DANCU.
        #[arg(long)]
        member: String,
        /// Host names or IP addresses the node is reached at (repeatable).
        #[arg(long = "host", default_value = "127.0.0.1")]
        hosts: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

/// A member's joining request (`request.toml`): what the registry needs to list it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinRequest {
    id: String,
    name: String,
    /// The member's public key (base64), its registry entry's `signing_key`.
    signing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    /// The node's certificate request (PEM).
    csr: String,
    /// The verifier key of the node's message-log key (C2SP vkey).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_key: Option<String>,
}

/// The vkey of the log key in `out/log.key`, made there first if missing.
fn log_vkey(member: &str, out: &Path) -> Result<String> {
    let path = out.join("log.key");
    let key = if path.exists() {
        SigningKey::from_pem(&read(&path)?).with_context(|| path.display().to_string())?
    } else {
        let key = SigningKey::generate();
        write_new(&path, &key.to_pem()?)?;
        key
    };
    Ok(
        lienthong_trust::note::NoteSigner::log(&lienthong_registry::log_origin(member), &key)?
            .vkey(),
    )
}

/// The registry CA from its directory (ca.crt, ca.key, and ca.name, which issuance needs to
/// rebuild the issuer).
pub(super) fn load_ca(dir: &Path) -> Result<Ca> {
    let name = read(&dir.join("ca.name"))?.trim().to_owned();
    Ok(Ca::from_pem(
        &name,
        &read(&dir.join("ca.crt"))?,
        &read(&dir.join("ca.key"))?,
    )?)
}

pub fn keys(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Log { member, out } => {
            MemberId::parse(&member)?;
            if out.join("log.key").exists() {
                bail!(
                    "{} exists: a log key is not replaced (its checkpoints are witnessed)",
                    out.join("log.key").display()
                );
            }
            let vkey = log_vkey(&member, &out)?;
            println!(
                "log key: {} (the node's log_key setting; it never leaves the agency)
                 for the member's registry entry:
log_key = \"{vkey}\"",
                out.join("log.key").display()
            );
        }
        KeysCommand::Witness { member, out } => {
            MemberId::parse(&member)?;
            let key = SigningKey::generate();
            let vkey = lienthong_trust::note::NoteSigner::witness(
                &format!("lienthong.witness/{member}"),
                &key,
            )?
            .vkey();
            write_new(&out.join("witness.key"), &key.to_pem()?)?;
            println!(
                "witness key: {} (the center node's witness_key setting)
                 for the registry:
[witness]
member = \"{member}\"
key = \"{vkey}\"",
                out.join("witness.key").display()
            );
        }
        KeysCommand::Client { name, out } => {
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                bail!("--name {name:?}: 1 to 64 letters, digits, '-', '_' or '.'");
            }
            let (cert, key) = lienthong_trust::self_signed(&name)?;
            write_new(&out.join(format!("{name}.key")), &key)?;
            write_new(&out.join(format!("{name}.crt")), &cert)?;
            println!(
                "client certificate of {name}: {} (register it on the node), {} (stays with the system)\n\
                 [[client_auth.systems]]\nname = \"{name}\"\nfingerprint = \"{}\"",
                out.join(format!("{name}.crt")).display(),
                out.join(format!("{name}.key")).display(),
                lienthong_trust::cert_fingerprint(&cert)?
            );
        }
        KeysCommand::Ca { name, out } => {
            let ca = Ca::generate(&name)?;
            write_new(&out.join("ca.key"), &ca.key_pem())?;
            write_new(&out.join("ca.crt"), &ca.cert_pem)?;
            write_new(&out.join("ca.name"), &format!("{name}\n"))?;
            println!(
                "registry CA {name}: {}/ca.crt (give to every node), {}/ca.key (keep secret)",
                out.display(),
                out.display()
            );
        }
        KeysCommand::Member { out } => {
            let key = SigningKey::generate();
            write_new(&out.join("signing.key"), &key.to_pem()?)?;
            write_new(&out.join("public.key"), &format!("{}\n", key.public_b64()))?;
            // The registry's member entry names the public key `signing_key`; the node's
            // own `signing_key` setting is the path of the secret one.
            println!(
                "public key (also in {}/public.key), for the registry's member entry:\n\
                 signing_key = \"{}\"\n\
                 secret key: {} (the node's signing_key setting; it never leaves the agency)",
                out.display(),
                key.public_b64(),
                out.join("signing.key").display()
            );
        }
        KeysCommand::Request {
            member,
            name,
            hosts,
            address,
            out,
        } => {
            let id = MemberId::parse(&member)?;
            if id.subsystem.is_none() {
                bail!("--member {member}: a node acts for a subsystem (INSTANCE/CLASS/MEMBER/SUBSYSTEM)");
            }
            if let Some(a) = &address {
                a.rsplit_once(':')
                    .and_then(|(h, p)| (!h.is_empty()).then_some(p))
                    .and_then(|p| p.parse::<u16>().ok())
                    .with_context(|| format!("--address {a}: expected host:port"))?;
            }
            let public_path = out.join("public.key");
            let public = read(&public_path)
                .with_context(|| {
                    format!(
                        "the member's public key: run `lienthong keys member --out {}` first",
                        out.display()
                    )
                })?
                .trim()
                .to_owned();
            SigningKey::from_pem(&read(&out.join("signing.key"))?)
                .ok()
                .filter(|k| k.public_b64() == public)
                .with_context(|| {
                    format!(
                        "{} does not match {}/signing.key",
                        public_path.display(),
                        out.display()
                    )
                })?;
            let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
            let (csr, key) = lienthong_trust::node_request(&member, &hosts)?;
            let request = JoinRequest {
                id: member.clone(),
                name: name.unwrap_or_else(|| member.clone()),
                signing_key: public,
                address,
                csr: csr.clone(),
                log_key: Some(log_vkey(&member, &out)?),
            };
            write_new(&out.join("node.key"), &key)?;
            write_new(&out.join("node.csr"), &csr)?;
            write_new(
                &out.join("request.toml"),
                &format!(
                    "# Joining request of {member}: send this file to the registry operator \
                     (node.key and signing.key stay here).\n{}",
                    toml::to_string(&request)?
                ),
            )?;
            println!(
                "send {}/request.toml to the registry operator; keep node.key, signing.key and log.key here",
                out.display()
            );
        }
        KeysCommand::Sign {
            ca_dir,
            request,
            member,
            csr,
            out,
        } => {
            let ca = load_ca(&ca_dir)?;
            match (request, member, csr) {
                (Some(request), _, _) => {
                    let r: JoinRequest = parse_toml(&request)?;
                    MemberId::parse(&r.id).with_context(|| request.display().to_string())?;
                    lienthong_trust::check_public_key(&r.signing_key).with_context(|| {
                        format!("{}: signing_key is not a public key", request.display())
                    })?;
                    if let Some(v) = &r.log_key {
                        let parsed = lienthong_trust::note::NoteVerifier::parse(v)
                            .with_context(|| format!("{}: log_key", request.display()))?;
                        if parsed.name != lienthong_registry::log_origin(&r.id) {
                            bail!(
                                "{}: log_key is named {}, not {}",
                                request.display(),
                                parsed.name,
                                lienthong_registry::log_origin(&r.id)
                            );
                        }
                    }
                    let cert = ca.sign_request(&r.csr, &r.id)?;
                    let fingerprint = lienthong_trust::cert_fingerprint(&cert)?;
                    let entry = lienthong_registry::Additions {
                        members: vec![lienthong_registry::Member {
                            id: r.id.clone(),
                            name: r.name,
                            signing_key: r.signing_key,
                            address: r.address,
                            cert_fingerprint: fingerprint.clone(),
                            log_key: r.log_key,
                        }],
                        ..Default::default()
                    };
                    write_new(&out.join("node.crt"), &cert)?;
                    if !out.join("ca.crt").exists() {
                        write_new(&out.join("ca.crt"), &ca.cert_pem)?;
                    }
                    write_new(
                        &out.join("member.toml"),
                        &format!(
                            "# Registry entry of {}: lienthong registry apply --add this file\n{}",
                            r.id,
                            toml::to_string(&entry)?
                        ),
                    )?;
                    println!(
                        "{0}/node.crt and {0}/ca.crt go back to the agency; add {0}/member.toml \
                         to the registry (registry apply --add); cert_fingerprint = \"{fingerprint}\"",
                        out.display()
                    );
                }
                (None, Some(member), Some(csr)) => {
                    MemberId::parse(&member)?;
                    let cert = ca.sign_request(&read(&csr)?, &member)?;
                    write_new(&out, &cert)?;
                    println!(
                        "cert_fingerprint = \"{}\"",
                        lienthong_trust::cert_fingerprint(&cert)?
                    );
                }
                _ => bail!("keys sign needs --request FILE, or --member and --csr"),
            }
        }
        KeysCommand::Node {
            ca_dir,
            member,
            hosts,
            out,
        } => {
            MemberId::parse(&member)?;
            let ca = load_ca(&ca_dir)?;
            let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
            let (cert, key) = ca.issue(&member, &hosts)?;
            write_new(&out.join("node.key"), &key)?;
            write_new(&out.join("node.crt"), &cert)?;
            if !out.join("ca.crt").exists() {
                write_new(&out.join("ca.crt"), &ca.cert_pem)?;
            }
            println!(
                "cert_fingerprint = \"{}\"",
                lienthong_trust::cert_fingerprint(&cert)?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
