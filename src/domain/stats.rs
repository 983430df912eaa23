//! The counts the console's overview and statistics (统计分析) read, as the router keeps them:
//! each applied event adds to a few named counters per division and China-time day, so that no
//! page scans events. The router decides what counts (`router/decide/tally.rs`); the store adds
//! each [`Tally`] into every jurisdiction that contains its division, per day or month (as its
//! measure is read: [`Measure::granularity`]), or as
//! a standing count.

use jiff::civil::Date;

use super::DivisionCode;

/// What a counter counts. The byte is its place in the store's keys: never reuse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Measure {
    /// Events, by domain (leads and outcomes: dimension [`Measure::domain_dim`]).
    EventsByDomain = 1,
    /// Events, by publishing agency.
    EventsByAgency = 2,
    /// Alerts, by kind (dimension: the kind's name).
    AlertsByKind = 3,
    /// Leads routed to an agency as the responsible one (dimension: that agency; `""`: none).
    LeadsReceived = 4,
    /// Leads an agency answered with an outcome (dimension: the answering agency).
    LeadsAnswered = 5,
    /// …of which within the configured working days of the lead (反馈及时).
    LeadsAnsweredOnTime = 6,
    /// Possible-crime alerts (追诉预警) about an agency's events (dimension: the agency).
    CrimeAlerts = 7,
    /// Referrals an agency opened (dimension: the agency).
    Referrals = 8,
    /// 以罚代刑 alerts about an agency's penalties (dimension: the agency).
    Substitutions = 9,
    /// Outcomes with a fine, by agency and offence (dimension: `agency/offence`).
    Penalties = 10,
    /// The fines of those outcomes, in fen.
    PenaltyFen = 11,
    /// Case outcomes, by agency.
    Outcomes = 12,
    /// Standing: leads by status (dimension: the status's name).
    LeadsByStatus = 13,
    /// Standing: referrals by state (dimension: the state's name).
    ReferralsByState = 14,
    /// Standing: referrals whose running deadline passed.
    ReferralsOverdue = 15,
    /// Penalty decisions, by agency, on the day they were decided (the 罚没指标 signal).
    FinesDecided = 16,
    /// Their fines, in fen.
    FineFenDecided = 17,
    /// Penalty decisions, by agency, in the month decided (案卷评查; division: the agency's).
    ProcedureDecisions = 18,
    /// …with a procedural record.
    ProcedureRecorded = 19,
    /// …with a complete one.
    ProcedureComplete = 20,
    /// …complete and passing every check.
    ProcedurePassing = 21,
}

impl Measure {
    /// Every measure, by its byte.
    pub const ALL: [Measure; 21] = [
        Measure::EventsByDomain,
        Measure::EventsByAgency,
        Measure::AlertsByKind,
        Measure::LeadsReceived,
        Measure::LeadsAnswered,
        Measure::LeadsAnsweredOnTime,
        Measure::CrimeAlerts,
        Measure::Referrals,
        Measure::Substitutions,
        Measure::Penalties,
        Measure::PenaltyFen,
        Measure::Outcomes,
        Measure::LeadsByStatus,
        Measure::ReferralsByState,
        Measure::ReferralsOverdue,
        Measure::FinesDecided,
        Measure::FineFenDecided,
        Measure::ProcedureDecisions,
        Measure::ProcedureRecorded,
        Measure::ProcedureComplete,
        Measure::ProcedurePassing,
    ];

    /// The measure a key byte names.
    pub fn from_byte(byte: u8) -> Option<Measure> {
        Self::ALL.iter().copied().find(|m| *m as u8 == byte)
    }

    /// A standing count (moves up and down, no day), rather than a count of happenings.
    pub fn is_standing(self) -> bool {
        self.granularity() == Granularity::Standing
    }

    /// How the store keeps it: what the console reads it by, and no finer — every counter a
    /// batch touches is one more write in the router's apply.
    pub fn granularity(self) -> Granularity {
        match self {
            // The overview's 30 days and the 罚没指标 signal's month-end days.
            Measure::EventsByDomain
            | Measure::EventsByAgency
            | Measure::AlertsByKind
            | Measure::FinesDecided
            | Measure::FineFenDecided => Granularity::Day,
            Measure::LeadsByStatus | Measure::ReferralsByState | Measure::ReferralsOverdue => {
                Granularity::Standing
            }
            // The overview's 30 days and the statistics' months.
            Measure::Outcomes => Granularity::DayAndMonth,
            // The statistics, the trend and 案卷评查: by month.
            _ => Granularity::Month,
        }
    }
}

/// The period a counter is kept by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// Per China-time day.
    Day,
    /// Per month.
    Month,
    /// Both.
    DayAndMonth,
    /// A standing count.
    Standing,
}

/// The dimension naming an enum value in the counters: its Rust name, which the console maps
/// back through the enum's `ALL` (tests in the console check that every value round-trips).
pub fn dim_of(value: impl std::fmt::Debug) -> String {
    format!("{value:?}")
}

/// One addition to a counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Where it happened (the store adds it into every jurisdiction containing it).
    pub division: DivisionCode,
    /// The China-time day it counts on; `None` for standing counts.
    pub day: Option<Date>,
    /// What it counts.
    pub measure: Measure,
    /// Which one (an agency, a domain, a kind; empty when the measure has none).
    pub dimension: String,
    /// How much (negative for a standing count that leaves a state).
    pub delta: i64,
}

/// The jurisdiction prefixes that contain a division code: the whole country (`""`), its
/// province, city, county, and township or village where the code has them — the prefixes a
/// viewer's own division reduces to ([`DivisionCode::jurisdiction_prefix`]).
pub fn scopes(division: &DivisionCode) -> impl Iterator<Item = &str> {
    let code = division.as_str();
    [0, 2, 4, 6, 9, 12]
        .into_iter()
        .filter(move |n| *n <= code.len())
        .map(move |n| &code[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_county_event_counts_in_the_country_province_city_and_county() {
        let county = DivisionCode::parse("330106").unwrap();
        assert_eq!(
            scopes(&county).collect::<Vec<_>>(),
            ["", "33", "3301", "330106"]
        );
        let village = DivisionCode::parse("330106001002").unwrap();
        assert_eq!(scopes(&village).count(), 6);
    }

    #[test]
    fn every_measure_round_trips_through_its_byte() {
        for m in Measure::ALL {
            assert_eq!(Measure::from_byte(m as u8), Some(m));
        }
        assert_eq!(Measure::from_byte(0), None);
    }
}
