//! The inspection decisions against an in-memory store and the shipped rules (Zhejiang: grade
//! B by default, 3 a year across agencies, 2 per agency, repeats within 180 days, joint
//! windows 15 days).

use super::super::fake::{Fake, policy};
use crate::domain::event::SCHEMA_VERSION;
use crate::domain::inspection::checks::tests::plan as sample_plan;
use crate::domain::inspection::{
    Certificate, CertificateNumber, InspectionRecord, JointAnswer, PlanKey, PlanState,
};
use crate::domain::{
    AgencyId, AlertKind, Domain, Envelope, EventId, Handling, Payload, ResidentId, Subject,
    SubjectId, Uscc,
};
use crate::store::Decision;

const SCJG: &str = "330106-SCJG";
const STHJ: &str = "330100-STHJ";
const COORDINATOR: &str = "330100-SFJ";

fn agency(id: &str) -> AgencyId {
    AgencyId::parse(id).unwrap()
}

fn envelope(producer: &str, id: &str, payload: Payload) -> Envelope {
    Envelope {
        event_id: EventId::parse(id).unwrap(),
        producer: agency(producer),
        produced_at: "2026-02-20T08:00:00Z".parse().unwrap(),
        schema_version: SCHEMA_VERSION,
        payload,
        handling: Handling::default(),
        warnings: vec![],
    }
}

/// Applies `payload` from `producer`; returns the alerts it raised and whether it was refused.
fn apply(
    fake: &mut Fake,
    producer: &str,
    id: &str,
    payload: Payload,
) -> Vec<(String, Vec<AgencyId>)> {
    let before = fake.alerts.len();
    let incoming = fake.incoming(envelope(producer, id, payload));
    let (decided, _) = fake.apply(&incoming, &policy());
    if let Decision::Refused(reason) = decided.decision {
        return vec![(format!("refused: {reason}"), vec![])];
    }
    fake.alerts[before..]
        .iter()
        .map(|(a, to)| (a.rule_id.clone(), to.clone()))
        .collect()
}

fn plan(id: &str, items: &[&str], from: &str, to: &str) -> Payload {
    Payload::InspectionPlan(sample_plan(id, items, from, to))
}

fn entry(fake: &Fake, by: &str, id: &str) -> crate::domain::inspection::InspectionEntry {
    let key = PlanKey {
        agency: agency(by),
        plan_id: EventId::parse(id).unwrap(),
    };
    fake.inspections[&key].clone()
}

fn record(plan: &str, inspectors: &[&str], date: &str) -> Payload {
    Payload::InspectionRecord(InspectionRecord {
        plan_id: EventId::parse(plan).unwrap(),
        enterprise: Uscc::parse("91330106MA2H0Q7W1G").unwrap(),
        date: date.parse().unwrap(),
        inspectors: inspectors
            .iter()
            .map(|n| CertificateNumber::parse(n).unwrap())
            .collect(),
        items: vec!["SCJG-SP-01".into()],
        finding: false,
        lead: None,
        remarks: String::new(),
    })
}

fn certificate(number: &str, revoked: bool) -> Payload {
    Payload::Certificate(Certificate {
        number: CertificateNumber::parse(number).unwrap(),
        holder: Subject {
            id: SubjectId::Person(ResidentId::parse("11010519491231002X").unwrap()),
            name: "张三".into(),
        },
        agency: agency(SCJG),
        domains: vec![Domain::MarketRegulation],
        valid_from: "2025-01-01".parse().unwrap(),
        valid_until: "2027-12-31".parse().unwrap(),
        revoked,
        revoked_reason: if revoked {
            "调离执法岗位".into()
        } else {
            String::new()
        },
    })
}

