//! Where the demo's data and ports are: loading synthetic tables, reading state back.

use super::*;

pub(super) struct Ports {
    pub(super) base: u16,
}

impl Ports {
    pub(super) fn registry(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.base))
    }
    /// (client, peer, admin) of agency `i`.
    pub(super) fn node(&self, i: usize) -> (SocketAddr, SocketAddr, SocketAddr) {
        let p = self.base + 10 + 3 * i as u16;
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        (a(p), a(p + 1), a(p + 2))
    }
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
