//! A penalty decision's procedural record validated into the domain: days are real days and
//! not after the decision (except service), officers are certificate numbers, a proposed fine
//! is a valid amount, a review names its reviewer. The legal checks are the router's.

use jiff::civil::Date;

use super::*;
use crate::domain::inspection::CertificateNumber;
use crate::domain::procedure::{LegalReview, Procedure};

/// Most officers on one decision.
const MAX_OFFICERS: usize = 20;
/// Longest extension basis or reviewer name.
const TEXT: usize = 500;

impl Validator<'_> {
    /// The procedure of an outcome decided on `decided_on`.
    pub(super) fn procedure(
        &self,
        v: &mut Violations,
        raw: &proto::Procedure,
        decided_on: Option<Date>,
    ) -> Procedure {
        // 立案 and the violation come before the decision; a notice, hearing or review after it
        // is what the router's checks report, so those are only read as days here.
        let before_decision = |v: &mut Violations, field: &str, raw: &str| {
            let parsed = day(v, field, raw, false);
            if let (Some(d), Some(decided)) = (parsed, decided_on)
                && d > decided
            {
                v.push(
                    field,
                    RuleError::new(
                        "date.after_decision",
                        format!("{d} is after the decision day {decided}"),
                    ),
                );
            }
            parsed
        };
        let filed_on = before_decision(v, "outcome.procedure.filed_on", &raw.filed_on);
        let violation_on = before_decision(v, "outcome.procedure.violation_on", &raw.violation_on);
        if let (Some(violation), Some(filed)) = (violation_on, filed_on)
            && violation > filed
        {
            v.push(
                "outcome.procedure.violation_on",
                RuleError::new("date.order", "the violation comes before 立案"),
            );
        }
        let notified_on = day(v, "outcome.procedure.notified_on", &raw.notified_on, false);
        let hearing_requested_on = day(
            v,
            "outcome.procedure.hearing_requested_on",
            &raw.hearing_requested_on,
            false,
        );
        let hearing_held_on = day(
            v,
            "outcome.procedure.hearing_held_on",
            &raw.hearing_held_on,
            false,
        );
        if raw.officers.len() > MAX_OFFICERS {
            v.push(
                "outcome.procedure.officers",
                RuleError::new("officers.count", format!("at most {MAX_OFFICERS}")),
            );
        }
        let mut officers: Vec<CertificateNumber> = Vec::new();
        for (i, number) in raw.officers.iter().enumerate() {
            let field = format!("outcome.procedure.officers[{i}]");
            if let Some(number) = v.check(&field, CertificateNumber::parse(number)) {
                if officers.contains(&number) {
                    v.push(
                        field,
                        RuleError::new("officers.repeated", format!("{number} is named twice")),
                    );
                } else {
                    officers.push(number);
                }
            }
        }
        let proposed_fine_fen = raw.proposed_fine_fen.and_then(|fen| {
            v.check(
                "outcome.procedure.proposed_fine_fen",
                validate::amount_fen(fen),
            )
        });
        let review = raw.review.as_ref().and_then(|r| {
            let reviewer = v.check(
                "outcome.procedure.review.reviewer",
                validate::required_text(&r.reviewer, limits::NAME),
            );
            let on = day(
                v,
                "outcome.procedure.review.reviewed_on",
                &r.reviewed_on,
                true,
            );
            Some(LegalReview {
                reviewer: reviewer?,
                reviewed_on: on?,
                passed: r.passed,
            })
        });
        let served_on = day(v, "outcome.procedure.served_on", &raw.served_on, false);
        if let (Some(served), Some(decided)) = (served_on, decided_on)
            && served < decided
        {
            v.push(
                "outcome.procedure.served_on",
                RuleError::new("date.order", "a decision is served on or after its day"),
            );
        }
        let extension_basis = v
            .check(
                "outcome.procedure.extension_basis",
                validate::optional_text(&raw.extension_basis, TEXT),
            )
            .unwrap_or_default();
        Procedure {
            filed_on,
            violation_on,
            officers,
            notified_on,
            proposed_fine_fen,
            defence_received: raw.defence_received,
            hearing_offered: raw.hearing_offered,
            hearing_requested_on,
            hearing_held_on,
            review,
            served_on,
            party_present: raw.party_present,
            simple: raw.simple_procedure,
            extension_basis,
            serious_harm: raw.serious_harm,
            licence_revoked: raw.licence_revoked,
            closure_ordered: raw.closure_ordered,
            major_public_interest: raw.major_public_interest,
        }
    }
}
