//! The `xiezhi` command: parse the command line, load the configuration, start telemetry and
//! hand over to [`xiezhi::app`] or the gateway client.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use xiezhi::app::Role;
use xiezhi::config::{BusKind, Config};
use xiezhi::domain::SystemClock;
use xiezhi::sim::{client, demo};

/// sled copies and frees tree nodes on every write; glibc's allocator spent a third of the
/// apply path in malloc, free and arena locks, mimalloc far less (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Xiezhi (獬豸): a message broker for cross-department enforcement data — leads, case
/// outcomes and criminal referrals between agencies, police and procuratorates.
#[derive(Parser)]
#[command(name = "xiezhi", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole broker in one process: gRPC gateway, log (embedded or Kafka), router, store.
    Serve(ServerArgs),
    /// Run a stateless publishing gateway on the Kafka log (publish calls only).
    Gateway(ServerArgs),
    /// Run a router on the Kafka log: consume into the store, serve inbox and query calls.
    Router(ServerArgs),
    /// Replay the whole log into a fresh store in --data-dir, to recover or check a store.
    Rebuild {
        #[command(flatten)]
        server: ServerArgs,
        /// Embedded log only: the data directory holding the log [default: store.data_dir of
        /// the configuration, ./data]. The broker must not be running on it.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Run the broker plus simulated agencies of one city publishing leads and answering them.
    Demo {
        #[command(flatten)]
        server: ServerArgs,
        /// Leads published per second.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Publish one event from a proto3 JSON file (an `xiezhi.v1.Envelope`) to a running broker.
    Publish {
        /// The JSON file; `-` reads standard input.
        #[arg(long)]
        json: PathBuf,
        /// The broker's gRPC endpoint (`https://…` with the TLS flags).
        #[arg(
            long,
            default_value = "http://127.0.0.1:50051",
            env = "XIEZHI_ENDPOINT"
        )]
        server: String,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Make certificates: `certs dev` writes a development CA, server and agency certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Check the tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The broker's signed publish receipts.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Measure throughput, latency, apply rate, memory and disk against ceilings measured in
    /// the same run (docs/benchmarks.md).
    Bench(BenchArgs),
    /// A gRPC server whose Publisher does nothing (the ceiling `bench --baseline` measures).
    #[command(hide = true)]
    BenchNoop {
        /// Where to listen.
        #[arg(long)]
        grpc_addr: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a development CA, a server certificate (localhost, 127.0.0.1) and one client
    /// certificate per registered agency (SAN URI xiezhi://agency/<id>). Not for production.
    Dev {
        /// Where to write them.
        #[arg(long, default_value = "deploy/certs")]
        out: PathBuf,
        /// Configuration naming the registry [default: the built-in sample registry].
        #[arg(long)]
        config: Option<PathBuf>,
        /// More names (DNS or IP) for the server certificate.
        #[arg(long = "server-name")]
        server_names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain in a (stopped) broker's store; name the first entry that was
    /// altered, removed or reordered.
    Verify {
        /// The data directory [default: store.data_dir of the configuration, ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Print the broker's receipt public key (hex), for publishers to verify receipts with.
    PublicKey {
        /// The data directory [default: store.data_dir of the configuration, ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check the receipt in an Ack (proto3 JSON, as `xiezhi publish` prints it).
    Verify {
        /// The Ack JSON file; `-` reads standard input.
        #[arg(long)]
        ack: PathBuf,
        /// The broker's public key, hex (from `xiezhi receipt public-key`).
        #[arg(long)]
        public_key: String,
    },
}

/// A client's certificates for a TLS gateway.
#[derive(Args)]
struct TlsArgs {
    /// CA certificate that issued the server's certificate (PEM).
    #[arg(long, env = "XIEZHI_TLS_CA", requires_all = ["cert", "key"])]
    ca: Option<PathBuf>,
    /// This agency's client certificate (PEM).
    #[arg(long, env = "XIEZHI_TLS_CERT", requires_all = ["ca", "key"])]
    cert: Option<PathBuf>,
    /// This agency's private key (PEM).
    #[arg(long, env = "XIEZHI_TLS_KEY", requires_all = ["ca", "cert"])]
    key: Option<PathBuf>,
}

impl TlsArgs {
    fn client(&self) -> Option<client::ClientTls> {
        Some(client::ClientTls {
            ca: self.ca.clone()?,
            cert: self.cert.clone()?,
            key: self.key.clone()?,
        })
    }
}

/// Flags shared by the commands that run a broker. They override the config file and the
/// `XIEZHI_*` environment.
#[derive(Args)]
struct ServerArgs {
    /// TOML configuration file (see deploy/xiezhi.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory [default: ./data; for `demo`, a fresh temporary directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long)]
    grpc_addr: Option<std::net::SocketAddr>,
    /// HTTP listen address for /healthz and /metrics [default: 127.0.0.1:8080].
    #[arg(long)]
    http_addr: Option<std::net::SocketAddr>,
    /// The log: `embedded` or `kafka` [default: embedded].
    #[arg(long)]
    bus: Option<BusKind>,
    /// Kafka brokers, `host:port[,host:port…]` (implies --bus kafka).
    #[arg(long)]
    kafka_bootstrap: Option<String>,
    /// DEVELOPMENT ONLY: plaintext gRPC, and callers are whoever their requests say they are.
    #[arg(long)]
    insecure_dev: bool,
}

/// `xiezhi bench` options.
#[derive(Args)]
struct BenchArgs {
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
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
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
        progress: !args.quiet,
    })
    .await?;
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

async fn bench_noop(addr: std::net::SocketAddr) -> anyhow::Result<()> {
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

impl ServerArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref(), std::env::vars())?;
        if let Some(dir) = &self.data_dir {
            config.store.data_dir = dir.clone();
        }
        if let Some(addr) = self.grpc_addr {
            config.server.grpc_addr = addr;
        }
        if let Some(addr) = self.http_addr {
            config.server.http_addr = addr;
        }
        if let Some(bus) = self.bus {
            config.bus.kind = bus;
        }
        if let Some(bootstrap) = &self.kafka_bootstrap {
            config.bus.kind = BusKind::Kafka;
            config.bus.kafka.bootstrap = bootstrap.clone();
        }
        if self.insecure_dev {
            config.security.insecure_dev = true;
        }
        config.validate()?;
        Ok(config)
    }
}

async fn ctrl_c() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %err, "cannot listen for Ctrl-C; stopping");
    }
}

