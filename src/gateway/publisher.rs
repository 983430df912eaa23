//! `xiezhi.v1.Publisher`: validate, wrap in an envelope, append to the log, answer once durable
//! — one event per unary call, or many over `PublishStream` with the same checks per event.

use std::pin::Pin;

use futures_util::StreamExt as _;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::info;

use super::Shared;
use super::convert;
use super::status::ApiError;
use crate::bus::{AppendOutcome, BusError, OutgoingRecord};
use crate::codec::log::EnvelopeBytes;
use crate::domain::{AgencyId, Envelope, FieldViolation, LogPosition, Payload};
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

/// Refuses an outcome answering a lead that was not sent to its producer, when this process's
/// store already has the lead (otherwise the router records it without closing the lead and
/// tells the coordinators).
fn check_answer_rights(shared: &Shared, envelope: &Envelope) -> Result<(), ApiError> {
    let (Some(store), Payload::CaseOutcome(outcome)) = (&shared.store, &envelope.payload) else {
        return Ok(());
    };
    let Some(lead_key) = &outcome.lead else {
        return Ok(());
    };
    let Some(may) = store
        .applied_event(lead_key)?
        .and_then(|stored| shared.policy.registry.may_answer(&stored))
    else {
        return Ok(());
    };
    if may.contains(&envelope.producer) {
        return Ok(());
    }
    Err(ApiError::PermissionDenied(format!(
        "{} may not answer lead {lead_key}: only the agencies it was sent to may ({})",
        envelope.producer,
        AgencyId::list(&may)
    )))
}

/// Appends a validated envelope and answers once it is durable. A retry of an event already
/// applied is answered from the store where the process has one.
pub(super) async fn publish(
    shared: &Shared,
    validated: Result<Envelope, Vec<FieldViolation>>,
    traceparent: Option<&str>,
) -> Result<proto::Ack, ApiError> {
    let started = std::time::Instant::now();
    let envelope = validated.map_err(ApiError::Invalid)?;
    let key = envelope.key();
    // Encoded once and hashed once, here; the router and the store keep these bytes.
    let bytes = EnvelopeBytes::encode(&envelope);
    let content_hash = bytes.content_hash;
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
        return Ok(ack(shared, envelope, &content_hash, position, true));
    }
    check_answer_rights(shared, &envelope)?;
    let traceparent = telemetry::traceparent(traceparent, &key.to_string());
    let trace_id = telemetry::parse_traceparent(&traceparent)
        .map(|(trace_id, _)| trace_id.to_owned())
        .unwrap_or_default();
    let logged_at = shared.clock.now();
    let record = OutgoingRecord {
        key: envelope.log_key(),
        timestamp: logged_at,
        idempotency_key: key.to_bytes(),
        content_hash,
        payload: crate::codec::log::encode(&bytes, logged_at),
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
    if !duplicate {
        telemetry::metrics::metrics().published(
            envelope.kind().name(),
            shared.bus.kind(),
            started.elapsed(),
        );
    }
    info!(
        event = %envelope.key(),
        trace_id = %trace_id,
        kind = ?envelope.kind(),
        partition = outcome.position().partition,
        offset = outcome.position().offset,
        duplicate,
        "event published"
    );
    Ok(ack(
        shared,
        envelope,
        &content_hash,
        outcome.position(),
        duplicate,
    ))
}

/// How long an answer waits for the router to apply the event it acknowledges.
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Publishes, then waits (briefly) for the router to apply the event, so that the caller's
/// next step is checked against the state this one produced (read-your-writes) and the answer
/// can carry what the router found. The Ack already means the event is durable on the log; if
/// the wait runs out it is answered anyway. Referral steps and inspection events answer so.
pub(super) async fn publish_applied(
    shared: &Shared,
    store: &crate::store::Store,
    validated: Result<Envelope, Vec<FieldViolation>>,
    traceparent: Option<&str>,
) -> Result<proto::Ack, ApiError> {
    let key = validated.as_ref().ok().map(Envelope::key);
    let ack = publish(shared, validated, traceparent).await?;
    if let Some(key) = key
        && !store.wait_applied(&key, APPLY_WAIT).await?
    {
        tracing::warn!(event = %key, "acknowledged before the router applied it");
    }
    Ok(ack)
}

