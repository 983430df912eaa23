//! Tests of [`super`]: closing leads, who may answer, waiting for leads, and the checks an
//! outcome runs.

use super::super::fake::{Fake, policy, sample_lead};
use super::*;
use crate::domain::{
    Alert, AlertKind, DivisionCode, Envelope, EventId, LeadStatus, OffenceCode, Sensitivity,
    Severity, Subject,
};
use crate::store::Decision as Write;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn agency(id: &str) -> AgencyId {
    AgencyId::parse(id).unwrap()
}

fn subject() -> Subject {
    sample_lead().subject().unwrap().clone()
}

/// A penalty of `producer` for CL-140 with `facts`, decided and published at `at`.
fn outcome(id: &str, producer: &str, facts: &[(&str, i64)], at: &str) -> Envelope {
    let mut envelope = sample_lead();
    envelope.event_id = EventId::parse(id).unwrap();
    envelope.producer = agency(producer);
    envelope.produced_at = t(at);
    envelope.payload = Payload::CaseOutcome(CaseOutcome {
        case_number: format!("案-{id}"),
        subject: subject(),
        division: DivisionCode::parse("330106").unwrap(),
        domain: crate::domain::Domain::MarketRegulation,
        offence_code: OffenceCode::parse("CL-140").unwrap(),
        decision: Decision::Penalty,
        fine_fen: 1_000_000,
        confiscated_fen: 0,
        facts: facts.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
        decided_at: t(at),
        lead: None,
        legal_basis: String::new(),
        sensitivity: Sensitivity::Internal,
        severity: None,
        procedure: None,
        historic: false,
    });
    envelope
}

fn body(envelope: &mut Envelope) -> &mut CaseOutcome {
    let Payload::CaseOutcome(o) = &mut envelope.payload else {
        unreachable!("an outcome")
    };
    o
}

fn kinds(fake: &Fake) -> Vec<AlertKind> {
    fake.alerts.iter().map(|(a, _)| a.kind).collect()
}

#[test]
fn an_outcome_closes_its_lead_once_and_feeds_back_to_the_producer() {
    let (mut fake, policy) = (Fake::default(), policy());
    let lead = fake.incoming(sample_lead());
    let (_, lead_seq) = fake.apply(&lead, &policy);
    let mut first = outcome("out-1", "330100-STHJ", &[], "2026-11-27T09:00:00Z");
    body(&mut first).lead = Some(lead.envelope.key());
    let first = fake.incoming(first);
    let (decided, seq) = fake.apply(&first, &policy);
    assert_eq!(decided.lead_found, Some(true));
    let division = DivisionCode::parse("330106").unwrap();
    let row = fake.lead_entry(&division, lead_seq.unwrap()).unwrap();
    assert_eq!((row.status, row.closed_by), (LeadStatus::Closed, seq));
    let fed_back = fake.event(seq.unwrap()).unwrap().unwrap().delivered_to;
    assert_eq!(fed_back, std::slice::from_ref(&lead.envelope.producer));
    // A second answer is fed back too, but the first stands as the one that closed it.
    let mut second = outcome("out-2", "330106-SCJG", &[], "2026-11-27T10:00:00Z");
    body(&mut second).lead = Some(lead.envelope.key());
    let second = fake.incoming(second);
    let (decided, _) = fake.apply(&second, &policy);
    assert_eq!(decided.lead_found, Some(true));
    let row = fake.lead_entry(&division, lead_seq.unwrap()).unwrap();
    assert_eq!(row.closed_by, seq);
}

