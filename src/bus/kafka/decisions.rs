//! The decisions log on Kafka (`bus::Decisions`): one partition, written only in transactions
//! under one transactional id (`<group>.writer`), read `read_committed`. The writer's place is
//! the one partition of the decisions topic in the consumer group `<group>.writer`: a thread
//! keeps this replica in the group (its partition paused: it reads nothing through it) and
//! reports whether it holds the partition. Cooperative-sticky assignment: a replica joining or
//! leaving does not take the place from the writer holding it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::watch;
use tracing::{info, warn};

use super::consumer::{KafkaConsumer, RouterContext};
use super::{BATCH_LINGER, KafkaBus, KafkaConfig, blocking, kafka_err};
use crate::bus::{AckReader, BusConsumer, BusError, Decided, DecisionReader, Decisions, StartFrom};

/// Largest decided batch, in bytes (the decisions topic's `max.message.bytes`): a batch of
/// `router.batch_max` events with their envelopes stays well below it.
pub(super) const MAX_BATCH_BYTES: &str = "16777216";

/// How long a transaction's calls may take before the writer gives up (and stops).
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The decisions log of one router group.
pub(super) struct KafkaDecisions {
    config: KafkaConfig,
    events_partitions: u32,
    producer: FutureProducer,
    /// The bus's idempotent producer, for shared acknowledgements.
    acks: FutureProducer,
    writer: watch::Receiver<bool>,
    /// Ends the election thread (which then leaves the group, handing the place on at once).
    stop: Arc<AtomicBool>,
}

impl Drop for KafkaDecisions {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl KafkaBus {
    /// Prepares the transactional producer and, when `elect`, joins the writers' group of
    /// `group` (without, this process never holds the writer's place).
    pub(super) fn decisions_log(
        &self,
        group: &str,
        elect: bool,
    ) -> Result<KafkaDecisions, BusError> {
        let producer: FutureProducer = self
            .config
            .client_config()?
            .set("transactional.id", format!("{group}.writer"))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("compression.type", "lz4")
            .set("message.max.bytes", MAX_BATCH_BYTES)
            .set("transaction.timeout.ms", "60000")
            .create()
            .map_err(kafka_err)?;
        let (tx, writer) = watch::channel(false);
        let stop = Arc::new(AtomicBool::new(false));
        let decisions = KafkaDecisions {
            config: self.config.clone(),
            events_partitions: self.partitions,
            producer,
            acks: self.producer.clone(),
            writer,
            stop: stop.clone(),
        };
        if !elect {
            return Ok(decisions);
        }
        let election: BaseConsumer = self
            .config
            .client_config()?
            .set("group.id", format!("{group}.writer"))
            .set("partition.assignment.strategy", "cooperative-sticky")
            // A writer that died is replaced after this long (docs/benchmarks.md, failover).
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .create()
            .map_err(kafka_err)?;
        election
            .subscribe(&[&self.config.decisions_topic])
            .map_err(kafka_err)?;
        std::thread::Builder::new()
            .name("xiezhi-election".into())
            .spawn(move || hold_place(election, tx, stop))
            .map_err(|err| BusError::Kafka(format!("cannot start the election thread: {err}")))?;
        Ok(decisions)
    }
}

/// Keeps this replica in the writers' group and reports whether it holds the place.
fn hold_place(consumer: BaseConsumer, tx: watch::Sender<bool>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        // Polling serves the group's rebalances; no record is wanted (the partition is paused).
        if let Some(Err(err)) = consumer.poll(Duration::from_millis(200)) {
            warn!(error = %err, "writers' group: kafka error; librdkafka retries");
        }
        let assignment = consumer.assignment().unwrap_or_default();
        let holds = assignment.count() > 0;
        if holds && let Err(err) = consumer.pause(&assignment) {
            warn!(error = %err, "writers' group: cannot pause the partition");
        }
        tx.send_if_modified(|now| {
            let changed = *now != holds;
            if changed {
                info!(
                    writer = holds,
                    "writer's place {}",
                    if holds { "taken" } else { "lost" }
                );
            }
            *now = holds;
            changed
        });
    }
    consumer.unsubscribe();
}

impl KafkaDecisions {
    /// Appends `payload` (empty: a barrier) in a transaction of its own; its offset.
    async fn transact(&self, payload: Vec<u8>) -> Result<u64, BusError> {
        let producer = self.producer.clone();
        blocking(move || producer.begin_transaction().map_err(kafka_err)).await?;
        let record = FutureRecord::<(), [u8]>::to(&self.config.decisions_topic).payload(&payload);
        let delivery = match self.producer.send(record, TRANSACTION_TIMEOUT).await {
            Ok(delivery) => delivery,
            Err((err, _)) => {
                let producer = self.producer.clone();
                let _ = blocking(move || {
                    producer
                        .abort_transaction(TRANSACTION_TIMEOUT)
                        .map_err(kafka_err)
                })
                .await;
                return Err(BusError::Kafka(format!(
                    "decided batch not written to {}: {err}",
                    self.config.decisions_topic
                )));
            }
        };
        let producer = self.producer.clone();
        blocking(move || {
            producer
                .commit_transaction(TRANSACTION_TIMEOUT)
                .map_err(|err| {
                    BusError::Kafka(format!(
                        "decided batch not committed (another replica may have taken the writer's place): {err}"
                    ))
                })
        })
        .await?;
        Ok(delivery.offset as u64)
    }

    /// A reader of `topic` outside any group, each partition from `start(partition)`.
    fn assigned(
        &self,
        topic: &str,
        partitions: u32,
        start: impl Fn(u32) -> u64,
    ) -> Result<StreamConsumer<RouterContext>, BusError> {
        super::consumer::assigned(&self.config, "xiezhi-replica", topic, partitions, |p| {
            Offset::Offset(start(p) as i64)
        })
    }
}

