//! The limits on a caller: publish rate per agency, streams per connection, and the per-call
//! deadline that inbox streams are exempt from.

use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;
use xiezhi::proto;
use xiezhi::proto::inbox_client::InboxClient;
use xiezhi::proto::publisher_client::PublisherClient;

use crate::support::{Log, TestServer, lead, org};

#[tokio::test]
async fn publish_calls_beyond_an_agencys_rate_are_resource_exhausted() {
    let server = TestServer::start_tls("", |config| {
        config.security.publish_rate_per_sec = 1;
        config.security.publish_burst = 3;
    })
    .await;
    let mut scjg = PublisherClient::new(server.channel_as("330106-SCJG").await);
    for n in 0..3 {
        let mut request = lead(&format!("burst-{n}"), org(n));
        request.producer.clear();
        scjg.publish_lead(request).await.expect("within the burst");
    }
    let mut request = lead("burst-3", org(3));
    request.producer.clear();
    let status = scjg.publish_lead(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains("330106-SCJG exceeds 1 publish calls per second"),
        "{}",
        status.message()
    );
    // Another agency has a bucket of its own.
    let mut other = lead("other-0", org(9));
    other.producer.clear();
    PublisherClient::new(server.channel_as("330100-STHJ").await)
        .publish_lead(other)
        .await
        .expect("another agency is not limited by this one");
    server.wait_for_events(4).await;
    assert_eq!(server.event_count(), 4, "the refused call stored nothing");
    server.stop().await;
}

#[tokio::test]
async fn streams_per_connection_are_bounded_and_streams_outlive_the_call_deadline() {
    let server = TestServer::start_with(Log::Embedded, |config| {
        config.security.max_concurrent_streams = 2;
        config.security.request_timeout_secs = 1;
    })
    .await;
    let first = crate::support::subscribe(&server.channel, "330106-SCJG", Some(0)).await;
    let second = crate::support::subscribe(&server.channel, "330106-GA", Some(0)).await;
    // A third stream on the same connection waits for one of the two to end.
    let third = tokio::time::timeout(
        Duration::from_millis(500),
        InboxClient::new(server.channel.clone()).subscribe(proto::SubscribeRequest {
            agency: "330100-SFJ".into(),
            from_cursor: Some(0),
        }),
    )
    .await;
    assert!(third.is_err(), "a third concurrent stream was opened");
    drop(second);
    let _third = tokio::time::timeout(
        Duration::from_secs(5),
        InboxClient::new(server.channel.clone()).subscribe(proto::SubscribeRequest {
            agency: "330100-SFJ".into(),
            from_cursor: Some(0),
        }),
    )
    .await
    .expect("a stream was freed")
    .unwrap()
    .into_inner();

    // The open stream is past the one-second deadline and still delivers. (Published over a
    // second connection: both streams of the first are taken.)
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let second_connection =
        Channel::from_shared(format!("http://{}", server.running().grpc_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut publisher = PublisherClient::new(second_connection);
    publisher.publish_lead(lead("late", org(5))).await.unwrap();
    let mut first = first;
    let delivery = tokio::time::timeout(Duration::from_secs(10), first.message())
        .await
        .expect("the stream still delivers")
        .unwrap()
        .unwrap();
    assert_eq!(crate::support::event_of(&delivery).event_id, "late");
    server.stop().await;
}

/// On a publish stream each event counts against the agency's rate like a unary call: beyond
/// the burst, the event is answered RESOURCE_EXHAUSTED and the stream goes on.
#[tokio::test]
async fn stream_events_beyond_an_agencys_rate_are_refused_one_by_one() {
    use xiezhi::proto::publish_stream_request::Event;
    use xiezhi::proto::publish_stream_response::Result as Answer;

    let server = TestServer::start_tls("", |config| {
        config.security.publish_rate_per_sec = 1;
        config.security.publish_burst = 3;
    })
    .await;
    let requests: Vec<_> = (0..5)
        .map(|n| {
            let mut request = lead(&format!("sburst-{n}"), org(n));
            request.producer.clear();
            proto::PublishStreamRequest {
                event: Some(Event::Lead(request)),
            }
        })
        .collect();
    let mut answers = PublisherClient::new(server.channel_as("330106-SCJG").await)
        .publish_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut codes = Vec::new();
    while let Some(answer) = answers.message().await.unwrap() {
        codes.push(match answer.result {
            Some(Answer::Ack(_)) => 0,
            Some(Answer::Error(error)) => error.code,
            None => -1,
        });
    }
    let exhausted = Code::ResourceExhausted as i32;
    assert_eq!(codes, [0, 0, 0, exhausted, exhausted]);
    server.wait_for_events(3).await;
    assert_eq!(server.event_count(), 3);
    server.stop().await;
}
