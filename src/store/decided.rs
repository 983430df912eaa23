//! A decided batch as the writing router ships it to its replicas (docs/kafka.md, "Replicas"):
//! the frozen batch with everything the rules decided already in it — seqs and inbox cursors
//! given, index entries and alerts encoded — so that every replica applies the very same writes
//! and numbers every inbox as the writer did. Nothing is decided again on a replica, and no
//! clock is read there.
//!
//! Each replica links the batch into its own audit chain, which also holds the reads made on
//! that replica: the chain links of events and alerts differ between replicas, while every
//! answer a reader gets (inboxes, cursors, timelines, boards, referrals) is the same.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use prost::Message as _;

use super::batch::{AuditItem, PendingEvent};
use super::commit::{Committed, Frozen, FrozenAlert, FrozenBatch};
use super::{Counters, Incoming, Store, StoreError, keys};
use crate::audit::Record;
use crate::codec::Encoding;
use crate::codec::log::EnvelopeBytes;
use crate::domain::{AgencyId, LogPosition};
use crate::proto::store::v1 as rec;

/// The layout of [`rec::DecidedBatch`] this release writes and reads.
const VERSION: u32 = 1;

fn corrupt(reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        tree: "decisions",
        reason: reason.into(),
    }
}

fn chain_record(r: &Record) -> rec::ChainRecord {
    rec::ChainRecord {
        actor: r.actor.clone(),
        action: r.action.clone(),
        object: r.object.clone(),
        digest: r.digest.clone(),
    }
}

fn record_of(r: Option<rec::ChainRecord>) -> Result<Record, StoreError> {
    let r = r.ok_or_else(|| corrupt("an audit item without its record"))?;
    Ok(Record {
        actor: r.actor,
        action: r.action,
        object: r.object,
        digest: r.digest,
    })
}