#[test]
fn an_agency_the_lead_did_not_go_to_cannot_close_it_and_the_coordinators_hear_of_it() {
    let (mut fake, policy) = (Fake::default(), policy());
    let lead = fake.incoming(sample_lead());
    let (_, lead_seq) = fake.apply(&lead, &policy);
    // Another district's market regulator answers a 西湖区 lead.
    let mut stranger = outcome("out-x", "330102-SCJG", &[], "2026-11-27T09:00:00Z");
    body(&mut stranger).lead = Some(lead.envelope.key());
    let stranger = fake.incoming(stranger);
    let (decided, _) = fake.apply(&stranger, &policy);
    assert_eq!(decided.lead_found, Some(true));
    let division = DivisionCode::parse("330106").unwrap();
    let row = fake.lead_entry(&division, lead_seq.unwrap()).unwrap();
    assert_ne!(row.status, LeadStatus::Closed, "the lead stays open");
    // (The lead itself raised a possible-crime alert.)
    assert_eq!(
        kinds(&fake),
        [AlertKind::PossibleCrime, AlertKind::AnswerByNonRecipient]
    );
    let (alert, to) = &fake.alerts[1];
    assert!(
        alert.detail.contains("330102-SCJG 答复了线索"),
        "{}",
        alert.detail
    );
    assert!(
        !to.is_empty()
            && to.iter().all(|a| policy
                .registry
                .get(a)
                .is_some_and(|a| a.kind == crate::domain::AgencyKind::Coordinator))
    );
    // An agency it went to still may close it.
    let recipient = fake.event(lead_seq.unwrap()).unwrap().unwrap().delivered_to[0].clone();
    let mut answer = outcome("out-1", recipient.as_str(), &[], "2026-11-27T10:00:00Z");
    body(&mut answer).lead = Some(lead.envelope.key());
    let answer = fake.incoming(answer);
    let (_, seq) = fake.apply(&answer, &policy);
    let row = fake.lead_entry(&division, lead_seq.unwrap()).unwrap();
    assert_eq!((row.status, row.closed_by), (LeadStatus::Closed, seq));
}

#[test]
fn an_outcome_naming_no_known_lead_says_so_and_closes_nothing() {
    let (mut fake, policy) = (Fake::default(), policy());
    let mut answer = outcome("out-1", "330106-SCJG", &[], "2026-11-27T09:00:00Z");
    body(&mut answer).lead = Some(sample_lead().key());
    let answer = fake.incoming(answer);
    let (decided, _) = fake.apply(&answer, &policy);
    assert_eq!(decided.lead_found, Some(false));
    let Write::Apply(writes) = decide_again(&fake, &answer) else {
        panic!("not applied")
    };
    assert!(writes.lead.is_none());
}

#[test]
fn a_lead_that_never_comes_is_reported_to_the_coordinators_after_the_wait() {
    let (mut fake, policy) = (Fake::default(), policy());
    let wait = policy.windows.outcome_lead_wait;
    // Two answers naming leads not applied yet; one of the leads arrives in time.
    let mut orphan = outcome("out-1", "330106-SCJG", &[], "2026-11-27T09:00:00Z");
    let mut missing = sample_lead();
    missing.event_id = EventId::parse("never-published").unwrap();
    body(&mut orphan).lead = Some(missing.key());
    let orphan = fake.incoming(orphan);
    fake.apply(&orphan, &policy);
    let mut early = outcome("out-2", "330106-SCJG", &[], "2026-11-27T09:00:00Z");
    body(&mut early).lead = Some(sample_lead().key());
    let early = fake.incoming(early);
    fake.apply(&early, &policy);
    let lead = fake.incoming(sample_lead());
    fake.apply(&lead, &policy);
    let before = fake.alerts.len();

    let logged = orphan.logged_at;
    let just_before = logged.saturating_add(wait).unwrap() - jiff::SignedDuration::from_secs(1);
    assert!(
        fake.tick(&policy, just_before).is_empty(),
        "not before the wait ends"
    );
    let raised = fake.tick(&policy, logged.saturating_add(wait).unwrap());
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].kind, AlertKind::OutcomeWithoutLead);
    assert!(
        raised[0]
            .detail
            .contains("330106-SCJG/out-1 答复线索 330106-SCJG/never-published"),
        "{}",
        raised[0].detail
    );
    let (_, to) = fake.alerts.last().unwrap();
    assert!(to.iter().any(|a| a.as_str() == "330100-SFJ"), "{to:?}");
    assert_eq!(fake.alerts.len(), before + 1);
    // Once: a later tick raises nothing more.
    assert!(
        fake.tick(&policy, logged.saturating_add(wait * 2).unwrap())
            .is_empty()
    );
}

