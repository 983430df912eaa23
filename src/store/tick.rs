//! Time-driven alerts: statutory deadlines that ran out and 以罚代刑 watches whose grace period
//! ended without a referral. The router calls [`Store::fire_due`] on every tick of its clock.
//!
//! Each deadline fires once: its row leaves the `deadlines` index in the same transaction that
//! raises the alert and marks the referral overdue, and a later step starts a new deadline.

use jiff::Timestamp;

use super::apply::{coordinators, nearest};
use super::outcomes::case_key;
use super::referrals::{ReferralRecord, deadline_key};
use super::{Store, StoreError, Watch, decode};
use crate::domain::{AgencyKind, Alert, AlertKind, Policy};

/// What a tick raised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fired {
    /// The alerts, in the order raised.
    pub alerts: Vec<Alert>,
}

/// A key and its value.
type Row = (Vec<u8>, Vec<u8>);

/// Every row of `tree` whose key is below `bound`.
fn due_rows(tree: &sled::Tree, bound: &[u8]) -> Result<Vec<Row>, StoreError> {
    tree.range(..bound)
        .map(|entry| {
            entry
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(StoreError::sled("read"))
        })
        .collect()
}

impl Store {
    /// Raises the alerts due by `now`: overdue referral steps and 以罚代刑 watches.
    pub async fn fire_due(&self, policy: &Policy, now: Timestamp) -> Result<Fired, StoreError> {
        let _guard = self.apply_lock.lock().await;
        // Keys are (due µs, …): everything strictly below (now + 1 µs, nothing) is due.
        let bound = ((now.as_microsecond() + 1).max(0) as u64).to_be_bytes();
        let deadlines = due_rows(&self.trees.deadlines, &bound)?;
        let watches = due_rows(&self.trees.watches, &bound)?;
        if deadlines.is_empty() && watches.is_empty() {
            return Ok(Fired::default());
        }
        let fired = self.transact(|tx| {
            let mut alerts = Vec::new();
            for (row_key, _) in &deadlines {
                tx.deadlines.remove(row_key.as_slice())?;
                let referral_key = String::from_utf8_lossy(&row_key[8..]).into_owned();
                let Some(mut record) = tx.read::<ReferralRecord>(tx.referrals, "referrals", referral_key.as_bytes())? else {
                    continue;
                };
                let Some(deadline) = record.deadline.as_mut().filter(|d| !d.overdue && d.due <= now) else {
                    continue;
                };
                if deadline_key(deadline.due, &record.key) != *row_key {
                    continue;
                }
                deadline.overdue = true;
                let deadline = deadline.clone();
                tx.write(tx.referrals, referral_key.as_bytes(), &record)?;
                let division = &record.referral.division;
                let mut to = vec![deadline.late.clone()];
                to.extend(nearest(policy, division, AgencyKind::Procuratorate));
                to.extend(coordinators(policy, division));
                let alert = Alert {
                    id: 0,
                    kind: AlertKind::Overdue,
                    raised_at: now,
                    rule_id: deadline.step.clone(),
                    title: format!("{:?} did not act within {} ({:?})", deadline.party, deadline.limit, record.state),
                    citation: deadline.citation.clone(),
                    facts: Default::default(),
                    subject: Some(record.referral.subject.clone()),
                    division: Some(division.clone()),
                    events: Vec::new(),
                    referral: Some(record.key.clone()),
                    late: Some(deadline.late.clone()),
                    due: Some(deadline.due),
                    detail: format!("started {}, due {}", deadline.started, deadline.due),
                };
                alerts.push(tx.raise(alert, &to.iter().collect::<Vec<_>>(), now)?);
            }
            for (row_key, raw) in &watches {
                tx.watches.remove(row_key.as_slice())?;
                let watch: Watch = decode("watches", raw).map_err(super::tx::corrupt)?;
                let referred = tx
                    .referral_cases
                    .get(case_key(&watch.outcome.producer, &watch.case_number))?
                    .is_some();
                let Some(stored) = tx.read::<super::StoredEvent>(tx.events, "events", &watch.seq.to_be_bytes())? else {
                    continue;
                };
                if referred {
                    continue;
                }
                let Some(division) = stored.envelope.division().cloned() else {
                    continue;
                };
                for hit in &watch.hits {
                    let mut alert = super::apply::hit_alert(
                        AlertKind::PenaltyInsteadOfReferral,
                        hit,
                        &stored.envelope,
                        vec![watch.outcome.clone()],
                    );
                    alert.due = Some(watch.due);
                    alert.detail = format!(
                        "case {} was penalised and meets the threshold, but no referral was recorded by {}",
                        watch.case_number, watch.due
                    );
                    let to = nearest(policy, &division, AgencyKind::Procuratorate);
                    alerts.push(tx.raise(alert, &to.iter().collect::<Vec<_>>(), now)?);
                }
            }
            let last = tx.last_seq()?;
            Ok((alerts, last))
        })?;
        let (alerts, last) = fired;
        self.flush().await?;
        self.mark_durable(last);
        Ok(Fired { alerts })
    }

    /// The alert with this id.
    pub fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        self.trees
            .alerts
            .get(id.to_be_bytes())
            .map_err(StoreError::sled("read"))?
            .map(|raw| decode("alerts", &raw))
            .transpose()
    }
}
