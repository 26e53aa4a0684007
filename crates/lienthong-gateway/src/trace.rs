//! Tracing across an exchange: a W3C Trace Context (`traceparent`) per exchange. The consumer
//! node continues the trace of the agency's system when its request carries a valid
//! `traceparent`, or starts one; the trace travels to the provider in lt1's `x-lt-trace`
//! header (beside the signed request: correlation, not evidence) and both nodes record its
//! trace id in their message logs. Each node's span of the exchange (`lt.exchange`) takes the
//! trace as its parent, so that spans exported over OTLP (`telemetry::otlp_tracer`) line up
//! consumer → provider → backend in any OpenTelemetry viewer.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The lt1 header carrying the exchange's trace context.
pub const HEADER: &str = "x-lt-trace";

/// A trace context: trace id (32 lowercase hex), the parent span id (16), sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub trace_id: String,
    pub parent_id: String,
    pub sampled: bool,
}

fn hex_of(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

impl Trace {
    /// A `traceparent` value (W3C Trace Context level 1): `00-<trace-id>-<parent-id>-<flags>`;
    /// a later version's extra fields are ignored, as the recommendation asks. `None` when
    /// malformed (all-zero ids included).
    pub fn parse(value: &str) -> Option<Trace> {
        let value = value.trim();
        let mut parts = value.split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || !version.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        if !hex_of(trace_id, 32) || !hex_of(parent_id, 16) || flags.len() != 2 {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Trace {
            trace_id: trace_id.to_owned(),
            parent_id: parent_id.to_owned(),
            sampled: flags & 1 == 1,
        })
    }

    /// A new trace (random ids, sampled).
    pub fn new() -> Trace {
        let a = uuid::Uuid::new_v4().simple().to_string();
        let b = uuid::Uuid::new_v4().simple().to_string();
        Trace {
            trace_id: a,
            parent_id: b[..16].to_owned(),
            sampled: true,
        }
    }

    /// The `traceparent` value naming `span_id` as the parent of what follows.
    pub fn header(&self, span_id: &str) -> String {
        format!(
            "00-{}-{span_id}-{}",
            self.trace_id,
            if self.sampled { "01" } else { "00" }
        )
    }

    /// A span `name` of this trace: its OpenTelemetry parent is this context (a no-op when no
    /// OpenTelemetry layer is installed); the trace id is also a field of the span.
    pub fn span(&self, side: &'static str, service: &str) -> tracing::Span {
        let span = tracing::info_span!("lt.exchange", side, service, trace_id = %self.trace_id);
        if let (Ok(t), Ok(p)) = (
            TraceId::from_hex(&self.trace_id),
            SpanId::from_hex(&self.parent_id),
        ) {
            let flags = if self.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            let remote = SpanContext::new(t, p, flags, true, TraceState::default());
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
        span
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

/// The span id to send on as the parent: the exported span's own where OpenTelemetry runs,
/// else a fresh one (the trace id still ties the two logs together).
pub fn span_id(span: &tracing::Span) -> String {
    let id = span.context().span().span_context().span_id();
    if id == SpanId::INVALID {
        uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
    } else {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_per_the_recommendation() {
        let t = Trace::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_id, "00f067aa0ba902b7");
        assert!(t.sampled);
        assert_eq!(
            t.header("1111111111111111"),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
        );
        // A later version may add fields; version 00 may not.
        assert!(
            Trace::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x").is_some()
        );
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(Trace::parse(bad), None, "{bad}");
        }
        let fresh = Trace::new();
        assert!(Trace::parse(&fresh.header(&fresh.parent_id)).is_some());
    }
}