fn decide_again(fake: &Fake, incoming: &Incoming) -> Write {
    // A fresh id: the first was applied.
    let mut again = incoming.clone();
    again.envelope.event_id = EventId::parse("again").unwrap();
    super::super::decide(fake, &again, &policy())
        .unwrap()
        .decision
}

#[test]
fn a_penalty_over_a_threshold_is_watched_until_its_case_is_referred() {
    let (mut fake, policy) = (Fake::default(), policy());
    let penalty = fake.incoming(outcome(
        "out-1",
        "330106-SCJG",
        &[("sales_fen", 6_000_000)],
        "2026-11-02T02:00:00Z",
    ));
    fake.apply(&penalty, &policy);
    let grace = policy.windows.referral_grace;
    let due = penalty.logged_at.saturating_add(grace).unwrap();
    assert!(
        fake.tick(&policy, due - jiff::SignedDuration::from_secs(1))
            .is_empty()
    );
    let fired = fake.tick(&policy, due);
    assert_eq!(
        fired.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AlertKind::PenaltyInsteadOfReferral]
    );
    assert!(fake.tick(&policy, due).is_empty(), "a watch fires once");
}

#[test]
fn a_penalty_whose_case_was_referred_starts_no_watch() {
    let (mut fake, policy) = (Fake::default(), policy());
    let mut referral = sample_lead();
    referral.event_id = EventId::parse("r-1").unwrap();
    referral.payload = Payload::Referral(crate::domain::referral::Referral {
        referral_id: EventId::parse("r-1").unwrap(),
        police: agency("330106-GA"),
        case_number: "案-out-1".into(),
        subject: subject(),
        division: DivisionCode::parse("330106").unwrap(),
        domain: crate::domain::Domain::MarketRegulation,
        offence_code: OffenceCode::parse("CL-140").unwrap(),
        summary: "移送".into(),
        facts: Default::default(),
        documents: vec![],
    });
    let referral = fake.incoming(referral);
    fake.apply(&referral, &policy);
    let penalty = fake.incoming(outcome(
        "out-1",
        "330106-SCJG",
        &[("sales_fen", 6_000_000)],
        "2026-11-02T02:00:00Z",
    ));
    let Write::Apply(writes) = super::super::decide(&fake, &penalty, &policy)
        .unwrap()
        .decision
    else {
        panic!("not applied")
    };
    assert!(writes.watch.is_none());
}

#[test]
fn another_agencys_penalty_for_the_same_conduct_is_a_duplicate_penalty() {
    let (mut fake, policy) = (Fake::default(), policy());
    let first = fake.incoming(outcome("a", "330106-SCJG", &[], "2026-10-01T02:00:00Z"));
    fake.apply(&first, &policy);
    let same_agency = fake.incoming(outcome("b", "330106-SCJG", &[], "2026-10-02T02:00:00Z"));
    fake.apply(&same_agency, &policy);
    assert!(!kinds(&fake).contains(&AlertKind::DuplicatePenalty));
    let other = fake.incoming(outcome("c", "330100-STHJ", &[], "2026-10-03T02:00:00Z"));
    fake.apply(&other, &policy);
    let (alert, to) = fake
        .alerts
        .iter()
        .find(|(a, _)| a.kind == AlertKind::DuplicatePenalty)
        .expect("多头受罚");
    assert_eq!(alert.events.len(), 3);
    assert!(to.iter().any(|a| a.as_str() == "330100-SFJ"), "{to:?}");
}

