//! A case outcome: close the lead it answers (the first outcome wins) and feed back to the
//! lead's producer, index it for the subject's history and the penalty report, start a 以罚代刑
//! watch when a penalty's facts meet a prosecution threshold (if no referral of the case arrives
//! within the grace period, the procuratorate is alerted: [`super::due`]), and run the checks of
//! [`super::checks`] — 多头受罚, 化整为零, discretion bands, 双公示 — and, for a penalty, its
//! procedure (执法监督, `super::procedure`).

use jiff::Timestamp;

use super::checks::{check_disclosure, check_discretion, check_duplicates, check_split};
use super::lead::prior_penalties;
use super::{coordinators, day_of, hit_alert};
use crate::domain::rules::{Context, Hit};
use crate::domain::{
    AgencyId, Alert, AlertKind, CaseOutcome, Decision, DeliveryReason, EventKey, Facts, Payload,
    Policy, SubjectId,
};
use crate::store::{
    AlertWrite, EventWrite, Incoming, LeadWrite, NewWatch, OutcomeEntry, OutcomeRow, OutcomeWrite,
    StoreError, View, WriteSet,
};

/// The writes of an outcome, and whether the lead it names was found.
pub fn decide(
    view: &impl View,
    incoming: &Incoming,
    outcome: &CaseOutcome,
    policy: &Policy,
) -> Result<(WriteSet, Option<bool>), StoreError> {
    let envelope = &incoming.envelope;
    let mut writes = WriteSet::default();
    let mut recipients = Vec::new();
    let lead_found = match &outcome.lead {
        None => None,
        Some(lead_key) => match close_lead(view, lead_key, policy)? {
            None => {
                // It may still be on its way (another partition, a router behind): wait for
                // it, then tell the coordinators if it never came ([`super::due`]).
                writes.await_lead = Some((
                    incoming
                        .logged_at
                        .saturating_add(policy.windows.outcome_lead_wait)
                        .unwrap_or(Timestamp::MAX),
                    lead_key.clone(),
                ));
                Some(false)
            }
            Some(lead) if !lead.may_answer.contains(&envelope.producer) => {
                // Only an agency the lead went to may answer it; the gateway refuses the others
                // when it already knows the lead, so this is one that raced past it.
                writes.alerts.push(AlertWrite {
                    alert: non_recipient_alert(envelope, outcome, lead_key, &lead.may_answer),
                    to: coordinators(policy, &outcome.division),
                });
                Some(true)
            }
            Some(lead) => {
                writes.lead = lead.close;
                if lead.producer != envelope.producer {
                    recipients.push((lead.producer, DeliveryReason::LeadFeedback));
                }
                Some(true)
            }
        },
    };
    writes.event = Some(EventWrite {
        recipients,
        timeline: None,
    });
    let subject = outcome.subject.key();
    let history = view.outcomes(&subject, &outcome.offence_code)?;
    let penalty = outcome.decision == Decision::Penalty;
    // A past decision from a ledger (`xiezhi import`) joins the history and the reports, but
    // what it would set off was dealt with, or not, years ago: none of the checks below run.
    let mut discarded = Vec::new();
    let band_alerts = if outcome.historic {
        &mut discarded
    } else {
        &mut writes.alerts
    };
    let outside_band = check_discretion(envelope, outcome, policy, band_alerts);
    writes.outcome = Some(OutcomeWrite {
        subject: subject.clone(),
        offence: outcome.offence_code.clone(),
        row: OutcomeRow {
            agency: envelope.producer.clone(),
            division: outcome.division.clone(),
            penalty,
            fine_fen: outcome.fine_fen,
            decided_at: outcome.decided_at,
            outside_band,
        },
    });
    if outcome.historic {
        writes.await_lead = None;
        return Ok((writes, lead_found));
    }
    check_disclosure(incoming, outcome, policy, &mut writes.alerts);
    let prior = |months| prior_penalties(&history, outcome.decided_at, months);
    let ctx = Context {
        facts: &outcome.facts,
        division: &outcome.division,
        person: matches!(outcome.subject.id, SubjectId::Person(_)),
        prior_penalties: &prior,
    };
    let hits = policy
        .thresholds
        .hits(&outcome.offence_code, day_of(outcome.decided_at), &ctx);
    if penalty
        && !hits.is_empty()
        && !view.case_referred(&envelope.producer, &outcome.case_number)?
    {
        writes.watch = Some(NewWatch {
            case_number: outcome.case_number.clone(),
            hits: hits.clone(),
            due: incoming
                .logged_at
                .saturating_add(policy.windows.referral_grace)
                .unwrap_or(Timestamp::MAX),
        });
    }
    let earlier = Earlier::read(view, &history)?;
    if penalty {
        check_duplicates(envelope, outcome, &earlier, policy, &mut writes.alerts);
        super::procedure::check(view, envelope, outcome, &history, policy, &mut writes)?;
    }
    if hits.is_empty() {
        check_split(view, envelope, outcome, &earlier, policy, &mut writes)?;
    }
    Ok((writes, lead_found))
}

