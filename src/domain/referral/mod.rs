//! Criminal referrals (行政执法机关移送涉嫌犯罪案件) as a state machine: who may move a referral
//! from which state to which, and which statutory deadline runs in each state.
//!
//! Sources, as in force:
//! - 《行政执法机关移送涉嫌犯罪案件的规定》, State Council Decree 310 of 2001, as amended
//!   2020-08-07 ("Decree 310"): Arts. 5–9 and 12.
//! - 最高人民检察院《人民检察院办理行政执法机关移送涉嫌犯罪案件的规定》(2001): police explain a
//!   refusal within 7 days when asked; police file within 15 days of a 通知立案.
//! - Reverse transfer (反向衔接): 行政处罚法 (2021) Art. 27; 最高检 opinions of 2023 on 行刑双向
//!   衔接 and the 2024 工作指引: after 不起诉 the case goes to 行政检察 within 3 working days and
//!   is reviewed within 10 working days, ending in a 检察意见 to the agency.

use serde::{Deserialize, Serialize};

/// Who acts on a referral.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The referring administrative agency (and its head).
    Agency,
    /// The police the case was transferred to.
    Police,
    /// The procuratorate supervising the division.
    Procuratorate,
}

/// Where a referral stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The case team's transfer report is written (移送报告); the head decides.
    Reported,
    /// The head refused the transfer, with a reason. Final.
    RefusedByAgency,
    /// The head approved; the agency must transfer.
    Approved,
    /// Transferred to police; they must sign for it (or forward it).
    Transferred,
    /// Police signed the receipt; they must decide on 立案.
    Received,
    /// Police opened a criminal case (立案).
    Filed,
    /// Police refused to open a case, with reasons.
    NotFiled,
    /// The agency asked the police to reconsider.
    ReconsiderationRequested,
    /// Police upheld the refusal on reconsideration.
    ReconsiderationUpheld,
    /// The agency asked the procuratorate to supervise (立案监督).
    SupervisionRequested,
    /// The procuratorate asked the police to explain the refusal.
    ExplanationRequested,
    /// The police explained.
    Explained,
    /// The procuratorate ordered the police to file (通知立案).
    FilingOrdered,
    /// The procuratorate found the refusal justified. Final.
    SupervisionClosed,
    /// Prosecuted. Final.
    Prosecuted,
    /// Not prosecuted (不起诉); the case returns to administrative enforcement.
    NotProsecuted,
    /// Handed to 行政检察 for the reverse transfer.
    ReverseTransferred,
    /// The procuratorate sent its 检察意见 to the agency.
    OpinionIssued,
    /// The agency reported the administrative penalty. Final.
    PenaltyReported,
}

impl State {
    /// Whether nothing more can happen.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::RefusedByAgency
                | State::SupervisionClosed
                | State::Prosecuted
                | State::PenaltyReported
        )
    }
}

/// A step a party takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Agency head approves the transfer.
    Approve,
    /// Agency head refuses the transfer (reason required).
    Refuse,
    /// Agency transfers the case to police.
    Transfer,
    /// Police sign the receipt.
    Receive,
    /// Police forward the case to the competent police (`forward_to` required).
    Forward,
    /// Police open a criminal case.
    File,
    /// Police refuse to open a case (reason required).
    DeclineToFile,
    /// Agency asks police to reconsider.
    RequestReconsideration,
    /// Police uphold their refusal on reconsideration (reason required).
    UpholdRefusal,
    /// Agency asks the procuratorate to supervise.
    RequestSupervision,
    /// Procuratorate asks police to explain.
    RequestExplanation,
    /// Police explain their refusal (reason required).
    Explain,
    /// Procuratorate orders police to file.
    OrderFiling,
    /// Procuratorate closes supervision (reason required).
    CloseSupervision,
    /// Agency hands over the goods and materials after 立案.
    HandOverGoods,
    /// Procuratorate prosecutes.
    Prosecute,
    /// Procuratorate decides not to prosecute (reason required).
    DeclineToProsecute,
    /// Procuratorate hands the case to 行政检察 for reverse transfer.
    ReverseTransfer,
    /// Procuratorate sends its 检察意见 to the agency.
    IssueOpinion,
    /// Agency reports the administrative penalty it imposed.
    ReportPenalty,
}

mod deadline;
mod machine;
mod payload;
mod record;

pub use deadline::{Deadline, deadline};
pub use machine::{TRANSITIONS, Transition, TransitionError, allowed, transition};
pub use payload::{
    Document, DocumentKind, REQUIRED_DOCUMENTS, Referral, ReferralKey, ReferralUpdate, Step,
};
pub use record::{ReferralRecord, RunningDeadline, StepRefusal};

/// Every state, action and party, for the tests of the machine and the deadlines.
#[cfg(test)]
mod all {
    use super::{Action, Party, State};

    pub(super) const ALL_STATES: [State; 19] = crate::domain::labels::STATES;

    pub(super) const ALL_ACTIONS: [Action; 20] = [
        Action::Approve,
        Action::Refuse,
        Action::Transfer,
        Action::Receive,
        Action::Forward,
        Action::File,
        Action::DeclineToFile,
        Action::RequestReconsideration,
        Action::UpholdRefusal,
        Action::RequestSupervision,
        Action::RequestExplanation,
        Action::Explain,
        Action::OrderFiling,
        Action::CloseSupervision,
        Action::HandOverGoods,
        Action::Prosecute,
        Action::DeclineToProsecute,
        Action::ReverseTransfer,
        Action::IssueOpinion,
        Action::ReportPenalty,
    ];

    pub(super) const ALL_PARTIES: [Party; 3] = [Party::Agency, Party::Police, Party::Procuratorate];
}
