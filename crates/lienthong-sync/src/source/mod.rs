//! Change sources: each reads one agency table (or folder) and yields [`Batch`]es of
//! [`Change`]s in source order, ending at a position it can resume from.
//!
//! | kind       | captures                        | position                                  |
//! |------------|---------------------------------|-------------------------------------------|
//! | `poll`     | rows by `(updated_at, key)`     | last `updated_at` and key                 |
//! | `postgres` | snapshot + pgoutput stream      | restart LSN, last (commit LSN, index)     |
//! | `mariadb`  | snapshot + row-based binlog     | binlog file, transaction start, index     |
//! | `files`    | CSV / JSONL files in a folder   | file digest, records done                 |
//! | `node`     | another node's change feed      | last sequence number                      |

use std::time::Duration;

use lienthong_dictionary::catalog::Dataset;

use crate::change::Batch;
use crate::state::State;
use crate::SyncError;

pub mod files;
mod log;
pub mod mariadb;
pub mod node;
pub mod poll;
pub mod postgres;

/// Typed configuration of a source (the CLI builds it from TOML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// Polls a table by a change-order column; sees no deletes.
    Poll {
        url: String,
        table: String,
        updated_at_column: String,
    },
    /// PostgreSQL logical replication (wal_level = logical).
    Postgres {
        url: String,
        table: String,
        /// Replication slot (created on first start).
        slot: String,
        /// Publication (created on first start when missing).
        publication: String,
    },
    /// MariaDB/MySQL row-based binlog.
    MariaDb {
        url: String,
        table: String,
        /// Replica server id this reader presents to the server (unique per server).
        server_id: u32,
    },
    /// A folder where CSV / JSONL files are dropped; each is applied once, then moved to
    /// `done/` (or `rejected/` with the reason when unreadable).
    Files { dir: std::path::PathBuf },
    /// Another node's change feed, read through this agency's own node (the exchange).
    Node {
        /// The client face of this agency's node, `http://host:port`.
        node_url: String,
        /// The provider's service, `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`.
        service: String,
        /// This agency's subsystem, sent as `X-Road-Client`.
        client: String,
        /// The purpose the agreement allows.
        purpose: String,
    },
}

impl SourceConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Poll { .. } => "poll",
            SourceConfig::Postgres { .. } => "postgres",
            SourceConfig::MariaDb { .. } => "mariadb",
            SourceConfig::Files { .. } => "files",
            SourceConfig::Node { .. } => "node",
        }
    }

    /// Whether change ids sort like the source's log (fixed width, one log): true for the
    /// log-based sources and change feeds, not for polling or file drops.
    pub fn ordered_ids(&self) -> bool {
        matches!(
            self,
            SourceConfig::Postgres { .. }
                | SourceConfig::MariaDb { .. }
                | SourceConfig::Node { .. }
        )
    }
}

/// How much a source still holds beyond a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub amount: i64,
    pub unit: &'static str,
}

pub enum Source {
    Poll(poll::PollSource),
    Postgres(Box<postgres::PgSource>),
    MariaDb(Box<mariadb::BinlogSource>),
    Files(Box<files::FileSource>),
    Node(Box<node::NodeSource>),
}

impl Source {
    /// Opens a source for a pipeline, resuming from `state` when there is one (a state
    /// without a finished snapshot starts the snapshot over).
    pub async fn open(
        pipeline: &str,
        config: &SourceConfig,
        dataset: &'static Dataset,
        state: Option<&State>,
    ) -> Result<Source, SyncError> {
        Ok(match config {
            SourceConfig::Poll {
                url,
                table,
                updated_at_column,
            } => Source::Poll(
                poll::PollSource::open(pipeline, url, table, updated_at_column, dataset, state)
                    .await?,
            ),
            SourceConfig::Postgres {
                url,
                table,
                slot,
                publication,
            } => Source::Postgres(Box::new(
                postgres::PgSource::open(pipeline, url, table, slot, publication, dataset, state)
                    .await?,
            )),
            SourceConfig::MariaDb {
                url,
                table,
                server_id,
            } => Source::MariaDb(Box::new(
                mariadb::BinlogSource::open(pipeline, url, table, *server_id, dataset, state)
                    .await?,
            )),
            SourceConfig::Files { dir } => Source::Files(Box::new(files::FileSource::open(
                pipeline, dir, dataset, state,
            )?)),
            SourceConfig::Node {
                node_url,
                service,
                client,
                purpose,
            } => Source::Node(Box::new(node::NodeSource::open(
                pipeline, node_url, service, client, purpose, dataset, state,
            )?)),
        })
    }

