//! Router replicas on Kafka (`router.replicas`): two routers each holding the whole store,
//! one writing the decisions topic. Their readers get the same deliveries under the same
//! cursors; the writer SIGKILLed mid-stream is replaced by the survivor with nothing lost or
//! applied twice; a subscriber moves between them without gap or repeat; a replica started
//! empty catches up to the same answers; a statutory deadline alerts once across replicas, also
//! after the writer's place moved.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use tonic::transport::Channel;
use xiezhi::app::Role;
use xiezhi::config::Config;
use xiezhi::domain::ManualClock;
use xiezhi::proto;
use xiezhi::proto::referrals_client::ReferralsClient;

use crate::console::get;
use crate::faults::publish_leads;
use crate::kafka;
use crate::process::{Proc, write_config};
use crate::referrals::{alerts, refer, wait_for_state};
use crate::support::{
    Log, TestServer, alert_of, cursors, event_of, lead, org, read_until_quiet, stored_leads,
    subscribe, test_config,
};

const AGENCY: &str = "330106-SCJG";

/// Whether the router behind `http` says it is the replicas' writer.
async fn is_writer(http: std::net::SocketAddr) -> bool {
    let (status, body) = tokio::time::timeout(Duration::from_secs(2), get(http, "/healthz"))
        .await
        .unwrap_or((0, String::new()));
    status == 200 && body.contains(" writer,")
}

