//! The one write path of the store: apply a batch of log records in a single sled transaction,
//! flush, then move the durable watermark.
//!
//! Per record: skip it if its `producer/event_id` was applied before (a replay after a crash);
//! otherwise give it the next seq, store it, index it by subject, and route it — a lead to the
//! recipients the registry names, an outcome to the producer of the lead it answers (and close
//! that lead) — writing one delivery per recipient at the recipient's next inbox cursor.

use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::{DeliveryRecord, LeadRow, Store, StoreError, StoredEvent, decode, encode, keys};
use crate::domain::{
    AgencyId, DeliveryReason, Envelope, EventKey, EventKind, LeadStatus, LogPosition, Payload,
    Registry,
};

/// What happened to one record of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Stored and routed.
    Applied {
        /// Its seq.
        seq: u64,
        /// Producer and event id.
        key: EventKey,
        /// Lead or outcome.
        kind: EventKind,
        /// Who received it, and why.
        recipients: Vec<(AgencyId, DeliveryReason)>,
        /// For a lead: where it stands after routing.
        lead_status: Option<LeadStatus>,
        /// For an outcome naming a lead: whether that lead was found (and closed).
        lead_found: Option<bool>,
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
}

/// The result of applying a batch.
#[derive(Debug, Default)]
pub struct Applied {
    /// One outcome per record, in order.
    pub outcomes: Vec<ApplyOutcome>,
    /// The highest seq in the store afterwards.
    pub last_seq: u64,
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The trees one transaction writes, as transactional views.
struct Tx<'a> {
    meta: &'a TransactionalTree,
    events: &'a TransactionalTree,
    applied: &'a TransactionalTree,
    subjects: &'a TransactionalTree,
    leads: &'a TransactionalTree,
    inbox: &'a TransactionalTree,
    heads: &'a TransactionalTree,
    positions: &'a TransactionalTree,
}

/// `applied` values: the event's seq, then its content hash.
fn applied_value(seq: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8..].copy_from_slice(hash);
    value
}

fn corrupt(err: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(err)
}