    /// The next changes after the current position: at most `rows_max`, waiting up to
    /// `wait` when there are none (then the batch is empty, perhaps with a moved position).
    pub async fn next(&mut self, rows_max: usize, wait: Duration) -> Result<Batch, SyncError> {
        match self {
            Source::Poll(s) => s.next(rows_max, wait).await,
            Source::Postgres(s) => s.next(rows_max, wait).await,
            Source::MariaDb(s) => s.next(rows_max, wait).await,
            Source::Files(s) => s.next(rows_max),
            Source::Node(s) => s.next(rows_max, wait).await,
        }
    }

    /// The replica committed everything up to `position`: the source may let go of it.
    pub async fn acknowledged(&mut self, position: &str) -> Result<(), SyncError> {
        match self {
            Source::Poll(_) => Ok(()),
            Source::Postgres(s) => s.acknowledged(position),
            Source::MariaDb(_) => Ok(()),
            Source::Files(s) => s.acknowledged(position),
            Source::Node(_) => Ok(()),
        }
    }

    /// What the source holds beyond the last position it handed out, when known.
    pub async fn backlog(&mut self) -> Option<Backlog> {
        match self {
            Source::Poll(s) => s.backlog().await,
            Source::Postgres(s) => s.backlog().await,
            Source::MariaDb(s) => s.backlog().await,
            Source::Files(s) => s.backlog(),
            Source::Node(s) => s.backlog(),
        }
    }

    /// Rows done and rows in all of the initial snapshot, while it runs.
    pub fn snapshot_progress(&self) -> Option<(u64, u64)> {
        match self {
            Source::Postgres(s) => s.snapshot_progress(),
            Source::MariaDb(s) => s.snapshot_progress(),
            _ => None,
        }
    }

    /// Ends replication sessions cleanly.
    pub async fn close(self) {
        match self {
            Source::Postgres(s) => s.close().await,
            Source::MariaDb(s) => s.close().await,
            _ => {}
        }
    }
}

/// Maps source column names to dataset field indexes: `map[i]` is the source column of
/// dataset field `i`. Columns the dataset lacks are ignored (an added column does not stop
/// a pipeline); dataset fields the source lacks read as empty, which validation reports.
pub fn field_columns<S: AsRef<str>>(dataset: &Dataset, columns: &[S]) -> Vec<Option<usize>> {
    dataset
        .fields
        .iter()
        .map(|f| columns.iter().position(|c| c.as_ref() == f.name))
        .collect()
}

/// Snapshot rows (text columns in dataset field order) as upserts, each value read by
/// `text(row, column)`; `id` names the change from its row number, counted on from `done`.
pub(crate) fn snapshot_changes<R>(
    rows: &[R],
    fields: usize,
    done: &mut u64,
    id: impl Fn(u64) -> String,
    text: impl Fn(&R, usize) -> Result<String, sqlx::Error>,
) -> Result<Vec<crate::change::Change>, sqlx::Error> {
    let mut changes = Vec::with_capacity(rows.len());
    for r in rows {
        let values = (0..fields)
            .map(|i| text(r, i))
            .collect::<Result<Vec<_>, _>>()?;
        changes.push(crate::change::Change {
            op: crate::change::Op::Upsert,
            id: id(*done),
            values,
            committed_at_ms: None,
            defect: None,
            inserted: false,
        });
        *done += 1;
    }
    Ok(changes)
}

pub use crate::state::now_ms;

#[cfg(test)]
mod tests {
    use lienthong_dictionary::catalog::CITIZEN;

    #[test]
    fn columns_map_by_name_and_tolerate_extras() {
        let map = super::field_columns(&CITIZEN, &["extra", "full_name", "personal_id"]);
        assert_eq!(map[0], Some(2));
        assert_eq!(map[1], Some(1));
        assert!(map[2..].iter().all(Option::is_none));
    }
}
