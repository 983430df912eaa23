//! Writing to Kafka: events (answered only on the broker's delivery report; a full local queue
//! is waited on, not refused), dead letters with their reason, and the audit archive.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use tracing::warn;

use super::{KafkaBus, kafka_err};
use crate::bus::{AppendOutcome, BusError, OutgoingRecord, Record};
use crate::domain::LogPosition;

impl KafkaBus {
    pub(super) async fn send_event(
        &self,
        record: OutgoingRecord,
    ) -> Result<AppendOutcome, BusError> {
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

    pub(super) async fn send_dead_letter(
        &self,
        record: &Record,
        reason: &str,
    ) -> Result<(), BusError> {
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

    pub(super) async fn send_audit(&self, entries: &[crate::audit::Entry]) {
        // Queue them all, then wait: one round trip for the lot, not one per entry.
        let mut pending = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = entry.seq.to_string();
            // Serialising an entry (strings and a timestamp) cannot fail.
            let payload = serde_json::to_vec(entry).unwrap_or_default();
            // Router replicas each keep a chain of their own (their reads are theirs): the
            // header says whose chain an entry belongs to.
            let headers = OwnedHeaders::new().insert(Header {
                key: "xiezhi-chain",
                value: Some(self.config.instance_id.as_str()),
            });
            let message = FutureRecord::to(&self.config.audit_topic)
                .key(key.as_str())
                .payload(payload.as_slice())
                .headers(headers);
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

    /// Delivers what is queued before the producer goes away.
    pub(super) fn flush(&self) {
        if let Err(err) = self
            .producer
            .flush(Duration::from_millis(self.config.message_timeout_ms))
        {
            warn!(error = %err, "kafka producer could not deliver everything before closing");
        }
    }
}

#[cfg(test)]
mod tests {
    //! Fault injection against librdkafka's in-process mock cluster. The real broker is
    //! exercised by the integration suite.

    use rdkafka::mocking::MockCluster;

    use std::sync::Arc;

    use super::*;
    use crate::bus::Bus;
    use crate::config::KafkaConfig;
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

    /// The router's loop drops a poll whenever something else is ready first (a tick, a batch
    /// applied): records a dropped poll had received must come back in the next one.
    #[tokio::test]
    async fn a_poll_dropped_half_way_loses_no_record() {
        let mock = MockCluster::new(1).unwrap();
        let bus = bus_on(&mock, |_| {});
        for n in 0..60 {
            bus.append(record(n)).await.unwrap();
        }
        let mut consumer = bus.replay().await.unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while seen.len() < 60 && std::time::Instant::now() < deadline {
            // Short enough to land inside the poll's linger now and then.
            let polled = tokio::time::timeout(Duration::from_millis(2), consumer.poll(1_000)).await;
            if let Ok(records) = polled {
                for r in records.unwrap() {
                    assert!(seen.insert(r.position), "{:?} handed out twice", r.position);
                }
            }
        }
        assert_eq!(seen.len(), 60, "records were lost with a dropped poll");
    }
}
