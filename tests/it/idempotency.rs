//! Event ids are idempotency keys: a retry is acknowledged as a duplicate and stored once; the
//! same id for different content is refused.

use std::time::Duration;

use tonic::Code;

use crate::support::{TestServer, lead, org};

#[tokio::test]
async fn duplicate_event_id_is_acknowledged_once_and_stored_once() {
    let server = TestServer::start().await;
    let request = lead("dup-1", org(20));
    let first = server
        .publisher()
        .publish_lead(request.clone())
        .await
        .unwrap()
        .into_inner();
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
    assert_eq!(server.log_records(), 1);
    assert_eq!(server.event_count(), 1);
    assert_eq!(server.timeline(&org(20)).await.len(), 1);
    let delivered = server
        .drain_inbox("330106-SCJG", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(delivered.len(), 1, "delivered once");
    server.stop().await;
}

#[tokio::test]
async fn same_event_id_with_different_content_is_refused() {
    let server = TestServer::start().await;
    let request = lead("dup-2", org(21));
    server
        .publisher()
        .publish_lead(request.clone())
        .await
        .unwrap();
    let mut changed = request.clone();
    changed.lead.as_mut().unwrap().summary.push_str("（补充）");
    let status = server.publisher().publish_lead(changed).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains("dup-2"), "{}", status.message());
    assert_eq!(server.log_records(), 1);
    server.stop().await;
}

#[tokio::test]
async fn event_ids_are_scoped_to_their_producer() {
    let server = TestServer::start().await;
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

#[tokio::test]
async fn concurrent_retries_of_one_event_append_it_once() {
    let server = TestServer::start().await;
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
    assert_eq!(fresh, 1, "exactly one publish appended the event");
    assert_eq!(server.log_records(), 1);
    server.wait_for_events(1).await;
    server.stop().await;
}
