//! Topic administration and metadata: the topics created or checked at start-up (partitions,
//! retention), partition watermarks and a group's committed offsets. Metadata calls run on the
//! blocking pool ([`super::blocking`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::info;

use super::{ADMIN_TIMEOUT, KafkaBus, blocking, kafka_err};
use crate::bus::BusError;

/// How long a metadata call waits for partition leaders after a topic was created or a broker
/// left: KRaft elects them within seconds, so this only bounds a cluster that cannot elect.
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// Runs a blocking metadata `call` (on the blocking pool), asking again while the answer is
/// that a partition has no leader yet — what a topic created a moment ago, or one whose leader
/// just left, answers for a few hundred milliseconds. Any other error is returned at once.
fn until_leaders<T>(mut call: impl FnMut() -> Result<T, KafkaError>) -> Result<T, BusError> {
    let deadline = std::time::Instant::now() + LEADER_WAIT;
    loop {
        match call() {
            Err(KafkaError::MetadataFetch(code))
                if is_leader_election(code) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other.map_err(kafka_err),
        }
    }
}

/// The errors a partition answers while its leader is being elected.
fn is_leader_election(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::CoordinatorLoadInProgress
    )
}

/// How long start-up tries to reach the brokers before it says why it cannot.
const PROBE_WAIT: Duration = Duration::from_secs(15);

/// Keeps the last error librdkafka reported for a client, so that a start-up that cannot use
/// the brokers says why (a refused password, a certificate the broker does not trust, a TLS
/// client at a plaintext listener) instead of timing out.
#[derive(Clone, Default)]
struct LastError(Arc<Mutex<Option<(RDKafkaErrorCode, String)>>>);

impl ClientContext for LastError {
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        if let Ok(mut last) = self.0.lock() {
            // "All brokers are down" follows the error that says why: keep that one.
            if code != RDKafkaErrorCode::AllBrokersDown || last.is_none() {
                *last = Some((code, reason.to_owned()));
            }
        }
    }
}

impl rdkafka::producer::ProducerContext for LastError {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

impl LastError {
    fn get(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.0.lock().ok().and_then(|last| last.clone())
    }
}

/// Whether the brokers' ACLs refused an admin request.
fn denied(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed | RDKafkaErrorCode::ClusterAuthorizationFailed
    )
}

/// Whether a client error will not go away by waiting: the brokers refused who we are (a
/// password, a certificate), or we refused theirs. A TLS alert from the broker arrives as a
/// transport failure whose reason names the SSL routine.
fn refused(code: RDKafkaErrorCode, reason: &str) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL
    ) || reason.contains("SSL routines")
}

impl KafkaBus {
    /// Reaches the brokers once with a metadata request before anything else, and fails with
    /// librdkafka's reason if that is refused (authentication or TLS: at once) or does not
    /// answer within [`PROBE_WAIT`].
    pub(super) async fn probe(&self) -> Result<(), BusError> {
        let context = LastError::default();
        // A producer, because polling it serves librdkafka's error callbacks into `context`.
        let client: BaseProducer<LastError> = self
            .config
            .client_config()?
            .create_with_context(context.clone())
            .map_err(kafka_err)?;
        let bootstrap = self.config.bootstrap.clone();
        let protocol = self.config.security_protocol.as_str();
        blocking(move || {
            let deadline = Instant::now() + PROBE_WAIT;
            loop {
                let answer = client
                    .client()
                    .fetch_metadata(None, Duration::from_secs(1));
                client.poll(Duration::ZERO);
                let last = context.get();
                match (answer, last) {
                    (Ok(_), _) => return Ok(()),
                    (Err(_), Some((code, reason))) if refused(code, &reason) || Instant::now() > deadline => {
                        return Err(BusError::Kafka(format!(
                            "the connection to the brokers at {bootstrap} ({protocol}) failed: {reason}"
                        )));
                    }
                    (Err(err), None) if Instant::now() > deadline => {
                        return Err(BusError::Kafka(format!(
                            "no broker at {bootstrap} ({protocol}) answered within {PROBE_WAIT:?}: {err}"
                        )));
                    }
                    _ => {}
                }
            }
        })
        .await
    }

