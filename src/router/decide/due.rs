//! What the clock decides: statutory deadlines that ran out, and 以罚代刑 watches whose grace
//! period ended without a referral of the case. The router asks on every tick.
//!
//! Each deadline fires once: its index row goes in the same write set that raises the alert and
//! marks the referral overdue, and a later step starts a new deadline. A watch goes when it
//! fires, or silently when the case was referred in time.

use jiff::Timestamp;

use super::{coordinators, hit_alert, nearest};
use crate::domain::{AgencyKind, Alert, AlertKind, Policy};
use crate::store::{AlertWrite, ReferralWrite, StoreError, View, WriteSet};

/// The write sets of everything due by `now`, deadlines first.
pub fn due(view: &impl View, policy: &Policy, now: Timestamp) -> Result<Vec<WriteSet>, StoreError> {
    let mut out = Vec::new();
    for (due, key) in view.due_deadlines(now)? {
        let mut writes = WriteSet {
            expired_deadline: Some((due, key.clone())),
            ..WriteSet::default()
        };
        let record = view.referral(&key)?;
        let running = record.as_ref().and_then(|r| {
            r.deadline
                .as_ref()
                .filter(|d| !d.overdue && d.due <= now && d.due == due)
        });
        if let (Some(mut record), Some(_)) = (record.clone(), running) {
            let Some(deadline) = record.deadline.as_mut() else {
                continue;
            };
            deadline.overdue = true;
            let deadline = deadline.clone();
            let division = &record.referral.division;
            let mut to = vec![deadline.late.clone()];
            to.extend(nearest(policy, division, AgencyKind::Procuratorate));
            to.extend(coordinators(policy, division));
            let alert = Alert {
                id: 0,
                kind: AlertKind::Overdue,
                raised_at: now,
                rule_id: deadline.step.clone(),
                title: format!(
                    "{:?} did not act within {} ({:?})",
                    deadline.party, deadline.limit, record.state
                ),
                citation: deadline.citation.clone(),
                facts: Default::default(),
                subject: Some(record.referral.subject.clone()),
                division: Some(division.clone()),
                events: Vec::new(),
                referral: Some(record.key.clone()),
                late: Some(deadline.late.clone()),
                due: Some(deadline.due),
                detail: format!("started {}, due {}", deadline.started, deadline.due),
                parties: record.parties(&policy.registry),
            };
            writes.alerts.push(AlertWrite { alert, to });
            writes.referral = Some(ReferralWrite {
                record,
                previous_due: None,
                case_number: None,
            });
        }
        out.push(writes);
    }
    for watch in view.due_watches(now)? {
        let mut writes = WriteSet {
            expired_watch: Some((watch.due, watch.outcome.clone())),
            ..WriteSet::default()
        };
        let referred = view.case_referred(&watch.outcome.producer, &watch.case_number)?;
        let stored = view.event(watch.seq)?;
        if let (false, Some(stored)) = (referred, stored)
            && let Some(division) = stored.envelope.division().cloned()
        {
            for hit in &watch.hits {
                let mut alert = hit_alert(
                    AlertKind::PenaltyInsteadOfReferral,
                    hit,
                    &stored.envelope,
                    vec![watch.outcome.clone()],
                );
                alert.due = Some(watch.due);
                alert.parties = stored.delivered_to.clone();
                alert.parties.push(stored.envelope.producer.clone());
                alert.detail = format!(
                    "case {} was penalised and meets the threshold, but no referral was recorded by {}",
                    watch.case_number, watch.due
                );
                writes.alerts.push(AlertWrite {
                    alert,
                    to: nearest(policy, &division, AgencyKind::Procuratorate),
                });
            }
        }
        out.push(writes);
    }
    Ok(out)
}
