//! Composition root: builds store, bus, registry, router and gateway from the configuration,
//! runs them, and shuts them down in order — stop accepting calls and let in-flight ones
//! finish → close the log (pending appends answered) → let the router apply what is on the log,
//! flush and commit → final flush.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::bus::embedded::{EmbeddedBus, EmbeddedConfig};
use crate::bus::{Bus, BusError};
use crate::config::{Config, ConfigError};
use crate::domain::{Clock, Registry};
use crate::gateway::{self, GatewayError, Shared};
use crate::router::{Router, RouterConfig, RouterError};
use crate::store::{Store, StoreError};

/// Starting or running the broker failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// Configuration or registry.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Opening the data directory.
    #[error("cannot open the store in {dir}")]
    Store {
        /// The data directory.
        dir: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The log.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Binding the gRPC address.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The router stopped on a failure.
    #[error(transparent)]
    Router(#[from] RouterError),
    /// A task panicked.
    #[error("{0} task failed: {1}")]
    Task(&'static str, String),
}

/// A running broker.
pub struct Running {
    addr: SocketAddr,
    store: Arc<Store>,
    bus: Arc<EmbeddedBus>,
    registry: Arc<Registry>,
    gateway_stop: CancellationToken,
    router_stop: CancellationToken,
    gateway: JoinHandle<Result<(), GatewayError>>,
    router: JoinHandle<Result<(), RouterError>>,
    grace: Duration,
}

/// Starts the broker: every role in this process, on the embedded log.
pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> Result<Running, AppError> {
    config.validate()?;
    let registry = Arc::new(config.load_registry()?);
    let dir = &config.store.data_dir;
    let store = Arc::new(Store::open(dir).map_err(|source| AppError::Store {
        dir: dir.display().to_string(),
        source,
    })?);
    let bus = Arc::new(EmbeddedBus::open(
        store.clone(),
        &EmbeddedConfig {
            partitions: config.bus.partitions,
        },
    )?);
    let listener = TcpListener::bind(config.server.grpc_addr)
        .await
        .map_err(|source| AppError::Bind {
            addr: config.server.grpc_addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AppError::Bind {
        addr: config.server.grpc_addr,
        source,
    })?;

    let router_stop = CancellationToken::new();
    let router = Router::new(
        bus.clone(),
        store.clone(),
        registry.clone(),
        clock.clone(),
        RouterConfig {
            batch_max: config.router.batch_max,
            ..RouterConfig::default()
        },
    );
    let router = tokio::spawn(router.run(router_stop.clone()));

    let gateway_stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        bus: bus.clone(),
        store: store.clone(),
        registry: registry.clone(),
        clock,
        policy: config.validation.policy(),
        max_request_bytes: config.server.max_request_bytes,
        shutdown: gateway_stop.clone(),
    });
    let gateway = tokio::spawn(gateway::serve(listener, shared));
    info!(
        grpc = %addr,
        data_dir = %dir.display(),
        agencies = registry.len(),
        partitions = bus.partitions(),
        events = store.event_count(),
        "xiezhi started (embedded bus)"
    );
    Ok(Running {
        addr,
        store,
        bus,
        registry,
        gateway_stop,
        router_stop,
        gateway,
        router,
        grace: Duration::from_secs(config.server.shutdown_grace_secs),
    })
}

fn joined<E: Into<AppError>>(
    name: &'static str,
    result: Result<Result<(), E>, tokio::task::JoinError>,
) -> Result<(), AppError> {
    match result {
        Ok(inner) => inner.map_err(Into::into),
        Err(err) => Err(AppError::Task(name, err.to_string())),
    }
}

impl Running {
    /// The address the gRPC server listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store (for tests and tools in this process).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The embedded log (for tests and tools in this process).
    pub fn bus(&self) -> &Arc<EmbeddedBus> {
        &self.bus
    }

    /// The agency registry in use.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Runs until `signal` resolves or a component fails, then shuts down in order.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), AppError> {
        let failure = tokio::select! {
            () = signal => None,
            result = &mut self.gateway => Some(joined("gateway", result).err().unwrap_or_else(|| {
                AppError::Task("gateway", "stopped without being asked".into())
            })),
            result = &mut self.router => Some(joined("router", result).err().unwrap_or_else(|| {
                AppError::Task("router", "stopped without being asked".into())
            })),
        };
        match failure {
            None => self.shutdown().await,
            Some(err) => {
                error!(error = %crate::telemetry::chain(&err), "a component failed; shutting down");
                // The failed task has finished; stop the rest without awaiting it again.
                self.gateway_stop.cancel();
                self.bus.close().await;
                self.router_stop.cancel();
                let _ = self.store.flush().await;
                Err(err)
            }
        }
    }

    /// Shuts down in order; returns the first failure met on the way.
    pub async fn shutdown(self) -> Result<(), AppError> {
        info!("shutting down: no new calls; in-flight calls finish");
        self.gateway_stop.cancel();
        let mut gateway_task = self.gateway;
        let gateway = match tokio::time::timeout(self.grace, &mut gateway_task).await {
            Ok(result) => joined("gateway", result),
            Err(_) => {
                warn!(grace = ?self.grace, "in-flight calls did not finish in time; cutting them off");
                gateway_task.abort();
                Ok(())
            }
        };
        self.bus.close().await;
        info!("log closed; router applying what remains");
        self.router_stop.cancel();
        let router = joined("router", self.router.await);
        let flushed = self.store.flush().await.map_err(|source| AppError::Store {
            dir: "(running store)".into(),
            source,
        });
        info!(events = self.store.event_count(), "xiezhi stopped");
        gateway.and(router).and(flushed)
    }
}
