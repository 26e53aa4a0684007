//! `lienthong bench jetstream`: the sync pipeline's JetStream sink against publishing the same
//! messages with async-nats alone (issue 13: overhead ≤ 20 %). Both publish every message of
//! a batch, then wait for every acknowledgement, into a file-backed stream of their own with
//! the same dedup window; the anchor sends payloads already serialised, with their
//! `Nats-Msg-Id`; lienthong's sink gets the pipeline's JSON values and chains each message to
//! the one before (`Nats-Expected-Last-Msg-Id`), its guarantee that nothing is lost or doubled.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, message::PublishMessage, stream};
use lienthong_dictionary::catalog::CITIZEN;
use lienthong_sync::change::{Change, Op};
use lienthong_sync::jetstream::{body, JetSink, JetStreamConfig};

#[derive(clap::Args)]
pub struct JsArgs {
    /// The NATS server with JetStream.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// Messages published by each side in each pair.
    #[arg(long, default_value_t = 200_000)]
    messages: usize,
    /// Messages per batch (the pipeline's `batch_rows_max`).
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// Pairs (anchor, lienthong) measured; medians reported.
    #[arg(long, default_value_t = 3)]
    pairs: usize,
}

/// A change of a citizen record, with values shaped like the synthetic register's.
fn messages(n: usize) -> Vec<(String, serde_json::Value)> {
    (0..n)
        .map(|i| {
            let mut values = vec![String::new(); CITIZEN.fields.len()];
            let set = |values: &mut Vec<String>, field: &str, v: String| {
                if let Some(k) = CITIZEN.index(field) {
                    values[k] = v;
                }
            };
            set(&mut values, "personal_id", format!("0010{:08}", i));
            set(&mut values, "full_name", "Nguyễn Thị Minh Khai".into());
            set(&mut values, "birth_date", "1990-03-25".into());
            set(&mut values, "sex", "2".into());
            set(&mut values, "ethnicity", "01".into());
            set(&mut values, "province_code", "01".into());
            set(&mut values, "commune_code", "00004".into());
            set(
                &mut values,
                "address",
                "Số 12, Phố Hàng Bạc, Phường Hoàn Kiếm, Thành phố Hà Nội".into(),
            );
            let change = Change {
                op: Op::Upsert,
                id: format!("B{i:016}"),
                values: values.clone(),
                committed_at_ms: Some(1_796_083_200_000 + i as i64),
                defect: None,
                inserted: false,
            };
            (change.id.clone(), body(&CITIZEN, "bench", &change, &values))
        })
        .collect()
}

async fn anchor(
    js: &jetstream::Context,
    msgs: &[(String, bytes::Bytes)],
    batch: usize,
) -> Result<f64> {
    let name = format!("LTB_ANCHOR_{}", uuid::Uuid::new_v4().simple());
    let subject = format!("ltbench.{name}");
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .context("anchor stream")?;
    let started = Instant::now();
    for chunk in msgs.chunks(batch) {
        let mut acks = Vec::with_capacity(chunk.len());
        for (id, payload) in chunk {
            let msg = PublishMessage::build()
                .payload(payload.clone())
                .message_id(id);
            acks.push(js.send_publish(subject.clone(), msg).await?);
        }
        for ack in acks {
            ack.await?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    js.delete_stream(&name).await.context("anchor stream")?;
    Ok(msgs.len() as f64 / secs)
}

async fn lienthong(
    js: &jetstream::Context,
    url: &str,
    msgs: &[(String, serde_json::Value)],
    batch: usize,
) -> Result<f64> {
    let pipeline = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let config = JetStreamConfig {
        url: url.to_owned(),
        subject_prefix: "ltbench".into(),
        ..Default::default()
    };
    let mut sink = JetSink::open(&config, &pipeline, true).await?;
    let started = Instant::now();
    let mut last = String::new();
    for chunk in msgs.chunks(batch) {
        last = sink.publish(&last, chunk, false).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    js.delete_stream(sink.stream())
        .await
        .context("sink stream")?;
    Ok(msgs.len() as f64 / secs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub async fn run(args: JsArgs) -> Result<ExitCode> {
    if args.messages == 0 || args.batch == 0 || args.pairs == 0 {
        bail!("--messages, --batch and --pairs must be positive");
    }
    let client = async_nats::connect(&args.url)
        .await
        .with_context(|| format!("NATS at {}", args.url))?;
    let js = jetstream::new(client);
    let msgs = messages(args.messages);
    let bytes: Vec<(String, bytes::Bytes)> = msgs
        .iter()
        .map(|(id, v)| (id.clone(), v.to_string().into()))
        .collect();
    let size = bytes.iter().map(|b| b.1.len()).sum::<usize>() / bytes.len();
    println!(
        "jetstream: {} messages of ~{size} bytes per side, batches of {}, {} pairs",
        args.messages, args.batch, args.pairs
    );
    let (mut a, mut l) = (Vec::new(), Vec::new());
    for pair in 0..args.pairs {
        // Alternate which side goes first: the disk and the server warm up in turn.
        let (x, y) = if pair % 2 == 0 {
            let x = anchor(&js, &bytes, args.batch).await?;
            (x, lienthong(&js, &args.url, &msgs, args.batch).await?)
        } else {
            let y = lienthong(&js, &args.url, &msgs, args.batch).await?;
            (anchor(&js, &bytes, args.batch).await?, y)
        };
        println!("pair {pair}: async-nats {x:.0} msg/s, lienthong sink {y:.0} msg/s");
        a.push(x);
        l.push(y);
    }
    let (a, l) = (median(a), median(l));
    println!(
        "median: async-nats {a:.0} msg/s, lienthong sink {l:.0} msg/s → overhead {:+.1} % (target ≤ 20 %)",
        (a / l - 1.0) * 100.0
    );
    Ok(ExitCode::SUCCESS)
}
