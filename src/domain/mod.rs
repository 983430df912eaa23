//! Pure types and rules of enforcement data sharing; no I/O, no protobuf, no storage.
//!
//! - [`ids`]: identifiers and their check characters (GB 32100, GB 11643, GB/T 2260).
//! - [`event`]: the envelope and its payloads, and their log encoding.
//! - [`validate`]: rule errors, the violation collector, generic field rules, policy.
//! - [`registry`]: agencies and the routing of leads.
//! - [`clock`]: injectable time.

pub mod calendar;
pub mod clock;
pub mod event;
pub mod expr;
pub mod ids;
pub mod referral;
pub mod registry;
pub mod rules;
pub mod validate;

pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{
    CaseOutcome, Decision, Domain, Envelope, EventKey, EventKind, Facts, Lead, LeadStatus,
    LogPosition, Payload, SCHEMA_VERSION, Sensitivity, Subject, SubjectId,
};
pub use ids::{AgencyId, DivisionCode, EventId, OffenceCode, ResidentId, SubjectKey, Uscc};
pub use registry::{Agency, AgencyKind, DeliveryReason, Registry};
pub use validate::{ChecksumPolicy, FieldViolation, RuleError, ValidationPolicy, Violations};
