//! Event ids are idempotency keys: a retry is acknowledged as a duplicate and stored once; the
//! same id for different content is refused.
//!
//! The embedded log checks idempotency at append. Kafka appends carry no check, so there a
//! retry is recognised by the gateway once the first copy is applied, and a retry racing its
//! first copy is appended twice and applied once (the router deduplicates).

use std::time::Duration;

use tonic::Code;

use crate::support::{Log, TestServer, lead, org};

async fn duplicate_event_id_is_acknowledged_once_and_stored_once(log: Log) {
    let server = TestServer::start(log).await;
    let request = lead("dup-1", org(20));
    let first = server
        .publisher()
        .publish_lead(request.clone())
        .await
        .unwrap()
        .into_inner();
    if log.is_kafka() {
        server.wait_for_events(1).await;
    }
    let second = server
        .publisher()
        .publish_lead(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(
        first.position, second.position,
        "the duplicate points at the first copy"
    );
    server.wait_for_events(1).await;
    // Give a wrongly stored second copy time to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.log_records().await, 1);
    assert_eq!(server.event_count(), 1);
    assert_eq!(server.timeline(&org(20)).await.len(), 1);
    let delivered = server
        .drain_inbox("330106-SCJG", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(delivered.len(), 1, "delivered once");
    server.stop().await;
}

async fn same_event_id_with_different_content_is_refused(log: Log) {
    let server = TestServer::start(log).await;
    let request = lead("dup-2", org(21));
    server
        .publisher()
        .publish_lead(request.clone())
        .await
        .unwrap();
    if log.is_kafka() {
        server.wait_for_events(1).await;
    }
    let mut changed = request.clone();
    changed.lead.as_mut().unwrap().summary.push_str("（补充）");
    let status = server.publisher().publish_lead(changed).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains("dup-2"), "{}", status.message());
    assert_eq!(server.log_records().await, 1);
    server.stop().await;
}

async fn event_ids_are_scoped_to_their_producer(log: Log) {
    let server = TestServer::start(log).await;
    let request = lead("shared-id", org(22));
    let mut other = request.clone();
    other.producer = "330102-YJGL".into();
    assert!(
        !server
            .publisher()
            .publish_lead(request)
            .await
            .unwrap()
            .into_inner()
            .duplicate
    );
    assert!(
        !server
            .publisher()
            .publish_lead(other)
            .await
            .unwrap()
            .into_inner()
            .duplicate
    );
    server.wait_for_events(2).await;
    server.stop().await;
}

async fn concurrent_retries_of_one_event_are_applied_once(log: Log) {
    let server = TestServer::start(log).await;
    let request = lead("race", org(23));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut publisher = server.publisher();
        let request = request.clone();
        tasks.spawn(async move { publisher.publish_lead(request).await.unwrap().into_inner() });
    }
    let mut fresh = 0;
    while let Some(ack) = tasks.join_next().await {
        if !ack.unwrap().duplicate {
            fresh += 1;
        }
    }
    if log == Log::Embedded {
        assert_eq!(fresh, 1, "exactly one publish appended the event");
        assert_eq!(server.log_records().await, 1);
    } else {
        assert!(server.log_records().await >= 1);
    }
    server.wait_for_events(1).await;
    let records = server.log_records().await;
    // Every copy on the log has been consumed once the router's commits reach the end.
    let group = server.config.router.group.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server
        .running()
        .bus()
        .committed(&group)
        .await
        .unwrap()
        .iter()
        .sum::<u64>()
        < records
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.event_count(), 1, "applied once");
    let delivered = server
        .drain_inbox("330106-SCJG", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(delivered.len(), 1, "delivered once");
    server.stop().await;
}

crate::on_both_logs!(
    duplicate_event_id_is_acknowledged_once_and_stored_once,
    same_event_id_with_different_content_is_refused,
    event_ids_are_scoped_to_their_producer,
    concurrent_retries_of_one_event_are_applied_once,
);

crate::on_secure_kafka!(
    duplicate_event_id_is_acknowledged_once_and_stored_once,
    concurrent_retries_of_one_event_are_applied_once,
);
