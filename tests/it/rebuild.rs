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
