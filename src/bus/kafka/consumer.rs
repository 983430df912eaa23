//! Reading the events topic: the router's group consumer, positioned where its store stands
//! and storing offsets only after the store has applied them; readers outside any group (replay,
//! dead letters).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{info, warn};

use super::{ADMIN_TIMEOUT, BATCH_LINGER, KafkaBus, KafkaConfig, kafka_err};
use crate::bus::{BusConsumer, BusError, DeadLetter, Record, StartFrom};
use crate::domain::LogPosition;

/// What it takes to join the router's consumer group again: librdkafka's fatal errors (a static
/// member fenced by the group coordinator, e.g. after the broker holding it died) leave the old
/// client unusable, so the router rejoins with a new one rather than stopping.
#[derive(Clone)]
pub(super) struct Rejoin {
    pub(super) config: KafkaConfig,
    pub(super) group: String,
    pub(super) start: StartFrom,
}

/// How many fatal errors in a row, with no record between them, end the router after all.
const MAX_REJOINS: u32 = 5;

impl Rejoin {
    /// A new group member subscribed to the events topic, positioned (on assignment) where the
    /// store stands.
    pub(super) fn consumer(&self) -> Result<StreamConsumer<RouterContext>, BusError> {
        let consumer = group_consumer(&self.config, &self.group, self.start.clone())?;
        consumer
            .subscribe(&[&self.config.events_topic])
            .map_err(kafka_err)?;
        Ok(consumer)
    }
}

fn group_consumer(
    kafka: &KafkaConfig,
    group: &str,
    start: StartFrom,
) -> Result<StreamConsumer<RouterContext>, BusError> {
    let mut config = kafka.client_config()?;
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
    if !kafka.instance_id.is_empty() {
        config.set("group.instance.id", &kafka.instance_id);
    }
    config
        .create_with_context(RouterContext { start: Some(start) })
        .map_err(kafka_err)
}

/// A consumer outside any group (`group` names it only), assigned every partition of `topic`,
/// each from `start(partition)`. Reads committed records only (the decisions topic is written in
/// transactions; other topics have none, so nothing changes for them).
pub(super) fn assigned(
    config: &KafkaConfig,
    group: &str,
    topic: &str,
    partitions: u32,
    start: impl Fn(u32) -> Offset,
) -> Result<StreamConsumer<RouterContext>, BusError> {
    let consumer: StreamConsumer<RouterContext> = config
        .client_config()?
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_committed")
        // A lagging reader must not buffer without bound (rust-rdkafka#650).
        .set("queued.max.messages.kbytes", "65536")
        .create_with_context(RouterContext::default())
        .map_err(kafka_err)?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p as i32, start(p))
            .map_err(kafka_err)?;
    }
    consumer.assign(&assignment).map_err(kafka_err)?;
    Ok(consumer)
}

impl KafkaBus {
    /// A consumer outside any group, assigned every partition of `topic` from the start.
    pub(super) fn reader(
        &self,
        topic: &str,
        partitions: u32,
    ) -> Result<StreamConsumer<RouterContext>, BusError> {
        assigned(&self.config, "xiezhi-reader", topic, partitions, |_| {
            Offset::Beginning
        })
    }

    pub(super) async fn read_dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
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
}

/// Positions newly assigned partitions where the store stands (offsets set in the assignment
/// itself, as librdkafka prescribes), and commits stored positions synchronously when
/// partitions are taken away, so group commits stay close to the truth for monitoring.
#[derive(Clone, Default)]
pub(super) struct RouterContext {
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

/// A consumer of the events topic: a group member, or a replay that commits nothing.
pub(super) struct KafkaConsumer {
    pub(super) consumer: StreamConsumer<RouterContext>,
    pub(super) topic: String,
    /// For a group member, how to join again after a fatal error; `None` for a replay.
    pub(super) rejoin: Option<Rejoin>,
    /// Fatal errors since the last record received.
    pub(super) fatal_in_a_row: u32,
    /// Records received by a poll that has not returned yet: kept here, not in the poll's
    /// future, so that a poll dropped half-way (the router's loop has other things to await)
    /// loses none of them.
    pub(super) received: Vec<Record>,
}

enum Received {
    Record(Record),
    Nothing,
    Fatal(KafkaError),
}

impl KafkaConsumer {
    pub(super) fn new(
        consumer: StreamConsumer<RouterContext>,
        topic: &str,
        rejoin: Option<Rejoin>,
    ) -> Self {
        KafkaConsumer {
            consumer,
            topic: topic.to_owned(),
            rejoin,
            fatal_in_a_row: 0,
            received: Vec::new(),
        }
    }

    /// The next record, waiting at most `linger` (forever if `None`). Errors librdkafka
    /// reports while it recovers by itself (a broker down, a leader moving) are logged and
    /// waited out; fatal ones are the caller's.
    async fn next(&self, linger: Option<Duration>) -> Received {
        let received = match linger {
            Some(linger) => match tokio::time::timeout(linger, self.consumer.recv()).await {
                Ok(received) => received,
                Err(_) => return Received::Nothing,
            },
            None => self.consumer.recv().await,
        };
        match received {
            Ok(message) => Received::Record(record_of(&message)),
            Err(err @ KafkaError::MessageConsumptionFatal(_)) => Received::Fatal(err),
            Err(err) => {
                warn!(error = %err, "kafka consumer error; librdkafka retries");
                // Transient errors can repeat quickly while a broker is down.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Received::Nothing
            }
        }
    }