#[test]
fn small_cases_that_together_meet_a_threshold_are_a_split_case_reported_once() {
    let (mut fake, policy) = (Fake::default(), policy());
    for (n, day) in ["01", "05", "09", "13"].into_iter().enumerate() {
        let small = fake.incoming(outcome(
            &format!("s-{n}"),
            "330106-SCJG",
            &[("sales_fen", 2_000_000)],
            &format!("2026-10-{day}T02:00:00Z"),
        ));
        fake.apply(&small, &policy);
    }
    // 2 + 2 + 2 + 2 万 ≥ 5 万 at the third case; reported once, not again at the fourth.
    let splits: Vec<&Alert> = fake
        .alerts
        .iter()
        .map(|(a, _)| a)
        .filter(|a| a.kind == AlertKind::SplitCase)
        .collect();
    assert_eq!(splits.len(), 1, "{:?}", kinds(&fake));
    assert_eq!(splits[0].events.len(), 3);
}

#[test]
fn a_fine_outside_its_band_is_a_discretion_deviation() {
    let (mut fake, policy) = (Fake::default(), policy());
    let mut inside = outcome(
        "in",
        "330106-SCJG",
        &[("goods_value_fen", 1_000_000)],
        "2026-10-01T02:00:00Z",
    );
    body(&mut inside).severity = Some(Severity::General);
    let inside = fake.incoming(inside);
    let Write::Apply(writes) = super::super::decide(&fake, &inside, &policy)
        .unwrap()
        .decision
    else {
        panic!("not applied")
    };
    assert_eq!(writes.outcome.unwrap().row.outside_band, Some(false));
    let mut outside = outcome(
        "out",
        "330106-SCJG",
        &[("goods_value_fen", 100_000)],
        "2026-10-01T02:00:00Z",
    );
    body(&mut outside).severity = Some(Severity::General);
    let outside = fake.incoming(outside);
    fake.apply(&outside, &policy);
    assert_eq!(kinds(&fake), [AlertKind::DiscretionDeviation]);
    // People read yuan; the fen stay in the facts.
    let (alert, _) = &fake.alerts[0];
    assert!(
        alert.detail.starts_with("罚款 ¥") && alert.detail.contains("超出裁量基准 ¥"),
        "{}",
        alert.detail
    );
    assert!(!alert.detail.contains("fen"), "{}", alert.detail);
    assert!(alert.facts.contains_key("fine_fen"));
}

#[test]
fn a_public_penalty_logged_after_its_disclosure_date_is_late() {
    let (mut fake, policy) = (Fake::default(), policy());
    let mut penalty = outcome("pub", "330106-SCJG", &[], "2026-11-02T02:00:00Z");
    body(&mut penalty).sensitivity = Sensitivity::Public;
    let mut incoming = fake.incoming(penalty);
    // Seven working days from Monday 2 November end on Wednesday 11 November.
    incoming.logged_at = t("2026-11-12T02:00:00Z");
    fake.apply(&incoming, &policy);
    assert_eq!(kinds(&fake), [AlertKind::LateDisclosure]);
}

#[test]
fn a_historic_decision_joins_the_history_but_sets_nothing_off() {
    let (mut fake, policy) = (Fake::default(), policy());
    // Public, logged long after its disclosure date, and over the CL-140 threshold: live, it
    // would be late and watched for a referral.
    let mut past = outcome(
        "past",
        "330106-SCJG",
        &[("sales_fen", 6_000_000)],
        "2019-11-04T02:00:00Z",
    );
    body(&mut past).sensitivity = Sensitivity::Public;
    body(&mut past).historic = true;
    let incoming = fake.incoming(past);
    fake.apply(&incoming, &policy);
    assert!(fake.alerts.is_empty(), "{:?}", kinds(&fake));
    let far = incoming
        .logged_at
        .saturating_add(policy.windows.referral_grace)
        .unwrap();
    assert!(fake.tick(&policy, far).is_empty(), "no 以罚代刑 watch");
    // A later live decision of another agency on the same subject and offence sees it.
    let live = fake.incoming(outcome("now", "330102-SCJG", &[], "2019-11-20T02:00:00Z"));
    fake.apply(&live, &policy);
    assert_eq!(kinds(&fake), [AlertKind::DuplicatePenalty]);
}
