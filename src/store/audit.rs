//! The audit chain in the store. Applied events and raised alerts carry their own link (written
//! in the batch that applies them, so a write is never without its entry); reads, denials and
//! refused records have entries of their own (`U`). Checking the chain walks all three in chain
//! order and recomputes each entry from the record it stands for — an event's digest from its
//! envelope bytes, an alert's from its body — so altering a record, removing it or reordering
//! the chain is caught at the first entry that no longer fits. The rule texts that alerts name
//! by hash are checked against their names.

use std::iter::Peekable;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::records::{self, Link};
use super::{AuditHead, Store, StoreError, keys};
use crate::audit::{self, Broken, Entry, Record, Verifier};
use crate::domain::{Alert, EventKind};

/// One entry of the chain as found in the store: where it is stored, its position and time,
/// what it says (or why that cannot be read), and the hash it was stored with.
struct Found {
    /// Where it is stored, for the report: the store seq of an event or alert, the audit seq
    /// of an entry of its own.
    key: u64,
    link: Link,
    at: Timestamp,
    record: Result<Record, String>,
}

impl Store {
    /// Appends entries for actions that write nothing else (reads, denials, acknowledgements).
    /// Durable with the next flush.
    pub fn audit(&self, records: Vec<Record>, at: Timestamp) -> Result<Vec<Entry>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let at = super::to_micros(at);
        let mut head = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        let mut chain = *head;
        let mut batch = sled::Batch::default();
        let mut entries = Vec::with_capacity(records.len());
        for record in records {
            let seq = chain.seq + 1;
            let hash = audit::hash_of(&chain.hash, seq, at, &record);
            let digest = hex::decode(&record.digest).unwrap_or_default();
            let entry = Entry {
                seq,
                at,
                actor: record.actor,
                action: record.action,
                object: record.object,
                digest: record.digest,
                prev: hex::encode(chain.hash),
                hash: hex::encode(hash),
            };
            batch.insert(
                keys::audit(seq),
                records::encode_audit(&entry, &digest, hash),
            );
            entries.push(entry);
            chain = AuditHead { seq, hash };
        }
        batch.insert(keys::meta("audit"), head_value(chain).to_vec());
        self.tree
            .apply_batch(batch)
            .map_err(StoreError::sled("audit"))?;
        *head = chain;
        Ok(entries)
    }

    /// Appends `records` and flushes: they are durable when this returns. For full reads of
    /// personal data, which are recorded before they are shown.
    pub async fn audit_durably(
        &self,
        records: Vec<Record>,
        at: Timestamp,
    ) -> Result<Vec<Entry>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let entries = self.audit(records, at)?;
        self.flush().await?;
        Ok(entries)
    }

    /// Checks the whole chain; the number of entries, or where it breaks.
    pub fn verify_audit(&self) -> Result<Result<u64, Broken>, StoreError> {
        let mut verifier = Verifier::default();
        for found in self.chain()? {
            let found = found?;
            let checked = verifier.next(
                found.key,
                found.link.seq,
                found.at,
                found.record.as_ref().map_err(Clone::clone),
                &found.link.hash,
            );
            if let Err(broken) = checked {
                return Ok(Err(broken));
            }
        }
        // Alerts and watches name their rule texts by hash: a text must still match its name.
        for entry in self.tree.scan_prefix([keys::TEXT]) {
            let (key, text) = entry.map_err(StoreError::sled("read texts"))?;
            let text = String::from_utf8_lossy(&text);
            if key[1..] != super::texts::reference(&text) {
                return Ok(Err(Broken {
                    position: verifier.count(),
                    seq: 0,
                    reason: format!(
                        "the rule text stored as {} was altered: alerts naming it no longer say what they said",
                        hex::encode(&key[1..])
                    ),
                }));
            }
        }
        Ok(Ok(verifier.count()))
    }

    /// The whole chain as entries, in order (for tools and the tests of tampering).
    pub fn audit_entries(&self) -> Result<Vec<Entry>, StoreError> {
        let mut prev = audit::GENESIS;
        let mut out = Vec::new();
        for found in self.chain()? {
            let found = found?;
            let record = found.record.map_err(|reason| StoreError::Corrupt {
                tree: "audit",
                reason,
            })?;
            out.push(Entry {
                seq: found.link.seq,
                at: found.at,
                actor: record.actor,
                action: record.action,
                object: record.object,
                digest: record.digest,
                prev: hex::encode(prev),
                hash: hex::encode(found.link.hash),
            });
            prev = found.link.hash;
        }
        Ok(out)
    }

    /// Every entry of the chain, in chain order: events, alerts and entries of their own merged
    /// by their position (each family is stored in that order already).
    fn chain(&self) -> Result<impl Iterator<Item = Result<Found, StoreError>> + '_, StoreError> {
        let events: Box<dyn Iterator<Item = _>> =
            Box::new(self.tree.scan_prefix([keys::EVENT]).map(|entry| {
                let (key, raw) = entry.map_err(StoreError::sled("read audit"))?;
                found_event(keys::suffix_u64(&key), &raw)
            }));
        let alerts: Box<dyn Iterator<Item = _>> =
            Box::new(self.tree.scan_prefix([keys::ALERT]).map(|entry| {
                let (key, raw) = entry.map_err(StoreError::sled("read audit"))?;
                found_alert(self, keys::suffix_u64(&key), &raw)
            }));
        let own: Box<dyn Iterator<Item = _>> =
            Box::new(self.tree.scan_prefix([keys::AUDIT]).map(|entry| {
                let (key, raw) = entry.map_err(StoreError::sled("read audit"))?;
                let key = keys::suffix_u64(&key);
                Ok(match records::decode_audit(&raw) {
                    Ok(a) => Found {
                        key,
                        link: Link {
                            seq: a.seq,
                            hash: <[u8; 32]>::try_from(a.hash.as_slice()).unwrap_or_default(),
                        },
                        at: a.at,
                        record: Ok(a.record),
                    },
                    Err(e) => undecodable(key, e),
                })
            }));
        Ok(Merge([
            events.peekable(),
            alerts.peekable(),
            own.peekable(),
        ]))
    }
}

