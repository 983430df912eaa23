//! `xiezhi.v1.Publisher`: validate, wrap in an envelope, append to the log, answer once durable.

use prost::Message as _;
use tonic::{Request, Response, Status};
use tracing::info;

use super::Shared;
use super::convert;
use super::status::ApiError;
use crate::bus::{AppendOutcome, BusError, OutgoingRecord};
use crate::domain::{Envelope, FieldViolation, LogPosition};
use crate::proto;
use crate::telemetry;

/// The publisher service.
pub(crate) struct PublisherService(pub(crate) std::sync::Arc<Shared>);

/// Refuses requests over the configured size. tonic's own decoder limit sits above this
/// one as a memory guard; this check gives the caller a field-level answer.
pub(super) fn check_size(shared: &Shared, len: usize) -> Result<(), ApiError> {
    let max = shared.max_request_bytes;
    if len > max {
        return Err(ApiError::field(
            "request",
            "size.max",
            format!("request is {len} bytes; the limit is {max}"),
        ));
    }
    Ok(())
}

/// Appends a validated envelope and answers once it is durable. A retry of an event already
/// applied is answered from the store where the process has one.
pub(super) async fn publish(
    shared: &Shared,
    validated: Result<Envelope, Vec<FieldViolation>>,
    traceparent: Option<&str>,
) -> Result<proto::Ack, ApiError> {
    let envelope = validated.map_err(ApiError::Invalid)?;
    let key = envelope.key();
    let content_hash = envelope.content_hash();
    // A retry of an event the router has already applied is answered from the store. The
    // embedded log checks this itself; for Kafka, whose appends carry no idempotency check,
    // this is where a retry is recognised (a retry racing its first copy is deduplicated
    // by the router instead).
    if let Some(store) = &shared.store
        && let Some((hash, position)) = store.applied(&key)?
    {
        if hash != content_hash {
            return Err(ApiError::Conflict {
                event_id: envelope.event_id.to_string(),
                existing: position,
            });
        }
        return Ok(ack(shared, envelope, position, true));
    }
    let traceparent = telemetry::traceparent(traceparent, &key.to_string());
    let trace_id = telemetry::parse_traceparent(&traceparent)
        .map(|(trace_id, _)| trace_id.to_owned())
        .unwrap_or_default();
    let record = OutgoingRecord {
        key: envelope.log_key(),
        timestamp: shared.clock.now(),
        idempotency_key: key.to_bytes(),
        content_hash,
        payload: envelope.encode(),
        traceparent: Some(traceparent),
    };
    let outcome = shared.bus.append(record).await.map_err(|err| match err {
        BusError::Conflict { existing } => ApiError::Conflict {
            event_id: envelope.event_id.to_string(),
            existing,
        },
        other => other.into(),
    })?;
    let duplicate = matches!(outcome, AppendOutcome::Duplicate(_));
    info!(
        event = %envelope.key(),
        trace_id = %trace_id,
        kind = ?envelope.kind(),
        partition = outcome.position().partition,
        offset = outcome.position().offset,
        duplicate,
        "event published"
    );
    Ok(ack(shared, envelope, outcome.position(), duplicate))
}

/// The answer to an accepted event, with the broker's signed receipt.
fn ack(shared: &Shared, envelope: Envelope, position: LogPosition, duplicate: bool) -> proto::Ack {
    let receipt = shared.signer.sign(
        envelope.producer.as_str(),
        envelope.event_id.as_str(),
        &envelope.content_hash(),
        position,
        shared.clock.now(),
    );
    proto::Ack {
        event_id: envelope.event_id.to_string(),
        position: Some(convert::position(position)),
        duplicate,
        warnings: envelope.warnings,
        receipt: Some(receipt),
    }
}

/// The caller's W3C `traceparent` metadata, if any.
pub(super) fn incoming_traceparent<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tonic::async_trait]
impl proto::publisher_server::Publisher for PublisherService {
    async fn publish_lead(
        &self,
        request: Request<proto::PublishLeadRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        let traceparent = incoming_traceparent(&request);
        let producer = self
            .0
            .admit(&request, &request.get_ref().producer, "producer")?;
        let mut req = request.into_inner();
        req.producer = producer;
        check_size(&self.0, req.encoded_len())?;
        let validated = self.0.validator().lead(&req);
        Ok(Response::new(
            publish(&self.0, validated, traceparent.as_deref()).await?,
        ))
    }

    async fn publish_outcome(
        &self,
        request: Request<proto::PublishOutcomeRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        let traceparent = incoming_traceparent(&request);
        let producer = self
            .0
            .admit(&request, &request.get_ref().producer, "producer")?;
        let mut req = request.into_inner();
        req.producer = producer;
        check_size(&self.0, req.encoded_len())?;
        let validated = self.0.validator().outcome(&req);
        Ok(Response::new(
            publish(&self.0, validated, traceparent.as_deref()).await?,
        ))
    }
}
