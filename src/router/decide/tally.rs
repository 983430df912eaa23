//! What an applied event or a tick of the clock adds to the console's counters (统计分析): events
//! by domain and agency, leads received and answered (and answered in time, 反馈及时), outcomes
//! and fines, possible-crime and 以罚代刑 alerts, referrals opened, and the standing counts of
//! leads by status and referrals by state. Read off the write set the other decisions made, so
//! the counters agree with what was stored, and replaying the log rebuilds them.

use jiff::Timestamp;
use jiff::civil::Date;

use super::day_of;
use crate::domain::stats::{Measure, Tally, dim_of};
use crate::domain::{AlertKind, DeliveryReason, DivisionCode, LeadStatus, Payload, Policy};
use crate::store::{Incoming, LeadWrite, WriteSet};

/// The counters' additions for an applied event, dated by the China-time day its publisher
/// says it happened (`produced_at`): a month's statistics hold that month's work, also when it
/// was published late or imported from a ledger. Both come from the event, so a replay of the
/// log counts the same.
pub(crate) fn of_event(incoming: &Incoming, ws: &WriteSet, policy: &Policy) -> Vec<Tally> {
    let envelope = &incoming.envelope;
    let day = day_of(envelope.produced_at);
    let mut out = Counting {
        day,
        out: Vec::new(),
    };
    let division = envelope
        .division()
        .or(ws.referral.as_ref().map(|r| &r.record.referral.division));
    if let Some(division) = division {
        out.add(
            division,
            Measure::EventsByAgency,
            envelope.producer.as_str(),
            1,
        );
        let domain = match &envelope.payload {
            Payload::Lead(lead) => Some(lead.domain),
            Payload::CaseOutcome(outcome) => Some(outcome.domain),
            _ => None,
        };
        if let Some(domain) = domain {
            out.add(division, Measure::EventsByDomain, &dim_of(domain), 1);
        }
        if matches!(envelope.payload, Payload::CaseOutcome(_)) {
            out.add(division, Measure::Outcomes, envelope.producer.as_str(), 1);
        }
    }
    match &ws.lead {
        Some(LeadWrite::Open { division, entry }) => {
            let responsible: Vec<&str> = ws
                .event
                .iter()
                .flat_map(|e| &e.recipients)
                .filter(|(_, why)| *why == DeliveryReason::ResponsibleAgency)
                .map(|(agency, _)| agency.as_str())
                .collect();
            for agency in &responsible {
                out.add(division, Measure::LeadsReceived, agency, 1);
            }
            if responsible.is_empty() {
                out.add(division, Measure::LeadsReceived, "", 1);
            }
            out.standing(division, Measure::LeadsByStatus, &dim_of(entry.status), 1);
        }
        Some(LeadWrite::Close {
            division, entry, ..
        }) => {
            out.standing(division, Measure::LeadsByStatus, &dim_of(entry.status), -1);
            out.standing(
                division,
                Measure::LeadsByStatus,
                &dim_of(LeadStatus::Closed),
                1,
            );
            let answerer = envelope.producer.as_str();
            out.add(division, Measure::LeadsAnswered, answerer, 1);
            let due = policy.calendar.working_days_after(
                day_of(entry.produced_at),
                policy.windows.lead_answer_working_days,
            );
            if day <= due {
                out.add(division, Measure::LeadsAnsweredOnTime, answerer, 1);
            }
        }
        None => {}
    }
    if let Some(outcome) = &ws.outcome {
        let row = &outcome.row;
        if row.penalty && row.fine_fen > 0 {
            let dim = format!("{}/{}", row.agency, outcome.offence);
            out.add(&row.division, Measure::Penalties, &dim, 1);
            out.add(&row.division, Measure::PenaltyFen, &dim, row.fine_fen);
        }
        if row.penalty {
            // 罚没指标 counts by the day of the decision, not of its publication.
            let decided = Some(day_of(row.decided_at));
            let agency = row.agency.as_str();
            out.push(&row.division, decided, Measure::FinesDecided, agency, 1);
            out.push(
                &row.division,
                decided,
                Measure::FineFenDecided,
                agency,
                row.fine_fen,
            );
        }
    }
    if let Some(row) = &ws.procedure
        && let Ok(division) = DivisionCode::parse(row.agency.division())
        && let Ok(month) =
            jiff::civil::Date::new((row.month / 100) as i16, (row.month % 100) as i8, 1)
    {
        let agency = row.agency.as_str();
        let flags = [
            (Measure::ProcedureDecisions, true),
            (Measure::ProcedureRecorded, row.recorded),
            (Measure::ProcedureComplete, row.complete),
            (Measure::ProcedurePassing, row.passing),
        ];
        for (measure, set) in flags {
            out.push(&division, Some(month), measure, agency, i64::from(set));
        }
    }
    out.common(ws, envelope.producer.as_str());
    out.out
}

/// The counters' additions for what the clock decided at `now`.
pub(crate) fn of_clock(ws: &WriteSet, now: Timestamp) -> Vec<Tally> {
    let mut out = Counting {
        day: day_of(now),
        out: Vec::new(),
    };
    out.common(ws, "");
    out.out
}

/// Tallies being collected for one write set.
struct Counting {
    day: Date,
    out: Vec<Tally>,
}

impl Counting {
    fn push(
        &mut self,
        division: &DivisionCode,
        day: Option<Date>,
        measure: Measure,
        dim: &str,
        delta: i64,
    ) {
        self.out.push(Tally {
            division: division.clone(),
            day,
            measure,
            dimension: dim.to_owned(),
            delta,
        });
    }

