//! Property tests of routing as a whole, through the decide functions and the real store:
//! random sequences of leads, outcomes (answering leads, repeating penalties, splitting cases),
//! referrals and their steps, retries and reused ids —
//!
//! - applied in random batch splits, they leave exactly the store that applying them one by one
//!   leaves (every key and value, audit chain included);
//! - routed live from an embedded log of four partitions while the clock moves on (deadlines
//!   falling due between records), then rebuilt from that log into a fresh store following the
//!   router's journal, they leave the same store twice — every key and value;
//! - a replica applying the batches a writer decided holds the writer's store (`replica_tests`).

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use proptest::prelude::*;

use super::decide;
use crate::bus::embedded::{EmbeddedBus, EmbeddedConfig};
use crate::bus::{Bus, OutgoingRecord};
use crate::codec::log::EnvelopeBytes;
use crate::domain::event::tests::sample_lead;
use crate::domain::referral::{Referral, ReferralUpdate};
use crate::domain::{
    Action, AgencyId, CaseOutcome, Decision, DivisionCode, Envelope, EventId, EventKey,
    LogPosition, ManualClock, OffenceCode, Payload, Policy, ReferralKey, Sensitivity, Subject,
    SubjectId, Uscc,
};
use crate::store::{Incoming, Store};

/// One event of a random sequence.
#[derive(Clone, Debug)]
pub(super) enum Op {
    Lead {
        subject: u8,
        offence: u8,
        amount: i64,
    },
    Outcome {
        subject: u8,
        offence: u8,
        producer: u8,
        answers: Option<u8>,
        penalty: bool,
        amount: i64,
    },
    Refer {
        subject: u8,
        case: u8,
    },
    Step {
        action: u8,
    },
    /// The event at this index again, as it was (a retry) or changed (a reused id).
    Again {
        index: u8,
        changed: bool,
    },
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..3, 0i64..6_000_000).prop_map(|(subject, offence, amount)| Op::Lead {
            subject,
            offence,
            amount
        }),
        4 => (0u8..4, 0u8..3, 0u8..3, proptest::option::of(0u8..40), any::<bool>(), 0i64..3_000_000)
            .prop_map(|(subject, offence, producer, answers, penalty, amount)| Op::Outcome {
                subject,
                offence,
                producer,
                answers,
                penalty,
                amount,
            }),
        1 => (0u8..4, 0u8..3).prop_map(|(subject, case)| Op::Refer { subject, case }),
        2 => (0u8..4).prop_map(|action| Op::Step { action }),
        1 => (0u8..40, any::<bool>()).prop_map(|(index, changed)| Op::Again { index, changed }),
    ]
}

const PRODUCERS: [&str; 3] = ["330106-SCJG", "330100-STHJ", "330100-ZRZY"];
const OFFENCES: [(&str, &str); 3] = [
    ("CL-140", "sales_fen"),
    ("CL-338", "hazardous_waste_kg"),
    ("XX-1", "count"),
];

fn subject(n: u8) -> Subject {
    let body = format!("91330106{:09}", 100 + u32::from(n));
    let code = format!("{body}{}", Uscc::check_char(&body).unwrap());
    Subject {
        id: SubjectId::Organization(Uscc::parse(&code).unwrap()),
        name: format!("企业{n}"),
    }
}

pub(super) fn at(n: usize) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + n as i64 * 3_600).unwrap()
}

