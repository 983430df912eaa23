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
            case_number: None,
        }),
        ..WriteSet::default()
    }))
}
