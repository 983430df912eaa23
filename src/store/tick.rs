//! Time-driven alerts: statutory deadlines that ran out and 以罚代刑 watches whose grace period
//! ended without a referral. The router calls [`Store::fire_due`] on every tick of its clock.
//!
//! Each deadline fires once: its row leaves the `deadlines` index in the same transaction that
//! raises the alert and marks the referral overdue, and a later step starts a new deadline.

use jiff::Timestamp;

use super::apply::{coordinators, nearest};
use super::outcomes::case_key;
use super::referrals::{ReferralRecord, deadline_key};
use super::{Store, StoreError, Watch, decode};
use crate::domain::{AgencyKind, Alert, AlertKind, Policy};

/// What a tick raised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fired {
    /// The alerts, in the order raised.
    pub alerts: Vec<Alert>,
    /// The audit entries they appended (for off-box archiving).
    pub audit: Vec<crate::audit::Entry>,
}

/// A key and its value.
type Row = (Vec<u8>, Vec<u8>);

/// Every row of `tree` whose key is below `bound`.
fn due_rows(tree: &sled::Tree, bound: &[u8]) -> Result<Vec<Row>, StoreError> {
    tree.range(..bound)
        .map(|entry| {
            entry
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(StoreError::sled("read"))
        })
        .collect()
}

impl Store {
    /// Raises the alerts due by `now`: overdue referral steps and 以罚代刑 watches.
    pub async fn fire_due(&self, policy: &Policy, now: Timestamp) -> Result<Fired, StoreError> {
        let _guard = self.apply_lock.lock().await;
        // Keys are (due µs, …): everything strictly below (now + 1 µs, nothing) is due.
        let bound = ((now.as_microsecond() + 1).max(0) as u64).to_be_bytes();
        let deadlines = due_rows(&self.trees.deadlines, &bound)?;
        let watches = due_rows(&self.trees.watches, &bound)?;
        if deadlines.is_empty() && watches.is_empty() {
            return Ok(Fired::default());
        }
        let fired = self.transact(|tx| {
            let mut alerts = Vec::new();
            for (row_key, _) in &deadlines {
                tx.deadlines.remove(row_key.as_slice())?;
                let referral_key = String::from_utf8_lossy(&row_key[8..]).into_owned();
                let Some(mut record) = tx.read::<ReferralRecord>(tx.referrals, "referrals", referral_key.as_bytes())? else {
                    continue;
                };
                let Some(deadline) = record.deadline.as_mut().filter(|d| !d.overdue && d.due <= now) else {
                    continue;
                };
                if deadline_key(deadline.due, &record.key) != *row_key {
                    continue;
                }
                deadline.overdue = true;
                let deadline = deadline.clone();
                tx.write(tx.referrals, referral_key.as_bytes(), &record)?;
                let division = &record.referral.division;
                let mut to = vec![deadline.late.clone()];
                to.extend(nearest(policy, division, AgencyKind::Procuratorate));
                to.extend(coordinators(policy, division));
                let alert = Alert {
                    id: 0,
                    kind: AlertKind::Overdue,
                    raised_at: now,
                    rule_id: deadline.step.clone(),
                    title: format!("{:?} did not act within {} ({:?})", deadline.party, deadline.limit, record.state),
                    citation: deadline.citation.clone(),
                    facts: Default::default(),
                    subject: Some(record.referral.subject.clone()),
                    division: Some(division.clone()),
                    events: Vec::new(),
                    referral: Some(record.key.clone()),
                    late: Some(deadline.late.clone()),
                    due: Some(deadline.due),
                    detail: format!("started {}, due {}", deadline.started, deadline.due),
                    parties: record.parties(&policy.registry),
                };
                alerts.push(tx.raise(alert, &to.iter().collect::<Vec<_>>(), now)?);
            }
            for (row_key, raw) in &watches {
                tx.watches.remove(row_key.as_slice())?;
                let watch: Watch = decode("watches", raw).map_err(super::tx::corrupt)?;
                let referred = tx
                    .referral_cases
                    .get(case_key(&watch.outcome.producer, &watch.case_number))?
                    .is_some();
                let Some(stored) = tx.read::<super::StoredEvent>(tx.events, "events", &watch.seq.to_be_bytes())? else {
                    continue;
                };
                if referred {
                    continue;
                }
                let Some(division) = stored.envelope.division().cloned() else {
                    continue;
                };
                for hit in &watch.hits {
                    let mut alert = super::apply::hit_alert(
                        AlertKind::PenaltyInsteadOfReferral,
                        hit,
                        &stored.envelope,
                        vec![watch.outcome.clone()],
                    );
                    alert.due = Some(watch.due);
                    alert.parties = stored.delivered_to.clone();
                    alert.parties.push(stored.envelope.producer.clone());
                    alert.detail = format!(
                        "case {} was penalised and meets the threshold, but no referral was recorded by {}",
                        watch.case_number, watch.due
                    );
                    let to = nearest(policy, &division, AgencyKind::Procuratorate);
                    alerts.push(tx.raise(alert, &to.iter().collect::<Vec<_>>(), now)?);
                }
            }
            let last = tx.last_seq()?;
            Ok((alerts, last))
        })?;
        let ((alerts, last), audit) = fired;
        self.flush().await?;
        self.mark_durable(last, 0);
        Ok(Fired { alerts, audit })
    }

