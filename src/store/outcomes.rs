//! Applying a case outcome: close the lead it answers and feed back to its producer, keep the
//! subject's history and the penalty report's index, and run the outcome checks —
//!
//! - a penalty whose facts meet a prosecution threshold starts a 以罚代刑 watch: if no referral
//!   of the case arrives within the grace period, the procuratorate is alerted (see `tick.rs`);
//! - another agency's penalty of the same subject for the same offence within the window is
//!   多头受罚;
//! - small cases of one subject and offence within the window that each stay below every
//!   threshold but together meet one are 化整为零 (reported once per subject, offence and rule);
//! - a fine outside its discretion band is a deviation (同案不同罚).

use jiff::Timestamp;

use super::apply::{Effect, Incoming, coordinators, day_of, hit_alert};
use super::tx::{Tx, TxResult};
use super::{OutcomeBrief, OutcomeRow, SubjectHistory, Watch, keys};
use crate::domain::rules::Context;
use crate::domain::{
    AgencyId, Alert, AlertKind, CaseOutcome, Decision, DeliveryReason, Envelope, EventKey, Facts,
    OffenceCode, Payload, Policy, SubjectId, SubjectKey,
};

impl SubjectHistory {
    /// Penalties for `offence` decided within `months` (of 30 days) before `at`, except `skip`.
    pub(super) fn prior_penalties(
        &self,
        offence: &OffenceCode,
        at: Timestamp,
        months: u32,
        skip: Option<&EventKey>,
    ) -> i64 {
        let window = jiff::SignedDuration::from_hours(24 * 30 * i64::from(months));
        self.outcomes
            .iter()
            .filter(|o| o.penalty && &o.offence == offence && Some(&o.key) != skip)
            .filter(|o| o.decided_at <= at && at.duration_since(o.decided_at) <= window)
            .count() as i64
    }
}

/// `watches` keys: due time (microseconds, big-endian), then the outcome key.
pub(super) fn watch_key(due: Timestamp, outcome: &EventKey) -> Vec<u8> {
    let mut key = (due.as_microsecond().max(0) as u64).to_be_bytes().to_vec();
    key.extend_from_slice(&outcome.to_bytes());
    key
}

/// `referral_cases` keys: agency, 0, case number.
pub(super) fn case_key(agency: &AgencyId, case_number: &str) -> Vec<u8> {
    let mut key = keys::scope(agency.as_str());
    key.extend_from_slice(case_number.as_bytes());
    key
}

fn sum_facts<'a>(facts: impl Iterator<Item = &'a Facts>) -> Facts {
    let mut sum = Facts::new();
    for f in facts {
        for (name, value) in f {
            let entry = sum.entry(name.clone()).or_default();
            *entry = entry.saturating_add(*value);
        }
    }
    sum
}

/// 双公示: a public penalty that reaches the broker after its date raises an alert to the
/// coordinators of the division (rule and sources: [`crate::domain::disclosure`]).
fn check_disclosure(
    incoming: &Incoming,
    outcome: &CaseOutcome,
    policy: &Policy,
    raise: &mut Vec<(Alert, Vec<AgencyId>)>,
) {
    let envelope = &incoming.envelope;
    let Some(decided_at) = crate::domain::disclosure::disclosed_decision(envelope) else {
        return;
    };
    let due = crate::domain::disclosure::due(&policy.calendar, decided_at);
    if incoming.logged_at <= due {
        return;
    }
    let mut alert = hit_alert(
        AlertKind::LateDisclosure,
        &crate::domain::rules::Hit {
            rule_id: "disclosure.working_days".into(),
            title: "行政处罚决定未按时公示".into(),
            citation: format!(
                "《中华人民共和国行政处罚法》第四十八条（2021-07-15施行）；双公示：作出决定之日起{}个工作日内公开",
                crate::domain::disclosure::WORKING_DAYS
            ),
            facts: Default::default(),
        },
        envelope,
        vec![envelope.key()],
    );
    alert.late = Some(envelope.producer.clone());
    alert.due = Some(due);
    alert.detail = format!(
        "decision {} of {} reached the broker at {} (due {due})",
        outcome.case_number, decided_at, incoming.logged_at
    );
    raise.push((alert, coordinators(policy, &outcome.division)));
}

