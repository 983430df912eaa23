//! The read model of an event: the envelope as the router applied it, with its place on the
//! log, its times and its recipients — what timelines, inboxes and pages show — and who may read
//! how much of it.

use jiff::Timestamp;

use super::access::{self, Access};
use super::event::{Envelope, LogPosition, Payload};
use super::ids::AgencyId;
use super::registry::Agency;
use super::vocab::SubjectId;

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

impl StoredEvent {
    /// Whether the event names a natural person (a referral step is about one's case).
    pub fn is_personal(&self) -> bool {
        matches!(
            self.envelope.subject().map(|s| &s.id),
            Some(SubjectId::Person(_))
        ) || matches!(&self.envelope.payload, Payload::ReferralUpdate(_))
    }

    /// What `reader` may see of it (`None`: the development operator, who sees all), by the
    /// rules of [`access`](super::access): its parties are its producer and recipients.
    pub fn access(&self, reader: Option<&Agency>) -> Access {
        let Some(reader) = reader else {
            return Access::Full;
        };
        let mut parties = self.delivered_to.clone();
        parties.push(self.envelope.producer.clone());
        let item = access::Item {
            parties: &parties,
            division: self.envelope.division(),
            handling: self.envelope.handling,
            referral: self.envelope.referral_key().is_some(),
        };
        access::access(reader, &item)
    }
}
