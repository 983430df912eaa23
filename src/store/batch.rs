//! A batch: the write sets of one log batch (or one tick of the clock), staged in memory in
//! order, then applied as one atomic sled batch, flushed, and only then made visible.
//!
//! Staging gives sequence numbers and inbox cursors and encodes index entries at once, so that
//! the [`View`](super::View) of later records in the same batch sees them. Freezing ends
//! staging: the next batch may be staged (its view reading this one's writes) while this one is
//! applied (`commit.rs`) — the router decides one batch while the store writes the last. Event
//! and alert records are encoded when applied, under the audit chain's lock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::MutexGuard;

use super::commit::{Committed, Frozen, FrozenBatch};
use super::records;
use super::texts::{TextRef, reference};
use super::write::{Decision, Incoming, LeadWrite, Watch, WriteSet};
use super::{Counters, Store, StoreError, keys, values};
use crate::domain::{AgencyId, Alert, DeliveryReason, LogPosition, StoredEvent};

/// An event staged in this batch.
pub(super) struct PendingEvent {
    pub(super) seq: u64,
    pub(super) incoming: Incoming,
    pub(super) delivered_to: Vec<AgencyId>,
}

/// An entry of the audit chain, in the order the batch makes them.
pub(super) enum AuditItem {
    Event(usize),
    Alert(usize),
    /// A record the router refused: its entry, and the digest the entry covers.
    Refused {
        record: crate::audit::Record,
        digest: [u8; 32],
    },
}

/// What staging one decision gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Staged {
    /// The event's seq, if it was stored.
    pub seq: Option<u64>,
    /// The alerts raised, with their ids and times.
    pub alerts: Vec<Alert>,
}

/// The staging lock's state: the counters as the last frozen batch left them.
#[derive(Debug, Default)]
pub(super) struct Staging {
    pub(super) counters: Counters,
    /// The order the next frozen batch gets (batches are applied in this order).
    pub(super) frozen: u64,
}

/// Write sets staged for one atomic apply. Holds the staging lock until frozen or dropped
/// (dropping it discards everything staged).
pub struct Batch<'a> {
    store: &'a Store,
    guard: MutexGuard<'a, Staging>,
    /// Batches frozen before this one and not yet applied, oldest first: this batch's view
    /// reads their writes before the store's.
    pub(super) prior: Vec<Arc<FrozenBatch>>,
    counters: Counters,
    now: Timestamp,
    /// Encoded writes; `None` removes the key.
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub(super) events: Vec<PendingEvent>,
    alerts: Vec<super::commit::FrozenAlert>,
    audit: Vec<AuditItem>,
    touched: BTreeSet<String>,
    moved: BTreeSet<u32>,
    /// Texts this batch writes, cached once it is on disk.
    texts: Vec<(TextRef, Arc<str>)>,
    /// Additions to the console's counters, per key (`tallies.rs`).
    pub(super) tallies: BTreeMap<Vec<u8>, i64>,
}

impl Store {
    /// Starts a batch applied at `now` (the time deliveries, alerts and audit entries carry,
    /// to the microsecond, as records keep it). Waits for the batch before it to be frozen.
    pub async fn begin(&self, now: Timestamp) -> Batch<'_> {
        let now = super::to_micros(now);
        let guard = self.staging.lock().await;
        let prior = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Batch {
            counters: guard.counters.clone(),
            prior,
            guard,
            store: self,
            now,
            writes: BTreeMap::new(),
            events: Vec::new(),
            alerts: Vec::new(),
            audit: Vec::new(),
            touched: BTreeSet::new(),
            moved: BTreeSet::new(),
            texts: Vec::new(),
            tallies: BTreeMap::new(),
        }
    }
}

