//! The report's table: every figure the run measured, beside its ceiling and the target it is
//! held to (docs/benchmarks.md explains each), and the run's setup.

use std::time::Duration;

use super::ceilings::Ceilings;
use super::report::{self, Figure};
use super::{BenchOptions, DEFAULT_DURATION};
use crate::sim::load::{LoadResult, quantile_ms};

/// What [`figures`] reads.
pub(super) struct Figures<'a> {
    pub(super) kafka: bool,
    pub(super) stream: bool,
    pub(super) first: &'a LoadResult,
    pub(super) half: Option<&'a LoadResult>,
    pub(super) peak_rss: Option<u64>,
    /// Disk used by the log (embedded only) and by the store.
    pub(super) disk: Option<(Option<u64>, u64)>,
    pub(super) stored_events: u64,
    pub(super) event_bytes: f64,
    pub(super) rebuilt: Option<(u64, Duration)>,
    pub(super) ceilings: &'a Ceilings,
}

/// The table: every figure with its ceiling and target (docs/benchmarks.md explains each).
pub(super) fn figures(f: Figures<'_>) -> Vec<Figure> {
    let c = f.ceilings;
    let rate = f.first.rate();
    let mut out = Vec::new();
    let throughput = Figure::plain("publish: events/s acknowledged", Some(rate), "events/s");
    out.push(match (f.kafka, f.stream) {
        (false, false) => throughput
            .against("no-op gRPC", c.noop_grpc)
            .at_least_ratio(0.35),
        (false, true) => throughput
            .against("no-op gRPC", c.noop_grpc)
            .at_least_ratio(0.8),
        (true, true) => throughput
            .against("Kafka ProducerPerformance", c.producer_performance)
            .at_least_ratio(0.7),
        (true, false) => throughput.against("Kafka ProducerPerformance", c.producer_performance),
    });
    // On Kafka the rate is also set beside its other ceilings, when they were measured (a row
    // without a ceiling would only repeat the first).
    if f.kafka {
        for (name, ceiling) in [
            ("raw rdkafka, same producer settings", c.rdkafka),
            ("no-op gRPC", c.noop_grpc),
        ] {
            if ceiling.is_some() {
                out.push(
                    Figure::plain("publish: events/s acknowledged", Some(rate), "events/s")
                        .against(name, ceiling),
                );
            }
        }
    }
    let first_at = if f.half.is_some() {
        "flat out"
    } else {
        "offered rate"
    };
    for (q, name) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9"), (1.0, "max")] {
        out.push(Figure::plain(
            format!("publish latency {name}, {first_at}"),
            quantile_ms(&f.first.publish_us, q),
            "ms",
        ));
    }
    let half = f.half.unwrap_or(f.first);
    let at = if f.half.is_some() {
        "half rate"
    } else {
        "offered rate"
    };
    out.push(
        Figure::plain(
            format!("publish latency p99, {at}"),
            quantile_ms(&half.publish_us, 0.99),
            "ms",
        )
        .at_most(if f.kafka { 25.0 } else { 10.0 }),
    );
    out.push(Figure::plain(
        format!("publish→delivered p50, {at}"),
        quantile_ms(&half.delivered_us, 0.5),
        "ms",
    ));
    out.push(
        Figure::plain(
            format!("publish→delivered p99, {at}"),
            quantile_ms(&half.delivered_us, 0.99),
            "ms",
        )
        .at_most(25.0),
    );
    let apply = f
        .rebuilt
        .map(|(applied, took)| applied as f64 / took.as_secs_f64().max(1e-9));
    out.push(
        Figure::plain("router apply (rebuild from the log)", apply, "events/s")
            .against("sled, the store's own writes raw", c.sled)
            .at_least_ratio(0.7),
    );
    let rss = f.peak_rss.map(|b| b as f64 / 1_048_576.0);
    let mut memory = Figure::plain("broker peak RSS", rss, "MB").at_most(300.0);
    if f.stored_events < 1_000_000 {
        memory.met = None;
        memory = memory.note(format!(
            "the RSS target is for 1,000,000 stored events; this run stored {}",
            report::number(f.stored_events as f64)
        ));
    }
    out.push(memory);
    let per_event = |bytes: u64| bytes as f64 / f.stored_events.max(1) as f64;
    let total = f
        .disk
        .map(|(log, store)| per_event(log.unwrap_or(0) + store));
    let mut disk = Figure::plain("disk per stored event", total, "bytes")
        .against("encoded event", Some(f.event_bytes));
    if let Some(ceiling) = &disk.ceiling {
        disk.target = Some("≤ 6× the encoded event".into());
        disk.met = Some(ceiling.ratio <= 6.0);
    }
    if !f.kafka {
        disk = disk.note("embedded: the log's file and the store's database both count");
    }
    out.push(disk);
    if let Some((log, store)) = f.disk {
        if let Some(log) = log {
            out.push(
                Figure::plain(
                    "disk per stored event: the log",
                    Some(per_event(log)),
                    "bytes",
                )
                .against("encoded event", Some(f.event_bytes)),
            );
        }
        out.push(
            Figure::plain(
                "disk per stored event: the store",
                Some(per_event(store)),
                "bytes",
            )
            .against("encoded event", Some(f.event_bytes)),
        );
    }
    out
}

pub(super) fn setup(options: &BenchOptions, kafka: bool, endpoint: &str) -> Vec<(String, String)> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        (
            "machine".into(),
            format!("{cores} cores, {}", std::env::consts::ARCH),
        ),
        (
            "bus".into(),
            if kafka {
                "kafka (acks=all)".into()
            } else {
                "embedded".into()
            },
        ),
        (
            "broker".into(),
            options
                .target
                .clone()
                .unwrap_or_else(|| format!("child process on {endpoint}")),
        ),
        (
            "publish".into(),
            if options.shape.stream {
                "PublishStream".into()
            } else {
                "unary".into()
            },
        ),
        ("clients".into(), options.shape.clients.to_string()),
        ("subjects".into(), options.shape.subjects.to_string()),
        (
            "each phase".into(),
            match (options.shape.count, options.shape.duration) {
                (Some(n), _) => format!("{n} events"),
                (None, Some(d)) => format!("{} s", d.as_secs()),
                (None, None) => format!("{} s", DEFAULT_DURATION.as_secs()),
            },
        ),
    ]
}
