//! The Kafka log: Apache Kafka through rdkafka, for deployments across machines. rdkafka lives
//! in this file only.
//!
//! - Producer: `enable.idempotence=true` (acks=all, safe retries, no reordering); an append
//!   answers only on the broker's delivery report. Every publish call awaits its own delivery
//!   future, so concurrent calls keep many sends in flight. A full local queue is waited on
//!   (backpressure) up to the message timeout; after that the append fails as `Unavailable` and
//!   nothing is acknowledged.
//! - Topics: `events` (keyed by subject, kept forever: the log is the source of truth) and `dlq`,
//!   created at start-up through the admin API, or verified if they exist.
//! - Consumer: a consumer group whose assigned partitions are positioned where the router's
//!   store stands (the store, not the group, is the authority: a new or restored store catches
//!   up from the log). Positions are stored only after the store has applied and flushed them
//!   ([`BusConsumer::commit`]; `enable.auto.offset.store=false`), auto-committed from there, and
//!   committed synchronously when partitions are revoked and on close — for monitoring lag.
//! - Headers: `traceparent` (W3C trace context), `xiezhi-event` (`producer/event_id`); dead
//!   letters carry `xiezhi-error` and the original topic, partition and offset.
//! - Audit: every audit entry is also published to the audit topic, keyed by its seq.

mod ceiling;

use std::collections::BTreeMap;
#[cfg(test)]
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{info, warn};

use super::{
    AppendOutcome, Bus, BusConsumer, BusError, DeadLetter, OutgoingRecord, Record, StartFrom,
};
pub use crate::config::KafkaConfig;
use crate::domain::LogPosition;

/// How long admin and metadata calls may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the router waits for more records once it has one, to fill a batch.
const BATCH_LINGER: Duration = Duration::from_millis(5);

fn kafka_err(err: KafkaError) -> BusError {
    BusError::Kafka(err.to_string())
}

/// Runs a blocking librdkafka call (metadata, watermarks, committed offsets — each may wait
/// up to [`ADMIN_TIMEOUT`] for a broker that is down) on tokio's blocking pool. On a runtime
/// worker it would stall every task on that worker, and the callers' own timeouts (the health
/// check's two seconds) could not fire until it returned.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, BusError> + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|err| BusError::Kafka(format!("blocking Kafka call did not finish: {err}")))?
}

impl KafkaConfig {
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in &self.client {
            config.set(key, value);
        }
        config
    }
}

/// The Kafka log.
pub struct KafkaBus {
    config: KafkaConfig,
    producer: FutureProducer,
    partitions: u32,
}

impl KafkaBus {
    /// Connects, creates or verifies the topics, and starts the producer.
    pub async fn connect(config: &KafkaConfig) -> Result<Self, BusError> {
        let bus = Self::producer_only(config)?;
        let partitions = bus.ensure_topics().await?;
        info!(
            bootstrap = %config.bootstrap,
            topic = %config.events_topic,
            partitions,
            "kafka bus ready"
        );
        Ok(Self { partitions, ..bus })
    }

    /// The producer side, without touching the topics.
    pub(crate) fn producer_only(config: &KafkaConfig) -> Result<Self, BusError> {
        let producer: FutureProducer = config
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", config.message_timeout_ms.to_string())
            .set("linger.ms", "2")
            // Java clients' default partitioner, so producers in any language agree on where a
            // subject lives.
            .set("partitioner", "murmur2_random")
            .create()
            .map_err(kafka_err)?;
        Ok(Self {
            config: config.clone(),
            producer,
            partitions: config.partitions,
        })
    }

