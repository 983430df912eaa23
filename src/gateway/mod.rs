//! The agency-facing gRPC server: `Publisher`, `Inbox`, `Query`, `Referrals`, `Inspections`, plus
//! `grpc.health.v1.Health` and server reflection (v1 and v1alpha, so old and new grpcurl work
//! without the .proto).
//!
//! The gateway identifies the caller (client certificates, see [`identity`]), authorises,
//! validates and publishes; it holds no state of its own. It reads what the router applied
//! through the store, filtered and masked for the reader. Errors become `Status` only in
//! [`status`].

pub mod codec;
pub mod conn;
pub(crate) mod convert;
mod deadline;
pub mod identity;
mod inbox;
mod inspections;
mod publisher;
mod query;
pub mod receipt;
mod referrals;
pub mod status;
mod strict;
pub mod tls;

pub(crate) use publisher::STREAM_WINDOW;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::Server;
use tracing::info;

use crate::bus::Bus;
use crate::domain::{Clock, Policy, ValidationPolicy};
use crate::proto;
use crate::store::Store;

/// How much larger than `max_request_bytes` tonic may decode before refusing outright: requests
/// between the two get a field-level INVALID_ARGUMENT; beyond it, tonic's OUT_OF_RANGE.
const DECODE_HEADROOM: usize = 4;

/// What every service needs.
pub struct Shared {
    /// The log events are published to.
    pub bus: Arc<dyn Bus>,
    /// The router's store, read by inbox and query; `None` in the stateless gateway role.
    pub store: Option<Arc<Store>>,
    /// Known agencies, rules and calendar.
    pub policy: Arc<Policy>,
    /// Now, for validation.
    pub clock: Arc<dyn Clock>,
    /// Validation policy.
    pub validation: ValidationPolicy,
    /// Largest request accepted, in bytes.
    pub max_request_bytes: usize,
    /// Cancelled when the server shuts down: ends open inbox streams.
    pub shutdown: CancellationToken,
    /// How callers are identified.
    pub identity: identity::Identity,
    /// Signs publish receipts.
    pub signer: Arc<receipt::ReceiptSigner>,
    /// Publish calls per agency.
    pub limiter: identity::RateLimiter,
}

/// Transport settings of the server.
#[derive(Clone, Debug)]
pub struct Transport {
    /// TLS with client certificates; `None` for plaintext (development).
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Time limit of a call.
    pub timeout: std::time::Duration,
    /// Deadlines and caps of connections.
    pub hygiene: conn::Hygiene,
}

impl Shared {
    /// A validator for one request, at the current time.
    pub(crate) fn validator(&self) -> convert::Validator<'_> {
        convert::Validator {
            registry: &self.policy.registry,
            divisions: &self.policy.divisions,
            policy: &self.validation,
            now: self.clock.now(),
        }
    }
}

/// The gRPC server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The transport failed.
    #[error("gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the descriptors.
    #[error("gRPC reflection setup failed")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Which services a process offers.
#[derive(Clone, Copy, Debug)]
pub struct Services {
    /// `Publisher`.
    pub publisher: bool,
    /// `Inbox`, `Query` and `Referrals` (need the store).
    pub readers: bool,
}

/// What tonic's HTTP/2 framing layer says, as INTERNAL, about a request whose gRPC frames
/// are broken: the caller's error, not the server's.
const FRAMING_ERRORS: [&str; 3] = [
    "Unexpected EOF decoding stream",
    "Missing request message",
    "protocol error:",
];

/// Makes tonic's own answers say what went wrong: an unknown service or method gets
/// UNIMPLEMENTED naming it (tonic's has no message), and broken gRPC framing is
/// INVALID_ARGUMENT (tonic says INTERNAL, which monitoring reads as a server fault).
async fn clarify_transport_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path: String = request.uri().path().chars().take(200).collect();
    if strict::is_reflection(&path) {
        let (parts, body) = request.into_parts();
        let (body, answers) = strict::guard(body);
        let response = next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
        let (parts, body) = response.into_parts();
        return axum::response::Response::from_parts(parts, answers(body));
    }
    let mut response = next.run(request).await;
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    let clearer = match status.code() {
        tonic::Code::Unimplemented if status.message().is_empty() => {
            tonic::Status::unimplemented(format!(
                "{path} is not a method of this server (services: xiezhi.v1.Publisher, Inbox, \
                 Query, Referrals, Inspections; grpc.health.v1.Health; reflection)"
            ))
        }
        tonic::Code::Internal
            if FRAMING_ERRORS
                .iter()
                .any(|e| status.message().starts_with(e)) =>
        {
            tonic::Status::invalid_argument(format!("malformed gRPC framing: {}", status.message()))
        }
        // The stock protobuf codec of the health service (and any other not on ours) says
        // INTERNAL for a request that does not decode.
        tonic::Code::Internal if status.message().starts_with("failed to decode Protobuf") => {
            tonic::Status::invalid_argument(format!("malformed protobuf: {}", status.message()))
        }
        _ => return response,
    };
    let http = clearer.into_http::<()>();
    let headers = response.headers_mut();
    for name in ["grpc-status", "grpc-message"] {
        if let Some(value) = http.headers().get(name) {
            headers.insert(name, value.clone());
        }
    }
    response
}

