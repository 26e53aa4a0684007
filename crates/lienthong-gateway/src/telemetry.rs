//! Prometheus metrics (the `metrics` facade with the Prometheus exporter). One recorder per
//! process, installed on first use; every node in the process shares it and labels its series
//! with its member. Label values are bounded: members and services come from the registry,
//! codes from `GatewayError::code`.

use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ])
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program): keep ours local
        // to `render` then.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Counts a witness alarm (`fork`, `rewound`, `bad_signature`) about another member's log.
pub fn witness_alarm(kind: &'static str) {
    metrics::counter!("lienthong_witness_alarms_total", "kind" => kind).increment(1);
}

/// When something of a node expires (`registry_snapshot`, `tls_certificate`), Unix seconds:
/// `lienthong_<what>_expiry_timestamp_seconds{member}`.
pub fn expiry(what: &'static str, member: &str, at_s: f64) {
    let name = match what {
        "registry_snapshot" => "lienthong_registry_snapshot_expiry_timestamp_seconds",
        _ => "lienthong_tls_certificate_expiry_timestamp_seconds",
    };
    metrics::gauge!(name, "member" => member.to_owned()).set(at_s);
}

/// Records one exchange on a side (`consumer` or `provider`).
pub fn exchange(
    side: &'static str,
    member: &str,
    service: &str,
    code: &'static str,
    started: Instant,
) {
    let labels = [
        ("side", side.to_owned()),
        ("member", member.to_owned()),
        ("service", service.to_owned()),
        ("code", code.to_owned()),
    ];
    metrics::counter!("lienthong_exchange_requests_total", &labels).increment(1);
    metrics::histogram!("lienthong_exchange_duration_seconds", &labels[..3])
        .record(started.elapsed().as_secs_f64());
}

/// Drains the histograms' recorded samples into their buckets every few seconds until
/// `stop`. The recorder keeps every sample until a scrape (`render`) or an upkeep drains
/// them: a node nobody scrapes would otherwise grow by the samples of every exchange.
pub async fn upkeep(mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => handle().run_upkeep(),
            _ = stop.changed() => return,
        }
    }
}

/// A tracer provider exporting spans over OTLP/HTTP to `endpoint` (the collector's base URL,
/// `/v1/traces` added when missing), in protobuf or, with `json`, in JSON, batched.
/// `service` names this process in the traces.
pub fn otlp_tracer(
    endpoint: &str,
    json: bool,
    service: &str,
) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, String> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let endpoint = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(if json {
            Protocol::HttpJson
        } else {
            Protocol::HttpBinary
        })
        .with_endpoint(endpoint.clone())
        .build()
        .map_err(|e| format!("OTLP exporter to {endpoint}: {e}"))?;
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build())
}
