//! `Publisher.PublishStream`: many events over one call, each answered in order with the
//! validation, idempotency, authorisation and durability of the unary calls.

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use xiezhi::proto;
use xiezhi::proto::publish_stream_request::Event;
use xiezhi::proto::publish_stream_response::Result as Answer;
use xiezhi::proto::publisher_client::PublisherClient;

use crate::on_both_logs;
use crate::support::{Log, TestServer, lead, org, outcome};

fn of_lead(request: proto::PublishLeadRequest) -> proto::PublishStreamRequest {
    proto::PublishStreamRequest {
        event: Some(Event::Lead(request)),
    }
}

/// Sends `requests` on one stream and collects every answer until the server ends it.
async fn stream_all(
    client: &mut PublisherClient<tonic::transport::Channel>,
    requests: Vec<proto::PublishStreamRequest>,
) -> (Vec<proto::PublishStreamResponse>, Option<tonic::Status>) {
    let stream = client
        .publish_stream(tokio_stream::iter(requests))
        .await
        .expect("the stream opens")
        .into_inner();
    collect(stream).await
}

async fn collect(
    mut stream: tonic::Streaming<proto::PublishStreamResponse>,
) -> (Vec<proto::PublishStreamResponse>, Option<tonic::Status>) {
    let mut answers = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(answer)) => answers.push(answer),
            Ok(None) => return (answers, None),
            Err(status) => return (answers, Some(status)),
        }
    }
}

fn error_of(answer: &proto::PublishStreamResponse) -> &proto::PublishError {
    match &answer.result {
        Some(Answer::Error(error)) => error,
        other => panic!("expected an error for {}, got {other:?}", answer.event_id),
    }
}

fn ack_of(answer: &proto::PublishStreamResponse) -> &proto::Ack {
    match &answer.result {
        Some(Answer::Ack(ack)) => ack,
        other => panic!("expected an ack for {}, got {other:?}", answer.event_id),
    }
}

/// 500 leads and outcomes with bad ones among them, then a second stream with a retry and a
/// reused id: every request gets one answer in order, only the good ones are stored, each
/// once, and they are routed like unary publishes.
async fn a_stream_answers_every_event_in_order_and_stores_only_the_good_ones(log: Log) {
    let server = TestServer::start(log).await;
    let mut requests = Vec::new();
    for n in 0..500u64 {
        requests.push(match n {
            // A broken credit code.
            100 => {
                let mut bad = lead("s-100", org(100));
                let id = &mut bad.lead.as_mut().unwrap().subject.as_mut().unwrap().id;
                // Another check character than the right one.
                let wrong = if id.ends_with('1') { '2' } else { '1' };
                id.pop();
                id.push(wrong);
                of_lead(bad)
            }
            // Neither lead nor outcome.
            400 => proto::PublishStreamRequest { event: None },
            n if n % 5 == 0 => proto::PublishStreamRequest {
                event: Some(Event::Outcome(outcome(
                    &format!("s-{n}"),
                    "330106-SCJG",
                    org(n),
                    None,
                ))),
            },
            n => of_lead(lead(&format!("s-{n}"), org(n))),
        });
    }
    let retry = requests[11].clone();
    let (answers, end) = stream_all(&mut server.publisher(), requests).await;
    assert!(end.is_none(), "the stream ends cleanly: {end:?}");
    assert_eq!(answers.len(), 500);
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer.sequence, n as u64, "answers come in request order");
    }
    let bad = error_of(&answers[100]);
    assert_eq!(bad.code, Code::InvalidArgument as i32);
    assert_eq!(bad.violations[0].field, "lead.subject.id");
    assert_eq!(bad.violations[0].rule, "uscc.checksum");
    let empty = error_of(&answers[400]);
    assert_eq!(empty.violations[0].field, "event");
    assert_eq!(empty.violations[0].rule, "required");
    for answer in answers
        .iter()
        .filter(|a| a.sequence != 100 && a.sequence != 400)
    {
        let ack = ack_of(answer);
        assert_eq!(ack.event_id, answer.event_id);
        assert!(!ack.duplicate);
        assert!(ack.receipt.is_some(), "stream acks carry receipts too");
    }
    // Once applied (Kafka recognises retries from the store), a retry and a reused id.
    server.wait_for_events(498).await;
    let (again, end) = stream_all(
        &mut server.publisher(),
        vec![
            retry,
            of_lead(lead("s-21", org(999))),
            of_lead(lead("s-500", org(500))),
        ],
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    assert!(ack_of(&again[0]).duplicate, "a retry is a duplicate");
    assert_eq!(ack_of(&again[0]).position, ack_of(&answers[11]).position);
    assert_eq!(error_of(&again[1]).code, Code::AlreadyExists as i32);
    assert!(!ack_of(&again[2]).duplicate);
    server.wait_for_events(499).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        server.event_count(),
        499,
        "stored once each, nothing refused"
    );
    // Routed like unary publishes: 330106-SCJG receives the 401 leads.
    let leads = server
        .drain_inbox(
            "330106-SCJG",
            Some(0),
            std::time::Duration::from_millis(500),
        )
        .await;
    assert_eq!(leads.len(), 401);
    server.stop().await;
}

