//! Incidents kept with the node's message log (table `incidents`: the controller's breach
//! dossier beside the evidence it rests on), written by `lienthong incident`, read by the
//! dashboard. The log's own tables are not touched.

use serde_json::Value;
use sqlx::Row;

use super::{LogError, Store};
use crate::incident::Incident;

fn db(e: sqlx::Error) -> LogError {
    LogError::Database(e.to_string())
}

/// A read-write connection to the log's database for the tables beside the log — incidents,
/// documents' statuses — never the log's own (the node may be running: SQLite waits for its
/// writer, PostgreSQL has row locks).
pub(super) async fn connect_rw(path: &str) -> Result<sqlx::AnyPool, LogError> {
    sqlx::any::install_default_drivers();
    let url = match Store::of(path) {
        Store::Postgres => path.to_owned(),
        Store::Sqlite => {
            if !std::path::Path::new(path).exists() {
                return Err(LogError::NotFound(path.to_owned()));
            }
            format!("sqlite://{path}?mode=rw")
        }
    };
    let sqlite = Store::of(path) == Store::Sqlite;
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|e| LogError::Database(format!("message log {path}: {e}")))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS incidents (id VARCHAR(40) PRIMARY KEY, body TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .map_err(db)?;
    Ok(pool)
}

/// Records a new incident; its id is `INC-<discovery date>-<n>` (n counts that day's).
pub async fn open_incident(path: &str, mut incident: Incident) -> Result<Incident, LogError> {
    let pool = connect_rw(path).await?;
    let day = lienthong_core::vietnam_date(incident.discovered_at as i64).replace('-', "");
    let prefix = format!("INC-{day}-");
    let taken: Vec<String> =
        sqlx::query_scalar(&Store::of(path).sql("SELECT id FROM incidents WHERE id LIKE ?"))
            .bind(format!("{prefix}%"))
            .fetch_all(&pool)
            .await
            .map_err(db)?;
    incident.id = format!("{prefix}{}", taken.len() + 1);
    sqlx::query(&Store::of(path).sql("INSERT INTO incidents (id, body) VALUES (?, ?)"))
        .bind(incident.id.clone())
        .bind(serde_json::to_string(&incident).map_err(|e| LogError::Database(e.to_string()))?)
        .execute(&pool)
        .await
        .map_err(db)?;
    pool.close().await;
    Ok(incident)
}

/// Replaces a recorded incident (its status, the notice's time).
pub async fn update_incident(path: &str, incident: &Incident) -> Result<(), LogError> {
    let pool = connect_rw(path).await?;
    let done = sqlx::query(&Store::of(path).sql("UPDATE incidents SET body = ? WHERE id = ?"))
        .bind(serde_json::to_string(incident).map_err(|e| LogError::Database(e.to_string()))?)
        .bind(incident.id.clone())
        .execute(&pool)
        .await
        .map_err(db)?;
    pool.close().await;
    if done.rows_affected() == 0 {
        return Err(LogError::NoSuch(format!("incident {}", incident.id)));
    }
    Ok(())
}

pub(super) async fn read_incidents(pool: &sqlx::AnyPool) -> Result<Vec<Incident>, String> {
    let Ok(rows) = sqlx::query("SELECT body FROM incidents ORDER BY id")
        .fetch_all(pool)
        .await
    else {
        // A log without the table has no incidents.
        return Ok(Vec::new());
    };
    rows.iter()
        .map(|r| {
            let body: String = r.try_get(0).map_err(|e| e.to_string())?;
            serde_json::from_str(&body).map_err(|e| e.to_string())
        })
        .collect()
}

/// Every incident recorded in the log, oldest first.
pub async fn incidents(path: &str) -> Result<Vec<Incident>, LogError> {
    let pool = super::audit::connect_ro(path).await?;
    let out = read_incidents(&pool).await.map_err(LogError::Database)?;
    pool.close().await;
    Ok(out)
}

/// Every record of the log (entries archived away have none), read-only, in order.
pub async fn records(path: &str) -> Result<Vec<Value>, LogError> {
    let pool = super::audit::connect_ro(path).await?;
    let rows = sqlx::query("SELECT entry FROM log_entries ORDER BY idx")
        .fetch_all(&pool)
        .await
        .map_err(db)?;
    pool.close().await;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter_map(|e| serde_json::from_str(&e).ok())
        .collect())
}
