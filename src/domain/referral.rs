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

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::calendar::Limit;
use super::vocab::{Domain, Facts, Subject};
use super::ids::{AgencyId, DivisionCode, EventId, OffenceCode};

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

/// One legal move: in `from`, `party` may take `action`, leading to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state it starts from.
    pub from: State,
    /// What is done.
    pub action: Action,
    /// Who may do it.
    pub party: Party,
    /// The state it leads to.
    pub to: State,
    /// Whether the actor must give reasons.
    pub reason_required: bool,
}

const fn t(
    from: State,
    action: Action,
    party: Party,
    to: State,
    reason_required: bool,
) -> Transition {
    Transition {
        from,
        action,
        party,
        to,
        reason_required,
    }
}

/// Every legal transition.
pub const TRANSITIONS: [Transition; 25] = {
    use Action::*;
    use Party::{Agency, Police, Procuratorate};
    use State::*;
    [
        // Decree 310 Art. 5: the head approves or refuses (with reasons) within 3 days.
        t(Reported, Approve, Agency, Approved, false),
        t(Reported, Refuse, Agency, RefusedByAgency, true),
        // Art. 5: transfer within 24 hours of approval.
        t(Approved, Transfer, Agency, Transferred, false),
        // Art. 7: police sign within 24 hours, or forward to the competent police.
        t(Transferred, Receive, Police, Received, false),
        t(Transferred, Forward, Police, Transferred, false),
        // Art. 8: police decide within 3 days, in writing with reasons if they refuse.
        t(Received, File, Police, Filed, false),
        t(Received, DeclineToFile, Police, NotFiled, true),
        // Art. 9: the agency may ask for reconsideration, or ask the procuratorate directly.
        t(
            NotFiled,
            RequestReconsideration,
            Agency,
            ReconsiderationRequested,
            false,
        ),
        t(
            NotFiled,
            RequestSupervision,
            Agency,
            SupervisionRequested,
            false,
        ),
        t(ReconsiderationRequested, File, Police, Filed, false),
        t(
            ReconsiderationRequested,
            UpholdRefusal,
            Police,
            ReconsiderationUpheld,
            true,
        ),
        t(
            ReconsiderationUpheld,
            RequestSupervision,
            Agency,
            SupervisionRequested,
            false,
        ),
        // 最高检 2001 rules: explanation within 7 days; filing within 15 days of 通知立案.
        t(
            SupervisionRequested,
            RequestExplanation,
            Procuratorate,
            ExplanationRequested,
            false,
        ),
        t(
            SupervisionRequested,
            OrderFiling,
            Procuratorate,
            FilingOrdered,
            false,
        ),
        t(
            SupervisionRequested,
            CloseSupervision,
            Procuratorate,
            SupervisionClosed,
            true,
        ),
        t(ExplanationRequested, Explain, Police, Explained, true),
        t(Explained, OrderFiling, Procuratorate, FilingOrdered, false),
        t(
            Explained,
            CloseSupervision,
            Procuratorate,
            SupervisionClosed,
            true,
        ),
        t(FilingOrdered, File, Police, Filed, false),
        // Art. 12: goods and materials handed over within 3 days of 立案.
        t(Filed, HandOverGoods, Agency, Filed, false),
        t(Filed, Prosecute, Procuratorate, Prosecuted, false),
        t(
            Filed,
            DeclineToProsecute,
            Procuratorate,
            NotProsecuted,
            true,
        ),
        // Reverse transfer: to 行政检察 within 3 working days, reviewed within 10.
        t(
            NotProsecuted,
            ReverseTransfer,
            Procuratorate,
            ReverseTransferred,
            false,
        ),
        t(
            ReverseTransferred,
            IssueOpinion,
            Procuratorate,
            OpinionIssued,
            false,
        ),
        t(OpinionIssued, ReportPenalty, Agency, PenaltyReported, false),
    ]
};

