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

use super::{ADMIN_TIMEOUT, BATCH_LINGER, KafkaBus, kafka_err};
use crate::bus::{BusConsumer, BusError, DeadLetter, Record, StartFrom};
use crate::domain::LogPosition;

impl KafkaBus {
    pub(super) fn group_consumer(
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
    pub(super) fn reader(
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
    pub(super) commits: bool,
    /// Records received by a poll that has not returned yet: kept here, not in the poll's
    /// future, so that a poll dropped half-way (the router's loop has other things to await)
    /// loses none of them.
    pub(super) received: Vec<Record>,
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
        // `recv` is cancel-safe: a message is handed out only when the future completes, and
        // then kept in `received` at once.
        while self.received.is_empty() {
            if let Some(message) = self.next(None).await? {
                self.received.push(message);
            }
        }
        while self.received.len() < max {
            match self.next(Some(BATCH_LINGER)).await? {
                Some(message) => self.received.push(message),
                None => break,
            }
        }
        Ok(std::mem::take(&mut self.received))
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
