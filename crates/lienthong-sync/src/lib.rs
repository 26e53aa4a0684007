//! Sync: changes in an agency table flow into the center's replica, validated and normalised
//! by the shared dictionary. This first source polls by `(updated_at, key)`; log-based sources
//! (PostgreSQL pgoutput, MariaDB binlog) and file drops come next (issue 5).
//!
//! Guarantees: each batch — upserts of valid rows, quarantine of invalid ones with their
//! reasons, and the new source position — commits in one replica transaction, so the
//! position advances only with the data it covers. A crash repeats at most the batch in
//! flight, and re-applying it is idempotent (upsert by key; quarantine keyed by position).

use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::finding::Severity;
use lienthong_dictionary::validate::{Options, Validator};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("source database: {0}")]
    Source(String),
    #[error("replica database: {0}")]
    Replica(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    fn of(url: &str) -> Result<Dialect, SyncError> {
        match url.split(':').next() {
            Some("postgres" | "postgresql") => Ok(Dialect::Postgres),
            Some("mysql" | "mariadb") => Ok(Dialect::MySql),
            Some("sqlite") => Ok(Dialect::Sqlite),
            _ => Err(SyncError::Config(format!(
                "database url must start with postgres:, mysql: or sqlite: (got {})",
                url.split(':').next().unwrap_or("")
            ))),
        }
    }

    fn quote(self, ident: &str) -> String {
        match self {
            Dialect::MySql => format!("`{ident}`"),
            _ => format!("\"{ident}\""),
        }
    }

    fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            _ => "?".into(),
        }
    }

    fn text(self) -> &'static str {
        match self {
            Dialect::MySql => "CHAR",
            _ => "TEXT",
        }
    }
}

fn identifier_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Typed configuration of one pipeline (the CLI builds it from TOML).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Stable name; the checkpoint and quarantine are keyed by it.
    pub name: String,
    pub dataset: &'static Dataset,
    pub source_url: String,
    pub source_table: String,
    /// The change-order column (ISO timestamps or any text that sorts in change order).
    pub updated_at_column: String,
    pub replica_url: String,
    pub replica_table: String,
    pub batch_rows_max: u32,
}

/// Where a pipeline stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    /// `updated_at` and key of the last applied change; empty before the first batch.
    pub position: (String, String),
    pub rows_applied: u64,
    pub quarantined: u64,
    /// Source rows after the position (the backlog).
    pub lag_rows: Option<u64>,
}

pub struct Pipeline {
    config: PipelineConfig,
    source: AnyPool,
    source_dialect: Dialect,
    replica: AnyPool,
    replica_dialect: Dialect,
    validator: Validator,
    key: &'static str,
}

/// What one [`Pipeline::step`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub applied: u64,
    pub quarantined: u64,
}

async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url.replacen("mariadb:", "mysql:", 1))
        .await
}

impl Pipeline {
    /// Connects both ends, checks the source table and creates the replica tables.
    pub async fn open(config: PipelineConfig, today: String) -> Result<Pipeline, SyncError> {
        for (what, ident) in [
            ("source_table", &config.source_table),
            ("updated_at_column", &config.updated_at_column),
            ("replica_table", &config.replica_table),
        ] {
            if !identifier_ok(ident) {
                return Err(SyncError::Config(format!(
                    "pipeline {}: {what} {ident:?} must be letters, digits and _",
                    config.name
                )));
            }
        }
        if config.batch_rows_max == 0 || config.batch_rows_max > 100_000 {
            return Err(SyncError::Config(format!(
                "pipeline {}: batch_rows_max must be 1..=100000",
                config.name
            )));
        }
        let key = *config.dataset.key.first().ok_or(SyncError::Config(format!(
            "dataset {} has no key",
            config.dataset.name
        )))?;
        if config.dataset.key.len() != 1 {
            return Err(SyncError::Config(format!(
                "dataset {} has a composite key; polling needs a single key",
                config.dataset.name
            )));
        }
        let source_dialect = Dialect::of(&config.source_url)?;
        let replica_dialect = Dialect::of(&config.replica_url)?;
        let source = connect(&config.source_url)
            .await
            .map_err(|e| SyncError::Source(format!("{}: {e}", config.name)))?;
        let replica = connect(&config.replica_url)
            .await
            .map_err(|e| SyncError::Replica(format!("{}: {e}", config.name)))?;
        let validator = Validator::new(
            config.dataset,
            Options {
                today,
                deceased: None,
            },
        );
        let p = Pipeline {
            config,
            source,
            source_dialect,
            replica,
            replica_dialect,
            validator,
            key,
        };
        p.fetch_after(("", ""), 0).await?;
        p.create_replica_tables().await?;
        Ok(p)
    }

