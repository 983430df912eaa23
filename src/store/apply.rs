//! The write path of the log: apply a batch of records in a single sled transaction, flush,
//! then move the durable watermark.
//!
//! Per record: skip it if its `producer/event_id` was applied before (a replay after a crash);
//! otherwise give it the next sequence number, store it, index it by subject, and act on it —
//! route a lead and check it against the prosecution thresholds; record an outcome, close the
//! lead it answers, and run the outcome checks (以罚代刑 watch, 多头受罚, 化整为零, discretion);
//! open or move a referral. Each recipient gets one delivery at its next inbox cursor.

use jiff::Timestamp;

use super::tx::{Tx, TxResult, corrupt};
use super::{Item, LeadRow, Store, StoreError, StoredEvent, decode, keys};
use crate::audit::Record;
use crate::domain::calendar::CHINA;
use crate::domain::rules::{Context, Hit};
use crate::domain::{
    AgencyId, AgencyKind, Alert, AlertKind, DeliveryReason, Envelope, EventKey, EventKind,
    Handling, Lead, LeadStatus, LogPosition, Payload, Policy, SubjectKey,
};

/// A record to apply.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// Where it sits on the log.
    pub position: LogPosition,
    /// When the log took it.
    pub logged_at: Timestamp,
    /// The event.
    pub envelope: Envelope,
}

/// What happened to one record of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Stored and routed.
    Applied {
        /// Its seq.
        seq: u64,
        /// Producer and event id.
        key: EventKey,
        /// What it is.
        kind: EventKind,
        /// Who received it, and why.
        recipients: Vec<(AgencyId, DeliveryReason)>,
        /// For a lead: where it stands after routing.
        lead_status: Option<LeadStatus>,
        /// For an outcome naming a lead: whether that lead was found (and closed).
        lead_found: Option<bool>,
        /// Alerts it raised.
        alerts: Vec<AlertKind>,
    },
    /// Applied before with the same content: nothing changed.
    Duplicate {
        /// Producer and event id.
        key: EventKey,
    },
    /// The event id was applied before with different content: the first stays, this one is
    /// refused (only the Kafka log, which has no idempotency check at append, can carry it).
    Conflict {
        /// Producer and event id.
        key: EventKey,
        /// Where the refused record sits.
        position: LogPosition,
    },
    /// A referral step that is not (or no longer) allowed: nothing changed.
    Rejected {
        /// Producer and event id.
        key: EventKey,
        /// Why.
        reason: String,
    },
}

/// The result of applying a batch.
#[derive(Debug, Default)]
pub struct Applied {
    /// One outcome per record, in order.
    pub outcomes: Vec<ApplyOutcome>,
    /// The highest seq in the store afterwards.
    pub last_seq: u64,
    /// The audit entries the batch appended (for off-box archiving).
    pub audit: Vec<crate::audit::Entry>,
}

/// `applied` values: the event's seq, then its content hash.
fn applied_value(seq: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8..].copy_from_slice(hash);
    value
}

/// What one record's handler decided.
pub(super) struct Effect {
    pub(super) recipients: Vec<(AgencyId, DeliveryReason)>,
    pub(super) lead_status: Option<LeadStatus>,
    pub(super) lead_found: Option<bool>,
    /// Alerts to raise once the event itself is stored and delivered, with their recipients.
    pub(super) raise: Vec<(Alert, Vec<AgencyId>)>,
    /// The subject to index the event under (a referral update takes its referral's).
    pub(super) subject: Option<SubjectKey>,
}

impl Effect {
    pub(super) fn to(recipients: Vec<(AgencyId, DeliveryReason)>) -> Self {
        Self {
            recipients,
            lead_status: None,
            lead_found: None,
            raise: Vec::new(),
            subject: None,
        }
    }
}

/// The agencies of `kind` nearest `division`, as owned ids.
pub(super) fn nearest(
    policy: &Policy,
    division: &crate::domain::DivisionCode,
    kind: AgencyKind,
) -> Vec<AgencyId> {
    policy
        .registry
        .nearest_of_kind(division, kind)
        .into_iter()
        .map(|a| a.id.clone())
        .collect()
}

