//! Each check at its boundary.

use super::*;
use crate::domain::inspection::{Certificate, CertificateNumber, PlanReason};
use crate::domain::{AgencyKind, DivisionCode, EventId, ResidentId, Subject, SubjectId, Uscc};

fn rules() -> InspectionRules {
    InspectionRules::parse(include_str!("../../../rules/inspection-items.toml"), "t").unwrap()
}

fn zj() -> ProvinceRules {
    rules().province("33").unwrap().clone()
}

fn agency(id: &str) -> AgencyId {
    AgencyId::parse(id).unwrap()
}

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

pub(crate) fn plan(id: &str, items: &[&str], from: &str, to: &str) -> InspectionPlan {
    InspectionPlan {
        plan_id: EventId::parse(id).unwrap(),
        enterprise: Subject {
            id: SubjectId::Organization(Uscc::parse("91330106MA2H0Q7W1G").unwrap()),
            name: "某某食品有限公司".into(),
        },
        division: DivisionCode::parse("330106").unwrap(),
        items: items.iter().map(|s| (*s).to_owned()).collect(),
        window_start: day(from),
        window_end: day(to),
        reason: PlanReason::Random,
        risk_grade: None,
        remote: false,
        assistance_reason: String::new(),
        verify_code: String::new(),
    }
}

fn entry(by: &str, plan: InspectionPlan) -> InspectionEntry {
    InspectionEntry {
        agency: agency(by),
        event_id: plan.plan_id.clone(),
        plan,
        planned_at: jiff::Timestamp::UNIX_EPOCH,
        state: PlanState::Planned,
        warnings: vec![],
        records: vec![],
        joint: None,
        joint_accepted: None,
    }
}

fn certificate(valid_until: &str, revoked_on: Option<&str>) -> CertificateEntry {
    CertificateEntry {
        certificate: Certificate {
            number: CertificateNumber::parse("ZJ-0001").unwrap(),
            holder: Subject {
                id: SubjectId::Person(ResidentId::parse("11010519491231002X").unwrap()),
                name: "张三".into(),
            },
            agency: agency("330106-SCJG"),
            domains: vec![],
            valid_from: day("2025-01-01"),
            valid_until: day(valid_until),
            revoked: revoked_on.is_some(),
            revoked_reason: String::new(),
        },
        issuer: agency("330100-SFJ"),
        revoked_on: revoked_on.map(day),
    }
}

#[test]
fn published_items_pass_and_others_are_named() {
    let scjg = agency("330106-SCJG");
    let ok = ["SCJG-SP-01".to_owned()];
    assert_eq!(
        unpublished_items(&rules(), &scjg, &ok, day("2026-03-01")),
        None
    );
    let bad = ["SCJG-SP-01".to_owned(), "STHJ-PW-01".to_owned()];
    let found = unpublished_items(&rules(), &scjg, &bad, day("2026-03-01")).unwrap();
    assert_eq!(found.rule, "inspection.item_unpublished");
    assert!(
        found.detail.starts_with("STHJ-PW-01 not on"),
        "{}",
        found.detail
    );
    // Published from its law's date on, not before.
    let early = unpublished_items(&rules(), &scjg, &ok, day("2021-04-28"));
    assert!(early.is_some());
}

#[test]
fn a_certificate_is_valid_on_its_last_day_and_not_after() {
    let scjg = agency("330106-SCJG");
    let cert = certificate("2026-06-30", None);
    assert_eq!(
        certificate_problem(Some(&cert), &scjg, day("2026-06-30")),
        None
    );
    assert_eq!(
        certificate_problem(Some(&cert), &scjg, day("2026-07-01")),
        Some("expired")
    );
    assert_eq!(
        certificate_problem(Some(&cert), &scjg, day("2024-12-31")),
        Some("not yet valid")
    );
    assert_eq!(
        certificate_problem(None, &scjg, day("2026-06-30")),
        Some("unknown")
    );
    let other = agency("330102-SCJG");
    assert_eq!(
        certificate_problem(Some(&cert), &other, day("2026-06-30")),
        Some("of another agency")
    );
}

#[test]
fn a_revoked_certificate_is_invalid_from_its_revocation_day() {
    let scjg = agency("330106-SCJG");
    let cert = certificate("2027-12-31", Some("2026-05-10"));
    assert_eq!(
        certificate_problem(Some(&cert), &scjg, day("2026-05-09")),
        None
    );
    assert_eq!(
        certificate_problem(Some(&cert), &scjg, day("2026-05-10")),
        Some("revoked")
    );
    let found = uncertified(&[("ZJ-0001".into(), "revoked")]).unwrap();
    assert_eq!(
        found.warning(),
        "inspection.certificate_invalid: certificate ZJ-0001 is revoked"
    );
}

#[test]
fn two_inspectors_on_site_suffice_one_does_not_remote_needs_none() {
    assert_eq!(too_few_inspectors(2, false), None);
    assert_eq!(
        too_few_inspectors(1, false).unwrap().rule,
        "inspection.inspectors_too_few"
    );
    assert_eq!(too_few_inspectors(1, true), None);
}

#[test]
fn outside_territory_needs_an_assistance_reason() {
    let home = Agency {
        id: agency("330102-SCJG"),
        name: "上城".into(),
        kind: AgencyKind::Administrative,
        division: DivisionCode::parse("330102").unwrap(),
        domains: vec![],
    };
    let mut p = plan("p1", &["SCJG-SP-01"], "2026-03-01", "2026-03-05");
    assert_eq!(
        outside_territory(&home, &p).unwrap().rule,
        "inspection.outside_territory"
    );
    p.assistance_reason = "协助西湖区市场监管局调查".into();
    assert_eq!(outside_territory(&home, &p), None);
    let city = Agency {
        division: DivisionCode::parse("330100").unwrap(),
        ..home
    };
    p.assistance_reason.clear();
    assert_eq!(
        outside_territory(&city, &p),
        None,
        "a city agency covers its districts"
    );
}