/// Resolves on Ctrl-C or SIGTERM (what service managers and `kill` send).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    () = ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c().await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
}

fn warn_sample_registry(config: &Config) {
    if config.registry.file.as_os_str().is_empty() {
        tracing::warn!(
            "no registry.file configured: using the built-in sample registry (Hangzhou)"
        );
    }
}

async fn serve(args: ServerArgs, role: Role) -> anyhow::Result<()> {
    let config = args.load()?;
    xiezhi::telemetry::init(&config.log.level);
    warn_sample_registry(&config);
    let running = xiezhi::app::start(&config, role, Arc::new(SystemClock)).await?;
    running.run_until(termination()).await?;
    Ok(())
}

async fn rebuild(mut args: ServerArgs, from: Option<PathBuf>) -> anyhow::Result<()> {
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

async fn run_demo(mut args: ServerArgs, rate: f64, duration: Option<u64>) -> anyhow::Result<()> {
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

/// A file's text; `-` is standard input.
fn read_input(path: &Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

async fn publish(json: PathBuf, server: String, tls: TlsArgs) -> anyhow::Result<()> {
    let text = read_input(&json)?;
    let channel = client::connect(&server, tls.client().as_ref()).await?;
    let ack = client::publish_json(channel, &json.display().to_string(), &text).await?;
    println!("{}", client::to_json("xiezhi.v1.Ack", &ack));
    Ok(())
}

/// The configuration at `config` (or defaults and environment), with `data_dir` overriding, not
/// validated: the tools need only paths and the registry.
fn tool_config(config: Option<&Path>, data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let mut config = Config::load(config, std::env::vars())?;
    if let Some(dir) = data_dir {
        config.store.data_dir = dir;
    }
    Ok(config)
}

fn certs(command: CertsCommand) -> anyhow::Result<()> {
    let CertsCommand::Dev {
        out,
        config,
        server_names,
    } = command;
    let config = tool_config(config.as_deref(), None)?;
    let registry = config.load_policy()?.registry;
    let written = xiezhi::gateway::tls::generate_dev(&out, &registry, &server_names)?;
    // A receipt key to share between processes (docker-compose, Kubernetes).
    xiezhi::gateway::receipt::ReceiptSigner::load_or_create(&out.join("receipt-key.pk8"))?;
    println!(
        "wrote {} files to {}: ca.pem (+ ca-key.pem), server.pem, server-key.pem, receipt-key.pk8, and <agency>.pem, <agency>-key.pem for {} agencies",
        written.len() + 1,
        out.display(),
        registry.len()
    );
    println!("DEVELOPMENT certificates: issue production ones from your own CA (docs/security.md)");
    Ok(())
}

fn audit(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { data_dir, config } = command;
    let config = tool_config(config.as_deref(), data_dir)?;
    let dir = &config.store.data_dir;
    let store = xiezhi::store::Store::open(dir).with_context(|| {
        format!(
            "opening the store in {} (stop the broker first, or verify a copy)",
            dir.display()
        )
    })?;
    match store.verify_audit()? {
        Ok(entries) => {
            println!("audit chain intact: {entries} entries in {}", dir.display());
            Ok(())
        }
        Err(broken) => anyhow::bail!("audit chain BROKEN in {}: {broken}", dir.display()),
    }
}

fn receipt(command: ReceiptCommand) -> anyhow::Result<()> {
    use xiezhi::gateway::receipt;
    match command {
        ReceiptCommand::PublicKey { data_dir, config } => {
            let config = tool_config(config.as_deref(), data_dir)?;
            let signer = receipt::ReceiptSigner::load(&xiezhi::app::receipt_key_path(&config))?;
            println!("{}", hex::encode(signer.public_key()));
            eprintln!("key id {}", receipt::key_id(signer.public_key()));
            Ok(())
        }
        ReceiptCommand::Verify { ack, public_key } => {
            let text = read_input(&ack)?;
            let parsed: xiezhi::proto::Ack =
                client::from_json("xiezhi.v1.Ack", &ack.display().to_string(), &text)?;
            let key = hex::decode(public_key.trim()).context("--public-key is not hex")?;
            receipt::verify(&parsed, &key)?;
            let signed = parsed.receipt.unwrap_or_default();
            println!(
                "receipt valid: {} event {} accepted (key {})",
                signed.producer, parsed.event_id, signed.key_id
            );
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args, Role::All).await,
        Command::Gateway(args) => serve(args, Role::Gateway).await,
        Command::Router(args) => serve(args, Role::Router).await,
        Command::Rebuild { server, from } => rebuild(server, from).await,
        Command::Demo {
            server,
            rate,
            duration,
        } => run_demo(server, rate, duration).await,
        Command::Publish { json, server, tls } => publish(json, server, tls).await,
        Command::Certs(command) => certs(command),
        Command::Audit(command) => audit(command),
        Command::Receipt(command) => receipt(command),
        Command::Bench(args) => bench(args).await,
        Command::BenchNoop { grpc_addr } => bench_noop(grpc_addr).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xiezhi: {err:#}");
            ExitCode::FAILURE
        }
    }
}