    /// Creates the topics if missing; checks partitions and retention of existing ones.
    /// Returns the events topic's partition count.
    async fn ensure_topics(&self) -> Result<u32, BusError> {
        let admin: AdminClient<DefaultClientContext> =
            self.config.client_config().create().map_err(kafka_err)?;
        let min_isr = self.config.min_insync_replicas.to_string();
        let topic = |name, partitions: u32| {
            NewTopic::new(
                name,
                partitions as i32,
                TopicReplication::Fixed(self.config.replication as i32),
            )
            // The log is the source of truth and `xiezhi rebuild` replays it: keep every record.
            .set("retention.ms", "-1")
            .set("retention.bytes", "-1")
            .set("cleanup.policy", "delete")
            .set("min.insync.replicas", &min_isr)
        };
        let topics = [
            topic(&self.config.events_topic, self.config.partitions),
            topic(&self.config.dlq_topic, 1),
            topic(&self.config.audit_topic, 1),
        ];
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        for result in admin
            .create_topics(&topics, &options)
            .await
            .map_err(kafka_err)?
        {
            match result {
                Ok(name) => info!(topic = %name, "kafka topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Topic {
                        topic: name,
                        problem: format!("cannot be created: {code}"),
                    });
                }
            }
        }
        self.verify_retention(&admin).await?;
        let found = self.topic_partitions(&self.config.events_topic).await?;
        if found != self.config.partitions {
            return Err(BusError::Topic {
                topic: self.config.events_topic.clone(),
                problem: format!(
                    "has {found} partitions but bus.kafka.partitions is {}; subjects would move between partitions",
                    self.config.partitions
                ),
            });
        }
        Ok(found)
    }

    /// Refuses an events topic that deletes records: rebuild and audit need all of them.
    async fn verify_retention(
        &self,
        admin: &AdminClient<DefaultClientContext>,
    ) -> Result<(), BusError> {
        let name = &self.config.events_topic;
        let options = AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT));
        // A topic created a moment ago may not show its configuration yet: ask again briefly.
        for _ in 0..40 {
            let described = admin
                .describe_configs([&ResourceSpecifier::Topic(name)], &options)
                .await
                .map_err(kafka_err)?;
            let retention = described
                .into_iter()
                .filter_map(Result::ok)
                .find_map(|resource| resource.get("retention.ms").and_then(|e| e.value.clone()));
            match retention.as_deref() {
                Some("-1") => return Ok(()),
                Some(other) => {
                    return Err(BusError::Topic {
                        topic: name.clone(),
                        problem: format!(
                            "retention.ms is {other} but must be -1: the events log is kept forever so that stores can be rebuilt from it"
                        ),
                    });
                }
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        Err(BusError::Topic {
            topic: name.clone(),
            problem: "its configuration could not be read to check retention.ms".into(),
        })
    }

    async fn topic_partitions(&self, topic: &str) -> Result<u32, BusError> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), ADMIN_TIMEOUT)
                .map_err(kafka_err)?;
            let found = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .map_or(0, |t| t.partitions().len());
            Ok(found as u32)
        })
        .await
    }

    fn group_consumer(
        &self,
        group: &str,
        start: StartFrom,
    ) -> Result<StreamConsumer<RouterContext>, BusError> {
        let mut config = self.config.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000")
            // A lagging router must not buffer without bound (rust-rdkafka#650).
            .set("queued.max.messages.kbytes", "65536");
        if !self.config.instance_id.is_empty() {
            config.set("group.instance.id", &self.config.instance_id);
        }
        config
            .create_with_context(RouterContext { start: Some(start) })
            .map_err(kafka_err)
    }

    /// A consumer outside any group, assigned every partition of `topic` from the start.
    fn reader(
        &self,
        topic: &str,
        partitions: u32,
    ) -> Result<StreamConsumer<RouterContext>, BusError> {
        let consumer: StreamConsumer<RouterContext> = self
            .config
            .client_config()
            .set("group.id", "xiezhi-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .create_with_context(RouterContext::default())
            .map_err(kafka_err)?;
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(topic, p as i32, Offset::Beginning)
                .map_err(kafka_err)?;
        }
        consumer.assign(&assignment).map_err(kafka_err)?;
        Ok(consumer)
    }

    /// Low and high watermarks of each partition of `topic`.
    async fn watermarks(&self, topic: &str, partitions: u32) -> Result<Vec<(i64, i64)>, BusError> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        blocking(move || {
            (0..partitions)
                .map(|p| {
                    producer
                        .client()
                        .fetch_watermarks(&topic, p as i32, ADMIN_TIMEOUT)
                        .map_err(kafka_err)
                })
                .collect()
        })
        .await
    }
}

/// Positions newly assigned partitions where the store stands (offsets set in the assignment
/// itself, as librdkafka prescribes), and commits stored positions synchronously when
/// partitions are taken away, so group commits stay close to the truth for monitoring.
#[derive(Clone, Default)]
struct RouterContext {
    /// Where each partition starts; `None` for readers outside a group.
    start: Option<StartFrom>,
}

impl ClientContext for RouterContext {}