/// The envelopes of `ops`, in order.
pub(super) fn envelopes(ops: &[Op]) -> Vec<Envelope> {
    let mut out: Vec<Envelope> = Vec::new();
    let mut referrals: Vec<ReferralKey> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let mut e = sample_lead();
        e.event_id = EventId::parse(&format!("e-{n}")).unwrap();
        e.produced_at = at(n);
        let division = DivisionCode::parse("330106").unwrap();
        match op {
            Op::Lead {
                subject: s,
                offence,
                amount,
            } => {
                let (code, fact) = OFFENCES[usize::from(*offence)];
                if let Payload::Lead(lead) = &mut e.payload {
                    lead.subject = subject(*s);
                    lead.offence_code = OffenceCode::parse(code).unwrap();
                    lead.facts = [(fact.to_owned(), *amount)].into();
                }
            }
            Op::Outcome {
                subject: s,
                offence,
                producer,
                answers,
                penalty,
                amount,
            } => {
                let (code, fact) = OFFENCES[usize::from(*offence)];
                e.producer = AgencyId::parse(PRODUCERS[usize::from(*producer)]).unwrap();
                let lead = answers
                    .and_then(|i| out.get(usize::from(i)))
                    .map(Envelope::key);
                e.payload = Payload::CaseOutcome(CaseOutcome {
                    case_number: format!("案{n}"),
                    subject: subject(*s),
                    division,
                    domain: crate::domain::Domain::MarketRegulation,
                    offence_code: OffenceCode::parse(code).unwrap(),
                    decision: if *penalty {
                        Decision::Penalty
                    } else {
                        Decision::NoPenalty
                    },
                    fine_fen: amount / 10,
                    confiscated_fen: 0,
                    facts: [(fact.to_owned(), *amount)].into(),
                    decided_at: at(n),
                    lead,
                    legal_basis: String::new(),
                    sensitivity: Sensitivity::Public,
                    severity: None,
                    procedure: None,
                    historic: false,
                });
            }
            Op::Refer { subject: s, case } => {
                let id = EventId::parse(&format!("r-{n}")).unwrap();
                referrals.push(ReferralKey {
                    agency: e.producer.clone(),
                    id: id.clone(),
                });
                e.payload = Payload::Referral(Referral {
                    referral_id: id,
                    police: AgencyId::parse("330106-GA").unwrap(),
                    case_number: format!("案{case}"),
                    subject: subject(*s),
                    division,
                    domain: crate::domain::Domain::MarketRegulation,
                    offence_code: OffenceCode::parse("CL-140").unwrap(),
                    summary: "移送".into(),
                    facts: Default::default(),
                    documents: vec![],
                });
            }
            Op::Step { action } => {
                let Some(referral) = referrals.last().cloned() else {
                    continue;
                };
                let (actor, action) = [
                    ("330106-SCJG", Action::Approve),
                    ("330106-SCJG", Action::Transfer),
                    ("330106-GA", Action::Receive),
                    ("330106-GA", Action::File),
                ][usize::from(*action)];
                e.producer = AgencyId::parse(actor).unwrap();
                e.payload = Payload::ReferralUpdate(ReferralUpdate {
                    referral,
                    action,
                    reason: "理由".into(),
                    forward_to: None,
                });
            }
            Op::Again { index, changed } => {
                let Some(earlier) = out.get(usize::from(*index)) else {
                    continue;
                };
                e = earlier.clone();
                if *changed {
                    e.warnings.push("changed".into());
                }
            }
        }
        out.push(e);
    }
    out
}

pub(super) fn incoming(envelopes: &[Envelope]) -> Vec<Incoming> {
    envelopes
        .iter()
        .enumerate()
        .map(|(offset, envelope)| Incoming {
            position: LogPosition {
                partition: 0,
                offset: offset as u64,
            },
            logged_at: envelope.produced_at,
            bytes: EnvelopeBytes::encode(envelope),
            envelope: envelope.clone(),
        })
        .collect()
}

