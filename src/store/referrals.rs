//! Referrals in the store: opening one from a transfer report, moving it by the state machine
//! of `domain::referral`, keeping the deadline of its current step in the `deadlines` index, and
//! reading referrals back for the `Referrals` service.
//!
//! The same checks run twice: in the gateway against the current state, so the caller gets a
//! precise refusal, and here when the step is applied, because another step may have come first
//! (a step no longer allowed is rejected and changes nothing).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::apply::{Effect, Incoming, nearest};
use super::outcomes::case_key;
use super::tx::{Tx, TxResult};
use super::{Page, Store, StoreError, decode};
use crate::domain::calendar::{Limit, WorkCalendar};
use crate::domain::referral::{
    self, Deadline, Referral, ReferralUpdate, Step, Transition, TransitionError,
};
use crate::domain::{
    Action, AgencyId, AgencyKind, DeliveryReason, Party, Policy, ReferralKey, Registry, State,
};

/// The deadline of a referral's current step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// `deadlines` keys: due time (microseconds, big-endian), then the referral key.
pub(super) fn deadline_key(due: Timestamp, referral: &ReferralKey) -> Vec<u8> {
    let mut key = (due.as_microsecond().max(0) as u64).to_be_bytes().to_vec();
    key.extend_from_slice(referral.to_string().as_bytes());
    key
}

