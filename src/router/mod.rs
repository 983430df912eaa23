//! The router: reads the log in batches, decodes each record, decides what it writes
//! ([`decide`]: pure functions over a view of the store), has the store apply the batch's write
//! sets as one atomic batch and flush, and only then commits the log positions.
//!
//! Invariants: a position is committed only after its record is durable in the store (or set
//! aside as a dead letter), so a crash anywhere replays from the last commit and the store's
//! deduplication makes the replay change nothing. A record that does not decode goes to the
//! dead letters with the reason; the router never stops on bad bytes. A store or log failure
//! stops the router (fail-stop): nothing is skipped, and a restart resumes from the last commit.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub mod decide;
mod journal;
mod pipeline;
mod rebuild;
mod replica;
#[cfg(test)]
mod replica_tests;
#[cfg(test)]
mod tests;

pub use replica::ReplicaStatus;

use crate::bus::{Bus, BusError, Decisions, Record, RouterJournal, StartFrom};
use crate::domain::{Clock, Policy};
use crate::store::{Store, StoreError};

/// Settings of the router.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Most records applied in one batch.
    pub batch_max: usize,
    /// Consumer group name on the log.
    pub group: String,
    /// How often statutory deadlines and 以罚代刑 watches are checked against the clock.
    pub tick: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            batch_max: 1_000,
            group: "xiezhi-router".to_owned(),
            tick: Duration::from_secs(30),
        }
    }
}