    /// The alert with this id.
    pub fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        self.trees
            .alerts
            .get(id.to_be_bytes())
            .map_err(StoreError::sled("read"))?
            .map(|raw| decode("alerts", &raw))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::config::{CalendarConfig, SAMPLE_REGISTRY, parse_registry};
    use crate::domain::calendar::WorkCalendar;
    use crate::domain::event::{Envelope, Payload, SCHEMA_VERSION};
    use crate::domain::referral::{Document, DocumentKind, Referral, ReferralUpdate};
    use crate::domain::{Action, AgencyId, Domain, EventId, LogPosition, ReferralKey, State};
    use crate::store::{Incoming, ReferralRecord};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn policy() -> Policy {
        let calendar = CalendarConfig::default();
        Policy {
            calendar: WorkCalendar::new(calendar.holidays, calendar.workdays).unwrap(),
            ..Policy::with_registry(parse_registry(SAMPLE_REGISTRY, "sample").unwrap())
        }
    }

    fn agency(id: &str) -> AgencyId {
        AgencyId::parse(id).unwrap()
    }

    struct Fixture {
        store: Store,
        policy: Policy,
        key: ReferralKey,
        offset: u64,
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        async fn apply(&mut self, producer: &str, payload: Payload, at: Timestamp) {
            self.offset += 1;
            let envelope = Envelope {
                event_id: EventId::parse(&format!("e-{}", self.offset)).unwrap(),
                producer: agency(producer),
                produced_at: at,
                schema_version: SCHEMA_VERSION,
                payload,
                handling: Default::default(),
                warnings: vec![],
            };
            let incoming = Incoming {
                position: LogPosition {
                    partition: 0,
                    offset: self.offset,
                },
                logged_at: at,
                envelope,
            };
            let applied = self
                .store
                .apply(
                    std::slice::from_ref(&incoming),
                    &[incoming.position],
                    &self.policy,
                    at,
                )
                .await
                .unwrap();
            assert!(
                matches!(
                    applied.outcomes[0],
                    crate::store::ApplyOutcome::Applied { .. }
                ),
                "{:?}",
                applied.outcomes[0]
            );
        }

        async fn step(&mut self, actor: &str, action: Action, at: Timestamp) {
            let update = ReferralUpdate {
                referral: self.key.clone(),
                action,
                reason: "理由".into(),
                forward_to: None,
            };
            self.apply(actor, Payload::ReferralUpdate(update), at).await;
        }

        fn record(&self) -> ReferralRecord {
            self.store.referral(&self.key).unwrap().unwrap()
        }

        /// The current deadline fires exactly once, at its due time, against `late`.
        async fn fires_once(&self, late: &str, due: Option<Timestamp>) -> Timestamp {
            let deadline = self.record().deadline.expect("a running deadline");
            if let Some(due) = due {
                assert_eq!(deadline.due, due, "{}", deadline.step);
            }
            let early = self
                .store
                .fire_due(&self.policy, deadline.due - SignedDuration::from_micros(1))
                .await
                .unwrap();
            assert!(early.alerts.is_empty(), "{} fired early", deadline.step);
            let fired = self
                .store
                .fire_due(&self.policy, deadline.due)
                .await
                .unwrap();
            assert_eq!(
                fired.alerts.len(),
                1,
                "{} did not fire at its due time",
                deadline.step
            );
            let alert = &fired.alerts[0];
            assert_eq!(alert.kind, AlertKind::Overdue);
            assert_eq!(alert.rule_id, deadline.step);
            assert_eq!(
                alert.late.as_ref().map(AgencyId::as_str),
                Some(late),
                "{}",
                deadline.step
            );
            assert_eq!(alert.referral.as_ref(), Some(&self.key));
            // Delivered to the late party, the procuratorate and the coordinators of the division.
            for recipient in [late, "330106-JCY", "330100-SFJ"] {
                let id = agency(recipient);
                let latest = self.store.latest_cursor(&id).unwrap();
                let last = self.store.deliveries(&id, latest - 1, 1).unwrap();
                assert!(
                    matches!(&last[0].1, crate::store::DeliveredItem::Alert(a) if a.id == alert.id),
                    "{recipient} did not get the overdue alert of {}",
                    deadline.step
                );
            }
            let later = self
                .store
                .fire_due(
                    &self.policy,
                    deadline.due + SignedDuration::from_hours(24 * 30),
                )
                .await
                .unwrap();
            assert!(later.alerts.is_empty(), "{} fired twice", deadline.step);
            assert!(self.record().deadline.unwrap().overdue);
            deadline.due
        }
    }