fn record_key(key: &ReferralKey) -> Vec<u8> {
    key.to_string().into_bytes()
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
        let transition = referral::transition(
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
    fn start_deadline(&mut self, at: Timestamp, registry: &Registry, calendar: &WorkCalendar) {
        self.deadline = referral::deadline(self.state, self.goods_handed_over).and_then(
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

impl Tx<'_> {
    fn save_referral(
        &self,
        record: &ReferralRecord,
        previous_due: Option<Timestamp>,
    ) -> TxResult<()> {
        if let Some(due) = previous_due {
            self.deadlines.remove(deadline_key(due, &record.key))?;
        }
        if let Some(deadline) = record.deadline.as_ref().filter(|d| !d.overdue) {
            self.deadlines.insert(
                deadline_key(deadline.due, &record.key),
                deadline.step.as_bytes(),
            )?;
        }
        self.write(self.referrals, &record_key(&record.key), record)
    }

    /// Opens a referral; `Err` is a reason to reject the record.
    pub(super) fn apply_referral(
        &self,
        incoming: &Incoming,
        referral: &Referral,
        _seq: u64,
        policy: &Policy,
        _now: Timestamp,
    ) -> TxResult<Result<Effect, String>> {
        let envelope = &incoming.envelope;
        let key = ReferralKey {
            agency: envelope.producer.clone(),
            id: referral.referral_id.clone(),
        };
        if self.referrals.get(record_key(&key))?.is_some() {
            return Ok(Err(format!("referral {key} already exists")));
        }
        if !policy
            .registry
            .get(&referral.police)
            .is_some_and(|p| p.kind == AgencyKind::Police)
        {
            return Ok(Err(format!(
                "{} is not a registered police agency",
                referral.police
            )));
        }
        let mut record = ReferralRecord {
            key: key.clone(),
            referral: referral.clone(),
            reported_at: incoming.logged_at,
            state: State::Reported,
            police: referral.police.clone(),
            goods_handed_over: false,
            history: Vec::new(),
            deadline: None,
        };
        record.start_deadline(incoming.logged_at, &policy.registry, &policy.calendar);
        self.save_referral(&record, None)?;
        self.referral_cases.insert(
            case_key(&key.agency, &referral.case_number),
            record_key(&key),
        )?;
        let recipients = nearest(policy, &referral.division, AgencyKind::Procuratorate)
            .into_iter()
            .map(|p| (p, DeliveryReason::Referral))
            .collect();
        Ok(Ok(Effect::to(recipients)))
    }

    /// Moves a referral one step; `Err` is a reason to reject the record.
    pub(super) fn apply_update(
        &self,
        incoming: &Incoming,
        update: &ReferralUpdate,
        _seq: u64,
        policy: &Policy,
        _now: Timestamp,
    ) -> TxResult<Result<Effect, String>> {
        let actor = &incoming.envelope.producer;
        let Some(mut record) = self.read::<ReferralRecord>(
            self.referrals,
            "referrals",
            &record_key(&update.referral),
        )?
        else {
            return Ok(Err(format!("no referral {}", update.referral)));
        };
        let transition = match record.check(actor, update, &policy.registry) {
            Ok(t) => t,
            Err(refusal) => return Ok(Err(refusal.to_string())),
        };
        let previous_due = record
            .deadline
            .as_ref()
            .filter(|d| !d.overdue)
            .map(|d| d.due);
        record.state = transition.to;
        match update.action {
            Action::Forward => {
                if let Some(to) = &update.forward_to {
                    record.police = to.clone();
                }
            }
            Action::HandOverGoods => record.goods_handed_over = true,
            _ => {}
        }
        record.history.push(Step {
            action: update.action,
            actor: actor.clone(),
            at: incoming.logged_at,
            to: record.state,
            reason: update.reason.clone(),
        });
        record.start_deadline(incoming.logged_at, &policy.registry, &policy.calendar);
        self.save_referral(&record, previous_due)?;
        let recipients: Vec<(AgencyId, DeliveryReason)> = record
            .parties(&policy.registry)
            .into_iter()
            .filter(|p| p != actor)
            .map(|p| (p, DeliveryReason::Referral))
            .collect();
        Ok(Ok(Effect {
            subject: Some(record.referral.subject.key()),
            ..Effect::to(recipients)
        }))
    }
}

/// Which referrals to list.
#[derive(Clone, Debug, Default)]
pub struct ReferralFilter {
    /// Only in this state.
    pub state: Option<State>,
    /// Only in divisions starting with this.
    pub division_prefix: String,
    /// Only those this agency is the referring agency or the police of.
    pub party: Option<AgencyId>,
    /// Only those whose current deadline has run out.
    pub overdue: bool,
}

impl ReferralFilter {
    fn matches(&self, r: &ReferralRecord) -> bool {
        self.state.is_none_or(|s| s == r.state)
            && r.referral
                .division
                .as_str()
                .starts_with(&self.division_prefix)
            && self
                .party
                .as_ref()
                .is_none_or(|p| p == &r.key.agency || p == &r.police)
            && (!self.overdue || r.deadline.as_ref().is_some_and(|d| d.overdue))
    }
}

impl Store {
    /// A referral by key.
    pub fn referral(&self, key: &ReferralKey) -> Result<Option<ReferralRecord>, StoreError> {
        self.trees
            .referrals
            .get(record_key(key))
            .map_err(StoreError::sled("read"))?
            .map(|raw| decode("referrals", &raw))
            .transpose()
    }

    /// Referrals matching `filter`, by key.
    pub fn referrals(
        &self,
        filter: &ReferralFilter,
        token: Option<&str>,
        limit: usize,
    ) -> Result<Page<ReferralRecord>, StoreError> {
        Self::page(&self.trees.referrals, &[], token, limit, |_, raw| {
            let record: ReferralRecord = decode("referrals", raw)?;
            Ok(if filter.matches(&record) {
                super::read::Step::Take(record)
            } else {
                super::read::Step::Skip
            })
        })
    }

    /// The referral of an agency's case, if it referred one.
    pub fn referral_of_case(
        &self,
        agency: &AgencyId,
        case_number: &str,
    ) -> Result<Option<ReferralKey>, StoreError> {
        let Some(raw) = self
            .trees
            .referral_cases
            .get(case_key(agency, case_number))
            .map_err(StoreError::sled("read"))?
        else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&raw);
        let (agency, id) = text.split_once('/').unwrap_or_default();
        Ok(AgencyId::parse(agency)
            .ok()
            .zip(crate::domain::EventId::parse(id).ok())
            .map(|(agency, id)| ReferralKey { agency, id }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_keys_sort_by_due_time() {
        let key = ReferralKey {
            agency: AgencyId::parse("330106-SCJG").unwrap(),
            id: crate::domain::EventId::parse("r-1").unwrap(),
        };
        let early = deadline_key("2026-11-27T00:00:00Z".parse().unwrap(), &key);
        let late = deadline_key("2026-11-28T00:00:00Z".parse().unwrap(), &key);
        assert!(early < late);
        assert_eq!(
            super::super::keys::decode_u64(&early[..8]) as i64,
            "2026-11-27T00:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_microsecond()
        );
    }
}
