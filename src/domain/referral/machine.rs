//! The referral state machine: every legal move, who may make it, and why another is refused.

use super::{Action, Party, State};

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

impl Action {
    /// Whether the party taking this step must give reasons (in every state it is allowed in:
    /// refusals, declines, closings and explanations; Decree 310 Arts. 5, 8, 9 and the
    /// procuratorate's rules, see [`TRANSITIONS`]).
    pub fn needs_reason(self) -> bool {
        TRANSITIONS
            .iter()
            .any(|t| t.action == self && t.reason_required)
    }
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

#[cfg(test)]
mod tests {
    use super::super::all::*;
    use super::*;
    use crate::domain::referral::deadline;

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
    fn refusals_declines_and_closings_need_reasons() {
        for action in [
            Action::Refuse,
            Action::DeclineToFile,
            Action::UpholdRefusal,
            Action::CloseSupervision,
            Action::Explain,
            Action::DeclineToProsecute,
        ] {
            assert!(action.needs_reason(), "{action:?}");
        }
        for action in [Action::Approve, Action::Transfer, Action::File] {
            assert!(!action.needs_reason(), "{action:?}");
        }
    }
}
