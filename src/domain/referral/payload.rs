//! What travels on the log about a referral: the transfer report with its package of
//! documents (Decree 310 Art. 6), the steps the parties take, and the key that names it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Action, State};
use crate::domain::ids::{AgencyId, DivisionCode, EventId, OffenceCode};
use crate::domain::vocab::{Domain, Facts, Subject};

/// The kind of a document in the transfer package (Decree 310 Art. 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 涉嫌犯罪案件移送书.
    TransferLetter,
    /// 涉嫌犯罪案件情况的调查报告.
    InvestigationReport,
    /// 涉案物品清单.
    ItemsList,
    /// 有关检验报告或者鉴定结论.
    InspectionReport,
    /// 其他有关涉嫌犯罪的材料.
    Other,
}

/// Documents Decree 310 Art. 6 requires in every package.
pub const REQUIRED_DOCUMENTS: [DocumentKind; 3] = [
    DocumentKind::TransferLetter,
    DocumentKind::InvestigationReport,
    DocumentKind::ItemsList,
];

/// One document of the transfer package, identified by its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Its title.
    pub name: String,
    /// What it is.
    pub kind: DocumentKind,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
}

/// Names a referral: the referring agency and its own id for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReferralKey {
    /// The referring agency.
    pub agency: AgencyId,
    /// The agency's id for the referral.
    pub id: EventId,
}

impl std::fmt::Display for ReferralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.agency, self.id)
    }
}

/// A transfer report (移送): the case an agency refers to police.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// The agency's id for the referral (unique per agency).
    pub referral_id: EventId,
    /// The police it goes to (same level as the agency).
    pub police: AgencyId,
    /// The agency's administrative case number.
    pub case_number: String,
    /// The party.
    pub subject: Subject,
    /// Where the conduct took place.
    pub division: DivisionCode,
    /// Enforcement domain.
    pub domain: Domain,
    /// Offence code.
    pub offence_code: OffenceCode,
    /// What the case is about.
    pub summary: String,
    /// Numeric facts.
    pub facts: Facts,
    /// The transfer package (Decree 310 Art. 6).
    pub documents: Vec<Document>,
}

/// A step on a referral.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralUpdate {
    /// The referral.
    pub referral: ReferralKey,
    /// The step.
    pub action: Action,
    /// Reasons, where the step needs them (and otherwise optional remarks).
    pub reason: String,
    /// For [`Action::Forward`]: the competent police.
    pub forward_to: Option<AgencyId>,
}

/// What happened on a referral, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What was done.
    pub action: Action,
    /// By whom.
    pub actor: AgencyId,
    /// When it was logged.
    pub at: Timestamp,
    /// The state it led to.
    pub to: State,
    /// Reasons given.
    pub reason: String,
}
