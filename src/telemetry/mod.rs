//! Diagnostics: the tracing subscriber (human-readable lines on stderr, filter from `RUST_LOG`
//! or the `[log] level` setting), trace context, and the process's [`metrics`].

pub mod metrics;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// An error and its sources on one line (`outer: inner: root`), for log fields and messages
/// that must carry the whole story; `Display` of our errors gives only the outermost part.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// W3C trace context (`traceparent`, version 00) for a publish: continues the caller's trace
/// when `incoming` is a valid traceparent, starts a new one otherwise. `seed` makes the new ids
/// unique (the event key); they are derived, not random, which is enough to correlate logs.
pub fn traceparent(incoming: Option<&str>, seed: &str) -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let digest = Sha256::digest(format!(
        "{seed}/{n}/{}/{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    let span_id = hex::encode(&digest[..8]);
    match incoming.and_then(parse_traceparent) {
        Some((trace_id, _)) => format!("00-{trace_id}-{span_id}-01"),
        None => format!("00-{}-{span_id}-01", hex::encode(&digest[8..24])),
    }
}

/// The trace id and parent span id of a version-00 `traceparent`, if it is well formed.
pub fn parse_traceparent(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.split('-');
    let (version, trace_id, span_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace_id, 32)
        && hex(span_id, 16)
        && hex(flags, 2)
        && trace_id != "00000000000000000000000000000000"
        && span_id != "0000000000000000";
    valid.then_some((trace_id, span_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn traceparent_continues_a_valid_trace_and_starts_one_otherwise() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let next = traceparent(Some(incoming), "a/1");
        let (trace, span) = parse_traceparent(&next).unwrap();
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(span, "00f067aa0ba902b7");
        let fresh = traceparent(Some("garbage"), "a/1");
        assert!(parse_traceparent(&fresh).is_some());
        assert_ne!(traceparent(None, "a/1"), traceparent(None, "a/1"));
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none()
        );
    }

    #[test]
    fn chain_joins_every_source() {
        let err = Outer(std::io::Error::other("root cause"));
        assert_eq!(chain(&err), "outer: root cause");
    }
}