/// Applies `records` as the router does, in batches of the sizes `splits` gives (cycled):
/// pipelined — each batch staged while the one before it is applied, its view reading that
/// batch's writes — or one batch committed after the other.
pub(super) async fn apply(
    store: &Arc<Store>,
    policy: &Policy,
    records: &[Incoming],
    splits: &[usize],
    now: Timestamp,
    pipelined: bool,
) {
    let mut rest = records;
    let mut sizes = splits.iter().cycle();
    let mut applying: Option<tokio::task::JoinHandle<()>> = None;
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut batch = store.begin(now).await;
        for record in chunk {
            let decided = decide::decide(&batch, record, policy).unwrap();
            batch.stage(record.clone(), decided.decision);
        }
        batch.advance(&chunk.iter().map(|r| r.position).collect::<Vec<_>>());
        if !pipelined {
            batch.commit().await.unwrap();
            continue;
        }
        let frozen = batch.freeze();
        let store = store.clone();
        let next = tokio::spawn(async move {
            store.apply(frozen).await.unwrap();
        });
        if let Some(done) = applying.replace(next) {
            done.await.unwrap();
        }
    }
    if let Some(done) = applying {
        done.await.unwrap();
    }
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(super) fn open(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open_with_cache(dir, 8 << 20).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random batch splits, each batch staged while the one before it is applied, against one
    /// record per batch, one after the other.
    /// Random batch splits, each batch staged while the one before it is applied, against one
    /// record per batch, one after the other.
    #[test]
    fn batch_splits_do_not_change_the_store(
        ops in proptest::collection::vec(op(), 1..40),
        splits in proptest::collection::vec(1usize..9, 1..6),
    ) {
        let records = incoming(&envelopes(&ops));
        let policy = super::decide::fake::policy();
        let now = at(1_000);
        let (one, split) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (one, split) = runtime().block_on(async {
            let (a, b) = (open(one.path()), open(split.path()));
            apply(&a, &policy, &records, &[1], now, false).await;
            apply(&b, &policy, &records, &splits, now, true).await;
            (a.dump(), b.dump())
        });
        prop_assert_eq!(one.len(), split.len());
        prop_assert!(one == split, "the stores differ");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn a_store_rebuilt_from_the_log_equals_the_live_one(
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let envelopes = envelopes(&ops);
        let dir = tempfile::tempdir().unwrap();
        let rebuilt_dir = tempfile::tempdir().unwrap();
        let (live, rebuilt) = runtime().block_on(live_then_rebuilt(&envelopes, dir.path(), rebuilt_dir.path()));
        prop_assert!(live == rebuilt, "the rebuilt store differs from the live one");
    }
}

/// Publishes `envelopes` on an embedded log with one partition, routes them live, then rebuilds
/// a second store from the same log; both stores' contents.
async fn live_then_rebuilt(
    envelopes: &[Envelope],
    dir: &Path,
    rebuilt_dir: &Path,
) -> (Vec<(Vec<u8>, Vec<u8>)>, Vec<(Vec<u8>, Vec<u8>)>) {
    let config = EmbeddedConfig { partitions: 4 };
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::open(dir, &config).unwrap());
    let clock = Arc::new(ManualClock::new(at(0)));
    let policy = Arc::new(super::decide::fake::policy());
    let live = open(dir);
    let router = super::Router::new(
        bus.clone(),
        live.clone(),
        policy.clone(),
        clock.clone(),
        super::RouterConfig {
            tick: std::time::Duration::from_millis(2),
            ..super::RouterConfig::default()
        },
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(router.run(stop.clone()));
    let mut appended = 0;
    for envelope in envelopes {
        let bytes = EnvelopeBytes::encode(envelope);
        let record = OutgoingRecord {
            key: envelope.log_key(),
            timestamp: envelope.produced_at,
            idempotency_key: Vec::new(),
            content_hash: bytes.content_hash,
            payload: crate::codec::log::encode(&bytes, envelope.produced_at),
            traceparent: None,
        };
        bus.append(record).await.unwrap();
        appended += 1;
        if appended % 4 == 0 {
            // Deadlines fall due between records, at the ticks of a live clock.
            clock.advance(jiff::SignedDuration::from_hours(20));
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }
    while live.positions().unwrap().values().sum::<u64>() < appended {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.cancel();
    running.await.unwrap().unwrap();
    let rebuilt = open(rebuilt_dir);
    super::Router::new(
        bus.clone(),
        rebuilt.clone(),
        policy,
        clock,
        Default::default(),
    )
    .rebuild()
    .await
    .unwrap();
    bus.close().await;
    (live.dump(), rebuilt.dump())
}

#[test]
fn retries_and_reused_ids_change_nothing_and_are_told_apart() {
    let ops = [
        Op::Lead {
            subject: 1,
            offence: 0,
            amount: 10,
        },
        Op::Again {
            index: 0,
            changed: false,
        },
        Op::Again {
            index: 0,
            changed: true,
        },
    ];
    let records = incoming(&envelopes(&ops));
    let policy = super::decide::fake::policy();
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let store = open(dir.path());
        let mut batch = store.begin(at(100)).await;
        let mut kinds = Vec::new();
        for record in &records {
            let decided = decide::decide(&batch, record, &policy).unwrap();
            kinds.push(
                format!("{:?}", decided.decision)
                    .split([' ', '('])
                    .next()
                    .unwrap()
                    .to_owned(),
            );
            batch.stage(record.clone(), decided.decision);
        }
        batch.commit().await.unwrap();
        assert_eq!(kinds, ["Apply", "Duplicate", "Conflict"]);
        assert_eq!(store.event_count(), 1);
        let key = EventKey {
            producer: records[0].envelope.producer.clone(),
            event_id: records[0].envelope.event_id.clone(),
        };
        assert!(store.applied(&key).unwrap().is_some());
    });
}

/// A router that stopped right after setting a record aside, before its batch was applied,
/// reads the record again on restart: it is not put on the dead letters a second time.
#[test]
fn a_record_set_aside_before_a_crash_is_dead_lettered_once() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(dir.path(), &EmbeddedConfig { partitions: 1 }).unwrap());
        let garbage = OutgoingRecord {
            key: "subject".to_owned(),
            timestamp: at(0),
            idempotency_key: Vec::new(),
            content_hash: [0; 32],
            payload: b"not a log record".to_vec(),
            traceparent: None,
        };
        bus.append(garbage).await.unwrap();
        // What the router before the crash got done: the dead letter, and nothing in the store.
        let mut consumer = bus.consumer("g", Arc::new(|_| 0)).await.unwrap();
        let records = consumer.poll(10).await.unwrap();
        bus.dead_letter(&records[0], "undecodable").await.unwrap();
        drop(consumer);

        let store = open(dir.path());
        let router = super::Router::new(
            bus.clone(),
            store.clone(),
            Arc::new(super::decide::fake::policy()),
            Arc::new(ManualClock::new(at(0))),
            super::RouterConfig::default(),
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let running = tokio::spawn(router.run(stop.clone()));
        while store.positions().unwrap().get(&0).copied().unwrap_or(0) < 1 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        stop.cancel();
        running.await.unwrap().unwrap();
        assert_eq!(bus.dead_letters().await.unwrap().len(), 1);
        bus.close().await;
    });
}
