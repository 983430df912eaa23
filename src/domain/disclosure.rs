//! Public disclosure of penalty decisions (行政处罚公示): which decisions the public sees and by
//! when.
//!
//! - 《中华人民共和国行政处罚法》(2021 revision, in force 2021-07-15) Art. 48: decisions with
//!   social impact are made public.
//! - 双公示 policy (DOMAIN.md): penalty decisions online within 7 working days of the decision,
//!   counted on the deployment's statutory calendar.

use jiff::Timestamp;

use super::calendar::{Limit, WorkCalendar};
use super::{Decision, Envelope, Handling, Payload, Sensitivity};

/// Working days after the decision within which a penalty must be public.
pub const WORKING_DAYS: u32 = 7;

/// The decision and its date, if `envelope` is a penalty its agency marked for the public
/// (`Sensitivity::Public`, shareable within the jurisdiction).
pub fn disclosed_decision(envelope: &Envelope) -> Option<Timestamp> {
    let Payload::CaseOutcome(outcome) = &envelope.payload else {
        return None;
    };
    (outcome.decision == Decision::Penalty
        && outcome.sensitivity == Sensitivity::Public
        && envelope.handling == Handling::ShareWithinJurisdiction)
        .then_some(outcome.decided_at)
}

/// When a decision taken at `decided_at` must be public by: the end of the 7th working day
/// after it (China Standard Time).
pub fn due(calendar: &WorkCalendar, decided_at: Timestamp) -> Timestamp {
    calendar.due(decided_at, Limit::WorkingDays(WORKING_DAYS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_working_days_skip_the_weekend() {
        // Friday 2026-11-27 10:00 CST → the 7th working day after is Tuesday 2026-12-08,
        // public until 24:00 CST, which is 16:00 UTC.
        let decided: Timestamp = "2026-11-27T02:00:00Z".parse().unwrap();
        let due = due(&WorkCalendar::default(), decided);
        assert_eq!(due.to_string(), "2026-12-08T16:00:00Z");
    }
}
