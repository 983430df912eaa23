//! A referral as it stands: the transfer report, its state, the police it is with, every step
//! taken and the deadline now running — and the rules that read it: who its parties are, whether
//! a step is allowed now, which deadline starts when it moves.
//!
//! The same checks run twice: in the gateway against the current state, so the caller gets a
//! precise refusal, and in the router when the step is applied, because another step may have
//! come first (a step no longer allowed is refused and changes nothing).

use jiff::Timestamp;

use super::{Action, Deadline, Party, Referral, ReferralKey, ReferralUpdate, State, Step};
use super::{Transition, TransitionError, deadline, transition};
use crate::domain::calendar::{Limit, WorkCalendar};
use crate::domain::{AgencyId, AgencyKind, Registry};

/// The deadline of a referral's current step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningDeadline {
    /// The step's stable name, e.g. `decree310.art7.receive`.
    pub step: String,
    /// Who must act.
    pub party: Party,
    /// The agency that must act.
    pub late: AgencyId,
    /// The statutory limit.
    pub limit: Limit,
    /// Its source.
    pub citation: String,
    /// When it started running.
    pub started: Timestamp,
    /// When it runs out.
    pub due: Timestamp,
    /// Whether it ran out (the Overdue alert was raised).
    pub overdue: bool,
}

/// A referral as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralRecord {
    /// Agency and id.
    pub key: ReferralKey,
    /// The transfer report.
    pub referral: Referral,
    /// When the report was logged.
    pub reported_at: Timestamp,
    /// Where it stands.
    pub state: State,
    /// The police it is with now (changes when forwarded).
    pub police: AgencyId,
    /// Whether the goods and materials were handed over after 立案.
    pub goods_handed_over: bool,
    /// Every step, in order.
    pub history: Vec<Step>,
    /// The running deadline, if the current step has one.
    pub deadline: Option<RunningDeadline>,
}

/// Why a step is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepRefusal {
    /// The actor is none of the referral's parties.
    #[error(
        "{actor} is not a party to referral {referral}: the referring agency, its police or the procuratorate of the division"
    )]
    NotAParty {
        /// Who tried.
        actor: AgencyId,
        /// The referral.
        referral: ReferralKey,
    },
    /// The state machine refuses the step.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A forward to an agency that is not another police.
    #[error("forward_to must be another registered police agency")]
    ForwardTarget,
}

impl ReferralRecord {
    /// The party `actor` is on this referral, if any.
    pub fn party_of(&self, actor: &AgencyId, registry: &Registry) -> Option<Party> {
        if actor == &self.key.agency {
            Some(Party::Agency)
        } else if actor == &self.police {
            Some(Party::Police)
        } else if registry
            .nearest_of_kind(&self.referral.division, AgencyKind::Procuratorate)
            .iter()
            .any(|p| &p.id == actor)
        {
            Some(Party::Procuratorate)
        } else {
            None
        }
    }

    /// Checks a step by `actor` against the current state.
    pub fn check(
        &self,
        actor: &AgencyId,
        update: &ReferralUpdate,
        registry: &Registry,
    ) -> Result<Transition, StepRefusal> {
        let party = self
            .party_of(actor, registry)
            .ok_or_else(|| StepRefusal::NotAParty {
                actor: actor.clone(),
                referral: self.key.clone(),
            })?;
        let transition = transition(
            self.state,
            self.goods_handed_over,
            update.action,
            party,
            !update.reason.trim().is_empty(),
        )?;
        if update.action == Action::Forward {
            let target = update.forward_to.as_ref().and_then(|id| registry.get(id));
            if !target.is_some_and(|t| t.kind == AgencyKind::Police && t.id != self.police) {
                return Err(StepRefusal::ForwardTarget);
            }
        }
        Ok(transition)
    }

    /// The referral's parties, who hear of its steps: the referring agency, the procuratorate,
    /// and the police once the case has been transferred to them.
    pub fn parties(&self, registry: &Registry) -> Vec<AgencyId> {
        let mut parties = vec![self.key.agency.clone()];
        if !matches!(
            self.state,
            State::Reported | State::Approved | State::RefusedByAgency
        ) {
            parties.push(self.police.clone());
        }
        for procuratorate in
            registry.nearest_of_kind(&self.referral.division, AgencyKind::Procuratorate)
        {
            parties.push(procuratorate.id.clone());
        }
        parties
    }

    /// Starts the deadline of the current state, from `at`.
    pub fn start_deadline(&mut self, at: Timestamp, registry: &Registry, calendar: &WorkCalendar) {
        self.deadline = deadline(self.state, self.goods_handed_over).and_then(
            |Deadline {
                 step,
                 party,
                 limit,
                 citation,
             }| {
                let late = match party {
                    Party::Agency => self.key.agency.clone(),
                    Party::Police => self.police.clone(),
                    Party::Procuratorate => registry
                        .nearest_of_kind(&self.referral.division, AgencyKind::Procuratorate)
                        .first()
                        .map(|p| p.id.clone())?,
                };
                Some(RunningDeadline {
                    step: step.to_owned(),
                    party,
                    late,
                    limit,
                    citation: citation.to_owned(),
                    started: at,
                    due: calendar.due(at, limit),
                    overdue: false,
                })
            },
        );
    }
}
