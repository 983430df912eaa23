//! Applying frozen batches, in the order they were frozen: event and alert records encoded with
//! their place in the audit chain (under the chain's lock, so that no read audit lands between
//! the chain and the batch that extends it), everything written as one atomic sled batch,
//! flushed, and only then the durable watermark moved and the batch let go from the views of
//! later batches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::audit::{alert_record, entry_of, event_record, head_value};
use super::batch::{AuditItem, PendingEvent};
use super::records::{self, Link};
use super::texts::TextRef;
use super::{AuditHead, Counters, Store, StoreError, keys};
use crate::audit::{self, Entry, Record};
use crate::domain::Alert;

/// What a batch staged, frozen: what later batches' views read until it is applied.
pub(super) struct FrozenBatch {
    pub(super) order: u64,
    pub(super) counters: Counters,
    pub(super) now: Timestamp,
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub(super) events: Vec<PendingEvent>,
    pub(super) alerts: Vec<FrozenAlert>,
    pub(super) audit: Vec<AuditItem>,
    pub(super) touched: BTreeSet<String>,
    pub(super) moved: BTreeSet<u32>,
    pub(super) texts: Vec<(TextRef, Arc<str>)>,
    pub(super) tallies: BTreeMap<Vec<u8>, i64>,
}

/// An alert as a batch writes it: its body encoded (and the digest its audit entry covers).
pub(super) struct FrozenAlert {
    pub(super) id: u64,
    pub(super) body: Vec<u8>,
    pub(super) record: Record,
}

impl FrozenAlert {
    pub(super) fn of(alert: &Alert) -> Self {
        let body = records::encode_alert_body(alert);
        let digest: [u8; 32] = Sha256::digest(&body).into();
        Self {
            id: alert.id,
            record: alert_record(alert, &digest),
            body,
        }
    }
}

/// A batch whose staging is over, waiting for [`Store::apply`].
pub struct Frozen(pub(super) Arc<FrozenBatch>);

/// What an applied batch records beside its writes, in the same sled batch.
#[derive(Debug, Default)]
pub struct Marks {
    /// The decisions log has been applied up to here (the offset to read next): a replicas'
    /// writer's batch once its decisions topic took it, a follower's batch as it read it.
    pub decisions: Option<u64>,
    /// The router's journal entry of the batch (`router::journal`), kept as the next batch's.
    pub journal: Option<Vec<u8>>,
}

/// What an applied batch did.
#[derive(Debug, Default)]
pub struct Committed {
    /// The highest seq in the store afterwards.
    pub last_seq: u64,
    /// The audit entries it appended, when the store archives them ([`Store::archive_audit`]).
    pub audit: Vec<Entry>,
}

impl Store {
    /// Applies `frozen` once every batch frozen before it has been applied: one sled batch, a
    /// flush, then the durable watermark. If an earlier batch failed, this one is not applied.
    pub async fn apply(&self, frozen: Frozen) -> Result<Committed, StoreError> {
        self.apply_at(frozen, Marks::default()).await
    }

    /// [`Store::apply`], also recording `marks` in the same sled batch.
    pub async fn apply_at(&self, frozen: Frozen, marks: Marks) -> Result<Committed, StoreError> {
        let order = frozen.0.order;
        let mut turn = self.applied.subscribe();
        let (_, failed) = *turn
            .wait_for(|(next, failed)| *failed || *next == order)
            .await
            .map_err(|_| StoreError::Background("the store was dropped".into()))?;
        if failed {
            return Err(StoreError::Background(
                "an earlier batch failed to apply; this one was not applied".into(),
            ));
        }
        let applied = self.apply_now(&frozen.0, marks).await;
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|b| !Arc::ptr_eq(b, &frozen.0));
        self.applied.send_modify(|(next, failed)| match &applied {
            Ok(_) => *next = order + 1,
            Err(_) => *failed = true,
        });
        applied
    }

    async fn apply_now(&self, batch: &FrozenBatch, marks: Marks) -> Result<Committed, StoreError> {
        let store = self;
        let FrozenBatch {
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
            ..
        } = batch;
        let now = *now;
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
            out.write(key, value.as_deref());
        }
        out.put(keys::meta("next_seq"), counters.next_seq.to_be_bytes());
        if let Some(next) = marks.decisions {
            out.put(keys::meta("decisions"), next.to_be_bytes());
        }
        // Batches are applied one at a time: the count moves only here.
        let batches = store.batches.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(entry) = &marks.journal {
            out.put(keys::journal(batches), entry);
            out.put(keys::meta("batches"), (batches + 1).to_be_bytes());
        }
        out.put(keys::meta("events"), counters.events.to_be_bytes());
        for agency in touched {
            let head = counters.heads.get(agency).copied().unwrap_or(0);
            out.put(keys::head(agency), head.to_be_bytes());
        }
        // Batches are applied one at a time, in order: the values on disk are the last batch's.
        for (key, value) in store.tally_values(tallies)? {
            out.put(key, value);
        }
        for partition in moved {
            let next = counters.positions.get(partition).copied().unwrap_or(0);
            out.put(keys::position(*partition), next.to_be_bytes());
        }
        let archive = store.archive.load(std::sync::atomic::Ordering::Relaxed);
        let mut archived = Vec::new();
        {
            let mut head = store.audit.lock().unwrap_or_else(|p| p.into_inner());
            let mut chain = *head;
            for item in audit {
                // The record of the entry, and for an alert the body its digest covers.
                let (record, body) = match item {
                    AuditItem::Event(i) => (event_entry(&events[*i]), Vec::new()),
                    AuditItem::Alert(i) => (alerts[*i].record.clone(), alerts[*i].body.clone()),
                    AuditItem::Refused { record, .. } => (record.clone(), Vec::new()),
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
        if marks.journal.is_some() {
            store
                .batches
                .store(batches + 1, std::sync::atomic::Ordering::Relaxed);
        }
        for (name, text) in texts {
            store.remember_text(*name, text.clone());
        }
        let touched: Vec<String> = touched.iter().cloned().collect();
        store.mark_durable(counters, &touched);
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
        self.write(&key, Some(value.as_ref()));
    }

    /// One copy of each key and value, into sled's own buffers.
    fn write(&mut self, key: &[u8], value: Option<&[u8]>) {
        match value {
            Some(value) => {
                if let Some(captured) = &mut self.captured {
                    captured.push((key.to_vec(), value.to_vec()));
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
