//! `xiezhi rebuild`: replaying the log into a fresh store gives the same state — the same
//! events, the same deliveries for every agency, the same lead standings.

use std::collections::BTreeMap;
use std::sync::Arc;

use xiezhi::domain::SystemClock;
use xiezhi::store::{DeliveredItem, LeadFilter, Store};

use crate::support::{Log, TestServer, lead, org, outcome};

/// What a store says, independent of the order records from different partitions were applied
/// in (which decides seq numbers and cursors).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    events: BTreeMap<String, String>,
    deliveries: BTreeMap<String, Vec<String>>,
    leads: BTreeMap<String, String>,
}

fn snapshot(store: &Store, agencies: &[String]) -> Snapshot {
    let events = store
        .events_after(0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.envelope.key().to_string(), hex::encode(e.content_hash)))
        .collect();
    let deliveries = agencies
        .iter()
        .map(|agency| {
            let id = xiezhi::domain::AgencyId::parse(agency).unwrap();
            let mut keys: Vec<String> = store
                .deliveries(&id, 0, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|(d, item)| match item {
                    DeliveredItem::Event(e) => format!("{} {:?}", e.envelope.key(), d.reason),
                    DeliveredItem::Alert(a) => format!("alert {:?} {:?}", a.kind, a.events),
                })
                .collect();
            keys.sort();
            (agency.clone(), keys)
        })
        .collect();
    let leads = store
        .list_leads(&LeadFilter::default(), None, 1_000)
        .unwrap()
        .items
        .into_iter()
        .map(|(e, row)| {
            (
                e.envelope.key().to_string(),
                format!("{:?} {:?}", row.status, row.closed_by),
            )
        })
        .collect();
    Snapshot {
        events,
        deliveries,
        leads,
    }
}

async fn rebuilt_store_matches_the_live_one(log: Log) {
    let server = TestServer::start(log).await;
    let mut publisher = server.publisher();
    for i in 0..40u64 {
        publisher
            .publish_lead(lead(&format!("rb-{i}"), org(700 + i % 7)))
            .await
            .unwrap();
    }
    for i in 0..10u64 {
        let answer = outcome(
            &format!("rb-out-{i}"),
            "330106-SCJG",
            org(700 + i % 7),
            Some(("330100-STHJ", &format!("rb-{i}"))),
        );
        publisher.publish_outcome(answer).await.unwrap();
    }
    server.wait_for_events(50).await;
    let agencies: Vec<String> = server
        .running()
        .registry()
        .iter()
        .map(|a| a.id.to_string())
        .collect();
    let config = server.config.clone();
    let live_dir = config.store.data_dir.clone();
    let target = tempfile::tempdir().unwrap();
    let target_dir = target.path().join("rebuilt");
    let _data = server.stop_keeping_data().await;

    let stats = xiezhi::app::rebuild(&config, &live_dir, &target_dir, Arc::new(SystemClock))
        .await
        .expect("rebuild");
    assert_eq!((stats.records, stats.applied, stats.set_aside), (50, 50, 0));

    let live = Store::open(&live_dir).unwrap();
    let rebuilt = Store::open(&target_dir).unwrap();
    let (live, rebuilt) = (snapshot(&live, &agencies), snapshot(&rebuilt, &agencies));
    assert_eq!(live.events.len(), 50);
    assert_eq!(live, rebuilt);

    // A second rebuild into the same directory is refused rather than mixed in.
    let again = xiezhi::app::rebuild(&config, &live_dir, &target_dir, Arc::new(SystemClock)).await;
    assert!(again.is_err());
}

crate::on_both_logs!(rebuilt_store_matches_the_live_one);

