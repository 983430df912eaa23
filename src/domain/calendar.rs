//! Statutory time limits and the calendar they are counted on.
//!
//! A limit is counted in hours, calendar days or working days:
//!
//! - **hours** (`24 小时`): the instant `start + n hours`.
//! - **days** (`3 日`): the day of the start is not counted (期间开始之日不计算在内 — the rule of
//!   刑事诉讼法 Art. 105 and 行政诉讼法 Art. 51, which Decree 310 leaves to the general rules);
//!   the limit ends at 24:00 China Standard Time of the n-th day after it — unless that day is
//!   a weekend day or public holiday: then it ends at 24:00 of the next working day
//!   (期间的最后一日为节假日的，以节假日后的第一日为期满日期: 刑事诉讼法 Art. 105, as amended
//!   2018-10-26, in force that day; 民法典 Art. 203, in force 2021-01-01). Make-up working days
//!   are working days.
//! - **working days** (`3 个工作日`): the same, counting only working days: Monday to Friday,
//!   minus the public holidays of the State Council's yearly notice, plus its make-up working
//!   days (调休上班). The holidays and make-up days are data (`[calendar]` in the config).
//!
//! All instants are UTC; days are China Standard Time days (UTC+8, no daylight saving since
//! 1991), because that is where the deadlines run.

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// China Standard Time, the zone statutory days are counted in.
pub const CHINA: Offset = Offset::constant(8);

/// A statutory time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "unit", content = "n")]
pub enum Limit {
    /// Hours from the start instant.
    Hours(u32),
    /// Calendar days, start day not counted, ending 24:00 CST.
    Days(u32),
    /// Working days, start day not counted, ending 24:00 CST.
    WorkingDays(u32),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Hours(n) => write!(f, "{n} hours"),
            Limit::Days(n) => write!(f, "{n} days"),
            Limit::WorkingDays(n) => write!(f, "{n} working days"),
        }
    }
}

/// Working days: weekdays, minus public holidays, plus make-up working days.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    holidays: BTreeSet<Date>,
    workdays: BTreeSet<Date>,
}

/// A calendar whose days contradict each other.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0} is listed both as a public holiday and as a make-up working day")]
pub struct CalendarConflict(pub Date);

impl WorkCalendar {
    /// A calendar with these public holidays and make-up working days.
    pub fn new(
        holidays: impl IntoIterator<Item = Date>,
        workdays: impl IntoIterator<Item = Date>,
    ) -> Result<Self, CalendarConflict> {
        let holidays: BTreeSet<Date> = holidays.into_iter().collect();
        let workdays: BTreeSet<Date> = workdays.into_iter().collect();
        if let Some(both) = holidays.intersection(&workdays).next() {
            return Err(CalendarConflict(*both));
        }
        Ok(Self { holidays, workdays })
    }

