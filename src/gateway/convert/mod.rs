//! The boundary between protobuf and the domain: requests are validated into domain values —
//! every broken rule collected with the path of its field — and stored values are turned back
//! into protobuf messages. This file holds what every message shares (enum tables, times,
//! agencies, subjects, the envelope); `events.rs` leads and outcomes, `referrals.rs` referrals
//! and alerts.

mod events;
mod referrals;

pub(crate) use events::{delivery, lead_summary, stored};
pub(crate) use referrals::{referral_view, state_filter};

use jiff::Timestamp;

use crate::domain::validate::{self, limits};
use crate::domain::{
    AgencyId, CaseOutcome, ChecksumPolicy, Decision, DeliveryReason, DivisionCode, Domain,
    Envelope, EventId, EventKey, FieldViolation, Handling, Lead, LeadStatus, LogPosition,
    OffenceCode, Payload, Registry, ResidentId, RuleError, SCHEMA_VERSION, Sensitivity, Severity,
    Subject, SubjectId, SubjectKey, Uscc, ValidationPolicy, Violations,
};
use crate::proto;
use crate::store::{DeliveredItem, DeliveryRecord, LeadRow, StoredEvent};

/// Pairs of protobuf and domain enum values; one table serves both directions.
const DOMAINS: [(proto::Domain, Domain); 12] = [
    (proto::Domain::FoodDrug, Domain::FoodDrug),
    (proto::Domain::PublicHealth, Domain::PublicHealth),
    (proto::Domain::NaturalResources, Domain::NaturalResources),
    (
        proto::Domain::EcologyEnvironment,
        Domain::EcologyEnvironment,
    ),
    (proto::Domain::WorkSafety, Domain::WorkSafety),
    (proto::Domain::LabourSecurity, Domain::LabourSecurity),
    (proto::Domain::UrbanManagement, Domain::UrbanManagement),
    (proto::Domain::Transport, Domain::Transport),
    (proto::Domain::FinancialServices, Domain::FinancialServices),
    (proto::Domain::EducationTraining, Domain::EducationTraining),
    (proto::Domain::MarketRegulation, Domain::MarketRegulation),
    (proto::Domain::Tax, Domain::Tax),
];
const SENSITIVITIES: [(proto::Sensitivity, Sensitivity); 3] = [
    (proto::Sensitivity::Public, Sensitivity::Public),
    (proto::Sensitivity::Internal, Sensitivity::Internal),
    (proto::Sensitivity::Restricted, Sensitivity::Restricted),
];
const DECISIONS: [(proto::Decision, Decision); 5] = [
    (proto::Decision::Penalty, Decision::Penalty),
    (proto::Decision::NoPenalty, Decision::NoPenalty),
    (proto::Decision::NoCase, Decision::NoCase),
    (
        proto::Decision::TransferredToPolice,
        Decision::TransferredToPolice,
    ),
    (
        proto::Decision::TransferredToAgency,
        Decision::TransferredToAgency,
    ),
];
const LEAD_STATUSES: [(proto::LeadStatus, LeadStatus); 3] = [
    (proto::LeadStatus::Open, LeadStatus::Open),
    (proto::LeadStatus::Unassigned, LeadStatus::Unassigned),
    (proto::LeadStatus::Closed, LeadStatus::Closed),
];
const HANDLINGS: [(proto::HandlingCode, Handling); 3] = [
    (
        proto::HandlingCode::ShareWithinJurisdiction,
        Handling::ShareWithinJurisdiction,
    ),
    (proto::HandlingCode::PartiesOnly, Handling::PartiesOnly),
    (
        proto::HandlingCode::NoOnwardSharing,
        Handling::NoOnwardSharing,
    ),
];
const SEVERITIES: [(proto::Severity, Severity); 3] = [
    (proto::Severity::Minor, Severity::Minor),
    (proto::Severity::General, Severity::General),
    (proto::Severity::Serious, Severity::Serious),
];
const REASONS: [(proto::DeliveryReason, DeliveryReason); 6] = [
    (
        proto::DeliveryReason::ExplicitTarget,
        DeliveryReason::ExplicitTarget,
    ),
    (
        proto::DeliveryReason::ResponsibleAgency,
        DeliveryReason::ResponsibleAgency,
    ),
    (
        proto::DeliveryReason::Unassigned,
        DeliveryReason::Unassigned,
    ),
    (
        proto::DeliveryReason::LeadFeedback,
        DeliveryReason::LeadFeedback,
    ),
    (proto::DeliveryReason::Referral, DeliveryReason::Referral),
    (proto::DeliveryReason::Alert, DeliveryReason::Alert),
];

