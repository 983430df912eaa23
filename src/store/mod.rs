//! The router's store: sled trees behind typed accessors — a materialised view of the log.
//!
//! Trees (keys are big-endian so byte order is numeric order):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | name | counters (`next_seq`) and the schema version |
//! | `events` | seq | [`StoredEvent`] |
//! | `alerts` | seq | [`crate::domain::Alert`] (alerts and events share one sequence) |
//! | `applied` | `producer/event_id` | seq, content SHA-256 — the router's deduplication |
//! | `subjects` | subject key, 0, seq | — the timeline index |
//! | `leads` | division, 0, seq | [`LeadRow`] |
//! | `inbox` | agency, 0, cursor | [`DeliveryRecord`] |
//! | `inbox_heads` | agency | latest cursor |
//! | `inbox_acks` | agency | acknowledged cursor |
//! | `positions` | partition | next log offset to apply |
//! | `referrals` | referral key | [`ReferralRecord`] |
//! | `referral_cases` | agency, 0, case number | referral key — "was this case referred?" |
//! | `deadlines` | due, referral key | step — the statutory deadlines still running |
//! | `watches` | due, outcome key | [`Watch`] — penalties awaiting a referral (以罚代刑) |
//! | `histories` | subject key | [`SubjectHistory`] — the subject's outcomes, for repeat rules |
//! | `outcomes` | offence, 0, seq | [`OutcomeRow`] — the penalty report's index |
//! | `audit` | audit seq | [`crate::audit::Entry`] — the hash chain (head in `meta`) |
//!
//! Invariants: only [`Store::apply`] and [`Store::fire_due`] write these trees (except the
//! inbox acknowledgements), each in one transaction, so a crash leaves either all of a batch or
//! none of it. `positions`
//! says how far into each log partition this store has applied: the router resumes from there,
//! whatever the log's consumer group remembers. Readers see only events up to
//! the *durable* watermark ([`Store::durable_seq`]), which moves after a flush: a reader never
//! sees a delivery that a crash could take back and renumber.

mod apply;
mod audit;
pub mod ceiling;
mod keys;
mod outcomes;
mod read;
mod referrals;
mod report;
mod tick;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, watch};

use crate::domain::{AgencyId, DeliveryReason, Envelope, EventKey, LeadStatus, LogPosition};

pub use apply::{Applied, ApplyOutcome, Incoming};
pub use read::{DeliveredItem, LeadFilter, LeadPage, Page};
pub use referrals::{ReferralFilter, ReferralRecord, RunningDeadline};
pub use report::{AgencyPenalties, ReportFilter};
pub use tick::Fired;

/// Version of the tree layout; a store written by a newer layout is refused.
const LAYOUT_VERSION: u64 = 3;

/// An event as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The store's sequence number: the order events were applied in, from 1.
    pub seq: u64,
    /// The event.
    pub envelope: Envelope,
    /// Where it sits on the log.
    pub position: LogPosition,
    /// When the log took it (server time; statutory clocks run from here).
    pub logged_at: Timestamp,
    /// When the router applied it.
    pub applied_at: Timestamp,
    /// Agencies it was delivered to.
    pub delivered_to: Vec<AgencyId>,
}

/// What a delivery carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    /// An event (`events` tree).
    Event,
    /// An alert (`alerts` tree).
    Alert,
}

/// One delivery in an agency's inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Position in the agency's inbox, from 1, without gaps.
    pub cursor: u64,
    /// The store sequence number of the event or alert delivered.
    pub seq: u64,
    /// Event or alert.
    pub item: Item,
    /// Why.
    pub reason: DeliveryReason,
    /// When.
    pub delivered_at: Timestamp,
}

/// A penalty whose facts met a threshold, waiting for a referral of its case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// The outcome.
    pub outcome: EventKey,
    /// Its store sequence number.
    pub seq: u64,
    /// The case number the referral would carry.
    pub case_number: String,
    /// The thresholds it met.
    pub hits: Vec<crate::domain::rules::Hit>,
    /// When the grace period ends.
    pub due: Timestamp,
}

