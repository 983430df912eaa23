//! 涉企行政检查 (国办发〔2024〕54号, published 2025-01-03): the events of inspections shared
//! across agencies — certificates (执法证), plans, records, cancellations, answers to joint
//! inspections — and where a plan stands. The published items and caps are in [`items`]; the
//! checks, as pure functions with their sources, in [`checks`].

pub mod checks;
pub mod items;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::event::EventKey;
use super::ids::{AgencyId, DivisionCode, EventId, Uscc};
use super::validate::RuleError;
use super::vocab::{Domain, Subject};

pub use items::{InspectionRules, ItemKind, ProvinceRules};

/// A certificate number (执法证号): 4–32 characters from `A-Z 0-9 -`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CertificateNumber(String);

impl CertificateNumber {
    /// Checks the format (letters are taken upper-case).
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        let upper = raw.trim().to_ascii_uppercase();
        let ok = (4..=32).contains(&upper.len())
            && upper
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(upper))
        } else {
            Err(RuleError::new(
                "certificate.number",
                "must be 4–32 characters from A-Z 0-9 -",
            ))
        }
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A law-enforcement certificate (行政执法证) as 司法行政 publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Its number.
    pub number: CertificateNumber,
    /// The holder (a person).
    pub holder: Subject,
    /// The agency the officer serves.
    pub agency: AgencyId,
    /// The domains it covers.
    pub domains: Vec<Domain>,
    /// First day of validity (China Standard Time).
    pub valid_from: Date,
    /// Last day of validity, inclusive.
    pub valid_until: Date,
    /// Revoked.
    pub revoked: bool,
    /// Why.
    pub revoked_reason: String,
}

/// A certificate as the store knows it: who published it and the day a revocation took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateEntry {
    /// The certificate as last published.
    pub certificate: Certificate,
    /// The coordinator that published it.
    pub issuer: AgencyId,
    /// The first day (China Standard Time) it is revoked on.
    pub revoked_on: Option<Date>,
}

/// Why an inspection is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanReason {
    /// 双随机、一公开.
    Random,
    /// 投诉举报.
    Complaint,
    /// A lead or case transferred from another agency.
    Referral,
    /// 上级交办.
    HigherOrder,
}

/// 企业信用风险分类, A (low) to D (high).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RiskGrade {
    /// Low risk.
    A,
    /// General.
    B,
    /// Elevated.
    C,
    /// High.
    D,
}

/// An inspection an agency plans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionPlan {
    /// The agency's id for it.
    pub plan_id: EventId,
    /// The enterprise (an organisation).
    pub enterprise: Subject,
    /// Where the enterprise is.
    pub division: DivisionCode,
    /// Item codes.
    pub items: Vec<String>,
    /// First day of the window.
    pub window_start: Date,
    /// Last day of the window.
    pub window_end: Date,
    /// Why.
    pub reason: PlanReason,
    /// The enterprise's risk grade, if given.
    pub risk_grade: Option<RiskGrade>,
    /// 非现场: no visit.
    pub remote: bool,
    /// Why outside the agency's territory.
    pub assistance_reason: String,
    /// The verification code the broker gave it (扫码入企).
    pub verify_code: String,
}

/// An inspection carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionRecord {
    /// The plan it carries out.
    pub plan_id: EventId,
    /// The enterprise.
    pub enterprise: Uscc,
    /// The day.
    pub date: Date,
    /// The inspectors' certificates.
    pub inspectors: Vec<CertificateNumber>,
    /// Items checked.
    pub items: Vec<String>,
    /// Whether it found a problem.
    pub finding: bool,
    /// The lead published about the finding.
    pub lead: Option<EventKey>,
    /// Remarks.
    pub remarks: String,
}

/// A plan called off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectionCancel {
    /// The plan.
    pub plan_id: EventId,
    /// The enterprise.
    pub enterprise: Uscc,
    /// Why.
    pub reason: String,
}

/// An answer to a joint-inspection proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JointAnswer {
    /// The answering agency's plan.
    pub plan_id: EventId,
    /// The enterprise.
    pub enterprise: Uscc,
    /// Join or decline.
    pub accept: bool,
    /// Why.
    pub reason: String,
}

/// Names a plan: the planning agency and its id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlanKey {
    /// The planning agency.
    pub agency: AgencyId,
    /// Its id for the plan.
    pub plan_id: EventId,
}

impl std::fmt::Display for PlanKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.agency, self.plan_id)
    }
}

/// Where a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanState {
    /// Not carried out yet.
    Planned,
    /// A record arrived.
    Done,
    /// Called off.
    Cancelled,
}

/// A record of a plan, with the checks it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordEntry {
    /// The event that carried it.
    pub event_id: EventId,
    /// The record.
    pub record: InspectionRecord,
    /// The checks it failed, `inspection.<rule>: <reason>`.
    pub warnings: Vec<String>,
}

/// A plan as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectionEntry {
    /// The planning agency.
    pub agency: AgencyId,
    /// The event that carried the plan.
    pub event_id: EventId,
    /// The plan.
    pub plan: InspectionPlan,
    /// When the broker applied it.
    pub planned_at: jiff::Timestamp,
    /// Where it stands.
    pub state: PlanState,
    /// The checks the plan failed.
    pub warnings: Vec<String>,
    /// Its records.
    pub records: Vec<RecordEntry>,
    /// The joint-inspection proposal it is part of.
    pub joint: Option<String>,
    /// The agency's answer to that proposal.
    pub joint_accepted: Option<bool>,
}

impl InspectionEntry {
    /// Its key.
    pub fn key(&self) -> PlanKey {
        PlanKey {
            agency: self.agency.clone(),
            plan_id: self.plan.plan_id.clone(),
        }
    }
}

/// A joint inspection proposed to agencies planning to inspect one enterprise at about the same
/// time (综合查一次).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JointProposal {
    /// Its id (`J-` and 12 hex characters).
    pub id: String,
    /// The enterprise.
    pub enterprise: Subject,
    /// Where the enterprise is.
    pub division: DivisionCode,
    /// The plans in it, in the order they joined.
    pub plans: Vec<PlanKey>,
    /// The items of all of them, merged (一表通查), sorted.
    pub items: Vec<String>,
    /// The answers so far: agency and whether it joined.
    pub answers: Vec<(AgencyId, bool)>,
}
