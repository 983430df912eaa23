//! What the clock decides: statutory deadlines that ran out, and 以罚代刑 watches whose grace
//! period ended without a referral of the case. The router asks on every tick.
//!
//! Each deadline fires once: its index row goes in the same write set that raises the alert and
//! marks the referral overdue, and a later step starts a new deadline. A watch goes when it
//! fires, or silently when the case was referred in time.

use jiff::Timestamp;

use super::{coordinators, cst, hit_alert, nearest};
use crate::domain::labels;
use crate::domain::rules::Hit;
use crate::domain::{AgencyKind, Alert, AlertKind, Policy};
use crate::store::{AlertWrite, AwaitedLead, ReferralWrite, StoreError, View, WriteSet};

/// The write sets of everything due by `now`, deadlines first.
pub fn due(view: &impl View, policy: &Policy, now: Timestamp) -> Result<Vec<WriteSet>, StoreError> {
    let mut out = Vec::new();
    for (due, key) in view.due_deadlines(now)? {
        let mut writes = WriteSet {
            expired_deadline: Some((due, key.clone())),
            ..WriteSet::default()
        };
        let record = view.referral(&key)?;
        let running = record.as_ref().and_then(|r| {
            r.deadline
                .as_ref()
                .filter(|d| !d.overdue && d.due <= now && d.due == due)
        });
        if let (Some(mut record), Some(_)) = (record.clone(), running) {
            let Some(deadline) = record.deadline.as_mut() else {
                continue;
            };
            deadline.overdue = true;
            let deadline = deadline.clone();
            let division = &record.referral.division;
            let mut to = vec![deadline.late.clone()];
            to.extend(nearest(policy, division, AgencyKind::Procuratorate));
            to.extend(coordinators(policy, division));
            let alert = Alert {
                id: 0,
                kind: AlertKind::Overdue,
                raised_at: now,
                rule_id: deadline.step.clone(),
                title: format!(
                    "{}未在{}内办理（{}）",
                    labels::party(deadline.party),
                    labels::limit(deadline.limit),
                    labels::state(record.state)
                ),
                citation: deadline.citation.clone(),
                facts: Default::default(),
                subject: Some(record.referral.subject.clone()),
                division: Some(division.clone()),
                events: Vec::new(),
                referral: Some(record.key.clone()),
                late: Some(deadline.late.clone()),
                due: Some(deadline.due),
                detail: format!(
                    "{} 起算，{} 届满（北京时间）",
                    cst(deadline.started),
                    cst(deadline.due)
                ),
                parties: record.parties(&policy.registry),
            };
            writes.alerts.push(AlertWrite { alert, to });
            let previous = Some((record.state, false));
            writes.referral = Some(ReferralWrite {
                record,
                previous_due: None,
                previous,
                case_number: None,
            });
        }
        out.push(writes);
    }
    for watch in view.due_watches(now)? {
        let mut writes = WriteSet {
            expired_watch: Some((watch.due, watch.outcome.clone())),
            ..WriteSet::default()
        };
        let referred = view.case_referred(&watch.outcome.producer, &watch.case_number)?;
        let stored = view.event(watch.seq)?;
        if let (false, Some(stored)) = (referred, stored)
            && let Some(division) = stored.envelope.division().cloned()
        {
            for hit in &watch.hits {
                let mut alert = hit_alert(
                    AlertKind::PenaltyInsteadOfReferral,
                    hit,
                    &stored.envelope,
                    vec![watch.outcome.clone()],
                );
                alert.due = Some(watch.due);
                alert.parties = stored.delivered_to.clone();
                alert.parties.push(stored.envelope.producer.clone());
                alert.detail = format!(
                    "案件 {} 已作出行政处罚且达到追诉标准，至 {}（北京时间）仍未移送",
                    watch.case_number,
                    cst(watch.due)
                );
                writes.alerts.push(AlertWrite {
                    alert,
                    to: nearest(policy, &division, AgencyKind::Procuratorate),
                });
            }
        }
        out.push(writes);
    }
    for awaited in view.due_awaited(now)? {
        let mut writes = WriteSet {
            expired_await: Some(awaited.clone()),
            ..WriteSet::default()
        };
        if view.applied(&awaited.lead)?.is_none()
            && let Some(applied) = view.applied(&awaited.outcome)?
            && let Some(stored) = view.event(applied.seq)?
            && let Some(division) = stored.envelope.division().cloned()
        {
            writes.alerts.push(AlertWrite {
                alert: lead_never_came(&stored.envelope, &awaited, policy),
                to: coordinators(policy, &division),
            });
        }
        out.push(writes);
    }
    for writes in &mut out {
        writes.tallies = super::tally::of_clock(writes, now);
    }
    Ok(out)
}

