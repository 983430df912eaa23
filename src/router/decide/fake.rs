//! An in-memory [`View`] for the decide functions' unit tests: no sled, no batch. `apply` runs
//! a decision and keeps what the tests read back (events, leads, history, referrals, watches,
//! deadlines), numbering events and alerts as the store does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;

use super::{Decided, decide};
use crate::codec::log::EnvelopeBytes;
use crate::domain::inspection::{CertificateEntry, InspectionEntry, JointProposal, PlanKey};
use crate::domain::referral::ReferralRecord;
use crate::domain::{
    AgencyId, Alert, DivisionCode, Envelope, EventKey, LogPosition, OffenceCode, Policy,
    ReferralKey, StoredEvent, SubjectKey,
};
use crate::store::{
    Applied, AwaitedLead, Decision, Incoming, LeadEntry, LeadWrite, OutcomeEntry, StoreError, View,
    Watch, WriteSet,
};

/// What the default configuration loads: the sample registry of Hangzhou, the shipped rules,
/// the calendar and the alert windows.
pub(crate) fn policy() -> Policy {
    crate::config::Config::default().load_policy().unwrap()
}

pub(crate) use crate::domain::event::tests::sample_lead;

/// The store, in maps.
#[derive(Default)]
pub(crate) struct Fake {
    next_seq: u64,
    offset: u64,
    applied: HashMap<EventKey, Applied>,
    events: BTreeMap<u64, StoredEvent>,
    leads: HashMap<(DivisionCode, u64), LeadEntry>,
    history: HashMap<(SubjectKey, OffenceCode), Vec<OutcomeEntry>>,
    splits: BTreeSet<(SubjectKey, OffenceCode, String)>,
    referrals: HashMap<ReferralKey, ReferralRecord>,
    cases: BTreeSet<(AgencyId, String)>,
    deadlines: BTreeSet<(Timestamp, ReferralKey)>,
    watches: Vec<Watch>,
    awaited: Vec<AwaitedLead>,
    certificates: HashMap<String, CertificateEntry>,
    /// Inspection plans as they stand.
    pub(crate) inspections: BTreeMap<PlanKey, InspectionEntry>,
    joints: HashMap<String, JointProposal>,
    /// 案卷评查 rows, in order.
    pub(crate) procedure_rows: Vec<crate::store::ProcedureRow>,
    /// Every alert raised, in order.
    pub(crate) alerts: Vec<(Alert, Vec<AgencyId>)>,
    /// Every counter addition, in order.
    pub(crate) tallies: Vec<crate::domain::stats::Tally>,
}

impl Fake {
    /// `envelope` as the next record on partition 0, logged when it was produced.
    pub(crate) fn incoming(&mut self, envelope: Envelope) -> Incoming {
        self.offset += 1;
        Incoming {
            position: LogPosition {
                partition: 0,
                offset: self.offset,
            },
            logged_at: envelope.produced_at,
            bytes: EnvelopeBytes::encode(&envelope),
            envelope,
        }
    }

    /// Decides `incoming` and keeps what it writes; returns the decision's notes and the seq.
    pub(crate) fn apply(&mut self, incoming: &Incoming, policy: &Policy) -> (Decided, Option<u64>) {
        let mut decided = decide(self, incoming, policy).unwrap();
        let decision = std::mem::replace(&mut decided.decision, Decision::Duplicate);
        let seq = match decision {
            Decision::Apply(writes) => Some(self.keep(Some(incoming), *writes)),
            other => {
                decided.decision = other;
                None
            }
        };
        (decided, seq)
    }

