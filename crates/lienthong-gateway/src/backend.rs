//! Datasets published straight from a table (PostgreSQL, MariaDB/MySQL or SQLite) by
//! configuration: lookup by key and filtered, keyset-paginated queries on declared filter
//! fields. Identifiers come from validated configuration; values are always bound.

use lienthong_dictionary::catalog::Dataset;
use lienthong_dictionary::validate::{Options, Validator};
use lienthong_store::{changelog, identifier_ok, text_at, Dialect};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;

use crate::error::GatewayError;

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
    /// Table column of a dataset field, where it is named otherwise (field → column); a field
    /// not listed is read from the column of its own name.
    pub columns: std::collections::BTreeMap<String, String>,
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
    /// Dataset fields, in dataset order.
    columns: Vec<&'static str>,
    /// The table column read for each of `columns`, quoted and qualified with the table
    /// name: SQLite reads an unqualified double-quoted name that matches no column as a
    /// string literal, a qualified one that matches none is an error on every database.
    sources: Vec<String>,
    key: &'static str,
    validator: Validator,
}

/// Page size bound for filtered queries.
pub const LIMIT_MAX: u32 = 1000;

impl TableService {
    pub async fn connect(config: TableConfig) -> Result<TableService, String> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of(&config.database_url)
            .map_err(|e| format!("service {}: {e}", config.code))?;
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
        for (field, column) in &config.columns {
            if dataset.field(field).is_none() {
                return Err(format!(
                    "service {}: columns maps {field}, which is not a field of dataset {} (`lienthong dictionary datasets` lists them)",
                    config.code, dataset.name
                ));
            }
            if !identifier_ok(column) {
                return Err(format!(
                    "service {}: column name {column:?} (for {field}) must be letters, digits and _",
                    config.code
                ));
            }
        }
        let url = config.database_url.replacen("mariadb:", "mysql:", 1);
        let pool = AnyPoolOptions::new()
            .max_connections(config.connections_max.max(1))
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(&url)
            .await
            .map_err(|e| format!("service {}: connecting to the database: {e}", config.code))?;
        let columns: Vec<&'static str> = dataset.fields.iter().map(|f| f.name).collect();
        let validator = Validator::new(dataset, Options::default());
        let mut service = TableService {
            config,
            dialect,
            pool,
            columns,
            sources: Vec::new(),
            key,
            validator,
        };
        service.sources = service.columns.iter().map(|f| service.column(f)).collect();
        // Fail at start, not at the first call, when the table or a column is missing: a
        // node never publishes a value its table does not hold.
        service.check_columns().await?;
        service
            .fetch(&format!("{} WHERE 1 = 0", service.select()), &[])
            .await
            .map_err(|e| format!("service {}: {e}", service.config.code))?;
        if service.config.changes {
            changelog::check(&service.pool)
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
        let rows = changelog::read(
            &self.pool,
            self.dialect,
            &self.config.table,
            after,
            limit.clamp(1, LIMIT_MAX),
        )
        .await
        .map_err(|e| GatewayError::Backend(e.to_string()))?;
        rows.into_iter()
            .map(|r| {
                let record: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&r.record)
                        .map_err(|e| GatewayError::Backend(format!("change log record: {e}")))?;
                Ok(FeedChange {
                    seq: r.seq,
                    op: r.op,
                    id: r.change_id,
                    committed_at_ms: r.committed_at_ms,
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

    /// The table column name of a dataset field.
    fn column_name<'a>(&'a self, field: &'a str) -> &'a str {
        self.config
            .columns
            .get(field)
            .map(String::as_str)
            .unwrap_or(field)
    }

    /// The quoted, table-qualified column of a dataset field.
    fn column(&self, field: &str) -> String {
        format!(
            "{}.{}",
            self.quote(&self.config.table),
            self.quote(self.column_name(field))
        )
    }

    /// Refuses a table that lacks a column of the dataset, naming every missing one.
    async fn check_columns(&self) -> Result<(), String> {
        let code = &self.config.code;
        let table = &self.config.table;
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT name FROM pragma_table_info(?)",
            Dialect::Postgres => {
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = ANY (current_schemas(false))"
            }
            Dialect::MySql => {
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_name = ? AND table_schema = DATABASE()"
            }
        };
        let rows = sqlx::query(sql)
            .bind(table.clone())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| format!("service {code}: reading the columns of table {table}: {e}"))?;
        let have: Vec<String> = rows.iter().filter_map(|r| text_at(r, 0).ok()).collect();
        if have.is_empty() {
            return Err(format!(
                "service {code}: table {table} not found (or it has no columns)"
            ));
        }
        // PostgreSQL compares quoted names exactly; MariaDB and SQLite ignore case.
        let found = |c: &str| {
            have.iter().any(|h| match self.dialect {
                Dialect::Postgres => h == c,
                _ => h.eq_ignore_ascii_case(c),
            })
        };
        let missing: Vec<String> = self
            .columns
            .iter()
            .filter(|f| !found(self.column_name(f)))
            .map(|f| match self.column_name(f) {
                c if c == *f => f.to_string(),
                c => format!("{c} (for {f})"),
            })
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "service {code}: table {table} has no column {} of dataset {}: a published \
                 table needs a column per dataset field (`lienthong dictionary datasets` lists \
                 them), or `columns` mapping fields to the table's own column names",
                missing.join(", "),
                self.config.dataset.name
            ));
        }
        Ok(())
    }

    fn quote(&self, ident: &str) -> String {
        self.dialect.quote(ident)
    }

    fn placeholder(&self, n: usize) -> String {
        self.dialect.param(n)
    }

    fn select(&self) -> String {
        let cast = self.dialect.text();
        let cols: Vec<String> = self
            .sources
            .iter()
            .map(|c| format!("CAST({c} AS {cast})"))
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
                    .map(|i| text_at(row, i).map_err(|e| e.to_string()))
                    .collect()
            })
            .collect()
    }

    /// Normalises a row through the dictionary (invalid values are passed as stored).
    fn normalise(&self, raw: Vec<String>) -> Vec<(&'static str, String)> {
        let strs: Vec<&str> = raw.iter().map(String::as_str).collect();
        let outcome = lienthong_dictionary::engine::validate_guarded(&self.validator, &strs);
        self.columns.iter().copied().zip(outcome.values).collect()
    }

    pub async fn get(&self, key: &str) -> Result<Vec<(&'static str, String)>, GatewayError> {
        let sql = format!(
            "{} WHERE {} = {}",
            self.select(),
            self.column(self.key),
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
                self.column(field),
                self.placeholder(binds.len())
            ));
        }
        if let Some(c) = cursor {
            binds.push(c.to_owned());
            clauses.push(format!(
                "{} > {}",
                self.column(self.key),
                self.placeholder(binds.len())
            ));
        }
        let limit = limit.clamp(1, LIMIT_MAX);
        let sql = format!(
            "{} WHERE {} ORDER BY {} LIMIT {}",
            self.select(),
            clauses.join(" AND "),
            self.column(self.key),
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