/// The coordinators whose jurisdiction covers `division`, at every level.
pub(super) fn coordinators(
    policy: &Policy,
    division: &crate::domain::DivisionCode,
) -> Vec<AgencyId> {
    policy
        .registry
        .covering_of_kind(division, AgencyKind::Coordinator)
        .into_iter()
        .map(|a| a.id.clone())
        .collect()
}

/// The China Standard Time date of an instant: the day rules are in force on.
pub(super) fn day_of(at: Timestamp) -> jiff::civil::Date {
    CHINA.to_datetime(at).date()
}

/// An alert about one event, with the rule hit that raised it.
pub(super) fn hit_alert(
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

impl Tx<'_> {
    fn apply_batch(
        &self,
        batch: &[Incoming],
        consumed: &[LogPosition],
        policy: &Policy,
        now: Timestamp,
    ) -> TxResult<Applied> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for incoming in batch {
            outcomes.push(self.apply_one(incoming, policy, now)?);
        }
        self.advance(consumed)?;
        Ok(Applied {
            outcomes,
            last_seq: self.last_seq()?,
            audit: Vec::new(),
        })
    }

    fn apply_one(
        &self,
        incoming: &Incoming,
        policy: &Policy,
        now: Timestamp,
    ) -> TxResult<ApplyOutcome> {
        let envelope = &incoming.envelope;
        let key = envelope.key();
        let key_bytes = key.to_bytes();
        let hash = envelope.content_hash();
        if let Some(raw) = self.applied.get(&key_bytes)? {
            return Ok(if raw.get(8..) == Some(hash.as_slice()) {
                ApplyOutcome::Duplicate { key }
            } else {
                ApplyOutcome::Conflict {
                    key,
                    position: incoming.position,
                }
            });
        }
        let seq = self.next_seq()?;
        let effect = match &envelope.payload {
            Payload::Lead(lead) => Ok(self.apply_lead(envelope, lead, seq, policy)?),
            Payload::CaseOutcome(_) => Ok(self.apply_outcome(incoming, seq, policy)?),
            Payload::Referral(referral) => {
                self.apply_referral(incoming, referral, seq, policy, now)?
            }
            Payload::ReferralUpdate(update) => {
                self.apply_update(incoming, update, seq, policy, now)?
            }
        };
        // Every event the log delivered leaves an entry, whether it took effect or not.
        let verb = if effect.is_ok() { "publish" } else { "refused" };
        self.audit(
            Record::new(
                envelope.producer.as_str(),
                format!("{verb} {:?}", envelope.kind()),
                key.to_string(),
                hex::encode(hash),
            ),
            now,
        )?;
        let effect = match effect {
            Ok(effect) => effect,
            Err(reason) => return Ok(ApplyOutcome::Rejected { key, reason }),
        };
        for (agency, reason) in &effect.recipients {
            self.deliver(agency, seq, Item::Event, *reason, now)?;
        }
        let stored = StoredEvent {
            seq,
            envelope: envelope.clone(),
            position: incoming.position,
            logged_at: incoming.logged_at,
            applied_at: now,
            delivered_to: effect.recipients.iter().map(|(a, _)| a.clone()).collect(),
        };
        self.write(self.events, &seq.to_be_bytes(), &stored)?;
        self.applied
            .insert(key_bytes, applied_value(seq, &hash).as_slice())?;
        let subject = effect
            .subject
            .clone()
            .or_else(|| envelope.subject().map(|s| s.key()));
        if let Some(subject) = subject {
            self.subjects
                .insert(keys::compound(subject.as_str(), seq), &[])?;
        }
        // After the event, so that an agency's inbox shows the event before what it set off.
        let mut alerts = Vec::with_capacity(effect.raise.len());
        for (mut alert, to) in effect.raise {
            // Who may see the alert's personal data: the parties to the events it is about.
            alert.parties.push(envelope.producer.clone());
            alert
                .parties
                .extend(effect.recipients.iter().map(|(a, _)| a.clone()));
            alert
                .parties
                .extend(alert.events.iter().map(|k| k.producer.clone()));
            alert.parties.sort();
            alert.parties.dedup();
            alerts.push(alert.kind);
            self.raise(alert, &to.iter().collect::<Vec<_>>(), now)?;
        }
        Ok(ApplyOutcome::Applied {
            seq,
            key,
            kind: envelope.kind(),
            recipients: effect.recipients,
            lead_status: effect.lead_status,
            lead_found: effect.lead_found,
            alerts,
        })
    }

    fn apply_lead(
        &self,
        envelope: &Envelope,
        lead: &Lead,
        seq: u64,
        policy: &Policy,
    ) -> TxResult<Effect> {
        let only_targets = envelope.handling == Handling::NoOnwardSharing;
        let routing = policy
            .registry
            .route_lead(&envelope.producer, lead, only_targets);
        let status = if routing.assigned {
            LeadStatus::Open
        } else {
            LeadStatus::Unassigned
        };
        let row = LeadRow {
            status,
            closed_by: None,
            domain: lead.domain,
            produced_at: envelope.produced_at,
        };
        self.write(
            self.leads,
            &keys::compound(lead.division.as_str(), seq),
            &row,
        )?;
        // 追诉预警: the lead's facts against the thresholds in force when the conduct was seen.
        let history = self.history(&lead.subject.key())?;
        let day = day_of(lead.observed_at.unwrap_or(envelope.produced_at));
        let prior = |months| {
            history.prior_penalties(&lead.offence_code, envelope.produced_at, months, None)
        };
        let ctx = Context {
            facts: &lead.facts,
            division: &lead.division,
            person: matches!(lead.subject.id, crate::domain::SubjectId::Person(_)),
            prior_penalties: &prior,
        };
        let mut raise = Vec::new();
        for hit in policy.thresholds.hits(&lead.offence_code, day, &ctx) {
            let mut to = vec![envelope.producer.clone()];
            to.extend(nearest(policy, &lead.division, AgencyKind::Police));
            raise.push((
                hit_alert(
                    AlertKind::PossibleCrime,
                    &hit,
                    envelope,
                    vec![envelope.key()],
                ),
                to,
            ));
        }
        Ok(Effect {
            lead_status: Some(status),
            raise,
            ..Effect::to(routing.recipients)
        })
    }

    /// Moves each partition's position past the records consumed in this batch.
    fn advance(&self, consumed: &[LogPosition]) -> TxResult<()> {
        let mut next: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
        for pos in consumed {
            let entry = next.entry(pos.partition).or_default();
            *entry = (*entry).max(pos.offset + 1);
        }
        for (partition, offset) in next {
            let key = u64::from(partition).to_be_bytes();
            let current = self
                .positions
                .get(key)?
                .map_or(0, |raw| keys::decode_u64(&raw));
            if offset > current {
                self.positions.insert(&key, &offset.to_be_bytes())?;
            }
        }
        Ok(())
    }

    /// Marks the lead `lead_key` closed by `by` (the first outcome wins); returns its producer,
    /// or `None` if no such lead was applied.
    pub(super) fn close_lead(
        &self,
        lead_key: &EventKey,
        by: &EventKey,
    ) -> TxResult<Option<AgencyId>> {
        let Some(raw_seq) = self.applied.get(lead_key.to_bytes())? else {
            return Ok(None);
        };
        let lead_seq = keys::decode_u64(&raw_seq[..8.min(raw_seq.len())]);
        let Some(raw) = self.events.get(lead_seq.to_be_bytes())? else {
            return Ok(None);
        };
        let stored: StoredEvent = decode("events", &raw).map_err(corrupt)?;
        let (EventKind::Lead, Some(division)) =
            (stored.envelope.kind(), stored.envelope.division())
        else {
            return Ok(None);
        };
        let row_key = keys::compound(division.as_str(), lead_seq);
        if let Some(mut row) = self.read::<LeadRow>(self.leads, "leads", &row_key)?
            && row.status != LeadStatus::Closed
        {
            row.status = LeadStatus::Closed;
            row.closed_by = Some(by.clone());
            self.write(self.leads, &row_key, &row)?;
        }
        Ok(Some(stored.envelope.producer))
    }
}