impl Batch<'_> {
    pub(super) fn store(&self) -> &Store {
        self.store
    }

    /// The time this batch is applied at.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.counters.next_seq;
        self.counters.next_seq += 1;
        seq
    }

    pub(super) fn put(&mut self, key: Vec<u8>, value: impl Into<Vec<u8>>) {
        self.writes.insert(key, Some(value.into()));
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Makes sure `text` is on disk under its name (records name it instead of copying it).
    fn intern(&mut self, text: &str) {
        let name = reference(text);
        if self.texts.iter().any(|(n, _)| *n == name) || self.store.has_text(&name).unwrap_or(false)
        {
            return;
        }
        self.put(keys::text(&name), text.as_bytes().to_vec());
        self.texts.push((name, text.into()));
    }

    /// Appends a delivery of `seq` at the agency's next cursor.
    fn deliver(&mut self, agency: &AgencyId, seq: u64, alert: bool, reason: DeliveryReason) {
        let head = self
            .counters
            .heads
            .entry(agency.as_str().to_owned())
            .or_insert(0);
        *head += 1;
        let cursor = *head;
        self.touched.insert(agency.as_str().to_owned());
        self.put(
            keys::inbox(agency.as_str(), cursor),
            values::inbox_value(seq, alert, reason),
        );
    }

    /// Stages what the router decided for `incoming`.
    pub fn stage(&mut self, incoming: Incoming, decision: Decision) -> Staged {
        match decision {
            Decision::Duplicate | Decision::Conflict => Staged::default(),
            Decision::Refused(_) => {
                // Every event the log delivered leaves an entry, whether it took effect or not.
                let envelope = &incoming.envelope;
                let digest = incoming.bytes.content_hash;
                self.audit.push(AuditItem::Refused {
                    record: crate::audit::Record::new(
                        envelope.producer.as_str(),
                        format!("refused {:?}", envelope.kind()),
                        envelope.key().to_string(),
                        hex::encode(digest),
                    ),
                    digest,
                });
                Staged::default()
            }
            Decision::Apply(writes) => self.apply(Some(incoming), *writes),
        }
    }

    /// Stages what the clock decided (no event of its own).
    pub fn stage_effects(&mut self, writes: WriteSet) -> Staged {
        self.apply(None, writes)
    }

    fn apply(&mut self, incoming: Option<Incoming>, ws: WriteSet) -> Staged {
        let mut staged = Staged::default();
        let event_key = incoming.as_ref().map(|i| i.envelope.key());
        if let Some(incoming) = incoming {
            let seq = self.take_seq();
            let event = ws.event.unwrap_or_default();
            for (agency, reason) in &event.recipients {
                self.deliver(agency, seq, false, *reason);
            }
            let applied = keys::applied(&incoming.envelope.key());
            self.store.applied_keys.insert(&applied);
            self.put(applied, seq.to_be_bytes().to_vec());
            if let Some(subject) = &event.timeline {
                self.put(keys::timeline(subject, seq), Vec::new());
            }
            self.events.push(PendingEvent {
                seq,
                incoming,
                delivered_to: event.recipients.into_iter().map(|(a, _)| a).collect(),
            });
            self.audit.push(AuditItem::Event(self.events.len() - 1));
            self.counters.events += 1;
            staged.seq = Some(seq);
        }
        let this = staged.seq.unwrap_or(0);
        match ws.lead {
            Some(LeadWrite::Open { division, entry }) => {
                self.put(
                    keys::lead(&division, this),
                    values::lead_value(&entry).to_vec(),
                );
            }
            Some(LeadWrite::Close {
                division,
                seq,
                mut entry,
            }) => {
                entry.status = crate::domain::LeadStatus::Closed;
                entry.closed_by = Some(this);
                self.put(
                    keys::lead(&division, seq),
                    values::lead_value(&entry).to_vec(),
                );
            }
            None => {}
        }
        if let Some(outcome) = ws.outcome {
            self.store
                .history_scopes
                .insert(&keys::history_scope(&outcome.subject, &outcome.offence));
            self.put(
                keys::history(&outcome.subject, &outcome.offence, this),
                values::history_value(outcome.row.decided_at, outcome.row.penalty).to_vec(),
            );
            self.put(
                keys::penalty(&outcome.offence, this),
                values::penalty_value(&outcome.row),
            );
        }
        if let Some(write) = ws.referral {
            let record = &write.record;
            if let Some(due) = write.previous_due {
                self.remove(keys::deadline(due, &record.key));
            }
            if let Some(deadline) = record.deadline.as_ref().filter(|d| !d.overdue) {
                self.put(
                    keys::deadline(deadline.due, &record.key),
                    deadline.step.clone().into_bytes(),
                );
            }
            if let Some(case) = &write.case_number {
                self.put(
                    keys::case(&record.key.agency, case),
                    record.key.to_string().into_bytes(),
                );
            }
            self.put(
                keys::referral(&record.key),
                records::encode_referral(record),
            );
        }
        if let (Some((due, lead)), Some(outcome)) = (ws.await_lead, &event_key) {
            self.put(keys::awaited(due, outcome), lead.to_string().into_bytes());
        }
        if let (Some(watch), Some(outcome)) = (ws.watch, event_key) {
            for hit in &watch.hits {
                self.intern(&hit.title);
                self.intern(&hit.citation);
            }
            let watch = Watch {
                outcome,
                seq: this,
                case_number: watch.case_number,
                hits: watch.hits,
                due: watch.due,
            };
            self.put(
                keys::watch(watch.due, &watch.outcome),
                records::encode_watch(&watch),
            );
        }
        if let Some((due, outcome)) = ws.expired_watch {
            self.remove(keys::watch(due, &outcome));
        }
        if let Some(awaited) = ws.expired_await {
            self.remove(keys::awaited(awaited.due, &awaited.outcome));
        }
        if let Some((due, referral)) = ws.expired_deadline {
            self.remove(keys::deadline(due, &referral));
        }
        if let Some(write) = ws.inspection {
            self.stage_inspection(write);
        }
        self.stage_tallies(ws.tallies);
        for mark in ws.split_marks {
            self.put(
                keys::split(&mark.subject, &mark.offence, &mark.rule),
                Vec::new(),
            );
        }
        // After the event, so that an agency's inbox shows the event before what it set off.
        for write in ws.alerts {
            let mut alert = write.alert;
            self.intern(&alert.title);
            self.intern(&alert.citation);
            alert.id = self.take_seq();
            alert.raised_at = self.now;
            let mut sent: Vec<&AgencyId> = Vec::new();
            for agency in &write.to {
                if !sent.contains(&agency) {
                    sent.push(agency);
                    self.deliver(agency, alert.id, true, DeliveryReason::Alert);
                }
            }
            self.alerts.push(super::commit::FrozenAlert::of(&alert));
            self.audit.push(AuditItem::Alert(self.alerts.len() - 1));
            staged.alerts.push(alert);
        }
        staged
    }

    /// Moves each partition's position past the records consumed in this batch (also records
    /// that did not decode and were set aside).
    pub fn advance(&mut self, consumed: &[LogPosition]) {
        for pos in consumed {
            let next = self.counters.positions.entry(pos.partition).or_default();
            if pos.offset + 1 > *next {
                *next = pos.offset + 1;
                self.moved.insert(pos.partition);
            }
        }
    }

    /// An event staged here or in a batch frozen before this one, as readers would see it.
    pub(super) fn pending_event(&self, seq: u64) -> Option<StoredEvent> {
        let staged = |events: &[PendingEvent], now: Timestamp| {
            let index = events.binary_search_by_key(&seq, |e| e.seq).ok()?;
            let e = &events[index];
            Some(StoredEvent {
                seq,
                envelope: e.incoming.envelope.clone(),
                position: e.incoming.position,
                logged_at: e.incoming.logged_at,
                applied_at: now,
                delivered_to: e.delivered_to.clone(),
                content_hash: e.incoming.bytes.content_hash,
            })
        };
        staged(&self.events, self.now).or_else(|| {
            self.prior
                .iter()
                .rev()
                .find_map(|p| staged(&p.events, p.now))
        })
    }

    /// Ends staging: the batch's writes become part of what later batches' views read, the
    /// staging lock is let go (the next batch may be staged while this one is applied), and the
    /// frozen batch is handed back for [`Store::apply`]. Batches are applied in the order they
    /// are frozen.
    pub fn freeze(self) -> Frozen {
        let Batch {
            store,
            mut guard,
            counters,
            now,
            writes,
            events,
            alerts,
            audit,
            touched,
            moved,
            texts,
            tallies,
            prior: _,
        } = self;
        guard.counters = counters.clone();
        let order = guard.frozen;
        guard.frozen += 1;
        let frozen = Arc::new(FrozenBatch {
            order,
            counters,
            now,
            writes,
            events,
            alerts,
            audit,
            touched,
            moved,
            texts,
            tallies,
        });
        store
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(frozen.clone());
        Frozen(frozen)
    }

    /// Freezes and applies: everything staged as one sled batch, flushed, the durable watermark
    /// moved. Returns only once it is on disk, so the caller may then commit the log offsets.
    pub async fn commit(self) -> Result<Committed, StoreError> {
        let store = self.store;
        let frozen = self.freeze();
        store.apply(frozen).await
    }
}
