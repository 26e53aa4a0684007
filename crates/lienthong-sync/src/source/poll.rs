//! Polling by a change-order column: for databases without log access. Sees inserts and
//! updates, not deletes. A transaction that commits after a later one with a larger
//! `updated_at` can be missed; a log-based source has no such gap (docs/sync.md).

use std::time::Duration;

use lienthong_dictionary::catalog::Dataset;
use sqlx::{AnyPool, Row};

use super::Backlog;
use crate::change::{timestamp_ms, Batch, Change, Op};
use crate::db::{connect, identifier_ok, text_at, Dialect};
use crate::state::State;
use crate::SyncError;

pub struct PollSource {
    pool: AnyPool,
    select: String,
    count: String,
    fields: usize,
    key_index: usize,
    /// `(updated_at, key)` of the last row handed out.
    at: (String, String),
    pipeline: String,
}

const SEP: char = '\u{1f}';

fn err(pipeline: &str) -> impl Fn(sqlx::Error) -> SyncError + '_ {
    move |e| SyncError::Source(format!("{pipeline}: {e}"))
}

impl PollSource {
    pub async fn open(
        pipeline: &str,
        url: &str,
        table: &str,
        updated_at: &str,
        dataset: &'static Dataset,
        state: Option<&State>,
    ) -> Result<PollSource, SyncError> {
        for (what, ident) in [("table", table), ("updated_at_column", updated_at)] {
            if !identifier_ok(ident) {
                return Err(SyncError::Config(format!(
                    "pipeline {pipeline}: {what} {ident:?} must be letters, digits and _"
                )));
            }
        }
        if dataset.key.len() != 1 {
            return Err(SyncError::Config(format!(
                "pipeline {pipeline}: dataset {} has a composite key; polling needs a single key (use a log-based source)",
                dataset.name
            )));
        }
        let d = Dialect::of(url)?;
        let pool = connect(url, 2).await.map_err(err(pipeline))?;
        let key = dataset.key[0];
        let cast = |c: &str| format!("CAST({} AS {})", d.quote(c), d.text());
        let (at_c, key_c) = (cast(updated_at), cast(key));
        let clause = format!(
            "({at_c} > {p1} OR ({at_c} = {p2} AND {key_c} > {p3}))",
            p1 = d.param(1),
            p2 = d.param(2),
            p3 = d.param(3)
        );
        let cols: Vec<String> = std::iter::once(at_c.clone())
            .chain(dataset.fields.iter().map(|f| cast(f.name)))
            .collect();
        let qt = d.quote(table);
        let select = format!(
            "SELECT {} FROM {qt} WHERE {clause} ORDER BY {at_c}, {key_c} LIMIT ",
            cols.join(", ")
        );
        let count = format!("SELECT COUNT(*) FROM {qt} WHERE {clause}");
        let at = state
            .filter(|s| !s.position.is_empty())
            .map(|s| {
                let (a, k) = s.position.split_once(SEP).unwrap_or((&s.position, ""));
                (a.to_owned(), k.to_owned())
            })
            .unwrap_or_default();
        let s = PollSource {
            pool,
            select,
            count,
            fields: dataset.fields.len(),
            key_index: dataset.index(key).expect("key is a field"),
            at,
            pipeline: pipeline.to_owned(),
        };
        // Fails now, with the column's name, when the table lacks one.
        s.fetch(1).await?;
        Ok(s)
    }

    async fn fetch(&self, limit: usize) -> Result<Vec<(String, Vec<String>)>, SyncError> {
        let rows = sqlx::query(&format!("{}{limit}", self.select))
            .bind(self.at.0.clone())
            .bind(self.at.0.clone())
            .bind(self.at.1.clone())
            .fetch_all(&self.pool)
            .await
            .map_err(err(&self.pipeline))?;
        rows.iter()
            .map(|r| {
                let mut values = Vec::with_capacity(self.fields + 1);
                for i in 0..=self.fields {
                    values.push(text_at(r, i).map_err(err(&self.pipeline))?);
                }
                let at = values.remove(0);
                Ok((at, values))
            })
            .collect()
    }

    pub async fn next(&mut self, rows_max: usize, wait: Duration) -> Result<Batch, SyncError> {
        let mut rows = self.fetch(rows_max).await?;
        if rows.is_empty() {
            tokio::time::sleep(wait).await;
            rows = self.fetch(rows_max).await?;
        }
        let mut changes = Vec::with_capacity(rows.len());
        for (at, values) in rows {
            let key = values[self.key_index].clone();
            changes.push(Change {
                op: Op::Upsert,
                id: format!("{at}/{key}"),
                values,
                // The change-order column is the best the source says of when it changed.
                committed_at_ms: timestamp_ms(&at),
                defect: None,
                inserted: false,
            });
            self.at = (at, key);
        }
        Ok(Batch {
            changes,
            position: format!("{}{SEP}{}", self.at.0, self.at.1),
            snapshot: false,
            snapshot_start: false,
        })
    }

    pub async fn backlog(&self) -> Option<Backlog> {
        let n: i64 = sqlx::query(&self.count)
            .bind(self.at.0.clone())
            .bind(self.at.0.clone())
            .bind(self.at.1.clone())
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .ok()?;
        Some(Backlog {
            amount: n,
            unit: "rows",
        })
    }
}
