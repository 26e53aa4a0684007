//! Where the demo's data and ports are: loading synthetic tables, reading state back.

use std::collections::HashMap;

use super::*;

/// Every socket the demo listens on, bound before anything starts: at `--port` and the
/// ports after it, or, with `--port 0`, wherever the system gives room (so that nothing else
/// can take a port between choosing it and using it).
pub(super) struct Ports {
    registry: SocketAddr,
    dashboard: SocketAddr,
    /// The Ministry of Education's existing REST API.
    api: SocketAddr,
    /// The center's citizen face, and the demo's identity provider.
    citizen: SocketAddr,
    idp: SocketAddr,
    /// (client, peer, admin) per agency.
    nodes: Vec<(SocketAddr, SocketAddr, SocketAddr)>,
    bound: std::sync::Mutex<HashMap<SocketAddr, std::net::TcpListener>>,
}

impl Ports {
    /// Binds the registry at `base`, the dashboard at `base + 1`, the ministry's REST API at
    /// `base + 2`, the citizen face at `base + 3`, its identity provider at `base + 4` and
    /// each agency's three faces
    /// from `base + 10` on; every one at port 0 when `base` is 0.
    pub(super) fn bind(base: u16, agencies: usize) -> Result<Ports> {
        let mut bound = HashMap::new();
        let mut bind = |offset: u16| -> Result<SocketAddr> {
            let port = if base == 0 { 0 } else { base + offset };
            let want = SocketAddr::from(([127, 0, 0, 1], port));
            let l = std::net::TcpListener::bind(want)
                .with_context(|| format!("binding {want} (pass another --port, or --port 0)"))?;
            let at = l.local_addr()?;
            bound.insert(at, l);
            Ok(at)
        };
        let registry = bind(0)?;
        let dashboard = bind(1)?;
        let api = bind(2)?;
        let citizen = bind(3)?;
        let idp = bind(4)?;
        let nodes = (0..agencies as u16)
            .map(|i| {
                let p = 10 + 3 * i;
                Ok((bind(p)?, bind(p + 1)?, bind(p + 2)?))
            })
            .collect::<Result<_>>()?;
        Ok(Ports {
            registry,
            dashboard,
            api,
            citizen,
            idp,
            nodes,
            bound: std::sync::Mutex::new(bound),
        })
    }

    pub(super) fn registry(&self) -> SocketAddr {
        self.registry
    }

    pub(super) fn dashboard(&self) -> SocketAddr {
        self.dashboard
    }

    pub(super) fn citizen(&self) -> SocketAddr {
        self.citizen
    }

    pub(super) fn idp(&self) -> SocketAddr {
        self.idp
    }

    pub(super) fn api(&self) -> SocketAddr {
        self.api
    }

    /// (client, peer, admin) of agency `i`.
    pub(super) fn node(&self, i: usize) -> (SocketAddr, SocketAddr, SocketAddr) {
        self.nodes[i]
    }

    /// The socket bound at `addr`, for the server that listens there (once).
    pub(super) fn take(&self, addr: SocketAddr) -> Result<std::net::TcpListener> {
        self.bound
            .lock()
            .map_err(|_| anyhow::anyhow!("ports lock poisoned"))?
            .remove(&addr)
            .with_context(|| format!("the socket at {addr} was taken already"))
    }

    /// As [`Ports::take`], as a Tokio listener.
    pub(super) fn take_tokio(&self, addr: SocketAddr) -> Result<tokio::net::TcpListener> {
        let l = self.take(addr)?;
        l.set_nonblocking(true)?;
        Ok(tokio::net::TcpListener::from_std(l)?)
    }
}

/// An agency's information system: its client certificate (pinned by its node) and key, as
/// PEM and as the files the printed curl commands name.
pub(super) struct Portal {
    pub(super) fingerprint: String,
    pub(super) cert_pem: String,
    pub(super) key_pem: String,
    pub(super) crt: PathBuf,
    pub(super) key: PathBuf,
}

