//! The broker's HTTP side: `/healthz` for orchestrators and load balancers, `/metrics` for
//! Prometheus, the public disclosure feed `/public/penalties` ([`public`]), the inspections'
//! public verification pages `/verify/<code>` ([`verify`]), and the coordinator console's
//! pages ([`pages`]). axum stays in this module.

mod assets;
mod boards;
mod charts;
mod frame;
mod handlers;
mod inspections;
mod labels;
mod live;
mod overview;
pub mod pages;
mod procedure;
pub mod public;
mod referral_file;
mod stats;
mod table;
pub mod verify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::bus::Bus;
use crate::domain::Policy;
use crate::store::Store;
use crate::telemetry::metrics::{Gauge, metrics};

/// How long a health check may wait on the log.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct Console {
    /// The log.
    pub bus: Arc<dyn Bus>,
    /// The store, in roles that have one.
    pub store: Option<Arc<Store>>,
    /// Registry, calendar and rules.
    pub policy: Arc<Policy>,
    /// Development mode: pages take the viewer from `?as=`.
    pub insecure_dev: bool,
    /// Now, for the pages' periods.
    pub clock: Arc<dyn crate::domain::Clock>,
    /// Ends open live streams when the server stops (set by [`serve`]).
    pub shutdown: CancellationToken,
    /// SHA-256 fingerprints of revoked client certificates.
    pub revoked: Arc<std::collections::HashSet<[u8; 32]>>,
    /// Complaints from the verification pages, per address.
    pub complaints: Arc<verify::ComplaintLimiter>,
    /// `server.public_url`: the verification pages' address in QR images (empty: the Host).
    pub public_url: Arc<str>,
    /// This router's standing among the replicas (`router.replicas`).
    pub replica: Option<Arc<crate::router::ReplicaStatus>>,
}

/// The HTTP server failed.
#[derive(Debug, thiserror::Error)]
#[error("HTTP server on {addr:?} failed")]
pub struct ConsoleError {
    addr: Option<SocketAddr>,
    #[source]
    source: std::io::Error,
}

/// Every route: operations, the public feed, and the console's pages. Served on the plain
/// HTTP listener and, for browsers with agency certificates, on the TLS listener of the gRPC
/// gateway.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/assets/{name}", get(assets::serve))
        .route("/metrics", get(render_metrics))
        .route("/public/penalties", get(public_penalties))
        .route("/", get(handlers::overview))
        .route("/subject", get(handlers::subject_file))
        .route("/stats", get(handlers::statistics))
        .route("/leads", get(handlers::leads_board))
        .route("/referrals", get(handlers::referral_pipeline))
        .route("/referrals/file", get(handlers::referral_file))
        .route("/live", get(handlers::live_alerts))
        .route("/alerts", get(handlers::alert_list))
        .route("/penalties", get(handlers::penalty_report))
        .route("/inspections", get(handlers::inspections))
        .route("/procedure", get(handlers::procedure))
        .route("/verify/{code}", get(verify::page))
        .route("/verify/{code}/qr.svg", get(verify::qr))
        .route(
            "/verify/{code}/complaint",
            axum::routing::post(verify::complaint),
        )
        .with_state(console)
}

/// The address a request came from (on the plain HTTP listener).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, crate::gateway::conn::GuardedListener>,
    > for Peer
{
    fn connect_info(
        stream: axum::serve::IncomingStream<'_, crate::gateway::conn::GuardedListener>,
    ) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// Serves until `shutdown` is cancelled.
///
/// Connections are guarded as the gRPC listener's are (`gateway::conn`): the first bytes of a
/// request within the handshake deadline, and the caps. The idle limit is not applied here:
/// HTTP/1.1 has no pings, and the live-alerts page holds a quiet connection open on purpose.
pub async fn serve(
    listener: TcpListener,
    mut console: Console,
    hygiene: crate::gateway::conn::Hygiene,
    shutdown: CancellationToken,
) -> Result<(), ConsoleError> {
    console.shutdown = shutdown.clone();
    let addr = listener.local_addr().ok();
    let app = router(console);
    info!(addr = ?addr, "HTTP listening (/healthz, /metrics)");
    let hygiene = crate::gateway::conn::Hygiene {
        idle_limit: std::time::Duration::from_secs(365 * 24 * 3600),
        ..hygiene
    };
    let listener = crate::gateway::conn::GuardedListener::new(listener, hygiene)
        .map_err(|source| ConsoleError { addr, source })?;
    // The peer's address, for the verification pages' per-address complaint limit.
    axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|source| ConsoleError { addr, source })
}