impl Tx<'_> {
    fn apply_batch(
        &self,
        batch: &[(LogPosition, Envelope)],
        consumed: &[LogPosition],
        registry: &Registry,
        now: Timestamp,
    ) -> TxResult<Applied> {
        let mut next_seq = self
            .meta
            .get("next_seq")?
            .map_or(1, |raw| keys::decode_u64(&raw));
        let mut outcomes = Vec::with_capacity(batch.len());
        for (position, envelope) in batch {
            let key = envelope.key();
            let key_bytes = key.to_bytes();
            let hash = envelope.content_hash();
            if let Some(raw) = self.applied.get(&key_bytes)? {
                outcomes.push(if raw.get(8..) == Some(hash.as_slice()) {
                    ApplyOutcome::Duplicate { key }
                } else {
                    ApplyOutcome::Conflict {
                        key,
                        position: *position,
                    }
                });
                continue;
            }
            let seq = next_seq;
            next_seq += 1;
            let (recipients, lead_status, lead_found) = match &envelope.payload {
                Payload::Lead(lead) => {
                    let routing = registry.route_lead(&envelope.producer, lead);
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
                    self.leads
                        .insert(keys::compound(lead.division.as_str(), seq), encode(&row))?;
                    (routing.recipients, Some(status), None)
                }
                Payload::CaseOutcome(outcome) => match &outcome.lead {
                    None => (Vec::new(), None, None),
                    Some(lead_key) => match self.close_lead(lead_key, &key)? {
                        None => (Vec::new(), None, Some(false)),
                        Some(lead_producer) if lead_producer == envelope.producer => {
                            (Vec::new(), None, Some(true))
                        }
                        Some(lead_producer) => (
                            vec![(lead_producer, DeliveryReason::LeadFeedback)],
                            None,
                            Some(true),
                        ),
                    },
                },
            };
            for (agency, reason) in &recipients {
                self.deliver(agency, seq, *reason, now)?;
            }
            let stored = StoredEvent {
                seq,
                envelope: envelope.clone(),
                position: *position,
                applied_at: now,
                delivered_to: recipients.iter().map(|(a, _)| a.clone()).collect(),
            };
            self.events.insert(&seq.to_be_bytes(), encode(&stored))?;
            self.applied
                .insert(key_bytes, applied_value(seq, &hash).as_slice())?;
            self.subjects
                .insert(keys::compound(envelope.subject().key().as_str(), seq), &[])?;
            outcomes.push(ApplyOutcome::Applied {
                seq,
                key,
                kind: envelope.kind(),
                recipients,
                lead_status,
                lead_found,
            });
        }
        self.meta.insert("next_seq", &next_seq.to_be_bytes())?;
        self.advance(consumed)?;
        Ok(Applied {
            outcomes,
            last_seq: next_seq - 1,
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
    fn close_lead(&self, lead_key: &EventKey, by: &EventKey) -> TxResult<Option<AgencyId>> {
        let Some(raw_seq) = self.applied.get(lead_key.to_bytes())? else {
            return Ok(None);
        };
        let lead_seq = keys::decode_u64(&raw_seq);
        let Some(raw) = self.events.get(lead_seq.to_be_bytes())? else {
            return Ok(None);
        };
        let stored: StoredEvent = decode("events", &raw).map_err(corrupt)?;
        if stored.envelope.kind() != EventKind::Lead {
            return Ok(None);
        }
        let row_key = keys::compound(stored.envelope.division().as_str(), lead_seq);
        if let Some(raw_row) = self.leads.get(&row_key)? {
            let mut row: LeadRow = decode("leads", &raw_row).map_err(corrupt)?;
            if row.status != LeadStatus::Closed {
                row.status = LeadStatus::Closed;
                row.closed_by = Some(by.clone());
                self.leads.insert(row_key, encode(&row))?;
            }
        }
        Ok(Some(stored.envelope.producer))
    }

    /// Appends a delivery of `seq` at the agency's next cursor.
    fn deliver(
        &self,
        agency: &AgencyId,
        seq: u64,
        reason: DeliveryReason,
        now: Timestamp,
    ) -> TxResult<()> {
        let head = self
            .heads
            .get(agency.as_str())?
            .map_or(0, |raw| keys::decode_u64(&raw));
        let cursor = head + 1;
        let record = DeliveryRecord {
            cursor,
            seq,
            reason,
            delivered_at: now,
        };
        self.inbox
            .insert(keys::compound(agency.as_str(), cursor), encode(&record))?;
        self.heads.insert(agency.as_str(), &cursor.to_be_bytes())?;
        Ok(())
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
        batch: &[(LogPosition, Envelope)],
        consumed: &[LogPosition],
        registry: &Registry,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let _guard = self.apply_lock.lock().await;
        let t = &self.trees;
        let result = (
            &t.meta,
            &t.events,
            &t.applied,
            &t.subjects,
            &t.leads,
            &t.inbox,
            &t.inbox_heads,
            &t.positions,
        )
            .transaction(
                |(meta, events, applied, subjects, leads, inbox, heads, positions)| {
                    let tx = Tx {
                        meta,
                        events,
                        applied,
                        subjects,
                        leads,
                        inbox,
                        heads,
                        positions,
                    };
                    tx.apply_batch(batch, consumed, registry, now)
                },
            );
        let applied = match result {
            Ok(applied) => applied,
            Err(TransactionError::Abort(err)) => return Err(err),
            Err(TransactionError::Storage(source)) => {
                return Err(StoreError::Sled {
                    op: "apply",
                    source,
                });
            }
        };
        self.flush().await?;
        self.mark_durable(applied.last_seq);
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::tests::sample_lead;
    use crate::domain::{Agency, AgencyKind, DivisionCode, Domain, EventId};

    fn registry() -> Registry {
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
        .unwrap()
    }

    fn at(offset: u64) -> LogPosition {
        LogPosition {
            partition: 0,
            offset,
        }
    }

    #[tokio::test]
    async fn replayed_records_are_applied_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Timestamp::now();
        let lead = sample_lead();
        let first = store
            .apply(&[(at(0), lead.clone())], &[at(0)], &registry(), now)
            .await
            .unwrap();
        assert!(matches!(
            first.outcomes[0],
            ApplyOutcome::Applied { seq: 1, .. }
        ));
        let again = store
            .apply(&[(at(0), lead)], &[at(0)], &registry(), now)
            .await
            .unwrap();
        assert!(matches!(again.outcomes[0], ApplyOutcome::Duplicate { .. }));
        assert_eq!(store.event_count(), 1);
        let agency = AgencyId::parse("330100-STHJ").unwrap();
        assert_eq!(store.latest_cursor(&agency).unwrap(), 1);
        assert_eq!(store.durable_seq(), 1);
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
        });
        // Lead and outcome in one batch: the outcome must see the lead written before it.
        let applied = store
            .apply(
                &[(at(0), lead.clone()), (at(1), outcome)],
                &[at(0), at(1)],
                &registry(),
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
