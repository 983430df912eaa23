//! The router's journal (`bus::RouterJournal`, kept by the embedded log): one entry per applied
//! batch saying what the batch was — the records in the order the router took them, and the
//! time it applied them at — or that it was a tick of the clock at a time. Deciding is a pure
//! function of the store, the records, the rules and that time, so a rebuild that follows the
//! journal makes the same batches and numbers every inbox, seq and alert exactly as the live
//! router did (the consumer's interleaving of partitions, and when ticks fell, are otherwise
//! lost with the store).
//!
//! The store keeps a copy of every entry in the batch it describes. Before routing, the router
//! makes the journal agree with the store: entries of batches the store never applied (a crash
//! between appending and applying) are cut off, and entries a crash kept from the file are
//! written again from the store's copies.
//!
//! An entry: version (1), tick (0/1), the time in microseconds (i64), then runs of consecutive
//! records — partition (u32), first offset (u64), count (u32). Little-endian.

use jiff::Timestamp;
use tracing::warn;

use super::{Router, RouterError};
use crate::bus::BusError;
use crate::domain::LogPosition;

const VERSION: u8 = 1;

/// What one applied batch was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The time the batch was applied at.
    pub(super) now: Timestamp,
    /// A tick of the clock (statutory deadlines, watches) rather than records.
    pub(super) tick: bool,
    /// The records, in the order the router took them.
    pub(super) positions: Vec<LogPosition>,
}

impl Entry {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 16 * 4);
        out.push(VERSION);
        out.push(u8::from(self.tick));
        out.extend_from_slice(&self.now.as_microsecond().to_le_bytes());
        let mut runs: Vec<(u32, u64, u32)> = Vec::new();
        for p in &self.positions {
            match runs.last_mut() {
                Some((partition, first, count))
                    if *partition == p.partition && *first + u64::from(*count) == p.offset =>
                {
                    *count += 1;
                }
                _ => runs.push((p.partition, p.offset, 1)),
            }
        }
        for (partition, first, count) in runs {
            out.extend_from_slice(&partition.to_le_bytes());
            out.extend_from_slice(&first.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out
    }

    pub(super) fn decode(raw: &[u8]) -> Option<Self> {
        if raw.len() < 10 || raw[0] != VERSION || !(raw.len() - 10).is_multiple_of(16) {
            return None;
        }
        let now =
            Timestamp::from_microsecond(i64::from_le_bytes(raw[2..10].try_into().ok()?)).ok()?;
        let mut positions = Vec::new();
        for run in raw[10..].chunks_exact(16) {
            let partition = u32::from_le_bytes(run[..4].try_into().ok()?);
            let first = u64::from_le_bytes(run[4..12].try_into().ok()?);
            let count = u32::from_le_bytes(run[12..].try_into().ok()?);
            positions.extend((0..u64::from(count)).map(|i| LogPosition {
                partition,
                offset: first + i,
            }));
        }
        Some(Self {
            now,
            tick: raw[1] == 1,
            positions,
        })
    }
}

impl Router {
    /// Makes the journal agree with the store before routing (see the module's comment).
    pub(super) fn reconcile_journal(&self) -> Result<(), RouterError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let applied = self.store.batches();
        let held = journal.entries()?;
        let mut agree = 0u64;
        for (n, entry) in held.iter().enumerate().take(applied as usize) {
            if self.store.journal_entry(n as u64)?.as_deref() != Some(entry.as_slice()) {
                break;
            }
            agree += 1;
        }
        if (held.len() as u64) > agree {
            warn!(
                kept = agree,
                cut = held.len() as u64 - agree,
                "router journal: entries the store does not hold cut off"
            );
            journal.truncate(agree)?;
        }
        for n in agree..applied {
            let entry = self.store.journal_entry(n)?.ok_or_else(|| {
                BusError::Unavailable(format!("router journal: the store lacks entry {n}"))
            })?;
            journal.append(&entry)?;
        }
        journal.sync()?;
        Ok(())
    }

    /// The entry the store keeps with a batch, appended to the journal unless a rebuild is
    /// following it.
    pub(super) fn journal_entry(&self, entry: Entry) -> Result<Option<Vec<u8>>, RouterError> {
        let Some(journal) = &self.journal else {
            return Ok(None);
        };
        let raw = entry.encode();
        if !self.rebuilding {
            journal.append(&raw)?;
        }
        Ok(Some(raw))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bus::Bus;
    use crate::bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use crate::store::{Marks, Store};

    /// A crash can leave the journal ahead of the store (appended, never applied) or behind it
    /// (applied, the file's tail lost): before routing, the journal is made to agree.
    #[tokio::test]
    async fn the_journal_is_made_to_agree_with_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let bus =
            Arc::new(EmbeddedBus::open(dir.path(), &EmbeddedConfig { partitions: 2 }).unwrap());
        let store = Arc::new(Store::open(&dir.path().join("store")).unwrap());
        let entry = |n: u64| Entry {
            now: jiff::Timestamp::from_second(1_790_000_000 + n as i64).unwrap(),
            tick: n % 2 == 1,
            positions: vec![at(0, n)],
        };
        for n in 0..3 {
            let frozen = store.begin(entry(n).now).await.freeze();
            let marks = Marks {
                journal: Some(entry(n).encode()),
                decisions: None,
            };
            store.apply_at(frozen, marks).await.unwrap();
        }
        let journal = bus.journal().unwrap();
        // Ahead and wrong: the third entry differs, a fourth was never applied.
        for raw in [
            entry(0).encode(),
            entry(1).encode(),
            entry(7).encode(),
            entry(3).encode(),
        ] {
            journal.append(&raw).unwrap();
        }
        let router = super::super::Router::new(
            bus.clone(),
            store.clone(),
            Arc::new(crate::router::decide::fake::policy()),
            Arc::new(crate::domain::ManualClock::new(entry(0).now)),
            Default::default(),
        );
        router.reconcile_journal().unwrap();
        let expected: Vec<Vec<u8>> = (0..3).map(|n| entry(n).encode()).collect();
        assert_eq!(journal.entries().unwrap(), expected);
        // Behind: the file lost its tail.
        journal.truncate(1).unwrap();
        router.reconcile_journal().unwrap();
        assert_eq!(journal.entries().unwrap(), expected);
    }

    fn at(partition: u32, offset: u64) -> LogPosition {
        LogPosition { partition, offset }
    }

    #[test]
    fn an_entry_reads_back_as_written_in_runs() {
        let entry = Entry {
            now: "2026-12-01T08:00:00.123456Z".parse().unwrap(),
            tick: false,
            positions: vec![at(0, 5), at(0, 6), at(2, 0), at(0, 7), at(1, 9), at(1, 10)],
        };
        let raw = entry.encode();
        assert_eq!(raw.len(), 10 + 4 * 16, "four runs");
        assert_eq!(Entry::decode(&raw), Some(entry));
        let tick = Entry {
            now: "2026-12-01T08:00:30Z".parse().unwrap(),
            tick: true,
            positions: Vec::new(),
        };
        assert_eq!(Entry::decode(&tick.encode()), Some(tick));
        assert_eq!(Entry::decode(&raw[..raw.len() - 3]), None);
    }
}