impl Frozen {
    /// The batch as its replicas apply it.
    pub fn encode(&self) -> Vec<u8> {
        let b = &self.0;
        rec::DecidedBatch {
            version: VERSION,
            now_us: b.now.as_microsecond(),
            next_seq: b.counters.next_seq,
            events: b.counters.events,
            heads: b
                .counters
                .heads
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            positions: b.counters.positions.clone().into_iter().collect(),
            writes: b
                .writes
                .iter()
                .map(|(key, value)| rec::Write {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            staged_events: b
                .events
                .iter()
                .map(|e| rec::DecidedEvent {
                    seq: e.seq,
                    partition: e.incoming.position.partition,
                    offset: e.incoming.position.offset,
                    logged_at_us: e.incoming.logged_at.as_microsecond(),
                    envelope: e.incoming.bytes.bytes.clone(),
                    encoding: e.incoming.bytes.encoding.number(),
                    content_sha256: e.incoming.bytes.content_hash.to_vec(),
                    delivered_to: e.delivered_to.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            alerts: b
                .alerts
                .iter()
                .map(|a| rec::DecidedAlert {
                    id: a.id,
                    body: a.body.clone(),
                    record: Some(chain_record(&a.record)),
                })
                .collect(),
            chain: b
                .audit
                .iter()
                .map(|item| match item {
                    AuditItem::Event(i) => rec::ChainItem {
                        item: Some(rec::chain_item::Item::Event(*i as u32)),
                        refused_digest: Vec::new(),
                    },
                    AuditItem::Alert(i) => rec::ChainItem {
                        item: Some(rec::chain_item::Item::Alert(*i as u32)),
                        refused_digest: Vec::new(),
                    },
                    AuditItem::Refused { record, digest } => rec::ChainItem {
                        item: Some(rec::chain_item::Item::Refused(chain_record(record))),
                        refused_digest: digest.to_vec(),
                    },
                })
                .collect(),
            touched: b.touched.iter().cloned().collect(),
            moved: b.moved.iter().copied().collect(),
            texts: b
                .texts
                .iter()
                .map(|(name, text)| rec::Text {
                    name: name.to_vec(),
                    text: text.to_string(),
                })
                .collect(),
            tallies: b
                .tallies
                .iter()
                .map(|(key, delta)| rec::Tally {
                    key: key.clone(),
                    delta: *delta,
                })
                .collect(),
        }
        .encode_to_vec()
    }
}

fn hash32(raw: &[u8], what: &str) -> Result<[u8; 32], StoreError> {
    raw.try_into()
        .map_err(|_| corrupt(format!("{what} is {} bytes, not 32", raw.len())))
}

fn timestamp(us: i64) -> Result<jiff::Timestamp, StoreError> {
    jiff::Timestamp::from_microsecond(us).map_err(|e| corrupt(e.to_string()))
}

/// The parts of a decided batch, decoded; `order` is given when it is queued.
fn decode(raw: &[u8]) -> Result<FrozenBatch, StoreError> {
    let b = rec::DecidedBatch::decode(raw).map_err(|e| corrupt(e.to_string()))?;
    if b.version != VERSION {
        return Err(corrupt(format!(
            "decided batch of layout {}; this release reads layout {VERSION}",
            b.version
        )));
    }
    let mut events = Vec::with_capacity(b.staged_events.len());
    for e in b.staged_events {
        let bytes = EnvelopeBytes {
            bytes: e.envelope,
            encoding: Encoding::from_number(e.encoding).map_err(|e| corrupt(e.to_string()))?,
            content_hash: hash32(&e.content_sha256, "an event's content hash")?,
        };
        let envelope = bytes.decode().map_err(|e| corrupt(e.to_string()))?;
        let delivered_to = e
            .delivered_to
            .iter()
            .map(|a| AgencyId::parse(a).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<_, _>>()?;
        events.push(PendingEvent {
            seq: e.seq,
            incoming: Incoming {
                position: LogPosition {
                    partition: e.partition,
                    offset: e.offset,
                },
                logged_at: timestamp(e.logged_at_us)?,
                envelope,
                bytes,
            },
            delivered_to,
        });
    }
    let mut alerts = Vec::with_capacity(b.alerts.len());
    for a in b.alerts {
        alerts.push(FrozenAlert {
            id: a.id,
            body: a.body,
            record: record_of(a.record)?,
        });
    }
    let mut audit = Vec::with_capacity(b.chain.len());
    for item in b.chain {
        audit.push(match item.item {
            Some(rec::chain_item::Item::Event(i)) if (i as usize) < events.len() => {
                AuditItem::Event(i as usize)
            }
            Some(rec::chain_item::Item::Alert(i)) if (i as usize) < alerts.len() => {
                AuditItem::Alert(i as usize)
            }
            Some(rec::chain_item::Item::Refused(r)) => AuditItem::Refused {
                record: record_of(Some(r))?,
                digest: hash32(&item.refused_digest, "a refused record's digest")?,
            },
            _ => return Err(corrupt("an audit item naming nothing in its batch")),
        });
    }
    let mut texts = Vec::with_capacity(b.texts.len());
    for t in b.texts {
        let name: [u8; 16] = t
            .name
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("a text name that is not 16 bytes"))?;
        texts.push((name, Arc::from(t.text)));
    }
    Ok(FrozenBatch {
        order: 0,
        counters: Counters {
            next_seq: b.next_seq,
            heads: b.heads.into_iter().collect(),
            positions: b.positions.into_iter().collect(),
            events: b.events,
        },
        now: timestamp(b.now_us)?,
        writes: b.writes.into_iter().map(|w| (w.key, w.value)).collect(),
        events,
        alerts,
        audit,
        touched: b.touched.into_iter().collect::<BTreeSet<_>>(),
        moved: b.moved.into_iter().collect::<BTreeSet<_>>(),
        texts,
        tallies: b
            .tallies
            .into_iter()
            .map(|t| (t.key, t.delta))
            .collect::<BTreeMap<_, _>>(),
    })
}

impl Store {
    /// Applies a batch another router decided (read from the decisions log at an offset before
    /// `next`), as that router applied it, and records `next` with it. The batch takes the
    /// place of what this store would have staged: a replica that becomes the writer decides
    /// on from exactly the writer's counters.
    pub async fn apply_decided(&self, raw: &[u8], next: u64) -> Result<Committed, StoreError> {
        let mut batch = decode(raw)?;
        // The filters of keys that may exist learn the batch's before anyone reads it.
        for key in batch.writes.keys() {
            match key.first() {
                Some(&keys::APPLIED) => self.applied_keys.insert(key),
                Some(&keys::HISTORY) if key.len() > 8 => {
                    self.history_scopes.insert(&key[..key.len() - 8]);
                }
                _ => {}
            }
        }
        let frozen = {
            let mut staging = self.staging.lock().await;
            batch.order = staging.frozen;
            staging.frozen += 1;
            staging.counters = batch.counters.clone();
            let frozen = Arc::new(batch);
            self.inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(frozen.clone());
            Frozen(frozen)
        };
        self.apply_at(
            frozen,
            super::Marks {
                decisions: Some(next),
                journal: None,
            },
        )
        .await
    }

    /// Batches applied with a journal entry (`router::journal`).
    pub fn batches(&self) -> u64 {
        self.batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The journal entry of batch `n`, as the store keeps it.
    pub fn journal_entry(&self, n: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree
            .get(keys::journal(n))
            .map_err(StoreError::sled("read"))?
            .map(|raw| raw.to_vec()))
    }

    /// The offset of the decisions log this store reads next (0: it has applied none).
    pub fn decisions_next(&self) -> Result<u64, StoreError> {
        Ok(super::meta_u64(&self.tree, "decisions")?.unwrap_or(0))
    }
}
