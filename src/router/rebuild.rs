//! `xiezhi rebuild`: the whole log into a fresh store. Where the log keeps the router's journal
//! (the embedded log), the rebuild follows it — the same records in the same batches at the
//! same times, ticks where they fell — so the rebuilt store numbers every inbox as the live one
//! did; records past the journal's end (never applied live) are replayed after it. A replica's
//! store (`router.replicas`) is instead materialised from the decisions topic, batch by batch as
//! the writers applied them.

use std::sync::Arc;

use tracing::{info, warn};

use super::journal::Entry;
use super::{DeadLetters, RebuildStats, ReplicaStatus, Router, RouterError, pipeline};
use crate::bus::{BusConsumer, Decisions, Record};

impl Router {
    /// Replays the whole log into this router's (fresh) store, up to the end the log had when
    /// the replay began, without committing anything or writing dead letters again.
    pub async fn rebuild(mut self) -> Result<RebuildStats, RouterError> {
        let end = self.bus.end_offsets().await?;
        let mut stats = RebuildStats {
            records: end.iter().sum(),
            ..RebuildStats::default()
        };
        // The entries were archived when the log was first applied.
        self.store.archive_audit(false);
        // The journal belongs to the log (and its live store): copied, never written.
        self.rebuilding = true;
        let mut next = vec![0u64; end.len()];
        let mut consumer = self.bus.replay().await?;
        let mut applying: Option<pipeline::Applying> = None;
        let followed = self
            .follow_journal(&mut next, consumer.as_mut(), &mut applying, &mut stats)
            .await?;
        if followed > 0 {
            info!(batches = followed, "rebuild followed the router's journal");
        }
        while next.iter().zip(&end).any(|(n, e)| n < e) {
            let records = consumer.poll(self.config.batch_max).await?;
            let records: Vec<Record> = records
                .into_iter()
                .filter(|r| {
                    let p = r.position.partition as usize;
                    r.position.offset >= next[p] && r.position.offset < end[p]
                })
                .collect();
            if records.is_empty() {
                continue;
            }
            for r in &records {
                let n = &mut next[r.position.partition as usize];
                *n = (*n).max(r.position.offset + 1);
            }
            let staged = self.stage(records, DeadLetters::Skip).await?;
            if let Some(done) = applying.replace(staged) {
                stats.add(self.finish(consumer.as_mut(), done).await?);
            }
        }
        if let Some(done) = applying.take() {
            stats.add(self.finish(consumer.as_mut(), done).await?);
        }
        Ok(stats)
    }

    /// Applies the journal's batches as the live router did, as long as each takes up where
    /// the last left off (a journal begun by a store of an earlier release does not); moves
    /// `next` past what it applied. The number of batches followed.
    async fn follow_journal(
        &self,
        next: &mut [u64],
        consumer: &mut dyn BusConsumer,
        applying: &mut Option<pipeline::Applying>,
        stats: &mut RebuildStats,
    ) -> Result<u64, RouterError> {
        let Some(journal) = &self.journal else {
            return Ok(0);
        };
        let mut followed = 0;
        for raw in journal.entries()? {
            let Some(entry) = Entry::decode(&raw) else {
                warn!(
                    batch = followed,
                    "router journal: an entry does not decode; replaying the rest in log order"
                );
                break;
            };
            if entry.tick {
                // After the batches before it, as live.
                if let Some(done) = applying.take() {
                    stats.add(self.finish(consumer, done).await?);
                }
                self.fire_due(entry.now).await?;
                followed += 1;
                continue;
            }
            let mut moved = next.to_vec();
            let mut records = Vec::with_capacity(entry.positions.len());
            for position in &entry.positions {
                let Some(n) = moved.get_mut(position.partition as usize) else {
                    break;
                };
                if *n != position.offset {
                    break;
                }
                let Some(record) = self.bus.read_at(*position).await? else {
                    break;
                };
                *n += 1;
                records.push(record);
            }
            if records.len() != entry.positions.len() {
                warn!(
                    batch = followed,
                    "router journal: an entry does not take up where the last left off; replaying the rest in log order"
                );
                break;
            }
            next.copy_from_slice(&moved);
            let staged = self.stage_at(records, DeadLetters::Skip, entry.now).await?;
            if let Some(done) = applying.replace(staged) {
                stats.add(self.finish(consumer, done).await?);
            }
            followed += 1;
        }
        Ok(followed)
    }

    /// Materialises a replica's (fresh) store from the decisions log up to its end when this
    /// began: the same batches the writers applied, as a follower applies them.
    pub async fn materialise(self, decisions: Arc<dyn Decisions>) -> Result<(), RouterError> {
        self.store.archive_audit(false);
        let status = ReplicaStatus::new("rebuild".into(), 0);
        let from = self.store.decisions_next()?;
        status.read(from);
        status.set_end(decisions.end().await?);
        let mut reader = decisions.reader(from).await?;
        while status.lag() != Some(0) {
            let polled = reader.poll(64).await?;
            self.apply_decided(polled, &status).await?;
        }
        Ok(())
    }
}
