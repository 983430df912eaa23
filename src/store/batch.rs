//! A batch: the write sets of one log batch (or one tick of the clock), staged in memory in
//! order, then applied as one atomic sled batch, flushed, and only then made visible.
//!
//! Staging gives sequence numbers and inbox cursors and encodes index entries at once, so that
//! the [`View`](super::View) of later records in the same batch sees them. Event and alert
//! records are encoded at commit, under the audit chain's lock, because each carries its place
//! in the chain and read audits may take places meanwhile: the chain is extended and the batch
//! applied while the lock is held, so no entry can land between them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::MutexGuard;

use super::audit::{alert_record, entry_of, event_record, head_value};
use super::records::{self, Link};
use super::texts::{TextRef, reference};
use super::write::{Decision, Incoming, LeadWrite, Watch, WriteSet};
use super::{AuditHead, Counters, Store, StoreError, keys};
use crate::audit::{self, Entry, Record};
use crate::domain::{AgencyId, Alert, DeliveryReason, EventKind, LogPosition, StoredEvent};

/// An event staged in this batch.
pub(super) struct PendingEvent {
    pub(super) seq: u64,
    pub(super) incoming: Incoming,
    pub(super) delivered_to: Vec<AgencyId>,
}

/// An entry of the audit chain, in the order the batch makes them.
enum AuditItem {
    Event(usize),
    Alert(usize),
    Refused {
        producer: AgencyId,
        kind: EventKind,
        object: String,
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

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct Committed {
    /// The highest seq in the store afterwards.
    pub last_seq: u64,
    /// The audit entries it appended, when the store archives them ([`Store::archive_audit`]).
    pub audit: Vec<Entry>,
}

/// Write sets staged for one atomic apply. Holds the apply lock until committed or dropped
/// (dropping it discards everything staged).
pub struct Batch<'a> {
    store: &'a Store,
    guard: MutexGuard<'a, Counters>,
    counters: Counters,
    now: Timestamp,
    /// Encoded writes; `None` removes the key.
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub(super) events: Vec<PendingEvent>,
    alerts: Vec<Alert>,
    audit: Vec<AuditItem>,
    touched: BTreeSet<String>,
    moved: BTreeSet<u32>,
    /// Texts this batch writes, cached once it is on disk.
    texts: Vec<(TextRef, Arc<str>)>,
}

impl Store {
    /// Starts a batch applied at `now` (the time deliveries, alerts and audit entries carry,
    /// to the microsecond, as records keep it). Waits for the batch before it to commit.
    pub async fn begin(&self, now: Timestamp) -> Batch<'_> {
        let now = super::to_micros(now);
        let guard = self.apply.lock().await;
        Batch {
            counters: guard.clone(),
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

    fn put(&mut self, key: Vec<u8>, value: impl Into<Vec<u8>>) {
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
            keys::inbox_value(seq, alert, reason),
        );
    }