#[async_trait]
impl Decisions for KafkaDecisions {
    fn writer(&self) -> watch::Receiver<bool> {
        self.writer.clone()
    }

    async fn take_over(&self) -> Result<u64, BusError> {
        let producer = self.producer.clone();
        blocking(move || {
            producer
                .init_transactions(TRANSACTION_TIMEOUT)
                .map_err(kafka_err)
        })
        .await?;
        self.transact(Vec::new()).await
    }

    async fn append(&self, batch: Vec<u8>) -> Result<u64, BusError> {
        Ok(self.transact(batch).await? + 1)
    }

    async fn reader(&self, from: u64) -> Result<Box<dyn DecisionReader>, BusError> {
        Ok(Box::new(Reader {
            consumer: self.assigned(&self.config.decisions_topic, 1, |_| from)?,
            received: Vec::new(),
        }))
    }

    async fn end(&self) -> Result<u64, BusError> {
        let producer = self.producer.clone();
        let topic = self.config.decisions_topic.clone();
        blocking(move || {
            producer
                .client()
                .fetch_watermarks(&topic, 0, TRANSACTION_TIMEOUT)
                .map(|(_, high)| high.max(0) as u64)
                .map_err(kafka_err)
        })
        .await
    }

    async fn events(&self, start: StartFrom) -> Result<Box<dyn BusConsumer>, BusError> {
        let topic = self.config.events_topic.clone();
        let consumer = self.assigned(&topic, self.events_partitions, |p| start(p))?;
        Ok(Box::new(KafkaConsumer::new(consumer, &topic, None)))
    }

    async fn share_ack(&self, agency: &str, cursor: u64) -> Result<(), BusError> {
        let payload = cursor.to_be_bytes();
        let record = FutureRecord::to(&self.config.acks_topic)
            .key(agency)
            .payload(&payload[..]);
        self.acks
            .send(record, TRANSACTION_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(err, _)| BusError::Kafka(format!("acknowledgement not shared: {err}")))
    }

    async fn acks(&self) -> Result<Box<dyn AckReader>, BusError> {
        Ok(Box::new(Acks(self.assigned(
            &self.config.acks_topic,
            1,
            |_| 0,
        )?)))
    }
}

/// Reads the acknowledgements replicas share: agency → cursor (8 bytes, big-endian).
struct Acks(StreamConsumer<RouterContext>);

#[async_trait]
impl AckReader for Acks {
    async fn next(&mut self) -> Result<(String, u64), BusError> {
        loop {
            match self.0.recv().await {
                Ok(message) => {
                    let agency = message.key().map(String::from_utf8_lossy);
                    let cursor = message
                        .payload()
                        .and_then(|p| <[u8; 8]>::try_from(p).ok())
                        .map(u64::from_be_bytes);
                    if let (Some(agency), Some(cursor)) = (agency, cursor) {
                        return Ok((agency.into_owned(), cursor));
                    }
                    warn!(
                        offset = message.offset(),
                        "acknowledgements: a record that is not one; skipped"
                    );
                }
                Err(err @ rdkafka::error::KafkaError::MessageConsumptionFatal(_)) => {
                    return Err(kafka_err(err));
                }
                Err(err) => {
                    warn!(error = %err, "acknowledgements reader: kafka error; librdkafka retries");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Reads committed decided batches in order.
struct Reader {
    consumer: StreamConsumer<RouterContext>,
    /// Records received and not yet returned (see `KafkaConsumer::received`).
    received: Vec<Decided>,
}

impl Reader {
    async fn receive(&mut self, linger: Option<Duration>) -> Result<bool, BusError> {
        let message = match linger {
            Some(linger) => match tokio::time::timeout(linger, self.consumer.recv()).await {
                Ok(message) => message,
                Err(_) => return Ok(false),
            },
            None => self.consumer.recv().await,
        };
        match message {
            Ok(message) => {
                let payload = message.payload().unwrap_or_default();
                self.received.push(Decided {
                    offset: message.offset() as u64,
                    batch: (!payload.is_empty()).then(|| payload.to_vec()),
                });
                Ok(true)
            }
            Err(err @ rdkafka::error::KafkaError::MessageConsumptionFatal(_)) => {
                Err(kafka_err(err))
            }
            Err(err) => {
                warn!(error = %err, "decisions reader: kafka error; librdkafka retries");
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(false)
            }
        }
    }
}

#[async_trait]
impl DecisionReader for Reader {
    async fn poll(&mut self, max: usize) -> Result<Vec<Decided>, BusError> {
        while self.received.is_empty() {
            self.receive(None).await?;
        }
        while self.received.len() < max && self.receive(Some(BATCH_LINGER)).await? {}
        Ok(std::mem::take(&mut self.received))
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::mocking::MockCluster;

    use super::*;
    use crate::bus::Bus;

    #[tokio::test]
    async fn a_decisions_topic_of_more_than_one_partition_is_refused() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("decided", 2, 1).unwrap();
        let config = KafkaConfig {
            bootstrap: mock.bootstrap_servers(),
            decisions_topic: "decided".into(),
            ..KafkaConfig::default()
        };
        let bus = KafkaBus::producer_only(&config).unwrap();
        let refused = match bus.decisions("group", false).await {
            Ok(_) => panic!("two partitions accepted: two replicas could both write"),
            Err(err) => err.to_string(),
        };
        assert!(refused.contains("2 partitions"), "{refused}");
    }
}
