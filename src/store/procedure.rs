//! 执法监督 in the store: each penalty decision's 案卷评查 row (was a procedure recorded, was it
//! complete, did it pass every check) and the reads of the reports — the score per agency and
//! month, and every penalty's agency, day and fine for the 罚没指标 signal.

use super::{Batch, OutcomeRow, ProcedureRow, Store, StoreError, keys, values};
use crate::domain::AgencyId;
use crate::domain::procedure::quota::Fine;

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

impl Batch<'_> {
    /// Stages a decision's row under the event's seq.
    pub(super) fn stage_procedure(&mut self, row: &ProcedureRow, seq: u64) {
        self.put(
            keys::procedure(&row.agency, row.month, seq),
            vec![
                u8::from(row.recorded),
                u8::from(row.complete),
                u8::from(row.passing),
            ],
        );
    }
}

impl Store {
    /// The 案卷评查 score per agency and month for agencies whose id starts with
    /// `division_prefix`, months `from..=to` (`YYYYMM`), by agency then month.
    pub fn procedure_scores(
        &self,
        division_prefix: &str,
        from: u32,
        to: u32,
    ) -> Result<Vec<ProcedureScore>, StoreError> {
        let durable = self.durable_seq();
        let mut scores: std::collections::BTreeMap<(String, u32), ProcedureScore> =
            Default::default();
        for entry in self.tree.scan_prefix([keys::PROCEDURE]) {
            let (key, flags) = entry.map_err(StoreError::sled("read"))?;
            if keys::suffix_u64(&key) > durable {
                continue;
            }
            let text = String::from_utf8_lossy(&key[1..key.len().saturating_sub(8)]).into_owned();
            let mut parts = text.split('\0');
            let (Some(agency), Some(month)) = (parts.next(), parts.next()) else {
                return Err(StoreError::Corrupt {
                    tree: "procedure",
                    reason: format!("row {text:?}"),
                });
            };
            let month: u32 = month.parse().unwrap_or(0);
            if !agency.starts_with(division_prefix) || month < from || month > to {
                continue;
            }
            let score =
                scores
                    .entry((agency.to_owned(), month))
                    .or_insert_with(|| ProcedureScore {
                        agency: AgencyId::parse(agency).ok(),
                        month,
                        ..ProcedureScore::default()
                    });
            let flag = |i: usize| u64::from(flags.get(i).copied().unwrap_or(0) != 0);
            score.decisions += 1;
            score.recorded += flag(0);
            score.complete += flag(1);
            score.passing += flag(2);
        }
        Ok(scores.into_values().collect())
    }

    /// Every durable penalty decision in divisions starting with `division_prefix` as the
    /// 罚没指标 signal reads it: agency, day, fine.
    pub fn fines(&self, division_prefix: &str) -> Result<Vec<Fine>, StoreError> {
        Ok(self
            .penalties(division_prefix)?
            .into_iter()
            .map(|r| Fine::at(r.agency, r.decided_at, r.fine_fen))
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
