//! `xiezhi bench`: starts a broker as a child process (or targets a running one), drives it with
//! the [`load`](crate::sim::load) generator, and reports throughput, latency, router apply
//! rate, memory and disk — each beside the ceiling measured on the same machine in the same run
//! (`--baseline`), with the targets it is held to. See docs/benchmarks.md.
//!
//! The run: flat out (the maximum rate) → half that rate (latency under normal load) → optional
//! sweep of offered loads (chart) → optional console pages against the full store (`--console`)
//! → stop the broker → rebuild its store from the log (the
//! router's apply rate) → ceilings.

mod ceilings;
pub mod chart;
mod console;
mod figures;
pub mod noop;
mod process;
mod replicas;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::{BusKind, Config};
use crate::domain::{Registry, SystemClock};
use crate::sim::load::{self, Counters, LoadResult, LoadSpec, Shape, quantile_ms};
use ceilings::{Ceilings, measure_ceilings};
use figures::{Figures, figures, setup};
use process::Server;
use report::{Report, SweepPoint};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A file or process operation failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The broker or no-op server failed.
    #[error("{0}")]
    Server(String),
    /// The load generator could not talk to the broker.
    #[error(transparent)]
    Client(#[from] crate::sim::client::ClientError),
    /// Kafka, its script or its tools failed.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The store ceiling failed.
    #[error("store: {0}")]
    Store(String),
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Rebuilding the store failed.
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    /// The options contradict each other.
    #[error("{0}")]
    Options(String),
}

impl BenchError {
    fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| BenchError::Io { what, source }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Base configuration (registry, rules, bus settings) for the broker.
    pub config: Config,
    /// A running broker to drive instead of starting one (no memory, disk or rebuild figures).
    pub target: Option<String>,
    /// Clients, length of each phase (none given: 10 s), transport and subjects.
    pub shape: Shape,
    /// Offered events/s; `None` for flat out then half of that.
    pub rate: Option<f64>,
    /// Measure the ceilings too.
    pub baseline: bool,
    /// Offered-load sweep (for the chart).
    pub sweep: bool,
    /// Where to write the sweep chart (SVG).
    pub chart: Option<PathBuf>,
    /// Also time the console's pages against the store the load filled.
    pub console: bool,
    /// Print a progress line each second (on stderr).
    pub progress: bool,
    /// Measure router replicas instead: failover and catch-up on the three-node cluster.
    pub replicas: bool,
}

/// A run in progress: its directory, registry and settings.
pub(crate) struct Bench {
    work: PathBuf,
    registry: Registry,
    options: BenchOptions,
    run_id: String,
}

/// Removes the work directory when the run ends, however it ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The length of a load phase when neither a duration nor a count is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl Bench {
    fn spec(&self, endpoint: &str, rate: Option<f64>, phase: &str) -> LoadSpec {
        let options = &self.options;
        let mut shape = options.shape.clone();
        if shape.duration.is_none() && shape.count.is_none() {
            shape.duration = Some(DEFAULT_DURATION);
        }
        LoadSpec {
            endpoint: endpoint.to_owned(),
            shape,
            rate,
            deliveries: true,
            run_id: format!("{}-{phase}", self.run_id),
        }
    }

    /// Runs one load phase with a progress line.
    async fn phase(&self, spec: &LoadSpec, label: &str) -> Result<LoadResult, BenchError> {
        let counters = Arc::new(Counters::default());
        let ticker = self.options.progress.then(|| {
            let counters = counters.clone();
            let label = label.to_owned();
            tokio::spawn(async move {
                let started = Instant::now();
                let mut last = 0;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let acked = counters.acked.load(Ordering::Relaxed);
                    eprintln!(
                        "bench {label:<10} {:>5.1} s  acked {:>9}  ({:>7}/s)  delivered {:>9}",
                        started.elapsed().as_secs_f64(),
                        report::number(acked as f64),
                        report::number((acked - last) as f64),
                        report::number(counters.delivered.load(Ordering::Relaxed) as f64),
                    );
                    last = acked;
                }
            })
        });
        let result = load::run(spec, &self.registry, counters).await;
        if let Some(ticker) = ticker {
            ticker.abort();
        }
        let result = result?;
        if result.acked == 0 {
            return Err(BenchError::Server(format!(
                "no event was acknowledged in the {label} phase: {}",
                result.first_error.as_deref().unwrap_or("no answer")
            )));
        }
        Ok(result)
    }
}

