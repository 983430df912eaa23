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

use super::status::ApiError;
use super::{Shared, convert};
use crate::access::{Shown, mask};
use crate::audit::Record;
use crate::domain::{AgencyId, FieldViolation, RuleError, Violations};
use crate::proto;
use crate::store::{DeliveredItem, DeliveryRecord, Store};

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
    /// The inbox a call is about: the caller's own (a certificate that names another agency is
    /// refused).
    fn agency<T>(&self, request: &Request<T>, claimed: &str) -> Result<AgencyId, ApiError> {
        let raw = self.shared.acting_as(request, claimed, "agency")?;
        let mut v = Violations::new();
        let agency = self.shared.validator().agency(&mut v, "agency", &raw);
        v.finish().map_err(ApiError::Invalid)?;
        // finish() succeeded, so the agency parsed.
        Ok(agency.expect("agency parsed without violations"))
    }
}

/// A delivery as its recipient sees it: events it is party to in full, alerts about events it
/// is not party to masked.
fn shown(
    record: &DeliveryRecord,
    item: &DeliveredItem,
    agency: &AgencyId,
    shown: &mut Shown,
) -> proto::Delivery {
    let mut delivery = convert::delivery(record, item);
    match (item, &mut delivery.item) {
        (DeliveredItem::Alert(alert), Some(proto::delivery::Item::Alert(proto_alert))) => {
            let masked = !alert.parties.contains(agency);
            if masked {
                mask::alert(proto_alert);
            }
            shown.alert(alert, masked);
        }
        (DeliveredItem::Event(event), _) => shown.event(event, false),
        _ => {}
    }
    delivery
}

async fn stream_deliveries(
    store: Arc<Store>,
    shared: Arc<Shared>,
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
                () = shared.shutdown.cancelled() => {
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
        let reader = shared.policy.registry.get(&agency);
        let mut audit = Shown::new(reader, "inbox");
        let deliveries: Vec<(u64, proto::Delivery)> = page
            .iter()
            .map(|(record, item)| (record.cursor, shown(record, item, &agency, &mut audit)))
            .collect();
        // The page counts as read once it is prepared: its audit record is durable before any
        // of it goes out (a subscriber leaving mid-page was still sent the start of it).
        if let Err(err) = shared.audit_durably(audit.into_records()).await {
            let _ = tx.send(Err(err.into())).await;
            return;
        }
        for (at, delivery) in deliveries {
            if tx.send(Ok(delivery)).await.is_err() {
                debug!(agency = %agency, cursor, "subscriber went away");
                return;
            }
            cursor = at;
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
        let agency = self.agency(&request, &request.get_ref().agency)?;
        let req = request.into_inner();
        let from = match req.from_cursor {
            Some(cursor) => cursor,
            None => self.store.acknowledged(&agency).map_err(ApiError::Store)?,
        };
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(stream_deliveries(
            self.store.clone(),
            self.shared.clone(),
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
        let agency = self.agency(&request, &request.get_ref().agency)?;
        let req = request.into_inner();
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
        self.shared.audit(vec![Record::new(
            agency.as_str(),
            "acknowledge inbox",
            format!("inbox/{agency}/{acknowledged}"),
            "",
        )]);
        Ok(Response::new(proto::AcknowledgeResponse {
            acknowledged_cursor: acknowledged,
            latest_cursor: latest,
        }))
    }
}