/// `xiezhi rebuild` from the command line, with the production configuration (no
/// `--insecure-dev`, no certificates): a rebuild serves no one, so it needs none.
#[tokio::test]
async fn the_rebuild_command_needs_no_certificates() {
    let server = TestServer::start(Log::Embedded).await;
    for n in 0..20 {
        server
            .publisher()
            .publish_lead(lead(&format!("cli-rb-{n}"), org(n)))
            .await
            .unwrap();
    }
    server.wait_for_events(20).await;
    let live_dir = server.config.store.data_dir.clone();
    let _data = server.stop_keeping_data().await;
    let target = tempfile::tempdir().unwrap();
    let target_dir = target.path().join("rebuilt");
    let mut command = crate::process::xiezhi();
    command
        .args(["rebuild", "--data-dir"])
        .arg(&target_dir)
        .arg("--from")
        .arg(&live_dir)
        .env_remove("XIEZHI_SECURITY__INSECURE_DEV");
    let out = crate::cli::run_async(command).await;
    let stdout = crate::cli::text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        crate::cli::text(&out.stderr)
    );
    assert!(stdout.contains("20 events applied"), "{stdout}");
    assert_eq!(Store::open(&target_dir).unwrap().event_count(), 20);
}

/// Unpacks the layout-3 fixture (tests/fixtures/README.md) into `dir`.
fn unpack_layout3(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/layout3-embedded.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir)
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking {}", fixture.display());
}