fn to_domain<P: PartialEq + Copy, D: Copy>(table: &[(P, D)], p: P) -> Option<D> {
    table.iter().find(|(x, _)| *x == p).map(|(_, d)| *d)
}

fn to_proto<P: Copy, D: PartialEq + Copy>(table: &[(P, D)], d: D) -> P {
    // Every table lists every domain value: the lookup cannot miss.
    table
        .iter()
        .find(|(_, x)| *x == d)
        .map(|(p, _)| *p)
        .expect("enum table covers every domain value")
}

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

/// A domain's protobuf value.
pub(crate) fn domain_to_proto(domain: Domain) -> proto::Domain {
    to_proto(&DOMAINS, domain)
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

/// A domain timestamp as protobuf.
pub(crate) fn ts(at: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.as_second(),
        nanos: at.subsec_nanosecond(),
    }
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

fn subject(s: &Subject) -> proto::Subject {
    let (kind, id) = match &s.id {
        SubjectId::Organization(code) => (proto::SubjectKind::Organization, code.as_str()),
        SubjectId::Person(id) => (proto::SubjectKind::Person, id.as_str()),
    };
    proto::Subject {
        kind: kind as i32,
        id: id.to_owned(),
        name: s.name.clone(),
    }
}

fn facts(facts: &crate::domain::Facts) -> Vec<proto::Fact> {
    facts
        .iter()
        .map(|(name, value)| proto::Fact {
            name: name.clone(),
            value: *value,
        })
        .collect()
}

fn lead_ref(key: &EventKey) -> proto::LeadRef {
    proto::LeadRef {
        producer: key.producer.to_string(),
        event_id: key.event_id.to_string(),
    }
}

/// A stored envelope as protobuf.
pub(crate) fn envelope(e: &Envelope) -> proto::Envelope {
    let payload = match &e.payload {
        Payload::Lead(l) => proto::envelope::Payload::Lead(proto::Lead {
            subject: Some(subject(&l.subject)),
            division: l.division.as_str().to_owned(),
            domain: to_proto(&DOMAINS, l.domain) as i32,
            offence_code: l.offence_code.as_str().to_owned(),
            summary: l.summary.clone(),
            facts: facts(&l.facts),
            observed_at: l.observed_at.map(ts),
            sensitivity: to_proto(&SENSITIVITIES, l.sensitivity) as i32,
            target_agencies: l.target_agencies.iter().map(ToString::to_string).collect(),
        }),
        Payload::CaseOutcome(o) => proto::envelope::Payload::CaseOutcome(proto::CaseOutcome {
            case_number: o.case_number.clone(),
            subject: Some(subject(&o.subject)),
            division: o.division.as_str().to_owned(),
            domain: to_proto(&DOMAINS, o.domain) as i32,
            offence_code: o.offence_code.as_str().to_owned(),
            decision: to_proto(&DECISIONS, o.decision) as i32,
            fine_fen: o.fine_fen,
            confiscated_fen: o.confiscated_fen,
            facts: facts(&o.facts),
            decided_at: Some(ts(o.decided_at)),
            lead: o.lead.as_ref().map(lead_ref),
            legal_basis: o.legal_basis.clone(),
            sensitivity: to_proto(&SENSITIVITIES, o.sensitivity) as i32,
            severity: o.severity.map_or(0, |s| to_proto(&SEVERITIES, s) as i32),
        }),
        Payload::Referral(r) => proto::envelope::Payload::Referral(referrals::referral(r)),
        Payload::ReferralUpdate(u) => {
            proto::envelope::Payload::ReferralUpdate(referrals::update(u))
        }
    };
    let kind = match e.kind() {
        crate::domain::EventKind::Lead => proto::EventKind::Lead,
        crate::domain::EventKind::CaseOutcome => proto::EventKind::CaseOutcome,
        crate::domain::EventKind::Referral => proto::EventKind::Referral,
        crate::domain::EventKind::ReferralUpdate => proto::EventKind::ReferralUpdate,
    };
    proto::Envelope {
        event_id: e.event_id.to_string(),
        kind: kind as i32,
        producer: e.producer.to_string(),
        produced_at: Some(ts(e.produced_at)),
        schema_version: e.schema_version,
        handling: to_proto(&HANDLINGS, e.handling) as i32,
        payload: Some(payload),
        warnings: e.warnings.clone(),
    }
}

/// A log position as protobuf.
pub(crate) fn position(p: LogPosition) -> proto::LogPosition {
    proto::LogPosition {
        partition: p.partition,
        offset: p.offset,
    }
}
