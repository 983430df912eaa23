//! A lead: route it to the agencies responsible for its domain and division (or only to those
//! the publisher named, under NO_ONWARD_SHARING; to the coordinators when nobody is
//! responsible), keep its row for the lead lists, and check its facts against the prosecution
//! thresholds in force when the conduct was seen (追诉预警), alerting its producer and the
//! nearest police.

use jiff::Timestamp;

use super::{day_of, hit_alert, nearest};
use crate::domain::rules::Context;
use crate::domain::{
    AgencyKind, AlertKind, Envelope, Handling, Lead, LeadStatus, Policy, SubjectId,
};
use crate::store::{
    AlertWrite, EventWrite, LeadEntry, LeadWrite, OutcomeEntry, StoreError, View, WriteSet,
};

/// Penalties among `history` decided within `months` (of 30 days) before `at`: what repeat
/// rules ("≥ 2 penalties in 2 years then again") count.
pub(crate) fn prior_penalties(history: &[OutcomeEntry], at: Timestamp, months: u32) -> i64 {
    let window = jiff::SignedDuration::from_hours(24 * 30 * i64::from(months));
    history
        .iter()
        .filter(|o| o.penalty && o.decided_at <= at && at.duration_since(o.decided_at) <= window)
        .count() as i64
}

/// The writes of a lead, and where it stands after routing.
pub fn decide(
    view: &impl View,
    envelope: &Envelope,
    lead: &Lead,
    policy: &Policy,
) -> Result<(WriteSet, LeadStatus), StoreError> {
    let only_targets = envelope.handling == Handling::NoOnwardSharing;
    let routing = policy
        .registry
        .route_lead(&envelope.producer, lead, only_targets);
    let status = if routing.assigned {
        LeadStatus::Open
    } else {
        LeadStatus::Unassigned
    };
    let history = view.outcomes(&lead.subject.key(), &lead.offence_code)?;
    let prior = |months| prior_penalties(&history, envelope.produced_at, months);
    let ctx = Context {
        facts: &lead.facts,
        division: &lead.division,
        person: matches!(lead.subject.id, SubjectId::Person(_)),
        prior_penalties: &prior,
    };
    let day = day_of(lead.observed_at.unwrap_or(envelope.produced_at));
    let alerts = policy
        .thresholds
        .hits(&lead.offence_code, day, &ctx)
        .iter()
        .map(|hit| {
            let mut to = vec![envelope.producer.clone()];
            to.extend(nearest(policy, &lead.division, AgencyKind::Police));
            AlertWrite {
                alert: hit_alert(
                    AlertKind::PossibleCrime,
                    hit,
                    envelope,
                    vec![envelope.key()],
                ),
                to,
            }
        })
        .collect();
    let writes = WriteSet {
        event: Some(EventWrite {
            recipients: routing.recipients,
            timeline: None,
        }),
        lead: Some(LeadWrite::Open {
            division: lead.division.clone(),
            entry: LeadEntry {
                status,
                domain: lead.domain,
                produced_at: envelope.produced_at,
                closed_by: None,
            },
        }),
        alerts,
        ..WriteSet::default()
    };
    Ok((writes, status))
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Fake, policy, sample_lead};
    use super::*;
    use crate::domain::{DeliveryReason, Payload};
    use crate::store::Decision;

    fn lead_of(envelope: &Envelope) -> &Lead {
        let Payload::Lead(lead) = &envelope.payload else {
            unreachable!("a lead")
        };
        lead
    }

    #[test]
    fn a_lead_goes_to_the_responsible_agency_and_keeps_an_open_row() {
        let envelope = sample_lead();
        let (writes, status) =
            decide(&Fake::default(), &envelope, lead_of(&envelope), &policy()).unwrap();
        assert_eq!(status, LeadStatus::Open);
        let recipients = writes.event.unwrap().recipients;
        assert_eq!(recipients.len(), 1);
        assert_eq!(recipients[0].0.as_str(), "330100-STHJ");
        assert_eq!(recipients[0].1, DeliveryReason::ResponsibleAgency);
        assert!(matches!(
            writes.lead,
            Some(LeadWrite::Open { entry, .. }) if entry.status == LeadStatus::Open
        ));
    }

    #[test]
    fn facts_over_a_threshold_alert_the_producer_and_the_police() {
        // 3.2 t of hazardous waste: 污染环境 (刑法第338条) from 3 t.
        let envelope = sample_lead();
        let (writes, _) =
            decide(&Fake::default(), &envelope, lead_of(&envelope), &policy()).unwrap();
        assert_eq!(writes.alerts.len(), 1);
        let alert = &writes.alerts[0];
        assert_eq!(alert.alert.kind, AlertKind::PossibleCrime);
        assert_eq!(alert.to[0], envelope.producer);
        assert!(
            alert.to.iter().any(|a| a.as_str() == "330106-GA"),
            "{:?}",
            alert.to
        );
    }

    #[test]
    fn a_lead_nobody_answers_for_goes_to_the_coordinators_unassigned() {
        let mut envelope = sample_lead();
        if let Payload::Lead(lead) = &mut envelope.payload {
            lead.domain = crate::domain::Domain::EducationTraining;
        }
        let (writes, status) =
            decide(&Fake::default(), &envelope, lead_of(&envelope), &policy()).unwrap();
        assert_eq!(status, LeadStatus::Unassigned);
        let recipients = writes.event.unwrap().recipients;
        assert!(
            recipients
                .iter()
                .all(|(_, reason)| *reason == DeliveryReason::Unassigned),
            "{recipients:?}"
        );
    }

    #[test]
    fn a_lead_applied_before_is_a_duplicate_and_changed_content_a_conflict() {
        let mut fake = Fake::default();
        let incoming = fake.incoming(sample_lead());
        fake.apply(&incoming, &policy());
        assert!(matches!(
            super::super::decide(&fake, &incoming, &policy())
                .unwrap()
                .decision,
            Decision::Duplicate
        ));
        let mut changed = sample_lead();
        if let Payload::Lead(lead) = &mut changed.payload {
            lead.summary.push('。');
        }
        let changed = fake.incoming(changed);
        assert!(matches!(
            super::super::decide(&fake, &changed, &policy())
                .unwrap()
                .decision,
            Decision::Conflict
        ));
    }
}
