//! Registry state: every published content version, append-only, in SQLite (default) or
//! PostgreSQL (sqlx `Any`). The version only grows; saving unchanged content keeps the
//! version; the history of who-may-see-what stays queryable.

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use crate::{Registry, RegistryError};

pub struct Store {
    pool: AnyPool,
    postgres: bool,
}

fn db(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Store(e.to_string())
}

/// One stored version.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub version: u64,
    pub content_sha256: String,
    pub created_at: u64,
    /// The operator who made it (empty: the first content, or a store older than operators).
    pub changed_by: String,
    /// What the operator did (`put`, `add`, `agreement`, `agreement-delete`, `revoke`).
    pub change: String,
}

impl Store {
    /// Connects and creates the table when missing. URLs: `sqlite://FILE?mode=rwc`,
    /// `postgres://…`.
    pub async fn connect(url: &str) -> Result<Store, RegistryError> {
        sqlx::any::install_default_drivers();
        if let Some(file) = lienthong_store::private::sqlite_file(url) {
            lienthong_store::private::private_file(&file)
                .map_err(|e| RegistryError::Store(format!("{}: {e}", file.display())))?;
        }
        let postgres = match lienthong_store::Dialect::of(url) {
            Ok(lienthong_store::Dialect::Postgres) => true,
            Ok(lienthong_store::Dialect::Sqlite) => false,
            _ => {
                return Err(RegistryError::Store(format!(
                    "database_url must start with sqlite: or postgres: (got {})",
                    url.split(':').next().unwrap_or("")
                )))
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .map_err(db)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS lienthong_registry_versions (
                version BIGINT PRIMARY KEY,
                content TEXT NOT NULL,
                content_sha256 VARCHAR(64) NOT NULL,
                created_at BIGINT NOT NULL)",
        )
        .execute(&pool)
        .await
        .map_err(db)?;
        // Who made each version, and how (added to stores made before).
        for column in ["changed_by", "change"] {
            let has = sqlx::query(&format!(
                "SELECT {column} FROM lienthong_registry_versions WHERE 1 = 0"
            ))
            .fetch_all(&pool)
            .await
            .is_ok();
            if !has {
                sqlx::query(&format!(
                    "ALTER TABLE lienthong_registry_versions ADD COLUMN {column} TEXT NOT NULL DEFAULT ''"
                ))
                .execute(&pool)
                .await
                .map_err(db)?;
            }
        }
        Ok(Store { pool, postgres })
    }

    fn p(&self, n: usize) -> String {
        if self.postgres {
            format!("${n}")
        } else {
            "?".into()
        }
    }

    /// The newest version and its content.
    pub async fn latest(&self) -> Result<Option<(u64, Registry)>, RegistryError> {
        let row = sqlx::query("SELECT version, content FROM lienthong_registry_versions ORDER BY version DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let version: i64 = row.try_get(0).map_err(db)?;
        let content: String = row.try_get(1).map_err(db)?;
        let registry = serde_json::from_str(&content).map_err(|e| {
            RegistryError::Store(format!("stored version {version} does not parse: {e}"))
        })?;
        Ok(Some((version as u64, registry)))
    }

    /// Validates and stores `registry` as the next version (or returns the current version
    /// when the content is unchanged). Concurrent writers: the primary key keeps versions
    /// unique; the loser retries.
    pub async fn save(&self, registry: &Registry, now: u64) -> Result<u64, RegistryError> {
        self.save_by(registry, now, "", "").await
    }

    /// As [`Store::save`], recording who made the change (an operator's name) and how.
    pub async fn save_by(
        &self,
        registry: &Registry,
        now: u64,
        by: &str,
        change: &str,
    ) -> Result<u64, RegistryError> {
        registry.validate()?;
        let content =
            serde_json::to_string(registry).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let sha = lienthong_trust::sha256_hex(content.as_bytes());
        for _attempt in 0..5 {
            let last = sqlx::query("SELECT version, content_sha256 FROM lienthong_registry_versions ORDER BY version DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
            let (version, last_sha) = match last {
                Some(row) => (
                    row.try_get::<i64, _>(0).map_err(db)? as u64,
                    Some(row.try_get::<String, _>(1).map_err(db)?),
                ),
                None => (0, None),
            };
            if last_sha.as_deref() == Some(sha.as_str()) {
                return Ok(version);
            }
            let sql = format!("INSERT INTO lienthong_registry_versions (version, content, content_sha256, created_at, changed_by, change) VALUES ({}, {}, {}, {}, {}, {})", self.p(1), self.p(2), self.p(3), self.p(4), self.p(5), self.p(6));
            let inserted = sqlx::query(&sql)
                .bind(version as i64 + 1)
                .bind(content.clone())
                .bind(sha.clone())
                .bind(now as i64)
                .bind(by.to_owned())
                .bind(change.to_owned())
                .execute(&self.pool)
                .await;
            match inserted {
                Ok(_) => return Ok(version + 1),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(db(e)),
            }
        }
        Err(RegistryError::Store(
            "too many concurrent registry updates; try again".into(),
        ))
    }

    /// The newest `limit` versions, newest first.
    pub async fn history(&self, limit: u32) -> Result<Vec<Version>, RegistryError> {
        let sql = format!("SELECT version, content_sha256, created_at, changed_by, change FROM lienthong_registry_versions ORDER BY version DESC LIMIT {}", limit.min(10_000));
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Version {
                    version: r.try_get::<i64, _>(0).map_err(db)? as u64,
                    content_sha256: r.try_get(1).map_err(db)?,
                    created_at: r.try_get::<i64, _>(2).map_err(db)? as u64,
                    changed_by: r.try_get(3).map_err(db)?,
                    change: r.try_get(4).map_err(db)?,
                })
            })
            .collect()
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}