fn undecodable(key: u64, err: StoreError) -> Found {
    Found {
        key,
        // Sorts where the entry must have been: the walk reports it there.
        link: Link {
            seq: key,
            hash: [0; 32],
        },
        at: Timestamp::UNIX_EPOCH,
        record: Err(crate::telemetry::chain(&err)),
    }
}

fn found_event(seq: u64, raw: &[u8]) -> Result<Found, StoreError> {
    let event = match records::EventRaw::decode(raw) {
        Ok(event) => event,
        Err(e) => return Ok(undecodable(seq, e)),
    };
    let link = event.link()?;
    let at = event.applied_at()?;
    // The digest from the bytes as they are now: an altered envelope no longer matches.
    let digest: [u8; 32] = Sha256::digest(event.envelope()).into();
    let record = event
        .bytes()
        .and_then(|b| {
            b.decode().map_err(|e| StoreError::Corrupt {
                tree: "events",
                reason: crate::telemetry::chain(&e),
            })
        })
        .map(|envelope| {
            event_record(
                envelope.producer.as_str(),
                envelope.kind(),
                envelope.key().to_string(),
                &digest,
            )
        })
        .map_err(|e| crate::telemetry::chain(&e));
    Ok(Found {
        key: seq,
        link,
        at,
        record,
    })
}

fn found_alert(store: &Store, seq: u64, raw: &[u8]) -> Result<Found, StoreError> {
    let (body, link) = match records::decode_alert_record(raw) {
        Ok(found) => found,
        Err(e) => return Ok(undecodable(seq, e)),
    };
    let digest: [u8; 32] = Sha256::digest(&body).into();
    let (at, record) = match records::decode_alert_body(&body, store) {
        Ok(alert) => (alert.raised_at, Ok(alert_record(&alert, &digest))),
        Err(e) => (Timestamp::UNIX_EPOCH, Err(crate::telemetry::chain(&e))),
    };
    Ok(Found {
        key: seq,
        link,
        at,
        record,
    })
}

type Stream<'a> = Peekable<Box<dyn Iterator<Item = Result<Found, StoreError>> + 'a>>;

