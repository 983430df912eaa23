//! The log between gateway and router: one trait, [`Bus`], with the embedded sled log
//! ([`embedded::EmbeddedBus`]) now and Apache Kafka next.
//!
//! Contract every implementation keeps:
//! - [`Bus::append`] returns only when the record is durable (embedded: flushed; Kafka:
//!   acknowledged by all in-sync replicas). An error means "not acknowledged": the caller may
//!   retry with the same idempotency key.
//! - Records with one key (the subject) land in one partition, in append order.
//! - A consumer sees every record of its partitions at least once, in order per partition,
//!   starting after the last committed position; the router makes the effect exactly-once by
//!   deduplicating event ids in its store before committing.

mod decisions;
pub mod embedded;
pub mod kafka;

pub use decisions::{AckReader, Decided, DecisionReader, Decisions};

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::LogPosition;
use crate::store::StoreError;

/// A record to append.
#[derive(Clone, Debug)]
pub struct OutgoingRecord {
    /// Partitioning key: the subject (or the referral), see `Envelope::log_key`.
    pub key: String,
    /// When the gateway took the event (server time): statutory clocks run from here.
    pub timestamp: jiff::Timestamp,
    /// Producer and event id (`EventKey::to_bytes`), for idempotent appends. Empty: no
    /// idempotency (tools and tests that write raw records).
    pub idempotency_key: Vec<u8>,
    /// SHA-256 of the payload, to tell a retry from a different event under a reused id.
    pub content_hash: [u8; 32],
    /// The encoded envelope.
    pub payload: Vec<u8>,
    /// W3C trace context of the publish call, carried to the router (Kafka header `traceparent`).
    pub traceparent: Option<String>,
}

/// Where a consumer starts reading a partition: the next offset to read.
pub type StartFrom = Arc<dyn Fn(u32) -> u64 + Send + Sync>;

/// A successful append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Newly appended here.
    Appended(LogPosition),
    /// Appended before with the same content, here; not appended again.
    Duplicate(LogPosition),
}

impl AppendOutcome {
    /// Where the record sits.
    pub fn position(self) -> LogPosition {
        match self {
            AppendOutcome::Appended(p) | AppendOutcome::Duplicate(p) => p,
        }
    }
}

/// A record read from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where it sits.
    pub position: LogPosition,
    /// Its partitioning key (the subject key), if the log keeps keys.
    pub key: Option<Vec<u8>>,
    /// The bytes appended.
    pub payload: Vec<u8>,
    /// W3C trace context it was published under, if the log carries one.
    pub traceparent: Option<String>,
    /// When the gateway took it.
    pub timestamp: Option<jiff::Timestamp>,
}

/// A record the router could not use, kept with the reason.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// Where it sat on the events log.
    pub position: LogPosition,
    /// Why it was set aside.
    pub reason: String,
    /// Its bytes, hex-encoded.
    pub payload_hex: String,
}

/// A bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The idempotency key was used before for different content.
    #[error("event id already used for different content, at partition {} offset {}", existing.partition, existing.offset)]
    Conflict {
        /// Where the first record with this key sits.
        existing: LogPosition,
    },
    /// The bus is shutting down and takes no more records.
    #[error("the bus is shutting down")]
    Closed,
    /// The log could not take the record now; nothing was acknowledged, retrying is safe.
    #[error("the log could not take the record: {0}")]
    Unavailable(String),
    /// The log's storage failed.
    #[error("log storage failed")]
    Storage(#[from] StoreError),
    /// The Kafka cluster refused or failed an operation.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The Kafka topics do not match the configuration.
    #[error("kafka topic {topic}: {problem}")]
    Topic {
        /// The topic.
        topic: String,
        /// What does not match.
        problem: String,
    },
    /// The Kafka connection's settings cannot be used (a TLS file or the SASL password
    /// cannot be read).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The data directory's log was created with another partition count.
    #[error(
        "the log has {found} partitions but the configuration says {configured}; partitions cannot change on an existing log"
    )]
    PartitionMismatch {
        /// On disk.
        found: u32,
        /// Configured.
        configured: u32,
    },
}

