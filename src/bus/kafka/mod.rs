//! The Kafka log: Apache Kafka through rdkafka, for deployments across machines. rdkafka lives
//! in this file only.
//!
//! - Producer: `enable.idempotence=true` (acks=all, safe retries, no reordering); an append
//!   answers only on the broker's delivery report. Every publish call awaits its own delivery
//!   future, so concurrent calls keep many sends in flight. A full local queue is waited on
//!   (backpressure) up to the message timeout; after that the append fails as `Unavailable` and
//!   nothing is acknowledged.
//! - Topics: `events` (keyed by subject, kept forever: the log is the source of truth), `dlq`,
//!   `audit` and `decisions` (the writing replica's decided batches, `decisions.rs`), created at
//!   start-up through the admin API, or verified if they exist.
//! - Consumer: a consumer group whose assigned partitions are positioned where the router's
//!   store stands (the store, not the group, is the authority: a new or restored store catches
//!   up from the log). Positions are stored only after the store has applied and flushed them
//!   ([`BusConsumer::commit`]; `enable.auto.offset.store=false`), auto-committed from there, and
//!   committed synchronously when partitions are revoked and on close — for monitoring lag.
//! - Headers: `traceparent` (W3C trace context), `xiezhi-event` (`producer/event_id`); dead
//!   letters carry `xiezhi-error` and the original topic, partition and offset.
//! - Audit: every audit entry is also published to the audit topic, keyed by its seq.
//!
//! Roles: `admin.rs` (topics and metadata), `producer.rs` (events, dead letters, audit),
//! `consumer.rs` (the router's group consumer and readers). rdkafka lives in this folder only.

mod admin;
mod ceiling;
mod consumer;
mod decisions;
mod producer;

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use tracing::info;

use super::{
    AppendOutcome, Bus, BusConsumer, BusError, DeadLetter, OutgoingRecord, Record, StartFrom,
};
use crate::config::ConfigError;
pub use crate::config::KafkaConfig;
use consumer::{KafkaConsumer, Rejoin};

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
    /// The settings every client shares: the brokers, the extra `client` settings, and the
    /// connection's security (TLS files, SASL user and the password read now).
    fn client_config(&self) -> Result<ClientConfig, BusError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in &self.client {
            config.set(key, value);
        }
        let protocol = self.security_protocol;
        config.set("security.protocol", protocol.as_str());
        for (key, path, setting) in [
            ("bus.kafka.ssl_ca", &self.ssl_ca, "ssl.ca.location"),
            (
                "bus.kafka.ssl_cert",
                &self.ssl_cert,
                "ssl.certificate.location",
            ),
            ("bus.kafka.ssl_key", &self.ssl_key, "ssl.key.location"),
        ] {
            if path.as_os_str().is_empty() {
                continue;
            }
            // librdkafka's own message for a missing file does not name the configuration key.
            std::fs::File::open(path).map_err(|err| {
                BusError::Config(ConfigError::Invalid {
                    key,
                    message: format!("cannot read {}: {err}", path.display()),
                })
            })?;
            config.set(setting, path.display().to_string());
        }
        if protocol.sasl() {
            config
                .set("sasl.mechanism", self.sasl_mechanism.as_str())
                .set("sasl.username", &self.sasl_username)
                .set("sasl.password", self.sasl_password()?.expose());
        }
        Ok(config)
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
        bus.probe().await?;
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
        let mut settings = config.client_config()?;
        // 2 ms unless `client` says otherwise (docs/benchmarks.md measures the choices).
        if settings.get("linger.ms").is_none() {
            settings.set("linger.ms", "2");
        }
        let producer: FutureProducer = settings
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", config.message_timeout_ms.to_string())
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
}

#[async_trait]
impl Bus for KafkaBus {
    async fn append(&self, record: OutgoingRecord) -> Result<AppendOutcome, BusError> {
        self.send_event(record).await
    }

    async fn consumer(
        &self,
        group: &str,
        start: StartFrom,
    ) -> Result<Box<dyn BusConsumer>, BusError> {
        let rejoin = Rejoin {
            config: self.config.clone(),
            group: group.to_owned(),
            start,
        };
        Ok(Box::new(KafkaConsumer::new(
            rejoin.consumer()?,
            &self.config.events_topic,
            Some(rejoin),
        )))
    }

    async fn replay(&self) -> Result<Box<dyn BusConsumer>, BusError> {
        Ok(Box::new(KafkaConsumer::new(
            self.reader(&self.config.events_topic, self.partitions)?,
            &self.config.events_topic,
            None,
        )))
    }

    async fn dead_letter(&self, record: &Record, reason: &str) -> Result<(), BusError> {
        self.send_dead_letter(record, reason).await
    }

    fn archives(&self) -> bool {
        true
    }

    async fn archive(&self, entries: &[crate::audit::Entry]) {
        self.send_audit(entries).await;
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        self.read_dead_letters().await
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
        self.committed_offsets(group).await
    }

    async fn close(&self) {
        self.flush();
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }

    async fn decisions(
        &self,
        group: &str,
        elect: bool,
    ) -> Result<Option<std::sync::Arc<dyn super::Decisions>>, BusError> {
        // One partition is one order, and one place to hold: two would make two writers.
        let topic = &self.config.decisions_topic;
        match self.topic_partitions(topic).await? {
            1 => {}
            0 => {
                return Err(BusError::Topic {
                    topic: topic.clone(),
                    problem: "does not exist, and this Kafka user may not create it: have the cluster's operator create it with one partition (docs/kafka.md)".into(),
                });
            }
            n => {
                return Err(BusError::Topic {
                    topic: topic.clone(),
                    problem: format!("has {n} partitions; router replicas need exactly one"),
                });
            }
        }
        Ok(Some(std::sync::Arc::new(self.decisions_log(group, elect)?)))
    }
}
