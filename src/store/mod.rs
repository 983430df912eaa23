//! The router's store: one sled tree behind typed accessors — a materialised view of the log.
//! It knows keys, encodings and reads, never rules: the router's `decide` functions compute a
//! typed [`WriteSet`] per record from a [`View`] of the store, and the store applies a batch of
//! them as one atomic sled batch, flushes, and only then moves the durable watermark.
//!
//! Layout (`keys.rs` has the table): one record per event (`E`, protobuf, the envelope's bytes
//! as they came off the log), small index keys (`K` producer/event id → seq, `T` subject → seq,
//! `I` agency cursor → seq and reason, `L` division → lead row, `O` subject/offence → outcome,
//! `P` offence → penalty row), referrals, deadlines and watches, and counters (`M`, `H`, `Q`)
//! kept in memory under the apply lock and written once per batch. The audit chain links
//! through the event and alert records themselves; only reads, denials and refusals have
//! entries of their own (`U`).
//!
//! Invariants: only a [`Batch`] writes events, indexes and counters (inbox acknowledgements and
//! read audits are the exceptions, each one key or one sled batch), and it is applied as one
//! sled batch, so a crash leaves either all of a batch or none of it. The `Q` positions say how
//! far into each log partition this store has applied: the router resumes from there, whatever
//! the log's consumer group remembers. Readers see only events up to the *durable* watermark
//! ([`Store::durable_seq`]), which moves after a flush: a reader never sees a delivery that a
//! crash could take back and renumber.

mod acks;
mod audit;
mod batch;
mod bloom;
pub mod ceiling;
mod commit;
mod decided;
mod flush;
mod inspections;
mod keys;
mod lists;
mod procedure;
mod read;
mod records;
mod tallies;
mod texts;
mod values;
mod view;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex as StdMutex, RwLock};

use tokio::sync::{Mutex, watch};

pub use batch::{Batch, Staged};
pub use commit::{Committed, Frozen, Marks};
pub use lists::{AgencyPenalties, ReferralFilter, ReportFilter};
pub use procedure::ProcedureScore;
pub use read::{DeliveredItem, DeliveryRecord, LeadFilter, LeadPage, LeadRow, Page};
pub use tallies::{Count, Period};
pub use view::{Applied, OutcomeEntry, View};
pub use write::{
    AlertWrite, AwaitedLead, Decision, EventWrite, Incoming, InspectionWrite, LeadEntry, LeadWrite,
    NewWatch, OutcomeRow, OutcomeWrite, ProcedureRow, ReferralWrite, SplitMark, Watch, WriteSet,
};

/// Keys and values in key order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Version of the key layout. 4: one tree, binary records, the log in its own database.
const LAYOUT_VERSION: u64 = 4;

/// Where the store keeps its database inside a data directory.
pub const STORE_DIR: &str = "store";

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
    #[error("store record in {tree} is corrupt: {reason}")]
    Corrupt {
        /// The family of records.
        tree: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The data directory was written by another release.
    #[error(
        "data directory {path} has store layout {found}; this release reads layout {LAYOUT_VERSION}"
    )]
    Layout {
        /// The directory.
        path: PathBuf,
        /// Its layout version.
        found: u64,
    },
    /// The data directory was written by a release before layout 4 (log and store in one
    /// database, JSON records).
    #[error(
        "data directory {path} was written by an earlier release (log and store in one database, layout 3); \
         migrate it with `xiezhi rebuild --from {path} --data-dir NEW_DIR`, which carries its log over \
         and rebuilds the store (docs/durability.md, \"Upgrading\")"
    )]
    OldLayout {
        /// The directory.
        path: PathBuf,
    },
    /// A background task of the store panicked or was cancelled.
    #[error("store background task failed: {0}")]
    Background(String),
    /// A page token that does not continue this query.
    #[error("page token does not continue this query")]
    PageToken,
    /// An acknowledgement beyond the latest delivery.
    #[error("cursor {cursor} is beyond the latest delivery {latest} of {agency}")]
    CursorAhead {
        /// The agency.
        agency: crate::domain::AgencyId,
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

/// Counters the apply lock guards: read at open, moved by batches, written once per batch.
#[derive(Clone, Debug, Default)]
struct Counters {
    /// The next store sequence number (events and alerts share it).
    next_seq: u64,
    /// Each agency's latest inbox cursor.
    heads: HashMap<String, u64>,
    /// Each partition's next offset to apply.
    positions: BTreeMap<u32, u64>,
    /// Events stored.
    events: u64,
}

/// The head of the audit chain: the last entry's seq and hash.
#[derive(Clone, Copy, Debug)]
struct AuditHead {
    seq: u64,
    hash: [u8; 32],
}

/// The store: one sled database, shared by the router (the only writer of events) and the readers.
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    /// Serialises staging and holds the counters as the last frozen batch left them.
    staging: Mutex<batch::Staging>,
    /// Batches frozen and not yet applied, oldest first.
    inflight: StdMutex<Vec<std::sync::Arc<commit::FrozenBatch>>>,
    /// The order of the next batch to apply, and whether one failed (later ones then refuse).
    applied: watch::Sender<(u64, bool)>,
    /// The audit chain's head: batches and read audits append under it.
    audit: StdMutex<AuditHead>,
    durable: watch::Sender<u64>,
    /// Inbox heads as of the last flush: what readers may see.
    durable_heads: RwLock<HashMap<String, u64>>,
    /// Events applied and flushed.
    durable_events: AtomicU64,
    /// Whether batches hand back their audit entries (for a log that archives them).
    archive: AtomicBool,
    /// The `K` keys (events applied) and `O` scopes (subject and offence with a history) that
    /// may exist: a miss needs no sled read.
    applied_keys: bloom::Bloom,
    history_scopes: bloom::Bloom,
    /// Rule titles and citations read or written so far.
    texts: texts::Cache,
    /// The console's counters as the last applied batch left them (`tallies.rs`).
    counters_cache: tallies::Cache,
    /// Flushes asked for, and one flush at a time: see [`Store::flush`].
    flushes: flush::Flushes,
    /// When set, every committed batch's writes are kept here (the bench's raw-write ceiling).
    capture: StdMutex<Option<ceiling::Captured>>,
    /// Batches applied with a router journal entry (`keys::journal`).
    batches: AtomicU64,
    /// Inbox acknowledgements to share with other router replicas (`acks.rs`).
    pending_acks: acks::Pending,
}

