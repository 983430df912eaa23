//! The gateway's errors and the one place they become gRPC `Status`es.
//!
//! Invalid input → INVALID_ARGUMENT with a `google.rpc.BadRequest` listing every field
//! violation; reused event id → ALREADY_EXISTS; log unavailable or shutting down → UNAVAILABLE
//! (safe to retry with the same event id); damaged store → INTERNAL (details logged, not sent).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::error;

use crate::bus::BusError;
use crate::domain::{FieldViolation, LogPosition, RuleError};
use crate::store::StoreError;

/// Why a gateway call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request broke validation rules; nothing was stored.
    #[error("invalid request: {}", list(.0))]
    Invalid(Vec<FieldViolation>),
    /// The event id was used before for different content.
    #[error("event id {event_id} was already published with different content (partition {} offset {})", existing.partition, existing.offset)]
    Conflict {
        /// The event id.
        event_id: String,
        /// Where the first event sits.
        existing: LogPosition,
    },
    /// A cursor past the end of the inbox.
    #[error("{0}")]
    OutOfRange(FieldViolation),
    /// No such referral.
    #[error("no referral {0}")]
    NoReferral(String),
    /// The referral id is taken.
    #[error("referral {0} already exists")]
    ReferralExists(String),
    /// The step is not allowed now, or not for this caller.
    #[error("{0}")]
    StepRefused(String),
    /// No such inspection plan.
    #[error("no inspection plan {0}")]
    NoPlan(String),
    /// The inspection plan id is taken.
    #[error("inspection plan {0} already exists")]
    PlanExists(String),
    /// No usable identity.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The caller is over its rate.
    #[error("{0}")]
    RateLimited(String),
    /// The log cannot take events now.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// One invalid field.
    pub fn field(field: &str, rule: &'static str, description: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldViolation {
            field: field.to_owned(),
            error: RuleError::new(rule, description),
        }])
    }
}

impl From<BusError> for ApiError {
    fn from(err: BusError) -> Self {
        match err {
            BusError::Storage(store) => ApiError::Store(store),
            other => ApiError::Unavailable(crate::telemetry::chain(&other)),
        }
    }
}

/// A rule name as a `google.rpc.BadRequest` reason: `uscc.checksum` → `USCC_CHECKSUM`.
fn reason(rule: &str) -> String {
    rule.replace('.', "_").to_ascii_uppercase()
}

fn bad_request(code: Code, message: String, violations: &[FieldViolation]) -> Status {
    let violations: Vec<tonic_types::FieldViolation> = violations
        .iter()
        .map(|v| tonic_types::FieldViolation {
            field: v.field.clone(),
            // The rule leads the description so that people reading grpcurl output see it;
            // programs match on `reason`.
            description: format!("{}: {}", v.error.rule, v.error.description),
            reason: reason(v.error.rule),
            localized_message: None,
        })
        .collect();
    Status::with_error_details(code, message, ErrorDetails::with_bad_request(violations))
}

