//! Pure types and rules of enforcement data sharing; no I/O, no protobuf, no storage.
//!
//! - [`ids`]: identifiers and their check characters (GB 32100, GB 11643, GB/T 2260).
//! - [`event`]: the envelope and its payloads, and their log encoding.
//! - [`validate`]: rule errors, the violation collector, generic field rules, policy.
//! - [`registry`]: agencies and the routing of leads.
//! - [`referral`]: the criminal-referral state machine and its statutory deadlines.
//! - [`calendar`]: hours, calendar days and working days as statutes count them.
//! - [`expr`], [`rules`]: the rule language, prosecution thresholds, discretion bands.
//! - [`alert`]: what the broker notices on its own.
//! - [`policy`]: all of the above, as the router uses it.
//! - [`stored`]: an event as applied, what readers see of it.
//! - [`clock`]: injectable time.
//! - [`vocab`]: the shared leaf — domains, subjects, facts, handling codes, severity.

pub mod alert;
pub mod calendar;
pub mod clock;
pub mod disclosure;
pub mod divisions;
pub mod event;
pub mod expr;
pub mod finding;
pub mod ids;
pub mod inspection;
pub mod labels;
pub mod money;
pub mod policy;
pub mod procedure;
pub mod referral;
pub mod registry;
pub mod rules;
pub mod stats;
pub mod stored;
pub mod validate;
pub mod vocab;

pub use alert::{Alert, AlertKind, AlertWindows};
pub use clock::{AheadClock, Clock, ManualClock, SystemClock};
pub use event::{
    CaseOutcome, Decision, Envelope, EventKey, EventKind, Lead, LeadStatus, LogPosition, Payload,
    SCHEMA_VERSION,
};
pub use ids::{AgencyId, DivisionCode, EventId, OffenceCode, ResidentId, SubjectKey, Uscc};
pub use policy::Policy;
pub use referral::{Action, Party, ReferralKey, ReferralRecord, State};
pub use registry::{Agency, AgencyKind, DeliveryReason, Registry};
pub use stored::StoredEvent;
pub use validate::{ChecksumPolicy, FieldViolation, RuleError, ValidationPolicy, Violations};
pub use vocab::{Domain, Facts, Handling, Sensitivity, Severity, Subject, SubjectId};
