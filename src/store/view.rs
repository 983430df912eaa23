//! What the router's decide functions may read: the store as committed, plus what the batch has
//! staged before the record at hand — so a lead and the outcome answering it may arrive in one
//! batch. Typed reads only; the decide functions never see keys.

use jiff::Timestamp;

use super::batch::Batch;
use super::inspections;
use super::records;
use super::write::{AwaitedLead, Watch};
use super::{Entries, LeadEntry, StoreError, keys, values};
use crate::domain::inspection::{CertificateEntry, InspectionEntry, JointProposal, PlanKey};
use crate::domain::referral::ReferralRecord;
use crate::domain::{
    AgencyId, DivisionCode, EventKey, OffenceCode, ReferralKey, StoredEvent, SubjectKey,
};

/// An event applied before: its seq and content hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Its seq.
    pub seq: u64,
    /// SHA-256 of its protobuf encoding.
    pub content_hash: [u8; 32],
}

/// One outcome in a subject's history for an offence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutcomeEntry {
    /// Its seq (read the event for more).
    pub seq: u64,
    /// When it was decided.
    pub decided_at: Timestamp,
    /// Whether it imposed a penalty.
    pub penalty: bool,
}

/// The store as the decide functions read it.
pub trait View {
    /// The event applied under `key`, if any.
    fn applied(&self, key: &EventKey) -> Result<Option<Applied>, StoreError>;
    /// The event with this seq.
    fn event(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError>;
    /// The row of the lead at (`division`, `seq`).
    fn lead(&self, division: &DivisionCode, seq: u64) -> Result<Option<LeadEntry>, StoreError>;
    /// The subject's outcomes for `offence`, in log order.
    fn outcomes(
        &self,
        subject: &SubjectKey,
        offence: &OffenceCode,
    ) -> Result<Vec<OutcomeEntry>, StoreError>;
    /// Whether a 化整为零 alert was raised for this subject, offence and rule.
    fn split_reported(
        &self,
        subject: &SubjectKey,
        offence: &OffenceCode,
        rule: &str,
    ) -> Result<bool, StoreError>;
    /// A referral by key.
    fn referral(&self, key: &ReferralKey) -> Result<Option<ReferralRecord>, StoreError>;
    /// Whether `agency` referred its case `case_number`.
    fn case_referred(&self, agency: &AgencyId, case_number: &str) -> Result<bool, StoreError>;
    /// The referrals whose running deadline is due by `now`, with that due time.
    fn due_deadlines(&self, now: Timestamp) -> Result<Vec<(Timestamp, ReferralKey)>, StoreError>;
    /// The 以罚代刑 watches whose grace period ended by `now`.
    fn due_watches(&self, now: Timestamp) -> Result<Vec<Watch>, StoreError>;
    /// The outcomes whose wait for the lead they name ended by `now`.
    fn due_awaited(&self, now: Timestamp) -> Result<Vec<AwaitedLead>, StoreError>;
    /// What is known of certificate `number`.
    fn certificate(&self, number: &str) -> Result<Option<CertificateEntry>, StoreError>;
    /// A plan by key.
    fn inspection(&self, key: &PlanKey) -> Result<Option<InspectionEntry>, StoreError>;
    /// An enterprise's plans whose window starts in `year`, by plan key.
    fn inspections_of(
        &self,
        enterprise: &str,
        year: i16,
    ) -> Result<Vec<InspectionEntry>, StoreError>;
    /// A joint proposal by id.
    fn joint(&self, id: &str) -> Result<Option<JointProposal>, StoreError>;
}

impl Batch<'_> {
    /// The value at `key`: staged in this batch, or in a batch frozen before it and not yet
    /// applied (newest first), or in the store.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(staged) = self.writes.get(key) {
            return Ok(staged.clone());
        }
        for prior in self.prior.iter().rev() {
            if let Some(staged) = prior.writes.get(key) {
                return Ok(staged.clone());
            }
        }
        Ok(self
            .store()
            .tree
            .get(key)
            .map_err(StoreError::sled("read"))?
            .map(|v| v.to_vec()))
    }

    /// Every entry from `start` up to `end` (exclusive) — in the store, in batches frozen before
    /// this one, staged here, later ones overriding — in key order.
    fn range(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError> {
        let mut merged: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .store()
            .tree
            .range(start..end)
            .map(|entry| {
                entry
                    .map(|(k, v)| (k.to_vec(), Some(v.to_vec())))
                    .map_err(StoreError::sled("read"))
            })
            .collect::<Result<_, _>>()?;
        let overlays = self.prior.iter().map(|p| &p.writes).chain([&self.writes]);
        for writes in overlays {
            for (key, value) in writes.range(start.to_vec()..end.to_vec()) {
                merged.insert(key.clone(), value.clone());
            }
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    /// Every entry whose key starts with `prefix`.
    fn scan(&self, prefix: &[u8]) -> Result<Entries, StoreError> {
        let mut end = prefix.to_vec();
        // Prefixes here end in a 0 terminator, so bumping the last byte bounds them.
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        self.range(prefix, &end)
    }
}

impl View for Batch<'_> {
    fn applied(&self, key: &EventKey) -> Result<Option<Applied>, StoreError> {
        let key_bytes = keys::applied(key);
        if !self.store().applied_keys.may_contain(&key_bytes) {
            return Ok(None);
        }
        let Some(raw) = self.get(&key_bytes)? else {
            return Ok(None);
        };
        let seq = keys::decode_u64(&raw);
        let content_hash = match self.pending_event(seq) {
            Some(event) => event.content_hash,
            None => match self.get(&keys::event(seq))? {
                Some(raw) => records::EventRaw::decode(&raw)?.content_hash()?,
                None => {
                    return Err(StoreError::Corrupt {
                        tree: "events",
                        reason: format!("{key} is indexed at seq {seq}, which is missing"),
                    });
                }
            },
        };
        Ok(Some(Applied { seq, content_hash }))
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        if let Some(event) = self.pending_event(seq) {
            return Ok(Some(event));
        }
        self.get(&keys::event(seq))?
            .map(|raw| records::EventRaw::decode(&raw)?.stored())
            .transpose()
    }

    fn lead(&self, division: &DivisionCode, seq: u64) -> Result<Option<LeadEntry>, StoreError> {
        self.get(&keys::lead(division, seq))?
            .map(|raw| values::read_lead_value(&raw))
            .transpose()
    }

    fn outcomes(
        &self,
        subject: &SubjectKey,
        offence: &OffenceCode,
    ) -> Result<Vec<OutcomeEntry>, StoreError> {
        let scope = keys::history_scope(subject, offence);
        if !self.store().history_scopes.may_contain(&scope) {
            return Ok(Vec::new());
        }
        self.scan(&scope)?
            .into_iter()
            .map(|(key, value)| {
                let (decided_at, penalty) = values::read_history_value(&value)?;
                Ok(OutcomeEntry {
                    seq: keys::suffix_u64(&key),
                    decided_at,
                    penalty,
                })
            })
            .collect()
    }

    fn split_reported(
        &self,
        subject: &SubjectKey,
        offence: &OffenceCode,
        rule: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.get(&keys::split(subject, offence, rule))?.is_some())
    }

    fn referral(&self, key: &ReferralKey) -> Result<Option<ReferralRecord>, StoreError> {
        self.get(&keys::referral(key))?
            .map(|raw| records::decode_referral(&raw))
            .transpose()
    }

    fn case_referred(&self, agency: &AgencyId, case_number: &str) -> Result<bool, StoreError> {
        Ok(self.get(&keys::case(agency, case_number))?.is_some())
    }

    fn due_deadlines(&self, now: Timestamp) -> Result<Vec<(Timestamp, ReferralKey)>, StoreError> {
        let rows = self.range(&[keys::DEADLINE], &keys::due_bound(keys::DEADLINE, now))?;
        let mut due = Vec::with_capacity(rows.len());
        let corrupt = |reason: String| StoreError::Corrupt {
            tree: "deadlines",
            reason,
        };
        for (key, _) in rows {
            let (at, text) = keys::decode_timed(&key).map_err(corrupt)?;
            let (agency, id) = keys::parse_agency_id(&text)
                .ok_or_else(|| corrupt(format!("row names {text}, not a referral")))?;
            due.push((at, ReferralKey { agency, id }));
        }
        Ok(due)
    }

    fn due_watches(&self, now: Timestamp) -> Result<Vec<Watch>, StoreError> {
        self.range(&[keys::WATCH], &keys::due_bound(keys::WATCH, now))?
            .into_iter()
            .map(|(_, raw)| records::decode_watch(&raw, self.store()))
            .collect()
    }

    fn due_awaited(&self, now: Timestamp) -> Result<Vec<AwaitedLead>, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            tree: "awaited leads",
            reason,
        };
        let rows = self.range(&[keys::AWAIT], &keys::due_bound(keys::AWAIT, now))?;
        let mut due = Vec::with_capacity(rows.len());
        let event_key = |text: &str| {
            keys::parse_agency_id(text).map(|(producer, event_id)| EventKey { producer, event_id })
        };
        for (key, value) in rows {
            let (at, outcome) = keys::decode_timed(&key).map_err(corrupt)?;
            let lead = String::from_utf8_lossy(&value);
            let (Some(outcome), Some(lead)) = (event_key(&outcome), event_key(&lead)) else {
                return Err(corrupt(format!("row {outcome} → {lead}")));
            };
            due.push(AwaitedLead {
                due: at,
                outcome,
                lead,
            });
        }
        Ok(due)
    }

    fn certificate(&self, number: &str) -> Result<Option<CertificateEntry>, StoreError> {
        self.get(&keys::certificate(number))?
            .map(|raw| inspections::decode_certificate(&raw))
            .transpose()
    }

    fn inspection(&self, key: &PlanKey) -> Result<Option<InspectionEntry>, StoreError> {
        self.get(&keys::inspection(key))?
            .map(|raw| inspections::decode_inspection(&raw))
            .transpose()
    }

    fn inspections_of(
        &self,
        enterprise: &str,
        year: i16,
    ) -> Result<Vec<InspectionEntry>, StoreError> {
        let scope = keys::enterprise_year_scope(enterprise, year);
        let mut found = Vec::new();
        for (key, _) in self.scan(&scope)? {
            let text = String::from_utf8_lossy(&key[scope.len()..]).into_owned();
            let plan = inspections::plan_key("enterprise years", &text)?;
            if let Some(entry) = self.inspection(&plan)? {
                found.push(entry);
            }
        }
        Ok(found)
    }

    fn joint(&self, id: &str) -> Result<Option<JointProposal>, StoreError> {
        self.get(&keys::joint(id))?
            .map(|raw| inspections::decode_joint(&raw))
            .transpose()
    }
}
