//! `xiezhi bench --replicas`: router replicas (`router.replicas`) on the three-node Kafka cluster
//! of `deploy/kafka/kafka.sh cluster` — a gateway and two replicas as child processes, the load
//! published through the gateway, the writing replica SIGKILLed half-way. Measured: how long
//! until the survivor holds the writer's place, how long until it has applied everything, and
//! how fast a third replica started empty catches up (docs/benchmarks.md, "Replicas").

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::console::get;
use super::process::{self, Server};
use super::report::Figure;
use super::{Bench, BenchError, broker_config};
use crate::config::{BusKind, Config};
use crate::sim::load::{self, Counters};

/// The cluster's brokers, as `deploy/kafka/kafka.sh cluster` starts them.
const CLUSTER: &str = "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092";
/// Longest wait for a replica to take over or catch up.
const LIMIT: Duration = Duration::from_secs(600);

/// A child process with its HTTP address.
struct Child {
    server: Server,
    http: SocketAddr,
}

/// Starts `xiezhi ROLE` on its own ports, data directory `data`, with the run's configuration.
async fn start(
    bench: &Bench,
    config: &Config,
    role: &str,
    data: &str,
) -> Result<Child, BenchError> {
    let (port, http) = (process::free_port()?, process::free_port()?);
    let mut config = config.clone();
    config.store.data_dir = bench.work.join(data);
    config.server.grpc_addr = ([127, 0, 0, 1], port).into();
    config.server.http_addr = ([127, 0, 0, 1], http).into();
    let file = bench.work.join(format!("{data}.toml"));
    let text =
        toml::to_string(&config).map_err(|e| BenchError::Options(format!("configuration: {e}")))?;
    std::fs::write(&file, text).map_err(BenchError::io("write a configuration"))?;
    let args = [
        role.to_owned(),
        "--config".into(),
        file.display().to_string(),
    ];
    let server = Server::start(&args, port, &bench.work.join(format!("{data}.log"))).await?;
    Ok(Child {
        server,
        http: ([127, 0, 0, 1], http).into(),
    })
}

/// What the replica behind `http` says: (writer, decided batches behind, log records behind).
async fn standing(http: SocketAddr) -> Option<(bool, f64, f64)> {
    let (_, health) = get(http, "/healthz").await.ok()?;
    let health = String::from_utf8_lossy(&health).into_owned();
    let (_, metrics) = get(http, "/metrics").await.ok()?;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let sum = |name: &str| -> Option<f64> {
        let values: Vec<f64> = metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    Some((
        health.contains(" writer,"),
        sum("xiezhi_replica_lag_batches{")?,
        sum("xiezhi_router_lag_records{")?,
    ))
}

/// Waits until `done` holds for the replica behind `http`; how long that took.
async fn until(
    http: SocketAddr,
    what: &str,
    done: impl Fn((bool, f64, f64)) -> bool,
) -> Result<Duration, BenchError> {
    let started = Instant::now();
    loop {
        if standing(http).await.is_some_and(&done) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > LIMIT {
            return Err(BenchError::Server(format!(
                "no replica {what} within {LIMIT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the replicas benchmark; its figures.
pub(super) async fn measure(bench: &Bench) -> Result<Vec<Figure>, BenchError> {
    let options = &bench.options;
    process::kafka(&["cluster"])?;
    let mut config = broker_config(&options.config, &bench.work, 0, &bench.run_id);
    config.bus.kind = BusKind::Kafka;
    config.bus.kafka.bootstrap = CLUSTER.into();
    config.bus.kafka.replication = 3;
    config.bus.kafka.min_insync_replicas = 2;
    config.bus.kafka.message_timeout_ms = 60_000;
    config.bus.kafka.decisions_topic = format!("{}.decisions", bench.run_id);
    config.router.replicas = true;

    let gateway = start(bench, &config, "gateway", "gateway").await?;
    let a = start(bench, &config, "router", "replica-a").await?;
    let b = start(bench, &config, "router", "replica-b").await?;
    let mut replicas = [Some(a), Some(b)];
    let writer = loop {
        let mut found = None;
        for (i, r) in replicas.iter().enumerate() {
            if let Some(r) = r
                && standing(r.http).await.is_some_and(|(w, _, _)| w)
            {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            break i;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let spec = bench.spec(&gateway.server.endpoint, options.rate, "replicas");
    let total = spec.shape.count.unwrap_or(20_000);
    let counters = Arc::new(Counters::default());
    let running = {
        let (registry, counters) = (bench.registry.clone(), counters.clone());
        let mut spec = spec.clone();
        spec.shape.count = Some(total);
        spec.shape.duration = None;
        spec.deliveries = false;
        tokio::spawn(async move { load::run(&spec, &registry, counters).await })
    };
    while counters.acked.load(Ordering::Relaxed) < total / 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(mut killed) = replicas[writer].take() {
        killed.server.kill();
    }
    let survivor = replicas[1 - writer]
        .as_ref()
        .map(|r| r.http)
        .ok_or_else(|| BenchError::Server("no survivor".into()))?;
    let failover = until(survivor, "took the writer's place", |(w, _, _)| w).await?;
    let loaded = running
        .await
        .map_err(|e| BenchError::Server(format!("load task: {e}")))??;
    let drained = until(survivor, "applied the log", |(_, _, lag)| lag == 0.0).await?;

    let started = Instant::now();
    let fresh = start(bench, &config, "router", "replica-c").await?;
    until(fresh.http, "caught up", |(_, batches, lag)| {
        batches == 0.0 && lag == 0.0
    })
    .await?;
    let catch_up = started.elapsed();
    let rate = loaded.acked as f64 / catch_up.as_secs_f64();
    drop((fresh, replicas, gateway));
    let _ = process::kafka(&["stop", "cluster"]);
    Ok(vec![
        Figure::plain(
            "replicas: SIGKILL of the writer → the survivor writes",
            Some(failover.as_secs_f64() * 1_000.0),
            "ms",
        ),
        Figure::plain(
            "replicas: load done → the survivor has applied every event",
            Some(drained.as_secs_f64() * 1_000.0),
            "ms",
        ),
        Figure::plain(
            "replicas: events acknowledged",
            Some(loaded.acked as f64),
            "events",
        ),
        Figure::plain(
            "replicas: a replica started empty catches up (start-up included)",
            Some(rate),
            "events/s",
        ),
    ])
}