    fn add(&mut self, division: &DivisionCode, measure: Measure, dim: &str, delta: i64) {
        self.push(division, Some(self.day), measure, dim, delta);
    }

    fn standing(&mut self, division: &DivisionCode, measure: Measure, dim: &str, delta: i64) {
        self.push(division, None, measure, dim, delta);
    }

    /// Referral states and alerts, whether an event or the clock set them off. `producer`: the
    /// event's publisher (empty for the clock).
    fn common(&mut self, ws: &WriteSet, producer: &str) {
        if let Some(write) = &ws.referral {
            let record = &write.record;
            let division = &record.referral.division;
            let overdue = record.deadline.as_ref().is_some_and(|d| d.overdue);
            let (before, was_overdue) = match write.previous {
                None => {
                    self.add(division, Measure::Referrals, record.key.agency.as_str(), 1);
                    (None, false)
                }
                Some((state, overdue)) => (Some(state), overdue),
            };
            if before != Some(record.state) {
                if let Some(before) = before {
                    self.standing(division, Measure::ReferralsByState, &dim_of(before), -1);
                }
                self.standing(
                    division,
                    Measure::ReferralsByState,
                    &dim_of(record.state),
                    1,
                );
            }
            if overdue != was_overdue {
                let delta = if overdue { 1 } else { -1 };
                self.standing(division, Measure::ReferralsOverdue, "", delta);
            }
        }
        for write in &ws.alerts {
            let alert = &write.alert;
            let Some(division) = &alert.division else {
                continue;
            };
            self.add(division, Measure::AlertsByKind, &dim_of(alert.kind), 1);
            match alert.kind {
                AlertKind::PossibleCrime if !producer.is_empty() => {
                    self.add(division, Measure::CrimeAlerts, producer, 1);
                }
                AlertKind::PenaltyInsteadOfReferral => {
                    if let Some(outcome) = alert.events.first() {
                        self.add(
                            division,
                            Measure::Substitutions,
                            outcome.producer.as_str(),
                            1,
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Fake, policy, sample_lead};
    use crate::domain::stats::{Measure, Tally};
    use crate::domain::{
        AgencyId, CaseOutcome, Decision, DivisionCode, EventId, OffenceCode, Payload, Sensitivity,
    };

    fn sum(tallies: &[Tally], measure: Measure, dim: &str) -> i64 {
        tallies
            .iter()
            .filter(|t| t.measure == measure && t.dimension == dim)
            .map(|t| t.delta)
            .sum()
    }

    /// The sample lead (Hangzhou 生态环境, routed to 330100-STHJ), answered `days` later.
    fn lead_then_answer(days: i64) -> Vec<Tally> {
        let (mut fake, policy) = (Fake::default(), policy());
        let lead = fake.incoming(sample_lead());
        fake.apply(&lead, &policy);
        let mut answer = sample_lead();
        answer.event_id = EventId::parse("out-1").unwrap();
        answer.producer = AgencyId::parse("330100-STHJ").unwrap();
        answer.produced_at =
            lead.envelope.produced_at + jiff::SignedDuration::from_hours(24 * days);
        answer.payload = Payload::CaseOutcome(CaseOutcome {
            case_number: "杭环罚〔2026〕1号".into(),
            subject: sample_lead().subject().unwrap().clone(),
            division: DivisionCode::parse("330106").unwrap(),
            domain: crate::domain::Domain::EcologyEnvironment,
            offence_code: OffenceCode::parse("CL-140").unwrap(),
            decision: Decision::Penalty,
            fine_fen: 2_500_000,
            confiscated_fen: 0,
            facts: Default::default(),
            decided_at: answer.produced_at,
            lead: Some(lead.envelope.key()),
            legal_basis: String::new(),
            sensitivity: Sensitivity::Internal,
            severity: None,
            procedure: None,
            historic: false,
        });
        let answer = fake.incoming(answer);
        fake.apply(&answer, &policy);
        fake.tallies
    }

    #[test]
    fn a_lead_answered_in_time_counts_as_received_answered_timely_and_closed() {
        let tallies = lead_then_answer(3);
        assert_eq!(sum(&tallies, Measure::LeadsReceived, "330100-STHJ"), 1);
        assert_eq!(sum(&tallies, Measure::LeadsAnswered, "330100-STHJ"), 1);
        assert_eq!(
            sum(&tallies, Measure::LeadsAnsweredOnTime, "330100-STHJ"),
            1
        );
        // Standing: opened, then moved to closed.
        assert_eq!(sum(&tallies, Measure::LeadsByStatus, "Open"), 0);
        assert_eq!(sum(&tallies, Measure::LeadsByStatus, "Closed"), 1);
        assert_eq!(sum(&tallies, Measure::Outcomes, "330100-STHJ"), 1);
        assert_eq!(sum(&tallies, Measure::Penalties, "330100-STHJ/CL-140"), 1);
        assert_eq!(
            sum(&tallies, Measure::PenaltyFen, "330100-STHJ/CL-140"),
            2_500_000
        );
        assert!(
            tallies
                .iter()
                .all(|t| t.measure.is_standing() == t.day.is_none())
        );
    }

    #[test]
    fn an_answer_after_the_configured_working_days_is_answered_but_not_timely() {
        // 15 working days are three weeks: 40 calendar days are well past them.
        let tallies = lead_then_answer(40);
        assert_eq!(sum(&tallies, Measure::LeadsAnswered, "330100-STHJ"), 1);
        assert_eq!(
            sum(&tallies, Measure::LeadsAnsweredOnTime, "330100-STHJ"),
            0
        );
    }
}
