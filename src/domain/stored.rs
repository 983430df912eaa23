//! The read model of an event: the envelope as the router applied it, with its place on the
//! log, its times and its recipients — what timelines, inboxes and pages show — its access rules
//! are in `crate::access`.

use jiff::Timestamp;

use super::event::{Envelope, LogPosition};
use super::ids::AgencyId;

/// An event as the router applied it: the envelope, where it sits on the log, when it was
/// logged and applied, and whom it was delivered to — what readers are shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// The store's sequence number: the order events were applied in, from 1.
    pub seq: u64,
    /// The event.
    pub envelope: Envelope,
    /// Where it sits on the log.
    pub position: LogPosition,
    /// When the log took it (server time; statutory clocks run from here).
    pub logged_at: Timestamp,
    /// When the router applied it.
    pub applied_at: Timestamp,
    /// Agencies it was delivered to.
    pub delivered_to: Vec<AgencyId>,
    /// SHA-256 of its protobuf encoding (the digest its audit entries name).
    pub content_hash: [u8; 32],
}