on_both_logs!(a_stream_answers_every_event_in_order_and_stores_only_the_good_ones);

/// Every acknowledged stream event survives a restart.
#[tokio::test]
async fn acknowledged_stream_events_survive_a_restart() {
    let server = TestServer::start(Log::Embedded).await;
    let requests: Vec<_> = (0..300)
        .map(|n| of_lead(lead(&format!("r-{n}"), org(n))))
        .collect();
    let (answers, _) = stream_all(&mut server.publisher(), requests.clone()).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a.result, Some(Answer::Ack(_))))
    );
    let server = server.restart().await;
    server.wait_for_events(300).await;
    assert_eq!(server.event_count(), 300);
    // And a replay of the whole stream after the restart is all duplicates.
    let (answers, _) = stream_all(&mut server.publisher(), requests).await;
    assert!(answers.iter().all(|a| ack_of(a).duplicate));
    assert_eq!(server.event_count(), 300);
    server.stop().await;
}

/// The caller's certificate decides the producer for every event of a stream: a spoofed one is
/// refused on its own, the rest go through.
#[tokio::test]
async fn a_spoofed_producer_on_a_stream_is_refused_per_event() {
    let server = TestServer::start_tls("", |_| {}).await;
    let mut client = PublisherClient::new(server.channel_as("330100-STHJ").await);
    let mut spoofed = lead("spoof-1", org(1));
    spoofed.producer = "330106-SCJG".into();
    let mut own = lead("own-1", org(2));
    own.producer.clear();
    let (answers, end) = stream_all(&mut client, vec![of_lead(spoofed), of_lead(own)]).await;
    assert!(end.is_none());
    let denied = error_of(&answers[0]);
    assert_eq!(denied.code, Code::PermissionDenied as i32);
    assert!(
        denied
            .message
            .contains("330100-STHJ may not act as 330106-SCJG"),
        "{}",
        denied.message
    );
    assert!(!ack_of(&answers[1]).duplicate);
    server.wait_for_events(1).await;
    assert_eq!(server.event_count(), 1);
    server.stop().await;
}

/// A client that keeps its stream open while the server shuts down gets its answers, then
/// UNAVAILABLE; nothing it was told is durable is lost.
#[tokio::test]
async fn shutdown_answers_what_was_read_then_ends_the_stream_unavailable() {
    let server = TestServer::start(Log::Embedded).await;
    let (tx, rx) = mpsc::channel(16);
    let mut stream = server
        .publisher()
        .publish_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for n in 0..5 {
        tx.send(of_lead(lead(&format!("open-{n}"), org(n))))
            .await
            .unwrap();
    }
    let mut answered = Vec::new();
    while answered.len() < 5 {
        answered.push(stream.message().await.unwrap().unwrap());
    }
    server.wait_for_events(5).await;
    let (_dir, (rest, end)) = tokio::join!(server.stop_keeping_data(), collect(stream));
    assert!(rest.is_empty());
    let status = end.expect("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("resend"), "{}", status.message());
    drop(tx);
}

crate::on_secure_kafka!(a_stream_answers_every_event_in_order_and_stores_only_the_good_ones);
