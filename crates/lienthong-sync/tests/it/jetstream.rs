//! The JetStream sink against the real server: valid changes in order, each once, across
//! restarts; a stream that already holds part of a batch; a stream that lost messages.

use async_nats::jetstream;
use lienthong_sync::jetstream::{stream_name, JetSink};
use lienthong_sync::{JetStreamConfig, SourceConfig};
use serde_json::{json, Value};

use super::*;

async fn messages(url: &str, stream: &str) -> Vec<Value> {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let mut st = js.get_stream(stream).await.unwrap();
    let n = st.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=n {
        let m = st.get_raw_message(seq).await.unwrap();
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

async fn delete_stream(url: &str, stream: &str) {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let _ = js.delete_stream(stream).await;
}

#[tokio::test]
async fn valid_changes_reach_jetstream_once_in_order() {
    let Some(nats) = url("LIENTHONG_TEST_NATS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite(dir.path(), "agency.db");
    exec(&source, &citizen_table("citizen", false)).await;
    insert(
        &source,
        "citizen",
        &[
            row("001090000001", "NGUYỄN VĂN AN", "2025-08-01T10:00:00+07:00"),
            row("12345", "Sai", "2025-08-01T10:00:01+07:00"),
            row("001090000002", "Lê Thị Bình", "2025-08-01T10:00:02+07:00"),
        ],
    )
    .await;
    let name = format!("js-{}", suffix());
    let mut cfg = config(
        &name,
        SourceConfig::Poll {
            url: source.clone(),
            table: "citizen".into(),
            updated_at_column: "updated_at".into(),
        },
        &sqlite(dir.path(), "center.db"),
        "rep",
    );
    cfg.jetstream = Some(JetStreamConfig {
        url: nats.clone(),
        ..JetStreamConfig::default()
    });
    let mut p = open(&cfg).await;
    let r = p.catch_up().await.unwrap();
    assert_eq!((r.applied, r.quarantined, r.published), (2, 1, 2));
    p.close().await;
    // A restart publishes only what is new.
    insert(
        &source,
        "citizen",
        &[row(
            "001090000003",
            "Phạm Văn Cường",
            "2025-08-02T10:00:00+07:00",
        )],
    )
    .await;
    let mut p = open(&cfg).await;
    assert_eq!(p.catch_up().await.unwrap().published, 1);
    let stream = stream_name(&name);
    let got = messages(&nats, &stream).await;
    let names: Vec<&str> = got
        .iter()
        .map(|m| m["record"]["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Nguyễn Văn An", "Lê Thị Bình", "Phạm Văn Cường"],
        "normalised, in order, once"
    );
    assert_eq!(got[0]["op"], "upsert");
    assert_eq!(got[0]["dataset"], "citizen");
    assert_eq!(p.state().jet_last, got[2]["id"].as_str().unwrap());
    p.close().await;
    delete_stream(&nats, &stream).await;
}

#[tokio::test]
async fn a_repeated_batch_skips_what_the_stream_holds_and_a_gap_stops_the_pipeline() {
    let Some(nats) = url("LIENTHONG_TEST_NATS_URL") else {
        return;
    };
    let cfg = JetStreamConfig {
        url: nats.clone(),
        ..JetStreamConfig::default()
    };
    let name = format!("jsr-{}", suffix());
    let msg = |id: &str| (id.to_owned(), json!({ "id": id }));
    let mut sink = JetSink::open(&cfg, &name).await.unwrap();
    assert_eq!(
        sink.publish("", &[msg("a"), msg("b"), msg("c")], false)
            .await
            .unwrap(),
        "c"
    );
    // The replica never committed "a".."c" (a crash): the repeated batch adds only "d".
    let mut sink = JetSink::open(&cfg, &name).await.unwrap();
    assert_eq!(
        sink.publish("", &[msg("a"), msg("b"), msg("c"), msg("d")], false)
            .await
            .unwrap(),
        "d"
    );
    let ids: Vec<String> = messages(&nats, sink.stream())
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    // Out of order (the stream's last is "d", not "b"): refused by the server.
    assert!(sink.publish("b", &[msg("e")], false).await.is_err());
    // The replica says "x" was published but the stream ends at "d": messages were lost.
    let mut sink = JetSink::open(&cfg, &name).await.unwrap();
    let e = sink
        .publish("x", &[msg("y")], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("lost acknowledged messages"), "{e}");
    // A new snapshot's truncate marker follows whatever the stream holds.
    let mut sink = JetSink::open(&cfg, &name).await.unwrap();
    assert_eq!(
        sink.publish("x", &[msg("snapshot-start"), msg("s1")], true)
            .await
            .unwrap(),
        "s1"
    );
    delete_stream(&nats, &stream_name(&name)).await;
}