impl ConsumerContext for RouterContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Some(start) = &self.start {
                    let assigned: Vec<(String, i32)> = partitions
                        .elements()
                        .iter()
                        .map(|e| (e.topic().to_owned(), e.partition()))
                        .collect();
                    for (topic, partition) in assigned {
                        let offset = Offset::Offset(start(partition as u32) as i64);
                        if let Err(e) = partitions.set_partition_offset(&topic, partition, offset) {
                            warn!(error = %e, partition, "cannot position an assigned partition");
                        }
                    }
                }
                info!(
                    partitions = partitions.count(),
                    "partitions assigned; reading from the store's positions"
                );
                if cooperative {
                    consumer.incremental_assign(partitions)
                } else {
                    consumer.assign(partitions)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                    Err(e) => warn!(error = %e, "commit on revoke failed"),
                }
                info!(partitions = partitions.count(), "partitions revoked");
                if cooperative {
                    consumer.incremental_unassign(partitions)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                warn!(error = ?other, "rebalance failed; dropping the assignment");
                if cooperative {
                    consumer.incremental_unassign(partitions)
                } else {
                    consumer.unassign()
                }
            }
        };
        if let Err(e) = result {
            warn!(error = %e, "applying the rebalance failed");
        }
    }
}

fn header_str<'a>(
    headers: Option<&'a rdkafka::message::BorrowedHeaders>,
    name: &str,
) -> Option<&'a str> {
    headers?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

