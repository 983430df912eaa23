//! Every validation rule: INVALID_ARGUMENT naming the field and the rule, and nothing of the
//! request reaches the log or the store.

use prost_types::Timestamp;
use tonic::Code;
use xiezhi::config::Config;
use xiezhi::domain::{ChecksumPolicy, ManualClock};
use xiezhi::proto;

use crate::support::{Log, TestServer, lead, now, org, outcome, violations};

type Mutation = Box<dyn Fn(&mut proto::PublishLeadRequest)>;

fn body(r: &mut proto::PublishLeadRequest) -> &mut proto::Lead {
    r.lead.as_mut().unwrap()
}

fn subject(r: &mut proto::PublishLeadRequest) -> &mut proto::Subject {
    body(r).subject.as_mut().unwrap()
}

fn fact(name: &str, value: i64) -> proto::Fact {
    proto::Fact {
        name: name.into(),
        value,
    }
}

fn in_future(secs: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: now().seconds + secs,
        nanos: 0,
    })
}

/// (what is wrong, mutation, expected field, expected rule)
fn lead_cases() -> Vec<(&'static str, Mutation, &'static str, &'static str)> {
    vec![
        (
            "empty event id",
            Box::new(|r| r.event_id.clear()),
            "event_id",
            "event_id.format",
        ),
        (
            "event id with spaces",
            Box::new(|r| r.event_id = "a b".into()),
            "event_id",
            "event_id.format",
        ),
        (
            "event id too long",
            Box::new(|r| r.event_id = "e".repeat(129)),
            "event_id",
            "event_id.format",
        ),
        (
            "no producer",
            Box::new(|r| r.producer.clear()),
            "producer",
            "required",
        ),
        (
            "malformed producer",
            Box::new(|r| r.producer = "SCJG-330106".into()),
            "producer",
            "agency.format",
        ),
        (
            "unregistered producer",
            Box::new(|r| r.producer = "330106-XXX".into()),
            "producer",
            "agency.unknown",
        ),
        (
            "no produced_at",
            Box::new(|r| r.produced_at = None),
            "produced_at",
            "required",
        ),
        (
            "produced_at 10 min ahead",
            Box::new(|r| r.produced_at = in_future(600)),
            "produced_at",
            "time.future",
        ),
        (
            "produced_at nanos out of range",
            Box::new(|r| {
                r.produced_at = Some(Timestamp {
                    seconds: 1,
                    nanos: -5,
                })
            }),
            "produced_at",
            "time.invalid",
        ),
        ("no lead", Box::new(|r| r.lead = None), "lead", "required"),
        (
            "no subject",
            Box::new(|r| body(r).subject = None),
            "lead.subject",
            "required",
        ),
        (
            "subject kind unspecified",
            Box::new(|r| subject(r).kind = 0),
            "lead.subject.kind",
            "enum.unspecified",
        ),
        (
            "credit code check character",
            Box::new(|r| {
                let s = subject(r);
                s.id = fix_last(&s.id);
            }),
            "lead.subject.id",
            "uscc.checksum",
        ),
        (
            "credit code alphabet",
            Box::new(|r| subject(r).id = "91330106000000001I".into()),
            "lead.subject.id",
            "uscc.format",
        ),
        (
            "credit code length",
            Box::new(|r| subject(r).id = "9133010600000000".into()),
            "lead.subject.id",
            "uscc.format",
        ),
        (
            "identity number check character",
            Box::new(|r| {
                let s = subject(r);
                s.kind = proto::SubjectKind::Person as i32;
                s.id = "110105194912310021".into();
            }),
            "lead.subject.id",
            "resident_id.checksum",
        ),
        (
            "identity number birth date",
            Box::new(|r| {
                let s = subject(r);
                s.kind = proto::SubjectKind::Person as i32;
                s.id = "110105194913310020".into();
            }),
            "lead.subject.id",
            "resident_id.format",
        ),
        (
            "blank subject name",
            Box::new(|r| subject(r).name = "  ".into()),
            "lead.subject.name",
            "required",
        ),
        (
            "subject name too long",
            Box::new(|r| subject(r).name = "名".repeat(201)),
            "lead.subject.name",
            "length.max",
        ),
        (
            "division of 7 digits",
            Box::new(|r| body(r).division = "3301060".into()),
            "lead.division",
            "division.format",
        ),
        (
            "division in no province",
            Box::new(|r| body(r).division = "990106".into()),
            "lead.division",
            "division.format",
        ),
        (
            "domain unspecified",
            Box::new(|r| body(r).domain = 0),
            "lead.domain",
            "enum.unspecified",
        ),
        (
            "domain unknown",
            Box::new(|r| body(r).domain = 99),
            "lead.domain",
            "enum.unknown",
        ),
        (
            "offence code with spaces",
            Box::new(|r| body(r).offence_code = "CL 140".into()),
            "lead.offence_code",
            "offence_code.format",
        ),
        (
            "empty summary",
            Box::new(|r| body(r).summary.clear()),
            "lead.summary",
            "required",
        ),
        (
            "summary too long",
            Box::new(|r| body(r).summary = "字".repeat(4001)),
            "lead.summary",
            "length.max",
        ),
        (
            "summary with control characters",
            Box::new(|r| body(r).summary = "a\u{7}b".into()),
            "lead.summary",
            "text.control",
        ),
        (
            "fact without unit",
            Box::new(|r| body(r).facts = vec![fact("sales", 1)]),
            "lead.facts[0].name",
            "fact.unit",
        ),
        (
            "fact name not snake case",
            Box::new(|r| body(r).facts = vec![fact("Sales_fen", 1)]),
            "lead.facts[0].name",
            "fact.name",
        ),
        (
            "negative money fact",
            Box::new(|r| body(r).facts = vec![fact("sales_fen", -1)]),
            "lead.facts[0].value",
            "amount.non_negative",
        ),
        (
            "duplicate fact",
            Box::new(|r| body(r).facts = vec![fact("sales_fen", 1), fact("sales_fen", 2)]),
            "lead.facts[1].name",
            "fact.duplicate",
        ),
        (
            "too many facts",
            Box::new(|r| {
                body(r).facts = (0..65).map(|i| fact(&format!("f{i}_count"), i)).collect()
            }),
            "lead.facts",
            "length.max",
        ),
        (
            "observed in the future",
            Box::new(|r| body(r).observed_at = in_future(3600)),
            "lead.observed_at",
            "time.future",
        ),
        (
            "sensitivity unspecified",
            Box::new(|r| body(r).sensitivity = 0),
            "lead.sensitivity",
            "enum.unspecified",
        ),
        (
            "unknown target",
            Box::new(|r| body(r).target_agencies = vec!["330106-NOPE".into()]),
            "lead.target_agencies[0]",
            "agency.unknown",
        ),
        (
            "malformed target",
            Box::new(|r| body(r).target_agencies = vec!["police".into()]),
            "lead.target_agencies[0]",
            "agency.format",
        ),
        (
            "repeated target",
            Box::new(|r| body(r).target_agencies = vec!["330106-GA".into(), "330106-GA".into()]),
            "lead.target_agencies[1]",
            "target.duplicate",
        ),
        (
            "too many targets",
            Box::new(|r| body(r).target_agencies = vec!["330106-GA".into(); 33]),
            "lead.target_agencies",
            "length.max",
        ),
        (
            "request over 1 MiB",
            Box::new(|r| body(r).summary = "x".repeat(1_100_000)),
            "request",
            "size.max",
        ),
    ]
}

