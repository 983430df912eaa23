//! The boundary between protobuf and the domain: requests are validated into domain values —
//! every broken rule collected with the path of its field — and stored values are turned back
//! into protobuf messages. This file holds what every message shares (enum tables, times,
//! agencies, subjects, the envelope); `events.rs` leads and outcomes, `referrals.rs` referrals
//! and alerts, `inspections.rs` inspections and certificates, `procedure.rs` the procedure of a decision.

mod events;
mod inspections;
mod procedure;
mod referrals;

pub(crate) use events::{delivery, lead_summary, stored};
pub(crate) use inspections::inspection_view;
pub(crate) use referrals::{referral_view, state_filter};

use jiff::Timestamp;

pub(crate) use crate::codec::tables::{
    DECISIONS, DOMAINS, HANDLINGS, LEAD_STATUSES, REASONS, SENSITIVITIES, SEVERITIES, to_domain,
    to_proto,
};
pub(crate) use crate::codec::to_proto::{envelope, facts, lead_ref, position, subject, ts};
use crate::domain::StoredEvent;
use crate::domain::divisions::Divisions;
use crate::domain::validate::{self, limits};
use crate::domain::{
    AgencyId, CaseOutcome, ChecksumPolicy, DivisionCode, Domain, Envelope, EventId, EventKey,
    FieldViolation, Lead, LeadStatus, OffenceCode, Payload, Registry, ResidentId, RuleError,
    SCHEMA_VERSION, Subject, SubjectId, SubjectKey, Uscc, ValidationPolicy, Violations,
};
use crate::proto;
use crate::store::{DeliveredItem, DeliveryRecord, LeadRow};

/// Reads a protobuf enum field: unknown numbers and UNSPECIFIED are violations when `required`;
/// an optional UNSPECIFIED is `None` without a violation.
fn enum_field<P, D>(
    v: &mut Violations,
    field: &str,
    raw: i32,
    table: &[(P, D)],
    required: bool,
) -> Option<D>
where
    P: TryFrom<i32> + PartialEq + Copy,
    D: Copy,
{
    if raw == 0 {
        if required {
            v.push(
                field,
                RuleError::new(
                    "enum.unspecified",
                    "must be set to a value other than UNSPECIFIED",
                ),
            );
        }
        return None;
    }
    let found = P::try_from(raw).ok().and_then(|p| to_domain(table, p));
    if found.is_none() {
        v.push(
            field,
            RuleError::new("enum.unknown", format!("{raw} is not a known value")),
        );
    }
    found
}

/// Converts a protobuf timestamp; out-of-range values are violations.
fn timestamp(ts: &prost_types::Timestamp) -> Result<Timestamp, RuleError> {
    let invalid = || RuleError::new("time.invalid", "seconds or nanos out of range");
    // google.protobuf.Timestamp requires 0 ≤ nanos < 10⁹; jiff would normalise a negative one.
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(invalid());
    }
    Timestamp::new(ts.seconds, ts.nanos).map_err(|_| invalid())
}

/// A `YYYY-MM-DD` day (China Standard Time). Empty is `None` — a `required` violation when
/// `required`; anything but a real day written so is `date.format`.
pub(crate) fn day(
    v: &mut Violations,
    field: &str,
    raw: &str,
    required: bool,
) -> Option<jiff::civil::Date> {
    if raw.is_empty() {
        if required {
            v.push(field, RuleError::new("required", "must be set"));
        }
        return None;
    }
    let parsed = raw
        .parse::<jiff::civil::Date>()
        .ok()
        .filter(|_| raw.len() == 10);
    if parsed.is_none() {
        v.push(
            field,
            RuleError::new("date.format", "must be a real day as YYYY-MM-DD"),
        );
    }
    parsed
}

/// The fields every publish request has.
pub(crate) struct Head<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) producer: &'a str,
    /// The request's name for the producer (`producer`, or `actor` for a referral step).
    pub(crate) producer_field: &'static str,
    pub(crate) produced_at: Option<&'a prost_types::Timestamp>,
    pub(crate) handling: i32,
}

/// Validates requests against the registry, the policy and the clock.
pub(crate) struct Validator<'a> {
    pub(crate) registry: &'a Registry,
    /// The division codes that exist.
    pub(crate) divisions: &'a Divisions,
    pub(crate) policy: &'a ValidationPolicy,
    pub(crate) now: Timestamp,
}