/// Each agency's portal: a client certificate its node pins (SSLAUTH), made once and kept in
/// `keys` (as one PEM, and as the .crt/.key pair curl takes).
pub(super) fn portals(keys: &Path) -> Result<Vec<Portal>> {
    let mut systems = Vec::new();
    for a in AGENCIES {
        let (cert_pem, key_pem) = read_or(
            &keys.join(format!("{}.portal.pem", slug(a.id))),
            || {
                let (c, k) = lienthong_trust::self_signed(&format!("{}-portal", slug(a.id)))?;
                Ok(((c.clone(), k.clone()), format!("{c}\n{k}")))
            },
            |t| {
                let split = t
                    .find("-----BEGIN PRIVATE KEY-----")
                    .context("portal key missing")?;
                Ok((t[..split].trim().to_owned() + "\n", t[split..].to_owned()))
            },
        )?;
        // The same pair as separate files, for curl.
        let crt = keys.join(format!("{}.portal.crt", slug(a.id)));
        let key = keys.join(format!("{}.portal.key", slug(a.id)));
        std::fs::write(&crt, &cert_pem)?;
        if !key.exists() {
            read_or(&key, || Ok(((), key_pem.clone())), |_| Ok(()))?;
        }
        systems.push(Portal {
            fingerprint: lienthong_trust::cert_fingerprint(&cert_pem)?,
            cert_pem,
            key_pem,
            crt,
            key,
        });
    }
    Ok(systems)
}

pub(super) fn slug(id: &str) -> String {
    id.replace('/', "_")
}

/// Loads a generated CSV into a SQLite table with the dataset's columns (raw, as the agency
/// holds it: the dictionary normalises on the way out).
pub(super) async fn load_table(
    csv_path: &Path,
    db_url: &str,
    table: &str,
    dataset: &Dataset,
    province: Option<&str>,
) -> Result<u64> {
    let pool = sqlx::AnyPool::connect(db_url).await?;
    let cols: Vec<String> = dataset
        .fields
        .iter()
        .map(|f| format!("{} TEXT", f.name))
        .collect();
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {table} ({})",
        cols.join(", ")
    ))
    .execute(&pool)
    .await?;
    if dataset.field("updated_at").is_none() {
        sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN updated_at TEXT"))
            .execute(&pool)
            .await?;
    }
    let mut reader = csv::Reader::from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let names: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let province_at = names.iter().position(|n| n == "province_code");
    let with_updated = if dataset.field("updated_at").is_none() {
        ", updated_at"
    } else {
        ""
    };
    let mut rows = 0u64;
    let mut tx = pool.begin().await?;
    for record in reader.records() {
        let record = record?;
        if let (Some(p), Some(i)) = (province, province_at) {
            if record.get(i) != Some(p) {
                continue;
            }
        }
        let mut values: Vec<String> = record
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect();
        if !with_updated.is_empty() {
            values.push("'2025-07-01T00:00:00+07:00'".into());
        }
        sqlx::query(&format!(
            "INSERT INTO {table} ({}{with_updated}) VALUES ({})",
            names.join(", "),
            values.join(", ")
        ))
        .execute(&mut *tx)
        .await?;
        rows += 1;
    }
    tx.commit().await?;
    pool.close().await;
    Ok(rows)
}

pub(super) fn read_or<T>(
    path: &Path,
    make: impl FnOnce() -> Result<(T, String)>,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text),
        Err(_) => {
            let (value, text) = make()?;
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(value)
        }
    }
}

/// The first row of `table` (by its first column): the values of `columns`, as text; empty
/// when the table is.
pub(super) async fn first_row(url: &str, table: &str, columns: &[&str]) -> Result<Vec<String>> {
    let pool = sqlx::AnyPool::connect(url).await?;
    let row = sqlx::query(&format!(
        "SELECT {} FROM {table} ORDER BY {} LIMIT 1",
        columns.join(", "),
        columns[0]
    ))
    .fetch_optional(&pool)
    .await?;
    pool.close().await;
    Ok(row
        .map(|r| (0..columns.len()).map(|i| sqlx::Row::get(&r, i)).collect())
        .unwrap_or_default())
}

/// Loads each publishing agency's table from the synthetic data, where its database is not
/// there yet (a new demo directory, or an agency added since it was made).
pub(super) async fn load_missing_tables(
    dir: &Path,
    synth_dir: &Path,
    db: &dyn Fn(&str) -> String,
) -> Result<()> {
    for a in AGENCIES {
        let Some((table, dataset)) = a.publishes else {
            continue;
        };
        let file = dir.join(format!("{}.db", slug(a.id)));
        if file.exists() {
            continue;
        }
        let n = load_table(
            &synth_dir.join(format!("{}.csv", dataset.name)),
            &db(&slug(a.id)),
            table,
            dataset,
            None,
        )
        .await?;
        eprintln!("  {:<24} {n:>8} rows → {}", a.id, file.display());
    }
    Ok(())
}

/// The center's operator acknowledges alerts with a token kept beside the demo's data (0600,
/// the same one across runs).
pub(super) fn operator_token(file: &Path) -> Result<String> {
    if let Ok(t) = std::fs::read_to_string(file) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_owned());
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    lienthong_store::private::private_file(file)?;
    std::fs::write(file, format!("{token}\n"))?;
    Ok(token)
}
