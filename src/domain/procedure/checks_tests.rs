//! Each procedural check on both sides of its boundary.

use super::*;
use crate::domain::procedure::{LegalReview, ProcedureRules};

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

fn rules() -> ProcedureRules {
    ProcedureRules::parse(
        include_str!("../../../rules/procedure.toml"),
        include_str!("../../../rules/exemptions.toml"),
        ("p", "e"),
    )
    .unwrap()
}

/// A complete, faultless record of a decision on 2026-03-16 (a Monday).
fn clean() -> Procedure {
    Procedure {
        filed_on: Some(day("2026-01-10")),
        violation_on: Some(day("2026-01-02")),
        officers: vec![
            CertificateNumber::parse("ZJ-0001").unwrap(),
            CertificateNumber::parse("ZJ-0002").unwrap(),
        ],
        notified_on: Some(day("2026-03-01")),
        proposed_fine_fen: Some(500_000),
        served_on: Some(day("2026-03-18")),
        ..Procedure::default()
    }
}

use crate::domain::inspection::CertificateNumber;

fn case<'a>(p: &'a Procedure, fine: i64, rules: &'a ProcedureRules) -> Case<'a> {
    Case {
        procedure: p,
        fine_fen: fine,
        decided_on: day("2026-03-16"),
        person: false,
        province: rules.province("330106"),
    }
}

#[test]
fn a_clean_record_passes_every_check_and_is_complete() {
    let (p, r) = (clean(), rules());
    let c = case(&p, 500_000, &r);
    assert!(officers(&c, &[]).is_empty());
    assert_eq!((notice(&c), hearing(&c), review(&c)), (None, None, None));
    assert_eq!((time_limit(&c), limitation(&c)), (None, None));
    assert_eq!(service(&c, &WorkCalendar::default()), None);
    assert!(complete(&c));
}

#[test]
fn two_officers_are_needed_one_suffices_only_in_simple_procedure_within_its_limit() {
    let r = rules();
    let mut p = clean();
    p.officers.truncate(1);
    let rules_of = |f: Vec<Finding>| f.iter().map(|f| f.rule).collect::<Vec<_>>();
    assert_eq!(
        rules_of(officers(&case(&p, 500_000, &r), &[])),
        ["procedure.art42_officers"]
    );
    p.simple = true;
    assert!(
        officers(&case(&p, 300_000, &r), &[]).is_empty(),
        "3,000 yuan: an organisation's limit"
    );
    assert_eq!(
        rules_of(officers(&case(&p, 300_001, &r), &[])),
        ["procedure.art51_simple_limit", "procedure.art42_officers"]
    );
    let mut person = case(&p, 20_001, &r);
    person.person = true;
    assert_eq!(
        rules_of(officers(&person, &[]))[0],
        "procedure.art51_simple_limit"
    );
}

#[test]
fn a_certificate_expired_the_day_before_is_named() {
    let (p, r) = (clean(), rules());
    let found = officers(&case(&p, 500_000, &r), &[("ZJ-0002".into(), "expired")]);
    assert_eq!(found[0].rule, "procedure.art42_certificate");
    assert!(found[0].detail.contains("ZJ-0002 is expired"));
}

#[test]
fn a_notice_is_needed_before_the_decision_and_a_defence_cannot_make_it_heavier() {
    let r = rules();
    let mut p = clean();
    p.notified_on = None;
    assert_eq!(
        notice(&case(&p, 500_000, &r)).unwrap().rule,
        "procedure.art44_notice"
    );
    p.notified_on = Some(day("2026-03-17"));
    assert_eq!(
        notice(&case(&p, 500_000, &r)).unwrap().rule,
        "procedure.art44_notice"
    );
    p.notified_on = Some(day("2026-03-16"));
    p.defence_received = true;
    assert_eq!(notice(&case(&p, 500_000, &r)), None, "as proposed");
    assert_eq!(
        notice(&case(&p, 500_001, &r)).unwrap().rule,
        "procedure.art45_heavier"
    );
    p.defence_received = false;
    assert_eq!(
        notice(&case(&p, 500_001, &r)),
        None,
        "heavier without a defence is not Art. 45"
    );
}