/// The answer to an accepted event, with the broker's signed receipt.
fn ack(
    shared: &Shared,
    envelope: Envelope,
    content_hash: &[u8; 32],
    position: LogPosition,
    duplicate: bool,
) -> proto::Ack {
    let receipt = shared.signer.sign(
        envelope.producer.as_str(),
        envelope.event_id.as_str(),
        content_hash,
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

/// Events of one publish stream in flight at once: enough for the log's group commit to fill
/// its batches from a single client, few enough to bound what one stream holds in memory.
pub(crate) const STREAM_WINDOW: usize = 256;

/// One event of a publish stream, with the checks of the unary calls. Field names in
/// violations are those of the unary request (`lead.subject.id`).
async fn publish_one(
    shared: &Shared,
    caller: Option<&crate::domain::AgencyId>,
    request: proto::PublishStreamRequest,
    traceparent: Option<&str>,
) -> Result<proto::Ack, ApiError> {
    use proto::publish_stream_request::Event;
    match request.event {
        Some(Event::Lead(mut req)) => {
            req.producer = shared.admit_as(caller, &req.producer, "producer")?;
            check_size(shared, req.encoded_len())?;
            publish(shared, shared.validator().lead(&req), traceparent).await
        }
        Some(Event::Outcome(mut req)) => {
            req.producer = shared.admit_as(caller, &req.producer, "producer")?;
            check_size(shared, req.encoded_len())?;
            publish(shared, shared.validator().outcome(&req), traceparent).await
        }
        None => Err(ApiError::field(
            "event",
            "required",
            "a stream request carries a lead or an outcome",
        )),
    }
}

fn event_id(request: &proto::PublishStreamRequest) -> String {
    use proto::publish_stream_request::Event;
    match &request.event {
        Some(Event::Lead(req)) => req.event_id.clone(),
        Some(Event::Outcome(req)) => req.event_id.clone(),
        None => String::new(),
    }
}

/// The answers of a publish stream, in request order.
type AnswerStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<proto::PublishStreamResponse, Status>> + Send>>;

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

    type PublishStreamStream = AnswerStream;

    async fn publish_stream(
        &self,
        request: Request<Streaming<proto::PublishStreamRequest>>,
    ) -> Result<Response<AnswerStream>, Status> {
        let shared = self.0.clone();
        let caller = shared.caller(&request)?;
        let traceparent = incoming_traceparent(&request);
        let incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_WINDOW);
        tokio::spawn(async move {
            let shutdown = shared.shutdown.clone();
            let answers = incoming
                // On shutdown, read no more: answer what was read, then say UNAVAILABLE.
                .take_until(shutdown.clone().cancelled_owned())
                .enumerate()
                .map(|(sequence, item)| {
                    let shared = &shared;
                    let caller = caller.as_ref();
                    let traceparent = traceparent.as_deref();
                    async move {
                        // A broken message ends the stream with its status (INVALID_ARGUMENT).
                        let request = item?;
                        let event_id = event_id(&request);
                        let result = match publish_one(shared, caller, request, traceparent).await {
                            Ok(ack) => proto::publish_stream_response::Result::Ack(ack),
                            Err(err) => proto::publish_stream_response::Result::Error(err.into()),
                        };
                        Ok(proto::PublishStreamResponse {
                            sequence: sequence as u64,
                            event_id,
                            result: Some(result),
                        })
                    }
                })
                .buffered(STREAM_WINDOW);
            let mut answers = std::pin::pin!(answers);
            while let Some(answer) = answers.next().await {
                let last = answer.is_err();
                // A send fails only when the client has gone; what was appended stays durable
                // and a retry is answered as a duplicate.
                if tx.send(answer).await.is_err() || last {
                    return;
                }
            }
            if shutdown.is_cancelled() {
                let _ = tx
                    .send(Err(ApiError::Unavailable(
                        "the broker is shutting down; resend the events that got no answer".into(),
                    )
                    .into()))
                    .await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
