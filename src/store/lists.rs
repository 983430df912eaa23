//! Reads over alerts, referrals and penalties: the latest alerts of a region, referrals by
//! state and party, the penalty report (同案不同罚 at a glance) and the public feed's list.

use jiff::Timestamp;

use super::read::{Page, Step};
use super::{Store, StoreError, keys, records, values};
use crate::domain::referral::ReferralRecord;
use crate::domain::{AgencyId, Alert, OffenceCode, ReferralKey, State};

/// Which referrals to list.
#[derive(Clone, Debug, Default)]
pub struct ReferralFilter {
    /// Only in this state.
    pub state: Option<State>,
    /// Only in divisions starting with this.
    pub division_prefix: String,
    /// Only those this agency is the referring agency or the police of.
    pub party: Option<AgencyId>,
    /// Only those whose current deadline has run out.
    pub overdue: bool,
}

impl ReferralFilter {
    fn matches(&self, r: &ReferralRecord) -> bool {
        self.state.is_none_or(|s| s == r.state)
            && r.referral
                .division
                .as_str()
                .starts_with(&self.division_prefix)
            && self
                .party
                .as_ref()
                .is_none_or(|p| p == &r.key.agency || p == &r.police)
            && (!self.overdue || r.deadline.as_ref().is_some_and(|d| d.overdue))
    }
}

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
    /// The alert with this id.
    pub fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        self.tree
            .get(keys::alert(id))
            .map_err(StoreError::sled("read"))?
            .map(|raw| records::decode_alert_body(&records::decode_alert_record(&raw)?.0, self))
            .transpose()
    }

    /// The latest `limit` durable alerts whose division starts with `division_prefix` (all
    /// alerts for an empty prefix), newest first.
    pub fn latest_alerts(
        &self,
        division_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        self.alerts_in(
            self.tree.scan_prefix([keys::ALERT]).rev(),
            division_prefix,
            limit,
        )
    }

    /// Up to `limit` durable alerts raised after `after` (an alert id) whose division starts
    /// with `division_prefix`, oldest first: what a live view has not shown yet.
    pub fn alerts_after(
        &self,
        after: u64,
        division_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        let range = self
            .tree
            .range(keys::alert(after.saturating_add(1))..keys::alert(u64::MAX));
        self.alerts_in(range, division_prefix, limit)
    }

    fn alerts_in(
        &self,
        entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        division_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        let durable = self.durable_seq();
        let mut out = Vec::new();
        for entry in entries {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            if keys::suffix_u64(&key) > durable {
                continue;
            }
            let alert = records::decode_alert_body(&records::decode_alert_record(&raw)?.0, self)?;
            let within = alert
                .division
                .as_ref()
                .map_or(division_prefix.is_empty(), |d| {
                    d.as_str().starts_with(division_prefix)
                });
            if within {
                out.push(alert);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// A referral by key.
    pub fn referral(&self, key: &ReferralKey) -> Result<Option<ReferralRecord>, StoreError> {
        self.tree
            .get(keys::referral(key))
            .map_err(StoreError::sled("read"))?
            .map(|raw| records::decode_referral(&raw))
            .transpose()
    }

    /// Referrals matching `filter`, by key.
    pub fn referrals(
        &self,
        filter: &ReferralFilter,
        token: Option<&str>,
        limit: usize,
    ) -> Result<Page<ReferralRecord>, StoreError> {
        self.page(&[keys::REFERRAL], token, limit, |_, raw| {
            let record = records::decode_referral(raw)?;
            Ok(if filter.matches(&record) {
                Step::Take(record)
            } else {
                Step::Skip
            })
        })
    }

    /// The referral of an agency's case, if it referred one.
    pub fn referral_of_case(
        &self,
        agency: &AgencyId,
        case_number: &str,
    ) -> Result<Option<ReferralKey>, StoreError> {
        let Some(raw) = self
            .tree
            .get(keys::case(agency, case_number))
            .map_err(StoreError::sled("read"))?
        else {
            return Ok(None);
        };
        Ok(keys::parse_agency_id(&String::from_utf8_lossy(&raw))
            .map(|(agency, id)| ReferralKey { agency, id }))
    }

    /// The penalty report for `filter`, agencies in id order.
    pub fn penalty_report(
        &self,
        filter: &ReportFilter,
    ) -> Result<Vec<AgencyPenalties>, StoreError> {
        let mut fines: std::collections::BTreeMap<AgencyId, (Vec<i64>, u64)> = Default::default();
        let durable = self.durable_seq();
        for entry in self.tree.scan_prefix(keys::penalty_scope(&filter.offence)) {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            if keys::suffix_u64(&key) > durable {
                continue;
            }
            let row = values::read_penalty_value(&raw)?;
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

    /// The store sequence numbers of the latest `limit` penalty decisions, newest first (the
    /// public disclosure feed). Reads every penalty row: fine for a feed page, not for a
    /// store of tens of millions.
    pub fn latest_penalties(&self, limit: usize) -> Result<Vec<u64>, StoreError> {
        let durable = self.durable_seq();
        let mut seqs = Vec::new();
        for entry in self.tree.scan_prefix([keys::PENALTY]) {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            let seq = keys::suffix_u64(&key);
            if seq > durable {
                continue;
            }
            if values::read_penalty_value(&raw)?.penalty {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.truncate(limit);
        Ok(seqs)
    }
}