/// One outcome in a subject's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeBrief {
    /// Its store sequence number.
    pub seq: u64,
    /// Producer and event id.
    pub key: EventKey,
    /// The offence.
    pub offence: crate::domain::OffenceCode,
    /// Whether it imposed a penalty.
    pub penalty: bool,
    /// Its case number.
    pub case_number: String,
    /// When it was decided.
    pub decided_at: Timestamp,
    /// Its facts.
    pub facts: crate::domain::Facts,
}

/// A subject's outcomes, and the split-case rules already reported for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectHistory {
    /// Outcomes in log order.
    pub outcomes: Vec<OutcomeBrief>,
    /// `offence/rule` pairs a 化整为零 alert was raised for.
    pub split_alerted: Vec<String>,
}

/// One outcome in the penalty report's index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRow {
    /// Who decided.
    pub agency: AgencyId,
    /// Where.
    pub division: crate::domain::DivisionCode,
    /// Whether it imposed a penalty.
    pub penalty: bool,
    /// The fine.
    pub fine_fen: i64,
    /// When it was decided.
    pub decided_at: Timestamp,
    /// Whether the fine was outside its discretion band (`None`: no band applied).
    pub outside_band: Option<bool>,
}

/// A lead's standing, kept beside the lead index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRow {
    /// Where it stands.
    pub status: LeadStatus,
    /// The outcome that closed it.
    pub closed_by: Option<EventKey>,
    /// Its domain, to filter without reading the event.
    pub domain: crate::domain::Domain,
    /// When it was produced, to filter without reading the event.
    pub produced_at: Timestamp,
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("store {op} failed")]
    Sled {
        /// What was being done.
        op: &'static str,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// A record did not decode: the data directory is damaged or from another program.
    #[error("store record in tree {tree} is corrupt: {reason}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The data directory was written by a newer release.
    #[error("data directory {path} has layout {found}; this release reads layout {LAYOUT_VERSION}")]
    Layout {
        /// The directory.
        path: PathBuf,
        /// Its layout version.
        found: u64,
    },
    /// A background task of the store panicked or was cancelled.
    #[error("store background task failed: {0}")]
    Background(String),
    /// A page token that does not continue this query.
    #[error("page token does not continue this query")]
    PageToken,
    /// A referral that does not exist.
    #[error("no referral {0}")]
    NoReferral(String),
    /// An acknowledgement beyond the latest delivery.
    #[error("cursor {cursor} is beyond the latest delivery {latest} of {agency}")]
    CursorAhead {
        /// The agency.
        agency: AgencyId,
        /// The cursor asked for.
        cursor: u64,
        /// Its latest delivery.
        latest: u64,
    },
}

impl StoreError {
    fn sled(op: &'static str) -> impl FnOnce(sled::Error) -> Self {
        move |source| Self::Sled { op, source }
    }
}

/// The trees, opened once.
#[derive(Clone)]
struct Trees {
    meta: sled::Tree,
    events: sled::Tree,
    applied: sled::Tree,
    subjects: sled::Tree,
    leads: sled::Tree,
    inbox: sled::Tree,
    inbox_heads: sled::Tree,
    inbox_acks: sled::Tree,
    positions: sled::Tree,
    alerts: sled::Tree,
    referrals: sled::Tree,
    referral_cases: sled::Tree,
    deadlines: sled::Tree,
    watches: sled::Tree,
    histories: sled::Tree,
    outcomes: sled::Tree,
    audit: sled::Tree,
}

/// The store: one sled database, shared by the router (the only writer of events) and the readers.
pub struct Store {
    db: sled::Db,
    trees: Trees,
    /// Serialises batches: sled transactions retry on conflict, but two appliers would race
    /// for sequence numbers.
    apply_lock: Mutex<()>,
    durable: watch::Sender<u64>,
    /// Events applied and flushed (events and alerts share the sequence, so this is not
    /// `durable_seq`).
    durable_events: AtomicU64,
}

