//! The tamper-evident audit trail (全过程留痕、可回溯): a hash chain of entries — who did what,
//! when, to which event, with the event's digest — where each entry's SHA-256 covers the
//! previous entry's hash. Changing, removing or reordering any entry breaks the chain from that
//! entry on, and [`verify`] names the first entry that no longer fits.
//!
//! The store keeps the chain (each event and alert record carries its own link; reads, denials
//! and refusals have entries of their own); on Kafka the entries are also published to
//! `xiezhi.audit.v1` for retention off the box. This module only computes and checks.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who: an agency id, or `xiezhi` for the broker itself.
    pub actor: String,
    /// What, e.g. `publish lead`, `read timeline`, `denied PublishLead`.
    pub action: String,
    /// Which event, alert or referral (`producer/event_id`, `alert/7`, …); empty if none.
    pub object: String,
    /// SHA-256 of the object's content, hex; empty if none.
    pub digest: String,
    /// The previous entry's hash, hex.
    pub prev: String,
    /// This entry's hash, hex: SHA-256 of the previous hash and the entry's other fields.
    pub hash: String,
}

/// What an entry says, before it is chained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which object.
    pub object: String,
    /// Its digest, hex.
    pub digest: String,
}

impl Record {
    /// A record.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        object: impl Into<String>,
        digest: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            object: object.into(),
            digest: digest.into(),
        }
    }
}

/// The hash of an entry: SHA-256 over the previous hash and each field, length-prefixed so
/// that no two different entries hash the same input.
pub fn hash_of(prev: &[u8; 32], seq: u64, at: Timestamp, record: &Record) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"xiezhi-audit-v1");
    hasher.update(prev);
    hasher.update(seq.to_be_bytes());
    hasher.update(at.as_microsecond().to_be_bytes());
    for field in [
        &record.actor,
        &record.action,
        &record.object,
        &record.digest,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.finalize().into()
}

/// Chains `record` after the entry with hash `prev` at position `seq`.
pub fn chain(prev: &[u8; 32], seq: u64, at: Timestamp, record: Record) -> (Entry, [u8; 32]) {
    let hash = hash_of(prev, seq, at, &record);
    let entry = Entry {
        seq,
        at,
        actor: record.actor,
        action: record.action,
        object: record.object,
        digest: record.digest,
        prev: hex::encode(prev),
        hash: hex::encode(hash),
    };
    (entry, hash)
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {position} (stored as seq {seq}): {reason}")]
pub struct Broken {
    /// The 1-based position of the first entry that does not fit.
    pub position: u64,
    /// The seq the entry claims (or is stored under).
    pub seq: u64,
    /// Why.
    pub reason: String,
}

/// Walks a chain entry by entry, in order, and names the first entry that does not fit.
#[derive(Clone, Debug)]
pub struct Verifier {
    prev: [u8; 32],
    expected: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            prev: GENESIS,
            expected: 1,
        }
    }
}

impl Verifier {
    /// The entry stored under `key` that claims position `seq`, with its fields and the hash it
    /// was stored with. `None` for `record` means it could not be read (`reason` says why).
    pub fn next(
        &mut self,
        key: u64,
        seq: u64,
        at: Timestamp,
        record: Result<&Record, String>,
        stored_hash: &[u8],
    ) -> Result<(), Broken> {
        let expected = self.expected;
        let broken = |reason: String| Broken {
            position: expected,
            seq: key,
            reason,
        };
        if key != expected || seq != expected {
            return Err(broken(format!(
                "expected entry {expected} here; an entry was removed or reordered"
            )));
        }
        let record = record.map_err(|e| broken(format!("does not decode: {e}")))?;
        let hash = hash_of(&self.prev, seq, at, record);
        if stored_hash != hash {
            return Err(broken(
                "its content does not match its hash: it was altered".into(),
            ));
        }
        self.prev = hash;
        self.expected += 1;
        Ok(())
    }

    /// Entries checked so far.
    pub fn count(&self) -> u64 {
        self.expected - 1
    }
}

/// Checks a chain of JSON entries (the Kafka archive's form) given in storage order as (storage
/// key, raw entry) pairs. Returns the number of entries, or the first one that was altered,
/// removed or reordered.
pub fn verify(entries: impl IntoIterator<Item = (u64, Vec<u8>)>) -> Result<u64, Broken> {
    let mut verifier = Verifier::default();
    for (key, raw) in entries {
        match serde_json::from_slice::<Entry>(&raw) {
            Ok(entry) => {
                if entry.prev != hex::encode(verifier.prev) && key == verifier.expected {
                    return Err(Broken {
                        position: verifier.expected,
                        seq: key,
                        reason: "does not follow the previous entry".into(),
                    });
                }
                let stored = hex::decode(&entry.hash).unwrap_or_default();
                let record = Record::new(entry.actor, entry.action, entry.object, entry.digest);
                verifier.next(key, entry.seq, entry.at, Ok(&record), &stored)?;
            }
            Err(e) => verifier.next(key, key, Timestamp::UNIX_EPOCH, Err(e.to_string()), &[])?,
        }
    }
    Ok(verifier.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(n: u64) -> Vec<(u64, Vec<u8>)> {
        let mut prev = GENESIS;
        let at: Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
        (1..=n)
            .map(|seq| {
                let (entry, hash) = chain(
                    &prev,
                    seq,
                    at,
                    Record::new(
                        "330106-SCJG",
                        "publish lead",
                        format!("330106-SCJG/e-{seq}"),
                        "ab",
                    ),
                );
                prev = hash;
                (seq, serde_json::to_vec(&entry).unwrap())
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(build(5)), Ok(5));
        assert_eq!(verify(Vec::new()), Ok(0));
    }

    #[test]
    fn an_altered_byte_is_caught_at_its_entry() {
        let mut chain = build(5);
        let text = String::from_utf8(chain[2].1.clone())
            .unwrap()
            .replace("e-3", "e-9");
        chain[2].1 = text.into_bytes();
        let broken = verify(chain).unwrap_err();
        assert_eq!(broken.position, 3);
        assert!(broken.reason.contains("altered"), "{broken}");
    }

    #[test]
    fn removed_and_reordered_entries_are_caught() {
        let mut removed = build(5);
        removed.remove(1);
        assert_eq!(verify(removed).unwrap_err().position, 2);
        let mut reordered = build(5);
        reordered.swap(3, 4);
        assert_eq!(verify(reordered).unwrap_err().position, 4);
        // Renumbering to hide a removal still breaks the hash links.
        let mut renumbered = build(5);
        renumbered.remove(1);
        for (i, (key, raw)) in renumbered.iter_mut().enumerate() {
            let mut entry: Entry = serde_json::from_slice(raw).unwrap();
            entry.seq = i as u64 + 1;
            *key = entry.seq;
            *raw = serde_json::to_vec(&entry).unwrap();
        }
        assert_eq!(verify(renumbered).unwrap_err().position, 2);
    }
}
