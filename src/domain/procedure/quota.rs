//! 罚没指标 signal (严禁下达罚没指标): fines that bunch at the end of the month, as they do when an
//! agency works to a quota. Per agency, the share of its fine amounts decided in the last five
//! days of their month — over the last 90 days, against its own share in the year before and
//! against its peers' pooled share over the same 90 days. An even spread gives about 16%.
//! An agency with at least [`MIN_DECISIONS`] recent decisions whose share is at least
//! [`FLAG_SHARE_PCT`]% and at least twice its peers' is flagged; the figures go with it. A
//! signal for a coordinator to look, not a finding.

use jiff::ToSpan as _;
use jiff::civil::Date;

use crate::domain::AgencyId;

/// Days at the end of a month that count as its end.
pub const END_DAYS: i8 = 5;
/// The recent window, in days before the report day.
pub const RECENT_DAYS: i64 = 90;
/// The baseline: the year before the recent window.
pub const BASELINE_DAYS: i64 = 365;
/// Fewest recent decisions for a flag.
pub const MIN_DECISIONS: u64 = 10;
/// Smallest recent share (percent) for a flag.
pub const FLAG_SHARE_PCT: u32 = 40;

/// Penalties of one agency on one day: who, when, how many, how much.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fine {
    /// The deciding agency.
    pub agency: AgencyId,
    /// The day of the decision (China Standard Time).
    pub day: Date,
    /// Fines, fen.
    pub fen: i64,
    /// How many decisions (the router's counters give a day's at once).
    pub decisions: u64,
}

/// One agency's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clustering {
    /// The agency.
    pub agency: AgencyId,
    /// Decisions in the recent window.
    pub decisions: u64,
    /// Their fines, fen.
    pub total_fen: i64,
    /// Percent of that decided in a month's last five days.
    pub end_share_pct: u32,
    /// The same share in the year before (`None`: no fines then).
    pub baseline_pct: Option<u32>,
    /// The other agencies' pooled share in the recent window (`None`: no peers' fines).
    pub peers_pct: Option<u32>,
    /// Far above its peers.
    pub flagged: bool,
}

impl Fine {
    /// A penalty decided at `at` (its day in China Standard Time).
    pub fn at(agency: AgencyId, at: jiff::Timestamp, fen: i64) -> Self {
        Self {
            agency,
            day: crate::domain::calendar::CHINA.to_datetime(at).date(),
            fen,
            decisions: 1,
        }
    }
}

fn at_month_end(day: Date) -> bool {
    day.day() > day.days_in_month() - END_DAYS
}

fn pct(part: i64, whole: i64) -> Option<u32> {
    (whole > 0).then(|| (part.saturating_mul(100) / whole) as u32)
}

/// Per agency, by id: the figures for the report day `today`.
pub fn clustering(fines: &[Fine], today: Date) -> Vec<Clustering> {
    let recent_from = today.saturating_sub(RECENT_DAYS.days());
    let baseline_from = recent_from.saturating_sub(BASELINE_DAYS.days());
    let recent = |f: &&Fine| f.day > recent_from && f.day <= today;
    let baseline = |f: &&Fine| f.day > baseline_from && f.day <= recent_from;
    let sums = |it: &mut dyn Iterator<Item = &Fine>| {
        it.fold((0i64, 0i64, 0u64), |(end, all, n), f| {
            let end = end + if at_month_end(f.day) { f.fen } else { 0 };
            (end, all + f.fen, n + f.decisions)
        })
    };
    let mut agencies: Vec<&AgencyId> = fines.iter().map(|f| &f.agency).collect();
    agencies.sort();
    agencies.dedup();
    agencies
        .into_iter()
        .filter_map(|agency| {
            let (end, all, n) =
                sums(&mut fines.iter().filter(recent).filter(|f| &f.agency == agency));
            if n == 0 {
                return None;
            }
            let (b_end, b_all, _) = sums(
                &mut fines
                    .iter()
                    .filter(baseline)
                    .filter(|f| &f.agency == agency),
            );
            let (p_end, p_all, _) =
                sums(&mut fines.iter().filter(recent).filter(|f| &f.agency != agency));
            let share = pct(end, all).unwrap_or(0);
            let peers = pct(p_end, p_all);
            let flagged = n >= MIN_DECISIONS
                && share >= FLAG_SHARE_PCT
                && peers.is_some_and(|p| share >= 2 * p.max(1));
            Some(Clustering {
                agency: agency.clone(),
                decisions: n,
                total_fen: all,
                end_share_pct: share,
                baseline_pct: pct(b_end, b_all),
                peers_pct: peers,
                flagged,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fine(agency: &str, day: &str, fen: i64) -> Fine {
        Fine {
            agency: AgencyId::parse(agency).unwrap(),
            day: day.parse().unwrap(),
            fen,
            decisions: 1,
        }
    }

    #[test]
    fn the_last_five_days_of_each_month_count_as_its_end() {
        assert!(
            at_month_end("2026-02-24".parse().unwrap()),
            "February has 28 days in 2026"
        );
        assert!(!at_month_end("2026-02-23".parse().unwrap()));
        assert!(at_month_end("2026-03-27".parse().unwrap()));
        assert!(!at_month_end("2026-03-26".parse().unwrap()));
    }

    #[test]
    fn an_agency_fining_at_month_ends_is_flagged_against_its_peers() {
        let today: Date = "2026-06-30".parse().unwrap();
        let mut fines = Vec::new();
        for month in 4..=6 {
            for d in [27, 28, 29, 30] {
                fines.push(fine(
                    "330106-SCJG",
                    &format!("2026-{month:02}-{d}"),
                    100_000,
                ));
            }
            for d in [3, 10, 17, 24, 28] {
                fines.push(fine(
                    "330102-SCJG",
                    &format!("2026-{month:02}-{d:02}"),
                    100_000,
                ));
            }
        }
        fines.push(fine("330106-SCJG", "2026-02-10", 100_000));
        let report = clustering(&fines, today);
        let (quota, even) = (&report[1], &report[0]);
        assert_eq!(quota.agency.as_str(), "330106-SCJG");
        assert_eq!(
            (quota.decisions, quota.end_share_pct, quota.baseline_pct),
            (12, 100, Some(0))
        );
        assert_eq!(quota.peers_pct, Some(20));
        assert!(quota.flagged);
        assert_eq!((even.end_share_pct, even.flagged), (20, false));
        // Too few decisions: no flag, however bunched.
        let few: Vec<Fine> = fines
            .iter()
            .filter(|f| f.day.month() == 6)
            .cloned()
            .collect();
        assert!(!clustering(&few, today)[1].flagged);
    }
}