/// The log.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Appends a record; returns once it is durable, or tells that it was appended before.
    async fn append(&self, record: OutgoingRecord) -> Result<AppendOutcome, BusError>;

    /// A consumer for `group`. Each partition, whenever it is assigned to this consumer, is
    /// read from `start(partition)` — the store's position, not the group's commits — so a
    /// new, restored or lagging store catches up from where *it* stands.
    async fn consumer(
        &self,
        group: &str,
        start: StartFrom,
    ) -> Result<Box<dyn BusConsumer>, BusError>;

    /// A consumer of every record from the start of the log that commits nothing (for
    /// `xiezhi rebuild`).
    async fn replay(&self) -> Result<Box<dyn BusConsumer>, BusError>;

    /// Sets aside a record the router cannot use, with the reason, so it is kept for operators
    /// and never blocks the partition. Durable on return.
    async fn dead_letter(&self, record: &Record, reason: &str) -> Result<(), BusError>;

    /// The dead letters set aside so far, oldest first.
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError>;

    /// The next offset of each partition: the number of records ever appended to it.
    async fn end_offsets(&self) -> Result<Vec<u64>, BusError>;

    /// The next offset `group` will read in each partition (0 where it has committed nothing).
    async fn committed(&self, group: &str) -> Result<Vec<u64>, BusError>;

    /// Whether [`Bus::archive`] keeps entries anywhere (so that the store hands them over).
    fn archives(&self) -> bool {
        false
    }

    /// Publishes audit entries for retention off this machine (Kafka: `xiezhi.audit.v1`).
    /// Best effort: failures are logged; the chain in the store stays the reference.
    async fn archive(&self, _entries: &[crate::audit::Entry]) {}

    /// Stops taking appends, finishes those in flight and makes everything durable.
    async fn close(&self);

    /// Number of partitions.
    fn partitions(&self) -> u32;

    /// Which log this is (`embedded`, `kafka`), for metrics.
    fn kind(&self) -> &'static str;

    /// The router's journal, for a log that keeps one (the embedded log: `embedded::journal`).
    fn journal(&self) -> Option<Arc<dyn RouterJournal>> {
        None
    }

    /// The record at `position`, for a log read by position (the embedded log; `None` where
    /// it has none, or cannot be read so).
    async fn read_at(&self, _position: LogPosition) -> Result<Option<Record>, BusError> {
        Ok(None)
    }

    /// The decisions log that replicas of the router share, joining the writers' group of
    /// `group` when `elect` (a rebuild only reads it). Kafka only; `None` for a log without.
    async fn decisions(
        &self,
        _group: &str,
        _elect: bool,
    ) -> Result<Option<std::sync::Arc<dyn Decisions>>, BusError> {
        Ok(None)
    }
}

/// The order in which a router applied the log: one entry per applied batch, in apply order
/// (`router::journal` says what an entry holds). Appends are durable after [`RouterJournal::sync`].
pub trait RouterJournal: Send + Sync {
    /// Entries held.
    fn count(&self) -> u64;
    /// Every entry, in order.
    fn entries(&self) -> Result<Vec<Vec<u8>>, BusError>;
    /// Appends an entry (durable after the next sync).
    fn append(&self, entry: &[u8]) -> Result<(), BusError>;
    /// Keeps only the first `len` entries (durably).
    fn truncate(&self, len: u64) -> Result<(), BusError>;
    /// Makes every append durable.
    fn sync(&self) -> Result<(), BusError>;
}

/// Reads the log for one consumer group.
#[async_trait]
pub trait BusConsumer: Send {
    /// Waits for records after the last ones returned and returns up to `max` of them, in order
    /// per partition. Cancel-safe: dropping the future loses nothing.
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, BusError>;

    /// Records that every record up to and including these positions has been applied.
    async fn commit(&mut self, positions: &[LogPosition]) -> Result<(), BusError>;

    /// Makes the commits durable before the consumer goes away.
    async fn close(&mut self) {}
}

/// The partition a key belongs to: FNV-1a (64-bit) of the key, modulo the partition count.
/// Stable across releases and platforms, because it decides where existing subjects live.
pub fn partition_for(key: &str, partitions: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SubjectKey, Uscc};

    #[test]
    fn partitioning_is_stable() {
        let key = SubjectKey::organization(&Uscc::parse("91330106MA2H0Q7W1G").unwrap());
        let key = key.as_str();
        // Pinned: changing the function would move existing subjects to other partitions.
        assert_eq!(partition_for(key, 8), partition_for(key, 8));
        assert_eq!(partition_for(key, 1), 0);
        let spread: std::collections::BTreeSet<u32> = (0..200)
            .map(|n| {
                let body = format!("91330100{n:09}");
                let code = format!("{body}{}", Uscc::check_char(&body).unwrap());
                partition_for(
                    SubjectKey::organization(&Uscc::parse(&code).unwrap()).as_str(),
                    8,
                )
            })
            .collect();
        assert_eq!(spread.len(), 8, "200 subjects should touch every partition");
    }
}
