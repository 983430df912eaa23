//! Referrals: opening one from a transfer report (Decree 310 Art. 5), and moving it one step by
//! the state machine of [`crate::domain::referral`], starting the deadline of its new state. A
//! report for a referral that exists, or a step the current state does not allow (another step
//! may have come first since the gateway checked), is refused: nothing changes.

use super::nearest;
use crate::domain::referral::{Referral, ReferralRecord, ReferralUpdate, Step};
use crate::domain::{Action, AgencyId, AgencyKind, DeliveryReason, Policy, ReferralKey, State};
use crate::store::{EventWrite, Incoming, ReferralWrite, StoreError, View, WriteSet};

/// The writes of a transfer report, or why it is refused.
pub fn open(
    view: &impl View,
    incoming: &Incoming,
    report: &Referral,
    policy: &Policy,
) -> Result<Result<WriteSet, String>, StoreError> {
    let envelope = &incoming.envelope;
    let key = ReferralKey {
        agency: envelope.producer.clone(),
        id: report.referral_id.clone(),
    };
    if view.referral(&key)?.is_some() {
        return Ok(Err(format!("referral {key} already exists")));
    }
    if !policy
        .registry
        .get(&report.police)
        .is_some_and(|p| p.kind == AgencyKind::Police)
    {
        return Ok(Err(format!(
            "{} is not a registered police agency",
            report.police
        )));
    }
    let mut record = ReferralRecord {
        key,
        referral: report.clone(),
        reported_at: incoming.logged_at,
        state: State::Reported,
        police: report.police.clone(),
        goods_handed_over: false,
        history: Vec::new(),
        deadline: None,
    };
    record.start_deadline(incoming.logged_at, &policy.registry, &policy.calendar);
    let recipients = nearest(policy, &report.division, AgencyKind::Procuratorate)
        .into_iter()
        .map(|p| (p, DeliveryReason::Referral))
        .collect();
    Ok(Ok(WriteSet {
        event: Some(EventWrite {
            recipients,
            timeline: None,
        }),
        referral: Some(ReferralWrite {
            record,
            previous_due: None,
            previous: None,
            case_number: Some(report.case_number.clone()),
        }),
        ..WriteSet::default()
    }))
}

