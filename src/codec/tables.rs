//! Pairs of protobuf and domain enum values, one table per enum; one table serves both
//! directions, for the log and store codecs and for the gateway's validation and answers.

use crate::domain::referral::DocumentKind;
use crate::domain::{
    Action, AlertKind, Decision, DeliveryReason, Domain, Handling, LeadStatus, Party, Sensitivity,
    Severity, State,
};
use crate::proto;

/// Pairs of protobuf and domain enum values; one table serves both directions.
pub(crate) const DOMAINS: [(proto::Domain, Domain); 12] = [
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
pub(crate) const SENSITIVITIES: [(proto::Sensitivity, Sensitivity); 3] = [
    (proto::Sensitivity::Public, Sensitivity::Public),
    (proto::Sensitivity::Internal, Sensitivity::Internal),
    (proto::Sensitivity::Restricted, Sensitivity::Restricted),
];
pub(crate) const DECISIONS: [(proto::Decision, Decision); 5] = [
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
pub(crate) const LEAD_STATUSES: [(proto::LeadStatus, LeadStatus); 3] = [
    (proto::LeadStatus::Open, LeadStatus::Open),
    (proto::LeadStatus::Unassigned, LeadStatus::Unassigned),
    (proto::LeadStatus::Closed, LeadStatus::Closed),
];
pub(crate) const HANDLINGS: [(proto::HandlingCode, Handling); 3] = [
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
pub(crate) const SEVERITIES: [(proto::Severity, Severity); 3] = [
    (proto::Severity::Minor, Severity::Minor),
    (proto::Severity::General, Severity::General),
    (proto::Severity::Serious, Severity::Serious),
];
pub(crate) const REASONS: [(proto::DeliveryReason, DeliveryReason); 6] = [
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

pub(crate) fn to_domain<P: PartialEq + Copy, D: Copy>(table: &[(P, D)], p: P) -> Option<D> {
    table.iter().find(|(x, _)| *x == p).map(|(_, d)| *d)
}

pub(crate) fn to_proto<P: Copy, D: PartialEq + Copy>(table: &[(P, D)], d: D) -> P {
    // Every table lists every domain value: the lookup cannot miss.
    table
        .iter()
        .find(|(_, x)| *x == d)
        .map(|(p, _)| *p)
        .expect("enum table covers every domain value")
}

pub(crate) const STATES: [(proto::ReferralState, State); 19] = [
    (proto::ReferralState::Reported, State::Reported),
    (
        proto::ReferralState::RefusedByAgency,
        State::RefusedByAgency,
    ),
    (proto::ReferralState::Approved, State::Approved),
    (proto::ReferralState::Transferred, State::Transferred),
    (proto::ReferralState::Received, State::Received),
    (proto::ReferralState::Filed, State::Filed),
    (proto::ReferralState::NotFiled, State::NotFiled),
    (
        proto::ReferralState::ReconsiderationRequested,
        State::ReconsiderationRequested,
    ),
    (
        proto::ReferralState::ReconsiderationUpheld,
        State::ReconsiderationUpheld,
    ),
    (
        proto::ReferralState::SupervisionRequested,
        State::SupervisionRequested,
    ),
    (
        proto::ReferralState::ExplanationRequested,
        State::ExplanationRequested,
    ),
    (proto::ReferralState::Explained, State::Explained),
    (proto::ReferralState::FilingOrdered, State::FilingOrdered),
    (
        proto::ReferralState::SupervisionClosed,
        State::SupervisionClosed,
    ),
    (proto::ReferralState::Prosecuted, State::Prosecuted),
    (proto::ReferralState::NotProsecuted, State::NotProsecuted),
    (
        proto::ReferralState::ReverseTransferred,
        State::ReverseTransferred,
    ),
    (proto::ReferralState::OpinionIssued, State::OpinionIssued),
    (
        proto::ReferralState::PenaltyReported,
        State::PenaltyReported,
    ),
];
pub(crate) const ACTIONS: [(proto::ReferralAction, Action); 20] = [
    (proto::ReferralAction::Approve, Action::Approve),
    (proto::ReferralAction::Refuse, Action::Refuse),
    (proto::ReferralAction::Transfer, Action::Transfer),
    (proto::ReferralAction::Receive, Action::Receive),
    (proto::ReferralAction::Forward, Action::Forward),
    (proto::ReferralAction::File, Action::File),
    (proto::ReferralAction::DeclineToFile, Action::DeclineToFile),
    (
        proto::ReferralAction::RequestReconsideration,
        Action::RequestReconsideration,
    ),
    (proto::ReferralAction::UpholdRefusal, Action::UpholdRefusal),
    (
        proto::ReferralAction::RequestSupervision,
        Action::RequestSupervision,
    ),
    (
        proto::ReferralAction::RequestExplanation,
        Action::RequestExplanation,
    ),
    (proto::ReferralAction::Explain, Action::Explain),
    (proto::ReferralAction::OrderFiling, Action::OrderFiling),
    (
        proto::ReferralAction::CloseSupervision,
        Action::CloseSupervision,
    ),
    (proto::ReferralAction::HandOverGoods, Action::HandOverGoods),
    (proto::ReferralAction::Prosecute, Action::Prosecute),
    (
        proto::ReferralAction::DeclineToProsecute,
        Action::DeclineToProsecute,
    ),
    (
        proto::ReferralAction::ReverseTransfer,
        Action::ReverseTransfer,
    ),
    (proto::ReferralAction::IssueOpinion, Action::IssueOpinion),
    (proto::ReferralAction::ReportPenalty, Action::ReportPenalty),
];
pub(crate) const PARTIES: [(proto::Party, Party); 3] = [
    (proto::Party::Agency, Party::Agency),
    (proto::Party::Police, Party::Police),
    (proto::Party::Procuratorate, Party::Procuratorate),
];
pub(crate) const DOCUMENT_KINDS: [(proto::DocumentKind, DocumentKind); 5] = [
    (
        proto::DocumentKind::TransferLetter,
        DocumentKind::TransferLetter,
    ),
    (
        proto::DocumentKind::InvestigationReport,
        DocumentKind::InvestigationReport,
    ),
    (proto::DocumentKind::ItemsList, DocumentKind::ItemsList),
    (
        proto::DocumentKind::InspectionReport,
        DocumentKind::InspectionReport,
    ),
    (proto::DocumentKind::Other, DocumentKind::Other),
];
pub(crate) const ALERT_KINDS: [(proto::AlertKind, AlertKind); 12] = [
    (proto::AlertKind::PossibleCrime, AlertKind::PossibleCrime),
    (
        proto::AlertKind::PenaltyInsteadOfReferral,
        AlertKind::PenaltyInsteadOfReferral,
    ),
    (
        proto::AlertKind::DuplicatePenalty,
        AlertKind::DuplicatePenalty,
    ),
    (proto::AlertKind::SplitCase, AlertKind::SplitCase),
    (
        proto::AlertKind::DiscretionDeviation,
        AlertKind::DiscretionDeviation,
    ),
    (proto::AlertKind::Overdue, AlertKind::Overdue),
    (proto::AlertKind::LateDisclosure, AlertKind::LateDisclosure),
    (
        proto::AlertKind::AnswerByNonRecipient,
        AlertKind::AnswerByNonRecipient,
    ),
    (
        proto::AlertKind::OutcomeWithoutLead,
        AlertKind::OutcomeWithoutLead,
    ),
    (
        proto::AlertKind::InspectionIrregular,
        AlertKind::InspectionIrregular,
    ),
    (
        proto::AlertKind::JointInspection,
        AlertKind::JointInspection,
    ),
    (
        proto::AlertKind::ProcedureIrregular,
        AlertKind::ProcedureIrregular,
    ),
];

/// The domain value of a protobuf enum number; `None` for UNSPECIFIED and unknown numbers.
pub(crate) fn from_number<P: TryFrom<i32> + PartialEq + Copy, D: Copy>(
    table: &[(P, D)],
    number: i32,
) -> Option<D> {
    P::try_from(number).ok().and_then(|p| to_domain(table, p))
}

/// The protobuf enum number of a domain value.
pub(crate) fn number<P: Copy + Into<i32>, D: PartialEq + Copy>(table: &[(P, D)], d: D) -> i32 {
    to_proto(table, d).into()
}
