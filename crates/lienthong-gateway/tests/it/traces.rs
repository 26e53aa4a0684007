//! Tracing across an exchange: the agency's `traceparent` is continued by the consumer node,
//! carried in lt1 to the provider, recorded in both message logs, and both nodes' spans (and
//! the provider's backend span) reach an OTLP/HTTP collector in one trace, each the parent of
//! the next.

use std::sync::{Arc, Mutex};

use lienthong_gateway::msglog::LogReader;
use tracing_subscriber::layer::SubscriberExt;

use crate::harness::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Every span the collector received: (name, trace id, span id, parent span id, attributes).
type Spans = Arc<Mutex<Vec<serde_json::Value>>>;

async fn collector(spans: Spans) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let spans = spans.clone();
            async move {
                let v: serde_json::Value = serde_json::from_slice(&body).expect("OTLP/JSON");
                for rs in v["resourceSpans"].as_array().into_iter().flatten() {
                    for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                        for s in ss["spans"].as_array().into_iter().flatten() {
                            spans.lock().unwrap().push(s.clone());
                        }
                    }
                }
                "{}"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn attribute<'a>(span: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]["stringValue"]
        .as_str()
}

#[test]
fn an_exchange_is_one_trace_from_the_agency_to_the_backend_and_in_both_logs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spans: Spans = Arc::default();
    let endpoint = rt.block_on(collector(spans.clone()));
    // The exporter is made outside the runtime (its blocking HTTP client would not be made
    // inside one), and installed for this test's process only.
    let provider =
        lienthong_gateway::telemetry::otlp_tracer(&endpoint, true, "lienthong-test").unwrap();
    {
        use opentelemetry::trace::TracerProvider as _;
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("lienthong")));
        tracing::subscriber::set_global_default(subscriber).unwrap();
    }
    let (provider_log, consumer_log) = rt.block_on(async {
        let t = start(3600).await;
        let agency_span = "00f067aa0ba902b7";
        let r = call(
            &t.consumer,
            &format!("/r1/{SERVICE}/records/{PID}"),
            &[
                ("X-Road-Client", CONSUMER),
                ("X-Lienthong-Purpose", "insurance-enrolment"),
                ("X-Road-Id", "traced-1"),
                ("traceparent", &format!("00-{TRACE_ID}-{agency_span}-01")),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.json);
        // A call without a trace gets one of its own, in both logs too.
        let r = call(
            &t.consumer,
            &format!("/r1/{SERVICE}/records/{PID}"),
            &[
                ("X-Road-Client", CONSUMER),
                ("X-Lienthong-Purpose", "insurance-enrolment"),
                ("X-Road-Id", "untraced-1"),
                ("traceparent", "00-garbage"),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let read = |member: &str| {
            let path = log_path(&t.dir_path, member);
            async move {
                let log = LogReader::open(&path).await.unwrap();
                let mut out = Vec::new();
                for id in ["traced-1", "untraced-1"] {
                    let e = log.by_message_id(id).await.unwrap();
                    out.push(e[0].record["trace_id"].as_str().unwrap().to_owned());
                }
                out
            }
        };
        let logs = (read(PROVIDER).await, read(CONSUMER).await);
        t.provider.shutdown().await;
        t.consumer.shutdown().await;
        let p = provider.clone();
        tokio::task::spawn_blocking(move || p.force_flush())
            .await
            .unwrap()
            .unwrap();
        logs
    });
    // Both logs name the agency's trace, and agree on the new one.
    assert_eq!(provider_log[0], TRACE_ID);
    assert_eq!(consumer_log[0], TRACE_ID);
    assert_eq!(provider_log[1], consumer_log[1]);
    assert_eq!(provider_log[1].len(), 32);
    assert_ne!(provider_log[1], TRACE_ID);

    let spans = spans.lock().unwrap().clone();
    let of = |name: &str, side: Option<&str>| -> serde_json::Value {
        spans
            .iter()
            .find(|s| {
                s["traceId"] == TRACE_ID
                    && s["name"] == name
                    && side.is_none_or(|side| attribute(s, "side") == Some(side))
            })
            .unwrap_or_else(|| panic!("no {name} {side:?} span in {spans:#?}"))
            .clone()
    };
    let consumer = of("lt.exchange", Some("consumer"));
    let provider_span = of("lt.exchange", Some("provider"));
    let backend = of("lt.backend", None);
    // The agency's span → the consumer node's → the provider node's → the backend read.
    assert_eq!(consumer["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(provider_span["parentSpanId"], consumer["spanId"]);
    assert_eq!(backend["parentSpanId"], provider_span["spanId"]);
    assert_eq!(attribute(&consumer, "service"), Some(SERVICE));
    rt.block_on(async {
        drop(provider);
    });
}