/// Serves on `listener` until `shared.shutdown` is cancelled, then stops accepting, lets
/// in-flight calls finish and returns.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    services: Services,
    transport: Transport,
    pages: Option<axum::Router>,
) -> Result<(), GatewayError> {
    let limit = shared.max_request_bytes.saturating_mul(DECODE_HEADROOM);
    let (health, health_service) = tonic_health::server::health_reporter();
    let readers = shared.store.clone().filter(|_| services.readers);
    let publisher = services.publisher.then(|| {
        proto::publisher_server::PublisherServer::new(publisher::PublisherService(shared.clone()))
            .max_decoding_message_size(limit)
    });
    let inbox = readers.as_ref().map(|store| {
        proto::inbox_server::InboxServer::new(inbox::InboxService {
            shared: shared.clone(),
            store: store.clone(),
        })
        .max_decoding_message_size(limit)
    });
    let referrals = readers.as_ref().map(|store| {
        proto::referrals_server::ReferralsServer::new(referrals::ReferralsService {
            shared: shared.clone(),
            store: store.clone(),
        })
        .max_decoding_message_size(limit)
    });
    let inspections = readers.as_ref().map(|store| {
        proto::inspections_server::InspectionsServer::new(inspections::InspectionsService {
            shared: shared.clone(),
            store: store.clone(),
        })
        .max_decoding_message_size(limit)
    });
    let query = readers.as_ref().map(|store| {
        proto::query_server::QueryServer::new(query::QueryService {
            shared: shared.clone(),
            store: store.clone(),
        })
        .max_decoding_message_size(limit)
    });
    if publisher.is_some() {
        health
            .set_serving::<proto::publisher_server::PublisherServer<publisher::PublisherService>>()
            .await;
    }
    if readers.is_some() {
        health
            .set_serving::<proto::inbox_server::InboxServer<inbox::InboxService>>()
            .await;
        health
            .set_serving::<proto::query_server::QueryServer<query::QueryService>>()
            .await;
        health
            .set_serving::<proto::referrals_server::ReferralsServer<referrals::ReferralsService>>()
            .await;
        health
            .set_serving::<
                proto::inspections_server::InspectionsServer<inspections::InspectionsService>,
            >()
            .await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc.BadRequest, so grpcurl can print the field violations of an error.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let mut routes = RoutesBuilder::default();
    routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    if let Some(publisher) = publisher {
        routes.add_service(publisher);
    }
    if let Some(inbox) = inbox {
        routes.add_service(inbox);
    }
    if let Some(query) = query {
        routes.add_service(query);
    }
    if let Some(referrals) = referrals {
        routes.add_service(referrals);
    }
    if let Some(inspections) = inspections {
        routes.add_service(inspections);
    }
    let shutdown = shared.shutdown.clone();
    run_server(listener, transport, routes, pages, async move {
        shutdown.cancelled().await;
        // Health checkers see the change before the listener closes.
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    })
    .await
}

/// The server stack every service runs on — HTTP/2 limits, call deadline, TLS, the transport
/// error layer — serving `routes` until `shutdown` resolves, then letting in-flight calls
/// finish.
async fn run_server(
    listener: TcpListener,
    transport: Transport,
    routes: RoutesBuilder,
    pages: Option<axum::Router>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), GatewayError> {
    let addr = listener.local_addr().ok();
    info!(addr = ?addr, "gRPC gateway listening");
    let hygiene = transport.hygiene;
    // Pings at a third of the idle limit: a live peer answers well before it.
    let ping = hygiene.idle_limit / 3;
    let mut builder = Server::builder()
        .max_concurrent_streams(transport.max_concurrent_streams)
        .http2_keepalive_interval(Some(ping))
        .http2_keepalive_timeout(Some(ping));
    let mut router = routes.routes().into_axum_router();
    if let Some(pages) = pages {
        router = router.merge(pages);
    }
    let routes = Routes::from(
        router
            .layer(axum::middleware::from_fn(clarify_transport_errors))
            // The call deadline is ours, not tonic's `timeout`, which answers CANCELLED
            // "Timeout expired" where gRPC and docs/api.md say DEADLINE_EXCEEDED.
            .layer(axum::middleware::from_fn_with_state(
                transport.timeout,
                deadline::limit,
            )),
    );
    let server = builder.add_routes(routes);
    match transport.tls {
        Some(tls) => {
            server
                .serve_with_incoming_shutdown(conn::incoming_tls(listener, hygiene, tls), shutdown)
                .await?
        }
        None => {
            server
                .serve_with_incoming_shutdown(conn::incoming(listener, hygiene), shutdown)
                .await?
        }
    }
    info!("gRPC gateway stopped");
    Ok(())
}

/// Serves another `Publisher` on the same stack as [`serve`] (transport, limits, health): the
/// no-op publisher of `xiezhi bench --baseline` measures what gRPC itself costs this way.
pub async fn serve_publisher(
    listener: TcpListener,
    transport: Transport,
    max_request_bytes: usize,
    publisher: impl proto::publisher_server::Publisher,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let (_health, health_service) = tonic_health::server::health_reporter();
    let mut routes = RoutesBuilder::default();
    routes.add_service(health_service).add_service(
        proto::publisher_server::PublisherServer::new(publisher)
            .max_decoding_message_size(max_request_bytes.saturating_mul(DECODE_HEADROOM)),
    );
    run_server(
        listener,
        transport,
        routes,
        None,
        shutdown.cancelled_owned(),
    )
    .await
}