/// A statutory deadline: what `party` must do within `limit` of entering a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// A stable name for the step, e.g. `decree310.art7.receive`.
    pub step: &'static str,
    /// Who must act.
    pub party: Party,
    /// Within how long.
    pub limit: Limit,
    /// The legal source and its effective date.
    pub citation: &'static str,
}

/// "Decree 310" in the citations below: 《行政执法机关移送涉嫌犯罪案件的规定》(国务院令第310号,
/// 2001 年公布, 2020-08-07 修订施行).
/// The deadline running while a referral is in `state` (`goods_handed_over` matters in
/// `Filed`, where the only statutory limit is the agency's hand-over).
pub fn deadline(state: State, goods_handed_over: bool) -> Option<Deadline> {
    use Party::*;
    let (step, party, limit, citation): (&'static str, Party, Limit, &'static str) = match state {
        State::Reported => (
            "decree310.art5.decide",
            Agency,
            Limit::Days(3),
            "Decree 310 Art. 5: 负责人自接到报告之日起3日内作出批准移送或者不批准移送的决定",
        ),
        State::Approved => (
            "decree310.art5.transfer",
            Agency,
            Limit::Hours(24),
            "Decree 310 Art. 5: 批准移送的, 应当在24小时内向同级公安机关移送",
        ),
        State::Transferred => (
            "decree310.art7.receive",
            Police,
            Limit::Hours(24),
            "Decree 310 Art. 7: 公安机关应当在涉嫌犯罪案件移送书的回执上签字; 不属于本机关管辖的, 应当在24小时内转送有管辖权的机关",
        ),
        State::Received => (
            "decree310.art8.decide",
            Police,
            Limit::Days(3),
            "Decree 310 Art. 8: 公安机关应当自接受移送之日起3日内决定是否立案",
        ),
        State::NotFiled => (
            "decree310.art9.reconsider_request",
            Agency,
            Limit::Days(3),
            "Decree 310 Art. 9: 行政执法机关接到不予立案通知书后, 可以在3日内提请复议, 也可以建议检察机关依法进行立案监督",
        ),
        State::ReconsiderationRequested => (
            "decree310.art9.reconsider",
            Police,
            Limit::Days(3),
            "Decree 310 Art. 9: 公安机关应当自收到提请复议的文件之日起3日内作出复议决定",
        ),
        State::ReconsiderationUpheld => (
            "decree310.art9.supervision_request",
            Agency,
            Limit::Days(3),
            "Decree 310 Art. 9: 对复议决定仍有异议的, 应当自收到复议决定通知书之日起3日内建议检察机关依法进行立案监督",
        ),
        State::ExplanationRequested => (
            "spp2001.explain",
            Police,
            Limit::Days(7),
            "最高人民检察院《人民检察院办理行政执法机关移送涉嫌犯罪案件的规定》(2001): 公安机关应在7日内说明不立案理由",
        ),
        State::FilingOrdered => (
            "spp2001.file",
            Police,
            Limit::Days(15),
            "最高人民检察院《人民检察院办理行政执法机关移送涉嫌犯罪案件的规定》(2001): 公安机关应在收到通知立案书后15日内立案",
        ),
        State::Filed if !goods_handed_over => (
            "decree310.art12.goods",
            Agency,
            Limit::Days(3),
            "Decree 310 Art. 12: 公安机关立案后, 行政执法机关应当自接到立案通知书之日起3日内将涉案物品以及与案件有关的其他材料移交公安机关",
        ),
        State::NotProsecuted => (
            "reverse.handover",
            Procuratorate,
            Limit::WorkingDays(3),
            "行政处罚法 (2021-07-15) 第27条; 最高检行刑双向衔接意见 (2023) 与行刑反向衔接工作指引 (2024): 不起诉案件3个工作日内移送行政检察部门",
        ),
        State::ReverseTransferred => (
            "reverse.review",
            Procuratorate,
            Limit::WorkingDays(10),
            "最高检行刑双向衔接意见 (2023) 与行刑反向衔接工作指引 (2024): 行政检察部门10个工作日内审查并提出检察意见",
        ),
        _ => return None,
    };
    Some(Deadline {
        step,
        party,
        limit,
        citation,
    })
}

