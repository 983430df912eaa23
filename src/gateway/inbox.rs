//! `xiezhi.v1.Inbox`: an agency's deliveries as a resumable stream, and acknowledgements.
//!
//! A stream reads deliveries after its cursor up to the store's durable watermark, then waits
//! for the watermark to move. It ends when the client goes away, or with UNAVAILABLE when the
//! server shuts down (the client resumes from the last cursor it saw).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::debug;

use super::Shared;
use super::convert;
use super::status::ApiError;
use crate::domain::{AgencyId, FieldViolation, RuleError, Violations};
use crate::proto;
use crate::store::Store;

/// Deliveries read from the store per round trip.
const PAGE: usize = 256;
/// Deliveries buffered per stream before the reader waits for the client (backpressure).
const BUFFER: usize = 64;

/// The inbox service.
pub(crate) struct InboxService {
    pub(crate) shared: Arc<Shared>,
    pub(crate) store: Arc<Store>,
}

impl InboxService {
    fn agency(&self, raw: &str) -> Result<AgencyId, ApiError> {
        let mut v = Violations::new();
        let agency = self.shared.validator().agency(&mut v, "agency", raw);
        v.finish().map_err(ApiError::Invalid)?;
        // finish() succeeded, so the agency parsed.
        Ok(agency.expect("agency parsed without violations"))
    }
}

async fn stream_deliveries(
    store: Arc<Store>,
    shutdown: tokio_util::sync::CancellationToken,
    agency: AgencyId,
    mut cursor: u64,
    tx: mpsc::Sender<Result<proto::Delivery, Status>>,
) {
    let mut durable = store.watch_durable();
    loop {
        durable.borrow_and_update();
        let page = match store.deliveries(&agency, cursor, PAGE) {
            Ok(page) => page,
            Err(err) => {
                let _ = tx.send(Err(ApiError::Store(err).into())).await;
                return;
            }
        };
        if page.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = tx.send(Err(Status::unavailable(
                        "server is shutting down; resubscribe from your last cursor",
                    ))).await;
                    return;
                }
                () = tx.closed() => return,
                changed = durable.changed() => if changed.is_err() { return },
            }
            continue;
        }
        for (record, event) in &page {
            cursor = record.cursor;
            if tx.send(Ok(convert::delivery(record, event))).await.is_err() {
                debug!(agency = %agency, cursor, "subscriber went away");
                return;
            }
        }
    }
}

#[tonic::async_trait]
impl proto::inbox_server::Inbox for InboxService {
    type SubscribeStream = ReceiverStream<Result<proto::Delivery, Status>>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = request.into_inner();
        let agency = self.agency(&req.agency)?;
        let from = match req.from_cursor {
            Some(cursor) => cursor,
            None => self.store.acknowledged(&agency).map_err(ApiError::Store)?,
        };
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(stream_deliveries(
            self.store.clone(),
            self.shared.shutdown.clone(),
            agency,
            from,
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn acknowledge(
        &self,
        request: Request<proto::AcknowledgeRequest>,
    ) -> Result<Response<proto::AcknowledgeResponse>, Status> {
        let req = request.into_inner();
        let agency = self.agency(&req.agency)?;
        let (acknowledged, latest) =
            self.store
                .acknowledge(&agency, req.cursor)
                .await
                .map_err(|err| match err {
                    crate::store::StoreError::CursorAhead { cursor, latest, .. } => {
                        ApiError::OutOfRange(FieldViolation {
                            field: "cursor".into(),
                            error: RuleError::new(
                                "cursor.ahead",
                                format!("cursor {cursor} is beyond the latest delivery {latest}"),
                            ),
                        })
                    }
                    other => ApiError::Store(other),
                })?;
        Ok(Response::new(proto::AcknowledgeResponse {
            acknowledged_cursor: acknowledged,
            latest_cursor: latest,
        }))
    }
}
