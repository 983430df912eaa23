//! The penalty report (同案不同罚 at a glance): for one offence, per agency, how many penalties,
//! the lowest, median and highest fine, and the share outside the discretion band.

use jiff::Timestamp;

use super::{OutcomeRow, Store, StoreError, decode, keys};
use crate::domain::{AgencyId, OffenceCode};

/// Which penalties to report on.
#[derive(Clone, Debug)]
pub struct ReportFilter {
    /// The offence.
    pub offence: OffenceCode,
    /// Only divisions starting with this.
    pub division_prefix: String,
    /// Decided at or after.
    pub from: Option<Timestamp>,
    /// Decided before.
    pub before: Option<Timestamp>,
}

/// One agency's penalties for the offence.
#[derive(Clone, Debug, PartialEq)]
pub struct AgencyPenalties {
    /// The agency.
    pub agency: AgencyId,
    /// Number of penalties.
    pub count: u64,
    /// Lowest fine, fen.
    pub min_fen: i64,
    /// Median fine, fen (the lower middle for an even count).
    pub median_fen: i64,
    /// Highest fine, fen.
    pub max_fen: i64,
    /// Penalties whose fine was outside the band.
    pub outside_band: u64,
    /// `outside_band / count`.
    pub outside_share: f64,
}

impl Store {
    /// The penalty report for `filter`, agencies in id order.
    pub fn penalty_report(
        &self,
        filter: &ReportFilter,
    ) -> Result<Vec<AgencyPenalties>, StoreError> {
        let mut fines: std::collections::BTreeMap<AgencyId, (Vec<i64>, u64)> = Default::default();
        let scope = keys::scope(filter.offence.as_str());
        let durable = self.durable_seq();
        for entry in self.trees.outcomes.scan_prefix(&scope) {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            if keys::suffix_u64(&key) > durable {
                continue;
            }
            let row: OutcomeRow = decode("outcomes", &raw)?;
            let in_period = filter.from.is_none_or(|t| row.decided_at >= t)
                && filter.before.is_none_or(|t| row.decided_at < t);
            if !row.penalty
                || !in_period
                || !row.division.as_str().starts_with(&filter.division_prefix)
            {
                continue;
            }
            let entry = fines.entry(row.agency).or_default();
            entry.0.push(row.fine_fen);
            entry.1 += u64::from(row.outside_band == Some(true));
        }
        Ok(fines
            .into_iter()
            .map(|(agency, (mut list, outside))| {
                list.sort_unstable();
                let count = list.len() as u64;
                AgencyPenalties {
                    agency,
                    count,
                    min_fen: list[0],
                    median_fen: list[(list.len() - 1) / 2],
                    max_fen: list[list.len() - 1],
                    outside_band: outside,
                    outside_share: outside as f64 / count as f64,
                }
            })
            .collect())
    }
}

impl Store {
    /// The store sequence numbers of the latest `limit` penalty decisions, newest first (the
    /// public disclosure feed). Reads every outcome row: fine for a feed page, not for a
    /// store of tens of millions.
    pub fn latest_penalties(&self, limit: usize) -> Result<Vec<u64>, StoreError> {
        let durable = self.durable_seq();
        let mut seqs = Vec::new();
        for entry in self.trees.outcomes.iter() {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            let seq = keys::suffix_u64(&key);
            if seq > durable {
                continue;
            }
            let row: OutcomeRow = decode("outcomes", &raw)?;
            if row.penalty {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.truncate(limit);
        Ok(seqs)
    }
}
