//! Composition root: builds the log, store, registry, router and gateway a role needs from the
//! configuration, runs them, and shuts them down in order — stop accepting calls and let
//! in-flight ones finish → close the log (pending appends answered) → let the router apply what
//! is on the log, flush and commit → final flush.
//!
//! Roles: `serve` runs everything in one process (either log); with Kafka the work can be split
//! into `gateway` processes (publish only, stateless, any number) and `router` processes
//! (consume, store, and serve inbox and query calls).

mod rebuild;
mod running;

pub use rebuild::{rebuild, rebuild_captured};
pub use running::Running;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::Digest as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::bus::embedded::{EmbeddedBus, EmbeddedConfig};
use crate::bus::kafka::KafkaBus;
use crate::bus::{Bus, BusError};
use crate::config::{BusKind, Config, ConfigError, SecurityConfig};
use crate::domain::{AgencyId, Clock};
use crate::gateway::identity::{Identity, RateLimiter};
use crate::gateway::receipt::{ReceiptError, ReceiptSigner};
use crate::gateway::tls::{TlsError, TlsFiles};
use crate::gateway::{self, GatewayError, Services, Shared, Transport};
use crate::router::{Router, RouterConfig, RouterError};
use crate::store::{Store, StoreError};

/// Which parts of the broker this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Gateway, log, router, store and readers in one process.
    All,
    /// Publishing only: validate and append to Kafka. Stateless.
    Gateway,
    /// Consume Kafka into the store; serve inbox and query calls.
    Router,
}

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
    /// The HTTP server failed.
    #[error(transparent)]
    Http(#[from] crate::console::ConsoleError),
    /// Binding the gRPC or HTTP address.
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
    /// A role that needs the Kafka log was asked for with another one.
    #[error(
        "the {0:?} role runs only with bus.kind = \"kafka\" (use `xiezhi serve` for the embedded log)"
    )]
    RoleNeedsKafka(Role),
    /// A rebuild from a directory that holds no embedded log.
    #[error("{0} holds no embedded log (a `log` directory): nothing to rebuild from")]
    NoLog(String),
    /// A rebuild into a store that already holds events.
    #[error("{0} already holds events; rebuild into an empty data directory")]
    NotEmpty(String),
    /// The store has applied more of a partition than the log beside it holds.
    #[error(
        "the store in {dir} has applied partition {partition} up to offset {applied}, but the log there ends at {end}: \
         this log is not the one the store was built from; rebuild the store from its log (`xiezhi rebuild`)"
    )]
    LogBehindStore {
        /// The data directory.
        dir: String,
        /// The partition.
        partition: u32,
        /// How far the store applied it.
        applied: u64,
        /// Where the log ends.
        end: u64,
    },
    /// Migrating a log written by an earlier release failed.
    #[error("cannot carry the log of {from} over into {into}")]
    Migrate {
        /// The old data directory.
        from: String,
        /// The new one.
        into: String,
        /// Why.
        #[source]
        source: BusError,
    },
    /// The TLS files cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The receipt key cannot be loaded or created.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// A task panicked.
    #[error("{0} task failed: {1}")]
    Task(&'static str, String),
}

fn open_store(dir: &Path, config: &Config) -> Result<Arc<Store>, AppError> {
    Store::open_with_cache(dir, config.store.cache_mb << 20)
        .map(Arc::new)
        .map_err(|source| AppError::Store {
            dir: dir.display().to_string(),
            source,
        })
}

/// The configured log. The embedded log lives in the data directory `dir`, beside the store.
async fn open_bus(config: &Config, dir: Option<&Path>) -> Result<Arc<dyn Bus>, AppError> {
    match (config.bus.kind, dir) {
        (BusKind::Kafka, dir) => {
            let mut kafka = config.bus.kafka.clone();
            kafka.instance_id = instance_id(&kafka.instance_id, dir);
            Ok(Arc::new(KafkaBus::connect(&kafka).await?))
        }
        (BusKind::Embedded, Some(dir)) => Ok(Arc::new(EmbeddedBus::open(
            dir,
            &EmbeddedConfig {
                partitions: config.bus.partitions,
            },
        )?)),
        (BusKind::Embedded, None) => Err(AppError::RoleNeedsKafka(Role::Gateway)),
    }
}

/// The connection limits of the gRPC listener, from the security settings.
pub fn hygiene(security: &SecurityConfig) -> gateway::conn::Hygiene {
    gateway::conn::Hygiene {
        preface_deadline: Duration::from_secs(security.handshake_timeout_secs),
        idle_limit: Duration::from_secs(security.idle_timeout_secs),
        max_connections: security.max_connections,
        max_per_address: security.max_connections_per_address,
    }
}

