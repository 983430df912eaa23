//! Commands that run a broker: `serve`, `gateway`, `router`, `demo`, and `rebuild`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use xiezhi::app::Role;
use xiezhi::config::Config;
use xiezhi::domain::SystemClock;
use xiezhi::sim::{client, demo};

use super::{ServerArgs, termination};

fn warn_sample_registry(config: &Config) {
    if config.registry.file.as_os_str().is_empty() {
        tracing::warn!(
            "no registry.file configured: using the built-in sample registry (Hangzhou)"
        );
    }
}

pub(super) async fn serve(args: ServerArgs, role: Role) -> anyhow::Result<()> {
    let config = args.load()?;
    xiezhi::telemetry::init(&config.log.level);
    warn_sample_registry(&config);
    let running = xiezhi::app::start(&config, role, clock()).await?;
    running.run_until(termination()).await?;
    Ok(())
}

/// The system clock — or, for the integration suite (`XIEZHI_TEST_` variables are the suite's),
/// the system clock `XIEZHI_TEST_CLOCK_AHEAD_SECS` ahead, so that a process sees statutory
/// deadlines pass.
fn clock() -> Arc<dyn xiezhi::domain::Clock> {
    match std::env::var("XIEZHI_TEST_CLOCK_AHEAD_SECS")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        Some(secs) => Arc::new(xiezhi::domain::AheadClock(jiff::SignedDuration::from_secs(
            secs,
        ))),
        None => Arc::new(SystemClock),
    }
}

pub(super) async fn rebuild(mut args: ServerArgs, from: Option<PathBuf>) -> anyhow::Result<()> {
    // A rebuild serves no one: the transport's certificate settings do not apply to it.
    args.insecure_dev = true;
    let target = args
        .data_dir
        .clone()
        .context("--data-dir names the new store to rebuild into")?;
    let mut config = args.load()?;
    xiezhi::telemetry::init(&config.log.level);
    warn_sample_registry(&config);
    // The configured data directory holds the embedded log; the new store goes to --data-dir.
    let source = match from {
        Some(dir) => dir,
        None => {
            Config::load(args.config.as_deref(), std::env::vars())?
                .store
                .data_dir
        }
    };
    config.store.data_dir = target.clone();
    let started = std::time::Instant::now();
    let stats = xiezhi::app::rebuild(&config, &source, &target, Arc::new(SystemClock)).await?;
    println!(
        "rebuilt {} from the {:?} log: {} records read, {} events applied, {} set aside, in {:.1?}",
        target.display(),
        config.bus.kind,
        stats.records,
        stats.applied,
        stats.set_aside,
        started.elapsed()
    );
    Ok(())
}

pub(super) async fn run_demo(
    mut args: ServerArgs,
    rate: f64,
    duration: Option<u64>,
) -> anyhow::Result<()> {
    // The simulated agencies share one plaintext channel.
    args.insecure_dev = true;
    let mut config = args.load()?;
    // Keep the terminal for the routing lines unless the operator asked for logs.
    if config.log.level == "info" {
        config.log.level = "warn".into();
    }
    xiezhi::telemetry::init(&config.log.level);
    let temp;
    if args.data_dir.is_none() {
        temp = tempfile_dir()?;
        config.store.data_dir = temp.clone();
    }
    let running = xiezhi::app::start(&config, Role::All, Arc::new(SystemClock)).await?;
    let registry = running.registry().clone();
    let endpoint = format!("http://{}", running.grpc_addr());
    println!(
        "xiezhi demo: broker on {endpoint}, data in {}, {} agencies; Ctrl-C to stop",
        config.store.data_dir.display(),
        registry.len()
    );
    let http = running.http_addr();
    println!(
        "xiezhi demo: console http://{http}/?as=330100-SFJ (leads: /leads, public feed: /public/penalties, metrics: /metrics)"
    );
    let channel = client::connect(&endpoint, None).await?;
    let stop = CancellationToken::new();
    let simulation = tokio::spawn({
        let stop = stop.clone();
        async move { demo::run(channel, &registry, rate, stop).await }
    });
    let deadline = async {
        match duration {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = termination() => {}
        () = deadline => {}
    }
    stop.cancel();
    let stats = simulation.await.context("demo task")??;
    let events = running.store().map_or(0, |store| store.event_count());
    running.shutdown().await?;
    println!(
        "xiezhi demo: {} leads and {} outcomes published, {} deliveries received, {events} events stored",
        stats.leads.load(Ordering::Relaxed),
        stats.outcomes.load(Ordering::Relaxed),
        stats.deliveries.load(Ordering::Relaxed),
    );
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&config.store.data_dir);
    }
    Ok(())
}

/// A fresh directory under the system temp dir for a demo's data.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "xiezhi-demo-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_second()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