    /// Whether `day` is a working day.
    pub fn is_working_day(&self, day: Date) -> bool {
        if self.workdays.contains(&day) {
            return true;
        }
        if self.holidays.contains(&day) {
            return false;
        }
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    /// The n-th working day after `day` (`day` itself not counted).
    pub fn working_days_after(&self, day: Date, n: u32) -> Date {
        let mut current = day;
        let mut counted = 0;
        while counted < n {
            // Dates stay far inside jiff's range for any real deadline.
            current = current.tomorrow().unwrap_or(current);
            if self.is_working_day(current) {
                counted += 1;
            }
        }
        current
    }

    /// `day` if it is a working day, else the first working day after it: where a period
    /// counted in days whose last day is a rest day ends (刑事诉讼法 Art. 105; 民法典 Art. 203).
    pub fn first_working_day_from(&self, day: Date) -> Date {
        if self.is_working_day(day) {
            day
        } else {
            self.working_days_after(day, 1)
        }
    }

    /// When `limit`, started at `start`, runs out. Hours are exact and never move; a period in
    /// days whose last day is a rest day ends with the next working day.
    pub fn due(&self, start: Timestamp, limit: Limit) -> Timestamp {
        let day = CHINA.to_datetime(start).date();
        let last_day = match limit {
            Limit::Hours(h) => {
                return start
                    .saturating_add(SignedDuration::from_hours(i64::from(h)))
                    .unwrap_or(Timestamp::MAX);
            }
            Limit::Days(n) => self.first_working_day_from(
                day.checked_add(jiff::Span::new().days(i64::from(n)))
                    .unwrap_or(day),
            ),
            Limit::WorkingDays(n) => self.working_days_after(day, n),
        };
        end_of_day(last_day)
    }
}

/// 24:00 China Standard Time of `day`, as a UTC instant.
fn end_of_day(day: Date) -> Timestamp {
    let next = day.tomorrow().unwrap_or(day);
    CHINA
        .to_timestamp(next.to_datetime(jiff::civil::Time::midnight()))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The 2025 National Day holiday (国办发明电〔2024〕12号): 1–8 October off, Sunday
    /// 28 September and Saturday 11 October worked.
    fn national_day_2025() -> WorkCalendar {
        let holidays = (1..=8).map(|day| Date::constant(2025, 10, day));
        WorkCalendar::new(holidays, [d("2025-09-28"), d("2025-10-11")]).unwrap()
    }

    #[test]
    fn hours_are_exact() {
        let cal = WorkCalendar::default();
        assert_eq!(
            cal.due(t("2026-11-27T10:15:00Z"), Limit::Hours(24)),
            t("2026-11-28T10:15:00Z")
        );
    }

    #[test]
    fn days_do_not_count_the_start_day_and_end_at_midnight_china_time() {
        let cal = WorkCalendar::default();
        // Friday 27 Nov 2026, 18:15 CST → three days later is Monday 30 Nov, ending 24:00 CST,
        // which is 16:00 UTC that day.
        assert_eq!(
            cal.due(t("2026-11-27T10:15:00Z"), Limit::Days(3)),
            t("2026-11-30T16:00:00Z")
        );
        // 23:30 UTC on the 27th is already the 28th in China.
        assert_eq!(
            cal.due(t("2026-11-27T23:30:00Z"), Limit::Days(3)),
            t("2026-12-01T16:00:00Z")
        );
    }

    #[test]
    fn a_period_in_days_ending_on_a_saturday_ends_on_monday() {
        let cal = WorkCalendar::default();
        // Wednesday 25 Nov 2026, 15:00 CST + 3 days = Saturday 28 Nov → Monday 30 Nov, 24:00 CST.
        assert_eq!(
            cal.due(t("2026-11-25T07:00:00Z"), Limit::Days(3)),
            t("2026-11-30T16:00:00Z")
        );
        // Ending on Sunday moves to Monday too.
        assert_eq!(
            cal.due(t("2026-11-26T07:00:00Z"), Limit::Days(3)),
            t("2026-11-30T16:00:00Z")
        );
    }

    #[test]
    fn a_period_in_days_ending_in_a_holiday_week_ends_on_the_first_working_day_after_it() {
        let cal = national_day_2025();
        // Tuesday 30 Sep 2025 + 3 days = Friday 3 Oct, inside the 1–8 Oct holiday → Thursday 9.
        assert_eq!(
            cal.due(t("2025-09-30T02:00:00Z"), Limit::Days(3)),
            t("2025-10-09T16:00:00Z")
        );
        // Ending on the make-up Saturday 11 Oct (a working day): it stays.
        assert_eq!(
            cal.due(t("2025-10-08T02:00:00Z"), Limit::Days(3)),
            t("2025-10-11T16:00:00Z")
        );
        // Ending on the make-up Sunday 28 Sep: it stays.
        assert_eq!(
            cal.due(t("2025-09-25T02:00:00Z"), Limit::Days(3)),
            t("2025-09-28T16:00:00Z")
        );
    }

    #[test]
    fn hours_over_a_weekend_do_not_move() {
        let cal = national_day_2025();
        // Friday 18:00 CST + 24 hours ends Saturday 18:00 CST, rest day or not.
        assert_eq!(
            cal.due(t("2026-11-27T10:00:00Z"), Limit::Hours(24)),
            t("2026-11-28T10:00:00Z")
        );
        assert_eq!(
            cal.due(t("2025-09-30T10:00:00Z"), Limit::Hours(24)),
            t("2025-10-01T10:00:00Z")
        );
    }

    #[test]
    fn working_days_skip_weekends() {
        let cal = WorkCalendar::default();
        // Thursday 26 Nov 2026 + 3 working days = Fri 27, Mon 30, Tue 1 Dec.
        assert_eq!(
            cal.due(t("2026-11-26T02:00:00Z"), Limit::WorkingDays(3)),
            t("2026-12-01T16:00:00Z")
        );
    }

    #[test]
    fn working_days_skip_holidays_and_count_make_up_days() {
        let cal = national_day_2025();
        assert!(cal.is_working_day(d("2025-09-28")), "make-up Sunday");
        assert!(!cal.is_working_day(d("2025-10-06")), "holiday Monday");
        assert!(cal.is_working_day(d("2025-10-11")), "make-up Saturday");
        // Friday 26 Sep + 3 working days: Sun 28 (make-up), Mon 29, Tue 30 Sep.
        assert_eq!(
            cal.due(t("2025-09-26T02:00:00Z"), Limit::WorkingDays(3)),
            t("2025-09-30T16:00:00Z")
        );
        // Tuesday 30 Sep + 3 working days: 1–8 Oct off, Thu 9, Fri 10, Sat 11 (make-up).
        assert_eq!(
            cal.due(t("2025-09-30T02:00:00Z"), Limit::WorkingDays(3)),
            t("2025-10-11T16:00:00Z")
        );
    }

    #[test]
    fn a_day_cannot_be_both_holiday_and_workday() {
        let day = d("2025-10-01");
        assert_eq!(
            WorkCalendar::new([day], [day]).unwrap_err(),
            CalendarConflict(day)
        );
    }
}