/// The router stopped because the log or the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// Reading or committing the log failed.
    #[error("router: log failed")]
    Bus(#[from] BusError),
    /// Applying to the store failed.
    #[error("router: store failed")]
    Store(#[from] StoreError),
    /// Another replica took the writer's place (Kafka's group moved it): this one stops
    /// deciding, and is restarted as a follower.
    #[error("router: another replica took the writer's place; stopping (restart to follow)")]
    Displaced,
}

/// Applies the log to the store.
pub struct Router {
    bus: Arc<dyn Bus>,
    store: Arc<Store>,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    config: RouterConfig,
    /// Records already on the dead letters that the store has not moved past: a router that
    /// stopped after setting one aside and before its batch was applied reads it again, and
    /// must not set it aside twice.
    lettered: std::sync::Mutex<std::collections::HashSet<crate::domain::LogPosition>>,
    /// The decisions log, while this router is the replicas' writer (`replica.rs`).
    decisions: Option<Arc<dyn Decisions>>,
    status: Option<Arc<ReplicaStatus>>,
    /// The log's journal of applied batches, if it keeps one (`journal.rs`).
    journal: Option<Arc<dyn RouterJournal>>,
    /// A rebuild: the journal is followed and copied into the store, never appended to.
    rebuilding: bool,
    /// When the journal was last made durable.
    synced: std::sync::Mutex<std::time::Instant>,
}

impl Router {
    /// A router over these parts.
    pub fn new(
        bus: Arc<dyn Bus>,
        store: Arc<Store>,
        policy: Arc<Policy>,
        clock: Arc<dyn Clock>,
        config: RouterConfig,
    ) -> Self {
        Self {
            journal: bus.journal(),
            bus,
            store,
            policy,
            clock,
            config,
            lettered: Default::default(),
            decisions: None,
            status: None,
            rebuilding: false,
            synced: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    /// Runs until `shutdown`, then applies what is already on the log and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RouterError> {
        self.route(shutdown, Box::pin(std::future::pending())).await
    }

    /// The routing loop; a replica's writer also stops when `displaced` resolves.
    async fn route(
        &self,
        shutdown: CancellationToken,
        mut displaced: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Result<(), RouterError> {
        // The store says where each partition resumes, whatever the group has committed.
        let store = self.store.clone();
        let start: StartFrom = Arc::new(move |partition| {
            store.position(partition).unwrap_or_else(|err| {
                warn!(partition, error = %crate::telemetry::chain(&err), "cannot read the store's position; reading the partition from the start");
                0
            })
        });
        self.store.archive_audit(self.bus.archives());
        self.reconcile_journal()?;
        self.remember_dead_letters().await?;
        let mut consumer = match &self.decisions {
            Some(decisions) => decisions.events(start).await?,
            None => self.bus.consumer(&self.config.group, start).await?,
        };
        info!(group = %self.config.group, "router started");
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One batch applies in the background while the next is staged.
        let mut applying: Option<pipeline::Applying> = None;
        loop {
            let step = tokio::select! {
                () = shutdown.cancelled() => break,
                () = &mut displaced => return Err(RouterError::Displaced),
                _ = tick.tick() => Step::Tick,
                done = async { applying.as_mut()?.applied().await.err() }, if applying.is_some() => {
                    match done {
                        Some(err) => return Err(err),
                        None => Step::Applied,
                    }
                }
                polled = consumer.poll(self.config.batch_max) => Step::Records(polled?),
            };
            match step {
                Step::Tick => self.fire_due(self.clock.now()).await?,
                Step::Applied => {
                    if let Some(done) = applying.take() {
                        self.finish(consumer.as_mut(), done).await?;
                    }
                }
                Step::Records(records) => {
                    let next = self.stage(records, DeadLetters::Write).await?;
                    if let Some(done) = applying.replace(next) {
                        self.finish(consumer.as_mut(), done).await?;
                    }
                }
            }
        }
        // The gateway has stopped: drain what is on the log so every acknowledged event is
        // applied before exit. A short quiet period means the log is exhausted.
        while let Ok(polled) = tokio::time::timeout(
            Duration::from_millis(100),
            consumer.poll(self.config.batch_max),
        )
        .await
        {
            let next = self.stage(polled?, DeadLetters::Write).await?;
            if let Some(done) = applying.replace(next) {
                self.finish(consumer.as_mut(), done).await?;
            }
        }
        if let Some(done) = applying.take() {
            self.finish(consumer.as_mut(), done).await?;
        }
        consumer.close().await;
        if let Some(journal) = &self.journal {
            journal.sync()?;
        }
        info!("router stopped");
        Ok(())
    }

    /// Reads which records the dead letters already hold at or beyond the store's positions.
    async fn remember_dead_letters(&self) -> Result<(), RouterError> {
        let positions = self.store.positions()?;
        let pending = self
            .bus
            .dead_letters()
            .await?
            .into_iter()
            .map(|letter| letter.position)
            .filter(|p| p.offset >= positions.get(&p.partition).copied().unwrap_or(0));
        self.lettered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(pending);
        Ok(())
    }

    /// Raises the alerts whose time has come at `now`: missed statutory deadlines, 以罚代刑.
    async fn fire_due(&self, now: jiff::Timestamp) -> Result<(), RouterError> {
        let mut batch = self.store.begin(now).await;
        let due = decide::due::due(&batch, &self.policy, now)?;
        if due.is_empty() {
            return Ok(());
        }
        let mut alerts = Vec::new();
        for writes in due {
            alerts.extend(batch.stage_effects(writes).alerts);
        }
        let frozen = batch.freeze();
        let marks = crate::store::Marks {
            journal: self.journal_entry(journal::Entry {
                now,
                tick: true,
                positions: Vec::new(),
            })?,
            decisions: self.ship(&frozen).await?,
        };
        let committed = self.store.apply_at(frozen, marks).await?;
        self.bus.archive(&committed.audit).await;
        for alert in &alerts {
            crate::telemetry::metrics::metrics().alert(alert.kind.name());
            info!(
                alert = alert.id,
                kind = ?alert.kind,
                rule = %alert.rule_id,
                late = ?alert.late.as_ref().map(ToString::to_string),
                "alert raised"
            );
        }
        Ok(())
    }
}

/// Whether a batch writes its dead letters (live routing) or only counts them (rebuild: they
/// were written the first time).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DeadLetters {
    Write,
    Skip,
}

/// What the router's loop does next.
enum Step {
    Tick,
    Applied,
    Records(Vec<Record>),
}

/// What a rebuild (or a batch) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebuildStats {
    /// Records on the log when the rebuild began.
    pub records: u64,
    /// Events applied to the store.
    pub applied: u64,
    /// Records set aside (undecodable, or an event id reused for different content).
    pub set_aside: u64,
}

impl RebuildStats {
    fn add(&mut self, batch: RebuildStats) {
        self.applied += batch.applied;
        self.set_aside += batch.set_aside;
    }
}

/// A span continuing the publisher's trace, so the router's log lines for an event carry the
/// trace id the gateway gave it.
fn trace_span(record: &Record) -> tracing::Span {
    match record
        .traceparent
        .as_deref()
        .and_then(crate::telemetry::parse_traceparent)
    {
        Some((trace_id, parent_id)) => {
            tracing::info_span!("route", trace_id = %trace_id, parent_id = %parent_id)
        }
        None => tracing::info_span!("route"),
    }
}