/// Replaces the last character with one that makes the checksum fail for sure.
fn fix_last(id: &str) -> String {
    let body = &id[..17];
    let right = xiezhi::domain::Uscc::check_char(body).unwrap();
    let wrong = if right == '0' { '1' } else { '0' };
    format!("{body}{wrong}")
}

async fn every_lead_rule_is_enforced_and_nothing_is_stored(log: Log) {
    let server = TestServer::start(log).await;
    let mut publisher = server.publisher();
    for (what, mutate, field, rule) in lead_cases() {
        let mut request = lead("ev-bad", org(7));
        mutate(&mut request);
        let status = publisher.publish_lead(request).await.expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        let got = violations(&status);
        assert!(
            got.iter().any(|(f, r)| f == field && r == rule),
            "{what}: expected {field} / {rule}, got {got:?}"
        );
    }
    assert_eq!(server.log_records().await, 0, "nothing reached the log");
    assert_eq!(server.event_count(), 0, "nothing reached the store");
    server.stop().await;
}

async fn every_outcome_rule_is_enforced(log: Log) {
    type OutcomeMutation = Box<dyn Fn(&mut proto::CaseOutcome)>;
    let cases: Vec<(&str, OutcomeMutation, &str, &str)> = vec![
        (
            "negative fine",
            Box::new(|o| o.fine_fen = -100),
            "outcome.fine_fen",
            "amount.non_negative",
        ),
        (
            "negative confiscation",
            Box::new(|o| o.confiscated_fen = -1),
            "outcome.confiscated_fen",
            "amount.non_negative",
        ),
        (
            "no decision time",
            Box::new(|o| o.decided_at = None),
            "outcome.decided_at",
            "required",
        ),
        (
            "decided in the future",
            Box::new(|o| o.decided_at = in_future(3600)),
            "outcome.decided_at",
            "time.future",
        ),
        (
            "no case number",
            Box::new(|o| o.case_number.clear()),
            "outcome.case_number",
            "required",
        ),
        (
            "case number too long",
            Box::new(|o| o.case_number = "号".repeat(65)),
            "outcome.case_number",
            "length.max",
        ),
        (
            "decision unspecified",
            Box::new(|o| o.decision = 0),
            "outcome.decision",
            "enum.unspecified",
        ),
        (
            "legal basis too long",
            Box::new(|o| o.legal_basis = "法".repeat(501)),
            "outcome.legal_basis",
            "length.max",
        ),
        (
            "bad lead reference",
            Box::new(|o| {
                o.lead = Some(proto::LeadRef {
                    producer: "330100-STHJ".into(),
                    event_id: "".into(),
                })
            }),
            "outcome.lead.event_id",
            "event_id.format",
        ),
        (
            "sensitivity unspecified",
            Box::new(|o| o.sensitivity = 0),
            "outcome.sensitivity",
            "enum.unspecified",
        ),
    ];
    let server = TestServer::start(log).await;
    let mut publisher = server.publisher();
    for (what, mutate, field, rule) in cases {
        let mut request = outcome("out-bad", "330106-SCJG", org(8), None);
        mutate(request.outcome.as_mut().unwrap());
        let status = publisher.publish_outcome(request).await.expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}");
        let got = violations(&status);
        assert!(
            got.iter().any(|(f, r)| f == field && r == rule),
            "{what}: expected {field} / {rule}, got {got:?}"
        );
    }
    assert_eq!(server.log_records().await, 0);
    server.stop().await;
}