    async fn create_replica_tables(&self) -> Result<(), SyncError> {
        let d = self.replica_dialect;
        // MySQL cannot index TEXT without a prefix: the key is VARCHAR there, the data TEXT.
        let text = "TEXT";
        let key_type = if d == Dialect::MySql {
            "VARCHAR(255)"
        } else {
            "TEXT"
        };
        let cols: Vec<String> = self
            .config
            .dataset
            .fields
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    d.quote(f.name),
                    if f.name == self.key { key_type } else { text }
                )
            })
            .collect();
        let ddl = [
            format!(
                "CREATE TABLE IF NOT EXISTS {} ({}, {} {text} NOT NULL, PRIMARY KEY ({}))",
                d.quote(&self.config.replica_table),
                cols.join(", "),
                d.quote("lt_position"),
                d.quote(self.key)
            ),
            format!("CREATE TABLE IF NOT EXISTS lt_sync_checkpoints (pipeline VARCHAR(200) PRIMARY KEY, position_at {text} NOT NULL, position_key {text} NOT NULL, rows_applied BIGINT NOT NULL)"),
            format!("CREATE TABLE IF NOT EXISTS lt_sync_quarantine (pipeline VARCHAR(200) NOT NULL, position VARCHAR(400) NOT NULL, record {text} NOT NULL, reasons {text} NOT NULL, PRIMARY KEY (pipeline, position))"),
        ];
        for sql in ddl {
            sqlx::query(&sql)
                .execute(&self.replica)
                .await
                .map_err(|e| SyncError::Replica(format!("{}: {e}", self.config.name)))?;
        }
        Ok(())
    }

    /// The last applied position, rows applied and rows quarantined.
    pub async fn status(&self) -> Result<Status, SyncError> {
        let (position, rows_applied) = self.checkpoint().await?;
        let q = format!(
            "SELECT COUNT(*) FROM lt_sync_quarantine WHERE pipeline = {}",
            self.replica_dialect.param(1)
        );
        let quarantined: i64 = sqlx::query(&q)
            .bind(self.config.name.clone())
            .fetch_one(&self.replica)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| SyncError::Replica(e.to_string()))?;
        let lag_rows = self.count_after((&position.0, &position.1)).await.ok();
        Ok(Status {
            name: self.config.name.clone(),
            position,
            rows_applied,
            quarantined: quarantined as u64,
            lag_rows,
        })
    }

    async fn checkpoint(&self) -> Result<((String, String), u64), SyncError> {
        let q = format!("SELECT position_at, position_key, rows_applied FROM lt_sync_checkpoints WHERE pipeline = {}", self.replica_dialect.param(1));
        let row = sqlx::query(&q)
            .bind(self.config.name.clone())
            .fetch_optional(&self.replica)
            .await
            .map_err(|e| SyncError::Replica(e.to_string()))?;
        Ok(match row {
            Some(r) => {
                let get = |i| {
                    r.try_get::<String, _>(i)
                        .map_err(|e| SyncError::Replica(e.to_string()))
                };
                (
                    (get(0)?, get(1)?),
                    r.try_get::<i64, _>(2)
                        .map_err(|e| SyncError::Replica(e.to_string()))? as u64,
                )
            }
            None => ((String::new(), String::new()), 0),
        })
    }

    fn after_clause(&self) -> (String, String) {
        let d = self.source_dialect;
        let at = format!(
            "CAST({} AS {})",
            d.quote(&self.config.updated_at_column),
            d.text()
        );
        let key = format!("CAST({} AS {})", d.quote(self.key), d.text());
        let clause = format!(
            "({at} > {p1} OR ({at} = {p2} AND {key} > {p3}))",
            p1 = d.param(1),
            p2 = d.param(2),
            p3 = d.param(3)
        );
        (clause, format!("{at}, {key}"))
    }

    async fn count_after(&self, (at, key): (&str, &str)) -> Result<u64, SyncError> {
        let (clause, _) = self.after_clause();
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {clause}",
            self.source_dialect.quote(&self.config.source_table)
        );
        let n: i64 = sqlx::query(&sql)
            .bind(at.to_owned())
            .bind(at.to_owned())
            .bind(key.to_owned())
            .fetch_one(&self.source)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| SyncError::Source(e.to_string()))?;
        Ok(n as u64)
    }

    /// Source rows after a position, in change order: (updated_at, values in field order).
    async fn fetch_after(
        &self,
        (at, key): (&str, &str),
        limit: u32,
    ) -> Result<Vec<(String, Vec<String>)>, SyncError> {
        let d = self.source_dialect;
        let (clause, order) = self.after_clause();
        let mut cols: Vec<String> = self
            .config
            .dataset
            .fields
            .iter()
            .map(|f| format!("CAST({} AS {})", d.quote(f.name), d.text()))
            .collect();
        cols.insert(
            0,
            format!(
                "CAST({} AS {})",
                d.quote(&self.config.updated_at_column),
                d.text()
            ),
        );
        let sql = format!(
            "SELECT {} FROM {} WHERE {clause} ORDER BY {order} LIMIT {limit}",
            cols.join(", "),
            d.quote(&self.config.source_table)
        );
        let rows = sqlx::query(&sql)
            .bind(at.to_owned())
            .bind(at.to_owned())
            .bind(key.to_owned())
            .fetch_all(&self.source)
            .await
            .map_err(|e| SyncError::Source(format!("{}: {e}", self.config.name)))?;
        rows.iter()
            .map(|r| {
                let values: Result<Vec<String>, _> = (0..cols.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .map(Option::unwrap_or_default)
                    })
                    .collect();
                let mut values = values.map_err(|e| SyncError::Source(e.to_string()))?;
                let at = values.remove(0);
                Ok((at, values))
            })
            .collect()
    }

    /// Applies the next batch; returns what it did (zero rows: caught up).
    pub async fn step(&self) -> Result<StepReport, SyncError> {
        let ((at, key), applied_before) = self.checkpoint().await?;
        let rows = self
            .fetch_after((&at, &key), self.config.batch_rows_max)
            .await?;
        let Some((last_at, last_values)) = rows.last() else {
            return Ok(StepReport::default());
        };
        let key_index = self.config.dataset.index(self.key).unwrap_or(0);
        let new_position = (last_at.clone(), last_values[key_index].clone());
        let d = self.replica_dialect;
        let err = |e: sqlx::Error| SyncError::Replica(format!("{}: {e}", self.config.name));
        let mut report = StepReport::default();
        let mut tx = self.replica.begin().await.map_err(err)?;
        for (row_at, raw) in &rows {
            let position = format!("{row_at}\u{1f}{}", raw[key_index]);
            let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
            let outcome = self.validator.validate(&strs);
            if outcome.is_valid() {
                let names: Vec<String> = self
                    .config
                    .dataset
                    .fields
                    .iter()
                    .map(|f| d.quote(f.name))
                    .chain([d.quote("lt_position")])
                    .collect();
                let params: Vec<String> = (1..=names.len()).map(|n| d.param(n)).collect();
                let table = d.quote(&self.config.replica_table);
                let sql = match d {
                    Dialect::MySql => format!(
                        "INSERT INTO {table} ({}) VALUES ({}) ON DUPLICATE KEY UPDATE {}",
                        names.join(", "),
                        params.join(", "),
                        names
                            .iter()
                            .map(|c| format!("{c} = VALUES({c})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    _ => format!(
                        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
                        names.join(", "),
                        params.join(", "),
                        d.quote(self.key),
                        names
                            .iter()
                            .map(|c| format!("{c} = excluded.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let mut q = sqlx::query(&sql);
                for v in outcome.values {
                    q = q.bind(v);
                }
                q.bind(position).execute(&mut *tx).await.map_err(err)?;
                report.applied += 1;
            } else {
                let reasons: Vec<serde_json::Value> = outcome
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .map(|f| serde_json::json!({ "field": f.field, "rule": f.rule, "message": f.message }))
                    .collect();
                let record: serde_json::Map<String, serde_json::Value> = self
                    .config
                    .dataset
                    .fields
                    .iter()
                    .zip(raw)
                    .map(|(f, v)| (f.name.to_owned(), v.clone().into()))
                    .collect();
                let sql = match d {
                    Dialect::MySql => "INSERT INTO lt_sync_quarantine (pipeline, position, record, reasons) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE pipeline = pipeline".to_owned(),
                    _ => format!("INSERT INTO lt_sync_quarantine (pipeline, position, record, reasons) VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING", d.param(1), d.param(2), d.param(3), d.param(4)),
                };
                sqlx::query(&sql)
                    .bind(self.config.name.clone())
                    .bind(position)
                    .bind(serde_json::Value::Object(record).to_string())
                    .bind(serde_json::Value::Array(reasons).to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
                report.quarantined += 1;
            }
        }
        let total = (applied_before + report.applied) as i64;
        let upsert = match d {
            Dialect::MySql => "INSERT INTO lt_sync_checkpoints (pipeline, position_at, position_key, rows_applied) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE position_at = VALUES(position_at), position_key = VALUES(position_key), rows_applied = VALUES(rows_applied)".to_owned(),
            _ => format!("INSERT INTO lt_sync_checkpoints (pipeline, position_at, position_key, rows_applied) VALUES ({}, {}, {}, {}) ON CONFLICT (pipeline) DO UPDATE SET position_at = excluded.position_at, position_key = excluded.position_key, rows_applied = excluded.rows_applied", d.param(1), d.param(2), d.param(3), d.param(4)),
        };
        sqlx::query(&upsert)
            .bind(self.config.name.clone())
            .bind(new_position.0)
            .bind(new_position.1)
            .bind(total)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(report)
    }

    /// Steps until no rows remain; returns the totals.
    pub async fn catch_up(&self) -> Result<StepReport, SyncError> {
        let mut total = StepReport::default();
        loop {
            let r = self.step().await?;
            if r.applied + r.quarantined == 0 {
                return Ok(total);
            }
            total.applied += r.applied;
            total.quarantined += r.quarantined;
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }
}