/// `at` to the microsecond: what records keep, so that an entry handed out equals the entry
/// read back.
fn to_micros(at: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_microsecond(at.as_microsecond()).unwrap_or(at)
}

/// The page cache of [`Store::open`] (`store.cache_mb`'s default).
pub const DEFAULT_CACHE_BYTES: u64 = 16 << 20;

/// How often sled's background thread runs, in ms: each run also reclaims segments (for up to
/// half the interval). At sled's 500 ms, garbage outran it and the store took 2,900 bytes per
/// event on disk; at 20 ms, 1,450 (300,000 events), with the same apply rate
/// (docs/benchmarks.md). Durability does not rest on it: every batch is flushed explicitly.
const SLED_FLUSH_EVERY_MS: u64 = 20;

/// The settings of the store's sled database under the data directory `dir` (the bench's raw
/// ceiling replays into the same).
pub(super) fn sled_config(dir: &Path, cache_bytes: u64) -> sled::Config {
    sled::Config::new()
        .path(dir.join(STORE_DIR))
        .cache_capacity(cache_bytes)
        .flush_every_ms(Some(SLED_FLUSH_EVERY_MS))
}

fn meta_u64(tree: &sled::Tree, name: &str) -> Result<Option<u64>, StoreError> {
    Ok(tree
        .get(keys::meta(name))
        .map_err(StoreError::sled("read"))?
        .map(|raw| keys::decode_u64(&raw)))
}

