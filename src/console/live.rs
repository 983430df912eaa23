//! Live updates (`/live`, server-sent events): each alert raised in the viewer's jurisdiction
//! from now on — new 以罚代刑, possible-crime and discretion alerts, and overdue referral steps,
//! which are alerts too — as an `alert` event whose data is one line of JSON. The overview page
//! shows them as they come, without a reload.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::access::may_survey;
use crate::domain::Agency;
use crate::store::Store;

/// The alert stream for `viewer` until the client goes or `shutdown` is cancelled.
pub(super) fn stream(
    store: Arc<Store>,
    viewer: Option<Agency>,
    shutdown: CancellationToken,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let prefix = viewer.as_ref().map_or(String::new(), |v| {
            v.division.jurisdiction_prefix().to_owned()
        });
        if viewer.as_ref().is_some_and(|v| !may_survey(v, &prefix)) {
            return;
        }
        let mut durable = store.watch_durable();
        // Only what is raised from now on.
        let mut seen = *durable.borrow_and_update();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
                changed = durable.changed() => if changed.is_err() { return },
            }
            let now = *durable.borrow_and_update();
            // Only alerts after the last one shown: a range read, page by page.
            loop {
                let found = {
                    let store = store.clone();
                    let prefix = prefix.clone();
                    tokio::task::spawn_blocking(move || store.alerts_after(seen, &prefix, 100))
                        .await
                };
                let Ok(Ok(alerts)) = found else { break };
                let full = alerts.len() == 100;
                for alert in alerts {
                    seen = seen.max(alert.id);
                    let data = serde_json::json!({
                        "id": alert.id,
                        "kind": alert.kind.name(),
                        "label": super::labels::alert_kind(alert.kind),
                        "title": alert.title,
                        "citation": alert.citation,
                        "division": alert.division.as_ref().map(|d| d.as_str().to_owned()),
                        "raised_at": alert.raised_at.to_string(),
                    });
                    let event = Event::default()
                        .event("alert")
                        .id(alert.id.to_string())
                        .data(data.to_string());
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                if !full {
                    break;
                }
            }
            seen = seen.max(now);
        }
    });
    Sse::new(ReceiverStream::<Result<Event, Infallible>>::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
