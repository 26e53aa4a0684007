//! NATS JetStream sink: one stream per pipeline (an agency's dataset), file storage, each
//! valid change one message in source order.
//!
//! What is relied on: JetStream 2.9 acknowledges a message once it is written to its
//! file store — in the server's memory and the page cache, not fsync'd (there is no
//! per-message sync in 2.9; Jepsen 2025 lost acknowledged writes on power failure). So a
//! JetStream acknowledgement is not the record of truth: the replica's transaction is.
//! A batch is published (and acknowledged) before the replica commits it; the replica then
//! stores the id of the last change published. Every message carries `Nats-Msg-Id` = its
//! change id and `Nats-Expected-Last-Msg-Id` = the previous one, so the stream accepts
//! the changes of its pipeline only in order and only once, beyond any duplicate window:
//! after a crash between publishing and the replica commit, the repeated batch skips what
//! the stream already has; if the stream lost acknowledged messages (a server lost its
//! file store), the pipeline stops with an error naming both positions instead of
//! silently leaving a gap. With `replicas = 3` on a cluster, an acknowledgement means a
//! quorum holds the message, which is what survives the loss of one server.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use lienthong_dictionary::catalog::Dataset;
use serde_json::{json, Map, Value};

use crate::change::{Change, Op};
use crate::SyncError;

/// Typed configuration of the JetStream sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamConfig {
    /// `nats://host:port` (several, comma-separated, for a cluster).
    pub url: String,
    /// Copies of each stream: 1, or 3 on a three-server cluster.
    pub replicas: usize,
    /// Server-side dedup window by `Nats-Msg-Id`, ms.
    pub duplicate_window_ms: u64,
    /// Subject prefix; messages go to `{prefix}.{stream}`.
    pub subject_prefix: String,
    /// How long an acknowledgement may take, ms.
    pub ack_timeout_ms: u64,
    /// TLS to the servers: the CA that issued their certificates (PEM file); with it the
    /// connection must be TLS. `tls_cert`/`tls_key`: this process's client certificate, for
    /// servers that verify clients.
    pub tls_ca: Option<std::path::PathBuf>,
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        JetStreamConfig {
            url: "nats://127.0.0.1:4222".into(),
            replicas: 1,
            duplicate_window_ms: 120_000,
            subject_prefix: "lienthong".into(),
            ack_timeout_ms: 10_000,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// The stream name of a pipeline: `LT_` and the name with every other character as `_`.
pub fn stream_name(pipeline: &str) -> String {
    let mut s = String::from("LT_");
    s.extend(pipeline.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        }
    }));
    s
}

/// The message body of a change: JSON with the normalised record (upserts) or the key.
pub fn body(dataset: &Dataset, pipeline: &str, change: &Change, values: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("op".into(), change.op.as_str().into());
    m.insert("id".into(), change.id.clone().into());
    m.insert("pipeline".into(), pipeline.into());
    m.insert("dataset".into(), dataset.name.into());
    if let Some(t) = change.committed_at_ms {
        m.insert("committed_at_ms".into(), t.into());
    }
    match change.op {
        Op::Upsert => {
            let rec: Map<String, Value> = dataset
                .fields
                .iter()
                .zip(values)
                .map(|(f, v)| {
                    let v = if v.is_empty() {
                        Value::Null
                    } else {
                        v.clone().into()
                    };
                    (f.name.to_owned(), v)
                })
                .collect();
            m.insert("record".into(), Value::Object(rec));
        }
        Op::Delete => {
            let key: Map<String, Value> = dataset
                .key
                .iter()
                .map(|k| {
                    let i = dataset.index(k).expect("key is a field");
                    (
                        (*k).to_owned(),
                        json!(values.get(i).cloned().unwrap_or_default()),
                    )
                })
                .collect();
            m.insert("key".into(), Value::Object(key));
        }
        Op::Truncate => {}
    }
    Value::Object(m)
}

pub struct JetSink {
    js: jetstream::Context,
    stream: String,
    subject: String,
    pipeline: String,
    /// The stream's last message id as read at open, until the first publish resolves it.
    stream_last: Option<String>,
    /// Change ids sort like the source's log (fixed width): log-based sources.
    ordered_ids: bool,
    ack_timeout: Duration,
}

fn js_err(pipeline: &str, what: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Sink(format!("{pipeline}: jetstream {what}: {e}"))
}

