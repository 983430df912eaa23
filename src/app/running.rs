//! A running broker: the addresses it listens on, its parts for tests and tools in the same
//! process, and the ordered shutdown — stop accepting calls and let in-flight ones finish →
//! close the log (pending appends answered) → let the router apply what is on the log, flush
//! and commit → final flush.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::AppError;
use crate::bus::Bus;
use crate::domain::{Policy, Registry};
use crate::gateway::GatewayError;
use crate::router::RouterError;
use crate::store::Store;

/// A running broker (or part of one).
pub struct Running {
    pub(super) addr: SocketAddr,
    pub(super) http_addr: SocketAddr,
    pub(super) http_stop: CancellationToken,
    pub(super) http: JoinHandle<Result<(), crate::console::ConsoleError>>,
    pub(super) store: Option<Arc<Store>>,
    pub(super) bus: Arc<dyn Bus>,
    pub(super) policy: Arc<Policy>,
    pub(super) gateway_stop: CancellationToken,
    pub(super) router_stop: CancellationToken,
    pub(super) gateway: JoinHandle<Result<(), GatewayError>>,
    pub(super) router: Option<JoinHandle<Result<(), RouterError>>>,
    pub(super) grace: Duration,
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

/// Resolves when the router task ends (never, for a role without one).
async fn router_done(
    router: &mut Option<JoinHandle<Result<(), RouterError>>>,
) -> Result<Result<(), RouterError>, tokio::task::JoinError> {
    match router {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

impl Running {
    /// The address the gRPC server listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the HTTP server (`/healthz`, `/metrics`) listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The store, for roles that have one (tests and tools in this process).
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// The log (tests and tools in this process).
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// The agency registry in use.
    pub fn registry(&self) -> &Registry {
        &self.policy.registry
    }

    /// Registry, rules, calendar and windows in use.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Runs until `signal` resolves or a component fails, then shuts down in order.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), AppError> {
        let failure = tokio::select! {
            () = signal => None,
            result = &mut self.gateway => Some(joined("gateway", result).err().unwrap_or_else(|| {
                AppError::Task("gateway", "stopped without being asked".into())
            })),
            result = router_done(&mut self.router) => Some(joined("router", result).err().unwrap_or_else(|| {
                AppError::Task("router", "stopped without being asked".into())
            })),
            result = &mut self.http => Some(joined("http", result).err().unwrap_or_else(|| {
                AppError::Task("http", "stopped without being asked".into())
            })),
        };
        match failure {
            None => self.shutdown().await,
            Some(err) => {
                error!(error = %crate::telemetry::chain(&err), "a component failed; shutting down");
                // The failed task has finished; stop the rest without awaiting it again.
                self.http_stop.cancel();
                self.gateway_stop.cancel();
                self.bus.close().await;
                self.router_stop.cancel();
                if let Some(store) = &self.store {
                    let _ = store.flush().await;
                }
                Err(err)
            }
        }
    }

    /// Shuts down in order; returns the first failure met on the way.
    pub async fn shutdown(self) -> Result<(), AppError> {
        info!("shutting down: no new calls; in-flight calls finish");
        self.http_stop.cancel();
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
        self.router_stop.cancel();
        let router = match self.router {
            Some(handle) => {
                info!("log closed; router applying what remains");
                joined("router", handle.await)
            }
            None => Ok(()),
        };
        let flushed = match &self.store {
            Some(store) => store.flush().await.map_err(|source| AppError::Store {
                dir: "(running store)".into(),
                source,
            }),
            None => Ok(()),
        };
        info!(
            events = self.store.as_ref().map_or(0, |s| s.event_count()),
            "xiezhi stopped"
        );
        let http = match tokio::time::timeout(self.grace, self.http).await {
            Ok(result) => joined("http", result),
            Err(_) => Ok(()),
        };
        gateway.and(router).and(flushed).and(http)
    }
}
