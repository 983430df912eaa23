//! 执法监督 in the store: the reads of the reports, from the router's counters — the 案卷评查 score
//! per agency and month (decisions; with a procedural record; complete; passing every check), and
//! per agency and day the penalties and fines the 罚没指标 signal reads.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::{OutcomeRow, Period, Store, StoreError, keys, values};
use crate::domain::AgencyId;
use crate::domain::procedure::quota::Fine;
use crate::domain::stats::Measure;

/// One agency's month of penalty decisions, as 案卷评查 counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcedureScore {
    /// The agency.
    pub agency: Option<AgencyId>,
    /// `YYYYMM`.
    pub month: u32,
    /// Penalty decisions.
    pub decisions: u64,
    /// With a procedural record.
    pub recorded: u64,
    /// With a complete one.
    pub complete: u64,
    /// Complete and passing every check.
    pub passing: u64,
}

impl ProcedureScore {
    /// complete / decisions, percent (rounded down).
    pub fn complete_pct(&self) -> u32 {
        percent(self.complete, self.decisions)
    }

    /// passing / decisions, percent (rounded down).
    pub fn passing_pct(&self) -> u32 {
        percent(self.passing, self.decisions)
    }
}

fn percent(part: u64, whole: u64) -> u32 {
    (part * 100).checked_div(whole).unwrap_or(0) as u32
}

impl Store {
    /// The 案卷评查 score per agency and month for agencies in the jurisdiction
    /// `division_prefix`, months `from..=to` (`YYYYMM`), by agency then month — from the
    /// router's monthly counters.
    pub fn procedure_scores(
        &self,
        division_prefix: &str,
        from: u32,
        to: u32,
    ) -> Result<Vec<ProcedureScore>, StoreError> {
        let month = |m: u32| Date::new((m / 100) as i16, (m % 100) as i8, 1);
        let (Ok(first), Ok(last)) = (month(from), month(to)) else {
            return Ok(Vec::new());
        };
        let mut scores: BTreeMap<(String, u32), ProcedureScore> = BTreeMap::new();
        for count in self.counts(division_prefix, Period::Month(first), Period::Month(last))? {
            if !matches!(
                count.measure,
                Measure::ProcedureDecisions
                    | Measure::ProcedureRecorded
                    | Measure::ProcedureComplete
                    | Measure::ProcedurePassing
            ) {
                continue;
            }
            let month: u32 = count.period.parse().unwrap_or(0);
            let score = scores
                .entry((count.dimension.clone(), month))
                .or_insert_with(|| ProcedureScore {
                    agency: AgencyId::parse(&count.dimension).ok(),
                    month,
                    ..ProcedureScore::default()
                });
            let n = u64::try_from(count.value).unwrap_or(0);
            match count.measure {
                Measure::ProcedureDecisions => score.decisions += n,
                Measure::ProcedureRecorded => score.recorded += n,
                Measure::ProcedureComplete => score.complete += n,
                _ => score.passing += n,
            }
        }
        Ok(scores.into_values().filter(|s| s.decisions > 0).collect())
    }

    /// The penalty decisions in the jurisdiction `division_prefix` decided from `from` to
    /// `to`, as the 罚没指标 signal reads them: per agency and day, how many and their fines —
    /// from the router's daily counters.
    pub fn fines(
        &self,
        division_prefix: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<Fine>, StoreError> {
        let mut days: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
        for count in self.counts(division_prefix, Period::Day(from), Period::Day(to))? {
            if !matches!(
                count.measure,
                Measure::FinesDecided | Measure::FineFenDecided
            ) {
                continue;
            }
            let day = days.entry((count.dimension, count.period)).or_default();
            match count.measure {
                Measure::FinesDecided => day.0 += u64::try_from(count.value).unwrap_or(0),
                _ => day.1 += count.value,
            }
        }
        Ok(days
            .into_iter()
            .filter(|(_, (n, _))| *n > 0)
            .filter_map(|((agency, day), (decisions, fen))| {
                Some(Fine {
                    agency: AgencyId::parse(&agency).ok()?,
                    day: Date::strptime("%Y%m%d", &day).ok()?,
                    fen,
                    decisions,
                })
            })
            .collect())
    }

    /// Every durable penalty decision (with its fine) in divisions starting with
    /// `division_prefix`, in no particular order.
    pub fn penalties(&self, division_prefix: &str) -> Result<Vec<OutcomeRow>, StoreError> {
        let durable = self.durable_seq();
        let mut out = Vec::new();
        for entry in self.tree.scan_prefix([keys::PENALTY]) {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            if keys::suffix_u64(&key) > durable {
                continue;
            }
            let row = values::read_penalty_value(&raw)?;
            if row.penalty && row.division.as_str().starts_with(division_prefix) {
                out.push(row);
            }
        }
        Ok(out)
    }
}
