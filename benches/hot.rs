//! Micro-benchmarks of the pure functions every event goes through, so that a regression shows
//! before it reaches `xiezhi bench`: validating a lead, encoding and decoding the envelope the
//! log carries, and evaluating the prosecution thresholds against a lead's facts.
//!
//! `cargo bench --bench hot` (results in docs/benchmarks.md).

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use xiezhi::codec::log::{self, EnvelopeBytes};
use xiezhi::domain::rules::{Context, Thresholds};
use xiezhi::domain::{DivisionCode, OffenceCode, Uscc};
use xiezhi::proto;
use xiezhi::testing;

/// A lead as an environment bureau publishes it, timed just before [`testing::NOW`].
fn lead() -> proto::PublishLeadRequest {
    let body = "91330106000012345";
    let at = prost_types::Timestamp {
        seconds: testing::NOW.as_second() - 60,
        nanos: 0,
    };
    proto::PublishLeadRequest {
        event_id: "bench-lead-1".into(),
        producer: "330100-STHJ".into(),
        produced_at: Some(at),
        handling: 0,
        lead: Some(proto::Lead {
            subject: Some(proto::Subject {
                kind: proto::SubjectKind::Organization as i32,
                id: format!("{body}{}", Uscc::check_char(body).expect("digits")),
                name: "杭州某某化工有限公司".into(),
            }),
            division: "330106".into(),
            domain: proto::Domain::EcologyEnvironment as i32,
            offence_code: "CL-338".into(),
            summary: "夜间通过暗管排放含铅废水，疑似逃避监管".into(),
            facts: vec![proto::Fact {
                name: "hazardous_waste_kg".into(),
                value: 4_200,
            }],
            observed_at: Some(at),
            sensitivity: proto::Sensitivity::Internal as i32,
            target_agencies: vec![],
        }),
    }
}

fn hot(c: &mut Criterion) {
    let request = lead();
    c.bench_function("validate a lead", |b| {
        b.iter(|| testing::validate_lead(black_box(&request)).expect("valid"))
    });

    let envelope = testing::validate_lead(&request).expect("valid");
    let bytes = EnvelopeBytes::encode(&envelope);
    let record = log::encode(&bytes, jiff::Timestamp::UNIX_EPOCH);
    c.bench_function("encode and hash an envelope", |b| {
        b.iter(|| EnvelopeBytes::encode(black_box(&envelope)))
    });
    c.bench_function("decode a log record and its envelope", |b| {
        b.iter(|| {
            log::decode(black_box(&record))
                .and_then(|entry| entry.envelope.decode())
                .expect("decodes")
        })
    });

    let thresholds = Thresholds::parse(xiezhi::config::BUILTIN_THRESHOLDS, "builtin")
        .expect("the shipped thresholds parse");
    let offence = OffenceCode::parse("CL-338").expect("offence code");
    let division = DivisionCode::parse("330106").expect("division");
    let facts = BTreeMap::from([("hazardous_waste_kg".to_owned(), 4_200)]);
    let prior = |_months: u32| 0;
    let day = jiff::civil::date(2026, 11, 1);
    c.bench_function("evaluate the thresholds for a lead", |b| {
        b.iter(|| {
            let ctx = Context {
                facts: black_box(&facts),
                division: &division,
                person: false,
                prior_penalties: &prior,
            };
            thresholds.hits(&offence, day, &ctx)
        })
    });
}

criterion_group!(benches, hot);
criterion_main!(benches);