#[test]
fn a_hearing_kind_penalty_needs_hearing_rights_and_a_requested_hearing_is_held_first() {
    let r = rules();
    let mut p = clean();
    // 10万 yuan for an organisation is of a hearing kind; one fen less is not.
    assert_eq!(hearing(&case(&p, 9_999_999, &r)), None);
    assert_eq!(
        hearing(&case(&p, 10_000_000, &r)).unwrap().rule,
        "procedure.art63_hearing"
    );
    p.licence_revoked = true;
    assert_eq!(
        hearing(&case(&p, 0, &r)).unwrap().rule,
        "procedure.art63_hearing"
    );
    p.hearing_offered = true;
    p.hearing_requested_on = Some(day("2026-03-03"));
    assert_eq!(
        hearing(&case(&p, 0, &r)).unwrap().rule,
        "procedure.art64_hearing_held"
    );
    p.hearing_held_on = Some(day("2026-03-16"));
    assert_eq!(hearing(&case(&p, 0, &r)), None);
}

#[test]
fn legal_review_is_needed_after_a_hearing_and_above_the_line() {
    let r = rules();
    let mut p = clean();
    assert_eq!(review(&case(&p, 4_999_999, &r)), None);
    assert_eq!(
        review(&case(&p, 5_000_000, &r)).unwrap().rule,
        "procedure.art58_review"
    );
    p.review = Some(LegalReview {
        reviewer: "法制科".into(),
        reviewed_on: day("2026-03-17"),
        passed: true,
    });
    assert!(
        review(&case(&p, 5_000_000, &r))
            .unwrap()
            .detail
            .contains("after the decision")
    );
    p.review.as_mut().unwrap().reviewed_on = day("2026-03-15");
    assert_eq!(review(&case(&p, 5_000_000, &r)), None);
    p.review.as_mut().unwrap().passed = false;
    assert!(review(&case(&p, 5_000_000, &r)).is_some());
    let mut heard = clean();
    heard.hearing_held_on = Some(day("2026-03-10"));
    assert!(review_required(&case(&heard, 0, &r)));
}

#[test]
fn ninety_days_from_filing_the_day_inside_and_the_day_outside() {
    let r = rules();
    let mut p = clean();
    p.filed_on = Some(day("2025-12-16")); // 90 days before 2026-03-16
    assert_eq!(time_limit(&case(&p, 500_000, &r)), None);
    p.filed_on = Some(day("2025-12-15")); // 91 days
    assert_eq!(
        time_limit(&case(&p, 500_000, &r)).unwrap().rule,
        "procedure.art60_time_limit"
    );
    p.extension_basis = "经负责人批准延长三十日".into();
    assert_eq!(time_limit(&case(&p, 500_000, &r)), None);
}

#[test]
fn filing_two_years_after_the_violation_is_in_time_a_day_later_is_not() {
    let r = rules();
    let mut p = clean();
    p.violation_on = Some(day("2024-01-10"));
    assert_eq!(limitation(&case(&p, 500_000, &r)), None);
    p.violation_on = Some(day("2024-01-09"));
    assert_eq!(
        limitation(&case(&p, 500_000, &r)).unwrap().rule,
        "procedure.art36_limitation"
    );
    p.serious_harm = true;
    assert_eq!(
        limitation(&case(&p, 500_000, &r)),
        None,
        "five years where safety was harmed"
    );
}

#[test]
fn service_within_seven_working_days_a_holiday_in_the_window_counts_out() {
    let r = rules();
    let mut p = clean();
    // Decided Monday 2026-03-16: seven working days end Wednesday 03-25.
    p.served_on = Some(day("2026-03-25"));
    let weekends = WorkCalendar::default();
    assert_eq!(service(&case(&p, 500_000, &r), &weekends), None);
    p.served_on = Some(day("2026-03-26"));
    assert_eq!(
        service(&case(&p, 500_000, &r), &weekends).unwrap().rule,
        "procedure.art61_service"
    );
    // With a holiday on 03-18 the window runs one day longer.
    let holiday = WorkCalendar::new([day("2026-03-18")], []).unwrap();
    assert_eq!(service(&case(&p, 500_000, &r), &holiday), None);
    p.served_on = None;
    assert!(service(&case(&p, 500_000, &r), &weekends).is_some());
    p.party_present = true;
    assert_eq!(
        service(&case(&p, 500_000, &r), &weekends),
        None,
        "handed over on the spot"
    );
}

#[test]
fn a_fine_on_a_listed_first_offence_is_flagged_for_review() {
    let (p, r) = (clean(), rules());
    let listed = r.exemption("330106", "FSL-125-2", day("2026-03-16"));
    let c = case(&p, 100_000, &r);
    assert_eq!(
        first_offence(&c, listed, 0).unwrap().rule,
        "procedure.art33_first_offence"
    );
    assert_eq!(first_offence(&c, listed, 1), None, "not a first offence");
    assert_eq!(first_offence(&case(&p, 0, &r), listed, 0), None, "no fine");
    assert_eq!(first_offence(&c, None, 0), None, "not on the list");
}