async fn all_violations_are_reported_together(log: Log) {
    let server = TestServer::start(log).await;
    let mut request = lead("", org(9));
    request.producer = "330106-XXX".into();
    body(&mut request).domain = 0;
    body(&mut request).facts = vec![fact("sales_fen", -5)];
    let status = server.publisher().publish_lead(request).await.unwrap_err();
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        ["event_id", "producer", "lead.domain", "lead.facts[0].value"]
    );
    server.stop().await;
}

async fn oversized_request_beyond_the_decode_guard_is_refused_by_the_transport(log: Log) {
    let server =
        TestServer::start_with(log, |c: &mut Config| c.server.max_request_bytes = 64 * 1024).await;
    let mut request = lead("big", org(10));
    body(&mut request).summary = "x".repeat(300 * 1024);
    let status = server.publisher().publish_lead(request).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(server.log_records().await, 0);
    server.stop().await;
}

async fn checksum_failures_are_accepted_and_flagged_in_warn_mode(log: Log) {
    let server = TestServer::start_with(log, |c: &mut Config| {
        c.validation.uscc_checksum = ChecksumPolicy::Warn
    })
    .await;
    let mut flawed = org(11);
    flawed.id = fix_last(&flawed.id);
    let ack = server
        .publisher()
        .publish_lead(lead("warned", flawed.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.warnings, ["lead.subject.id: uscc.checksum"]);
    server.wait_for_events(1).await;
    let timeline = server.timeline(&flawed).await;
    assert_eq!(
        timeline[0].event.as_ref().unwrap().warnings,
        ["lead.subject.id: uscc.checksum"]
    );
    // A format error is still refused in warn mode.
    let mut bad = lead("format", org(12));
    subject(&mut bad).id = "91330106000000001I".into();
    let status = server.publisher().publish_lead(bad).await.unwrap_err();
    assert_eq!(
        violations(&status),
        [("lead.subject.id".to_owned(), "uscc.format".to_owned())]
    );
    server.stop().await;
}

async fn the_future_limit_follows_the_injected_clock(log: Log) {
    // In the past: Kafka refuses record timestamps far in the future.
    let start: jiff::Timestamp = "2025-09-26T02:00:00Z".parse().unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(log, |_| {}, clock.clone()).await;
    let at = |secs: i64| {
        Some(Timestamp {
            seconds: start.as_second() + secs,
            nanos: 0,
        })
    };
    let clocked = |id: &str, secs: i64| {
        let mut request = lead(id, org(13));
        request.produced_at = at(secs);
        body(&mut request).observed_at = None;
        request
    };
    let request = clocked("clocked-1", 300);
    server
        .publisher()
        .publish_lead(request)
        .await
        .expect("5 minutes ahead is within the skew");
    let request = clocked("clocked-2", 301);
    let status = server
        .publisher()
        .publish_lead(request.clone())
        .await
        .unwrap_err();
    assert_eq!(
        violations(&status),
        [("produced_at".to_owned(), "time.future".to_owned())]
    );
    clock.advance(jiff::SignedDuration::from_secs(1));
    server
        .publisher()
        .publish_lead(request)
        .await
        .expect("accepted once the clock moves");
    server.stop().await;
}

crate::on_both_logs!(
    every_lead_rule_is_enforced_and_nothing_is_stored,
    every_outcome_rule_is_enforced,
    all_violations_are_reported_together,
    oversized_request_beyond_the_decode_guard_is_refused_by_the_transport,
    checksum_failures_are_accepted_and_flagged_in_warn_mode,
    the_future_limit_follows_the_injected_clock,
);

/// Letter case: national identifiers in either case are stored and delivered upper-case;
/// the system's own agency ids are exact, and a lower-case one is refused.
async fn national_identifiers_are_upper_cased_and_agency_ids_are_exact(log: Log) {
    let server = TestServer::start(log).await;
    let mut request = lead("case-1", org(1));
    subject(&mut request).id = "91330106ma2h0q7w1g".into();
    server
        .publisher()
        .publish_lead(request)
        .await
        .expect("a lower-case code is accepted");
    server.wait_for_events(1).await;
    let inbox = server
        .drain_inbox(
            "330106-SCJG",
            Some(0),
            std::time::Duration::from_millis(300),
        )
        .await;
    let delivered = crate::support::event_of(&inbox[0]);
    let Some(proto::envelope::Payload::Lead(delivered_lead)) = &delivered.payload else {
        panic!("a lead: {delivered:?}")
    };
    assert_eq!(
        delivered_lead.subject.as_ref().unwrap().id,
        "91330106MA2H0Q7W1G"
    );

    let mut request = lead("case-2", org(2));
    body(&mut request).target_agencies = vec!["330106-ga".into()];
    let status = server.publisher().publish_lead(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violations(&status),
        [(
            "lead.target_agencies[0]".to_owned(),
            "agency.format".to_owned()
        )]
    );
    server.stop().await;
}

crate::on_both_logs!(national_identifiers_are_upper_cased_and_agency_ids_are_exact);

/// Division codes against GB/T 2260: a real county is accepted, one that never existed is
/// refused naming the code, a withdrawn one (江干区, merged away in 2021) is still accepted, and
/// a township is checked against its county.
async fn division_codes_must_exist_or_have_existed(log: Log) {
    let server = TestServer::start(log).await;
    for (n, division, expected) in [
        (1, "330106", None),
        (2, "330104", None),
        (3, "330106002", None),
        (4, "319999", Some("319999 is not a GB/T 2260 division")),
        (
            5,
            "330106999",
            Some("330106999 is not a township of 西湖区"),
        ),
    ] {
        let mut request = lead(&format!("div-{n}"), org(n));
        body(&mut request).division = division.into();
        let result = server.publisher().publish_lead(request).await;
        match expected {
            None => {
                result.unwrap_or_else(|status| panic!("{division}: {status:?}"));
            }
            Some(message) => {
                let status = result.unwrap_err();
                assert_eq!(status.code(), Code::InvalidArgument, "{division}");
                assert_eq!(
                    violations(&status),
                    [("lead.division".to_owned(), "division.unknown".to_owned())]
                );
                assert!(status.message().contains(message), "{}", status.message());
            }
        }
    }
    server.wait_for_events(3).await;
    server.stop().await;
}

crate::on_both_logs!(division_codes_must_exist_or_have_existed);