/// The broker's configuration for a run: the base one, on a loopback port and a fresh data
/// directory, development transport, and publish rate limits lifted (the load comes from a
/// handful of agencies at thousands of events a second).
fn broker_config(base: &Config, work: &Path, port: u16, run_id: &str) -> Config {
    let mut config = base.clone();
    config.store.data_dir = work.join("broker");
    config.server.grpc_addr = ([127, 0, 0, 1], port).into();
    config.server.http_addr = ([127, 0, 0, 1], 0).into();
    config.security.insecure_dev = true;
    config.security.publish_rate_per_sec = u32::MAX;
    config.security.publish_burst = u32::MAX;
    let kafka = &mut config.bus.kafka;
    kafka.events_topic = format!("{run_id}.events");
    kafka.dlq_topic = format!("{run_id}.dlq");
    kafka.audit_topic = format!("{run_id}.audit");
    config.router.group = format!("{run_id}.router");
    config
}

/// Runs the benchmark and reports what it measured.
pub async fn run(options: BenchOptions) -> Result<Report, BenchError> {
    if options.shape.clients == 0 {
        return Err(BenchError::Options("--clients must be at least 1".into()));
    }
    let run_id = format!("bench-{}", jiff::Timestamp::now().as_millisecond());
    let work = std::env::temp_dir().join(format!("xiezhi-{run_id}-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(BenchError::io("create the work directory"))?;
    let _cleanup = WorkDir(work.clone());
    let mut config = options.config.clone();
    if config.bus.kind == BusKind::Kafka
        && config.bus.kafka.bootstrap.is_empty()
        && !options.replicas
    {
        process::kafka(&["start"])?;
        config.bus.kafka.bootstrap = "127.0.0.1:9092".into();
    }
    let registry = config.load_registry()?;
    let bench = Bench {
        work: work.clone(),
        registry,
        options: BenchOptions { config, ..options },
        run_id,
    };
    measure(&bench).await
}

async fn measure(bench: &Bench) -> Result<Report, BenchError> {
    let options = &bench.options;
    if options.replicas {
        return Ok(Report {
            setup: setup(options, true, "the gateway of the replicas run"),
            figures: replicas::measure(bench).await?,
            sweep: Vec::new(),
        });
    }
    let port = process::free_port()?;
    let mut config = broker_config(&options.config, &bench.work, port, &bench.run_id);
    let http: std::net::SocketAddr = ([127, 0, 0, 1], process::free_port()?).into();
    config.server.http_addr = http;
    let kafka = config.bus.kind == BusKind::Kafka;
    let (broker, endpoint) = match &options.target {
        Some(target) => (None, target.clone()),
        None => {
            let file = bench.work.join("broker.toml");
            let text = toml::to_string(&config)
                .map_err(|e| BenchError::Options(format!("configuration: {e}")))?;
            std::fs::write(&file, text)
                .map_err(BenchError::io("write the broker configuration"))?;
            let args = [
                "serve".into(),
                "--config".into(),
                file.display().to_string(),
            ];
            let broker = Server::start(&args, port, &bench.work.join("broker.log")).await?;
            let endpoint = broker.endpoint.clone();
            (Some(broker), endpoint)
        }
    };

    let first = bench
        .phase(&bench.spec(&endpoint, options.rate, "max"), "max")
        .await?;
    let max_rate = first.rate();
    let half = match options.rate {
        Some(_) => None,
        None => Some(
            bench
                .phase(
                    &bench.spec(&endpoint, Some(max_rate / 2.0), "half"),
                    "half rate",
                )
                .await?,
        ),
    };
    let mut sweep = Vec::new();
    let mut sweep_acked = 0;
    if options.sweep {
        for fraction in [0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25] {
            let offered = max_rate * fraction;
            let phase = format!("sweep{:.0}", fraction * 100.0);
            let result = bench
                .phase(&bench.spec(&endpoint, Some(offered), &phase), &phase)
                .await?;
            sweep_acked += result.acked;
            sweep.push(SweepPoint {
                offered,
                achieved: result.rate(),
                p50_ms: quantile_ms(&result.publish_us, 0.5).unwrap_or(0.0),
                p99_ms: quantile_ms(&result.publish_us, 0.99).unwrap_or(0.0),
            });
        }
    }
    let stored = first.acked + half.as_ref().map_or(0, |h| h.acked) + sweep_acked;
    // The pages as a city coordinator, a county procuratorate and the operator see them.
    let pages = match (options.console, &broker) {
        (true, Some(_)) => console::measure(http, &["330100-SFJ", "330106-JCY", ""]).await?,
        (true, None) => {
            return Err(BenchError::Options(
                "--console needs the broker the bench starts (not --target)".into(),
            ));
        }
        (false, _) => Vec::new(),
    };

    let peak_rss = broker.as_ref().and_then(Server::peak_rss);
    if let Some(broker) = broker {
        broker.stop().await?;
    }
    let disk = options.target.is_none().then(|| {
        let dir = &config.store.data_dir;
        let log = (!kafka).then(|| process::disk_usage(&dir.join(crate::bus::embedded::LOG_DIR)));
        (log, process::disk_usage(&dir.join(crate::store::STORE_DIR)))
    });

    // The router's apply rate: the whole log replayed into a fresh store.
    let rebuilt = match options.target {
        Some(_) => None,
        None => {
            let target = bench.work.join("rebuilt");
            let mut rebuild_config = config.clone();
            rebuild_config.store.data_dir = target.clone();
            rebuild_config.router.group = format!("{}.rebuild", bench.run_id);
            let started = Instant::now();
            let (stats, captured) = crate::app::rebuild_captured(
                &rebuild_config,
                &config.store.data_dir,
                &target,
                Arc::new(SystemClock),
                options.baseline,
            )
            .await?;
            Some((stats.applied, started.elapsed(), captured))
        }
    };
    let event_bytes = first.request_bytes as f64 / first.acked.max(1) as f64;
    let mut ceilings = Ceilings::default();
    if options.baseline {
        ceilings = measure_ceilings(bench, &config, &first, event_bytes).await?;
        if let Some((applied, _, captured)) = &rebuilt {
            ceilings.sled = Some(ceilings::sled_raw(
                &bench.work.join("sled-ceiling"),
                captured,
                *applied,
                config.store.cache_mb << 20,
            )?);
        }
    }
    let rebuilt = rebuilt.map(|(applied, took, _)| (applied, took));
    let figures = figures(Figures {
        kafka,
        stream: options.shape.stream,
        first: &first,
        half: half.as_ref(),
        peak_rss,
        disk,
        stored_events: rebuilt.map_or(stored, |(applied, _)| applied),
        event_bytes,
        rebuilt,
        ceilings: &ceilings,
    });
    if let (Some(path), false) = (&options.chart, sweep.is_empty()) {
        let title = format!(
            "xiezhi bench — {} bus, {}, {} clients",
            if kafka { "kafka" } else { "embedded" },
            if options.shape.stream {
                "PublishStream"
            } else {
                "unary"
            },
            options.shape.clients
        );
        std::fs::write(path, chart::svg(&title, &sweep))
            .map_err(BenchError::io("write the chart"))?;
    }
    let mut figures = figures;
    figures.extend(pages);
    Ok(Report {
        setup: setup(options, kafka, &endpoint),
        figures,
        sweep,
    })
}