#[test]
fn a_clean_plan_raises_nothing_and_an_unpublished_item_warns_the_coordinator() {
    let mut fake = Fake::default();
    assert!(
        apply(
            &mut fake,
            SCJG,
            "e1",
            plan("p1", &["SCJG-SP-01"], "2026-03-01", "2026-03-05")
        )
        .is_empty()
    );
    assert!(entry(&fake, SCJG, "p1").warnings.is_empty());
    let alerts = apply(
        &mut fake,
        SCJG,
        "e2",
        plan("p2", &["STHJ-PW-01"], "2026-09-01", "2026-09-05"),
    );
    assert_eq!(
        alerts,
        [(
            "inspection.item_unpublished".to_owned(),
            vec![agency(COORDINATOR)]
        )]
    );
    let warnings = entry(&fake, SCJG, "p2").warnings;
    assert!(
        warnings[0].starts_with("inspection.item_unpublished: STHJ-PW-01"),
        "{warnings:?}"
    );
}

#[test]
fn two_agencies_close_in_time_get_one_joint_proposal_that_counts_once_when_accepted() {
    let mut fake = Fake::default();
    apply(
        &mut fake,
        SCJG,
        "e1",
        plan("p1", &["SCJG-SP-01"], "2026-03-01", "2026-03-05"),
    );
    let alerts = apply(
        &mut fake,
        STHJ,
        "e2",
        plan("q1", &["STHJ-PW-01"], "2026-03-10", "2026-03-12"),
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (rule, to) = &alerts[0];
    assert_eq!(rule, "inspection.joint");
    assert!(
        to.contains(&agency(COORDINATOR))
            && to.contains(&agency(SCJG))
            && to.contains(&agency(STHJ))
    );
    assert_eq!(
        fake.alerts.last().unwrap().0.kind,
        AlertKind::JointInspection
    );
    let joint = entry(&fake, SCJG, "p1").joint.unwrap();
    assert_eq!(
        entry(&fake, STHJ, "q1").joint.as_deref(),
        Some(joint.as_str())
    );
    let answer = |accept| {
        Payload::JointAnswer(JointAnswer {
            plan_id: EventId::parse("p1").unwrap(),
            enterprise: Uscc::parse("91330106MA2H0Q7W1G").unwrap(),
            accept,
            reason: String::new(),
        })
    };
    assert!(apply(&mut fake, SCJG, "e3", answer(true)).is_empty());
    let mut q = answer(true);
    if let Payload::JointAnswer(a) = &mut q {
        a.plan_id = EventId::parse("q1").unwrap();
    }
    apply(&mut fake, STHJ, "e4", q);
    let rules = policy().inspections.province("33").unwrap().clone();
    let year: Vec<_> = fake.inspections.values().cloned().collect();
    let (all, own) = crate::domain::inspection::checks::tally(&rules, &year, &agency(SCJG));
    assert_eq!((all, own), (1, 1));
    // A third plan far away in time is not joined.
    let alerts = apply(
        &mut fake,
        STHJ,
        "e5",
        plan("q2", &["STHJ-GF-01"], "2026-06-01", "2026-06-01"),
    );
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn the_agency_cap_is_passed_by_the_third_plan_of_one_agency() {
    let mut fake = Fake::default();
    apply(
        &mut fake,
        SCJG,
        "e1",
        plan("p1", &["SCJG-SP-01"], "2026-01-05", "2026-01-05"),
    );
    apply(
        &mut fake,
        SCJG,
        "e2",
        plan("p2", &["SCJG-CP-01"], "2026-04-05", "2026-04-05"),
    );
    let alerts = apply(
        &mut fake,
        SCJG,
        "e3",
        plan("p3", &["SCJG-TS-01"], "2026-08-05", "2026-08-05"),
    );
    assert_eq!(
        alerts.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["inspection.agency_cap_exceeded"]
    );
}

#[test]
fn the_same_item_again_within_the_window_is_a_repeat() {
    let mut fake = Fake::default();
    apply(
        &mut fake,
        SCJG,
        "e1",
        plan("p1", &["SCJG-SP-01"], "2026-01-05", "2026-01-05"),
    );
    let alerts = apply(
        &mut fake,
        SCJG,
        "e2",
        plan("p2", &["SCJG-SP-01"], "2026-03-05", "2026-03-05"),
    );
    assert_eq!(
        alerts.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["inspection.repeated"]
    );
}

#[test]
fn a_record_needs_two_valid_certificates_of_the_agency() {
    let mut fake = Fake::default();
    apply(&mut fake, COORDINATOR, "c1", certificate("ZJ-0001", false));
    apply(&mut fake, COORDINATOR, "c2", certificate("ZJ-0002", false));
    apply(
        &mut fake,
        SCJG,
        "e1",
        plan("p1", &["SCJG-SP-01"], "2026-03-01", "2026-03-05"),
    );
    assert!(
        apply(
            &mut fake,
            SCJG,
            "r1",
            record("p1", &["ZJ-0001", "ZJ-0002"], "2026-03-02")
        )
        .is_empty()
    );
    assert_eq!(entry(&fake, SCJG, "p1").state, PlanState::Done);
    apply(
        &mut fake,
        SCJG,
        "e2",
        plan(
            "p2",
            &["SCJG-CP-01", "SCJG-SP-01"],
            "2026-05-01",
            "2026-05-05",
        ),
    );
    let alerts = apply(
        &mut fake,
        SCJG,
        "r2",
        record("p2", &["ZJ-0001", "ZJ-9999"], "2026-05-02"),
    );
    assert_eq!(
        alerts,
        [(
            "inspection.certificate_invalid".to_owned(),
            vec![agency(COORDINATOR)]
        )]
    );
    let warnings = &entry(&fake, SCJG, "p2").records[0].warnings;
    assert_eq!(
        warnings,
        &["inspection.certificate_invalid: certificate ZJ-9999 is unknown"]
    );
}

#[test]
fn a_revocation_takes_effect_on_the_day_it_is_published() {
    let mut fake = Fake::default();
    apply(&mut fake, COORDINATOR, "c1", certificate("ZJ-0001", false));
    apply(&mut fake, COORDINATOR, "c2", certificate("ZJ-0002", false));
    // Published 2026-02-20 (Beijing): revoked from that day.
    apply(&mut fake, COORDINATOR, "c3", certificate("ZJ-0002", true));
    apply(
        &mut fake,
        SCJG,
        "e1",
        plan("p1", &["SCJG-SP-01"], "2026-02-19", "2026-02-25"),
    );
    let alerts = apply(
        &mut fake,
        SCJG,
        "r1",
        record("p1", &["ZJ-0001", "ZJ-0002"], "2026-02-20"),
    );
    assert_eq!(alerts.len(), 1);
    let warnings = &entry(&fake, SCJG, "p1").records[0].warnings;
    assert!(warnings[0].ends_with("ZJ-0002 is revoked"), "{warnings:?}");
}

#[test]
fn refusals_certificates_from_non_coordinators_and_steps_on_plans_not_there() {
    let mut fake = Fake::default();
    let refused = apply(&mut fake, SCJG, "c1", certificate("ZJ-0001", false));
    assert!(refused[0].0.contains("not a coordinator"), "{refused:?}");
    let refused = apply(
        &mut fake,
        SCJG,
        "r1",
        record("nope", &["ZJ-0001", "ZJ-0002"], "2026-02-20"),
    );
    assert!(
        refused[0].0.contains("no inspection plan 330106-SCJG/nope"),
        "{refused:?}"
    );
    // Another agency cannot record on a plan that is not its own: the key is its own.
    apply(
        &mut fake,
        SCJG,
        "e1",
        plan("p1", &["SCJG-SP-01"], "2026-03-01", "2026-03-05"),
    );
    let refused = apply(
        &mut fake,
        STHJ,
        "r2",
        record("p1", &["ZJ-0001", "ZJ-0002"], "2026-03-02"),
    );
    assert!(
        refused[0]
            .0
            .starts_with("refused: no inspection plan 330100-STHJ/p1"),
        "{refused:?}"
    );
}
