//! Kafka's ceiling as seen from this process, for `xiezhi bench --baseline`: raw rdkafka
//! sends of the same serialized envelopes with the bus's own producer settings (idempotent,
//! acks=all), as many in flight as librdkafka will batch — no gateway, no validation.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use rdkafka::producer::FutureRecord;

use super::KafkaBus;
use crate::bus::BusError;

/// Sends in flight at once: far more than a linger-batch holds, so librdkafka never waits on us.
const IN_FLIGHT: usize = 20_000;

impl KafkaBus {
    /// Produces `records` (key, payload) to this bus's events topic as fast as rdkafka
    /// delivers them with acks=all; returns how long until the last delivery report.
    pub async fn produce_flat_out(
        &self,
        records: &[(String, Vec<u8>)],
    ) -> Result<Duration, BusError> {
        let wait = Duration::from_millis(self.config.message_timeout_ms);
        let started = Instant::now();
        let mut pending = FuturesUnordered::new();
        for (key, payload) in records {
            if pending.len() >= IN_FLIGHT
                && let Some(result) = pending.next().await
            {
                delivered(result)?;
            }
            let message = FutureRecord::to(&self.config.events_topic)
                .key(key.as_str())
                .payload(payload.as_slice());
            pending.push(self.producer.send(message, wait));
        }
        while let Some(result) = pending.next().await {
            delivered(result)?;
        }
        Ok(started.elapsed())
    }
}

fn delivered<T>(
    result: Result<T, (rdkafka::error::KafkaError, rdkafka::message::OwnedMessage)>,
) -> Result<(), BusError> {
    result
        .map(drop)
        .map_err(|(err, _)| BusError::Unavailable(format!("kafka refused a ceiling record: {err}")))
}