    /// Every statutory deadline of a referral, in the order the flow meets them: each fires
    /// exactly once, at its due time, against the party that is late; working-day limits skip the
    /// weekend and the 2025 National Day holiday and count its make-up days.
    #[tokio::test]
    async fn every_deadline_fires_once_at_its_due_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fixture {
            store: Store::open(dir.path()).unwrap(),
            policy: policy(),
            key: ReferralKey {
                agency: agency("330106-SCJG"),
                id: EventId::parse("r-1").unwrap(),
            },
            offset: 0,
            _dir: dir,
        };
        let referral = Referral {
            referral_id: EventId::parse("r-1").unwrap(),
            police: agency("330106-GA"),
            case_number: "杭西市监案〔2025〕7号".into(),
            subject: crate::domain::event::tests::sample_lead()
                .subject()
                .unwrap()
                .clone(),
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
        )
        .await;
        // Reported: the head decides within 3 days — 24:00 CST on Monday 4 August.
        let due = f
            .fires_once("330106-SCJG", Some(t("2025-08-04T16:00:00Z")))
            .await;
        let hour = SignedDuration::from_hours(1);
        f.step("330106-SCJG", Action::Approve, due + hour).await;
        // Approved: transfer within 24 hours of approval.
        let due = f
            .fires_once(
                "330106-SCJG",
                Some(due + hour + SignedDuration::from_hours(24)),
            )
            .await;
        f.step("330106-SCJG", Action::Transfer, due + hour).await;
        let due = f.fires_once("330106-GA", None).await;
        f.step("330106-GA", Action::Receive, due + hour).await;
        let due = f.fires_once("330106-GA", None).await;
        f.step("330106-GA", Action::DeclineToFile, due + hour).await;
        let due = f.fires_once("330106-SCJG", None).await;
        f.step("330106-SCJG", Action::RequestReconsideration, due + hour)
            .await;
        let due = f.fires_once("330106-GA", None).await;
        f.step("330106-GA", Action::UpholdRefusal, due + hour).await;
        let due = f.fires_once("330106-SCJG", None).await;
        f.step("330106-SCJG", Action::RequestSupervision, due + hour)
            .await;
        assert!(
            f.record().deadline.is_none(),
            "no statutory limit on the procuratorate here"
        );
        f.step("330106-JCY", Action::RequestExplanation, due + hour * 2)
            .await;
        let due = f.fires_once("330106-GA", None).await;
        f.step("330106-GA", Action::Explain, due + hour).await;
        f.step("330106-JCY", Action::OrderFiling, due + hour * 2)
            .await;
        let due = f.fires_once("330106-GA", None).await;
        f.step("330106-GA", Action::File, due + hour).await;
        // Filed: goods handed over within 3 days.
        let due = f.fires_once("330106-SCJG", None).await;
        f.step("330106-SCJG", Action::HandOverGoods, due + hour)
            .await;
        assert!(f.record().deadline.is_none());
        assert_eq!(f.record().state, State::Filed);
        // Friday 26 September 2025, 10:00 CST: not prosecuted. Three working days: Sunday 28
        // (make-up day), Monday 29, Tuesday 30 September.
        f.step(
            "330106-JCY",
            Action::DeclineToProsecute,
            t("2025-09-26T02:00:00Z"),
        )
        .await;
        let due = f
            .fires_once("330106-JCY", Some(t("2025-09-30T16:00:00Z")))
            .await;
        // 1 October: ten working days skip the holiday to 8 October, count Saturday 11 October
        // (make-up day), and end Tuesday 21 October.
        f.step(
            "330106-JCY",
            Action::ReverseTransfer,
            t("2025-10-01T02:00:00Z"),
        )
        .await;
        assert!(due < t("2025-10-01T02:00:00Z"));
        f.fires_once("330106-JCY", Some(t("2025-10-21T16:00:00Z")))
            .await;
        f.step(
            "330106-JCY",
            Action::IssueOpinion,
            t("2025-10-22T02:00:00Z"),
        )
        .await;
        f.step(
            "330106-SCJG",
            Action::ReportPenalty,
            t("2025-10-23T02:00:00Z"),
        )
        .await;
        assert_eq!(f.record().state, State::PenaltyReported);
        assert!(
            f.store
                .fire_due(&f.policy, t("2026-01-01T00:00:00Z"))
                .await
                .unwrap()
                .alerts
                .is_empty()
        );
    }
}