impl Tx<'_> {
    /// A subject's history (empty if it has none).
    pub(super) fn history(&self, subject: &SubjectKey) -> TxResult<SubjectHistory> {
        Ok(self
            .read(self.histories, "histories", subject.as_str().as_bytes())?
            .unwrap_or_default())
    }

    pub(super) fn apply_outcome(
        &self,
        incoming: &Incoming,
        seq: u64,
        policy: &Policy,
    ) -> TxResult<Effect> {
        let envelope = &incoming.envelope;
        let Payload::CaseOutcome(outcome) = &envelope.payload else {
            unreachable!("apply_outcome is called for outcomes only");
        };
        let key = envelope.key();
        let (recipients, lead_found) = match &outcome.lead {
            None => (Vec::new(), None),
            Some(lead_key) => match self.close_lead(lead_key, &key)? {
                None => (Vec::new(), Some(false)),
                Some(producer) if producer == envelope.producer => (Vec::new(), Some(true)),
                Some(producer) => (vec![(producer, DeliveryReason::LeadFeedback)], Some(true)),
            },
        };
        let subject = outcome.subject.key();
        let mut history = self.history(&subject)?;
        let penalty = outcome.decision == Decision::Penalty;
        let mut raise = Vec::new();

        let outside_band = self.check_discretion(envelope, outcome, policy, &mut raise)?;
        check_disclosure(incoming, outcome, policy, &mut raise);
        self.write(
            self.outcomes,
            &keys::compound(outcome.offence_code.as_str(), seq),
            &OutcomeRow {
                agency: envelope.producer.clone(),
                division: outcome.division.clone(),
                penalty,
                fine_fen: outcome.fine_fen,
                decided_at: outcome.decided_at,
                outside_band,
            },
        )?;

        let person = matches!(outcome.subject.id, SubjectId::Person(_));
        let prior = |months| {
            history.prior_penalties(
                &outcome.offence_code,
                outcome.decided_at,
                months,
                Some(&key),
            )
        };
        let ctx = Context {
            facts: &outcome.facts,
            division: &outcome.division,
            person,
            prior_penalties: &prior,
        };
        let day = day_of(outcome.decided_at);
        let hits = policy.thresholds.hits(&outcome.offence_code, day, &ctx);
        if penalty && !hits.is_empty() {
            let referred = self
                .referral_cases
                .get(case_key(&envelope.producer, &outcome.case_number))?
                .is_some();
            if !referred {
                let due = incoming
                    .logged_at
                    .saturating_add(policy.windows.referral_grace)
                    .unwrap_or(Timestamp::MAX);
                let watch = Watch {
                    outcome: key.clone(),
                    seq,
                    case_number: outcome.case_number.clone(),
                    hits: hits.clone(),
                    due,
                };
                self.write(self.watches, &watch_key(due, &key), &watch)?;
            }
        }
        if penalty {
            self.check_duplicates(envelope, outcome, &history, policy, &mut raise)?;
        }
        if hits.is_empty() {
            self.check_split(envelope, outcome, &mut history, policy, &mut raise)?;
        }
        history.outcomes.push(OutcomeBrief {
            seq,
            key,
            offence: outcome.offence_code.clone(),
            penalty,
            case_number: outcome.case_number.clone(),
            decided_at: outcome.decided_at,
            facts: outcome.facts.clone(),
        });
        self.write(self.histories, subject.as_str().as_bytes(), &history)?;
        Ok(Effect {
            lead_found,
            raise,
            ..Effect::to(recipients)
        })
    }

    /// Raises a deviation if the fine is outside its band; tells whether it is.
    fn check_discretion(
        &self,
        envelope: &Envelope,
        outcome: &CaseOutcome,
        policy: &Policy,
        raise: &mut Vec<(Alert, Vec<AgencyId>)>,
    ) -> TxResult<Option<bool>> {
        let Some(severity) = outcome.severity else {
            return Ok(None);
        };
        let day = day_of(outcome.decided_at);
        let Some(band) = policy.discretion.band(&outcome.offence_code, severity, day) else {
            return Ok(None);
        };
        let (min, max) = band.range(&outcome.facts);
        let outside = outcome.fine_fen < min || outcome.fine_fen > max;
        if outside && outcome.decision == Decision::Penalty {
            let mut alert = hit_alert(
                AlertKind::DiscretionDeviation,
                &crate::domain::rules::Hit {
                    rule_id: format!("{} {severity:?}", outcome.offence_code.as_str()),
                    title: "罚款超出裁量基准".into(),
                    citation: band.citation.clone(),
                    facts: outcome.facts.clone(),
                },
                envelope,
                vec![envelope.key()],
            );
            alert.facts.insert("fine_fen".into(), outcome.fine_fen);
            alert.detail = format!(
                "fine {} fen is outside the band {min}–{max} fen",
                outcome.fine_fen
            );
            raise.push((alert, coordinators(policy, &outcome.division)));
        }
        Ok(Some(outside))
    }

    /// 多头受罚: other agencies' penalties for the same offence within the window.
    fn check_duplicates(
        &self,
        envelope: &Envelope,
        outcome: &CaseOutcome,
        history: &SubjectHistory,
        policy: &Policy,
        raise: &mut Vec<(Alert, Vec<AgencyId>)>,
    ) -> TxResult<()> {
        let window = policy.windows.duplicate_window;
        let others: Vec<&OutcomeBrief> = history
            .outcomes
            .iter()
            .filter(|o| {
                o.penalty
                    && o.offence == outcome.offence_code
                    && o.key.producer != envelope.producer
            })
            .filter(|o| outcome.decided_at.duration_since(o.decided_at).abs() <= window)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let mut events: Vec<EventKey> = others.iter().map(|o| o.key.clone()).collect();
        events.push(envelope.key());
        let mut alert = hit_alert(
            AlertKind::DuplicatePenalty,
            &crate::domain::rules::Hit {
                rule_id: "duplicate-penalty".into(),
                title: "同一违法行为多头处罚".into(),
                citation: "《中华人民共和国行政处罚法》(2021-07-15 施行) 第29条: 对当事人的同一个违法行为, 不得给予两次以上罚款的行政处罚".into(),
                facts: Facts::new(),
            },
            envelope,
            events,
        );
        alert.detail = format!(
            "{} other agency penalty(ies) for {} within {} days",
            others.len(),
            outcome.offence_code.as_str(),
            window.as_hours() / 24
        );
        raise.push((alert, coordinators(policy, &outcome.division)));
        Ok(())
    }

    /// 化整为零: cases below every threshold that together meet one.
    fn check_split(
        &self,
        envelope: &Envelope,
        outcome: &CaseOutcome,
        history: &mut SubjectHistory,
        policy: &Policy,
        raise: &mut Vec<(Alert, Vec<AgencyId>)>,
    ) -> TxResult<()> {
        let window = policy.windows.split_window;
        let earlier: Vec<&OutcomeBrief> = history
            .outcomes
            .iter()
            .filter(|o| o.offence == outcome.offence_code)
            .filter(|o| outcome.decided_at.duration_since(o.decided_at).abs() <= window)
            .collect();
        if earlier.is_empty() {
            return Ok(());
        }
        let person = matches!(outcome.subject.id, SubjectId::Person(_));
        let day = day_of(outcome.decided_at);
        let none = |_| 0;
        let meets = |facts: &Facts| {
            let ctx = Context {
                facts,
                division: &outcome.division,
                person,
                prior_penalties: &none,
            };
            policy.thresholds.hits(&outcome.offence_code, day, &ctx)
        };
        // Only cases that stayed below every threshold on their own count as split.
        if earlier.iter().any(|o| !meets(&o.facts).is_empty()) {
            return Ok(());
        }
        let total = sum_facts(earlier.iter().map(|o| &o.facts).chain([&outcome.facts]));
        let mut events: Vec<EventKey> = earlier.iter().map(|o| o.key.clone()).collect();
        events.push(envelope.key());
        for hit in meets(&total) {
            let marker = format!("{}/{}", outcome.offence_code.as_str(), hit.rule_id);
            if history.split_alerted.contains(&marker) {
                continue;
            }
            history.split_alerted.push(marker);
            let mut alert = hit_alert(AlertKind::SplitCase, &hit, envelope, events.clone());
            alert.detail = format!(
                "{} cases within {} days together meet the threshold",
                events.len(),
                window.as_hours() / 24
            );
            raise.push((alert, coordinators(policy, &outcome.division)));
        }
        Ok(())
    }
}
