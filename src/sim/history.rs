//! The demo's past month: before the live simulation starts, the agencies publish what a city's
//! thirty days of work look like — leads on each working day, most of them answered by the
//! responsible agency within days (some late, some not at all), and penalty decisions of their
//! own — each dated when it happened (`produced_at`), so that the console's charts and
//! statistics, which count by that date, show a month rather than one busy minute.

use jiff::{SignedDuration, Timestamp, ToSpan};
use tonic::transport::Channel;

use super::client::ClientError;
use super::workload::{self, Rng};
use crate::codec::to_proto::ts;
use crate::domain::calendar::CHINA;
use crate::domain::{AgencyKind, DivisionCode, Registry};
use crate::proto;
use crate::proto::publisher_client::PublisherClient;

/// Leads per working day across the city.
const LEADS_PER_DAY: usize = 24;
/// Penalty decisions per working day that answer no lead.
const OUTCOMES_PER_DAY: usize = 8;

/// What the month held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Leads published.
    pub leads: usize,
    /// Of them answered.
    pub answered: usize,
    /// Other penalty decisions.
    pub outcomes: usize,
}

/// An instant on `days_ago`'s China-time day, at `minute` past 08:30.
fn on_day(now: Timestamp, days_ago: i64, minute: i64) -> Timestamp {
    let day = CHINA.to_datetime(now).date() - days_ago.days();
    let at = day.to_datetime(jiff::civil::time(8, 30, 0, 0)) + minute.minutes();
    CHINA.to_timestamp(at).unwrap_or(now)
}

/// Publishes `days` days of work before `now` through the gateway on `channel`; event ids
/// start with `run_id`.
pub async fn seed(
    channel: Channel,
    run_id: &str,
    registry: &Registry,
    days: i64,
    now: Timestamp,
) -> Result<History, ClientError> {
    let mut rng = Rng::new(now.as_second() as u64 | 1);
    let divisions = workload::divisions(registry);
    let pool = workload::subjects(&mut rng, &divisions, 60);
    let producers = workload::producers(registry);
    let admin: Vec<_> = registry
        .iter()
        .filter(|a| a.kind == AgencyKind::Administrative)
        .cloned()
        .collect();
    let mut client = PublisherClient::new(channel);
    let mut history = History::default();
    let n = std::sync::atomic::AtomicU64::new(0);
    let next_id = || {
        let next = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        format!("hist-{run_id}-{next:05}")
    };
    for days_ago in (1..=days).rev() {
        let day = CHINA.to_datetime(on_day(now, days_ago, 0)).date();
        if !crate::domain::calendar::WorkCalendar::default().is_working_day(day) {
            continue;
        }
        for _ in 0..LEADS_PER_DAY {
            let producer = rng.pick(&producers).clone();
            let subject = rng.pick(&pool).clone();
            let event_id = next_id();
            let (mut request, scenario) =
                workload::lead(&mut rng, &event_id, &producer, &subject, &divisions);
            let at = on_day(now, days_ago, rng.below(480) as i64);
            request.produced_at = Some(ts(at));
            let Some(lead) = request.lead.as_mut() else {
                continue;
            };
            lead.observed_at = Some(ts(at));
            let division = DivisionCode::parse(&lead.division).ok();
            let lead = lead.clone();
            client.publish_lead(request).await?;
            history.leads += 1;
            // Most leads are answered by the responsible agency, within one to twenty days.
            let responsible = division.as_ref().and_then(|d| {
                registry
                    .responsible_for(d, scenario.domain)
                    .first()
                    .cloned()
            });
            let later = at + SignedDuration::from_hours(24 * (1 + rng.below(20) as i64));
            let (Some(agency), true) = (responsible, rng.below(10) < 8 && later < now) else {
                continue;
            };
            let mut answer = workload::outcome(
                &mut rng,
                &next_id(),
                agency,
                &subject,
                n.load(std::sync::atomic::Ordering::Relaxed),
            );
            answer.produced_at = Some(ts(later));
            if let Some(outcome) = answer.outcome.as_mut() {
                outcome.decided_at = Some(ts(later));
                outcome.division = lead.division.clone();
                outcome.domain = lead.domain;
                outcome.offence_code = lead.offence_code.clone();
                outcome.facts = lead.facts.clone();
                outcome.lead = Some(proto::LeadRef {
                    producer: producer.id.to_string(),
                    event_id: event_id.clone(),
                });
            }
            client.publish_outcome(answer).await?;
            history.answered += 1;
        }
        for _ in 0..OUTCOMES_PER_DAY {
            let Some(agency) = (!admin.is_empty()).then(|| rng.pick(&admin).clone()) else {
                break;
            };
            let subject = rng.pick(&pool).clone();
            let mut outcome = workload::outcome(
                &mut rng,
                &next_id(),
                &agency,
                &subject,
                n.load(std::sync::atomic::Ordering::Relaxed),
            );
            let at = on_day(now, days_ago, rng.below(480) as i64);
            outcome.produced_at = Some(ts(at));
            if let Some(o) = outcome.outcome.as_mut() {
                o.decided_at = Some(ts(at));
            }
            client.publish_outcome(outcome).await?;
            history.outcomes += 1;
        }
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_ago_fall_in_office_hours_china_time() {
        let now: Timestamp = "2026-11-27T04:00:00Z".parse().unwrap();
        let at = on_day(now, 3, 0);
        assert_eq!(at.to_string(), "2026-11-24T00:30:00Z");
    }
}