    async fn receive(&mut self, linger: Option<Duration>) -> Result<Option<Record>, BusError> {
        match self.next(linger).await {
            Received::Record(record) => {
                self.fatal_in_a_row = 0;
                Ok(Some(record))
            }
            Received::Nothing => Ok(None),
            Received::Fatal(err) => {
                self.rejoin_after(err).await?;
                Ok(None)
            }
        }
    }

    /// Replaces a client that hit a fatal error with a new group member. Nothing is lost or
    /// applied twice: the new member is positioned where the store stands when its partitions
    /// are assigned, and the store skips what it has already applied. A replay, or a group that
    /// fails [`MAX_REJOINS`] times with no record in between, ends the router instead.
    async fn rejoin_after(&mut self, err: KafkaError) -> Result<(), BusError> {
        let Some(rejoin) = &self.rejoin else {
            return Err(kafka_err(err));
        };
        self.fatal_in_a_row += 1;
        if self.fatal_in_a_row > MAX_REJOINS {
            return Err(kafka_err(err));
        }
        warn!(
            error = %err,
            attempt = self.fatal_in_a_row,
            "fatal consumer error (a static member fenced by its group coordinator?); rejoining the group with a new consumer"
        );
        tokio::time::sleep(Duration::from_millis(500) * self.fatal_in_a_row).await;
        let fresh = rejoin.consumer()?;
        let old = std::mem::replace(&mut self.consumer, fresh);
        // Closing a failed client may wait on brokers: not on a runtime worker.
        tokio::task::spawn_blocking(move || drop(old));
        Ok(())
    }
}

#[async_trait]
impl BusConsumer for KafkaConsumer {
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        // `recv` is cancel-safe: a message is handed out only when the future completes, and
        // then kept in `received` at once.
        while self.received.is_empty() {
            if let Some(message) = self.receive(None).await? {
                self.received.push(message);
            }
        }
        while self.received.len() < max {
            match self.receive(Some(BATCH_LINGER)).await? {
                Some(message) => self.received.push(message),
                None => break,
            }
        }
        Ok(std::mem::take(&mut self.received))
    }

    async fn commit(&mut self, positions: &[LogPosition]) -> Result<(), BusError> {
        if self.rejoin.is_none() || positions.is_empty() {
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
        if self.rejoin.is_none() {
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
    //! Fault injection against librdkafka's in-process mock cluster.

    use std::collections::BTreeSet;
    use std::sync::Arc;

    use rdkafka::mocking::MockCluster;
    use rdkafka::types::RDKafkaApiKey;

    use super::*;
    use crate::bus::{Bus, OutgoingRecord};

    async fn append(bus: &KafkaBus, n: u32) {
        bus.append(OutgoingRecord {
            key: format!("subject-{}", n % 7),
            timestamp: jiff::Timestamp::now(),
            idempotency_key: format!("test/ev-{n}").into_bytes(),
            content_hash: [0; 32],
            payload: b"{}".to_vec(),
            traceparent: None,
        })
        .await
        .unwrap();
    }

    async fn poll_until(
        consumer: &mut dyn BusConsumer,
        seen: &mut BTreeSet<LogPosition>,
        n: usize,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while seen.len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} records",
                seen.len()
            );
            let polled = tokio::time::timeout(Duration::from_secs(1), consumer.poll(100)).await;
            if let Ok(records) = polled {
                let records = records.expect("the group member recovers by itself");
                seen.extend(records.iter().map(|r| r.position));
            }
        }
    }

    /// A static member fenced by its group coordinator gets librdkafka's fatal error: the
    /// router rejoins with a new client and reads on, instead of stopping.
    #[tokio::test]
    async fn a_fenced_static_member_rejoins_and_reads_on() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("events", 2, 1).unwrap();
        let config = KafkaConfig {
            bootstrap: mock.bootstrap_servers(),
            events_topic: "events".into(),
            partitions: 2,
            instance_id: "router-under-test".into(),
            client: [("heartbeat.interval.ms".into(), "100".into())].into(),
            ..KafkaConfig::default()
        };
        let bus = KafkaBus::producer_only(&config).unwrap();
        for n in 0..20 {
            append(&bus, n).await;
        }
        let mut consumer = bus
            .consumer("xiezhi-router", Arc::new(|_| 0))
            .await
            .unwrap();
        let mut seen = BTreeSet::new();
        poll_until(consumer.as_mut(), &mut seen, 20).await;

        mock.request_errors(
            RDKafkaApiKey::Heartbeat,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID],
        );
        // Long enough for heartbeats to meet the error while the member idles.
        let idle = tokio::time::timeout(Duration::from_secs(2), consumer.poll(100)).await;
        assert!(
            idle.is_err(),
            "nothing to read, and no error either: {idle:?}"
        );
        for n in 20..40 {
            append(&bus, n).await;
        }
        poll_until(consumer.as_mut(), &mut seen, 40).await;
    }
}
