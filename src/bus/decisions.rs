//! The decisions log (Kafka only, `router.replicas`): the batches the writing router decided,
//! one record each, from which every replica materialises its store — so that all replicas
//! number every inbox alike and a reader may move between them (docs/kafka.md, "Replicas").
//!
//! Who writes is decided by Kafka's consumer-group protocol, never by Xiezhi: every replica
//! joins one group on the decisions topic, and the member holding its one partition is the
//! writer. A writer takes over by fencing every earlier one (Kafka transactions under one
//! transactional id: what a fenced writer had not committed is aborted and it can commit
//! nothing more), then writes a barrier and applies everything before it, and only then decides.

use async_trait::async_trait;
use tokio::sync::watch;

use super::{BusConsumer, BusError, StartFrom};

/// A record of the decisions log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    /// Its offset.
    pub offset: u64,
    /// The decided batch; `None` for a barrier (a writer taking over).
    pub batch: Option<Vec<u8>>,
}

/// The decisions log of one deployment.
#[async_trait]
pub trait Decisions: Send + Sync {
    /// Whether this process holds the writer's place now; changes as the group rebalances.
    fn writer(&self) -> watch::Receiver<bool>;

    /// Fences every earlier writer and appends a barrier after whatever they committed; the
    /// barrier's offset. Everything before it must be applied before this process decides.
    async fn take_over(&self) -> Result<u64, BusError>;

    /// Appends a decided batch in a transaction of its own; the offset to read after it.
    /// Fails if another writer has taken over since [`Decisions::take_over`].
    async fn append(&self, batch: Vec<u8>) -> Result<u64, BusError>;

    /// A reader of committed records from `from` on.
    async fn reader(&self, from: u64) -> Result<Box<dyn DecisionReader>, BusError>;

    /// The offset after the last record (transaction markers included).
    async fn end(&self) -> Result<u64, BusError>;

    /// The writer's reader of the events log: every partition, from `start(partition)` (the
    /// store's positions), outside any consumer group — the writer's place is what makes it the
    /// only one deciding, and its transactions what fence a writer that lost it.
    async fn events(&self, start: StartFrom) -> Result<Box<dyn BusConsumer>, BusError>;

    /// Hands an inbox acknowledgement taken here to the other replicas (durable on return).
    async fn share_ack(&self, agency: &str, cursor: u64) -> Result<(), BusError>;

    /// Every acknowledgement shared so far, then new ones as they come.
    async fn acks(&self) -> Result<Box<dyn AckReader>, BusError>;
}

/// Reads the acknowledgements replicas share.
#[async_trait]
pub trait AckReader: Send {
    /// The next (agency, cursor); waits for one. Cancel-safe.
    async fn next(&mut self) -> Result<(String, u64), BusError>;
}

/// Reads the decisions log in order.
#[async_trait]
pub trait DecisionReader: Send {
    /// Waits for records after the last ones returned; up to `max` of them. Cancel-safe.
    async fn poll(&mut self, max: usize) -> Result<Vec<Decided>, BusError>;
}
