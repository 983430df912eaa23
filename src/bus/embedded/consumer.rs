//! Reading the embedded log: a consumer hands out each partition's records in order, a fair
//! share of each partition per poll, from where it was told to start; a group's commits are
//! kept for monitoring (`committed`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::Groups;
use super::file::LogFile;
use crate::bus::{BusConsumer, BusError, Record};
use crate::domain::LogPosition;

/// A consumer of the embedded log.
pub(super) struct EmbeddedConsumer {
    log: Arc<LogFile>,
    /// The group and where its commits go; `None` for a replay, which commits nothing.
    group: Option<(String, Arc<Groups>)>,
    /// Next offset to hand out, per partition.
    next: Vec<u64>,
    /// Partition to start the next poll at, so no partition starves the others.
    start: usize,
    appended: watch::Receiver<u64>,
}

impl EmbeddedConsumer {
    pub(super) fn new(
        log: Arc<LogFile>,
        group: Option<(String, Arc<Groups>)>,
        next: Vec<u64>,
        appended: watch::Receiver<u64>,
    ) -> Self {
        Self {
            log,
            group,
            next,
            start: 0,
            appended,
        }
    }

    fn read(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        let ends = self.log.ends();
        let partitions = self.next.len();
        let mut out = Vec::new();
        // A fair share per partition first, then whatever room is left.
        let share = max.div_ceil(partitions).max(1);
        for round in [share, max] {
            for i in 0..partitions {
                let p = (self.start + i) % partitions;
                let end = ends.get(p).copied().unwrap_or(0);
                let mut taken = 0;
                while taken < round && out.len() < max && self.next[p] < end {
                    let position = LogPosition {
                        partition: p as u32,
                        offset: self.next[p],
                    };
                    let Some(body) = self.log.read(position)? else {
                        break;
                    };
                    self.next[p] += 1;
                    taken += 1;
                    out.push(Record {
                        position,
                        key: None,
                        // The router reads the time from the LogRecord itself.
                        timestamp: None,
                        payload: body.payload,
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
        if let Some((group, groups)) = &self.group {
            groups.commit(group, positions);
        }
        Ok(())
    }

    async fn close(&mut self) {
        if let Some((_, groups)) = &self.group {
            groups.save();
        }
    }
}
