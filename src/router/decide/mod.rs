//! The router's decisions, as pure functions: from a [`View`] of the store (the batch's own
//! earlier writes included), the record, the policy (registry, rules, calendar, windows) and the
//! clock, each computes a typed [`WriteSet`] — deliveries, index entries, state moves, alerts —
//! that the store then applies without knowing why. Every rule of the broker lives here:
//!
//! - [`lead`]: routing a lead to the responsible agencies; 追诉预警 against the thresholds;
//! - [`outcome`]: closing the lead an outcome answers and feeding back to its producer; the
//!   以罚代刑 watch, 多头受罚, 化整为零, discretion bands, 双公示 timeliness;
//! - `procedure`: 执法监督 — each penalty decision's procedure against the 行政处罚法 (2021);
//! - [`referral`]: opening a referral and moving it by the Decree 310 state machine;
//! - [`inspection`]: 涉企行政检查 — certificates, plans and records checked against the published
//!   items, certificates, territory, caps and repeats; joint inspections proposed;
//! - [`due`]: what the clock decides — deadlines missed, watches whose grace period ended.
//!
//! A record applied before gives [`Decision::Duplicate`] (or [`Decision::Conflict`] if its
//! content differs): replaying the log changes nothing.

mod checks;
pub mod due;
pub mod inspection;
pub mod lead;
pub mod outcome;
mod procedure;
pub mod referral;
mod tally;

#[cfg(test)]
pub(crate) mod fake;

use jiff::Timestamp;

use crate::domain::calendar::CHINA;
use crate::domain::rules::Hit;
use crate::domain::{
    AgencyId, AgencyKind, Alert, AlertKind, DivisionCode, Envelope, EventKey, LeadStatus, Payload,
    Policy,
};
use crate::store::{Decision, Incoming, StoreError, View, WriteSet};

/// A decision, with what the router logs about it.
#[derive(Debug)]
pub struct Decided {
    /// What to write.
    pub decision: Decision,
    /// For a lead: where it stands after routing.
    pub lead_status: Option<LeadStatus>,
    /// For an outcome naming a lead: whether that lead was found.
    pub lead_found: Option<bool>,
}

impl From<Decision> for Decided {
    fn from(decision: Decision) -> Self {
        Self {
            decision,
            lead_status: None,
            lead_found: None,
        }
    }
}

/// Decides what applying `incoming` writes.
pub fn decide(
    view: &impl View,
    incoming: &Incoming,
    policy: &Policy,
) -> Result<Decided, StoreError> {
    let envelope = &incoming.envelope;
    if let Some(applied) = view.applied(&envelope.key())? {
        return Ok(if applied.content_hash == incoming.bytes.content_hash {
            Decision::Duplicate
        } else {
            Decision::Conflict
        }
        .into());
    }
    let mut decided = Decided::from(Decision::Duplicate);
    // Referral and inspection decisions may refuse the event (recorded in the audit chain).
    let decided_writes: Result<WriteSet, String> = match &envelope.payload {
        Payload::Lead(lead) => {
            let (writes, status) = lead::decide(view, envelope, lead, policy)?;
            decided.lead_status = Some(status);
            Ok(writes)
        }
        Payload::CaseOutcome(outcome) => {
            let (writes, found) = outcome::decide(view, incoming, outcome, policy)?;
            decided.lead_found = found;
            Ok(writes)
        }
        Payload::Referral(report) => referral::open(view, incoming, report, policy)?,
        Payload::ReferralUpdate(update) => referral::step(view, incoming, update, policy)?,
        Payload::Certificate(c) => inspection::certificate(view, envelope, c, policy)?,
        Payload::InspectionPlan(p) => inspection::plan(view, incoming, p, policy)?,
        Payload::InspectionRecord(r) => inspection::record(view, envelope, r, policy)?,
        Payload::InspectionCancel(c) => inspection::cancel(view, envelope, c)?,
        Payload::JointAnswer(a) => inspection::answer(view, envelope, a, policy)?,
    };
    let writes = match decided_writes {
        Ok(writes) => writes,
        Err(reason) => return Ok(Decision::Refused(reason).into()),
    };
    let mut writes = finish(envelope, writes);
    writes.tallies = tally::of_event(incoming, &writes, policy);
    decided.decision = Decision::Apply(Box::new(writes));
    Ok(decided)
}

/// What every applied event shares: its place on its subject's timeline, and who may see the
/// personal data of the alerts it set off — the parties to the events they are about.
fn finish(envelope: &Envelope, mut writes: WriteSet) -> WriteSet {
    let event = writes.event.get_or_insert_with(Default::default);
    if event.timeline.is_none() {
        event.timeline = envelope.subject().map(|s| s.key());
    }
    let recipients: Vec<AgencyId> = event.recipients.iter().map(|(a, _)| a.clone()).collect();
    for write in &mut writes.alerts {
        let alert = &mut write.alert;
        alert.parties.push(envelope.producer.clone());
        alert.parties.extend(recipients.iter().cloned());
        alert
            .parties
            .extend(alert.events.iter().map(|k| k.producer.clone()));
        alert.parties.sort();
        alert.parties.dedup();
    }
    writes
}

/// The agencies of `kind` nearest `division`, as owned ids.
pub(crate) fn nearest(policy: &Policy, division: &DivisionCode, kind: AgencyKind) -> Vec<AgencyId> {
    policy
        .registry
        .nearest_of_kind(division, kind)
        .into_iter()
        .map(|a| a.id.clone())
        .collect()
}

/// The coordinators whose jurisdiction covers `division`, at every level.
pub(crate) fn coordinators(policy: &Policy, division: &DivisionCode) -> Vec<AgencyId> {
    policy
        .registry
        .covering_of_kind(division, AgencyKind::Coordinator)
        .into_iter()
        .map(|a| a.id.clone())
        .collect()
}

/// An instant as China-time minutes, for alert texts.
pub(crate) fn cst(at: Timestamp) -> String {
    CHINA.to_datetime(at).strftime("%Y-%m-%d %H:%M").to_string()
}

/// The China Standard Time date of an instant: the day rules are in force on.
pub(crate) fn day_of(at: Timestamp) -> jiff::civil::Date {
    CHINA.to_datetime(at).date()
}

/// An alert about one event, with the rule hit that raised it (id and time are the store's).
pub(crate) fn hit_alert(
    kind: AlertKind,
    hit: &Hit,
    envelope: &Envelope,
    events: Vec<EventKey>,
) -> Alert {
    Alert {
        id: 0,
        kind,
        raised_at: Timestamp::UNIX_EPOCH,
        rule_id: hit.rule_id.clone(),
        title: hit.title.clone(),
        citation: hit.citation.clone(),
        facts: hit.facts.clone(),
        subject: envelope.subject().cloned(),
        division: envelope.division().cloned(),
        events,
        referral: None,
        late: None,
        due: None,
        detail: String::new(),
        parties: Vec::new(),
    }
}