/// A lead an outcome names, as applied.
struct NamedLead {
    /// Who published it.
    producer: AgencyId,
    /// Who may answer it: the agencies it was delivered to.
    may_answer: Vec<AgencyId>,
    /// The write that closes it, unless an earlier outcome already did.
    close: Option<LeadWrite>,
}

/// The alert for an outcome from an agency the lead was not sent to.
fn non_recipient_alert(
    envelope: &crate::domain::Envelope,
    outcome: &CaseOutcome,
    lead: &EventKey,
    may_answer: &[AgencyId],
) -> Alert {
    let hit = Hit {
        rule_id: "outcome.answer_rights".into(),
        title: "非承办机关答复线索".into(),
        // A contract of this system, not a statute: who received a lead answers it.
        citation: "Xiezhi: only an agency a lead was delivered to answers it (docs/api.md)".into(),
        facts: Facts::new(),
    };
    let mut alert = hit_alert(
        AlertKind::AnswerByNonRecipient,
        &hit,
        envelope,
        vec![lead.clone(), envelope.key()],
    );
    alert.parties = may_answer.to_vec();
    alert.parties.push(envelope.producer.clone());
    alert.detail = format!(
        "{} 答复了线索 {lead}（案号 {}），该线索移交的是 {}；线索仍未办结",
        envelope.producer,
        outcome.case_number,
        AgencyId::list(may_answer)
    );
    alert
}

/// The lead `key` names, if it is a lead that was applied.
fn close_lead(
    view: &impl View,
    key: &EventKey,
    policy: &Policy,
) -> Result<Option<NamedLead>, StoreError> {
    let Some(applied) = view.applied(key)? else {
        return Ok(None);
    };
    let Some(stored) = view.event(applied.seq)? else {
        return Ok(None);
    };
    let (Some(may_answer), Some(division)) = (
        policy.registry.may_answer(&stored),
        stored.envelope.division(),
    ) else {
        return Ok(None);
    };
    let close = view
        .lead(division, applied.seq)?
        .filter(|entry| entry.status != crate::domain::LeadStatus::Closed)
        .map(|entry| LeadWrite::Close {
            division: division.clone(),
            seq: applied.seq,
            entry,
        });
    Ok(Some(NamedLead {
        producer: stored.envelope.producer,
        may_answer,
        close,
    }))
}

/// The subject's earlier outcomes for the offence, with what the checks read of each.
pub(super) struct Earlier(Vec<(OutcomeEntry, EventKey, Facts)>);

impl Earlier {
    fn read(view: &impl View, history: &[OutcomeEntry]) -> Result<Self, StoreError> {
        let mut out = Vec::with_capacity(history.len());
        for entry in history {
            let Some(event) = view.event(entry.seq)? else {
                continue;
            };
            let facts = match &event.envelope.payload {
                Payload::CaseOutcome(o) => o.facts.clone(),
                _ => Facts::new(),
            };
            out.push((*entry, event.envelope.key(), facts));
        }
        Ok(Self(out))
    }

    /// Those decided within `window` of `at`.
    pub(super) fn within(
        &self,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> impl Iterator<Item = &(OutcomeEntry, EventKey, Facts)> {
        self.0
            .iter()
            .filter(move |(o, _, _)| at.duration_since(o.decided_at).abs() <= window)
    }
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
