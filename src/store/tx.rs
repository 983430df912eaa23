//! One store transaction over every tree the router writes, and the steps every writer shares:
//! taking the next sequence number, delivering to an inbox, raising an alert.
//!
//! sled transactions cannot scan ranges, so writers read ranges (due deadlines, a subject's
//! history) before the transaction or keep what they need under single keys; the apply lock
//! guarantees nobody else writes in between.

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::{DeliveryRecord, Item, Store, StoreError, decode, encode, keys};
use crate::domain::{AgencyId, Alert, DeliveryReason};

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The transactional views of the trees.
pub(super) struct Tx<'a> {
    pub(super) meta: &'a TransactionalTree,
    pub(super) events: &'a TransactionalTree,
    pub(super) applied: &'a TransactionalTree,
    pub(super) subjects: &'a TransactionalTree,
    pub(super) leads: &'a TransactionalTree,
    pub(super) inbox: &'a TransactionalTree,
    pub(super) heads: &'a TransactionalTree,
    pub(super) positions: &'a TransactionalTree,
    pub(super) alerts: &'a TransactionalTree,
    pub(super) referrals: &'a TransactionalTree,
    pub(super) referral_cases: &'a TransactionalTree,
    pub(super) deadlines: &'a TransactionalTree,
    pub(super) watches: &'a TransactionalTree,
    pub(super) histories: &'a TransactionalTree,
    pub(super) outcomes: &'a TransactionalTree,
    pub(super) audit: &'a TransactionalTree,
    /// Audit entries appended so far in this attempt.
    pub(super) audited: super::audit::Appended,
}

/// A damaged record aborts the transaction.
pub(super) fn corrupt(err: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(err)
}

impl Tx<'_> {
    /// The next store sequence number (events and alerts share it).
    pub(super) fn next_seq(&self) -> TxResult<u64> {
        let seq = self
            .meta
            .get("next_seq")?
            .map_or(1, |raw| keys::decode_u64(&raw));
        self.meta.insert("next_seq", &(seq + 1).to_be_bytes())?;
        Ok(seq)
    }

    /// The last sequence number handed out.
    pub(super) fn last_seq(&self) -> TxResult<u64> {
        Ok(self
            .meta
            .get("next_seq")?
            .map_or(0, |raw| keys::decode_u64(&raw).saturating_sub(1)))
    }

    /// Reads a JSON record.
    pub(super) fn read<T: DeserializeOwned>(
        &self,
        tree: &TransactionalTree,
        name: &'static str,
        key: &[u8],
    ) -> TxResult<Option<T>> {
        tree.get(key)?
            .map(|raw| decode(name, &raw).map_err(corrupt))
            .transpose()
    }

    /// Writes a JSON record.
    pub(super) fn write<T: Serialize>(
        &self,
        tree: &TransactionalTree,
        key: &[u8],
        value: &T,
    ) -> TxResult<()> {
        tree.insert(key, encode(value))?;
        Ok(())
    }

    /// Appends a delivery of `seq` at the agency's next cursor.
    pub(super) fn deliver(
        &self,
        agency: &AgencyId,
        seq: u64,
        item: Item,
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
            item,
            reason,
            delivered_at: now,
        };
        self.write(
            self.inbox,
            &keys::compound(agency.as_str(), cursor),
            &record,
        )?;
        self.heads.insert(agency.as_str(), &cursor.to_be_bytes())?;
        Ok(())
    }

    /// Stores `alert` under the next sequence number and delivers it to each recipient once.
    pub(super) fn raise(
        &self,
        mut alert: Alert,
        recipients: &[&AgencyId],
        now: Timestamp,
    ) -> TxResult<Alert> {
        alert.id = self.next_seq()?;
        alert.raised_at = now;
        self.write(self.alerts, &alert.id.to_be_bytes(), &alert)?;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(super::encode(
            &alert,
        )));
        self.audit(
            crate::audit::Record::new(
                "xiezhi",
                format!("raise alert {:?}", alert.kind),
                format!("alert/{}", alert.id),
                digest,
            ),
            now,
        )?;
        let mut sent: Vec<&AgencyId> = Vec::new();
        for agency in recipients {
            if !sent.contains(agency) {
                sent.push(agency);
                self.deliver(agency, alert.id, Item::Alert, DeliveryReason::Alert, now)?;
            }
        }
        Ok(alert)
    }
}

impl Store {
    /// Runs `body` in one transaction over every tree the router writes.
    ///
    /// Returns the body's value and the audit entries the transaction appended.
    pub(super) fn transact<T>(
        &self,
        body: impl Fn(&Tx<'_>) -> TxResult<T>,
    ) -> Result<(T, Vec<crate::audit::Entry>), StoreError> {
        let t = &self.trees;
        let trees = [
            t.meta.clone(),
            t.events.clone(),
            t.applied.clone(),
            t.subjects.clone(),
            t.leads.clone(),
            t.inbox.clone(),
            t.inbox_heads.clone(),
            t.positions.clone(),
            t.alerts.clone(),
            t.referrals.clone(),
            t.referral_cases.clone(),
            t.deadlines.clone(),
            t.watches.clone(),
            t.histories.clone(),
            t.outcomes.clone(),
            t.audit.clone(),
        ];
        let result = trees.as_slice().transaction(|v| {
            let tx = Tx {
                meta: &v[0],
                events: &v[1],
                applied: &v[2],
                subjects: &v[3],
                leads: &v[4],
                inbox: &v[5],
                heads: &v[6],
                positions: &v[7],
                alerts: &v[8],
                referrals: &v[9],
                referral_cases: &v[10],
                deadlines: &v[11],
                watches: &v[12],
                histories: &v[13],
                outcomes: &v[14],
                audit: &v[15],
                audited: Default::default(),
            };
            let value = body(&tx)?;
            Ok((value, tx.audited.take()))
        });
        match result {
            Ok(value) => Ok(value),
            Err(TransactionError::Abort(err)) => Err(err),
            Err(TransactionError::Storage(source)) => Err(StoreError::Sled {
                op: "transaction",
                source,
            }),
        }
    }
}
