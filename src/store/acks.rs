//! Inbox acknowledgements shared between router replicas (docs/kafka.md, "Replicas"). An
//! acknowledgement is kept by the replica that took it, durably, before it answers; the replica
//! then hands it to the others through the log (`bus::Decisions::share_ack`), and applies theirs
//! here. They only ever move forward, so the order in which replicas learn them does not matter;
//! one lost in a crash before it was shared makes a subscriber that moves see some deliveries
//! again, never miss one.

use std::collections::BTreeMap;

use super::{Store, StoreError, keys};
use crate::domain::AgencyId;

/// Acknowledgements taken here and not yet handed to the other replicas.
#[derive(Default)]
pub(super) struct Pending {
    acks: std::sync::Mutex<BTreeMap<String, u64>>,
    ready: tokio::sync::Notify,
}

impl Pending {
    pub(super) fn note(&self, agency: &AgencyId, cursor: u64) {
        let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
        let entry = acks.entry(agency.to_string()).or_default();
        *entry = (*entry).max(cursor);
        self.ready.notify_one();
    }
}

impl Store {
    /// Moves `agency`'s acknowledged cursor up to `cursor` (never down); the one before.
    pub(super) fn raise_ack(&self, agency: &AgencyId, cursor: u64) -> Result<u64, StoreError> {
        Ok(self
            .tree
            .fetch_and_update(keys::ack(agency), |old| {
                let old = old.map_or(0, keys::decode_u64);
                Some(old.max(cursor).to_be_bytes().to_vec())
            })
            .map_err(StoreError::sled("acknowledge"))?
            .map_or(0, |raw| keys::decode_u64(&raw)))
    }

    /// Waits for acknowledgements taken here since the last call, and takes them.
    pub async fn acks_to_share(&self) -> Vec<(String, u64)> {
        loop {
            let taken = self.take_acks();
            if !taken.is_empty() {
                return taken;
            }
            self.pending_acks.ready.notified().await;
        }
    }

    /// The acknowledgements taken here since the last call (none: empty), taken.
    pub fn take_acks(&self) -> Vec<(String, u64)> {
        std::mem::take(
            &mut *self
                .pending_acks
                .acks
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
        .into_iter()
        .collect()
    }

    /// An acknowledgement another replica took: kept if it is further than this one's (also
    /// beyond the deliveries this replica has yet: it follows). Durable on return; whether it
    /// moved.
    pub async fn acknowledge_shared(
        &self,
        agency: &AgencyId,
        cursor: u64,
    ) -> Result<bool, StoreError> {
        let moved = cursor > self.raise_ack(agency, cursor)?;
        if moved {
            self.flush().await?;
        }
        Ok(moved)
    }
}
