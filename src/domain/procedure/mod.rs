//! 执法监督: the procedural record of a penalty decision and its checks against the 行政处罚法
//! (2021 revision, in force 2021-07-15). The record travels on the outcome ([`Procedure`]); the
//! rules that differ by province — hearing thresholds (较大数额), the amount above which 法制审核
//! is required, the minor first offences not to be fined (首违不罚) — are in [`rules`]; the
//! checks, pure functions each citing its article, in [`checks`]; the 罚没指标 signal in
//! [`quota`].

pub mod checks;
pub mod quota;
pub mod rules;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::inspection::CertificateNumber;

pub use rules::ProcedureRules;

/// 法制审核 (Art. 58).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalReview {
    /// Who reviewed.
    pub reviewer: String,
    /// When.
    pub reviewed_on: Date,
    /// Whether it passed.
    pub passed: bool,
}

/// How a penalty decision was reached (执法全过程记录). `None` days were not recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// 立案.
    pub filed_on: Option<Date>,
    /// The violation (or its end, or its discovery).
    pub violation_on: Option<Date>,
    /// Officers' certificates.
    pub officers: Vec<CertificateNumber>,
    /// 告知.
    pub notified_on: Option<Date>,
    /// The fine proposed in the notice, fen.
    pub proposed_fine_fen: Option<i64>,
    /// 陈述、申辩 received.
    pub defence_received: bool,
    /// Hearing rights told.
    pub hearing_offered: bool,
    /// Hearing asked for.
    pub hearing_requested_on: Option<Date>,
    /// Hearing held.
    pub hearing_held_on: Option<Date>,
    /// 法制审核.
    pub review: Option<LegalReview>,
    /// 送达.
    pub served_on: Option<Date>,
    /// Handed over on the spot.
    pub party_present: bool,
    /// 简易程序.
    pub simple: bool,
    /// Why the 90 days were extended.
    pub extension_basis: String,
    /// Life, health, public safety or finance harmed (5-year limit).
    pub serious_harm: bool,
    /// Licence revoked or qualification lowered.
    pub licence_revoked: bool,
    /// Suspension, closure or restriction of practice.
    pub closure_ordered: bool,
    /// A major public interest.
    pub major_public_interest: bool,
}