/// A data directory of the release before layout 4 (log and store in one sled database, JSON
/// envelopes; the fixture holds 68 events its `xiezhi demo` made): the new release will not
/// serve it and says how to migrate; `xiezhi rebuild --from OLD --data-dir NEW` carries the log
/// over, bytes as published, and rebuilds the store from it; the new directory serves, with a
/// chain that verifies, and an old event published again today is recognised as the same event.
#[tokio::test]
async fn a_data_directory_of_the_previous_layout_is_migrated_by_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    unpack_layout3(&old);
    let mut config = crate::support::test_config(Log::Embedded, dir.path());
    config.store.data_dir = old.clone();
    let refused = xiezhi::app::start(&config, xiezhi::app::Role::All, Arc::new(SystemClock))
        .await
        .err()
        .expect("an old data directory is refused");
    let said = xiezhi::telemetry::chain(&refused);
    assert!(said.contains("xiezhi rebuild --from"), "{said}");

    let new = dir.path().join("data");
    let mut command = crate::process::xiezhi();
    command
        .args(["rebuild", "--from"])
        .arg(&old)
        .arg("--data-dir")
        .arg(&new);
    let out = crate::cli::run_async(command).await;
    let stdout = crate::cli::text(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        crate::cli::text(&out.stderr)
    );
    assert!(
        stdout.contains("68 events applied, 0 set aside"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(new.join("receipt-key.pk8")).unwrap(),
        std::fs::read(old.join("receipt-key.pk8")).unwrap(),
        "the receipt key comes along"
    );
    let (old_event, position) = {
        let store = Store::open(&new).unwrap();
        assert_eq!(store.event_count(), 68);
        assert_eq!(store.verify_audit().unwrap(), Ok(68 + alerts(&store)));
        let lead = store
            .events_after(0, 100)
            .unwrap()
            .into_iter()
            .find(|e| matches!(e.envelope.payload, xiezhi::domain::Payload::Lead(_)))
            .expect("the demo published leads");
        (lead.envelope, lead.position)
    };

    // Served as it is, the same lead published again (in protobuf now) is a duplicate.
    let server = TestServer::start_with(Log::Embedded, |c| c.store.data_dir = new.clone()).await;
    assert_eq!(server.event_count(), 68);
    let proto = xiezhi::codec::to_proto::envelope(&old_event);
    let Some(xiezhi::proto::envelope::Payload::Lead(lead)) = proto.payload else {
        unreachable!("a lead")
    };
    let ack = server
        .publisher()
        .publish_lead(xiezhi::proto::PublishLeadRequest {
            event_id: proto.event_id,
            producer: proto.producer,
            produced_at: proto.produced_at,
            lead: Some(lead),
            handling: proto.handling,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ack.duplicate, "{ack:?}");
    assert_eq!(
        ack.position.map(|p| (p.partition, p.offset)),
        Some((position.partition, position.offset))
    );
    server.stop().await;
}

/// Alerts in a store (each has an entry in the chain besides the events').
fn alerts(store: &Store) -> u64 {
    store.latest_alerts("", usize::MAX).unwrap().len() as u64
}

/// On Kafka, the records the previous release put on the topic (a JSON envelope as the whole
/// value, no `LogRecord`) are still applied, live and when a store is rebuilt from the topic.
#[tokio::test]
async fn json_records_of_the_previous_release_on_kafka_are_applied_and_rebuilt() {
    let server = TestServer::start(Log::Kafka).await;
    server
        .publisher()
        .publish_lead(lead("pb-1", org(811)))
        .await
        .unwrap();
    server.wait_for_events(1).await;
    let mut envelope = server.store().events_after(0, 1).unwrap()[0]
        .envelope
        .clone();
    envelope.event_id = xiezhi::domain::EventId::parse("json-1").unwrap();
    server
        .running()
        .bus()
        .append(xiezhi::bus::OutgoingRecord {
            key: envelope.log_key(),
            timestamp: jiff::Timestamp::now(),
            idempotency_key: envelope.key().to_bytes(),
            content_hash: [0; 32],
            payload: serde_json::to_vec(&envelope).unwrap(),
            traceparent: None,
        })
        .await
        .unwrap();
    server.wait_for_events(2).await;
    let config = server.config.clone();
    let _data = server.stop_keeping_data().await;
    let target = tempfile::tempdir().unwrap();
    let stats = xiezhi::app::rebuild(
        &config,
        &config.store.data_dir,
        target.path(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    assert_eq!((stats.applied, stats.set_aside), (2, 0));
    let rebuilt = Store::open(target.path()).unwrap();
    let keys: Vec<String> = rebuilt
        .events_after(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.envelope.event_id.to_string())
        .collect();
    assert!(keys.contains(&"json-1".to_owned()), "{keys:?}");
}

crate::on_secure_kafka!(rebuilt_store_matches_the_live_one);

/// What a store says of inspections: plans as they stand (warnings, joint, answers, codes),
/// joint proposals, and certificates.
fn inspections(store: &Store) -> Vec<String> {
    let mut out: Vec<String> = store
        .inspections()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {:?} {:?} {:?} {:?} {} {:?}",
                e.key(),
                e.state,
                e.warnings,
                e.joint,
                e.joint_accepted,
                e.plan.verify_code,
                e.records.iter().map(|r| &r.warnings).collect::<Vec<_>>()
            )
        })
        .collect();
    out.extend(store.joints().unwrap().iter().map(|j| format!("{j:?}")));
    for number in ["ZJ-SCJG-0001", "ZJ-STHJ-0002"] {
        out.push(format!("{:?}", store.certificate(number).unwrap()));
    }
    out
}

/// Inspections rebuild to the same plans, proposals, answers, warnings and verification codes.
async fn rebuilt_inspections_match_the_live_ones(log: Log) {
    let server = TestServer::start(log).await;
    xiezhi::sim::inspections::seed(server.channel.clone(), "rb", server.running().registry())
        .await
        .unwrap();
    let config = server.config.clone();
    let live_dir = config.store.data_dir.clone();
    let target = tempfile::tempdir().unwrap();
    let target_dir = target.path().join("rebuilt");
    let _data = server.stop_keeping_data().await;
    xiezhi::app::rebuild(&config, &live_dir, &target_dir, Arc::new(SystemClock))
        .await
        .expect("rebuild");
    let live = inspections(&Store::open(&live_dir).unwrap());
    let rebuilt = inspections(&Store::open(&target_dir).unwrap());
    assert_eq!(live.len(), 4 + 1 + 2, "{live:#?}");
    assert_eq!(live, rebuilt);
}

crate::on_both_logs!(rebuilt_inspections_match_the_live_ones);