/// The alert for an outcome whose lead had not arrived when its wait ended.
fn lead_never_came(
    outcome: &crate::domain::Envelope,
    awaited: &AwaitedLead,
    policy: &Policy,
) -> Alert {
    let hit = Hit {
        rule_id: "outcome.lead_missing".into(),
        title: "答复的线索不存在".into(),
        // A contract of this system, not a statute: an answer names a lead that exists.
        citation: "Xiezhi: an outcome answers a lead that was published (docs/api.md)".into(),
        facts: Default::default(),
    };
    let mut alert = hit_alert(
        AlertKind::OutcomeWithoutLead,
        &hit,
        outcome,
        vec![awaited.outcome.clone()],
    );
    alert.due = Some(awaited.due);
    alert.parties = vec![outcome.producer.clone()];
    alert.detail = format!(
        "{} 答复线索 {}，答复后 {} 秒内该线索仍未到达",
        awaited.outcome,
        awaited.lead,
        policy.windows.outcome_lead_wait.as_secs()
    );
    alert
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::super::fake::{Fake, policy, sample_lead};
    use super::*;
    use crate::domain::event::{Envelope, Payload, SCHEMA_VERSION};
    use crate::domain::referral::{Document, DocumentKind, Referral, ReferralUpdate};
    use crate::domain::{Action, AgencyId, Domain, EventId, ReferralKey, State};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn agency(id: &str) -> AgencyId {
        AgencyId::parse(id).unwrap()
    }

    struct Fixture {
        fake: Fake,
        policy: Policy,
        key: ReferralKey,
        n: u64,
    }

    impl Fixture {
        fn apply(&mut self, producer: &str, payload: Payload, at: Timestamp) {
            self.n += 1;
            let envelope = Envelope {
                event_id: EventId::parse(&format!("e-{}", self.n)).unwrap(),
                producer: agency(producer),
                produced_at: at,
                schema_version: SCHEMA_VERSION,
                payload,
                handling: Default::default(),
                warnings: vec![],
            };
            let incoming = self.fake.incoming(envelope);
            let (decided, seq) = self.fake.apply(&incoming, &self.policy);
            assert!(seq.is_some(), "{:?}", decided.decision);
        }

        fn step(&mut self, actor: &str, action: Action, at: Timestamp) {
            let update = ReferralUpdate {
                referral: self.key.clone(),
                action,
                reason: "理由".into(),
                forward_to: None,
            };
            self.apply(actor, Payload::ReferralUpdate(update), at);
        }

        fn record(&self) -> crate::domain::ReferralRecord {
            self.fake.referral_record(&self.key).unwrap().clone()
        }

        /// The current deadline fires exactly once, at its due time, against `late`, to the
        /// late party, the procuratorate and the coordinators of the division.
        fn fires_once(&mut self, late: &str, due: Option<Timestamp>) -> Timestamp {
            let deadline = self.record().deadline.expect("a running deadline");
            if let Some(due) = due {
                assert_eq!(deadline.due, due, "{}", deadline.step);
            }
            let early = self
                .fake
                .tick(&self.policy, deadline.due - SignedDuration::from_micros(1));
            assert!(early.is_empty(), "{} fired early", deadline.step);
            let fired = self.fake.tick(&self.policy, deadline.due);
            assert_eq!(
                fired.len(),
                1,
                "{} did not fire at its due time",
                deadline.step
            );
            let alert = &fired[0];
            assert_eq!(alert.kind, AlertKind::Overdue);
            assert_eq!(alert.rule_id, deadline.step);
            assert_eq!(alert.late.as_ref().map(AgencyId::as_str), Some(late));
            assert_eq!(alert.referral.as_ref(), Some(&self.key));
            let (_, to) = self.fake.alerts.last().unwrap();
            for recipient in [late, "330106-JCY", "330100-SFJ"] {
                assert!(
                    to.iter().any(|a| a.as_str() == recipient),
                    "{recipient} does not get the overdue alert of {}",
                    deadline.step
                );
            }
            let later = self.fake.tick(
                &self.policy,
                deadline.due + SignedDuration::from_hours(24 * 30),
            );
            assert!(later.is_empty(), "{} fired twice", deadline.step);
            assert!(self.record().deadline.unwrap().overdue);
            deadline.due
        }
    }

    /// Every statutory deadline of a referral, in the order the flow meets them: each fires
    /// exactly once, at its due time, against the party that is late; working-day limits skip the
    /// weekend and the 2025 National Day holiday and count its make-up days.
    #[test]
    fn every_deadline_fires_once_at_its_due_time() {
        let mut f = Fixture {
            fake: Fake::default(),
            policy: policy(),
            key: ReferralKey {
                agency: agency("330106-SCJG"),
                id: EventId::parse("r-1").unwrap(),
            },
            n: 0,
        };
        let referral = Referral {
            referral_id: EventId::parse("r-1").unwrap(),
            police: agency("330106-GA"),
            case_number: "杭西市监案〔2025〕7号".into(),
            subject: sample_lead().subject().unwrap().clone(),
            division: crate::domain::DivisionCode::parse("330106").unwrap(),
            domain: Domain::MarketRegulation,
            offence_code: crate::domain::OffenceCode::parse("CL-140").unwrap(),
            summary: "涉嫌生产销售伪劣产品".into(),
            facts: Default::default(),
            documents: vec![Document {
                name: "移送书".into(),
                kind: DocumentKind::TransferLetter,
                sha256: "0".repeat(64),
            }],
        };
        // Friday 1 August 2025, 10:00 in Hangzhou.
        f.apply(
            "330106-SCJG",
            Payload::Referral(referral),
            t("2025-08-01T02:00:00Z"),
        );
        // Reported: the head decides within 3 days — 24:00 CST on Monday 4 August.
        let due = f.fires_once("330106-SCJG", Some(t("2025-08-04T16:00:00Z")));
        let hour = SignedDuration::from_hours(1);
        f.step("330106-SCJG", Action::Approve, due + hour);
        // Approved: transfer within 24 hours of approval.
        let due = f.fires_once(
            "330106-SCJG",
            Some(due + hour + SignedDuration::from_hours(24)),
        );
        f.step("330106-SCJG", Action::Transfer, due + hour);
        let due = f.fires_once("330106-GA", None);
        f.step("330106-GA", Action::Receive, due + hour);
        let due = f.fires_once("330106-GA", None);
        f.step("330106-GA", Action::DeclineToFile, due + hour);
        let due = f.fires_once("330106-SCJG", None);
        f.step("330106-SCJG", Action::RequestReconsideration, due + hour);
        let due = f.fires_once("330106-GA", None);
        f.step("330106-GA", Action::UpholdRefusal, due + hour);
        let due = f.fires_once("330106-SCJG", None);
        f.step("330106-SCJG", Action::RequestSupervision, due + hour);
        assert!(
            f.record().deadline.is_none(),
            "no statutory limit on the procuratorate here"
        );
        f.step("330106-JCY", Action::RequestExplanation, due + hour * 2);
        let due = f.fires_once("330106-GA", None);
        f.step("330106-GA", Action::Explain, due + hour);
        f.step("330106-JCY", Action::OrderFiling, due + hour * 2);
        let due = f.fires_once("330106-GA", None);
        f.step("330106-GA", Action::File, due + hour);
        // Filed: goods handed over within 3 days.
        let due = f.fires_once("330106-SCJG", None);
        f.step("330106-SCJG", Action::HandOverGoods, due + hour);
        assert!(f.record().deadline.is_none());
        assert_eq!(f.record().state, State::Filed);
        // Friday 26 September 2025, 10:00 CST: not prosecuted. Three working days: Sunday 28
        // (make-up day), Monday 29, Tuesday 30 September.
        f.step(
            "330106-JCY",
            Action::DeclineToProsecute,
            t("2025-09-26T02:00:00Z"),
        );
        let due = f.fires_once("330106-JCY", Some(t("2025-09-30T16:00:00Z")));
        // 1 October: ten working days skip the holiday to 8 October, count Saturday 11 October
        // (make-up day), and end Tuesday 21 October.
        f.step(
            "330106-JCY",
            Action::ReverseTransfer,
            t("2025-10-01T02:00:00Z"),
        );
        assert!(due < t("2025-10-01T02:00:00Z"));
        f.fires_once("330106-JCY", Some(t("2025-10-21T16:00:00Z")));
        f.step(
            "330106-JCY",
            Action::IssueOpinion,
            t("2025-10-22T02:00:00Z"),
        );
        f.step(
            "330106-SCJG",
            Action::ReportPenalty,
            t("2025-10-23T02:00:00Z"),
        );
        assert_eq!(f.record().state, State::PenaltyReported);
        assert!(f.fake.tick(&f.policy, t("2026-01-01T00:00:00Z")).is_empty());
    }
}
