//! The HTTP side: `/healthz` and `/metrics` (Prometheus text) on both logs.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::on_both_logs;
use crate::security::person;
use crate::support::{Log, TestServer, alert_of, lead, org, outcome};

/// GET `path` over plain HTTP/1.1; (status code, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
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
        Log::Kafka | Log::SecureKafka => "kafka",
    };
    for expected in [
        format!("xiezhi_events_published_total{{kind=\"lead\",bus=\"{bus}\"}}"),
        format!("xiezhi_events_applied_total{{kind=\"lead\",bus=\"{bus}\"}}"),
        "xiezhi_requests_rejected_total{reason=\"division".to_owned(),
        "# TYPE xiezhi_publish_latency_seconds histogram".to_owned(),
        "xiezhi_publish_latency_seconds_bucket{le=\"+Inf\"}".to_owned(),
        "xiezhi_router_lag_records{partition=\"0\"}".to_owned(),
        "# TYPE xiezhi_alerts_raised_total counter".to_owned(),
        // Present from start, at 0 until the first one (this test raises none).
        "xiezhi_alerts_raised_total{kind=\"late_disclosure\"}".to_owned(),
        format!("xiezhi_events_published_total{{kind=\"referral_update\",bus=\"{bus}\"}}"),
    ] {
        assert!(text.contains(&expected), "{expected} missing from:\n{text}");
    }
    let (status, _) = get(http, "/nothing-here").await;
    assert_eq!(status, 404);
    server.stop().await;
}

on_both_logs!(healthz_and_metrics_report_the_running_broker);

/// `/public/penalties`: public penalty decisions only, persons masked and their 身份证号 never
/// shown, each with its 双公示 due date and whether it came in time.
#[tokio::test]
async fn the_public_feed_shows_public_penalties_without_personal_data() {
    let server = TestServer::start(Log::Embedded).await;
    let mut publisher = server.publisher();
    // An enterprise's penalty, decided now: on time.
    publisher
        .publish_outcome(outcome("pub-1", "330106-SCJG", org(1), None))
        .await
        .unwrap();
    // A person's penalty decided 30 days ago: disclosed late.
    let mut late = outcome("pub-2", "330106-SCJG", person(), None);
    late.outcome.as_mut().unwrap().decided_at = Some(prost_types::Timestamp {
        seconds: jiff::Timestamp::now().as_second() - 30 * 86_400,
        nanos: 0,
    });
    publisher.publish_outcome(late).await.unwrap();
    // Internal: not for the public.
    let mut internal = outcome("pub-3", "330106-SCJG", org(3), None);
    internal.outcome.as_mut().unwrap().sensitivity = xiezhi::proto::Sensitivity::Internal as i32;
    publisher.publish_outcome(internal).await.unwrap();
    server.wait_for_events(3).await;

    let http = server.running().http_addr();
    let (status, json) = get(http, "/public/penalties?format=json").await;
    assert_eq!(status, 200, "{json}");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON");
    assert_eq!(entries.len(), 2, "{json}");
    let by_party = |party: &str| {
        entries
            .iter()
            .find(|e| e["party"] == party)
            .unwrap_or_else(|| panic!("{party} missing from {json}"))
    };
    let enterprise = by_party(&org(1).name);
    assert_eq!(enterprise["credit_code"], org(1).id);
    assert_eq!(enterprise["on_time"], true);
    assert_eq!(enterprise["fine_fen"], 12_000_000);
    let person_entry = by_party("张*");
    assert!(person_entry.get("credit_code").is_none());
    assert_eq!(person_entry["on_time"], false, "decided 30 days ago");
    assert!(!json.contains(&person().id), "no 身份证号 in the feed");
    assert!(!json.contains("张三"));
    assert!(!json.contains(&org(3).name), "internal decisions stay out");

    let (status, page) = get(http, "/public/penalties").await;
    assert_eq!(status, 200);
    assert!(page.contains("行政处罚公示") && page.contains("张*") && page.contains("逾期"));
    assert!(page.contains("120,000.00"), "fines in yuan");
    assert!(!page.contains(&person().id));

    // The late one also raised a 双公示 alert to the city's coordinator; the on-time one did not.
    let deliveries = server
        .drain_inbox("330100-SFJ", Some(0), std::time::Duration::from_millis(300))
        .await;
    let late: Vec<_> = deliveries
        .iter()
        .filter_map(alert_of)
        .filter(|a| a.kind == xiezhi::proto::AlertKind::LateDisclosure as i32)
        .collect();
    assert_eq!(late.len(), 1, "{deliveries:?}");
    assert_eq!(late[0].late_agency, "330106-SCJG");
    assert!(
        late[0].citation.contains("第四十八条"),
        "{}",
        late[0].citation
    );
    assert!(late[0].due.is_some());
    server.stop().await;
}

/// `/live` sends each new alert of the viewer's jurisdiction as a server-sent event.
#[tokio::test]
async fn live_alerts_arrive_as_server_sent_events() {
    let server = TestServer::start(Log::Embedded).await;
    let http = server.running().http_addr();
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    stream
        .write_all(
            format!("GET /live?as=330100-SFJ HTTP/1.1\r\nHost: {http}\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    // Let the stream open before the alert is raised.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut late = outcome("live-1", "330106-SCJG", org(31), None);
    late.outcome.as_mut().unwrap().decided_at = Some(prost_types::Timestamp {
        seconds: jiff::Timestamp::now().as_second() - 30 * 86_400,
        nanos: 0,
    });
    server.publisher().publish_outcome(late).await.unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains("late_disclosure") && tokio::time::Instant::now() < deadline {
        if let Ok(Ok(n)) =
            tokio::time::timeout(std::time::Duration::from_millis(500), stream.read(&mut buf)).await
        {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(seen.contains("event: alert"), "{seen}");
    assert!(seen.contains("\"kind\":\"late_disclosure\""), "{seen}");
    drop(stream);
    server.stop().await;
}

/// The HTTP port is guarded too: connections that send a few bytes and stall are closed at the
/// handshake deadline, while `/healthz` answers throughout.
#[tokio::test]
async fn stalled_http_connections_are_closed_and_health_still_answers() {
    let server = TestServer::start_with(Log::Embedded, |c| {
        c.security.handshake_timeout_secs = 1;
    })
    .await;
    let http = server.running().http_addr();
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut socket = tokio::net::TcpStream::connect(http).await.unwrap();
        socket.write_all(b"GET /heal").await.unwrap();
        stalled.push(socket);
    }
    let (status, _) = get(http, "/healthz").await;
    assert_eq!(status, 200);
    let by = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for mut socket in stalled {
        crate::support::closed_by_server(&mut socket, by).await;
    }
    server.stop().await;
}