/// 200 `ok` when the log answers and the store reads (and a replica is caught up); 503 naming
/// what failed otherwise. A replica adds a line: writer or follower, and its lag.
async fn healthz(State(console): State<Console>) -> impl IntoResponse {
    let mut problems = Vec::new();
    match tokio::time::timeout(CHECK_TIMEOUT, console.bus.end_offsets()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => problems.push(format!("log: {}", crate::telemetry::chain(&err))),
        Err(_) => problems.push(format!("log: no answer within {CHECK_TIMEOUT:?}")),
    }
    if let Some(store) = &console.store
        && let Err(err) = store.positions()
    {
        problems.push(format!("store: {}", crate::telemetry::chain(&err)));
    }
    let replica = console.replica.as_ref().map(|r| {
        let lag = r.lag().map_or("unknown".to_owned(), |l| l.to_string());
        let role = if r.writer() { "writer" } else { "follower" };
        if !r.ready() {
            problems.push(format!(
                "replica: {lag} decided batches behind (ready at {} or fewer)",
                r.ready_lag
            ));
        }
        format!("replica: {} {role}, lag {lag}\n", r.name)
    });
    let replica = replica.unwrap_or_default();
    if problems.is_empty() {
        (StatusCode::OK, format!("ok\n{replica}"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n{}\n{replica}", problems.join("\n")),
        )
    }
}

/// Prometheus text: the process's counters, and per partition how far the store's router is
/// behind the log.
async fn render_metrics(State(console): State<Console>) -> impl IntoResponse {
    let mut gauges = Vec::new();
    if let Some(store) = &console.store
        && let Ok(Ok(ends)) = tokio::time::timeout(CHECK_TIMEOUT, console.bus.end_offsets()).await
        && let Ok(applied) = store.positions()
    {
        let samples = ends
            .iter()
            .enumerate()
            .map(|(partition, end)| {
                let done = applied.get(&(partition as u32)).copied().unwrap_or(0);
                (partition.to_string(), end.saturating_sub(done) as f64)
            })
            .collect();
        gauges.push(Gauge {
            name: "xiezhi_router_lag_records",
            help: "Records on the log the router has not applied yet, per partition.",
            label: "partition",
            samples,
        });
    }
    if let Some(replica) = &console.replica {
        if let Some(lag) = replica.lag() {
            gauges.push(Gauge {
                name: "xiezhi_replica_lag_batches",
                help: "Decided batches on the decisions log this replica has not applied yet.",
                label: "replica",
                samples: vec![(replica.name.clone(), lag as f64)],
            });
        }
        gauges.push(Gauge {
            name: "xiezhi_replica_writer",
            help: "1 while this replica holds the writer's place, else 0.",
            label: "replica",
            samples: vec![(replica.name.clone(), f64::from(u8::from(replica.writer())))],
        });
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics().render(&gauges),
    )
}

/// `/public/penalties` options.
#[derive(serde::Deserialize)]
struct FeedQuery {
    /// `json` for the JSON form (or send `Accept: application/json`).
    format: Option<String>,
    /// How many, newest first (default 100, at most 1,000).
    limit: Option<usize>,
}

/// The public disclosure feed, as a page or as JSON.
async fn public_penalties(
    State(console): State<Console>,
    Query(query): Query<FeedQuery>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let Some(store) = console.store.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "this process has no store (a gateway role): ask a router\n",
        )
            .into_response();
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1_000);
    let policy = console.policy.clone();
    let entries = tokio::task::spawn_blocking(move || public::feed(&store, &policy, limit)).await;
    let entries = match entries {
        Ok(Ok(entries)) => entries,
        Ok(Err(err)) => {
            tracing::error!(error = %crate::telemetry::chain(&err), "public feed failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "the store failed\n").into_response();
        }
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "feed task failed\n").into_response(),
    };
    let wants_json = query.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body = serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into());
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            public::html(&entries),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::body::Body;
    use axum::http::Request;
    use rdkafka::mocking::MockCluster;
    use tower::ServiceExt as _;

    use super::*;
    use crate::bus::kafka::{KafkaBus, KafkaConfig};
    use crate::domain::{Registry, SystemClock};

    async fn probe(app: Router) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// On a one-thread runtime, as a probe would find a busy broker: a metadata call blocking
    /// the runtime would hold the answer for librdkafka's 30 s admin timeout.
    #[test]
    fn healthz_says_503_naming_the_log_within_its_timeout_when_kafka_is_down() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(healthz_when_kafka_is_down());
        // The abandoned metadata call is left to time out on its own thread.
        runtime.shutdown_background();
    }

    async fn healthz_when_kafka_is_down() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("events", 2, 1).unwrap();
        let config = KafkaConfig {
            bootstrap: mock.bootstrap_servers(),
            events_topic: "events".into(),
            partitions: 2,
            ..KafkaConfig::default()
        };
        let app = router(Console {
            bus: Arc::new(KafkaBus::producer_only(&config).unwrap()),
            store: None,
            policy: Arc::new(Policy::with_registry(Registry::new(Vec::new()).unwrap())),
            insecure_dev: false,
            clock: Arc::new(SystemClock),
            shutdown: CancellationToken::new(),
            revoked: Arc::default(),
            complaints: Arc::default(),
            public_url: Arc::from(""),
            replica: None,
        });
        let (status, body) = probe(app.clone()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));

        mock.broker_down(1).unwrap();
        let started = Instant::now();
        let (status, body) = probe(app).await;
        let waited = started.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.starts_with("not ready\nlog: "), "{body}");
        assert!(
            waited < CHECK_TIMEOUT + Duration::from_secs(2),
            "answered after {waited:?}"
        );
    }
}
