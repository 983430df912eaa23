//! `xiezhi bench` and the hidden `bench-noop` server it starts as a ceiling.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;
use xiezhi::config::{BusKind, Config};

use super::termination;

/// `xiezhi bench` options.
#[derive(Args)]
pub(crate) struct BenchArgs {
    /// TOML configuration for the broker (registry, rules, bus settings).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The log: `embedded` or `kafka`.
    #[arg(long, value_enum, default_value = "embedded")]
    bus: BusKind,
    /// Kafka brokers (default: start one with deploy/kafka/kafka.sh).
    #[arg(long)]
    kafka_bootstrap: Option<String>,
    /// Drive a running broker at this endpoint instead of starting one (development mode
    /// only; no memory, disk or rebuild figures).
    #[arg(long)]
    target: Option<String>,
    /// Concurrent clients, each on its own connection.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Offered events per second over all clients (default: flat out, then half that rate).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds per load phase (default 10 unless --count is given).
    #[arg(long = "duration")]
    duration_secs: Option<u64>,
    /// Events per load phase.
    #[arg(long)]
    count: Option<u64>,
    /// Publish over Publisher.PublishStream (one stream per client) instead of unary calls.
    #[arg(long)]
    stream: bool,
    /// Distinct subjects the events are about.
    #[arg(long, default_value_t = 100_000)]
    subjects: usize,
    /// Also measure the ceilings: no-op gRPC, sled batched inserts, and on Kafka raw rdkafka
    /// and Kafka's ProducerPerformance.
    #[arg(long)]
    baseline: bool,
    /// Also sweep offered load from 10% to 125% of the maximum.
    #[arg(long)]
    sweep: bool,
    /// Write the sweep as an SVG chart here (implies --sweep).
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Also time each console page (p50, p95) against the store the load filled, as a city
    /// coordinator, a county procuratorate and the operator.
    #[arg(long)]
    console: bool,
    /// Measure router replicas instead (Kafka): a gateway and two replicas on the three-node
    /// cluster of deploy/kafka/kafka.sh, the writer SIGKILLed half-way through --count events
    /// (default 20,000); the failover time and the catch-up rate of a replica started empty.
    #[arg(long)]
    replicas: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

pub(super) async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    config.bus.kind = args.bus;
    if let Some(bootstrap) = args.kafka_bootstrap {
        config.bus.kind = BusKind::Kafka;
        config.bus.kafka.bootstrap = bootstrap;
    } else if config.bus.kind == BusKind::Kafka {
        // Start (or join) the script's local broker.
        config.bus.kafka.bootstrap.clear();
    }
    // The broker is a child process with its own log; this one reports only problems.
    xiezhi::telemetry::init("warn");
    let report = xiezhi::bench::run(xiezhi::bench::BenchOptions {
        config,
        target: args.target,
        shape: xiezhi::sim::load::Shape {
            clients: args.clients,
            duration: args.duration_secs.map(Duration::from_secs),
            count: args.count,
            stream: args.stream,
            subjects: args.subjects,
        },
        rate: args.rate,
        baseline: args.baseline,
        sweep: args.sweep || args.chart.is_some(),
        chart: args.chart,
        console: args.console,
        progress: !args.quiet,
        replicas: args.replicas,
    })
    .await?;
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

pub(super) async fn bench_noop(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(xiezhi::bench::noop::serve(listener, stop.clone()));
    termination().await;
    stop.cancel();
    server.await.context("no-op server task")??;
    Ok(())
}