/// The page cache of [`Store::open`] (`store.cache_mb`'s default).
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store in `dir` with a page cache of `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(StoreError::sled("open"))?;
        let open = |name: &str| db.open_tree(name).map_err(StoreError::sled("open tree"));
        let trees = Trees {
            meta: open("meta")?,
            events: open("events")?,
            applied: open("applied")?,
            subjects: open("subjects")?,
            leads: open("leads")?,
            inbox: open("inbox")?,
            inbox_heads: open("inbox_heads")?,
            inbox_acks: open("inbox_acks")?,
            positions: open("positions")?,
            alerts: open("alerts")?,
            referrals: open("referrals")?,
            referral_cases: open("referral_cases")?,
            deadlines: open("deadlines")?,
            watches: open("watches")?,
            histories: open("histories")?,
            outcomes: open("outcomes")?,
            audit: open("audit")?,
        };
        match trees.meta.get("layout").map_err(StoreError::sled("read"))? {
            None => {
                trees
                    .meta
                    .insert("layout", &LAYOUT_VERSION.to_be_bytes())
                    .map_err(StoreError::sled("write"))?;
            }
            Some(raw) => {
                let found = keys::decode_u64(&raw);
                if found != LAYOUT_VERSION {
                    return Err(StoreError::Layout {
                        path: dir.to_owned(),
                        found,
                    });
                }
            }
        }
        // Whatever survived a restart is on disk, hence durable.
        let last = trees
            .meta
            .get("next_seq")
            .map_err(StoreError::sled("read"))?
            .map_or(0, |raw| keys::decode_u64(&raw).saturating_sub(1));
        let (durable, _) = watch::channel(last);
        let durable_events = AtomicU64::new(trees.events.len() as u64);
        Ok(Self {
            db,
            trees,
            apply_lock: Mutex::new(()),
            durable,
            durable_events,
        })
    }

    /// The sled database, for the embedded bus, which keeps its log in trees of its own so that
    /// log and store share one flush.
    pub(crate) fn sled(&self) -> &sled::Db {
        &self.db
    }

    /// Makes every write so far durable (sled flush: survives a killed process; see
    /// docs/durability.md for power loss).
    pub async fn flush(&self) -> Result<(), StoreError> {
        // Not `flush_async`: in sled 0.34 concurrent `flush_async` calls can wait forever on
        // sled's own thread pool (spacejam/sled#1241, #1308). A blocking flush on tokio's
        // blocking pool has no such cycle.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|join| StoreError::Background(join.to_string()))?
            .map_err(StoreError::sled("flush"))?;
        Ok(())
    }

    /// The highest seq readers may see.
    pub fn durable_seq(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Watches the durable watermark: it changes after each applied and flushed batch.
    pub fn watch_durable(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    /// Moves the durable watermark; the caller has flushed everything up to `seq` and holds
    /// the apply lock.
    fn mark_durable(&self, seq: u64, new_events: u64) {
        // Counted, not `events.len()`: sled counts a tree by walking all of it, which made
        // every applied batch slower as the store grew.
        self.durable_events.fetch_add(new_events, Ordering::Relaxed);
        self.durable.send_if_modified(|current| {
            let moved = seq > *current;
            *current = (*current).max(seq);
            moved
        });
    }

    /// Events applied and flushed.
    pub fn durable_event_count(&self) -> u64 {
        self.durable_events.load(Ordering::Relaxed)
    }

    /// How far this store has applied each log partition: partition → next offset.
    pub fn positions(&self) -> Result<std::collections::BTreeMap<u32, u64>, StoreError> {
        self.trees
            .positions
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(StoreError::sled("read"))?;
                let partition = u32::try_from(keys::decode_u64(&key)).unwrap_or(u32::MAX);
                Ok((partition, keys::decode_u64(&value)))
            })
            .collect()
    }

    /// The next offset to apply in `partition` (0 if this store never saw it).
    pub fn position(&self, partition: u32) -> Result<u64, StoreError> {
        Ok(self
            .trees
            .positions
            .get(u64::from(partition).to_be_bytes())
            .map_err(StoreError::sled("read"))?
            .map_or(0, |raw| keys::decode_u64(&raw)))
    }

    /// Number of events applied and flushed (counted as batches are applied; sled walks a
    /// tree to count it).
    pub fn event_count(&self) -> usize {
        self.durable_event_count() as usize
    }

    /// Size of the database on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(StoreError::sled("size"))
    }
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        tree,
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Store records have string keys and no floats: serialising cannot fail.
    serde_json::to_vec(value).expect("store record serialises")
}