fn record_of(message: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    Record {
        position: LogPosition {
            partition: message.partition() as u32,
            offset: message.offset() as u64,
        },
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        traceparent: header_str(message.headers(), "traceparent").map(str::to_owned),
        timestamp: message
            .timestamp()
            .to_millis()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn append(&self, record: OutgoingRecord) -> Result<AppendOutcome, BusError> {
        let mut headers = OwnedHeaders::new().insert(Header {
            key: "xiezhi-event",
            value: Some(record.idempotency_key.as_slice()),
        });
        if let Some(traceparent) = &record.traceparent {
            headers = headers.insert(Header {
                key: "traceparent",
                value: Some(traceparent.as_bytes()),
            });
        }
        let message = FutureRecord::to(&self.config.events_topic)
            .key(record.key.as_str())
            .payload(record.payload.as_slice())
            .timestamp(record.timestamp.as_millisecond())
            .headers(headers);
        // A full local queue is waited on for as long as a delivery may take.
        let wait = Duration::from_millis(self.config.message_timeout_ms);
        match self.producer.send(message, wait).await {
            Ok(delivery) => Ok(AppendOutcome::Appended(LogPosition {
                partition: delivery.partition as u32,
                offset: delivery.offset as u64,
            })),
            Err((err, _)) => Err(BusError::Unavailable(format!(
                "kafka did not acknowledge the event within {} ms: {err}",
                self.config.message_timeout_ms
            ))),
        }
    }

    async fn consumer(
        &self,
        group: &str,
        start: StartFrom,
    ) -> Result<Box<dyn BusConsumer>, BusError> {
        let consumer = self.group_consumer(group, start)?;
        consumer
            .subscribe(&[&self.config.events_topic])
            .map_err(kafka_err)?;
        Ok(Box::new(KafkaConsumer {
            consumer,
            topic: self.config.events_topic.clone(),
            commits: true,
        }))
    }

    async fn replay(&self) -> Result<Box<dyn BusConsumer>, BusError> {
        Ok(Box::new(KafkaConsumer {
            consumer: self.reader(&self.config.events_topic, self.partitions)?,
            topic: self.config.events_topic.clone(),
            commits: false,
        }))
    }

    async fn dead_letter(&self, record: &Record, reason: &str) -> Result<(), BusError> {
        let partition = record.position.partition.to_string();
        let offset = record.position.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "xiezhi-error",
                value: Some(reason),
            })
            .insert(Header {
                key: "xiezhi-original-topic",
                value: Some(self.config.events_topic.as_str()),
            })
            .insert(Header {
                key: "xiezhi-original-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "xiezhi-original-offset",
                value: Some(offset.as_str()),
            });
        let mut message = FutureRecord::to(&self.config.dlq_topic)
            .payload(record.payload.as_slice())
            .headers(headers);
        if let Some(key) = &record.key {
            message = message.key(key.as_slice());
        }
        let wait = Duration::from_millis(self.config.message_timeout_ms);
        self.producer
            .send(message, wait)
            .await
            .map(|_| ())
            .map_err(|(err, _)| kafka_err(err))
    }

    async fn archive(&self, entries: &[crate::audit::Entry]) {
        // Queue them all, then wait: one round trip for the lot, not one per entry.
        let mut pending = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = entry.seq.to_string();
            // Serialising an entry (strings and a timestamp) cannot fail.
            let payload = serde_json::to_vec(entry).unwrap_or_default();
            let message = FutureRecord::to(&self.config.audit_topic)
                .key(key.as_str())
                .payload(payload.as_slice());
            match self.producer.send_result(message) {
                Ok(delivery) => pending.push((entry.seq, delivery)),
                Err((err, _)) => warn!(seq = entry.seq, error = %err, "audit entry not archived"),
            }
        }
        for (seq, delivery) in pending {
            if let Ok(Err((err, _))) | Err(err) = delivery.await.map_err(|_| KafkaError::Canceled) {
                warn!(seq, error = %err, "audit entry not archived to Kafka; the store's chain keeps it");
            }
        }
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        let ends = self.watermarks(&self.config.dlq_topic, 1).await?;
        let (low, high) = ends[0];
        if high <= low {
            return Ok(Vec::new());
        }
        let reader = self.reader(&self.config.dlq_topic, 1)?;
        let mut out = Vec::new();
        while let Ok(message) = tokio::time::timeout(ADMIN_TIMEOUT, reader.recv()).await {
            let message = message.map_err(kafka_err)?;
            let field = |name| {
                header_str(message.headers(), name)
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(DeadLetter {
                position: LogPosition {
                    partition: field("xiezhi-original-partition")
                        .parse()
                        .unwrap_or_default(),
                    offset: field("xiezhi-original-offset").parse().unwrap_or_default(),
                },
                reason: field("xiezhi-error"),
                payload_hex: hex::encode(message.payload().unwrap_or_default()),
            });
            if message.offset() + 1 >= high {
                break;
            }
        }
        Ok(out)
    }

    async fn end_offsets(&self) -> Result<Vec<u64>, BusError> {
        Ok(self
            .watermarks(&self.config.events_topic, self.partitions)
            .await?
            .into_iter()
            .map(|(_, high)| high.max(0) as u64)
            .collect())
    }

    async fn committed(&self, group: &str) -> Result<Vec<u64>, BusError> {
        let consumer: BaseConsumer = self
            .config
            .client_config()
            .set("group.id", group)
            .create()
            .map_err(kafka_err)?;
        let topic = self.config.events_topic.clone();
        let count = self.partitions;
        blocking(move || {
            let mut partitions = TopicPartitionList::new();
            for p in 0..count {
                partitions.add_partition(&topic, p as i32);
            }
            let committed = consumer
                .committed_offsets(partitions, ADMIN_TIMEOUT)
                .map_err(kafka_err)?;
            Ok((0..count)
                .map(|p| {
                    match committed
                        .find_partition(&topic, p as i32)
                        .map(|e| e.offset())
                    {
                        Some(Offset::Offset(n)) => n.max(0) as u64,
                        _ => 0,
                    }
                })
                .collect())
        })
        .await
    }

    async fn close(&self) {
        if let Err(err) = self
            .producer
            .flush(Duration::from_millis(self.config.message_timeout_ms))
        {
            warn!(error = %err, "kafka producer could not deliver everything before closing");
        }
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }
}

/// A consumer of the events topic: a group member, or a replay that commits nothing.
struct KafkaConsumer {
    consumer: StreamConsumer<RouterContext>,
    topic: String,
    commits: bool,
}