    /// Keeps what the clock decided at `now`.
    pub(crate) fn tick(&mut self, policy: &Policy, now: Timestamp) -> Vec<Alert> {
        let before = self.alerts.len();
        for writes in super::due::due(self, policy, now).unwrap() {
            self.keep(None, writes);
        }
        self.alerts[before..]
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn keep(&mut self, incoming: Option<&Incoming>, mut ws: WriteSet) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        if let Some(incoming) = incoming {
            let event = ws.event.unwrap_or_default();
            let envelope = &incoming.envelope;
            self.applied.insert(
                envelope.key(),
                Applied {
                    seq,
                    content_hash: incoming.bytes.content_hash,
                },
            );
            self.events.insert(
                seq,
                StoredEvent {
                    seq,
                    envelope: envelope.clone(),
                    position: incoming.position,
                    logged_at: incoming.logged_at,
                    applied_at: incoming.logged_at,
                    delivered_to: event.recipients.into_iter().map(|(a, _)| a).collect(),
                    content_hash: incoming.bytes.content_hash,
                },
            );
        }
        self.tallies.append(&mut ws.tallies);
        if let Some(row) = ws.procedure.take() {
            self.procedure_rows.push(row);
        }
        if let Some(write) = ws.inspection.take() {
            if let Some(c) = write.certificate {
                self.certificates
                    .insert(c.certificate.number.to_string(), c);
            }
            for plan in write.plans {
                self.inspections.insert(plan.key(), plan);
            }
            if let Some(joint) = write.joint {
                self.joints.insert(joint.id.clone(), joint);
            }
        }
        match ws.lead {
            Some(LeadWrite::Open { division, entry }) => {
                self.leads.insert((division, seq), entry);
            }
            Some(LeadWrite::Close {
                division,
                seq: lead,
                mut entry,
            }) => {
                entry.status = crate::domain::LeadStatus::Closed;
                entry.closed_by = Some(seq);
                self.leads.insert((division, lead), entry);
            }
            None => {}
        }
        if let Some(outcome) = ws.outcome {
            self.history
                .entry((outcome.subject, outcome.offence))
                .or_default()
                .push(OutcomeEntry {
                    seq,
                    decided_at: outcome.row.decided_at,
                    penalty: outcome.row.penalty,
                });
        }
        if let Some(write) = ws.referral {
            let record = write.record;
            if let Some(due) = write.previous_due {
                self.deadlines.remove(&(due, record.key.clone()));
            }
            if let Some(d) = record.deadline.as_ref().filter(|d| !d.overdue) {
                self.deadlines.insert((d.due, record.key.clone()));
            }
            if let Some(case) = write.case_number {
                self.cases.insert((record.key.agency.clone(), case));
            }
            self.referrals.insert(record.key.clone(), record);
        }
        if let (Some(watch), Some(incoming)) = (ws.watch, incoming) {
            self.watches.push(Watch {
                outcome: incoming.envelope.key(),
                seq,
                case_number: watch.case_number,
                hits: watch.hits,
                due: watch.due,
            });
        }
        if let Some((_, outcome)) = ws.expired_watch {
            self.watches.retain(|w| w.outcome != outcome);
        }
        if let (Some((due, lead)), Some(incoming)) = (ws.await_lead, incoming) {
            self.awaited.push(AwaitedLead {
                due,
                outcome: incoming.envelope.key(),
                lead,
            });
        }
        if let Some(expired) = ws.expired_await {
            self.awaited.retain(|a| a != &expired);
        }
        if let Some(row) = ws.expired_deadline {
            self.deadlines.remove(&row);
        }
        for mark in ws.split_marks {
            self.splits.insert((mark.subject, mark.offence, mark.rule));
        }
        for write in ws.alerts {
            self.next_seq += 1;
            let mut alert = write.alert;
            alert.id = self.next_seq;
            self.alerts.push((alert, write.to));
        }
        seq
    }

    /// A referral as it stands.
    pub(crate) fn referral_record(&self, key: &ReferralKey) -> Option<&ReferralRecord> {
        self.referrals.get(key)
    }

    /// A lead's row.
    pub(crate) fn lead_entry(&self, division: &DivisionCode, seq: u64) -> Option<LeadEntry> {
        self.leads.get(&(division.clone(), seq)).copied()
    }
}

impl View for Fake {
    fn applied(&self, key: &EventKey) -> Result<Option<Applied>, StoreError> {
        Ok(self.applied.get(key).copied())
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.events.get(&seq).cloned())
    }

    fn lead(&self, division: &DivisionCode, seq: u64) -> Result<Option<LeadEntry>, StoreError> {
        Ok(self.lead_entry(division, seq))
    }

    fn outcomes(
        &self,
        subject: &SubjectKey,
        offence: &OffenceCode,
    ) -> Result<Vec<OutcomeEntry>, StoreError> {
        Ok(self
            .history
            .get(&(subject.clone(), offence.clone()))
            .cloned()
            .unwrap_or_default())
    }

    fn split_reported(
        &self,
        subject: &SubjectKey,
        offence: &OffenceCode,
        rule: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .splits
            .contains(&(subject.clone(), offence.clone(), rule.to_owned())))
    }

    fn referral(&self, key: &ReferralKey) -> Result<Option<ReferralRecord>, StoreError> {
        Ok(self.referrals.get(key).cloned())
    }

    fn case_referred(&self, agency: &AgencyId, case_number: &str) -> Result<bool, StoreError> {
        Ok(self
            .cases
            .contains(&(agency.clone(), case_number.to_owned())))
    }

    fn due_deadlines(&self, now: Timestamp) -> Result<Vec<(Timestamp, ReferralKey)>, StoreError> {
        Ok(self
            .deadlines
            .iter()
            .filter(|(due, _)| *due <= now)
            .cloned()
            .collect())
    }

    fn due_awaited(&self, now: Timestamp) -> Result<Vec<AwaitedLead>, StoreError> {
        let mut due: Vec<AwaitedLead> = self
            .awaited
            .iter()
            .filter(|a| a.due <= now)
            .cloned()
            .collect();
        due.sort_by_key(|a| a.due);
        Ok(due)
    }

    fn due_watches(&self, now: Timestamp) -> Result<Vec<Watch>, StoreError> {
        let mut due: Vec<Watch> = self
            .watches
            .iter()
            .filter(|w| w.due <= now)
            .cloned()
            .collect();
        due.sort_by_key(|w| w.due);
        Ok(due)
    }

    fn certificate(&self, number: &str) -> Result<Option<CertificateEntry>, StoreError> {
        Ok(self.certificates.get(number).cloned())
    }

    fn inspection(&self, key: &PlanKey) -> Result<Option<InspectionEntry>, StoreError> {
        Ok(self.inspections.get(key).cloned())
    }

    fn inspections_of(
        &self,
        enterprise: &str,
        year: i16,
    ) -> Result<Vec<InspectionEntry>, StoreError> {
        Ok(self
            .inspections
            .values()
            .filter(|e| {
                e.plan.window_start.year() == year
                    && matches!(&e.plan.enterprise.id, crate::domain::SubjectId::Organization(c) if c.as_str() == enterprise)
            })
            .cloned()
            .collect())
    }

    fn joint(&self, id: &str) -> Result<Option<JointProposal>, StoreError> {
        Ok(self.joints.get(id).cloned())
    }
}