/// Merges sorted streams of entries by chain position.
struct Merge<'a>([Stream<'a>; 3]);

impl Iterator for Merge<'_> {
    type Item = Result<Found, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, u64)> = None;
        for (i, stream) in self.0.iter_mut().enumerate() {
            match stream.peek() {
                // An error goes out at once.
                Some(Err(_)) => return stream.next(),
                Some(Ok(found)) if best.is_none_or(|(_, seq)| found.link.seq < seq) => {
                    best = Some((i, found.link.seq));
                }
                _ => {}
            }
        }
        let (i, _) = best?;
        self.0[i].next()
    }
}

/// The chain head as stored in `M audit`: seq, then hash.
pub(super) fn head_value(head: AuditHead) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&head.seq.to_be_bytes());
    value[8..].copy_from_slice(&head.hash);
    value
}

/// The audit record of an applied event: its producer published it; `digest` covers the
/// envelope's bytes as stored.
pub(super) fn event_record(
    producer: &str,
    kind: EventKind,
    object: String,
    digest: &[u8; 32],
) -> Record {
    Record::new(
        producer,
        format!("publish {kind:?}"),
        object,
        hex::encode(digest),
    )
}

/// The audit record of a raised alert; the digest covers its body.
pub(super) fn alert_record(alert: &Alert, digest: &[u8; 32]) -> Record {
    Record::new(
        "xiezhi",
        format!("raise alert {:?}", alert.kind),
        format!("alert/{}", alert.id),
        hex::encode(digest),
    )
}

pub(super) fn entry_of(
    seq: u64,
    at: Timestamp,
    record: &Record,
    prev: &[u8; 32],
    hash: &[u8; 32],
) -> Entry {
    Entry {
        seq,
        at,
        actor: record.actor.clone(),
        action: record.action.clone(),
        object: record.object.clone(),
        digest: record.digest.clone(),
        prev: hex::encode(prev),
        hash: hex::encode(hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_appends_keep_one_unbroken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
        let at: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for n in 0..50 {
                        let record = Record::new(
                            format!("agency-{t}"),
                            "read timeline",
                            format!("e-{n}"),
                            "",
                        );
                        store.audit(vec![record.clone(), record], at).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(store.verify_audit().unwrap(), Ok(400));
        assert_eq!(store.audit_entries().unwrap().len(), 400);
        // Nothing to record, nothing appended.
        assert!(store.audit(Vec::new(), at).unwrap().is_empty());
    }

    #[tokio::test]
    async fn rule_texts_are_kept_once_and_an_altered_one_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let at: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let alert = |detail: &str| crate::store::AlertWrite {
            alert: Alert {
                id: 0,
                kind: crate::domain::AlertKind::PossibleCrime,
                raised_at: at,
                rule_id: "CL-338".into(),
                title: "污染环境罪 (刑法第338条)".into(),
                citation: "《关于办理环境污染刑事案件适用法律若干问题的解释》第一条".into(),
                facts: Default::default(),
                subject: None,
                division: None,
                events: vec![],
                referral: None,
                late: None,
                due: None,
                detail: detail.into(),
                parties: vec![],
            },
            to: vec![crate::domain::AgencyId::parse("330106-GA").unwrap()],
        };
        for n in 0..3 {
            let mut batch = store.begin(at).await;
            batch.stage_effects(crate::store::WriteSet {
                alerts: vec![alert(&format!("第{n}次"))],
                ..Default::default()
            });
            batch.commit().await.unwrap();
        }
        let texts = store.tree.scan_prefix([keys::TEXT]).count();
        assert_eq!(texts, 2, "title and citation, once for three alerts");
        let read = store.latest_alerts("", 10).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].citation, alert("").alert.citation);
        assert_eq!(store.verify_audit().unwrap(), Ok(3));
        let (key, _) = store
            .tree
            .scan_prefix([keys::TEXT])
            .next()
            .unwrap()
            .unwrap();
        store.tree.insert(key, "改过的文字".as_bytes()).unwrap();
        let broken = store.verify_audit().unwrap().unwrap_err();
        assert!(broken.reason.contains("rule text"), "{broken}");
    }
}
