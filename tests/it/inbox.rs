//! Inbox streams: live delivery, resumption from a cursor without gaps or repeats, and
//! acknowledgements.

use std::time::Duration;

use tonic::Code;
use xiezhi::proto;

use crate::support::{Log, TestServer, event_ids, event_of, lead, org, violations};

async fn publish_many(server: &TestServer, prefix: &str, n: u64) {
    let mut publisher = server.publisher();
    for i in 0..n {
        publisher
            .publish_lead(lead(&format!("{prefix}-{i}"), org(500 + i)))
            .await
            .unwrap();
    }
}

async fn subscriber_that_resumes_from_its_cursor_misses_nothing_and_sees_nothing_twice(log: Log) {
    let server = TestServer::start(log).await;
    publish_many(&server, "a", 50).await;
    server.wait_for_events(50).await;

    // Read 20, then drop the stream mid-way.
    let mut stream = server.subscribe("330106-SCJG", Some(0)).await;
    let mut seen = Vec::new();
    while seen.len() < 20 {
        seen.push(stream.message().await.unwrap().unwrap());
    }
    drop(stream);

    publish_many(&server, "b", 30).await;
    server.wait_for_events(80).await;
    let last = seen.last().unwrap().cursor;
    seen.extend(
        server
            .drain_inbox("330106-SCJG", Some(last), Duration::from_millis(300))
            .await,
    );

    let cursors: Vec<u64> = seen.iter().map(|d| d.cursor).collect();
    assert_eq!(cursors, (1..=80).collect::<Vec<_>>(), "no gap, no repeat");
    let mut ids = event_ids(&seen);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80);
    server.stop().await;
}

async fn open_stream_receives_new_deliveries_live(log: Log) {
    let server = TestServer::start(log).await;
    let mut stream = server.subscribe("330106-SCJG", Some(0)).await;
    server
        .publisher()
        .publish_lead(lead("live-1", org(600)))
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("delivered while the stream was open")
        .unwrap()
        .unwrap();
    assert_eq!(event_of(&delivery).event_id, "live-1");
    server.stop().await;
}

async fn acknowledgements_move_forward_only_and_not_past_the_latest(log: Log) {
    let server = TestServer::start(log).await;
    publish_many(&server, "k", 5).await;
    server.wait_for_events(5).await;
    let mut inbox = server.inbox();
    let ack = |cursor| proto::AcknowledgeRequest {
        agency: "330106-SCJG".into(),
        cursor,
    };
    assert_eq!(
        inbox
            .acknowledge(ack(3))
            .await
            .unwrap()
            .into_inner()
            .acknowledged_cursor,
        3
    );
    assert_eq!(
        inbox
            .acknowledge(ack(1))
            .await
            .unwrap()
            .into_inner()
            .acknowledged_cursor,
        3
    );
    let status = inbox.acknowledge(ack(6)).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    assert_eq!(
        violations(&status),
        [("cursor".to_owned(), "cursor.ahead".to_owned())]
    );
    let resumed = server
        .drain_inbox("330106-SCJG", None, Duration::from_millis(300))
        .await;
    assert_eq!(resumed.iter().map(|d| d.cursor).collect::<Vec<_>>(), [4, 5]);
    server.stop().await;
}

async fn unknown_agencies_cannot_subscribe(log: Log) {
    let server = TestServer::start(log).await;
    let status = server
        .inbox()
        .subscribe(proto::SubscribeRequest {
            agency: "330106-NOPE".into(),
            from_cursor: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violations(&status),
        [("agency".to_owned(), "agency.unknown".to_owned())]
    );
    server.stop().await;
}

async fn shutdown_ends_open_streams_with_unavailable(log: Log) {
    let server = TestServer::start(log).await;
    let mut stream = server.subscribe("330106-SCJG", Some(0)).await;
    let reader = tokio::spawn(async move { stream.message().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("shutdown does not wait for open streams forever");
    let ended = reader.await.unwrap();
    assert_eq!(ended.unwrap_err().code(), Code::Unavailable);
}

crate::on_both_logs!(
    subscriber_that_resumes_from_its_cursor_misses_nothing_and_sees_nothing_twice,
    open_stream_receives_new_deliveries_live,
    acknowledgements_move_forward_only_and_not_past_the_latest,
    unknown_agencies_cannot_subscribe,
    shutdown_ends_open_streams_with_unavailable,
);
