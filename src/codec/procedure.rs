//! A penalty decision's procedural record (执法全过程记录) between protobuf and the domain.

use jiff::civil::Date;

use super::DecodeError;
use super::from_proto::day as read_day;
use crate::domain::inspection::CertificateNumber;
use crate::domain::procedure::{LegalReview, Procedure};
use crate::proto;

fn day(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// A procedure as protobuf.
pub fn procedure(p: &Procedure) -> proto::Procedure {
    proto::Procedure {
        filed_on: day(p.filed_on),
        violation_on: day(p.violation_on),
        officers: p.officers.iter().map(ToString::to_string).collect(),
        notified_on: day(p.notified_on),
        proposed_fine_fen: p.proposed_fine_fen,
        defence_received: p.defence_received,
        hearing_offered: p.hearing_offered,
        hearing_requested_on: day(p.hearing_requested_on),
        hearing_held_on: day(p.hearing_held_on),
        review: p.review.as_ref().map(|r| proto::LegalReview {
            reviewer: r.reviewer.clone(),
            reviewed_on: r.reviewed_on.to_string(),
            passed: r.passed,
        }),
        served_on: day(p.served_on),
        party_present: p.party_present,
        simple_procedure: p.simple,
        extension_basis: p.extension_basis.clone(),
        serious_harm: p.serious_harm,
        licence_revoked: p.licence_revoked,
        closure_ordered: p.closure_ordered,
        major_public_interest: p.major_public_interest,
    }
}

/// A procedure from protobuf (as the log and the store carry it).
pub fn procedure_from(raw: &proto::Procedure) -> Result<Procedure, DecodeError> {
    Ok(Procedure {
        filed_on: read_day("procedure.filed_on", &raw.filed_on)?,
        violation_on: read_day("procedure.violation_on", &raw.violation_on)?,
        officers: raw
            .officers
            .iter()
            .map(|n| {
                CertificateNumber::parse(n).map_err(|e| DecodeError::Field {
                    field: "procedure.officers",
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?,
        notified_on: read_day("procedure.notified_on", &raw.notified_on)?,
        proposed_fine_fen: raw.proposed_fine_fen,
        defence_received: raw.defence_received,
        hearing_offered: raw.hearing_offered,
        hearing_requested_on: read_day(
            "procedure.hearing_requested_on",
            &raw.hearing_requested_on,
        )?,
        hearing_held_on: read_day("procedure.hearing_held_on", &raw.hearing_held_on)?,
        review: match &raw.review {
            None => None,
            Some(r) => Some(LegalReview {
                reviewer: r.reviewer.clone(),
                reviewed_on: read_day("procedure.review.reviewed_on", &r.reviewed_on)?.ok_or(
                    DecodeError::Field {
                        field: "procedure.review.reviewed_on",
                        reason: "missing".into(),
                    },
                )?,
                passed: r.passed,
            }),
        },
        served_on: read_day("procedure.served_on", &raw.served_on)?,
        party_present: raw.party_present,
        simple: raw.simple_procedure,
        extension_basis: raw.extension_basis.clone(),
        serious_harm: raw.serious_harm,
        licence_revoked: raw.licence_revoked,
        closure_ordered: raw.closure_ordered,
        major_public_interest: raw.major_public_interest,
    })
}
