//! Domain values as protobuf messages: the event envelope (what the log carries and readers
//! receive) and the parts it shares with referrals and alerts.

use jiff::Timestamp;

use super::inspection;
use super::tables::{
    ACTIONS, DECISIONS, DOCUMENT_KINDS, DOMAINS, HANDLINGS, SENSITIVITIES, SEVERITIES, number,
};
use crate::domain::referral::{Referral, ReferralUpdate};
use crate::domain::{
    Envelope, EventKey, EventKind, Facts, LogPosition, Payload, Subject, SubjectId,
};
use crate::proto;

/// A timestamp as protobuf.
pub fn ts(at: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.as_second(),
        nanos: at.subsec_nanosecond(),
    }
}

/// A subject as protobuf.
pub fn subject(s: &Subject) -> proto::Subject {
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

/// Facts as protobuf, in name order.
pub fn facts(facts: &Facts) -> Vec<proto::Fact> {
    facts
        .iter()
        .map(|(name, value)| proto::Fact {
            name: name.clone(),
            value: *value,
        })
        .collect()
}

/// An event key as the `LeadRef` that names it.
pub fn lead_ref(key: &EventKey) -> proto::LeadRef {
    proto::LeadRef {
        producer: key.producer.to_string(),
        event_id: key.event_id.to_string(),
    }
}

/// A log position as protobuf.
pub fn position(p: LogPosition) -> proto::LogPosition {
    proto::LogPosition {
        partition: p.partition,
        offset: p.offset,
    }
}

/// A domain's `xiezhi.v1.Domain` number.
pub fn domain_number(domain: crate::domain::Domain) -> i32 {
    number(&DOMAINS, domain)
}

/// An event kind as protobuf.
pub fn kind(kind: EventKind) -> proto::EventKind {
    match kind {
        EventKind::Lead => proto::EventKind::Lead,
        EventKind::CaseOutcome => proto::EventKind::CaseOutcome,
        EventKind::Referral => proto::EventKind::Referral,
        EventKind::ReferralUpdate => proto::EventKind::ReferralUpdate,
        EventKind::Certificate => proto::EventKind::Certificate,
        EventKind::InspectionPlan => proto::EventKind::InspectionPlan,
        EventKind::InspectionRecord => proto::EventKind::InspectionRecord,
        EventKind::InspectionCancel => proto::EventKind::InspectionCancel,
        EventKind::JointAnswer => proto::EventKind::JointAnswer,
    }
}

/// An envelope as protobuf: what the log carries and readers receive.
pub fn envelope(e: &Envelope) -> proto::Envelope {
    use proto::envelope::Payload as P;
    let payload = match &e.payload {
        Payload::Lead(l) => proto::envelope::Payload::Lead(proto::Lead {
            subject: Some(subject(&l.subject)),
            division: l.division.as_str().to_owned(),
            domain: number(&DOMAINS, l.domain),
            offence_code: l.offence_code.as_str().to_owned(),
            summary: l.summary.clone(),
            facts: facts(&l.facts),
            observed_at: l.observed_at.map(ts),
            sensitivity: number(&SENSITIVITIES, l.sensitivity),
            target_agencies: l.target_agencies.iter().map(ToString::to_string).collect(),
        }),
        Payload::CaseOutcome(o) => proto::envelope::Payload::CaseOutcome(proto::CaseOutcome {
            case_number: o.case_number.clone(),
            subject: Some(subject(&o.subject)),
            division: o.division.as_str().to_owned(),
            domain: number(&DOMAINS, o.domain),
            offence_code: o.offence_code.as_str().to_owned(),
            decision: number(&DECISIONS, o.decision),
            fine_fen: o.fine_fen,
            confiscated_fen: o.confiscated_fen,
            facts: facts(&o.facts),
            decided_at: Some(ts(o.decided_at)),
            lead: o.lead.as_ref().map(lead_ref),
            legal_basis: o.legal_basis.clone(),
            sensitivity: number(&SENSITIVITIES, o.sensitivity),
            severity: o.severity.map_or(0, |s| number(&SEVERITIES, s)),
            procedure: o.procedure.as_deref().map(super::procedure::procedure),
            historic: o.historic,
        }),
        Payload::Referral(r) => proto::envelope::Payload::Referral(referral(r)),
        Payload::ReferralUpdate(u) => proto::envelope::Payload::ReferralUpdate(update(u)),
        Payload::Certificate(c) => P::Certificate(inspection::certificate(c)),
        Payload::InspectionPlan(p) => P::InspectionPlan(inspection::plan(p)),
        Payload::InspectionRecord(r) => P::InspectionRecord(inspection::record(r)),
        Payload::InspectionCancel(c) => P::InspectionCancel(inspection::cancel(c)),
        Payload::JointAnswer(a) => P::JointAnswer(inspection::answer(a)),
    };
    proto::Envelope {
        event_id: e.event_id.to_string(),
        kind: kind(e.kind()) as i32,
        producer: e.producer.to_string(),
        produced_at: Some(ts(e.produced_at)),
        schema_version: e.schema_version,
        handling: number(&HANDLINGS, e.handling),
        payload: Some(payload),
        warnings: e.warnings.clone(),
    }
}

/// A transfer report as protobuf.
pub fn referral(r: &Referral) -> proto::Referral {
    proto::Referral {
        referral_id: r.referral_id.to_string(),
        police: r.police.to_string(),
        case_number: r.case_number.clone(),
        subject: Some(subject(&r.subject)),
        division: r.division.as_str().to_owned(),
        domain: number(&DOMAINS, r.domain),
        offence_code: r.offence_code.as_str().to_owned(),
        summary: r.summary.clone(),
        facts: facts(&r.facts),
        documents: r
            .documents
            .iter()
            .map(|d| proto::Document {
                name: d.name.clone(),
                kind: number(&DOCUMENT_KINDS, d.kind),
                sha256: d.sha256.clone(),
            })
            .collect(),
    }
}

/// A referral step as protobuf.
pub fn update(u: &ReferralUpdate) -> proto::ReferralUpdate {
    proto::ReferralUpdate {
        agency: u.referral.agency.to_string(),
        referral_id: u.referral.id.to_string(),
        action: number(&ACTIONS, u.action),
        reason: u.reason.clone(),
        forward_to: u
            .forward_to
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}
