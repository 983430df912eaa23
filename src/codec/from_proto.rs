//! Protobuf messages read back from the log or the store as domain values. These are records the
//! gateway validated before it encoded them, so a failure here means a damaged record or a
//! foreign writer: identifiers are parsed again (credit codes by format only, since a deployment
//! may accept failing check characters), and anything missing or unknown is a [`DecodeError`]
//! naming the field.

use jiff::Timestamp;

use super::DecodeError;
use super::inspection;
use super::tables::{
    ACTIONS, DECISIONS, DOCUMENT_KINDS, DOMAINS, HANDLINGS, SENSITIVITIES, SEVERITIES, from_number,
};
use crate::domain::referral::{Document, Referral, ReferralKey, ReferralUpdate};
use crate::domain::{
    AgencyId, CaseOutcome, DivisionCode, Envelope, EventId, EventKey, Facts, Lead, OffenceCode,
    Payload, ResidentId, RuleError, Subject, SubjectId, Uscc,
};
use crate::proto;

/// A field's rule error as a decode error naming the field.
pub(crate) fn field(name: &'static str) -> impl Fn(RuleError) -> DecodeError + Copy {
    move |err| DecodeError::Field {
        field: name,
        reason: err.to_string(),
    }
}

/// A required field that is absent.
pub(crate) fn missing(name: &'static str) -> DecodeError {
    DecodeError::Field {
        field: name,
        reason: "missing".into(),
    }
}

/// An enum field's number as its domain value.
pub(crate) fn enumerated<P: TryFrom<i32> + PartialEq + Copy, D: Copy>(
    name: &'static str,
    table: &[(P, D)],
    raw: i32,
) -> Result<D, DecodeError> {
    from_number(table, raw).ok_or_else(|| DecodeError::Field {
        field: name,
        reason: format!("{raw} is not a known value"),
    })
}

/// A `YYYY-MM-DD` day; empty is `None`.
pub(crate) fn day(name: &'static str, raw: &str) -> Result<Option<jiff::civil::Date>, DecodeError> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|e: jiff::Error| DecodeError::Field {
            field: name,
            reason: e.to_string(),
        })
}

/// A protobuf timestamp as a domain one.
pub fn timestamp(
    name: &'static str,
    raw: Option<&prost_types::Timestamp>,
) -> Result<Timestamp, DecodeError> {
    let raw = raw.ok_or_else(|| missing(name))?;
    Timestamp::new(raw.seconds, raw.nanos).map_err(|e| DecodeError::Field {
        field: name,
        reason: e.to_string(),
    })
}

/// A subject.
pub fn subject(name: &'static str, raw: Option<&proto::Subject>) -> Result<Subject, DecodeError> {
    let raw = raw.ok_or_else(|| missing(name))?;
    let id = match proto::SubjectKind::try_from(raw.kind) {
        Ok(proto::SubjectKind::Organization) => {
            SubjectId::Organization(Uscc::parse_format(&raw.id).map_err(field(name))?)
        }
        Ok(proto::SubjectKind::Person) => {
            SubjectId::Person(ResidentId::parse(&raw.id).map_err(field(name))?)
        }
        _ => {
            return Err(DecodeError::Field {
                field: name,
                reason: format!("subject kind {} is not known", raw.kind),
            });
        }
    };
    Ok(Subject {
        id,
        name: raw.name.clone(),
    })
}

/// Facts, sorted by name.
pub fn facts(raw: &[proto::Fact]) -> Facts {
    raw.iter().map(|f| (f.name.clone(), f.value)).collect()
}

/// An event key from the `LeadRef` that names it.
pub fn event_key(name: &'static str, raw: &proto::LeadRef) -> Result<EventKey, DecodeError> {
    Ok(EventKey {
        producer: AgencyId::parse(&raw.producer).map_err(field(name))?,
        event_id: EventId::parse(&raw.event_id).map_err(field(name))?,
    })
}

fn agency(name: &'static str, raw: &str) -> Result<AgencyId, DecodeError> {
    AgencyId::parse(raw).map_err(field(name))
}

fn division(name: &'static str, raw: &str) -> Result<DivisionCode, DecodeError> {
    DivisionCode::parse(raw).map_err(field(name))
}

fn offence(name: &'static str, raw: &str) -> Result<OffenceCode, DecodeError> {
    OffenceCode::parse(raw).map_err(field(name))
}

fn lead(raw: &proto::Lead) -> Result<Lead, DecodeError> {
    Ok(Lead {
        subject: subject("lead.subject", raw.subject.as_ref())?,
        division: division("lead.division", &raw.division)?,
        domain: enumerated("lead.domain", &DOMAINS, raw.domain)?,
        offence_code: offence("lead.offence_code", &raw.offence_code)?,
        summary: raw.summary.clone(),
        facts: facts(&raw.facts),
        observed_at: raw
            .observed_at
            .as_ref()
            .map(|t| timestamp("lead.observed_at", Some(t)))
            .transpose()?,
        sensitivity: enumerated("lead.sensitivity", &SENSITIVITIES, raw.sensitivity)?,
        target_agencies: raw
            .target_agencies
            .iter()
            .map(|a| agency("lead.target_agencies", a))
            .collect::<Result<_, _>>()?,
    })
}

