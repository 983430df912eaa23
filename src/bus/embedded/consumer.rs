//! Reading the embedded log: a consumer hands out each partition's records in order, a fair
//! share of each partition per poll, from where it was told to start; group commits are kept
//! for monitoring.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{RECORD, group_key, position_of, record_key, sled_err};
use crate::bus::{BusConsumer, BusError, Record};
use crate::domain::LogPosition;

/// A consumer of the embedded log.
pub(super) struct EmbeddedConsumer {
    tree: sled::Tree,
    /// `None` for a replay, which commits nothing.
    group: Option<String>,
    /// Next offset to hand out, per partition.
    next: Vec<u64>,
    /// Partition to start the next poll at, so no partition starves the others.
    start: usize,
    appended: watch::Receiver<u64>,
}

impl EmbeddedConsumer {
    pub(super) fn new(
        tree: sled::Tree,
        group: Option<String>,
        next: Vec<u64>,
        appended: watch::Receiver<u64>,
    ) -> Self {
        Self {
            tree,
            group,
            next,
            start: 0,
            appended,
        }
    }

    fn read(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        let partitions = self.next.len();
        let mut out = Vec::new();
        // A fair share per partition first, then whatever room is left.
        let share = max.div_ceil(partitions).max(1);
        for round in [share, max] {
            for i in 0..partitions {
                let p = (self.start + i) % partitions;
                let room = max - out.len();
                if room == 0 {
                    break;
                }
                let from = record_key(p as u32, self.next[p]);
                let to = record_key(p as u32, u64::MAX);
                for entry in self.tree.range(from..=to).take(round.min(room)) {
                    let (key, value) = entry.map_err(sled_err("read log"))?;
                    debug_assert_eq!(key[0], RECORD);
                    let position = position_of(&key[1..]);
                    self.next[p] = position.offset + 1;
                    out.push(Record {
                        position,
                        key: None,
                        // The router reads the time from the LogRecord itself.
                        timestamp: None,
                        payload: value.to_vec(),
                        traceparent: None,
                    });
                }
            }
        }
        self.start = (self.start + 1) % partitions;
        Ok(out)
    }
}

#[async_trait]
impl BusConsumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        loop {
            // Mark the current generation seen before reading, so an append between the read
            // and the wait still wakes us.
            self.appended.borrow_and_update();
            let records = self.read(max.max(1))?;
            if !records.is_empty() {
                return Ok(records);
            }
            // Also wake periodically: cheap insurance against a missed notification.
            let _ = tokio::time::timeout(Duration::from_secs(1), self.appended.changed()).await;
        }
    }

    async fn commit(&mut self, positions: &[LogPosition]) -> Result<(), BusError> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let mut upto: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
        for pos in positions {
            let next = upto.entry(pos.partition).or_default();
            *next = (*next).max(pos.offset + 1);
        }
        let mut batch = sled::Batch::default();
        for (partition, next) in upto {
            batch.insert(group_key(group, partition), &next.to_be_bytes());
        }
        self.tree
            .apply_batch(batch)
            .map_err(sled_err("commit offsets"))?;
        Ok(())
    }
}
