//! The ceilings a run measures beside its figures (`xiezhi bench --baseline`): what gRPC
//! itself, the store's writes, rdkafka and Kafka's own producer can do on this machine, with
//! the same records.

use std::path::Path;
use std::sync::Arc;

use prost::Message as _;

use super::process::{self, Server};
use super::{Bench, BenchError};
use crate::bus::kafka::KafkaBus;
use crate::config::{BusKind, Config, KafkaConfig};
use crate::domain::Registry;
use crate::sim::load::{self, Counters, LoadResult, LoadSpec};
use crate::sim::workload::{self, Rng};

/// Records shaped like the run's events: the encoded requests of the same workload, keyed by
/// event id.
pub(super) fn sample_records(registry: &Registry, count: usize) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(7);
    let divisions = workload::divisions(registry);
    let subjects = workload::subjects(&mut rng, &divisions, 10_000);
    let producers = workload::producers(registry);
    (0..count)
        .map(|n| {
            let event_id = format!("ceiling-{n}");
            let subject = rng.pick(&subjects).clone();
            let producer = rng.pick(&producers);
            let bytes = if n % 5 == 0 {
                workload::outcome(&mut rng, &event_id, producer, &subject, n as u64).encode_to_vec()
            } else {
                workload::lead(&mut rng, &event_id, producer, &subject, &divisions)
                    .0
                    .encode_to_vec()
            };
            (event_id, bytes)
        })
        .collect()
}

/// The same load against a server whose publisher does nothing: events/s.
pub(super) async fn noop_grpc(bench: &Bench, spec: &LoadSpec) -> Result<f64, BenchError> {
    let port = process::free_port()?;
    let server = Server::start(
        &[
            "bench-noop".into(),
            "--grpc-addr".into(),
            format!("127.0.0.1:{port}"),
        ],
        port,
        &bench.work.join("noop.log"),
    )
    .await?;
    let spec = LoadSpec {
        endpoint: server.endpoint.clone(),
        deliveries: false,
        run_id: format!("{}-noop", spec.run_id),
        ..spec.clone()
    };
    let result = load::run(&spec, &bench.registry, Arc::new(Counters::default())).await;
    server.stop().await?;
    Ok(result?.rate())
}

/// The store's own writes of the rebuild (`captured`, batch by batch) replayed raw into a
/// fresh sled with the store's settings, a flush per batch: events/s for `events` events.
pub(super) fn sled_raw(
    dir: &Path,
    captured: &crate::store::ceiling::Captured,
    events: u64,
    cache_bytes: u64,
) -> Result<f64, BenchError> {
    let took = crate::store::ceiling::replay(dir, captured, cache_bytes)
        .map_err(|e| BenchError::Store(e.to_string()))?;
    Ok(events as f64 / took.as_secs_f64().max(1e-9))
}

/// rdkafka sending `records` flat out to a fresh topic made like the events topic: events/s.
pub(super) async fn rdkafka_raw(
    config: &KafkaConfig,
    records: &[(String, Vec<u8>)],
) -> Result<f64, BenchError> {
    let bus = KafkaBus::connect(config)
        .await
        .map_err(|e| BenchError::Kafka(e.to_string()))?;
    let took = bus
        .produce_flat_out(records)
        .await
        .map_err(|e| BenchError::Kafka(e.to_string()))?;
    Ok(records.len() as f64 / took.as_secs_f64().max(1e-9))
}

/// Kafka's own `ProducerPerformance` with the same record size, count and acks, to `topic`:
/// events/s as the tool reports them.
pub(super) fn producer_performance(
    bootstrap: &str,
    topic: &str,
    records: usize,
    record_size: usize,
) -> Result<f64, BenchError> {
    let output = process::kafka(&[
        "producer-perf",
        "--topic",
        topic,
        "--num-records",
        &records.to_string(),
        "--record-size",
        &record_size.to_string(),
        "--throughput",
        "-1",
        "--producer-props",
        &format!("bootstrap.servers={bootstrap}"),
        "acks=all",
        "enable.idempotence=true",
        "linger.ms=2",
    ])?;
    parse_producer_performance(&output).ok_or_else(|| {
        BenchError::Kafka(format!("ProducerPerformance printed no summary:\n{output}"))
    })
}

/// The records/s of ProducerPerformance's last line: `N records sent, X records/sec (…)`.
fn parse_producer_performance(output: &str) -> Option<f64> {
    let line = output.lines().rev().find(|l| l.contains("records sent"))?;
    let (_, rest) = line.split_once("records sent,")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The ceilings measured in this run (those that apply to its bus).
#[derive(Default)]
pub(super) struct Ceilings {
    pub(super) noop_grpc: Option<f64>,
    pub(super) sled: Option<f64>,
    pub(super) rdkafka: Option<f64>,
    pub(super) producer_performance: Option<f64>,
}

pub(super) async fn measure_ceilings(
    bench: &Bench,
    config: &Config,
    first: &LoadResult,
    event_bytes: f64,
) -> Result<Ceilings, BenchError> {
    let endpoint = "http://unused";
    // The same offered load as the flat-out phase.
    let spec = bench.spec(endpoint, bench.options.rate, "noop");
    let noop_grpc = Some(noop_grpc(bench, &spec).await?);
    let records = sample_records(
        &bench.registry,
        (first.acked as usize).clamp(20_000, 200_000),
    );
    let (mut rdkafka, mut java) = (None, None);
    if config.bus.kind == BusKind::Kafka {
        let mut kafka = config.bus.kafka.clone();
        kafka.events_topic = format!("{}.ceiling-rdkafka", bench.run_id);
        rdkafka = Some(rdkafka_raw(&kafka, &records).await?);
        // ProducerPerformance writes to a topic made the same way.
        kafka.events_topic = format!("{}.ceiling-java", bench.run_id);
        crate::bus::kafka::KafkaBus::connect(&kafka)
            .await
            .map_err(|e| BenchError::Kafka(e.to_string()))?;
        java = Some(producer_performance(
            &kafka.bootstrap,
            &kafka.events_topic,
            records.len(),
            event_bytes.round() as usize,
        )?);
    }
    Ok(Ceilings {
        noop_grpc,
        sled: None,
        rdkafka,
        producer_performance: java,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_performance_summary_is_read() {
        let output = "100000 records sent, 45023.1 records/sec (13.52 MB/sec), 120.1 ms avg latency, 410.0 ms max latency.\n\
                      100000 records sent, 44873.4 records/sec (13.48 MB/sec), 118.5 ms avg latency, 415.0 ms max latency, 100 ms 50th, 300 ms 95th, 350 ms 99th, 400 ms 99.9th.\n";
        assert_eq!(parse_producer_performance(output), Some(44873.4));
        assert_eq!(parse_producer_performance("nothing"), None);
    }

    #[test]
    fn sample_records_look_like_the_workload() {
        let registry = crate::config::Config::default().load_registry().unwrap();
        let records = sample_records(&registry, 100);
        assert_eq!(records.len(), 100);
        let mean = records.iter().map(|r| r.1.len()).sum::<usize>() / 100;
        assert!((150..1000).contains(&mean), "mean size {mean}");
    }
}