/// The router's static group membership id (`group.instance.id`): as configured; none when
/// empty or `none`; with `auto` (the default), derived from the host and the data directory, so
/// that a router restarted on its store rejoins as itself and gets its partitions back at once
/// instead of after the group rebalances (8 s measured), while two routers never share an id.
/// A static member fenced by its coordinator (seen when the broker holding the group died under
/// load) rejoins with a new client: see `bus::kafka::consumer`.
fn instance_id(configured: &str, dir: Option<&Path>) -> String {
    match (configured, dir) {
        ("none" | "", _) | ("auto", None) => String::new(),
        ("auto", Some(dir)) => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "host".to_owned());
            let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
            format!("xiezhi-{host}-{}", hex::encode(&digest[..4]))
        }
        (id, _) => id.to_owned(),
    }
}

/// The configured log, for tools that read it (`xiezhi log tail`). The embedded log is the one
/// in `store.data_dir`; the broker must not be running on it.
pub async fn open_log(config: &Config) -> Result<Arc<dyn Bus>, AppError> {
    open_bus(config, Some(&config.store.data_dir)).await
}

/// Refuses a store that has applied beyond the end of its log: the log beside it is not the one
/// it was built from (a data directory pieced together from two machines, a log restored from
/// an older backup), and the router would skip what the log appends next.
async fn check_positions(store: &Store, bus: &dyn Bus, dir: &Path) -> Result<(), AppError> {
    let ends = bus.end_offsets().await?;
    let positions = store.positions().map_err(|source| AppError::Store {
        dir: dir.display().to_string(),
        source,
    })?;
    for (partition, next) in positions {
        let end = ends.get(partition as usize).copied().unwrap_or(0);
        if next > end {
            return Err(AppError::LogBehindStore {
                dir: dir.display().to_string(),
                partition,
                applied: next,
                end,
            });
        }
    }
    Ok(())
}

/// Where the receipt key is: configured, or `receipt-key.pk8` in the data directory.
pub fn receipt_key_path(config: &Config) -> PathBuf {
    if config.security.receipt_key.as_os_str().is_empty() {
        config.store.data_dir.join("receipt-key.pk8")
    } else {
        config.security.receipt_key.clone()
    }
}

/// The fingerprints of revoked client certificates (validated with the configuration).
fn revoked_fingerprints(security: &SecurityConfig) -> std::collections::HashSet<[u8; 32]> {
    security
        .revoked_certificates
        .iter()
        .filter_map(|f| crate::config::fingerprint(f))
        .collect()
}

/// How callers are identified: certificates, or development tokens and headers.
fn identity(security: &SecurityConfig) -> Identity {
    if !security.insecure_dev {
        return Identity::Tls(revoked_fingerprints(security));
    }
    // Validated with the configuration.
    let tokens = security
        .dev_tokens
        .iter()
        .filter_map(|(token, agency)| Some((token.clone(), AgencyId::parse(agency).ok()?)))
        .collect();
    Identity::Dev(tokens)
}

fn router_config(config: &Config) -> RouterConfig {
    RouterConfig {
        batch_max: config.router.batch_max,
        group: config.router.group.clone(),
        tick: Duration::from_millis(config.router.tick_ms),
    }
}

