//! The inspection payloads (涉企行政检查) between protobuf and the domain, both directions:
//! certificates, plans, records, cancellations and answers to joint-inspection proposals.

use jiff::civil::Date;

use super::DecodeError;
use super::from_proto::{day, enumerated, event_key, field, missing, subject as subject_from};
use super::tables::{DOMAINS, number};
use super::to_proto::{lead_ref, subject};
use crate::domain::inspection::{
    Certificate, CertificateNumber, InspectionCancel, InspectionPlan, InspectionRecord,
    JointAnswer, PlanReason, RiskGrade,
};
use crate::domain::{AgencyId, DivisionCode, EventId, Uscc};
use crate::proto;

pub(crate) const REASONS: [(proto::InspectionReason, PlanReason); 4] = [
    (proto::InspectionReason::Random, PlanReason::Random),
    (proto::InspectionReason::Complaint, PlanReason::Complaint),
    (proto::InspectionReason::Referral, PlanReason::Referral),
    (
        proto::InspectionReason::HigherOrder,
        PlanReason::HigherOrder,
    ),
];
pub(crate) const GRADES: [(proto::RiskGrade, RiskGrade); 4] = [
    (proto::RiskGrade::A, RiskGrade::A),
    (proto::RiskGrade::B, RiskGrade::B),
    (proto::RiskGrade::C, RiskGrade::C),
    (proto::RiskGrade::D, RiskGrade::D),
];

/// A certificate as protobuf.
pub fn certificate(c: &Certificate) -> proto::Certificate {
    proto::Certificate {
        number: c.number.to_string(),
        holder: Some(subject(&c.holder)),
        agency: c.agency.to_string(),
        domains: c.domains.iter().map(|d| number(&DOMAINS, *d)).collect(),
        valid_from: c.valid_from.to_string(),
        valid_until: c.valid_until.to_string(),
        revoked: c.revoked,
        revoked_reason: c.revoked_reason.clone(),
    }
}

/// A plan as protobuf.
pub fn plan(p: &InspectionPlan) -> proto::InspectionPlan {
    proto::InspectionPlan {
        plan_id: p.plan_id.to_string(),
        enterprise: Some(subject(&p.enterprise)),
        division: p.division.as_str().to_owned(),
        items: p.items.clone(),
        window_start: p.window_start.to_string(),
        window_end: p.window_end.to_string(),
        reason: number(&REASONS, p.reason),
        risk_grade: p.risk_grade.map_or(0, |g| number(&GRADES, g)),
        remote: p.remote,
        assistance_reason: p.assistance_reason.clone(),
        verify_code: p.verify_code.clone(),
    }
}

/// A record as protobuf.
pub fn record(r: &InspectionRecord) -> proto::InspectionRecord {
    proto::InspectionRecord {
        plan_id: r.plan_id.to_string(),
        enterprise: r.enterprise.as_str().to_owned(),
        date: r.date.to_string(),
        inspectors: r.inspectors.iter().map(ToString::to_string).collect(),
        items: r.items.clone(),
        result: if r.finding {
            proto::InspectionResult::Finding
        } else {
            proto::InspectionResult::NoFinding
        } as i32,
        lead: r.lead.as_ref().map(lead_ref),
        remarks: r.remarks.clone(),
    }
}

/// A cancellation as protobuf.
pub fn cancel(c: &InspectionCancel) -> proto::InspectionCancel {
    proto::InspectionCancel {
        plan_id: c.plan_id.to_string(),
        enterprise: c.enterprise.as_str().to_owned(),
        reason: c.reason.clone(),
    }
}

/// An answer as protobuf.
pub fn answer(a: &JointAnswer) -> proto::JointAnswer {
    proto::JointAnswer {
        plan_id: a.plan_id.to_string(),
        enterprise: a.enterprise.as_str().to_owned(),
        accept: a.accept,
        reason: a.reason.clone(),
    }
}