/// Counts a refusal for `/metrics`: each broken rule, or the kind of refusal.
fn count_rejection(err: &ApiError) {
    let metrics = crate::telemetry::metrics::metrics();
    match err {
        ApiError::Invalid(violations) => {
            for v in violations {
                metrics.rejected(v.error.rule);
            }
        }
        ApiError::OutOfRange(v) => metrics.rejected(v.error.rule),
        ApiError::Conflict { .. } => metrics.rejected("event_id.reused"),
        ApiError::NoReferral(_) => metrics.rejected("referral.unknown"),
        ApiError::ReferralExists(_) => metrics.rejected("referral.exists"),
        ApiError::StepRefused(_) => metrics.rejected("referral.step_refused"),
        ApiError::NoPlan(_) => metrics.rejected("inspection.unknown"),
        ApiError::PlanExists(_) => metrics.rejected("inspection.exists"),
        ApiError::Unauthenticated(_) => metrics.rejected("unauthenticated"),
        ApiError::PermissionDenied(_) => metrics.rejected("permission_denied"),
        ApiError::RateLimited(_) => metrics.rejected("rate_limited"),
        ApiError::Unavailable(_) => metrics.rejected("unavailable"),
        ApiError::Store(_) => metrics.rejected("internal"),
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        count_rejection(&err);
        let message = err.to_string();
        match err {
            ApiError::Invalid(violations) => {
                bad_request(Code::InvalidArgument, message, &violations)
            }
            ApiError::Store(StoreError::PageToken) => bad_request(
                Code::InvalidArgument,
                message.clone(),
                &[FieldViolation {
                    field: "page_token".into(),
                    error: RuleError::new("page_token.invalid", message),
                }],
            ),
            ApiError::OutOfRange(violation) => bad_request(Code::OutOfRange, message, &[violation]),
            ApiError::Conflict { .. } | ApiError::ReferralExists(_) | ApiError::PlanExists(_) => {
                Status::already_exists(message)
            }
            ApiError::NoReferral(_) | ApiError::NoPlan(_) => Status::not_found(message),
            ApiError::StepRefused(_) => Status::failed_precondition(message),
            ApiError::Unauthenticated(_) => Status::unauthenticated(message),
            ApiError::PermissionDenied(_) => Status::permission_denied(message),
            ApiError::RateLimited(_) => Status::resource_exhausted(message),
            ApiError::Unavailable(_) => Status::unavailable(message),
            ApiError::Store(store) => {
                error!(error = %crate::telemetry::chain(&store), "store failure answering a request");
                Status::internal(
                    "the broker's store failed; the operator has the details in the log",
                )
            }
        }
    }
}

impl From<ApiError> for crate::proto::PublishError {
    /// A refusal of one event on a publish stream: the code and message a unary call's
    /// `Status` would carry, with the violations' rules apart.
    fn from(err: ApiError) -> Self {
        let violations = match &err {
            ApiError::Invalid(violations) => violations
                .iter()
                .map(|v| crate::proto::FieldViolation {
                    field: v.field.clone(),
                    rule: v.error.rule.to_owned(),
                    description: v.error.description.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let status = Status::from(err);
        crate::proto::PublishError {
            code: status.code() as i32,
            message: status.message().to_owned(),
            violations,
        }
    }
}

/// Violation descriptions in `Status` details are `rule: description`; this reads the rule back
/// (for clients and tests).
pub fn violation_rule(description: &str) -> &str {
    description.split(':').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_requests_carry_every_violation() {
        let status: Status = ApiError::Invalid(vec![
            FieldViolation {
                field: "lead.subject.id".into(),
                error: RuleError::new("uscc.checksum", "bad"),
            },
            FieldViolation {
                field: "lead.domain".into(),
                error: RuleError::new("enum.unspecified", "must be set"),
            },
        ])
        .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violations = &details.bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 2);
        assert_eq!(violations[0].field, "lead.subject.id");
        assert_eq!(violation_rule(&violations[0].description), "uscc.checksum");
        assert_eq!(violations[0].reason, "USCC_CHECKSUM");
    }

    #[test]
    fn bus_closure_is_unavailable_and_store_damage_is_internal() {
        let status: Status = ApiError::from(BusError::Closed).into();
        assert_eq!(status.code(), Code::Unavailable);
        let status: Status = ApiError::Store(StoreError::Corrupt {
            tree: "events",
            reason: "secret detail".into(),
        })
        .into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn a_refused_stream_event_says_what_a_unary_status_would() {
        let error = crate::proto::PublishError::from(ApiError::field(
            "lead.subject.id",
            "uscc.checksum",
            "bad",
        ));
        assert_eq!(error.code, Code::InvalidArgument as i32);
        assert_eq!(error.violations[0].rule, "uscc.checksum");
        assert_eq!(error.violations[0].field, "lead.subject.id");
        let error = crate::proto::PublishError::from(ApiError::RateLimited("slow down".into()));
        assert_eq!(error.code, Code::ResourceExhausted as i32);
        assert_eq!(error.message, "slow down");
        assert!(error.violations.is_empty());
    }
}