impl Store {
    /// Applies `batch` atomically, flushes, and moves the durable watermark. Returns only once
    /// everything applied is on disk, so the caller may then commit the log offsets.
    ///
    /// `consumed` lists every log position the batch covers — also records that did not decode
    /// and were set aside — so that [`Store::positions`] moves past them too.
    pub async fn apply(
        &self,
        batch: &[Incoming],
        consumed: &[LogPosition],
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let _guard = self.apply_lock.lock().await;
        let (mut applied, audit) =
            self.transact(|tx| tx.apply_batch(batch, consumed, policy, now))?;
        applied.audit = audit;
        self.flush().await?;
        let new_events = applied
            .outcomes
            .iter()
            .filter(|o| matches!(o, ApplyOutcome::Applied { .. }))
            .count();
        self.mark_durable(applied.last_seq, new_events as u64);
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::tests::sample_lead;
    use crate::domain::{Agency, DivisionCode, Domain, EventId, Registry};

    fn policy() -> Policy {
        Policy::with_registry(
            Registry::new(vec![
                Agency {
                    id: AgencyId::parse("330100-STHJ").unwrap(),
                    name: "生态环境局".into(),
                    kind: AgencyKind::Administrative,
                    division: DivisionCode::parse("330100").unwrap(),
                    domains: vec![Domain::EcologyEnvironment],
                },
                Agency {
                    id: AgencyId::parse("330106-SCJG").unwrap(),
                    name: "市场监管局".into(),
                    kind: AgencyKind::Administrative,
                    division: DivisionCode::parse("330106").unwrap(),
                    domains: vec![Domain::FoodDrug],
                },
            ])
            .unwrap(),
        )
    }

    fn at(offset: u64, envelope: Envelope) -> Incoming {
        Incoming {
            position: LogPosition {
                partition: 0,
                offset,
            },
            logged_at: envelope.produced_at,
            envelope,
        }
    }

    #[tokio::test]
    async fn replayed_records_are_applied_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Timestamp::now();
        let lead = at(0, sample_lead());
        let first = store
            .apply(
                std::slice::from_ref(&lead),
                &[lead.position],
                &policy(),
                now,
            )
            .await
            .unwrap();
        assert!(matches!(
            first.outcomes[0],
            ApplyOutcome::Applied { seq: 1, .. }
        ));
        let again = store
            .apply(
                std::slice::from_ref(&lead),
                &[lead.position],
                &policy(),
                now,
            )
            .await
            .unwrap();
        assert!(matches!(again.outcomes[0], ApplyOutcome::Duplicate { .. }));
        assert_eq!(store.event_count(), 1);
        let agency = AgencyId::parse("330100-STHJ").unwrap();
        assert_eq!(store.latest_cursor(&agency).unwrap(), 1);
        assert_eq!(store.durable_seq(), 1);
        assert_eq!(store.durable_event_count(), 1);
        assert_eq!(store.positions().unwrap(), [(0, 1)].into());
    }

