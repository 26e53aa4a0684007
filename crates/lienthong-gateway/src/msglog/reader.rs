//! A message log opened read-only for the dashboard and reports: typed reads of entries, no
//! writes, no schema changes (SQLite `mode=ro`, PostgreSQL read-only transactions).

use super::*;

/// One entry as stored: its index in the log and its record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub index: u64,
    /// The record (see `record.rs`); `Null` for an entry whose content was archived.
    pub record: Value,
}

/// A message log, read-only.
#[derive(Clone)]
pub struct LogReader {
    pool: AnyPool,
    store: Store,
    location: String,
}

impl LogReader {
    /// Opens an existing log (SQLite file or `postgres://` URL) read-only.
    pub async fn open(location: &str) -> Result<LogReader, String> {
        Ok(LogReader {
            pool: connect_ro(location).await?,
            store: Store::of(location),
            location: location.to_owned(),
        })
    }

    /// The evidence file of one exchange (`audit::evidence`): its entry, the inclusion proof
    /// to a signed checkpoint, checked against the node member's `public_key`.
    pub async fn evidence(&self, message_id: &str, public_key: &str) -> Result<Value, String> {
        super::audit::evidence(&self.location, message_id, public_key).await
    }

    /// The newest `limit` entries, newest first.
    pub async fn recent(&self, limit: u32) -> Result<Vec<LogEntry>, String> {
        let sql = format!("SELECT idx, entry FROM log_entries ORDER BY idx DESC LIMIT {limit}");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().filter_map(entry_of).collect())
    }

    /// Up to `limit` entries after index `after` (exclusive), oldest first: how a reader
    /// follows a log without reading it twice.
    pub async fn after(&self, after: Option<u64>, limit: u32) -> Result<Vec<LogEntry>, String> {
        let from = after.map_or(-1, |i| i as i64);
        let sql = format!(
            "SELECT idx, entry FROM log_entries WHERE idx > {from} ORDER BY idx LIMIT {limit}"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().filter_map(entry_of).collect())
    }

    /// The entries of one message id (an exchange has one per node; a reused client id more).
    pub async fn by_message_id(&self, message_id: &str) -> Result<Vec<LogEntry>, String> {
        let sql = self
            .store
            .sql("SELECT idx, entry FROM log_entries WHERE message_id = ? ORDER BY idx");
        let rows = sqlx::query(&sql)
            .bind(message_id.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().filter_map(entry_of).collect())
    }
}

fn entry_of(row: &sqlx::any::AnyRow) -> Option<LogEntry> {
    let index = u64::try_from(row.try_get::<i64, _>(0).ok()?).ok()?;
    let text: String = row.try_get(1).ok()?;
    Some(LogEntry {
        index,
        record: serde_json::from_str(&text).unwrap_or(Value::Null),
    })
}

impl LogReader {
    /// The witness alarms this node raised about other members' logs, newest first.
    pub async fn alarms(&self) -> Result<Vec<super::Alarm>, String> {
        // A log from before witnessing has no table: no alarms.
        if sqlx::query("SELECT 1 FROM witness_alarms WHERE 1 = 0")
            .fetch_all(&self.pool)
            .await
            .is_err()
        {
            return Ok(Vec::new());
        }
        super::witnessed::alarms(&self.pool).await
    }

    /// The breach incidents recorded with this log (`lienthong incident`), oldest first.
    pub async fn incidents(&self) -> Result<Vec<crate::incident::Incident>, String> {
        super::incidents::read_incidents(&self.pool).await
    }

    /// On the witness: each log it cosigned, the size and when (ms). Oldest origin first.
    pub async fn witnessed(&self) -> Result<Vec<(String, u64, u64)>, String> {
        let Ok(rows) = sqlx::query("SELECT origin, size, at_ms FROM witness_state ORDER BY origin")
            .fetch_all(&self.pool)
            .await
        else {
            return Ok(Vec::new());
        };
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0).map_err(|e| e.to_string())?,
                    r.try_get::<i64, _>(1).map_err(|e| e.to_string())? as u64,
                    r.try_get::<i64, _>(2).map_err(|e| e.to_string())? as u64,
                ))
            })
            .collect()
    }
}
