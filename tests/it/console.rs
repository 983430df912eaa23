//! The HTTP side: `/healthz` and `/metrics` (Prometheus text) on both logs.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::on_both_logs;
use crate::support::{Log, TestServer, lead, org};

/// GET `path` over plain HTTP/1.1; (status code, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

async fn healthz_and_metrics_report_the_running_broker(log: Log) {
    let server = TestServer::start(log).await;
    let http = server.running().http_addr();
    let (status, body) = get(http, "/healthz").await;
    assert_eq!((status, body.trim()), (200, "ok"), "{body}");

    server
        .publisher()
        .publish_lead(lead("metrics-1", org(1)))
        .await
        .unwrap();
    let mut bad = lead("metrics-2", org(2));
    bad.lead.as_mut().unwrap().division = "999999".into();
    assert!(server.publisher().publish_lead(bad).await.is_err());
    server.wait_for_events(1).await;

    let (status, text) = get(http, "/metrics").await;
    assert_eq!(status, 200);
    let bus = match log {
        Log::Embedded => "embedded",
        Log::Kafka => "kafka",
    };
    for expected in [
        format!("xiezhi_events_published_total{{kind=\"lead\",bus=\"{bus}\"}}"),
        "xiezhi_events_applied_total{kind=\"lead\"}".to_owned(),
        "xiezhi_requests_rejected_total{reason=\"division".to_owned(),
        "# TYPE xiezhi_publish_latency_seconds histogram".to_owned(),
        "xiezhi_publish_latency_seconds_bucket{le=\"+Inf\"}".to_owned(),
        "xiezhi_router_lag_records{partition=\"0\"}".to_owned(),
        "# TYPE xiezhi_alerts_raised_total counter".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected} missing from:\n{text}");
    }
    let (status, _) = get(http, "/nothing-here").await;
    assert_eq!(status, 404);
    server.stop().await;
}

on_both_logs!(healthz_and_metrics_report_the_running_broker);