/// The writes of one step, or why it is refused.
pub fn step(
    view: &impl View,
    incoming: &Incoming,
    update: &ReferralUpdate,
    policy: &Policy,
) -> Result<Result<WriteSet, String>, StoreError> {
    let actor = &incoming.envelope.producer;
    let Some(mut record) = view.referral(&update.referral)? else {
        return Ok(Err(format!("no referral {}", update.referral)));
    };
    let transition = match record.check(actor, update, &policy.registry) {
        Ok(t) => t,
        Err(refusal) => return Ok(Err(refusal.to_string())),
    };
    let previous_due = record
        .deadline
        .as_ref()
        .filter(|d| !d.overdue)
        .map(|d| d.due);
    let overdue = record.deadline.as_ref().is_some_and(|d| d.overdue);
    let previous = Some((record.state, overdue));
    record.state = transition.to;
    match update.action {
        Action::Forward => {
            if let Some(to) = &update.forward_to {
                record.police = to.clone();
            }
        }
        Action::HandOverGoods => record.goods_handed_over = true,
        _ => {}
    }
    record.history.push(Step {
        action: update.action,
        actor: actor.clone(),
        at: incoming.logged_at,
        to: record.state,
        reason: update.reason.clone(),
    });
    record.start_deadline(incoming.logged_at, &policy.registry, &policy.calendar);
    let recipients: Vec<(AgencyId, DeliveryReason)> = record
        .parties(&policy.registry)
        .into_iter()
        .filter(|p| p != actor)
        .map(|p| (p, DeliveryReason::Referral))
        .collect();
    Ok(Ok(WriteSet {
        event: Some(EventWrite {
            recipients,
            timeline: Some(record.referral.subject.key()),
        }),
        referral: Some(ReferralWrite {
            record,
            previous_due,
            previous,
            case_number: None,
        }),
        ..WriteSet::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Fake, policy, sample_lead};
    use super::*;
    use crate::domain::{DivisionCode, EventId, OffenceCode, Payload};
    use crate::store::Decision;

    fn agency(id: &str) -> AgencyId {
        AgencyId::parse(id).unwrap()
    }

    fn report(police: &str) -> crate::domain::Envelope {
        let mut envelope = sample_lead();
        envelope.event_id = EventId::parse("r-1").unwrap();
        envelope.payload = Payload::Referral(Referral {
            referral_id: EventId::parse("r-1").unwrap(),
            police: agency(police),
            case_number: "杭西市监案〔2026〕1号".into(),
            subject: sample_lead().subject().unwrap().clone(),
            division: DivisionCode::parse("330106").unwrap(),
            domain: crate::domain::Domain::MarketRegulation,
            offence_code: OffenceCode::parse("CL-140").unwrap(),
            summary: "涉嫌犯罪".into(),
            facts: Default::default(),
            documents: vec![],
        });
        envelope
    }

    fn step(actor: &str, id: &str, action: Action) -> crate::domain::Envelope {
        let mut envelope = sample_lead();
        envelope.event_id = EventId::parse(id).unwrap();
        envelope.producer = agency(actor);
        envelope.payload = Payload::ReferralUpdate(ReferralUpdate {
            referral: ReferralKey {
                agency: agency("330106-SCJG"),
                id: EventId::parse("r-1").unwrap(),
            },
            action,
            reason: "理由".into(),
            forward_to: None,
        });
        envelope
    }

    #[test]
    fn a_report_opens_a_referral_with_its_first_deadline_and_tells_the_procuratorate() {
        let (mut fake, policy) = (Fake::default(), policy());
        let incoming = fake.incoming(report("330106-GA"));
        let Decision::Apply(writes) = super::super::decide(&fake, &incoming, &policy)
            .unwrap()
            .decision
        else {
            panic!("refused")
        };
        let event = writes.event.unwrap();
        assert_eq!(event.recipients[0].0.as_str(), "330106-JCY");
        let write = writes.referral.unwrap();
        assert_eq!(write.record.state, State::Reported);
        assert!(write.record.deadline.is_some());
        assert_eq!(write.case_number.as_deref(), Some("杭西市监案〔2026〕1号"));
    }

    #[test]
    fn a_report_to_no_police_or_twice_is_refused() {
        let (mut fake, policy) = (Fake::default(), policy());
        let not_police = fake.incoming(report("330106-JCY"));
        assert!(matches!(
            super::super::decide(&fake, &not_police, &policy).unwrap().decision,
            Decision::Refused(reason) if reason.contains("not a registered police")
        ));
        let first = fake.incoming(report("330106-GA"));
        fake.apply(&first, &policy);
        let mut again = report("330106-GA");
        again.event_id = EventId::parse("r-1-again").unwrap();
        let again = fake.incoming(again);
        assert!(matches!(
            super::super::decide(&fake, &again, &policy).unwrap().decision,
            Decision::Refused(reason) if reason.contains("already exists")
        ));
    }

    #[test]
    fn a_step_moves_the_referral_and_a_step_no_longer_allowed_is_refused() {
        let (mut fake, policy) = (Fake::default(), policy());
        let opened = fake.incoming(report("330106-GA"));
        fake.apply(&opened, &policy);
        let approve = fake.incoming(step("330106-SCJG", "s-1", Action::Approve));
        let (_, seq) = fake.apply(&approve, &policy);
        assert!(seq.is_some());
        let key = ReferralKey {
            agency: agency("330106-SCJG"),
            id: EventId::parse("r-1").unwrap(),
        };
        let record = fake.referral_record(&key).unwrap();
        assert_eq!(record.state, State::Approved);
        assert_eq!(record.history.len(), 1);
        // Approving twice: the state machine no longer allows it.
        let twice = fake.incoming(step("330106-SCJG", "s-2", Action::Approve));
        assert!(matches!(
            super::super::decide(&fake, &twice, &policy)
                .unwrap()
                .decision,
            Decision::Refused(_)
        ));
        // The police are not a party before the transfer.
        let police = fake.incoming(step("330106-GA", "s-3", Action::Receive));
        assert!(matches!(
            super::super::decide(&fake, &police, &policy)
                .unwrap()
                .decision,
            Decision::Refused(_)
        ));
    }
}