    #[tokio::test]
    async fn outcome_closes_its_lead_and_feeds_back_to_the_producer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lead = sample_lead();
        let mut outcome = sample_lead();
        outcome.event_id = EventId::parse("out-1").unwrap();
        outcome.producer = AgencyId::parse("330100-STHJ").unwrap();
        let Payload::Lead(l) = &lead.payload else {
            unreachable!()
        };
        outcome.payload = Payload::CaseOutcome(crate::domain::CaseOutcome {
            case_number: "杭环罚〔2026〕1号".into(),
            subject: l.subject.clone(),
            division: l.division.clone(),
            domain: l.domain,
            offence_code: l.offence_code.clone(),
            decision: crate::domain::Decision::Penalty,
            fine_fen: 10_000_000,
            confiscated_fen: 0,
            facts: Default::default(),
            decided_at: lead.produced_at,
            lead: Some(lead.key()),
            legal_basis: String::new(),
            sensitivity: crate::domain::Sensitivity::Internal,
            severity: None,
        });
        // Lead and outcome in one batch: the outcome must see the lead written before it.
        let batch = [at(0, lead.clone()), at(1, outcome)];
        let applied = store
            .apply(
                &batch,
                &[batch[0].position, batch[1].position],
                &policy(),
                Timestamp::now(),
            )
            .await
            .unwrap();
        let ApplyOutcome::Applied {
            recipients,
            lead_found,
            ..
        } = &applied.outcomes[1]
        else {
            panic!("outcome not applied")
        };
        assert_eq!(*lead_found, Some(true));
        assert_eq!(recipients[0].0, lead.producer);
        assert_eq!(recipients[0].1, DeliveryReason::LeadFeedback);
        let page = store.list_leads(&Default::default(), None, 10).unwrap();
        assert_eq!(page.items[0].1.status, LeadStatus::Closed);
    }
}