fn outcome(raw: &proto::CaseOutcome) -> Result<CaseOutcome, DecodeError> {
    Ok(CaseOutcome {
        case_number: raw.case_number.clone(),
        subject: subject("outcome.subject", raw.subject.as_ref())?,
        division: division("outcome.division", &raw.division)?,
        domain: enumerated("outcome.domain", &DOMAINS, raw.domain)?,
        offence_code: offence("outcome.offence_code", &raw.offence_code)?,
        decision: enumerated("outcome.decision", &DECISIONS, raw.decision)?,
        fine_fen: raw.fine_fen,
        confiscated_fen: raw.confiscated_fen,
        facts: facts(&raw.facts),
        decided_at: timestamp("outcome.decided_at", raw.decided_at.as_ref())?,
        lead: raw
            .lead
            .as_ref()
            .map(|r| event_key("outcome.lead", r))
            .transpose()?,
        legal_basis: raw.legal_basis.clone(),
        sensitivity: enumerated("outcome.sensitivity", &SENSITIVITIES, raw.sensitivity)?,
        severity: match raw.severity {
            0 => None,
            n => Some(enumerated("outcome.severity", &SEVERITIES, n)?),
        },
        procedure: raw
            .procedure
            .as_ref()
            .map(|p| super::procedure::procedure_from(p).map(Box::new))
            .transpose()?,
        historic: raw.historic,
    })
}

/// A transfer report.
pub fn referral(raw: &proto::Referral) -> Result<Referral, DecodeError> {
    Ok(Referral {
        referral_id: EventId::parse(&raw.referral_id).map_err(field("referral.referral_id"))?,
        police: agency("referral.police", &raw.police)?,
        case_number: raw.case_number.clone(),
        subject: subject("referral.subject", raw.subject.as_ref())?,
        division: division("referral.division", &raw.division)?,
        domain: enumerated("referral.domain", &DOMAINS, raw.domain)?,
        offence_code: offence("referral.offence_code", &raw.offence_code)?,
        summary: raw.summary.clone(),
        facts: facts(&raw.facts),
        documents: raw
            .documents
            .iter()
            .map(|d| {
                Ok(Document {
                    name: d.name.clone(),
                    kind: enumerated("referral.documents.kind", &DOCUMENT_KINDS, d.kind)?,
                    sha256: d.sha256.clone(),
                })
            })
            .collect::<Result<_, DecodeError>>()?,
    })
}

fn update(raw: &proto::ReferralUpdate) -> Result<ReferralUpdate, DecodeError> {
    Ok(ReferralUpdate {
        referral: ReferralKey {
            agency: agency("referral_update.agency", &raw.agency)?,
            id: EventId::parse(&raw.referral_id).map_err(field("referral_update.referral_id"))?,
        },
        action: enumerated("referral_update.action", &ACTIONS, raw.action)?,
        reason: raw.reason.clone(),
        forward_to: match raw.forward_to.as_str() {
            "" => None,
            to => Some(agency("referral_update.forward_to", to)?),
        },
    })
}

/// An envelope.
pub fn envelope(raw: &proto::Envelope) -> Result<Envelope, DecodeError> {
    use proto::envelope::Payload as P;
    let payload = match raw.payload.as_ref().ok_or_else(|| missing("payload"))? {
        P::Lead(l) => Payload::Lead(lead(l)?),
        P::CaseOutcome(o) => Payload::CaseOutcome(outcome(o)?),
        P::Referral(r) => Payload::Referral(referral(r)?),
        P::ReferralUpdate(u) => Payload::ReferralUpdate(update(u)?),
        P::Certificate(c) => Payload::Certificate(inspection::certificate_from(c)?),
        P::InspectionPlan(p) => Payload::InspectionPlan(inspection::plan_from(p)?),
        P::InspectionRecord(r) => Payload::InspectionRecord(inspection::record_from(r)?),
        P::InspectionCancel(c) => Payload::InspectionCancel(inspection::cancel_from(c)?),
        P::JointAnswer(a) => Payload::JointAnswer(inspection::answer_from(a)?),
    };
    Ok(Envelope {
        event_id: EventId::parse(&raw.event_id).map_err(field("event_id"))?,
        producer: agency("producer", &raw.producer)?,
        produced_at: timestamp("produced_at", raw.produced_at.as_ref())?,
        schema_version: raw.schema_version,
        payload,
        handling: match raw.handling {
            0 => Default::default(),
            n => enumerated("handling", &HANDLINGS, n)?,
        },
        warnings: raw.warnings.clone(),
    })
}