impl Store {
    /// Opens (or creates) the store of the data directory `dir` (in `dir/store`).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store of the data directory `dir` with a page cache of
    /// `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        // A release before layout 4 kept a sled database in the data directory itself.
        if dir.join("conf").is_file() && dir.join("db").is_file() {
            return Err(StoreError::OldLayout {
                path: dir.to_owned(),
            });
        }
        let db = sled_config(dir, cache_bytes)
            .open()
            .map_err(StoreError::sled("open"))?;
        let tree = db
            .open_tree("xiezhi")
            .map_err(StoreError::sled("open tree"))?;
        match meta_u64(&tree, "layout")? {
            None => {
                tree.insert(keys::meta("layout"), &LAYOUT_VERSION.to_be_bytes())
                    .map_err(StoreError::sled("write"))?;
            }
            Some(found) if found != LAYOUT_VERSION => {
                return Err(StoreError::Layout {
                    path: dir.to_owned(),
                    found,
                });
            }
            Some(_) => {}
        }
        let counters = Self::load_counters(&tree)?;
        let batches = meta_u64(&tree, "batches")?.unwrap_or(0);
        let audit = match tree
            .get(keys::meta("audit"))
            .map_err(StoreError::sled("read"))?
        {
            Some(raw) if raw.len() == 40 => {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&raw[8..]);
                AuditHead {
                    seq: keys::decode_u64(&raw[..8]),
                    hash,
                }
            }
            _ => AuditHead {
                seq: 0,
                hash: crate::audit::GENESIS,
            },
        };
        let (applied_keys, history_scopes) = Self::load_blooms(&tree, counters.events)?;
        // Whatever survived a restart is on disk, hence durable.
        let (durable, _) = watch::channel(counters.next_seq.saturating_sub(1));
        Ok(Self {
            db,
            tree,
            durable_heads: RwLock::new(counters.heads.clone()),
            durable_events: AtomicU64::new(counters.events),
            staging: Mutex::new(batch::Staging {
                counters,
                frozen: 0,
            }),
            inflight: StdMutex::new(Vec::new()),
            applied: watch::channel((0, false)).0,
            audit: StdMutex::new(audit),
            durable,
            archive: AtomicBool::new(false),
            applied_keys,
            history_scopes,
            texts: Default::default(),
            counters_cache: Default::default(),
            flushes: Default::default(),
            capture: StdMutex::new(None),
            batches: AtomicU64::new(batches),
            pending_acks: Default::default(),
        })
    }

    /// The filters of the `K` keys and `O` scopes on disk.
    fn load_blooms(
        tree: &sled::Tree,
        events: u64,
    ) -> Result<(bloom::Bloom, bloom::Bloom), StoreError> {
        let capacity = usize::try_from(events)
            .unwrap_or(usize::MAX)
            .saturating_mul(4);
        let applied = bloom::Bloom::with_capacity(capacity);
        for key in tree.scan_prefix([keys::APPLIED]).keys() {
            applied.insert(&key.map_err(StoreError::sled("read"))?);
        }
        let history = bloom::Bloom::with_capacity(capacity);
        for key in tree.scan_prefix([keys::HISTORY]).keys() {
            let key = key.map_err(StoreError::sled("read"))?;
            history.insert(&key[..key.len().saturating_sub(8)]);
        }
        Ok((applied, history))
    }

    fn load_counters(tree: &sled::Tree) -> Result<Counters, StoreError> {
        let mut counters = Counters {
            next_seq: meta_u64(tree, "next_seq")?.unwrap_or(1),
            events: meta_u64(tree, "events")?.unwrap_or(0),
            ..Counters::default()
        };
        for entry in tree.scan_prefix([keys::HEAD]) {
            let (key, value) = entry.map_err(StoreError::sled("read"))?;
            let agency = String::from_utf8_lossy(&key[1..]).into_owned();
            counters.heads.insert(agency, keys::decode_u64(&value));
        }
        for entry in tree.scan_prefix([keys::POSITION]) {
            let (key, value) = entry.map_err(StoreError::sled("read"))?;
            let partition = keys::decode_u64(&key[1..]) as u32;
            counters
                .positions
                .insert(partition, keys::decode_u64(&value));
        }
        Ok(counters)
    }

    /// The highest seq readers may see.
    pub fn durable_seq(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Watches the durable watermark: it changes after each applied and flushed batch.
    pub fn watch_durable(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    /// Moves the durable watermark after a flush: inbox heads first, then the watermark whose
    /// change wakes the inbox streams, so a woken stream finds the new deliveries.
    fn mark_durable(&self, counters: &Counters, touched: &[String]) {
        {
            let mut heads = self
                .durable_heads
                .write()
                .unwrap_or_else(|p| p.into_inner());
            for agency in touched {
                if let Some(head) = counters.heads.get(agency) {
                    heads.insert(agency.clone(), *head);
                }
            }
        }
        self.durable_events
            .store(counters.events, Ordering::Relaxed);
        let seq = counters.next_seq.saturating_sub(1);
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

    /// Number of events applied and flushed.
    pub fn event_count(&self) -> usize {
        self.durable_event_count() as usize
    }

    /// How far this store has applied each log partition: partition → next offset.
    pub fn positions(&self) -> Result<BTreeMap<u32, u64>, StoreError> {
        self.tree
            .scan_prefix([keys::POSITION])
            .map(|entry| {
                let (key, value) = entry.map_err(StoreError::sled("read"))?;
                Ok((keys::decode_u64(&key[1..]) as u32, keys::decode_u64(&value)))
            })
            .collect()
    }

    /// The next offset to apply in `partition` (0 if this store never saw it).
    pub fn position(&self, partition: u32) -> Result<u64, StoreError> {
        Ok(self
            .tree
            .get(keys::position(partition))
            .map_err(StoreError::sled("read"))?
            .map_or(0, |raw| keys::decode_u64(&raw)))
    }

    /// Whether committed batches hand back their audit entries, for a log that archives them
    /// off the machine (Kafka's audit topic).
    pub fn archive_audit(&self, on: bool) {
        self.archive.store(on, Ordering::Relaxed);
    }

    /// The sled tree below the store, and the key of the event applied under `key`: for the
    /// tests that tamper with a stopped store's records.
    #[doc(hidden)]
    pub fn tamper_event(&self, key: &crate::domain::EventKey) -> Option<(&sled::Tree, Vec<u8>)> {
        let seq = self.tree.get(keys::applied(key)).ok()??;
        Some((&self.tree, keys::event(keys::decode_u64(&seq))))
    }

    /// Every key and value, in order (for tests that compare whole stores).
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.tree
            .iter()
            .map(|entry| {
                let (k, v) = entry.expect("a readable store");
                (k.to_vec(), v.to_vec())
            })
            .collect()
    }

    /// Size of the database on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(StoreError::sled("size"))
    }
}
