//! 执法监督: the procedure of each penalty decision, checked as it arrives against the
//! 行政处罚法 (2021) — the checks of [`crate::domain::procedure::checks`] — each failure an
//! alert to the coordinators of the deciding agency's division, with the evidence; and a row
//! for 案卷评查 (whether the record was there, complete, and passed every check).

use super::{coordinators, day_of};
use crate::domain::inspection::checks::certificate_problem;
use crate::domain::procedure::checks::{self, Case, Finding};
use crate::domain::{Alert, AlertKind, CaseOutcome, Envelope, Policy, SubjectId};
use crate::store::{AlertWrite, OutcomeEntry, ProcedureRow, StoreError, View, WriteSet};

/// Checks a penalty decision's procedure; adds the alerts and the 案卷评查 row to `writes`.
/// `history` is the party's outcomes for the offence before this one.
pub(crate) fn check(
    view: &impl View,
    envelope: &Envelope,
    outcome: &CaseOutcome,
    history: &[OutcomeEntry],
    policy: &Policy,
    writes: &mut WriteSet,
) -> Result<(), StoreError> {
    let decided_on = day_of(outcome.decided_at);
    let mut row = ProcedureRow {
        agency: envelope.producer.clone(),
        month: decided_on.year() as u32 * 100 + decided_on.month() as u32,
        recorded: false,
        complete: false,
        passing: false,
    };
    let Some(procedure) = &outcome.procedure else {
        // Older clients send none: reported as not recorded, never guessed at.
        writes.procedure = Some(row);
        return Ok(());
    };
    let division = outcome.division.as_str();
    let case = Case {
        procedure,
        fine_fen: outcome.fine_fen,
        decided_on,
        person: matches!(outcome.subject.id, SubjectId::Person(_)),
        province: policy.procedure.province(division),
    };
    let mut invalid = Vec::new();
    for number in &procedure.officers {
        let known = view.certificate(number.as_str())?;
        if let Some(why) = certificate_problem(known.as_ref(), &envelope.producer, decided_on) {
            invalid.push((number.to_string(), why));
        }
    }
    let prior = history
        .iter()
        .filter(|o| o.penalty && o.decided_at < outcome.decided_at)
        .count();
    let exemption = policy
        .procedure
        .exemption(division, outcome.offence_code.as_str(), decided_on);
    let mut findings = checks::officers(&case, &invalid);
    findings.extend(checks::notice(&case));
    findings.extend(checks::hearing(&case));
    findings.extend(checks::review(&case));
    findings.extend(checks::time_limit(&case));
    findings.extend(checks::limitation(&case));
    findings.extend(checks::first_offence(&case, exemption, prior));
    findings.extend(checks::service(&case, &policy.calendar));
    row.recorded = true;
    row.complete = checks::complete(&case);
    row.passing = row.complete && findings.is_empty();
    let agency_division = policy
        .registry
        .get(&envelope.producer)
        .map_or_else(|| outcome.division.clone(), |a| a.division.clone());
    let to = coordinators(policy, &agency_division);
    for finding in findings {
        writes.alerts.push(AlertWrite {
            alert: alert(envelope, outcome, &finding),
            to: to.clone(),
        });
    }
    writes.procedure = Some(row);
    Ok(())
}

/// The alert for one failed check: the rule, the article, what the decision did, and the case.
fn alert(envelope: &Envelope, outcome: &CaseOutcome, finding: &Finding) -> Alert {
    Alert {
        id: 0,
        kind: AlertKind::ProcedureIrregular,
        raised_at: jiff::Timestamp::UNIX_EPOCH,
        rule_id: finding.rule.to_owned(),
        title: finding.title.to_owned(),
        citation: finding.citation.clone(),
        facts: [("fine_fen".to_owned(), outcome.fine_fen)].into(),
        subject: Some(outcome.subject.clone()),
        division: Some(outcome.division.clone()),
        events: vec![envelope.key()],
        referral: None,
        late: None,
        due: None,
        detail: format!("{}（案号 {}）", finding.detail, outcome.case_number),
        parties: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Fake, policy, sample_lead};
    use crate::domain::inspection::CertificateNumber;
    use crate::domain::procedure::Procedure;
    use crate::domain::{
        AgencyId, CaseOutcome, Decision, DivisionCode, Domain, EventId, OffenceCode, Payload,
        Sensitivity,
    };

    fn outcome(id: &str, procedure: Option<Procedure>) -> crate::domain::Envelope {
        let mut envelope = sample_lead();
        envelope.event_id = EventId::parse(id).unwrap();
        envelope.producer = AgencyId::parse("330106-SCJG").unwrap();
        let subject = match &envelope.payload {
            Payload::Lead(lead) => lead.subject.clone(),
            _ => unreachable!("a lead"),
        };
        envelope.payload = Payload::CaseOutcome(CaseOutcome {
            case_number: format!("杭西市监罚〔2026〕{id}号"),
            subject,
            division: DivisionCode::parse("330106").unwrap(),
            domain: Domain::MarketRegulation,
            offence_code: OffenceCode::parse("FSL-125-2").unwrap(),
            decision: Decision::Penalty,
            fine_fen: 100_000,
            confiscated_fen: 0,
            facts: Default::default(),
            decided_at: "2026-11-27T02:00:00Z".parse().unwrap(),
            lead: None,
            legal_basis: String::new(),
            sensitivity: Sensitivity::Internal,
            severity: None,
            procedure: procedure.map(Box::new),
            historic: false,
        });
        envelope
    }

    #[test]
    fn without_a_record_nothing_is_guessed_and_the_row_says_not_recorded() {
        let mut fake = Fake::default();
        let incoming = fake.incoming(outcome("o1", None));
        fake.apply(&incoming, &policy());
        assert!(fake.alerts.is_empty());
        let row = &fake.procedure_rows[0];
        assert_eq!(
            (row.recorded, row.complete, row.passing, row.month),
            (false, false, false, 202611)
        );
    }

    #[test]
    fn faults_alert_the_coordinators_of_the_agencys_division_with_the_case() {
        let mut fake = Fake::default();
        let procedure = Procedure {
            filed_on: Some("2026-11-01".parse().unwrap()),
            violation_on: Some("2026-10-20".parse().unwrap()),
            officers: vec![CertificateNumber::parse("ZJ-0001").unwrap()],
            notified_on: Some("2026-11-20".parse().unwrap()),
            party_present: true,
            ..Procedure::default()
        };
        let incoming = fake.incoming(outcome("o1", Some(procedure)));
        fake.apply(&incoming, &policy());
        let rules: Vec<&str> = fake
            .alerts
            .iter()
            .map(|(a, _)| a.rule_id.as_str())
            .collect();
        // One officer, and that one unknown; and a fine on a first offence on the list.
        assert_eq!(
            rules,
            [
                "procedure.art42_officers",
                "procedure.art42_certificate",
                "procedure.art33_first_offence"
            ]
        );
        let (alert, to) = &fake.alerts[0];
        assert_eq!(to, &[AgencyId::parse("330100-SFJ").unwrap()]);
        assert!(
            alert.detail.ends_with("（案号 杭西市监罚〔2026〕o1号）"),
            "{}",
            alert.detail
        );
        let row = &fake.procedure_rows[0];
        assert_eq!(
            (row.recorded, row.complete, row.passing),
            (true, true, false)
        );
    }
}