#[test]
fn reaching_the_cap_is_allowed_passing_it_is_not() {
    let rules = zj();
    let scjg = agency("330106-SCJG");
    // Grade B (the default): 3 across agencies, 2 per agency.
    assert!(caps_exceeded(&rules, None, &scjg, (3, 2)).is_empty());
    let found = caps_exceeded(&rules, None, &scjg, (4, 2));
    assert_eq!(
        found.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["inspection.cap_exceeded"]
    );
    let found = caps_exceeded(&rules, None, &scjg, (3, 3));
    assert_eq!(
        found.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["inspection.agency_cap_exceeded"]
    );
    // Grade D allows more.
    assert!(caps_exceeded(&rules, Some(RiskGrade::D), &scjg, (4, 3)).is_empty());
}

#[test]
fn the_tally_counts_what_the_rules_say_and_a_joint_inspection_once() {
    let rules = zj();
    let scjg = agency("330106-SCJG");
    let mut year = vec![
        entry(
            "330106-SCJG",
            plan("a", &["SCJG-SP-01"], "2026-03-01", "2026-03-05"),
        ),
        entry(
            "330100-STHJ",
            plan("b", &["STHJ-PW-01"], "2026-03-01", "2026-03-05"),
        ),
    ];
    assert_eq!(tally(&rules, &year, &scjg), (2, 1));
    for e in &mut year {
        e.joint = Some("J-1".into());
        e.joint_accepted = Some(true);
    }
    assert_eq!(
        tally(&rules, &year, &scjg),
        (1, 1),
        "an accepted joint visit counts once"
    );
    year[1].joint_accepted = Some(false);
    assert_eq!(
        tally(&rules, &year, &scjg),
        (2, 1),
        "a declined one counts apart"
    );
    let mut complaint = entry(
        "330106-SCJG",
        plan("c", &["SCJG-SP-01"], "2026-04-01", "2026-04-01"),
    );
    complaint.plan.reason = PlanReason::Complaint;
    let mut remote = entry(
        "330106-SCJG",
        plan("d", &["SCJG-SP-01"], "2026-04-01", "2026-04-01"),
    );
    remote.plan.remote = true;
    let mut cancelled = entry(
        "330106-SCJG",
        plan("e", &["SCJG-SP-01"], "2026-04-01", "2026-04-01"),
    );
    cancelled.state = PlanState::Cancelled;
    year.extend([complaint, remote, cancelled]);
    assert_eq!(
        tally(&rules, &year, &scjg),
        (2, 1),
        "complaints, remote and cancelled do not count"
    );
}

#[test]
fn a_repeat_is_the_same_item_within_the_window() {
    let rules = zj(); // 180 days
    let first = entry(
        "330106-SCJG",
        plan("a", &["SCJG-SP-01"], "2026-01-01", "2026-01-10"),
    );
    let edge = plan("b", &["SCJG-SP-01"], "2026-07-09", "2026-07-09"); // 180 days after Jan 10
    assert_eq!(
        repeated(&rules, &edge, &[&first]).unwrap().rule,
        "inspection.repeated"
    );
    let after = plan("c", &["SCJG-SP-01"], "2026-07-10", "2026-07-10"); // 181 days
    assert_eq!(repeated(&rules, &after, &[&first]), None);
    let other_item = plan("d", &["SCJG-CP-01"], "2026-01-05", "2026-01-05");
    assert_eq!(repeated(&rules, &other_item, &[&first]), None);
}

#[test]
fn joint_windows_overlap_or_lie_within_the_configured_days() {
    let rules = zj(); // 15 days
    let a = entry(
        "330106-SCJG",
        plan("a", &["SCJG-SP-01"], "2026-03-01", "2026-03-05"),
    );
    assert!(joinable(
        &rules,
        &a,
        &plan("b", &[], "2026-03-04", "2026-03-08")
    ));
    assert!(joinable(
        &rules,
        &a,
        &plan("b", &[], "2026-03-20", "2026-03-22")
    ));
    assert!(!joinable(
        &rules,
        &a,
        &plan("b", &[], "2026-03-21", "2026-03-22")
    ));
    let mut remote = plan("b", &[], "2026-03-01", "2026-03-01");
    remote.remote = true;
    assert!(
        !joinable(&rules, &a, &remote),
        "nothing to combine without a visit"
    );
    assert_eq!(
        gap_days(
            (day("2026-03-01"), day("2026-03-05")),
            (day("2026-02-01"), day("2026-02-27"))
        ),
        2
    );
}

#[test]
fn a_record_on_the_planned_days_and_items_is_on_plan() {
    let p = plan("p", &["SCJG-SP-01"], "2026-03-01", "2026-03-05");
    let items = ["SCJG-SP-01".to_owned()];
    assert_eq!(off_plan(&p, day("2026-03-01"), &items), None);
    assert_eq!(off_plan(&p, day("2026-03-05"), &items), None);
    let late = off_plan(&p, day("2026-03-06"), &items).unwrap();
    assert!(
        late.detail.contains("outside the planned"),
        "{}",
        late.detail
    );
    let extra = off_plan(&p, day("2026-03-02"), &["SCJG-CP-01".to_owned()]).unwrap();
    assert_eq!(extra.detail, "SCJG-CP-01 not in the plan");
}
