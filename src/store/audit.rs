//! The audit chain in the store: entries appended in the same transaction as the writes they
//! record (so a write is never without its entry), and separately for reads and denials.

use std::cell::RefCell;

use jiff::Timestamp;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::tx::{Tx, TxResult};
use super::{Store, StoreError};
use crate::audit::{self, Entry, GENESIS, Record};

const HEAD: &str = "audit_head";

/// Appends `record` to the chain whose head is kept in `meta`.
fn append(
    meta: &TransactionalTree,
    log: &TransactionalTree,
    record: Record,
    at: Timestamp,
) -> Result<Entry, sled::transaction::UnabortableTransactionError> {
    let (seq, prev) = match meta.get(HEAD)? {
        Some(raw) if raw.len() == 40 => {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&raw[8..]);
            (
                u64::from_be_bytes(raw[..8].try_into().unwrap_or_default()),
                hash,
            )
        }
        _ => (0, GENESIS),
    };
    let (entry, hash) = audit::chain(&prev, seq + 1, at, record);
    let mut head = [0u8; 40];
    head[..8].copy_from_slice(&entry.seq.to_be_bytes());
    head[8..].copy_from_slice(&hash);
    meta.insert(HEAD, &head[..])?;
    // Serialising an entry (strings and a timestamp) cannot fail.
    log.insert(
        &entry.seq.to_be_bytes(),
        serde_json::to_vec(&entry).expect("audit entry serialises"),
    )?;
    Ok(entry)
}

/// The entries a transaction appended, to archive once it commits.
#[derive(Default)]
pub(super) struct Appended(RefCell<Vec<Entry>>);

impl Appended {
    pub(super) fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

impl Tx<'_> {
    /// Appends an audit entry in this transaction.
    pub(super) fn audit(&self, record: Record, at: Timestamp) -> TxResult<()> {
        let entry = append(self.meta, self.audit, record, at)?;
        self.audited.0.borrow_mut().push(entry);
        Ok(())
    }
}

impl Store {
    /// Appends entries for actions that write nothing else (reads, denials, acknowledgements).
    /// Durable with the next flush.
    pub fn audit(&self, records: Vec<Record>, at: Timestamp) -> Result<Vec<Entry>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let t = &self.trees;
        let result = (&t.meta, &t.audit).transaction(|(meta, log)| {
            let mut entries = Vec::with_capacity(records.len());
            for record in &records {
                entries.push(append(meta, log, record.clone(), at)?);
            }
            Ok::<_, ConflictableTransactionError<()>>(entries)
        });
        match result {
            Ok(entries) => Ok(entries),
            Err(TransactionError::Abort(())) => unreachable!("audit appends never abort"),
            Err(TransactionError::Storage(source)) => Err(StoreError::Sled {
                op: "audit",
                source,
            }),
        }
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
    pub fn verify_audit(&self) -> Result<Result<u64, audit::Broken>, StoreError> {
        let entries = self
            .trees
            .audit
            .iter()
            .map(|entry| {
                entry
                    .map(|(k, v)| (super::keys::decode_u64(&k), v.to_vec()))
                    .map_err(StoreError::sled("read audit"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(audit::verify(entries))
    }

    /// The raw audit tree, for tools that must reach below the store (tests of tampering).
    #[doc(hidden)]
    pub fn audit_tree(&self) -> &sled::Tree {
        &self.trees.audit
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
        // Nothing to record, nothing appended.
        assert!(store.audit(Vec::new(), at).unwrap().is_empty());
    }
}