/// The legal moves from `state`.
pub fn allowed(state: State, goods_handed_over: bool) -> Vec<Transition> {
    TRANSITIONS
        .iter()
        .filter(|t| t.from == state)
        .filter(|t| !(t.action == Action::HandOverGoods && goods_handed_over))
        .copied()
        .collect()
}

/// A move that is not allowed now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The action is not a legal next step from the current state.
    #[error(
        "{action:?} is not allowed in state {state:?}; allowed next steps: {}",
        list(allowed)
    )]
    NotAllowed {
        /// The current state.
        state: State,
        /// What was attempted.
        action: Action,
        /// What is allowed instead, and by whom.
        allowed: Vec<(Action, Party)>,
    },
    /// The action is legal, but not for this party.
    #[error("{action:?} in state {state:?} is for the {expected:?}, not the {actual:?}")]
    WrongParty {
        /// The current state.
        state: State,
        /// What was attempted.
        action: Action,
        /// Whose turn it is.
        expected: Party,
        /// Who tried.
        actual: Party,
    },
    /// The action needs a reason and none was given.
    #[error("{0:?} needs a reason")]
    ReasonRequired(Action),
}

fn list(allowed: &[(Action, Party)]) -> String {
    if allowed.is_empty() {
        return "none (final state)".to_owned();
    }
    allowed
        .iter()
        .map(|(a, p)| format!("{a:?} by the {p:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks one move: `party` takes `action` in `state`.
pub fn transition(
    state: State,
    goods_handed_over: bool,
    action: Action,
    party: Party,
    has_reason: bool,
) -> Result<Transition, TransitionError> {
    let legal = allowed(state, goods_handed_over);
    let Some(found) = legal.iter().find(|t| t.action == action) else {
        return Err(TransitionError::NotAllowed {
            state,
            action,
            allowed: legal.iter().map(|t| (t.action, t.party)).collect(),
        });
    };
    if found.party != party {
        return Err(TransitionError::WrongParty {
            state,
            action,
            expected: found.party,
            actual: party,
        });
    }
    if found.reason_required && !has_reason {
        return Err(TransitionError::ReasonRequired(action));
    }
    Ok(*found)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STATES: [State; 19] = [
        State::Reported,
        State::RefusedByAgency,
        State::Approved,
        State::Transferred,
        State::Received,
        State::Filed,
        State::NotFiled,
        State::ReconsiderationRequested,
        State::ReconsiderationUpheld,
        State::SupervisionRequested,
        State::ExplanationRequested,
        State::Explained,
        State::FilingOrdered,
        State::SupervisionClosed,
        State::Prosecuted,
        State::NotProsecuted,
        State::ReverseTransferred,
        State::OpinionIssued,
        State::PenaltyReported,
    ];

    const ALL_ACTIONS: [Action; 20] = [
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

    const ALL_PARTIES: [Party; 3] = [Party::Agency, Party::Police, Party::Procuratorate];

    #[test]
    fn every_legal_transition_succeeds_for_its_party_only() {
        for legal in TRANSITIONS {
            let ok = transition(legal.from, false, legal.action, legal.party, true).unwrap();
            assert_eq!(ok.to, legal.to);
            for other in ALL_PARTIES.into_iter().filter(|p| *p != legal.party) {
                assert!(
                    matches!(
                        transition(legal.from, false, legal.action, other, true),
                        Err(TransitionError::WrongParty { .. })
                    ),
                    "{legal:?} by {other:?}"
                );
            }
        }
    }

    #[test]
    fn every_other_state_action_pair_is_refused_naming_the_allowed_steps() {
        let mut refused = 0;
        for state in ALL_STATES {
            for action in ALL_ACTIONS {
                if TRANSITIONS
                    .iter()
                    .any(|t| t.from == state && t.action == action)
                {
                    continue;
                }
                for party in ALL_PARTIES {
                    let err = transition(state, false, action, party, true).unwrap_err();
                    let TransitionError::NotAllowed { allowed, .. } = &err else {
                        panic!("{state:?} {action:?}: {err:?}");
                    };
                    let expected: Vec<_> = allowed_pairs(state);
                    assert_eq!(allowed, &expected);
                    assert!(err.to_string().contains(&format!("{state:?}")));
                    refused += 1;
                }
            }
        }
        // 19 states × 20 actions − 25 legal pairs, each tried by 3 parties.
        assert_eq!(refused, (19 * 20 - 25) * 3);
    }

    fn allowed_pairs(state: State) -> Vec<(Action, Party)> {
        TRANSITIONS
            .iter()
            .filter(|t| t.from == state)
            .map(|t| (t.action, t.party))
            .collect()
    }

    #[test]
    fn reasons_are_required_where_the_law_wants_them() {
        assert_eq!(
            transition(State::Reported, false, Action::Refuse, Party::Agency, false),
            Err(TransitionError::ReasonRequired(Action::Refuse))
        );
        assert_eq!(
            transition(
                State::Received,
                false,
                Action::DeclineToFile,
                Party::Police,
                false
            ),
            Err(TransitionError::ReasonRequired(Action::DeclineToFile))
        );
        assert!(
            transition(
                State::Reported,
                false,
                Action::Approve,
                Party::Agency,
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn goods_are_handed_over_once() {
        assert!(
            transition(
                State::Filed,
                false,
                Action::HandOverGoods,
                Party::Agency,
                false
            )
            .is_ok()
        );
        assert!(matches!(
            transition(
                State::Filed,
                true,
                Action::HandOverGoods,
                Party::Agency,
                false
            ),
            Err(TransitionError::NotAllowed { .. })
        ));
        assert!(deadline(State::Filed, false).is_some());
        assert!(deadline(State::Filed, true).is_none());
    }

    #[test]
    fn final_states_allow_nothing_and_have_no_deadline() {
        for state in ALL_STATES.into_iter().filter(|s| s.is_final()) {
            assert!(allowed(state, false).is_empty(), "{state:?}");
            assert!(deadline(state, false).is_none(), "{state:?}");
        }
    }

    #[test]
    fn deadlines_follow_decree_310() {
        let check = |state, party, limit| {
            let d = deadline(state, false).unwrap();
            assert_eq!((d.party, d.limit), (party, limit), "{state:?}");
            assert!(!d.citation.is_empty());
        };
        check(State::Reported, Party::Agency, Limit::Days(3));
        check(State::Approved, Party::Agency, Limit::Hours(24));
        check(State::Transferred, Party::Police, Limit::Hours(24));
        check(State::Received, Party::Police, Limit::Days(3));
        check(State::NotFiled, Party::Agency, Limit::Days(3));
        check(
            State::ReconsiderationRequested,
            Party::Police,
            Limit::Days(3),
        );
        check(State::ReconsiderationUpheld, Party::Agency, Limit::Days(3));
        check(State::ExplanationRequested, Party::Police, Limit::Days(7));
        check(State::FilingOrdered, Party::Police, Limit::Days(15));
        check(State::Filed, Party::Agency, Limit::Days(3));
        check(
            State::NotProsecuted,
            Party::Procuratorate,
            Limit::WorkingDays(3),
        );
        check(
            State::ReverseTransferred,
            Party::Procuratorate,
            Limit::WorkingDays(10),
        );
        assert!(deadline(State::SupervisionRequested, false).is_none());
        assert!(deadline(State::Explained, false).is_none());
        assert!(deadline(State::OpinionIssued, false).is_none());
    }
}
