//! Changes from another node: a subscriber reads a provider's change feed through its own
//! node, so every call crosses the exchange — mutual TLS between the nodes, signed request
//! and response, the provider's agreement check (consumer, purpose, fields) and both
//! message logs. Hop by hop: a province keeps its communes' changes in its replica's change
//! log (`changelog = true`) and publishes the replica table with `changes = true`; a
//! ministry or the center subscribes with this source.
//!
//! Request: `GET {node_url}/r1/{service}/changes?after=SEQ&limit=N` with `X-Road-Client`,
//! `X-Road-Id` and `X-Lienthong-Purpose`. Answer: `{"changes": [{"seq", "op", "id",
//! "record"}], "next": SEQ}`. Position: the last sequence number applied.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lienthong_dictionary::catalog::Dataset;
use serde_json::Value;

use super::Backlog;
use crate::change::{Batch, Change, Op};
use crate::state::State;
use crate::SyncError;

/// Largest answer read from the node.
const BODY_BYTES_MAX: usize = 64 << 20;

pub struct NodeSource {
    pipeline: String,
    url: String,
    client_id: String,
    purpose: String,
    dataset: &'static Dataset,
    http: Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    after: u64,
    timeout: Duration,
}

fn src(pipeline: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Source(format!("{pipeline}: {e}"))
}

/// Headers and path segments must not carry anything but printable ASCII without spaces.
fn token_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic())
}

impl NodeSource {
    pub fn open(
        pipeline: &str,
        node_url: &str,
        service: &str,
        client: &str,
        purpose: &str,
        dataset: &'static Dataset,
        state: Option<&State>,
    ) -> Result<NodeSource, SyncError> {
        let cfg = |m: String| SyncError::Config(format!("pipeline {pipeline}: {m}"));
        if !node_url.starts_with("http://") || node_url.len() > 200 {
            return Err(cfg(format!(
                "node_url {node_url:?} must be the client face of this agency's own node (http://host:port)"
            )));
        }
        for (what, v) in [
            ("service", service),
            ("client", client),
            ("purpose", purpose),
        ] {
            if !token_ok(v) || v.contains('?') || v.contains('#') || v.contains("..") {
                return Err(cfg(format!(
                    "{what} {v:?} must be printable ASCII without spaces"
                )));
            }
        }
        if service.split('/').count() != 5 {
            return Err(cfg(format!(
                "service {service:?} must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE"
            )));
        }
        let after = match state.filter(|s| !s.position.is_empty()) {
            Some(s) => s.position.parse().map_err(|_| {
                src(
                    pipeline,
                    format!(
                        "stored position {:?} is not a change-feed position (was the pipeline's source changed?)",
                        s.position
                    ),
                )
            })?,
            None => 0,
        };
        Ok(NodeSource {
            pipeline: pipeline.to_owned(),
            url: format!("{}/r1/{service}/changes", node_url.trim_end_matches('/')),
            client_id: client.to_owned(),
            purpose: purpose.to_owned(),
            dataset,
            http: Client::builder(TokioExecutor::new()).build_http(),
            after,
            timeout: Duration::from_secs(30),
        })
    }

    async fn fetch(&self, limit: usize) -> Result<Value, SyncError> {
        let p = &self.pipeline;
        let req = hyper::Request::get(format!("{}?after={}&limit={limit}", self.url, self.after))
            .header("X-Road-Client", &self.client_id)
            .header("X-Road-Id", uuid::Uuid::new_v4().to_string())
            .header("X-Lienthong-Purpose", &self.purpose)
            .body(Empty::new())
            .map_err(|e| src(p, e))?;
        let resp = tokio::time::timeout(self.timeout, self.http.request(req))
            .await
            .map_err(|_| src(p, "the node did not answer in 30 s"))?
            .map_err(|e| src(p, format!("calling the node: {e}")))?;
        let status = resp.status();
        let error = resp
            .headers()
            .get("x-road-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = http_body_util::Limited::new(resp.into_body(), BODY_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| src(p, format!("reading the answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(src(
                p,
                format!(
                    "the feed answered {status} {}: {}",
                    error.unwrap_or_default(),
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ),
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| src(p, format!("the feed's answer is not JSON: {e}")))
    }

    pub async fn next(&mut self, rows_max: usize, wait: Duration) -> Result<Batch, SyncError> {
        let limit = rows_max.min(1000);
        let mut answer = self.fetch(limit).await?;
        if answer["changes"].as_array().is_none_or(Vec::is_empty) {
            tokio::time::sleep(wait).await;
            answer = self.fetch(limit).await?;
        }
        let items = answer["changes"]
            .as_array()
            .ok_or_else(|| src(&self.pipeline, "the feed's answer has no changes list"))?;
        let mut changes = Vec::with_capacity(items.len());
        for item in items {
            let seq = item["seq"]
                .as_u64()
                .filter(|s| *s > self.after)
                .ok_or_else(|| src(&self.pipeline, "the feed sent a change without a new seq"))?;
            let op = match item["op"].as_str() {
                Some("upsert") => Op::Upsert,
                Some("delete") => Op::Delete,
                Some("truncate") => Op::Truncate,
                other => return Err(src(&self.pipeline, format!("unknown op {other:?}"))),
            };
            let record = item["record"].as_object();
            let values = self
                .dataset
                .fields
                .iter()
                .map(|f| {
                    record
                        .and_then(|r| r.get(f.name))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                })
                .collect();
            changes.push(Change {
                op,
                id: format!("{seq:020}"),
                values,
                committed_at_ms: item["committed_at_ms"].as_i64().filter(|t| *t > 0),
                defect: None,
                inserted: false,
            });
            self.after = seq;
        }
        Ok(Batch {
            changes,
            position: self.after.to_string(),
            ..Batch::default()
        })
    }

    pub fn backlog(&self) -> Option<Backlog> {
        None
    }
}
