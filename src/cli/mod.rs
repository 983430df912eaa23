//! The `xiezhi` command line: the commands and their flags, one file per family —
//! [`serve`] (serve, gateway, router, rebuild, demo), [`tools`] (publish, certs, audit,
//! receipt), [`log`] (log tail), [`bench`] — and what they share (loading the configuration, signals).

mod bench;
mod import;
mod log;
mod serve;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use xiezhi::app::Role;
use xiezhi::config::{BusKind, Config};
use xiezhi::sim::client;

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
    /// Load an agency's ledger of past penalty decisions (CSV or XLSX) as historic outcomes.
    Import(import::ImportArgs),
    /// Make certificates: `certs dev` writes a development CA, server and agency certificates.
    #[command(subcommand)]
    Certs(tools::CertsCommand),
    /// Check the tamper-evident audit trail.
    #[command(subcommand)]
    Audit(tools::AuditCommand),
    /// Read the log: `log tail` prints its last records as JSON.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// The broker's signed publish receipts.
    #[command(subcommand)]
    Receipt(tools::ReceiptCommand),
    /// Measure throughput, latency, apply rate, memory and disk against ceilings measured in
    /// the same run (docs/benchmarks.md).
    Bench(bench::BenchArgs),
    /// A gRPC server whose Publisher does nothing (the ceiling `bench --baseline` measures).
    #[command(hide = true)]
    BenchNoop {
        /// Where to listen.
        #[arg(long)]
        grpc_addr: std::net::SocketAddr,
    },
}

/// A client's certificates for a TLS gateway.
#[derive(Args)]
pub(crate) struct TlsArgs {
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
    pub(crate) fn client(&self) -> Option<client::ClientTls> {
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
pub(crate) struct ServerArgs {
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

impl ServerArgs {
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
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
pub(crate) async fn termination() {
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

/// A file's text; `-` is standard input.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// The configuration at `config` (or defaults and environment), with `data_dir` overriding, not
/// validated: the tools need only paths and the registry.
pub(crate) fn tool_config(
    config: Option<&Path>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<Config> {
    let mut config = Config::load(config, std::env::vars())?;
    if let Some(dir) = data_dir {
        config.store.data_dir = dir;
    }
    Ok(config)
}

/// Parses the command line and runs the command.
pub(crate) async fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args, Role::All).await,
        Command::Gateway(args) => serve::serve(args, Role::Gateway).await,
        Command::Router(args) => serve::serve(args, Role::Router).await,
        Command::Rebuild { server, from } => serve::rebuild(server, from).await,
        Command::Demo {
            server,
            rate,
            duration,
        } => serve::run_demo(server, rate, duration).await,
        Command::Publish { json, server, tls } => tools::publish(json, server, tls).await,
        Command::Import(args) => import::import(args).await,
        Command::Certs(command) => tools::certs(command),
        Command::Audit(command) => tools::audit(command),
        Command::Log(command) => log::log(command).await,
        Command::Receipt(command) => tools::receipt(command),
        Command::Bench(args) => bench::bench(args).await,
        Command::BenchNoop { grpc_addr } => bench::bench_noop(grpc_addr).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xiezhi: {err:#}");
            ExitCode::FAILURE
        }
    }
}
