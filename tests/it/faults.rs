//! Faults on the Kafka log: routers killed mid-stream, a broker of a three-node cluster lost,
//! gateways restarted under retrying clients, an event id raced with different content. After
//! each, every acknowledged event is in the store exactly once and delivered exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use xiezhi::bus::OutgoingRecord;
use xiezhi::codec::log::EnvelopeBytes;
use xiezhi::config::Config;
use xiezhi::domain::{Payload, SubjectKey, Uscc};
use xiezhi::proto;
use xiezhi::proto::publisher_client::PublisherClient;

use crate::kafka;
use crate::process::{Proc, write_config};
use crate::support::{Log, TestServer, cursors, lead, org, stored_leads, test_config};

/// Publishes `request` until it is acknowledged (the same request each time, as a client
/// retrying after an error must).
async fn publish_until_acked(
    client: &mut PublisherClient<Channel>,
    request: &proto::PublishLeadRequest,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match client.publish_lead(request.clone()).await {
            Ok(_) => return,
            Err(status) => {
                assert!(
                    Instant::now() < deadline,
                    "{} never acknowledged: {status:?}",
                    request.event_id
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `publishers` clients publishing `total` leads `PREFIX-p-i` through `channel` between them,
/// each retried until acknowledged; the count acknowledged so far, and the clients' tasks.
pub(crate) fn publish_leads(
    channel: &Channel,
    prefix: &str,
    total: u64,
    publishers: u64,
) -> (Arc<AtomicU64>, tokio::task::JoinSet<()>) {
    let acked = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..publishers {
        let mut client = PublisherClient::new(channel.clone());
        let (acked, prefix) = (acked.clone(), prefix.to_owned());
        tasks.spawn(async move {
            for i in 0..total / publishers {
                let request = lead(&format!("{prefix}-{p}-{i}"), org(p * 10_000 + i % 100));
                publish_until_acked(&mut client, &request).await;
                acked.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    (acked, tasks)
}

/// Waits until the store behind `channel` has delivered `n` leads to 330106-SCJG.
async fn wait_for_deliveries(channel: &Channel, n: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let latest = cursors(channel, "330106-SCJG").await.1;
        if latest >= n || Instant::now() > deadline {
            return latest;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every stored lead once, every acknowledged one present, each delivered once.
async fn assert_each_once(channel: &Channel, acked: &[String], expected_total: Option<usize>) {
    let stored = stored_leads(channel).await;
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event was applied twice");
    let missing: Vec<&String> = acked.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    if let Some(total) = expected_total {
        assert_eq!(stored.len(), total);
    }
    let latest = cursors(channel, "330106-SCJG").await.1;
    assert_eq!(
        latest as usize,
        stored.len(),
        "each stored lead delivered exactly once"
    );
}

#[tokio::test]
async fn router_killed_three_times_applies_each_of_20000_events_once() {
    const TOTAL: u64 = 20_000;
    const PUBLISHERS: u64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(Log::Kafka, dir.path());
    config.bus.kafka.instance_id = "router-under-test".into();
    let config_path = dir.path().join("xiezhi.toml");
    write_config(&config, &config_path);
    let config_arg = config_path.display().to_string();

    let (_gateway, gateway_channel) = Proc::start(
        &["gateway", "--config", &config_arg],
        None,
        &dir.path().join("gateway.log"),
    )
    .await;
    let (mut router, mut router_channel) = Proc::start(
        &["router", "--config", &config_arg],
        None,
        &dir.path().join("router.log"),
    )
    .await;

    let (acked, mut publishers) = publish_leads(&gateway_channel, "rk", TOTAL, PUBLISHERS);
    let mut kills = Vec::new();
    for threshold in [2_000, 7_000, 12_000] {
        while acked.load(Ordering::Relaxed) < threshold {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        router.kill();
        kills.push(acked.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(200)).await;
        router_channel = router.restart().await;
    }
    while let Some(done) = publishers.join_next().await {
        done.unwrap();
    }
    assert!(
        kills.iter().all(|&k| k < TOTAL),
        "every kill happened while publishing: {kills:?}"
    );

    let delivered = wait_for_deliveries(&router_channel, TOTAL, Duration::from_secs(180)).await;
    assert_eq!(delivered, TOTAL, "deliveries after three router kills");
    let ids: Vec<String> = (0..PUBLISHERS)
        .flat_map(|p| (0..TOTAL / PUBLISHERS).map(move |i| format!("rk-{p}-{i}")))
        .collect();
    assert_each_once(&router_channel, &ids, Some(TOTAL as usize)).await;
}

#[tokio::test]
async fn broker_lost_from_a_three_node_cluster_loses_no_acknowledged_event() {
    kafka::script(&["cluster"], &[]).expect("three-node cluster starts");
    let server = TestServer::start_with(Log::Kafka, |c: &mut Config| {
        c.bus.kafka.bootstrap = "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092".into();
        c.bus.kafka.replication = 3;
        c.bus.kafka.min_insync_replicas = 2;
        // Leadership moves within the brokers' session timeout; a publish waits that long.
        c.bus.kafka.message_timeout_ms = 60_000;
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut publishers = tokio::task::JoinSet::new();
    for p in 0..4u64 {
        let mut client = server.publisher();
        let (stop, acked) = (stop.clone(), acked.clone());
        publishers.spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let request = lead(&format!("bk-{p}-{i}"), org(p * 1_000 + i % 50));
                publish_until_acked(&mut client, &request).await;
                acked.lock().unwrap().push(request.event_id);
                i += 1;
            }
        });
    }
    let count = |acked: &Arc<std::sync::Mutex<Vec<String>>>| acked.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&acked) < 500 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kafka::script(&["kill-node", "2"], &[]).expect("kill node 2");
    let at_kill = count(&acked);
    // Publishing must resume on its own: another 1,000 acknowledgements with node 2 down.
    let deadline = Instant::now() + Duration::from_secs(180);
    while count(&acked) < at_kill + 1_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = publishers.join_next().await {
        done.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= at_kill + 1_000,
        "publishing did not resume after the broker loss: {} acknowledged, {at_kill} at the kill",
        acked.len()
    );

    server.wait_for_events(acked.len()).await;
    assert_each_once(&server.channel, &acked, None).await;
    server.stop().await;
    let _ = kafka::script(&["stop", "cluster"], &[]);
}

#[tokio::test]
async fn gateway_killed_under_retrying_clients_stores_each_event_once() {
    const PER_CLIENT: u64 = 1_500;
    let router = TestServer::start_router(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("gateway.toml");
    write_config(&router.config, &config_path);
    let config_arg = config_path.display().to_string();
    let (mut gateway, _) = Proc::start(
        &["gateway", "--config", &config_arg],
        None,
        &dir.path().join("gateway.log"),
    )
    .await;

    let acked = Arc::new(AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..4u64 {
        let mut client = PublisherClient::new(gateway.lazy_channel());
        let acked = acked.clone();
        clients.spawn(async move {
            for i in 0..PER_CLIENT {
                publish_until_acked(
                    &mut client,
                    &lead(&format!("gw-{c}-{i}"), org(c * 1_000 + i % 40)),
                )
                .await;
                acked.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    for threshold in [1_000, 3_500] {
        while acked.load(Ordering::Relaxed) < threshold {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        gateway.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        gateway.restart().await;
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    let total = 4 * PER_CLIENT;
    router.wait_for_events(total as usize).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: Vec<String> = (0..4)
        .flat_map(|c| (0..PER_CLIENT).map(move |i| format!("gw-{c}-{i}")))
        .collect();
    assert_each_once(&router.channel, &ids, Some(total as usize)).await;
    assert!(
        router.log_records().await >= total,
        "retries may have appended copies; they are applied once"
    );
    router.stop().await;
}

#[tokio::test]
async fn event_id_raced_with_different_content_is_set_aside_and_the_first_stands() {
    let server = TestServer::start(Log::Kafka).await;
    let first = lead("raced", org(900));
    server
        .publisher()
        .publish_lead(first.clone())
        .await
        .unwrap();
    server.wait_for_events(1).await;
    // A second gateway that had not seen the first copy appends a different event under the
    // same id straight onto the log.
    let subject = SubjectKey::organization(&Uscc::parse(&org(900).id).unwrap());
    let mut envelope = server.store().timeline(&subject, None, 10).unwrap().items[0]
        .envelope
        .clone();
    if let Payload::Lead(lead) = &mut envelope.payload {
        lead.summary.push_str("（不同内容）");
    }
    server
        .running()
        .bus()
        .append(OutgoingRecord {
            key: envelope.log_key(),
            timestamp: jiff::Timestamp::now(),
            idempotency_key: envelope.key().to_bytes(),
            content_hash: EnvelopeBytes::encode(&envelope).content_hash,
            payload: xiezhi::codec::log::encode(
                &EnvelopeBytes::encode(&envelope),
                jiff::Timestamp::now(),
            ),
            traceparent: None,
        })
        .await
        .unwrap();
    let letters = server.wait_for_dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("different content"),
        "{}",
        letters[0].reason
    );
    let timeline = server.store().timeline(&subject, None, 10).unwrap().items;
    assert_eq!(timeline.len(), 1);
    let Payload::Lead(stored) = &timeline[0].envelope.payload else {
        panic!("not a lead")
    };
    assert_eq!(
        stored.summary,
        first.lead.unwrap().summary,
        "the first copy stands"
    );
    server.stop().await;
}

#[tokio::test]
async fn router_with_a_fresh_store_on_an_existing_group_reads_the_log_from_the_start() {
    let first = TestServer::start(Log::Kafka).await;
    for i in 0..30u64 {
        first
            .publisher()
            .publish_lead(lead(&format!("fresh-{i}"), org(950 + i % 5)))
            .await
            .unwrap();
    }
    first.wait_for_events(30).await;
    let kafka_config = first.config.bus.clone();
    let group = first.config.router.group.clone();
    first.stop().await;
    assert_eq!(
        first_committed_total(&kafka_config, &group).await,
        30,
        "the group has committed the whole log"
    );

    // A router with an empty data directory joins the same group: the group says "done", the
    // store says "nothing applied" — the store wins and the log is read from the start.
    let second = TestServer::start_with(Log::Kafka, |c: &mut Config| {
        c.bus = kafka_config.clone();
        c.router.group = group.clone();
    })
    .await;
    second.wait_for_events(30).await;
    let ids: Vec<String> = (0..30).map(|i| format!("fresh-{i}")).collect();
    assert_each_once(&second.channel, &ids, Some(30)).await;
    second.stop().await;
}

async fn first_committed_total(bus: &xiezhi::config::BusConfig, group: &str) -> u64 {
    use xiezhi::bus::Bus;
    let log = xiezhi::bus::kafka::KafkaBus::connect(&bus.kafka)
        .await
        .unwrap();
    log.committed(group).await.unwrap().iter().sum()
}

#[tokio::test]
async fn traceparent_travels_with_the_event_as_a_kafka_header() {
    let server = TestServer::start(Log::Kafka).await;
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = tonic::Request::new(lead("traced", org(960)));
    request
        .metadata_mut()
        .insert("traceparent", caller.parse().unwrap());
    server.publisher().publish_lead(request).await.unwrap();
    server
        .publisher()
        .publish_lead(lead("untraced", org(961)))
        .await
        .unwrap();
    server.wait_for_events(2).await;

    let mut replay = server.running().bus().replay().await.unwrap();
    let mut headers = Vec::new();
    while headers.len() < 2 {
        for record in replay.poll(10).await.unwrap() {
            let event = xiezhi::codec::log::decode(&record.payload)
                .unwrap()
                .envelope
                .decode()
                .unwrap();
            headers.push((
                event.event_id.to_string(),
                record.traceparent.unwrap_or_default(),
            ));
        }
    }
    headers.sort();
    let (_, traced) = &headers[0];
    let (trace_id, span_id) =
        xiezhi::telemetry::parse_traceparent(traced).expect("valid traceparent");
    assert_eq!(
        trace_id, "4bf92f3577b34da6a3ce929d0e0e4736",
        "the caller's trace continues"
    );
    assert_ne!(span_id, "00f067aa0ba902b7", "the gateway's own span");
    let (_, untraced) = &headers[1];
    assert!(
        xiezhi::telemetry::parse_traceparent(untraced).is_some(),
        "a new trace starts"
    );
    server.stop().await;
}