impl JetSink {
    /// `ordered_ids`: the pipeline's change ids sort like its source's log.
    pub async fn open(
        config: &JetStreamConfig,
        pipeline: &str,
        ordered_ids: bool,
    ) -> Result<JetSink, SyncError> {
        if !(config.replicas == 1 || config.replicas == 3 || config.replicas == 5) {
            return Err(SyncError::Config(format!(
                "jetstream.replicas must be 1, 3 or 5 (got {})",
                config.replicas
            )));
        }
        // Two rustls providers are built in (ring, and aws-lc through the replication
        // client's TLS): the client's TLS needs a process default, ring like everywhere else.
        let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
        let mut options =
            async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
        if let Some(ca) = &config.tls_ca {
            options = options.require_tls(true).add_root_certificates(ca.clone());
        }
        match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
            (None, None) => {}
            _ => {
                return Err(SyncError::Config(
                    "jetstream.tls_cert and jetstream.tls_key go together".into(),
                ))
            }
        }
        let client = options
            .connect(config.url.split(',').map(str::trim).collect::<Vec<_>>())
            .await
            .map_err(|e| js_err(pipeline, "connect", e))?;
        let js = jetstream::new(client);
        let name = stream_name(pipeline);
        let subject = format!("{}.{name}", config.subject_prefix);
        let st = js
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                duplicate_window: Duration::from_millis(config.duplicate_window_ms),
                ..Default::default()
            })
            .await
            .map_err(|e| js_err(pipeline, "stream", e))?;
        let mut sink = JetSink {
            js,
            stream: name,
            subject,
            pipeline: pipeline.to_owned(),
            stream_last: None,
            ordered_ids,
            ack_timeout: Duration::from_millis(config.ack_timeout_ms),
        };
        drop(st);
        sink.stream_last = Some(sink.last_id().await?);
        Ok(sink)
    }

    /// The `Nats-Msg-Id` of the stream's last message (empty for an empty stream).
    async fn last_id(&self) -> Result<String, SyncError> {
        let p = &self.pipeline;
        let mut st = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| js_err(p, "stream", e))?;
        let info = st.info().await.map_err(|e| js_err(p, "stream info", e))?;
        if info.state.messages == 0 {
            return Ok(String::new());
        }
        let seq = info.state.last_sequence;
        let m = st
            .get_raw_message(seq)
            .await
            .map_err(|e| js_err(p, "last message", e))?;
        Ok(m.headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default())
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Publishes `messages` (change id, body) in order after `last_published` (the id the
    /// replica holds) and waits for every acknowledgement. Returns the id of the last
    /// message now in the stream. `restart`: the batch starts a new snapshot with a
    /// truncate marker, which voids whatever the stream holds, so it follows the stream's
    /// actual last message.
    pub async fn publish(
        &mut self,
        last_published: &str,
        messages: &[(String, Value)],
        restart: bool,
    ) -> Result<String, SyncError> {
        let p = self.pipeline.clone();
        let mut skip = 0;
        let mut prev = last_published.to_owned();
        if restart {
            prev = match self.stream_last.take() {
                Some(last) => last,
                None => self.last_id().await?,
            };
        } else if let Some(stream_last) = self.stream_last.take() {
            if stream_last != last_published {
                // The stream is ahead (a batch was published, then the process stopped
                // before the replica commit) — or it lost messages.
                let lost = || {
                    SyncError::Sink(format!(
                        "{p}: jetstream stream {} ends at change {stream_last:?} but the replica last published {last_published:?}: the stream lost acknowledged messages (or is written by someone else); recreate it and reset the pipeline",
                        self.stream
                    ))
                };
                if let Some(i) = messages.iter().position(|(id, _)| *id == stream_last) {
                    skip = i + 1;
                } else if self.ordered_ids && stream_last.as_str() > last_published {
                    // Ids sort like the source's log: what the stream holds is whatever is
                    // not after its last id (the repeated batch may end elsewhere, or its
                    // change there may no longer validate).
                    skip = messages
                        .iter()
                        .take_while(|(id, _)| id.as_str() <= stream_last.as_str())
                        .count();
                } else {
                    return Err(lost());
                }
                prev = stream_last;
                tracing::info!(pipeline = %p, stream = %self.stream, skipped = skip, "jetstream already holds part of the batch");
            }
        }
        let mut acks = Vec::with_capacity(messages.len().saturating_sub(skip));
        for (id, body) in &messages[skip..] {
            let mut msg = PublishMessage::build()
                .payload(body.to_string().into())
                .message_id(id);
            if !prev.is_empty() {
                msg = msg.expected_last_message_id(&prev);
            }
            let ack = self
                .js
                .send_publish(self.subject.clone(), msg)
                .await
                .map_err(|e| js_err(&p, "publish", e))?;
            acks.push(ack);
            prev = id.clone();
        }
        for (ack, (id, _)) in acks.into_iter().zip(&messages[skip..]) {
            let ack = tokio::time::timeout(self.ack_timeout, ack)
                .await
                .map_err(|_| js_err(&p, "ack", "timed out"))?
                .map_err(|e| js_err(&p, "ack", e))?;
            if ack.duplicate {
                // The stream already had it, so the chain after it was not the stream's:
                // reopen (which reads the stream's real last id) and repeat the batch.
                self.stream_last = None;
                return Err(js_err(
                    &p,
                    "publish",
                    format!("change {id} was already in the stream; the batch is repeated from the stream's end"),
                ));
            }
        }
        Ok(prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_dictionary::catalog::CITIZEN;

    #[test]
    fn stream_names_are_valid_nats_names() {
        assert_eq!(
            stream_name("VN/GOV/BCA/DANCU/citizen"),
            "LT_VN_GOV_BCA_DANCU_citizen"
        );
        assert_eq!(stream_name("a.b c*>"), "LT_a_b_c__");
    }

    #[test]
    fn bodies_carry_the_record_or_the_key() {
        let mut values = vec![String::new(); CITIZEN.fields.len()];
        values[0] = "001090000001".into();
        values[1] = "Nguyễn Văn An".into();
        let c = Change {
            op: Op::Upsert,
            id: "X-1".into(),
            values: values.clone(),
            committed_at_ms: Some(5),
            defect: None,
            inserted: false,
        };
        let b = body(&CITIZEN, "p", &c, &values);
        assert_eq!(b["record"]["full_name"], "Nguyễn Văn An");
        assert_eq!(b["record"]["email"], Value::Null);
        assert_eq!(b["committed_at_ms"], 5);
        let d = Change {
            op: Op::Delete,
            ..c
        };
        let b = body(&CITIZEN, "p", &d, &values);
        assert_eq!(b["key"]["personal_id"], "001090000001");
        assert!(b.get("record").is_none());
    }
}