/// A required day.
fn date(name: &'static str, raw: &str) -> Result<Date, DecodeError> {
    day(name, raw)?.ok_or_else(|| missing(name))
}

fn plan_id(name: &'static str, raw: &str) -> Result<EventId, DecodeError> {
    EventId::parse(raw).map_err(field(name))
}

fn uscc(name: &'static str, raw: &str) -> Result<Uscc, DecodeError> {
    Uscc::parse_format(raw).map_err(field(name))
}

/// A certificate from protobuf.
pub fn certificate_from(raw: &proto::Certificate) -> Result<Certificate, DecodeError> {
    Ok(Certificate {
        number: CertificateNumber::parse(&raw.number).map_err(field("certificate.number"))?,
        holder: subject_from("certificate.holder", raw.holder.as_ref())?,
        agency: AgencyId::parse(&raw.agency).map_err(field("certificate.agency"))?,
        domains: raw
            .domains
            .iter()
            .map(|d| enumerated("certificate.domains", &DOMAINS, *d))
            .collect::<Result<_, _>>()?,
        valid_from: date("certificate.valid_from", &raw.valid_from)?,
        valid_until: date("certificate.valid_until", &raw.valid_until)?,
        revoked: raw.revoked,
        revoked_reason: raw.revoked_reason.clone(),
    })
}

/// A plan from protobuf.
pub fn plan_from(raw: &proto::InspectionPlan) -> Result<InspectionPlan, DecodeError> {
    Ok(InspectionPlan {
        plan_id: plan_id("inspection_plan.plan_id", &raw.plan_id)?,
        enterprise: subject_from("inspection_plan.enterprise", raw.enterprise.as_ref())?,
        division: DivisionCode::parse(&raw.division).map_err(field("inspection_plan.division"))?,
        items: raw.items.clone(),
        window_start: date("inspection_plan.window_start", &raw.window_start)?,
        window_end: date("inspection_plan.window_end", &raw.window_end)?,
        reason: enumerated("inspection_plan.reason", &REASONS, raw.reason)?,
        risk_grade: match raw.risk_grade {
            0 => None,
            n => Some(enumerated("inspection_plan.risk_grade", &GRADES, n)?),
        },
        remote: raw.remote,
        assistance_reason: raw.assistance_reason.clone(),
        verify_code: raw.verify_code.clone(),
    })
}

/// A record from protobuf.
pub fn record_from(raw: &proto::InspectionRecord) -> Result<InspectionRecord, DecodeError> {
    Ok(InspectionRecord {
        plan_id: plan_id("inspection_record.plan_id", &raw.plan_id)?,
        enterprise: uscc("inspection_record.enterprise", &raw.enterprise)?,
        date: date("inspection_record.date", &raw.date)?,
        inspectors: raw
            .inspectors
            .iter()
            .map(|n| CertificateNumber::parse(n).map_err(field("inspection_record.inspectors")))
            .collect::<Result<_, _>>()?,
        items: raw.items.clone(),
        finding: raw.result == proto::InspectionResult::Finding as i32,
        lead: raw
            .lead
            .as_ref()
            .map(|l| event_key("inspection_record.lead", l))
            .transpose()?,
        remarks: raw.remarks.clone(),
    })
}

/// A cancellation from protobuf.
pub fn cancel_from(raw: &proto::InspectionCancel) -> Result<InspectionCancel, DecodeError> {
    Ok(InspectionCancel {
        plan_id: plan_id("inspection_cancel.plan_id", &raw.plan_id)?,
        enterprise: uscc("inspection_cancel.enterprise", &raw.enterprise)?,
        reason: raw.reason.clone(),
    })
}

/// An answer from protobuf.
pub fn answer_from(raw: &proto::JointAnswer) -> Result<JointAnswer, DecodeError> {
    Ok(JointAnswer {
        plan_id: plan_id("joint_answer.plan_id", &raw.plan_id)?,
        enterprise: uscc("joint_answer.enterprise", &raw.enterprise)?,
        accept: raw.accept,
        reason: raw.reason.clone(),
    })
}
