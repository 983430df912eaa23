//! What survives a restart, what many publishers at once produce, and what the router does
//! with bytes it cannot decode (also when it dies right after setting them aside).

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use xiezhi::app::open_log;
use xiezhi::bus::{Bus, DeadLetter, OutgoingRecord};
use xiezhi::config::Config;
use xiezhi::domain::{SubjectKey, Uscc};
use xiezhi::proto;
use xiezhi::proto::publisher_client::PublisherClient;

use crate::process::{Proc, write_config, xiezhi};
use crate::support::{Log, TestServer, event_ids, event_of, lead, org, stored_leads, test_config};

/// Bytes no router can decode.
const GARBAGE: &[u8] = b"\xff\x00 not an envelope";

async fn restart_keeps_events_cursors_and_offsets_and_repeats_no_delivery(log: Log) {
    let server = TestServer::start(log).await;
    for i in 0..30 {
        server
            .publisher()
            .publish_lead(lead(&format!("r-{i}"), org(30 + i)))
            .await
            .unwrap();
    }
    server.wait_for_events(30).await;
    let ack = server
        .inbox()
        .acknowledge(proto::AcknowledgeRequest {
            agency: "330106-SCJG".into(),
            cursor: 12,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.acknowledged_cursor, ack.latest_cursor), (12, 30));
    let before = server.timeline(&org(35)).await;

    let server = server.restart().await;
    assert_eq!(server.event_count(), 30, "events intact");
    assert_eq!(server.log_records().await, 30);
    let committed: u64 = server
        .running()
        .bus()
        .committed(&server.config.router.group)
        .await
        .unwrap()
        .iter()
        .sum();
    assert_eq!(committed, 30, "router offsets intact: nothing to replay");
    assert_eq!(server.timeline(&org(35)).await, before);

    // Resuming without a cursor starts after the acknowledged one.
    let resumed = server
        .drain_inbox("330106-SCJG", None, Duration::from_millis(300))
        .await;
    let cursors: Vec<u64> = resumed.iter().map(|d| d.cursor).collect();
    assert_eq!(cursors, (13..=30).collect::<Vec<_>>());

    // New deliveries continue the numbering: no cursor reused, no delivery repeated.
    server
        .publisher()
        .publish_lead(lead("r-after", org(99)))
        .await
        .unwrap();
    server.wait_for_events(31).await;
    let all = server
        .drain_inbox("330106-SCJG", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(all.len(), 31);
    let ids: BTreeSet<_> = event_ids(&all).into_iter().collect();
    assert_eq!(ids.len(), 31, "each event delivered once");
    assert_eq!(all.last().unwrap().cursor, 31);
    assert_eq!(event_of(all.last().unwrap()).event_id, "r-after");
    // The acknowledgement survived too.
    let ack = server.cursors("330106-SCJG").await;
    assert_eq!(ack.0, 12);
    server.stop().await;
}

async fn ten_concurrent_publishers_store_and_route_exactly_ten_thousand_events(log: Log) {
    let server = TestServer::start(log).await;
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..10u64 {
        let mut publisher = server.publisher();
        tasks.spawn(async move {
            for i in 0..1_000u64 {
                let request = lead(&format!("c-{p}-{i}"), org(1_000 + (p * 1_000 + i) % 97));
                let ack = publisher
                    .publish_lead(request)
                    .await
                    .expect("publish")
                    .into_inner();
                assert!(!ack.duplicate);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(server.log_records().await, 10_000);
    server.wait_for_events(10_000).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.event_count(), 10_000);
    let ack = server.cursors("330106-SCJG").await;
    assert_eq!(
        ack.1, 10_000,
        "every lead routed to the responsible agency once"
    );
    let delivered = server
        .drain_inbox("330106-SCJG", Some(0), Duration::from_millis(500))
        .await;
    let unique: BTreeSet<_> = event_ids(&delivered).into_iter().collect();
    assert_eq!((delivered.len(), unique.len()), (10_000, 10_000));
    server.stop().await;
}

async fn undecodable_records_are_set_aside_and_routing_goes_on(log: Log) {
    let server = TestServer::start(log).await;
    let key = SubjectKey::organization(&Uscc::parse("91330106MA2H0Q7W1G").unwrap());
    append_garbage(server.running().bus().as_ref(), &key).await;
    server
        .publisher()
        .publish_lead(lead("after-garbage", org(40)))
        .await
        .unwrap();
    server.wait_for_events(1).await;
    // The garbage sits in another partition than the lead: wait for it to be set aside.
    let letters = server.wait_for_dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("undecodable"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].payload_hex, hex_of(GARBAGE));
    server.stop().await;
}

/// A router killed right after dead-lettering a record, before its store recorded the batch,
/// reads the record again on restart: it must find it among the dead letters and not write it
/// twice. The binary aborts at that point when `XIEZHI_TEST_ABORT_AFTER_DEAD_LETTER` is set.
async fn a_router_killed_after_a_dead_letter_leaves_exactly_one(log: Log) {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(log, dir.path());
    let config_path = dir.path().join("xiezhi.toml");
    write_config(&config, &config_path);
    let subject = org(77);
    let key = SubjectKey::organization(&Uscc::parse(&subject.id).unwrap());
    let bus = open_log(&config).await.expect("log opens");
    append_garbage(bus.as_ref(), &key).await;
    drop(bus);

    let serve = ["serve", "--config", &config_path.display().to_string()];
    let mut crashing = xiezhi()
        .args(serve)
        .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .env("XIEZHI_TEST_ABORT_AFTER_DEAD_LETTER", "1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = crashing.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = crashing.kill();
            panic!("the router did not reach the dead letter within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status.signal(),
        Some(6),
        "aborted after the dead letter: {status}"
    );
    assert_eq!(
        dead_letters(&config).await.len(),
        1,
        "the dead letter was durable"
    );

    let (mut server, channel) = Proc::start(&serve, None, &dir.path().join("serve.log")).await;
    // Behind the garbage in its partition: once it is stored, the garbage was read again.
    PublisherClient::new(channel.clone())
        .publish_lead(lead("after-the-crash", subject))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stored_leads(&channel)
        .await
        .contains(&"after-the-crash".to_owned())
    {
        assert!(
            Instant::now() < deadline,
            "the lead behind the garbage was not stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();
    let letters = dead_letters(&config).await;
    assert_eq!(
        letters.len(),
        1,
        "dead-lettered again after the restart: {letters:?}"
    );
    assert!(
        letters[0].reason.contains("undecodable"),
        "{}",
        letters[0].reason
    );
}

/// Appends bytes that are no envelope straight onto the log, under `key`.
async fn append_garbage(log: &dyn Bus, key: &SubjectKey) {
    log.append(OutgoingRecord {
        key: key.as_str().to_owned(),
        timestamp: jiff::Timestamp::now(),
        idempotency_key: Vec::new(),
        content_hash: [0; 32],
        payload: GARBAGE.to_vec(),
        traceparent: None,
    })
    .await
    .unwrap();
}

async fn dead_letters(config: &Config) -> Vec<DeadLetter> {
    let log = open_log(config).await.expect("log opens");
    log.dead_letters().await.expect("dead letters")
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

crate::on_both_logs!(
    restart_keeps_events_cursors_and_offsets_and_repeats_no_delivery,
    ten_concurrent_publishers_store_and_route_exactly_ten_thousand_events,
    undecodable_records_are_set_aside_and_routing_goes_on,
    a_router_killed_after_a_dead_letter_leaves_exactly_one,
);

crate::on_secure_kafka!(
    restart_keeps_events_cursors_and_offsets_and_repeats_no_delivery,
    undecodable_records_are_set_aside_and_routing_goes_on,
);
