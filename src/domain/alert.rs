//! Alerts: what the broker notices on its own and tells the people who must act — a lead that
//! may be a crime, a penalty imposed where a referral was due (以罚代刑), one subject penalised
//! by several agencies for one conduct (多头受罚), small cases that together cross a threshold
//! (化整为零), a fine outside its discretion band, a statutory deadline missed.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::event::EventKey;
use super::ids::{AgencyId, DivisionCode};
use super::referral::ReferralKey;
use super::vocab::Subject;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A lead's facts meet a prosecution threshold (追诉预警).
    PossibleCrime,
    /// A penalty whose facts meet a threshold, with no referral within the grace period (以罚代刑).
    PenaltyInsteadOfReferral,
    /// The same subject penalised by two or more agencies for the same conduct (多头受罚).
    DuplicatePenalty,
    /// Small cases of one subject that together cross a threshold (化整为零).
    SplitCase,
    /// A fine outside its discretion band (同案不同罚).
    DiscretionDeviation,
    /// A statutory deadline passed without the step.
    Overdue,
    /// A public penalty decision that reached the broker after its 双公示 date.
    LateDisclosure,
    /// An outcome answering a lead that was not sent to its agency: recorded, the lead left open.
    AnswerByNonRecipient,
    /// An outcome naming a lead that had not arrived after the configured wait.
    OutcomeWithoutLead,
    /// An inspection that breaks a rule of 涉企行政检查 (the rule id names the check).
    InspectionIrregular,
    /// Agencies planning to inspect one enterprise at about the same time: 综合查一次 proposed.
    JointInspection,
    /// A penalty decision whose procedure breaks the 行政处罚法 (the rule id names the article).
    ProcedureIrregular,
}

impl AlertKind {
    /// Every kind, for the metrics' series present from start.
    pub const ALL: [AlertKind; 12] = [
        AlertKind::PossibleCrime,
        AlertKind::PenaltyInsteadOfReferral,
        AlertKind::DuplicatePenalty,
        AlertKind::SplitCase,
        AlertKind::DiscretionDeviation,
        AlertKind::Overdue,
        AlertKind::LateDisclosure,
        AlertKind::AnswerByNonRecipient,
        AlertKind::OutcomeWithoutLead,
        AlertKind::InspectionIrregular,
        AlertKind::JointInspection,
        AlertKind::ProcedureIrregular,
    ];

    /// Its name in snake case, as in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::PossibleCrime => "possible_crime",
            AlertKind::PenaltyInsteadOfReferral => "penalty_instead_of_referral",
            AlertKind::DuplicatePenalty => "duplicate_penalty",
            AlertKind::SplitCase => "split_case",
            AlertKind::DiscretionDeviation => "discretion_deviation",
            AlertKind::Overdue => "overdue",
            AlertKind::LateDisclosure => "late_disclosure",
            AlertKind::AnswerByNonRecipient => "answer_by_non_recipient",
            AlertKind::OutcomeWithoutLead => "outcome_without_lead",
            AlertKind::InspectionIrregular => "inspection_irregular",
            AlertKind::JointInspection => "joint_inspection",
            AlertKind::ProcedureIrregular => "procedure_irregular",
        }
    }
}

/// One alert, as stored and delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The store's id (its sequence number).
    pub id: u64,
    /// What it is about.
    pub kind: AlertKind,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// The rule (threshold id, band, or deadline step) that raised it.
    pub rule_id: String,
    /// The rule's title or the step's description.
    pub title: String,
    /// The legal source.
    pub citation: String,
    /// The facts that met the rule, with their values.
    pub facts: BTreeMap<String, i64>,
    /// The party concerned.
    pub subject: Option<Subject>,
    /// Where.
    pub division: Option<DivisionCode>,
    /// The events it is about.
    pub events: Vec<EventKey>,
    /// The referral it is about.
    pub referral: Option<ReferralKey>,
    /// For an overdue step: the agency that is late.
    pub late: Option<AgencyId>,
    /// For an overdue step: when it was due.
    pub due: Option<Timestamp>,
    /// Anything else, in words.
    pub detail: String,
    /// The agencies party to what the alert is about (producers and recipients of its events,
    /// the referral's parties): they see its personal data unmasked.
    #[serde(default)]
    pub parties: Vec<AgencyId>,
}

/// Windows and grace periods of the alerts; policy choices of the deployment, not law.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertWindows {
    /// How long after a penalty meeting a threshold a referral may still come before the
    /// 以罚代刑 alert.
    pub referral_grace: SignedDuration,
    /// How far back another agency's penalty for the same conduct counts as 多头受罚.
    pub duplicate_window: SignedDuration,
    /// How far back small cases are added up for 化整为零.
    pub split_window: SignedDuration,
    /// How long an outcome waits for the lead it names before the coordinators are told.
    pub outcome_lead_wait: SignedDuration,
    /// Working days within which an answer to a lead counts as timely (反馈及时率).
    pub lead_answer_working_days: u32,
}

impl Default for AlertWindows {
    fn default() -> Self {
        Self {
            referral_grace: SignedDuration::from_hours(7 * 24),
            duplicate_window: SignedDuration::from_hours(180 * 24),
            split_window: SignedDuration::from_hours(365 * 24),
            outcome_lead_wait: SignedDuration::from_secs(600),
            lead_answer_working_days: 15,
        }
    }
}
