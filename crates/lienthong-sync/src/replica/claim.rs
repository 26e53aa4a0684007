//! One process per pipeline: the lease row claimed at open, renewed, released.

use super::*;

impl Replica {
    /// Who holds a pipeline's lease, and until when (ms); `None` when nobody ever did.
    pub async fn lease_holder(&self, pipeline: &str) -> Result<Option<(String, i64)>, SyncError> {
        let sql = format!(
            "SELECT owner, until_ms FROM lt_sync_lease WHERE pipeline = {}",
            self.d.param(1)
        );
        let row = sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| Ok((text_at(&r, 0).map_err(err)?, r.try_get(1).map_err(err)?)))
            .transpose()
    }

    /// Claims a pipeline's lease for `owner`: free, expired, or held by a process of this
    /// host that is gone. Otherwise says who holds it.
    pub async fn claim(&self, pipeline: &str, owner: &str) -> Result<(), SyncError> {
        let d = self.d;
        let now = crate::state::now_ms();
        let insert = match d {
            Dialect::MySql => "INSERT IGNORE INTO lt_sync_lease (pipeline, owner, until_ms, n) VALUES (?, ?, ?, 0)".to_owned(),
            _ => format!("INSERT INTO lt_sync_lease (pipeline, owner, until_ms, n) VALUES ({}, {}, {}, 0) ON CONFLICT DO NOTHING", d.param(1), d.param(2), d.param(3)),
        };
        let inserted = sqlx::query(&insert)
            .bind(pipeline.to_owned())
            .bind(owner.to_owned())
            .bind(now + LEASE_MS)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected();
        if inserted == 1 {
            return Ok(());
        }
        let (holder, until) = self.lease_holder(pipeline).await?.ok_or_else(|| {
            SyncError::Lease(format!(
                "pipeline {pipeline}: lease row vanished while claiming it; try again"
            ))
        })?;
        if !(holder.is_empty() || until < now || holder_is_gone(&holder)) {
            return Err(SyncError::Lease(held_by(pipeline, &holder, until, now)));
        }
        // Compare and swap on what was read: of two claimants, one wins.
        let sql = format!(
            "UPDATE lt_sync_lease SET owner = {}, until_ms = {}, n = n + 1 WHERE pipeline = {} AND owner = {} AND until_ms = {}",
            d.param(1),
            d.param(2),
            d.param(3),
            d.param(4),
            d.param(5)
        );
        let swapped = sqlx::query(&sql)
            .bind(owner.to_owned())
            .bind(now + LEASE_MS)
            .bind(pipeline.to_owned())
            .bind(holder)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected();
        if swapped != 1 {
            return Err(SyncError::Lease(format!(
                "pipeline {pipeline}: another process claimed it at the same moment"
            )));
        }
        Ok(())
    }

    /// Renews a held lease between commits (an idle pipeline).
    pub async fn renew(&self, pipeline: &str, owner: &str) -> Result<(), SyncError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        fence(self.d, &mut tx, pipeline, owner).await?;
        tx.commit().await.map_err(err)
    }

    /// Gives a lease back (at close), when still held by `owner`.
    pub async fn release(&self, pipeline: &str, owner: &str) -> Result<(), SyncError> {
        let sql = format!(
            "UPDATE lt_sync_lease SET owner = '', until_ms = 0, n = n + 1 WHERE pipeline = {} AND owner = {}",
            self.d.param(1),
            self.d.param(2)
        );
        sqlx::query(&sql)
            .bind(pipeline.to_owned())
            .bind(owner.to_owned())
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}
