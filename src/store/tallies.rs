//! The console's counters (`c` keys): each [`Tally`] the router decided is added into every
//! jurisdiction that contains its division, for its China-time day or month (as its measure is
//! read) or as a standing count, so that the overview and the statistics read a few hundred keys instead of scanning
//! events. A batch sums its additions per key while staging; the apply adds them to the values
//! on disk inside the batch's own sled batch — batches are applied one at a time, in order — so
//! a crash keeps counters and events in step.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::batch::Batch;
use super::{Store, StoreError, keys};
use crate::domain::stats::{Granularity, Measure, Tally, scopes};

/// Most counters kept in memory; past it the cache starts over (today's are read again at once,
/// older ones rarely move).
const CACHED: usize = 100_000;

/// Counter values as the last applied batch left them: a batch adds to them without reading
/// sled (which showed in the router's profile). Only the apply, one batch at a time, uses it.
#[derive(Default)]
pub(super) struct Cache(std::sync::Mutex<std::collections::HashMap<Vec<u8>, i64>>);

/// A counter's value as stored: an i64, big-endian.
type CounterValue = [u8; 8];

/// The period part of a counter's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// One China-time day.
    Day(Date),
    /// One month (any day in it).
    Month(Date),
    /// Standing counts.
    Standing,
}

impl Period {
    fn key(self) -> String {
        // Digits by arithmetic: strftime's formatter showed in the router's profile.
        match self {
            Period::Day(d) => format!("d{:04}{:02}{:02}", d.year(), d.month(), d.day()),
            Period::Month(d) => format!("m{:04}{:02}", d.year(), d.month()),
            Period::Standing => "g".to_owned(),
        }
    }
}

/// One counter as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    /// `YYYYMMDD`, `YYYYMM`, or empty for standing counts.
    pub period: String,
    /// What it counts.
    pub measure: Measure,
    /// Which one.
    pub dimension: String,
    /// The value.
    pub value: i64,
}

impl Batch<'_> {
    /// Sums `tallies` into this batch's additions.
    pub(super) fn stage_tallies(&mut self, tallies: Vec<Tally>) {
        for tally in tallies {
            // The period parts once per tally, not once per jurisdiction: this runs for every
            // event the router applies.
            let periods = match (tally.measure.granularity(), tally.day) {
                (Granularity::Day, Some(day)) => vec![Period::Day(day).key()],
                (Granularity::Month, Some(day)) => vec![Period::Month(day).key()],
                (Granularity::DayAndMonth, Some(day)) => {
                    vec![Period::Day(day).key(), Period::Month(day).key()]
                }
                _ => vec![Period::Standing.key()],
            };
            for scope in scopes(&tally.division) {
                for period in &periods {
                    let key = keys::tally(scope, period, tally.measure as u8, &tally.dimension);
                    *self.tallies.entry(key).or_default() += tally.delta;
                }
            }
        }
    }
}

impl Store {
    /// The new values of the counters a batch adds to, read from disk under the apply turn.
    pub(super) fn tally_values(
        &self,
        additions: &BTreeMap<Vec<u8>, i64>,
    ) -> Result<Vec<(Vec<u8>, CounterValue)>, StoreError> {
        let mut out = Vec::with_capacity(additions.len());
        let mut cache = self
            .counters_cache
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() + additions.len() > CACHED {
            cache.clear();
        }
        // A sum of 0 is written too: the counter exists however the batches were split.
        for (key, delta) in additions {
            let now = match cache.get(key) {
                Some(value) => *value,
                None => self
                    .tree
                    .get(key)
                    .map_err(StoreError::sled("read counter"))?
                    .map_or(0, |raw| decode(&raw)),
            };
            cache.insert(key.clone(), now + delta);
            out.push((key.clone(), (now + delta).to_be_bytes()));
        }
        Ok(out)
    }

    /// The counters of jurisdiction `scope` for periods `from..=to` (both of one kind: days,
    /// months, or standing), in key order: by period, then measure, then dimension.
    pub fn counts(&self, scope: &str, from: Period, to: Period) -> Result<Vec<Count>, StoreError> {
        let start = keys::tally_period(scope, &from.key());
        let mut end = keys::tally_period(scope, &to.key());
        // Past every measure of the last period.
        end.push(0xff);
        let lead = keys::tally_period(scope, "").len();
        let mut out = Vec::new();
        for item in self.tree.range(start..end) {
            let (key, value) = item.map_err(StoreError::sled("read counters"))?;
            let rest = &key[lead..];
            let digits = match rest.first() {
                Some(b'd') => 8,
                Some(b'm') => 6,
                _ => 0,
            };
            let Some(&byte) = rest.get(1 + digits) else {
                continue;
            };
            let Some(measure) = Measure::from_byte(byte) else {
                continue;
            };
            out.push(Count {
                period: String::from_utf8_lossy(&rest[1..1 + digits]).into_owned(),
                measure,
                dimension: String::from_utf8_lossy(&rest[2 + digits..]).into_owned(),
                value: decode(&value),
            });
        }
        Ok(out)
    }
}

fn decode(raw: &[u8]) -> i64 {
    raw.try_into().map_or(0, i64::from_be_bytes)
}
