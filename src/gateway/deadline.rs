//! The deadline of a call: `security.request_timeout_secs`, or the client's own `grpc-timeout`
//! when that is sooner, until the response starts (for a stream, until it opens: inbox streams
//! and `PublishStream` run on). A call over it is answered DEADLINE_EXCEEDED, as gRPC and
//! docs/api.md say — tonic's own `timeout` answers CANCELLED "Timeout expired", which clients
//! following the retry table read as "do not retry".

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Runs the call, answering DEADLINE_EXCEEDED if it does not answer within its deadline.
pub(super) async fn limit(
    State(server_limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let client_limit = request
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    let (limit, whose) = match client_limit {
        Some(client) if client < server_limit => (client, "the client's grpc-timeout"),
        _ => (server_limit, "security.request_timeout_secs"),
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            crate::telemetry::metrics::metrics().rejected("deadline_exceeded");
            let status = tonic::Status::deadline_exceeded(format!(
                "no answer within {} ms ({whose}); the call may still take effect: retry with the same event_id",
                limit.as_millis()
            ));
            let (parts, ()) = status.into_http::<()>().into_parts();
            Response::from_parts(parts, axum::body::Body::empty())
        }
    }
}

/// A `grpc-timeout` header: up to 8 digits and a unit (`H M S m u n`), per the gRPC HTTP/2
/// protocol.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_headers_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