/// Starts the parts of the broker `role` names.
pub async fn start(
    config: &Config,
    role: Role,
    clock: Arc<dyn Clock>,
) -> Result<Running, AppError> {
    config.validate()?;
    if role != Role::All && config.bus.kind != BusKind::Kafka {
        return Err(AppError::RoleNeedsKafka(role));
    }
    let policy = Arc::new(config.load_policy()?);
    // Unusable certificates or keys stop start-up before anything is opened.
    let security = &config.security;
    let tls = if security.insecure_dev {
        None
    } else {
        let files = TlsFiles {
            cert: security.tls_cert.clone(),
            key: security.tls_key.clone(),
            client_ca: security.client_ca.clone(),
        };
        Some(files.server_config()?)
    };
    let signer = Arc::new(ReceiptSigner::load_or_create(&receipt_key_path(config))?);
    let dir = &config.store.data_dir;
    let store = match role {
        Role::Gateway => None,
        Role::All | Role::Router => Some(open_store(dir, config)?),
    };
    let bus = open_bus(config, store.as_ref().map(|_| dir.as_path())).await?;
    crate::telemetry::metrics::metrics().start(bus.kind());
    if let Some(store) = &store {
        check_positions(store, bus.as_ref(), dir).await?;
    }
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

    let http_listener = TcpListener::bind(config.server.http_addr)
        .await
        .map_err(|source| AppError::Bind {
            addr: config.server.http_addr,
            source,
        })?;
    let http_addr = http_listener
        .local_addr()
        .map_err(|source| AppError::Bind {
            addr: config.server.http_addr,
            source,
        })?;
    let http_stop = CancellationToken::new();
    let replicas = match (&store, config.router.replicas) {
        (Some(_), true) => {
            let Some(decisions) = bus.decisions(&config.router.group, true).await? else {
                return Err(AppError::RoleNeedsKafka(role));
            };
            let mut name = instance_id(&config.bus.kafka.instance_id, Some(dir));
            if name.is_empty() {
                name = "replica".to_owned();
            }
            Some((
                decisions,
                crate::router::ReplicaStatus::new(name, config.router.ready_lag),
            ))
        }
        _ => None,
    };
    let console = crate::console::Console {
        bus: bus.clone(),
        store: store.clone(),
        policy: policy.clone(),
        insecure_dev: security.insecure_dev,
        clock: clock.clone(),
        shutdown: CancellationToken::new(),
        revoked: Arc::new(revoked_fingerprints(security)),
        complaints: Arc::default(),
        public_url: Arc::from(config.server.public_url.trim_end_matches('/')),
        replica: replicas.as_ref().map(|(_, status)| status.clone()),
    };
    let http = tokio::spawn(crate::console::serve(
        http_listener,
        console.clone(),
        hygiene(security),
        http_stop.clone(),
    ));

    let router_stop = CancellationToken::new();
    let router = store.as_ref().map(|store| {
        let router = Router::new(
            bus.clone(),
            store.clone(),
            policy.clone(),
            clock.clone(),
            router_config(config),
        );
        match replicas {
            Some((decisions, status)) => {
                tokio::spawn(router.run_replica(decisions, status, router_stop.clone()))
            }
            None => tokio::spawn(router.run(router_stop.clone())),
        }
    });

    let gateway_stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        bus: bus.clone(),
        store: store.clone(),
        policy: policy.clone(),
        clock,
        validation: config.validation.policy(),
        max_request_bytes: config.server.max_request_bytes,
        shutdown: gateway_stop.clone(),
        identity: identity(security),
        signer,
        limiter: RateLimiter::new(security.publish_rate_per_sec, security.publish_burst),
    });
    let services = Services {
        publisher: role != Role::Router,
        readers: store.is_some(),
    };
    let transport = Transport {
        tls,
        max_concurrent_streams: security.max_concurrent_streams,
        timeout: Duration::from_secs(security.request_timeout_secs),
        hygiene: hygiene(security),
    };
    if security.insecure_dev {
        warn!(
            "INSECURE DEVELOPMENT MODE: plaintext gRPC, callers are whoever their requests say \
             they are. Never run an agency's data this way; see docs/security.md"
        );
    }
    // The console's pages also on the TLS listener, for browsers with agency certificates.
    let pages = crate::console::router(crate::console::Console {
        shutdown: gateway_stop.clone(),
        ..console
    });
    let gateway = tokio::spawn(gateway::serve(
        listener,
        shared,
        services,
        transport,
        Some(pages),
    ));
    info!(
        role = ?role,
        bus = ?config.bus.kind,
        grpc = %addr,
        http = %http_addr,
        data_dir = %dir.display(),
        agencies = policy.registry.len(),
        threshold_rules = policy.thresholds.rules().len(),
        partitions = bus.partitions(),
        events = store.as_ref().map_or(0, |s| s.event_count()),
        "xiezhi started"
    );
    Ok(Running {
        addr,
        http_addr,
        http_stop,
        http,
        store,
        bus,
        policy,
        gateway_stop,
        router_stop,
        gateway,
        router,
        grace: Duration::from_secs(config.server.shutdown_grace_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_is_itself_across_restarts_and_never_another() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let first = instance_id("auto", Some(a.path()));
        assert!(first.starts_with("xiezhi-"), "{first}");
        assert_eq!(first, instance_id("auto", Some(a.path())), "stable");
        assert_ne!(first, instance_id("auto", Some(b.path())), "one per store");
        assert_eq!(instance_id("router-1", Some(a.path())), "router-1");
        assert_eq!(instance_id("none", Some(a.path())), "");
        assert_eq!(instance_id("", Some(a.path())), "", "empty: dynamic");
        assert_eq!(instance_id("auto", None), "", "a gateway has no group");
    }
}
