//! A rebuilt store numbers every inbox exactly as the live one did: the same cursors, seqs,
//! delivery times and alerts — also where records of many partitions came in at once and a
//! tick of the clock raised an alert between them. On the embedded log the rebuild follows the
//! router's journal; on Kafka a replica's store is materialised from the decisions topic.

use std::sync::Arc;

use jiff::SignedDuration;
use xiezhi::domain::{AgencyId, Clock, ManualClock};
use xiezhi::proto;
use xiezhi::proto::referrals_client::ReferralsClient;
use xiezhi::store::{DeliveredItem, Store};

use crate::referrals::{refer, wait_for_alert};
use crate::support::{Log, TestServer, lead, org};

/// Every delivery of every agency, in inbox order, with everything that says where and when.
fn inboxes(store: &Store, agencies: &[AgencyId]) -> Vec<(String, Vec<String>)> {
    agencies
        .iter()
        .map(|agency| {
            let rows = store
                .deliveries(agency, 0, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|(d, item)| {
                    let what = match item {
                        DeliveredItem::Event(e) => e.envelope.key().to_string(),
                        DeliveredItem::Alert(a) => {
                            format!("alert {} {:?} {}", a.id, a.kind, a.rule_id)
                        }
                    };
                    format!(
                        "{} {} {:?} {} {what}",
                        d.cursor, d.seq, d.reason, d.delivered_at
                    )
                })
                .collect();
            (agency.to_string(), rows)
        })
        .collect()
}

fn stamp(at: jiff::Timestamp) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.as_second(),
        nanos: at.subsec_nanosecond(),
    })
}

/// Leads from four publishers at once, dated `at`, about subjects spread over the partitions.
async fn publish_leads(server: &TestServer, prefix: &str, at: jiff::Timestamp) {
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..4u64 {
        let mut publisher = server.publisher();
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            for i in 0..60u64 {
                let mut request = lead(&format!("{prefix}-{p}-{i}"), org(p * 100 + i % 30));
                request.produced_at = stamp(at);
                if let Some(lead) = request.lead.as_mut() {
                    lead.observed_at = stamp(at);
                }
                publisher.publish_lead(request).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

async fn rebuilt_store_numbers_every_inbox_as_the_live_one(log: Log) {
    // Five days ago: the referral's deadline passes within the test, and no stamp is ahead
    // of the brokers' clock.
    let start = jiff::Timestamp::now() - SignedDuration::from_hours(5 * 24);
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(
        log,
        |c| {
            c.router.tick_ms = 50;
            c.bus.partitions = 8;
            c.router.replicas = log.is_kafka();
        },
        clock.clone(),
    )
    .await;
    publish_leads(&server, "ro-a", start).await;
    ReferralsClient::new(server.channel.clone())
        .refer(refer("ro-ref", "r-order", "杭西市监案〔2026〕12号", start))
        .await
        .unwrap();
    clock.advance(SignedDuration::from_hours(4 * 24));
    wait_for_alert(&server, "330106-SCJG", proto::AlertKind::Overdue).await;
    publish_leads(&server, "ro-b", clock.now()).await;
    server.wait_for_events(2 * 240 + 1).await;

    let agencies: Vec<AgencyId> = server
        .running()
        .registry()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let config = server.config.clone();
    let live_dir = config.store.data_dir.clone();
    let _data = server.stop_keeping_data().await;
    let target = tempfile::tempdir().unwrap();
    let target_dir = target.path().join("rebuilt");
    // A clock far from the live one: the rebuild takes its times from the journal.
    let later = Arc::new(ManualClock::new(
        clock.now() + SignedDuration::from_hours(24),
    ));
    xiezhi::app::rebuild(&config, &live_dir, &target_dir, later)
        .await
        .expect("rebuild");

    let live = Store::open(&live_dir).unwrap();
    let rebuilt = Store::open(&target_dir).unwrap();
    let (live, rebuilt) = (inboxes(&live, &agencies), inboxes(&rebuilt, &agencies));
    let scjg = &live.iter().find(|(a, _)| a == "330106-SCJG").unwrap().1;
    assert!(scjg.len() > 480, "{}", scjg.len());
    assert!(
        scjg.iter().any(|row| row.contains("alert")),
        "the tick's alert is numbered too"
    );
    for ((agency, live), (_, rebuilt)) in live.iter().zip(&rebuilt) {
        assert_eq!(live, rebuilt, "inbox of {agency}");
    }
}

crate::on_both_logs!(rebuilt_store_numbers_every_inbox_as_the_live_one);