impl Validator<'_> {
    /// Validates the envelope fields every publish request has, and the payload under `field`
    /// with `body`; collects every violation of both.
    fn envelope<B>(
        &self,
        head: Head<'_>,
        field: &str,
        payload: Option<&B>,
        body: impl FnOnce(&Self, &mut Violations, &B) -> Option<Payload>,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let mut v = Violations::new();
        let event_id = v.check("event_id", EventId::parse(head.event_id));
        let producer = self.agency(&mut v, head.producer_field, head.producer);
        let produced_at = self.time(&mut v, "produced_at", head.produced_at, true);
        let handling =
            enum_field(&mut v, "handling", head.handling, &HANDLINGS, false).unwrap_or_default();
        let payload = v
            .require(field, payload)
            .and_then(|p| body(self, &mut v, p));
        let warnings = v.finish()?;
        // No violation was recorded, so every part parsed.
        let ((event_id, producer), (produced_at, payload)) = event_id
            .zip(producer)
            .zip(produced_at.zip(payload))
            .expect("a request without violations has every part");
        Ok(Envelope {
            event_id,
            producer,
            produced_at,
            schema_version: SCHEMA_VERSION,
            payload,
            handling,
            warnings,
        })
    }

    /// A division code: its format, then whether it exists (`division.unknown`).
    pub(crate) fn division(
        &self,
        v: &mut Violations,
        field: &str,
        raw: &str,
    ) -> Option<DivisionCode> {
        let code = v.check(field, DivisionCode::parse(raw))?;
        v.check(field, self.divisions.check(&code))?;
        Some(code)
    }

    /// An agency id that is well formed and registered.
    pub(crate) fn agency(&self, v: &mut Violations, field: &str, raw: &str) -> Option<AgencyId> {
        if raw.is_empty() {
            v.push(field, RuleError::new("required", "must be set"));
            return None;
        }
        let id = v.check(field, AgencyId::parse(raw))?;
        if self.registry.get(&id).is_none() {
            v.push(
                field,
                RuleError::new(
                    "agency.unknown",
                    format!("{raw} is not in the agency registry"),
                ),
            );
            return None;
        }
        Some(id)
    }

    fn time(
        &self,
        v: &mut Violations,
        field: &str,
        raw: Option<&prost_types::Timestamp>,
        required: bool,
    ) -> Option<Timestamp> {
        let raw = if required {
            v.require(field, raw)?
        } else {
            raw?
        };
        let at = v.check(field, timestamp(raw).and_then(validate::not_ancient))?;
        v.check(field, validate::not_future(at, self.now, self.policy))
    }

    /// A subject with its identifier checked by kind.
    pub(crate) fn subject(
        &self,
        v: &mut Violations,
        field: &str,
        raw: Option<&proto::Subject>,
    ) -> Option<Subject> {
        let raw = v.require(field, raw)?;
        let id_field = format!("{field}.id");
        let kind =
            proto::SubjectKind::try_from(raw.kind).unwrap_or(proto::SubjectKind::Unspecified);
        let id = match kind {
            proto::SubjectKind::Unspecified => {
                v.push(
                    format!("{field}.kind"),
                    RuleError::new("enum.unspecified", "must be ORGANIZATION or PERSON"),
                );
                None
            }
            proto::SubjectKind::Organization => self
                .uscc(v, &id_field, &raw.id)
                .map(SubjectId::Organization),
            proto::SubjectKind::Person => v
                .check(&id_field, ResidentId::parse(&raw.id))
                .map(SubjectId::Person),
        };
        let name = v.check(
            format!("{field}.name"),
            validate::required_text(&raw.name, limits::NAME),
        );
        Some(Subject {
            id: id?,
            name: name?,
        })
    }

    fn uscc(&self, v: &mut Violations, field: &str, raw: &str) -> Option<Uscc> {
        match (Uscc::parse(raw), self.policy.uscc_checksum) {
            (Ok(code), _) => Some(code),
            (Err(err), ChecksumPolicy::Warn) if err.rule == "uscc.checksum" => {
                v.warn(field, err);
                Uscc::parse_format(raw).ok()
            }
            (Err(err), _) => {
                v.push(field, err);
                None
            }
        }
    }

    /// A subject key from a kind and id, as the query API takes them.
    pub(crate) fn subject_key(
        &self,
        v: &mut Violations,
        kind: i32,
        id: &str,
    ) -> Option<SubjectKey> {
        match proto::SubjectKind::try_from(kind).unwrap_or(proto::SubjectKind::Unspecified) {
            proto::SubjectKind::Unspecified => {
                v.push(
                    "kind",
                    RuleError::new("enum.unspecified", "must be ORGANIZATION or PERSON"),
                );
                None
            }
            // Reads accept any well-formed code: it may have been stored under the warn policy.
            proto::SubjectKind::Organization => v
                .check("id", Uscc::parse_format(id))
                .map(|code| SubjectKey::organization(&code)),
            proto::SubjectKind::Person => v
                .check("id", ResidentId::parse(id))
                .map(|id| SubjectKey::person(&id)),
        }
    }

    /// An optional filter enum of the query API.
    pub(crate) fn domain_filter(&self, v: &mut Violations, raw: i32) -> Option<Domain> {
        enum_field(v, "domain", raw, &DOMAINS, false)
    }

    /// An optional lead-status filter.
    pub(crate) fn status_filter(&self, v: &mut Violations, raw: i32) -> Option<LeadStatus> {
        enum_field(v, "status", raw, &LEAD_STATUSES, false)
    }

    /// An optional time bound of a query (any valid time, future allowed).
    pub(crate) fn bound(
        &self,
        v: &mut Violations,
        field: &str,
        raw: Option<&prost_types::Timestamp>,
    ) -> Option<Timestamp> {
        v.check(field, timestamp(raw?))
    }
}

fn fact_list(v: &mut Violations, field: &str, raw: &[proto::Fact]) -> crate::domain::Facts {
    validate::facts(v, field, raw.iter().map(|f| (f.name.as_str(), f.value)))
}
