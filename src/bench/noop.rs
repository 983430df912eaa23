//! A `Publisher` that does nothing: every call is answered at once with an empty `Ack`. It
//! exists to measure what gRPC itself costs on this machine (`xiezhi bench --baseline`).

use std::pin::Pin;

use futures_util::StreamExt as _;
use tonic::{Request, Response, Status, Streaming};

use crate::proto;

/// The do-nothing publisher.
struct NoopPublisher;

/// Serves the do-nothing publisher on `listener` with the default transport settings of the
/// gateway (plaintext, as the bench's broker runs), until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), crate::gateway::GatewayError> {
    let config = crate::config::Config::default();
    crate::gateway::serve_publisher(
        listener,
        crate::gateway::Transport {
            tls: None,
            max_concurrent_streams: config.security.max_concurrent_streams,
            timeout: std::time::Duration::from_secs(config.security.request_timeout_secs),
            hygiene: crate::app::hygiene(&config.security),
        },
        config.server.max_request_bytes,
        NoopPublisher,
        shutdown,
    )
    .await
}

fn ack(event_id: String) -> proto::Ack {
    proto::Ack {
        event_id,
        ..proto::Ack::default()
    }
}

type Answers =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<proto::PublishStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl proto::publisher_server::Publisher for NoopPublisher {
    async fn publish_lead(
        &self,
        request: Request<proto::PublishLeadRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        Ok(Response::new(ack(request.into_inner().event_id)))
    }

    async fn publish_outcome(
        &self,
        request: Request<proto::PublishOutcomeRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        Ok(Response::new(ack(request.into_inner().event_id)))
    }

    type PublishStreamStream = Answers;

    async fn publish_stream(
        &self,
        request: Request<Streaming<proto::PublishStreamRequest>>,
    ) -> Result<Response<Answers>, Status> {
        use proto::publish_stream_request::Event;
        let answers = request.into_inner().enumerate().map(|(sequence, item)| {
            let event_id = match item?.event {
                Some(Event::Lead(r)) => r.event_id,
                Some(Event::Outcome(r)) => r.event_id,
                None => String::new(),
            };
            Ok(proto::PublishStreamResponse {
                sequence: sequence as u64,
                event_id: event_id.clone(),
                result: Some(proto::publish_stream_response::Result::Ack(ack(event_id))),
            })
        });
        Ok(Response::new(Box::pin(answers)))
    }
}