/// Waits until one of `replicas` (HTTP addresses) is the writer; its index.
async fn writer_among(replicas: &[std::net::SocketAddr], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        for (i, http) in replicas.iter().enumerate() {
            if is_writer(*http).await {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no replica became the writer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every delivery of `agency` behind `channel` as (cursor, event id or alert).
async fn inbox(channel: &Channel, agency: &str) -> Vec<(u64, String)> {
    read_until_quiet(
        subscribe(channel, agency, Some(0)).await,
        Duration::from_millis(1_500),
    )
    .await
    .iter()
    .map(|d| match alert_of(d) {
        Some(a) => (d.cursor, format!("alert {} {} {}", a.id, a.kind, a.rule_id)),
        None => (d.cursor, event_of(d).event_id.clone()),
    })
    .collect()
}

/// How many alerts of the 3-day deadline to decide on a referral `agency`'s inbox holds.
async fn decide_overdue(channel: &Channel, agency: &str) -> usize {
    inbox(channel, agency)
        .await
        .iter()
        .filter(|(_, item)| {
            item.ends_with(&format!(
                " {} decree310.art5.decide",
                proto::AlertKind::Overdue as i32
            ))
        })
        .count()
}

/// Waits until `agency`'s inbox behind `channel` holds `n` deliveries.
async fn wait_for_cursor(channel: &Channel, n: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let latest = cursors(channel, AGENCY).await.1;
        if latest >= n {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "only {latest} of {n} deliveries");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two in-process replicas (`serve` with `router.replicas`) on `log` and one `clock`: the first
/// holds the writer's place before the second starts.
async fn two_replicas(
    log: Log,
    dir: &std::path::Path,
    clock: Arc<dyn xiezhi::domain::Clock>,
    tune: impl Fn(&mut Config),
) -> (TestServer, TestServer) {
    let mut config = test_config(log, &dir.join("a"));
    config.router.replicas = true;
    tune(&mut config);
    let first = TestServer::start_as_with_clock(config.clone(), Role::All, clock.clone()).await;
    writer_among(&[first.running().http_addr()], Duration::from_secs(60)).await;
    config.store.data_dir = dir.join("b").join("data");
    let second = TestServer::start_as_with_clock(config, Role::All, clock).await;
    (first, second)
}

/// Publishes `n` leads through `server` and waits until both replicas delivered them.
async fn publish_to_both(server: &TestServer, both: [&TestServer; 2], prefix: &str, n: u64) {
    let mut publisher = server.publisher();
    for i in 0..n {
        publisher
            .publish_lead(lead(&format!("{prefix}-{i}"), org(i)))
            .await
            .unwrap();
    }
    for server in both {
        wait_for_cursor(&server.channel, n, Duration::from_secs(60)).await;
    }
}

#[tokio::test]
async fn writer_killed_during_20000_publishes_the_survivor_and_a_new_replica_agree() {
    const TOTAL: u64 = 20_000;
    const PUBLISHERS: u64 = 8;
    kafka::script(&["cluster"], &[]).expect("three-node cluster starts");
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(Log::Kafka, dir.path());
    config.bus.kafka.bootstrap = "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092".into();
    config.bus.kafka.replication = 3;
    config.bus.kafka.min_insync_replicas = 2;
    config.bus.kafka.message_timeout_ms = 60_000;
    config.router.replicas = true;
    // The writer's ticks look often for deadlines that have passed.
    config.router.tick_ms = 200;
    let config_path = dir.path().join("xiezhi.toml");
    write_config(&config, &config_path);
    let config_arg = config_path.display().to_string();
    let replica = |name: &str| {
        let data = dir.path().join(name).display().to_string();
        let log = dir.path().join(format!("{name}.log"));
        let args = ["router", "--config", &config_arg, "--data-dir", &data].map(str::to_owned);
        (args, log)
    };

    let (_gateway, gateway_channel) = Proc::start(
        &["gateway", "--config", &config_arg],
        None,
        &dir.path().join("gateway.log"),
    )
    .await;
    let mut procs = Vec::new();
    for name in ["a", "b"] {
        let (args, log) = replica(name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        procs.push(Proc::start(&args, None, &log).await);
    }
    let https: Vec<_> = procs.iter().map(|(p, _)| p.http_addr()).collect();
    let writer = writer_among(&https, Duration::from_secs(60)).await;
    let survivor = 1 - writer;

    // A referral in 上城区 (not the leads' agency), taken by a third replica whose clock runs a
    // month behind (Referrals is served where a store is): logged then, its 3-day deadline has
    // passed when the writer applies it, and alerts once before the kill. That replica stops.
    let (args, log) = replica("late");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let behind = [("XIEZHI_TEST_CLOCK_AHEAD_SECS", "-2592000")];
    let (mut late, late_channel) = Proc::start_with_env(&args, &behind, None, &log).await;
    let mut request = refer(
        "rp-ref",
        "r-replicas-kill",
        "上城市监案〔2026〕7号",
        jiff::Timestamp::now() - jiff::SignedDuration::from_hours(30 * 24),
    );
    request.producer = "330102-SCJG".into();
    if let Some(referral) = request.referral.as_mut() {
        referral.police = "330102-GA".into();
        referral.division = "330102".into();
    }
    ReferralsClient::new(late_channel)
        .refer(request)
        .await
        .unwrap();
    late.stop();
    let deadline = Instant::now() + Duration::from_secs(60);
    while decide_overdue(&procs[survivor].1, "330102-SCJG").await == 0 {
        assert!(Instant::now() < deadline, "the deadline never alerted");
    }

    // A subscriber on the writer, reading as the events come.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(u64, String)>::new()));
    let reading = {
        let (channel, seen) = (procs[writer].1.clone(), seen.clone());
        tokio::spawn(async move {
            let mut stream = subscribe(&channel, AGENCY, Some(0)).await;
            while let Ok(Some(d)) = stream.message().await {
                seen.lock()
                    .unwrap()
                    .push((d.cursor, event_of(&d).event_id.clone()));
            }
        })
    };

    let (acked, mut publishers) = publish_leads(&gateway_channel, "rp", TOTAL, PUBLISHERS);
    while acked.load(Ordering::Relaxed) < 8_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    procs[writer].0.kill();
    let killed_at = Instant::now();
    let at_kill = acked.load(Ordering::Relaxed);
    let _ = reading.await;
    let mut failover = None;
    while failover.is_none() {
        if is_writer(https[survivor]).await {
            failover = Some(killed_at.elapsed());
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "no failover within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "failover: the survivor wrote {:?} after the SIGKILL",
        failover.unwrap()
    );
    while let Some(done) = publishers.join_next().await {
        done.unwrap();
    }
    assert!(at_kill < TOTAL, "the kill happened while publishing");

    // The survivor stores each acknowledged event once and delivers it once.
    let channel = procs[survivor].1.clone();
    wait_for_cursor(&channel, TOTAL, Duration::from_secs(240)).await;
    let ids: Vec<String> = (0..PUBLISHERS)
        .flat_map(|p| (0..TOTAL / PUBLISHERS).map(move |i| format!("rp-{p}-{i}")))
        .collect();
    let stored = stored_leads(&channel).await;
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event was applied twice");
    assert_eq!(stored.len(), TOTAL as usize);
    assert!(
        ids.iter().all(|id| unique.contains(id)),
        "an acknowledged event was lost"
    );

    // The subscriber resumes on the survivor from its last cursor: no gap, no repeat, and what
    // it read from the killed writer is what the survivor holds under the same cursors.
    let before = seen.lock().unwrap().clone();
    let last = before.last().map_or(0, |(c, _)| *c);
    assert!(last > 0, "the subscriber read something before the kill");
    let after = read_until_quiet(
        subscribe(&channel, AGENCY, Some(last)).await,
        Duration::from_millis(1_500),
    )
    .await;
    let mut moved = before.clone();
    moved.extend(
        after
            .iter()
            .map(|d| (d.cursor, event_of(d).event_id.clone())),
    );
    let cursors_read: Vec<u64> = moved.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        cursors_read,
        (1..=TOTAL).collect::<Vec<_>>(),
        "gap or repeat across the move"
    );
    let all = inbox(&channel, AGENCY).await;
    assert_eq!(
        all, moved,
        "the killed writer and the survivor numbered the inbox alike"
    );

    // A replica started empty catches up and then answers as the survivor does.
    let (args, log) = replica("c");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let (fresh, fresh_channel) = Proc::start(&args, None, &log).await;
    let took = wait_for_cursor(&fresh_channel, TOTAL, Duration::from_secs(240)).await;
    let took = took.max(started.elapsed());
    eprintln!(
        "catch-up: a new replica applied {TOTAL} events in {took:?} ({:.0} events/s)",
        TOTAL as f64 / took.as_secs_f64()
    );
    assert_eq!(
        inbox(&fresh_channel, AGENCY).await,
        all,
        "inbox on the new replica"
    );
    assert_eq!(
        inbox(&fresh_channel, "330100-SFJ").await,
        inbox(&channel, "330100-SFJ").await,
        "the coordinator's inbox"
    );
    assert_eq!(stored_leads(&fresh_channel).await, stored, "lead board");
    // The survivor ticked on as the writer: the deadline alerted once, on every replica.
    for channel in [&channel, &fresh_channel] {
        assert_eq!(
            decide_overdue(channel, "330102-SCJG").await,
            1,
            "one deadline alert"
        );
    }
    let timeline = |channel: Channel| async move {
        xiezhi::proto::query_client::QueryClient::new(channel)
            .subject_timeline(proto::SubjectTimelineRequest {
                kind: org(3).kind,
                id: org(3).id,
                page_size: 1_000,
                page_token: String::new(),
            })
            .await
            .expect("timeline")
            .into_inner()
            .events
    };
    let expected = timeline(channel.clone()).await;
    assert!(!expected.is_empty());
    assert_eq!(timeline(fresh_channel.clone()).await, expected, "timeline");
    let (status, body) = get(fresh.http_addr(), "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("follower, lag 0"), "{body}");
    let (_, metrics) = get(fresh.http_addr(), "/metrics").await;
    assert!(
        metrics.contains("xiezhi_replica_lag_batches{replica="),
        "{metrics}"
    );
    assert!(
        metrics.contains("xiezhi_replica_writer{replica="),
        "{metrics}"
    );
    drop(procs);
    drop(fresh);
    let _ = kafka::script(&["stop", "cluster"], &[]);
}

/// Two in-process replicas on one clock: a referral's deadline passes, the writer alerts once
/// (both replicas show the one alert); the writer stops, the other takes its place, and the
/// deadline is not alerted again.
#[tokio::test]
async fn a_missed_deadline_alerts_once_across_replicas_and_after_the_writer_moves() {
    let start: jiff::Timestamp = "2025-09-19T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_replicas(Log::Kafka, dir.path(), clock.clone(), |c| {
        c.router.tick_ms = 50;
    })
    .await;
    assert!(!is_writer(second.running().http_addr()).await);

    // Published through the follower's gateway; read back from both.
    ReferralsClient::new(second.channel.clone())
        .refer(refer(
            "ref-r",
            "r-replicas",
            "杭西市监案〔2025〕11号",
            start,
        ))
        .await
        .unwrap();
    wait_for_state(&first, "r-replicas", proto::ReferralState::Reported).await;
    wait_for_state(&second, "r-replicas", proto::ReferralState::Reported).await;

    clock.advance(SignedDuration::from_hours(4 * 24));
    let overdue = |found: Vec<proto::Alert>| {
        found
            .into_iter()
            .filter(|a| {
                a.kind == proto::AlertKind::Overdue as i32 && a.rule_id == "decree310.art5.decide"
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while overdue(alerts(&second, AGENCY).await) == 0 {
        assert!(
            Instant::now() < deadline,
            "the follower never showed the alert"
        );
    }
    assert_eq!(overdue(alerts(&first, AGENCY).await), 1, "on the writer");
    assert_eq!(overdue(alerts(&second, AGENCY).await), 1, "on the follower");

    // The writer leaves; the other replica takes its place and ticks on.
    first.stop().await;
    writer_among(&[second.running().http_addr()], Duration::from_secs(60)).await;
    clock.advance(SignedDuration::from_hours(1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        overdue(alerts(&second, AGENCY).await),
        1,
        "the new writer alerted the same deadline again"
    );
    second.stop().await;
}

/// On the secured broker, with only the ACLs `kafka.sh grant` gives the router's user for
/// replicas (the decisions topic, the writers' group, the followers' reader group, the writer's
/// transactional id): a writer and a follower agree on an inbox.
#[tokio::test]
async fn replicas_run_on_secure_kafka_with_the_granted_acls() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(xiezhi::domain::SystemClock);
    let (first, second) = two_replicas(Log::SecureKafka, dir.path(), clock, |_| {}).await;
    publish_to_both(&second, [&first, &second], "sr", 30).await;
    let expected = inbox(&first.channel, AGENCY).await;
    assert_eq!(expected.len(), 30);
    assert_eq!(inbox(&second.channel, AGENCY).await, expected);
    second.stop().await;
    first.stop().await;
}

/// An acknowledgement taken by one replica holds on the other: a subscriber that moves and
/// resumes from the server's acknowledged cursor (no `from_cursor`) starts after it there too.
#[tokio::test]
async fn an_acknowledgement_taken_by_one_replica_holds_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(xiezhi::domain::SystemClock);
    let (first, second) = two_replicas(Log::Kafka, dir.path(), clock, |_| {}).await;
    publish_to_both(&first, [&first, &second], "ack", 10).await;
    let acknowledge = |server: &TestServer, cursor: u64| {
        let mut inbox = server.inbox();
        async move {
            inbox
                .acknowledge(proto::AcknowledgeRequest {
                    agency: AGENCY.into(),
                    cursor,
                })
                .await
                .unwrap();
        }
    };
    let learns = |server: &TestServer, cursor: u64| {
        let channel = server.channel.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while cursors(&channel, AGENCY).await.0 < cursor {
                assert!(
                    Instant::now() < deadline,
                    "acknowledgement {cursor} never arrived"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    acknowledge(&first, 6).await;
    learns(&second, 6).await;
    let resumed = read_until_quiet(
        second.subscribe(AGENCY, None).await,
        Duration::from_millis(800),
    )
    .await;
    assert_eq!(
        resumed.first().map(|d| d.cursor),
        Some(7),
        "resumed after the shared acknowledgement"
    );
    acknowledge(&second, 8).await;
    learns(&first, 8).await;
    second.stop().await;
    first.stop().await;
}