    /// Stages what the router decided for `incoming`.
    pub fn stage(&mut self, incoming: Incoming, decision: Decision) -> Staged {
        match decision {
            Decision::Duplicate | Decision::Conflict => Staged::default(),
            Decision::Refused(_) => {
                // Every event the log delivered leaves an entry, whether it took effect or not.
                let envelope = &incoming.envelope;
                self.audit.push(AuditItem::Refused {
                    producer: envelope.producer.clone(),
                    kind: envelope.kind(),
                    object: envelope.key().to_string(),
                    digest: incoming.bytes.content_hash,
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
            self.put(
                keys::applied(&incoming.envelope.key()),
                seq.to_be_bytes().to_vec(),
            );
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
                    keys::lead_value(&entry).to_vec(),
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
                    keys::lead_value(&entry).to_vec(),
                );
            }
            None => {}
        }
        if let Some(outcome) = ws.outcome {
            self.put(
                keys::history(&outcome.subject, &outcome.offence, this),
                keys::history_value(outcome.row.decided_at, outcome.row.penalty).to_vec(),
            );
            self.put(
                keys::penalty(&outcome.offence, this),
                keys::penalty_value(&outcome.row),
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
        if let Some((due, referral)) = ws.expired_deadline {
            self.remove(keys::deadline(due, &referral));
        }
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
            self.alerts.push(alert.clone());
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

    /// A staged event as readers would see it.
    pub(super) fn pending_event(&self, seq: u64) -> Option<StoredEvent> {
        let index = self.events.binary_search_by_key(&seq, |e| e.seq).ok()?;
        let e = &self.events[index];
        Some(StoredEvent {
            seq,
            envelope: e.incoming.envelope.clone(),
            position: e.incoming.position,
            logged_at: e.incoming.logged_at,
            applied_at: self.now,
            delivered_to: e.delivered_to.clone(),
            content_hash: e.incoming.bytes.content_hash,
        })
    }

    /// Applies everything staged as one sled batch, flushes, and moves the durable watermark.
    /// Returns only once it is on disk, so the caller may then commit the log offsets.
    pub async fn commit(self) -> Result<Committed, StoreError> {
        let Batch {
            store,
            mut guard,
            mut counters,
            now,
            writes,
            events,
            alerts,
            audit,
            touched,
            moved,
            texts,
        } = self;
        let capturing = store
            .capture
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        let mut out = Out {
            batch: sled::Batch::default(),
            captured: capturing.then(Vec::new),
        };
        for (key, value) in writes {
            out.write(key, value);
        }
        out.put(keys::meta("next_seq"), counters.next_seq.to_be_bytes());
        out.put(keys::meta("events"), counters.events.to_be_bytes());
        for agency in &touched {
            let head = counters.heads.get(agency).copied().unwrap_or(0);
            out.put(keys::head(agency), head.to_be_bytes());
        }
        for partition in &moved {
            let next = counters.positions.get(partition).copied().unwrap_or(0);
            out.put(keys::position(*partition), next.to_be_bytes());
        }
        let archive = store.archive.load(std::sync::atomic::Ordering::Relaxed);
        let mut archived = Vec::new();
        {
            let mut head = store.audit.lock().unwrap_or_else(|p| p.into_inner());
            let mut chain = *head;
            for item in &audit {
                // The record of the entry, and for an alert the body its digest covers.
                let (record, body) = match item {
                    AuditItem::Event(i) => (event_entry(&events[*i]), Vec::new()),
                    AuditItem::Alert(i) => {
                        let body = records::encode_alert_body(&alerts[*i]);
                        let digest: [u8; 32] = Sha256::digest(&body).into();
                        (alert_record(&alerts[*i], &digest), body)
                    }
                    AuditItem::Refused {
                        producer,
                        kind,
                        object,
                        digest,
                    } => (
                        Record::new(
                            producer.as_str(),
                            format!("refused {kind:?}"),
                            object.clone(),
                            hex::encode(digest),
                        ),
                        Vec::new(),
                    ),
                };
                let seq = chain.seq + 1;
                let hash = audit::hash_of(&chain.hash, seq, now, &record);
                let link = Link { seq, hash };
                match item {
                    AuditItem::Event(i) => {
                        let e = &events[*i];
                        out.put(
                            keys::event(e.seq),
                            records::encode_event(e.seq, &e.incoming, &e.delivered_to, now, link),
                        );
                    }
                    AuditItem::Alert(i) => {
                        out.put(
                            keys::alert(alerts[*i].id),
                            records::encode_alert(body, link),
                        );
                    }
                    AuditItem::Refused { digest, .. } => {
                        let entry = entry_of(seq, now, &record, &chain.hash, &hash);
                        out.put(
                            keys::audit(seq),
                            records::encode_audit(&entry, digest, hash),
                        );
                    }
                }
                if archive {
                    archived.push(entry_of(seq, now, &record, &chain.hash, &hash));
                }
                chain = AuditHead { seq, hash };
            }
            out.put(keys::meta("audit"), head_value(chain));
            store
                .tree
                .apply_batch(out.batch)
                .map_err(StoreError::sled("apply batch"))?;
            *head = chain;
        }
        store.flush().await?;
        for (name, text) in texts {
            store.remember_text(name, text);
        }
        let touched: Vec<String> = touched.into_iter().collect();
        store.mark_durable(&counters, &touched);
        if let Some(captured) = out.captured
            && let Some(all) = store
                .capture
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
        {
            all.push(captured);
        }
        let last_seq = counters.next_seq.saturating_sub(1);
        std::mem::swap(&mut *guard, &mut counters);
        Ok(Committed {
            last_seq,
            audit: archived,
        })
    }
}

/// The sled batch being built, and a copy of it when the bench captures writes.
struct Out {
    batch: sled::Batch,
    captured: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Out {
    fn put(&mut self, key: Vec<u8>, value: impl AsRef<[u8]>) {
        self.write(key, Some(value.as_ref().to_vec()));
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        match value {
            Some(value) => {
                if let Some(captured) = &mut self.captured {
                    captured.push((key.clone(), value.clone()));
                }
                self.batch.insert(key, value);
            }
            None => self.batch.remove(key),
        }
    }
}

fn event_entry(e: &PendingEvent) -> Record {
    let envelope = &e.incoming.envelope;
    let bytes = &e.incoming.bytes;
    // The content hash is the SHA-256 of protobuf bytes; only a legacy JSON record's differs.
    let digest = match bytes.encoding {
        crate::codec::Encoding::Protobuf => bytes.content_hash,
        crate::codec::Encoding::JsonV1 => Sha256::digest(&bytes.bytes).into(),
    };
    event_record(
        envelope.producer.as_str(),
        envelope.kind(),
        envelope.key().to_string(),
        &digest,
    )
}
