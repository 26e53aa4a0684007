//! SQL dialects by database URL, identifier checks, text columns and connections.

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    /// The dialect of a database URL (`postgres:`/`postgresql:`, `mysql:`/`mariadb:`,
    /// `sqlite:`): the one place lienthong reads a URL's scheme.
    pub fn of(url: &str) -> Result<Dialect, StoreError> {
        match url.split(':').next() {
            Some("postgres" | "postgresql") => Ok(Dialect::Postgres),
            Some("mysql" | "mariadb") => Ok(Dialect::MySql),
            Some("sqlite") => Ok(Dialect::Sqlite),
            _ => Err(StoreError::Url(
                url.split(':').next().unwrap_or("").to_owned(),
            )),
        }
    }

    pub fn quote(self, ident: &str) -> String {
        match self {
            Dialect::MySql => format!("`{ident}`"),
            _ => format!("\"{ident}\""),
        }
    }

    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            _ => "?".into(),
        }
    }

    /// The type a value is cast to when read as text.
    pub fn text(self) -> &'static str {
        match self {
            Dialect::MySql => "CHAR",
            _ => "TEXT",
        }
    }

    /// Bound parameters one statement may carry (SQLite's default limit is the lowest).
    pub fn params_max(self) -> usize {
        match self {
            Dialect::Sqlite => 32_000,
            _ => 60_000,
        }
    }

    /// `INSERT … ON CONFLICT/DUPLICATE KEY` that overwrites every column in `names`.
    pub fn upsert_sql(self, table: &str, names: &[String], key: &[String], rows: usize) -> String {
        let mut values = String::with_capacity(rows * names.len() * 4);
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                values.push_str(", ");
            }
            values.push('(');
            for c in 0..names.len() {
                if c > 0 {
                    values.push_str(", ");
                }
                n += 1;
                values.push_str(&self.param(n));
            }
            values.push(')');
        }
        let cols = names.join(", ");
        match self {
            Dialect::MySql => format!(
                "INSERT INTO {table} ({cols}) VALUES {values} ON DUPLICATE KEY UPDATE {}",
                names
                    .iter()
                    .map(|c| format!("{c} = VALUES({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!(
                "INSERT INTO {table} ({cols}) VALUES {values} ON CONFLICT ({}) DO UPDATE SET {}",
                key.join(", "),
                names
                    .iter()
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// `(?, ?, …), (?, ?, …)`: `rows` groups of `cols` parameters, numbered in order.
    pub fn rows_of_params(self, rows: usize, cols: usize) -> String {
        let mut n = 0;
        (0..rows)
            .map(|_| {
                let ps: Vec<String> = (0..cols)
                    .map(|_| {
                        n += 1;
                        self.param(n)
                    })
                    .collect();
                format!("({})", ps.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `DELETE FROM table WHERE (k1, k2) IN ((?, ?), …)`.
    pub fn delete_sql(self, table: &str, key: &[String], rows: usize) -> String {
        let mut n = 0;
        let tuples: Vec<String> = (0..rows)
            .map(|_| {
                let ps: Vec<String> = key
                    .iter()
                    .map(|_| {
                        n += 1;
                        self.param(n)
                    })
                    .collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        format!(
            "DELETE FROM {table} WHERE ({}) IN ({})",
            key.join(", "),
            tuples.join(", ")
        )
    }
}

/// A SQL identifier lienthong may put into statements: letters, digits and `_`.
pub fn identifier_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Column `i` as text (`""` for NULL). MySQL reports `TEXT` and `CAST(… AS CHAR)` of one
/// as a blob type through sqlx's `Any` driver, so bytes are taken as UTF-8 too.
pub fn text_at(row: &sqlx::any::AnyRow, i: usize) -> Result<String, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<Option<String>, _>(i) {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(_) => Ok(row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()),
    }
}

/// A statement written with `?` placeholders, numbered `$1, $2…` as PostgreSQL wants them.
/// (The statements it is given hold no `?` of their own: values are bound.)
pub fn numbered_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A pool for any supported URL (`mariadb:` is read as `mysql:`).
pub async fn connect(url: &str, connections_max: u32) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(connections_max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url.replacen("mariadb:", "mysql:", 1))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_numbered_for_postgres() {
        assert_eq!(
            numbered_params("UPDATE t SET a = ? WHERE b = ? AND c = 'x'"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = 'x'"
        );
    }

    #[test]
    fn statements_per_dialect() {
        let names = vec!["\"a\"".to_owned(), "\"b\"".to_owned()];
        let key = vec!["\"a\"".to_owned()];
        assert_eq!(
            Dialect::Postgres.upsert_sql("\"t\"", &names, &key, 2),
            "INSERT INTO \"t\" (\"a\", \"b\") VALUES ($1, $2), ($3, $4) ON CONFLICT (\"a\") DO UPDATE SET \"a\" = excluded.\"a\", \"b\" = excluded.\"b\""
        );
        let names = vec!["`a`".to_owned()];
        assert_eq!(
            Dialect::MySql.upsert_sql("`t`", &names, &names, 1),
            "INSERT INTO `t` (`a`) VALUES (?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`)"
        );
        let key = vec!["\"a\"".to_owned(), "\"b\"".to_owned()];
        assert_eq!(
            Dialect::Sqlite.delete_sql("\"t\"", &key, 2),
            "DELETE FROM \"t\" WHERE (\"a\", \"b\") IN ((?, ?), (?, ?))"
        );
    }

    #[test]
    fn identifiers() {
        assert!(identifier_ok("citizen_2025"));
        for bad in ["", "1x", "a-b", "a;drop", "x\"y", &"a".repeat(64)] {
            assert!(!identifier_ok(bad), "{bad}");
        }
    }
}