impl KafkaConsumer {
    /// The next record, waiting at most `linger` (forever if `None`). Errors librdkafka
    /// reports while it recovers by itself (a broker down, a leader moving) are logged and
    /// waited out; only fatal ones end the router.
    async fn next(&self, linger: Option<Duration>) -> Result<Option<Record>, BusError> {
        let received = match linger {
            Some(linger) => match tokio::time::timeout(linger, self.consumer.recv()).await {
                Ok(received) => received,
                Err(_) => return Ok(None),
            },
            None => self.consumer.recv().await,
        };
        match received {
            Ok(message) => Ok(Some(record_of(&message))),
            Err(err @ KafkaError::MessageConsumptionFatal(_)) => Err(kafka_err(err)),
            Err(err) => {
                warn!(error = %err, "kafka consumer error; librdkafka retries");
                // Transient errors can repeat quickly while a broker is down.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl BusConsumer for KafkaConsumer {
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        // `recv` is cancel-safe: a message is handed out only when the future completes.
        let mut records = Vec::new();
        while records.is_empty() {
            if let Some(message) = self.next(None).await? {
                records.push(message);
            }
        }
        while records.len() < max {
            match self.next(Some(BATCH_LINGER)).await? {
                Some(message) => records.push(message),
                None => break,
            }
        }
        Ok(records)
    }

    async fn commit(&mut self, positions: &[LogPosition]) -> Result<(), BusError> {
        if !self.commits || positions.is_empty() {
            return Ok(());
        }
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for pos in positions {
            let entry = next.entry(pos.partition).or_default();
            *entry = (*entry).max(pos.offset + 1);
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in next {
            list.add_partition_offset(&self.topic, partition as i32, Offset::Offset(offset as i64))
                .map_err(kafka_err)?;
        }
        match self.consumer.store_offsets(&list) {
            Ok(()) => Ok(()),
            // The partition was revoked while the batch was applied: its next owner re-reads
            // from the last commit, and its store deduplicates.
            Err(KafkaError::StoreOffset(RDKafkaErrorCode::State))
            | Err(KafkaError::StoreOffset(RDKafkaErrorCode::UnknownPartition)) => {
                warn!("positions of revoked partitions not stored");
                Ok(())
            }
            Err(err) => Err(kafka_err(err)),
        }
    }

    async fn close(&mut self) {
        if !self.commits {
            return;
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(err) => warn!(error = %err, "final commit failed; a restart re-reads some records"),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Fault injection against librdkafka's in-process mock cluster. The real broker is
    //! exercised by the integration suite.

    use rdkafka::mocking::MockCluster;

    use super::*;
    use crate::domain::{SubjectKey, Uscc};

    fn record(n: u32) -> OutgoingRecord {
        OutgoingRecord {
            key: SubjectKey::organization(&Uscc::parse("91330106MA2H0Q7W1G").unwrap())
                .as_str()
                .to_owned(),
            timestamp: jiff::Timestamp::now(),
            idempotency_key: format!("330106-SCJG/ev-{n}").into_bytes(),
            content_hash: [0; 32],
            payload: b"{}".to_vec(),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        }
    }

    fn bus_on(
        mock: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>,
        tune: impl FnOnce(&mut KafkaConfig),
    ) -> KafkaBus {
        mock.create_topic("events", 2, 1).unwrap();
        let mut config = KafkaConfig {
            bootstrap: mock.bootstrap_servers(),
            events_topic: "events".into(),
            partitions: 2,
            message_timeout_ms: 1_500,
            ..KafkaConfig::default()
        };
        tune(&mut config);
        KafkaBus::producer_only(&config).unwrap()
    }

    #[tokio::test]
    async fn append_answers_only_on_delivery_and_fails_unavailable_when_brokers_are_gone() {
        let mock = MockCluster::new(1).unwrap();
        let bus = bus_on(&mock, |_| {});
        assert!(matches!(
            bus.append(record(1)).await,
            Ok(AppendOutcome::Appended(_))
        ));
        mock.broker_down(1).unwrap();
        let started = std::time::Instant::now();
        let refused = bus.append(record(2)).await;
        assert!(
            matches!(refused, Err(BusError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(1_000),
            "waited for the message timeout"
        );
        mock.broker_up(1).unwrap();
        // librdkafka reconnects with backoff; a client retrying gets through without help.
        let mut resumed = false;
        for n in 3..13 {
            if bus.append(record(n)).await.is_ok() {
                resumed = true;
                break;
            }
        }
        assert!(resumed, "publishing resumes when the broker returns");
    }

    #[tokio::test]
    async fn a_full_local_queue_is_waited_on_not_refused() {
        let mock = MockCluster::new(1).unwrap();
        mock.broker_round_trip_time(1, Duration::from_millis(50))
            .unwrap();
        let bus = Arc::new(bus_on(&mock, |c| {
            c.message_timeout_ms = 10_000;
            c.client
                .insert("queue.buffering.max.messages".into(), "2".into());
        }));
        let mut sends = tokio::task::JoinSet::new();
        for n in 0..20 {
            let bus = bus.clone();
            sends.spawn(async move { bus.append(record(n)).await });
        }
        let mut delivered = 0;
        while let Some(sent) = sends.join_next().await {
            assert!(sent.unwrap().is_ok(), "QueueFull must be backpressure");
            delivered += 1;
        }
        assert_eq!(delivered, 20);
    }
}
