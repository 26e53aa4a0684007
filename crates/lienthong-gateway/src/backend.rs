//! Datasets published straight from a table (PostgreSQL, MariaDB/MySQL or SQLite) by
//! configuration: lookup by key and filtered, keyset-paginated queries on declared filter
//! fields. Identifiers come from validated configuration; values are always bound.

use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::validate::{Options, Validator};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::error::GatewayError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

/// Typed configuration of one dataset service.
#[derive(Debug, Clone)]
pub struct TableConfig {
    /// Service code (last part of the service id).
    pub code: String,
    pub dataset: &'static Dataset,
    pub database_url: String,
    pub table: String,
    /// Dataset fields that may be used as `?field=value` filters.
    pub filters: Vec<String>,
    pub connections_max: u32,
    /// Also serve `/changes`: the table's change feed from the `lt_changes` log that a
    /// sync pipeline with `changelog = true` keeps beside it (hop-by-hop subscriptions).
    pub changes: bool,
}

/// One change of the feed.
pub struct FeedChange {
    pub seq: i64,
    pub op: String,
    pub id: String,
    pub committed_at_ms: i64,
    /// The record (upserts) or the key (deletes) in dataset field order.
    pub record: Vec<(&'static str, String)>,
}

pub struct TableService {
    pub config: TableConfig,
    dialect: Dialect,
    pool: AnyPool,
    columns: Vec<&'static str>,
    key: &'static str,
    validator: Validator,
}

/// Page size bound for filtered queries.
pub const LIMIT_MAX: u32 = 1000;

fn identifier_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl TableService {
    pub async fn connect(config: TableConfig) -> Result<TableService, String> {
        sqlx::any::install_default_drivers();
        let dialect = match config.database_url.split(':').next() {
            Some("postgres" | "postgresql") => Dialect::Postgres,
            Some("mysql" | "mariadb") => Dialect::MySql,
            Some("sqlite") => Dialect::Sqlite,
            _ => {
                return Err(format!(
                    "service {}: database_url must start with postgres:, mysql: or sqlite:",
                    config.code
                ))
            }
        };
        if !identifier_ok(&config.table) {
            return Err(format!(
                "service {}: table name {:?} must be letters, digits and _",
                config.code, config.table
            ));
        }
        let dataset = config.dataset;
        if let Some(bad) = config.filters.iter().find(|f| dataset.field(f).is_none()) {
            return Err(format!(
                "service {}: filter {bad} is not a field of dataset {}",
                config.code, dataset.name
            ));
        }
        if dataset.key.len() != 1 {
            return Err(format!(
                "service {}: dataset {} has a composite key; a table service needs a single key",
                config.code, dataset.name
            ));
        }
        let key = *dataset
            .key
            .first()
            .ok_or(format!("dataset {} has no key", dataset.name))?;
        let url = config.database_url.replacen("mariadb:", "mysql:", 1);
        let pool = AnyPoolOptions::new()
            .max_connections(config.connections_max.max(1))
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(&url)
            .await
            .map_err(|e| format!("service {}: connecting to the database: {e}", config.code))?;
        let columns = dataset.fields.iter().map(|f| f.name).collect();
        let validator = Validator::new(dataset, Options::default());
        let service = TableService {
            config,
            dialect,
            pool,
            columns,
            key,
            validator,
        };
        // Fail at start, not at the first call, when the table or a column is missing.
        service
            .fetch(&format!("{} WHERE 1 = 0", service.select()), &[])
            .await
            .map_err(|e| format!("service {}: {e}", service.config.code))?;
        if service.config.changes {
            sqlx::query("SELECT seq, tbl, change_id, op, record, committed_at_ms FROM lt_changes WHERE 1 = 0")
                .fetch_all(&service.pool)
                .await
                .map_err(|e| format!("service {}: changes = true needs the change log lt_changes beside the table (a sync pipeline with changelog = true writing it): {e}", service.config.code))?;
        }
        Ok(service)
    }

    /// Changes of the table after sequence number `after`, oldest first, at most `limit`.
    pub async fn changes(&self, after: i64, limit: u32) -> Result<Vec<FeedChange>, GatewayError> {
        if !self.config.changes {
            return Err(GatewayError::BadRequest(format!(
                "service {} publishes no change feed",
                self.config.code
            )));
        }
        let sql = format!(
            "SELECT seq, op, change_id, record, committed_at_ms FROM lt_changes WHERE tbl = {} AND seq > {} ORDER BY seq LIMIT {}",
            self.placeholder(1),
            self.placeholder(2),
            limit.clamp(1, LIMIT_MAX)
        );
        let rows = sqlx::query(&sql)
            .bind(self.config.table.clone())
            .bind(after)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| GatewayError::Backend(e.to_string()))?;
        let text = |r: &AnyRow, i: usize| -> Result<String, GatewayError> {
            match r.try_get::<String, _>(i) {
                Ok(s) => Ok(s),
                Err(_) => r
                    .try_get::<Vec<u8>, _>(i)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| GatewayError::Backend(e.to_string())),
            }
        };
        rows.iter()
            .map(|r| {
                let record: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&text(r, 3)?)
                        .map_err(|e| GatewayError::Backend(format!("change log record: {e}")))?;
                Ok(FeedChange {
                    seq: r
                        .try_get(0)
                        .map_err(|e| GatewayError::Backend(e.to_string()))?,
                    op: text(r, 1)?,
                    id: text(r, 2)?,
                    committed_at_ms: r
                        .try_get(4)
                        .map_err(|e| GatewayError::Backend(e.to_string()))?,
                    record: self
                        .columns
                        .iter()
                        .filter_map(|c| {
                            record
                                .get(*c)
                                .and_then(serde_json::Value::as_str)
                                .map(|v| (*c, v.to_owned()))
                        })
                        .collect(),
                })
            })
            .collect()
    }

    fn quote(&self, ident: &str) -> String {
        match self.dialect {
            Dialect::MySql => format!("`{ident}`"),
            _ => format!("\"{ident}\""),
        }
    }

    fn placeholder(&self, n: usize) -> String {
        match self.dialect {
            Dialect::Postgres => format!("${n}"),
            _ => "?".into(),
        }
    }

    fn select(&self) -> String {
        let cast = if self.dialect == Dialect::MySql {
            "CHAR"
        } else {
            "TEXT"
        };
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("CAST({} AS {cast})", self.quote(c)))
            .collect();
        format!(
            "SELECT {} FROM {}",
            cols.join(", "),
            self.quote(&self.config.table)
        )
    }

    async fn fetch(&self, sql: &str, binds: &[String]) -> Result<Vec<Vec<String>>, String> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(b.clone());
        }
        let rows: Vec<AnyRow> = q.fetch_all(&self.pool).await.map_err(|e| e.to_string())?;
        rows.iter()
            .map(|row| {
                (0..self.columns.len())
                    .map(|i| {
                        row.try_get::<Option<String>, _>(i)
                            .map(Option::unwrap_or_default)
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            })
            .collect()
    }

    /// Normalises a row through the dictionary (invalid values are passed as stored).
    fn normalise(&self, raw: Vec<String>) -> Vec<(&'static str, String)> {
        let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
        let outcome = self.validator.validate(&strs);
        self.columns.iter().copied().zip(outcome.values).collect()
    }

    pub async fn get(&self, key: &str) -> Result<Vec<(&'static str, String)>, GatewayError> {
        let sql = format!(
            "{} WHERE {} = {}",
            self.select(),
            self.quote(self.key),
            self.placeholder(1)
        );
        let mut rows = self
            .fetch(&sql, &[key.to_owned()])
            .await
            .map_err(GatewayError::Backend)?;
        match rows.pop() {
            Some(row) => Ok(self.normalise(row)),
            None => Err(GatewayError::NotFound),
        }
    }

    /// Filtered query ordered by key; `cursor` is the last key of the previous page.
    pub async fn query(
        &self,
        filters: &[(String, String)],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Vec<(&'static str, String)>>, Option<String>), GatewayError> {
        if filters.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "at least one filter is required: {}",
                self.config.filters.join(", ")
            )));
        }
        let mut clauses = Vec::new();
        let mut binds = Vec::new();
        for (field, value) in filters {
            if !self.config.filters.contains(field) {
                return Err(GatewayError::BadRequest(format!(
                    "{field} is not a declared filter (declared: {})",
                    self.config.filters.join(", ")
                )));
            }
            binds.push(value.clone());
            clauses.push(format!(
                "{} = {}",
                self.quote(field),
                self.placeholder(binds.len())
            ));
        }
        if let Some(c) = cursor {
            binds.push(c.to_owned());
            clauses.push(format!(
                "{} > {}",
                self.quote(self.key),
                self.placeholder(binds.len())
            ));
        }
        let limit = limit.clamp(1, LIMIT_MAX);
        let sql = format!(
            "{} WHERE {} ORDER BY {} LIMIT {}",
            self.select(),
            clauses.join(" AND "),
            self.quote(self.key),
            limit + 1
        );
        let mut rows = self
            .fetch(&sql, &binds)
            .await
            .map_err(GatewayError::Backend)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let key_index = self
            .columns
            .iter()
            .position(|c| *c == self.key)
            .unwrap_or(0);
        let next = if more {
            rows.last().map(|r| r[key_index].clone())
        } else {
            None
        };
        Ok((rows.into_iter().map(|r| self.normalise(r)).collect(), next))
    }
}
