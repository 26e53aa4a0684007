//! E-documents a node issued (table `documents`, beside the log): each row is a status list
//! entry — its index is the document's `status.status_list.idx` — with the person (as
//! stored: their pseudonym), the kind, validity, status and the issued SD-JWT, which the
//! person downloads again from the citizen page. Revocation (`lienthong doc revoke`)
//! changes the status; the row stays.

use serde::Serialize;
use sqlx::Row;

use super::{LogError, MessageLog};

fn db(e: sqlx::Error) -> String {
    e.to_string()
}

/// One document as the issuing node holds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IssuedDocument {
    pub idx: u64,
    pub kind: String,
    pub issued_at: u64,
    pub expires_at: u64,
    /// The status list value (0 valid, 1 revoked, 2 suspended).
    pub status: u8,
    /// Why the status last changed.
    pub reason: String,
    /// The SD-JWT as issued (empty while being signed).
    pub token: String,
}

const COLUMNS: &str = "idx, kind, issued_at, expires_at, status, reason, token";

fn row(r: &sqlx::any::AnyRow) -> Result<IssuedDocument, sqlx::Error> {
    Ok(IssuedDocument {
        idx: r.try_get::<i64, _>(0)? as u64,
        kind: r.try_get(1)?,
        issued_at: r.try_get::<i64, _>(2)? as u64,
        expires_at: r.try_get::<i64, _>(3)? as u64,
        status: r.try_get::<i64, _>(4)? as u8,
        reason: r.try_get(5)?,
        token: r.try_get(6)?,
    })
}

impl MessageLog {
    /// Takes the next status list index for a document of `kind` for `subject` (as stored),
    /// recording the row with no token yet. Two nodes' writers racing for one index: the
    /// loser takes the next.
    pub async fn reserve_document(
        &self,
        subject: &str,
        kind: &str,
        (issued_at, expires_at): (u64, u64),
    ) -> Result<u64, String> {
        let sql = self.store.sql("INSERT INTO documents (idx, subject, kind, issued_at, expires_at, status, changed_at, reason, token) SELECT COALESCE(MAX(idx), -1) + 1, ?, ?, ?, ?, 0, ?, '', '' FROM documents RETURNING idx");
        let mut last = String::new();
        for _ in 0..5 {
            match sqlx::query(&sql)
                .bind(subject.to_owned())
                .bind(kind.to_owned())
                .bind(issued_at as i64)
                .bind(expires_at as i64)
                .bind(issued_at as i64)
                .fetch_one(&self.pool)
                .await
            {
                Ok(r) => return r.try_get::<i64, _>(0).map(|i| i as u64).map_err(db),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// Stores the signed document in its reserved row.
    pub async fn store_document(&self, idx: u64, token: &str) -> Result<(), String> {
        let sql = self
            .store
            .sql("UPDATE documents SET token = ? WHERE idx = ?");
        sqlx::query(&sql)
            .bind(token.to_owned())
            .bind(idx as i64)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The documents issued to `subject` (as stored), newest first, at most `limit`.
    pub async fn documents_of(
        &self,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<IssuedDocument>, String> {
        let sql = self.store.sql(&format!(
            "SELECT {COLUMNS} FROM documents WHERE subject = ? AND token <> '' ORDER BY idx DESC LIMIT {limit}"
        ));
        let rows = sqlx::query(&sql)
            .bind(subject.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(row).collect::<Result<_, _>>().map_err(db)
    }

    /// Every index whose status is not valid, with its status: what the status list says.
    pub async fn document_statuses(&self) -> Result<(u64, Vec<(u64, u8)>), String> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM documents")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        let rows = sqlx::query("SELECT idx, status FROM documents WHERE status <> 0")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let changed = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0)? as u64,
                    r.try_get::<i64, _>(1)? as u8,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db)?;
        Ok((count as u64, changed))
    }
}

/// Sets the status of document `idx` in the log at `path` (the node may be running; it
/// publishes the change in its next status list): 0 valid, 1 revoked, 2 suspended.
pub async fn set_document_status(
    path: &str,
    idx: u64,
    status: u8,
    reason: &str,
) -> Result<IssuedDocument, LogError> {
    let pool = super::incidents::connect_rw(path).await?;
    let store = super::Store::of(path);
    let done = sqlx::query(
        &store.sql("UPDATE documents SET status = ?, reason = ?, changed_at = ? WHERE idx = ?"),
    )
    .bind(i64::from(status))
    .bind(reason.to_owned())
    .bind(lienthong_core::time::now_s() as i64)
    .bind(idx as i64)
    .execute(&pool)
    .await
    .map_err(|e| LogError::Database(e.to_string()))?;
    if done.rows_affected() == 0 {
        pool.close().await;
        return Err(LogError::NoSuch(format!("document {idx}")));
    }
    let doc = sqlx::query(&store.sql(&format!("SELECT {COLUMNS} FROM documents WHERE idx = ?")))
        .bind(idx as i64)
        .fetch_one(&pool)
        .await
        .and_then(|r| row(&r))
        .map_err(|e| LogError::Database(e.to_string()));
    pool.close().await;
    doc
}

/// Every document the log's node issued, oldest first (without the tokens).
pub async fn issued_documents(path: &str) -> Result<Vec<IssuedDocument>, LogError> {
    let pool = super::audit::connect_ro(path).await?;
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM documents ORDER BY idx"))
        .fetch_all(&pool)
        .await;
    pool.close().await;
    // A log without the table has issued nothing.
    let Ok(rows) = rows else {
        return Ok(Vec::new());
    };
    rows.iter()
        .map(|r| {
            row(r).map(|mut d| {
                d.token.clear();
                d
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| LogError::Database(e.to_string()))
}