    /// Creates the topics if missing; checks partitions and retention of existing ones.
    /// Returns the events topic's partition count.
    pub(super) async fn ensure_topics(&self) -> Result<u32, BusError> {
        let admin: AdminClient<DefaultClientContext> =
            self.config.client_config()?.create().map_err(kafka_err)?;
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
            // Replicas are materialised from it: kept forever, one partition for one order.
            topic(&self.config.decisions_topic, 1)
                .set("max.message.bytes", super::decisions::MAX_BATCH_BYTES),
            // The latest acknowledgement per agency is all a replica needs.
            topic(&self.config.acks_topic, 1).set("cleanup.policy", "compact"),
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
                // On a secured cluster the operator creates the topics and Xiezhi's users may
                // not: the checks below say so if one is missing.
                Err((name, code)) if denied(code) => {
                    info!(topic = %name, "not permitted to create kafka topics; expecting it to exist")
                }
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
        if found == 0 {
            return Err(BusError::Topic {
                topic: self.config.events_topic.clone(),
                problem: "does not exist, and this Kafka user may not create it: have the cluster's operator create it (docs/kafka.md)".into(),
            });
        }
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
    pub(super) async fn verify_retention(
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
            if let Some(Err(code)) = described.first()
                && denied(*code)
            {
                return Err(BusError::Topic {
                    topic: name.clone(),
                    problem: "its configuration may not be read by this Kafka user: grant it DESCRIBE_CONFIGS on the topic, so that start-up can check it keeps every record (docs/kafka.md)".into(),
                });
            }
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

    pub(super) async fn topic_partitions(&self, topic: &str) -> Result<u32, BusError> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        blocking(move || {
            until_leaders(|| {
                let metadata = producer
                    .client()
                    .fetch_metadata(Some(&topic), ADMIN_TIMEOUT)?;
                match metadata.topics().iter().find(|t| t.name() == topic) {
                    // A topic created a moment ago is listed with an error until it has leaders.
                    Some(t) => match t.error() {
                        Some(code) => Err(KafkaError::MetadataFetch(code.into())),
                        None => Ok(t.partitions().len() as u32),
                    },
                    None => Ok(0),
                }
            })
        })
        .await
    }

    /// Low and high watermarks of each partition of `topic`.
    pub(super) async fn watermarks(
        &self,
        topic: &str,
        partitions: u32,
    ) -> Result<Vec<(i64, i64)>, BusError> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        blocking(move || {
            (0..partitions)
                .map(|p| {
                    until_leaders(|| {
                        producer
                            .client()
                            .fetch_watermarks(&topic, p as i32, ADMIN_TIMEOUT)
                    })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn committed_offsets(&self, group: &str) -> Result<Vec<u64>, BusError> {
        let consumer: BaseConsumer = self
            .config
            .client_config()?
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
            let committed =
                until_leaders(|| consumer.committed_offsets(partitions.clone(), ADMIN_TIMEOUT))?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_without_a_leader_yet_is_asked_again() {
        let mut calls = 0;
        let answer = until_leaders(|| {
            calls += 1;
            if calls < 3 {
                Err(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::NotLeaderForPartition,
                ))
            } else {
                Ok(42)
            }
        });
        assert_eq!(answer.unwrap(), 42);
        assert_eq!(calls, 3);
    }

    #[test]
    fn other_metadata_errors_are_returned_at_once() {
        let mut calls = 0;
        let answer: Result<(), _> = until_leaders(|| {
            calls += 1;
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::TopicAuthorizationFailed,
            ))
        });
        assert!(matches!(answer, Err(BusError::Kafka(m)) if m.contains("Authorization")));
        assert_eq!(calls, 1);
    }
}
