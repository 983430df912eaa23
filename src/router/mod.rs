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
use tracing::{debug, info, warn};

pub mod decide;
#[cfg(test)]
mod tests;

use crate::bus::{Bus, BusConsumer, BusError, Record, StartFrom};
use crate::domain::{AlertKind, Clock, EventKey, EventKind, LeadStatus, Policy};
use crate::store::{Decision, Incoming, Store, StoreError};

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
}

/// Applies the log to the store.
pub struct Router {
    bus: Arc<dyn Bus>,
    store: Arc<Store>,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    config: RouterConfig,
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
            bus,
            store,
            policy,
            clock,
            config,
        }
    }

    /// Runs until `shutdown`, then applies what is already on the log and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RouterError> {
        // The store says where each partition resumes, whatever the group has committed.
        let store = self.store.clone();
        let start: StartFrom = Arc::new(move |partition| {
            store.position(partition).unwrap_or_else(|err| {
                warn!(partition, error = %crate::telemetry::chain(&err), "cannot read the store's position; reading the partition from the start");
                0
            })
        });
        self.store.archive_audit(self.bus.archives());
        let mut consumer = self.bus.consumer(&self.config.group, start).await?;
        info!(group = %self.config.group, "router started");
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let records = tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.fire_due().await?;
                    continue;
                }
                polled = consumer.poll(self.config.batch_max) => polled?,
            };
            self.process(consumer.as_mut(), records, DeadLetters::Write)
                .await?;
        }
        // The gateway has stopped: drain what is on the log so every acknowledged event is
        // applied before exit. A short quiet period means the log is exhausted.
        while let Ok(polled) = tokio::time::timeout(
            Duration::from_millis(100),
            consumer.poll(self.config.batch_max),
        )
        .await
        {
            self.process(consumer.as_mut(), polled?, DeadLetters::Write)
                .await?;
        }
        consumer.close().await;
        info!("router stopped");
        Ok(())
    }

    /// Replays the whole log into this router's (fresh) store, up to the end the log had when
    /// the replay began, without committing anything or writing dead letters again.
    pub async fn rebuild(self) -> Result<RebuildStats, RouterError> {
        let end = self.bus.end_offsets().await?;
        let mut stats = RebuildStats {
            records: end.iter().sum(),
            ..RebuildStats::default()
        };
        // The entries were archived when the log was first applied.
        self.store.archive_audit(false);
        let mut next = vec![0u64; end.len()];
        let mut consumer = self.bus.replay().await?;
        while next.iter().zip(&end).any(|(n, e)| n < e) {
            let records = consumer.poll(self.config.batch_max).await?;
            let records: Vec<Record> = records
                .into_iter()
                .filter(|r| r.position.offset < end[r.position.partition as usize])
                .collect();
            for r in &records {
                let n = &mut next[r.position.partition as usize];
                *n = (*n).max(r.position.offset + 1);
            }
            let counts = self
                .process(consumer.as_mut(), records, DeadLetters::Skip)
                .await?;
            stats.applied += counts.applied;
            stats.set_aside += counts.set_aside;
        }
        Ok(stats)
    }

    /// Raises the alerts whose time has come: missed statutory deadlines, 以罚代刑.
    async fn fire_due(&self) -> Result<(), RouterError> {
        let now = self.clock.now();
        let mut batch = self.store.begin(now).await;
        let due = decide::due::due(&batch, &self.policy, now)?;
        if due.is_empty() {
            return Ok(());
        }
        let mut alerts = Vec::new();
        for writes in due {
            alerts.extend(batch.stage_effects(writes).alerts);
        }
        let committed = batch.commit().await?;
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

    /// Decodes, decides, applies and commits one batch.
    async fn process(
        &self,
        consumer: &mut dyn BusConsumer,
        records: Vec<Record>,
        dead_letters: DeadLetters,
    ) -> Result<RebuildStats, RouterError> {
        let mut counts = RebuildStats::default();
        if records.is_empty() {
            return Ok(counts);
        }
        let started = std::time::Instant::now();
        let positions: Vec<_> = records.iter().map(|r| r.position).collect();
        let now = self.clock.now();
        let mut batch = Vec::with_capacity(records.len());
        let mut undecodable = Vec::new();
        for record in &records {
            match incoming(record, now) {
                Ok(incoming) => batch.push((incoming, record)),
                Err(err) => undecodable.push((record, crate::telemetry::chain(&err))),
            }
        }
        // Before the store's positions move past them: after that nothing reads them again.
        self.set_aside(&undecodable, dead_letters).await?;
        // Also with nothing decodable, so the store's positions move past set-aside records.
        let mut staging = self.store.begin(now).await;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (incoming, record) in batch {
            let decided = decide::decide(&staging, &incoming, &self.policy)?;
            let key = incoming.envelope.key();
            let kind = incoming.envelope.kind();
            let outcome = match decided.decision {
                Decision::Duplicate => Outcome::Duplicate,
                Decision::Conflict => Outcome::Conflict,
                Decision::Refused(ref reason) => Outcome::Refused(reason.clone()),
                Decision::Apply(ref writes) => Outcome::Applied {
                    recipients: writes.event.as_ref().map_or(0, |e| e.recipients.len()),
                    seq: 0,
                    alerts: Vec::new(),
                },
            };
            let staged = staging.stage(incoming, decided.decision);
            let outcome = match outcome {
                Outcome::Applied { recipients, .. } => Outcome::Applied {
                    recipients,
                    seq: staged.seq.unwrap_or(0),
                    alerts: staged.alerts.iter().map(|a| a.kind).collect(),
                },
                other => other,
            };
            outcomes.push(Routed {
                record,
                key,
                kind,
                lead_status: decided.lead_status,
                lead_found: decided.lead_found,
                outcome,
            });
        }
        staging.advance(&positions);
        let committed = staging.commit().await?;
        crate::telemetry::metrics::metrics().batch(records.len(), started.elapsed());
        self.bus.archive(&committed.audit).await;
        let mut conflicts = Vec::new();
        for routed in &outcomes {
            let _span = trace_span(routed.record).entered();
            routed.log();
            match &routed.outcome {
                Outcome::Applied { alerts, .. } => {
                    counts.applied += 1;
                    let metrics = crate::telemetry::metrics::metrics();
                    metrics.applied(routed.kind.name(), self.bus.kind(), 1);
                    for alert in alerts {
                        metrics.alert(alert.name());
                    }
                }
                Outcome::Conflict => conflicts.push((
                    routed.record,
                    format!("event id {} was already applied with different content; the first one stands", routed.key),
                )),
                Outcome::Refused(reason) => {
                    conflicts.push((routed.record, format!("referral step refused when applied: {reason}")));
                }
                Outcome::Duplicate => {}
            }
        }
        self.set_aside(&conflicts, dead_letters).await?;
        counts.set_aside = (undecodable.len() + conflicts.len()) as u64;
        // Only now, with the batch durable in the store and the dead letters on their log.
        consumer.commit(&positions).await?;
        Ok(counts)
    }

    /// Logs records the store cannot take and, in live routing, puts them on the dead letters.
    async fn set_aside(
        &self,
        letters: &[(&Record, String)],
        dead_letters: DeadLetters,
    ) -> Result<(), RouterError> {
        for (record, reason) in letters {
            warn!(
                partition = record.position.partition,
                offset = record.position.offset,
                reason = %reason,
                "record set aside as a dead letter"
            );
            if dead_letters == DeadLetters::Write {
                self.bus.dead_letter(record, reason).await?;
            }
        }
        Ok(())
    }
}

/// A log record as the router applies it: its `LogRecord` decoded, the envelope decoded, the
/// log's timestamp standing in for records that carry none (written before `LogRecord`).
fn incoming(record: &Record, now: jiff::Timestamp) -> Result<Incoming, crate::codec::DecodeError> {
    let entry = crate::codec::log::decode(&record.payload)?;
    let envelope = entry.envelope.decode()?;
    Ok(Incoming {
        position: record.position,
        logged_at: entry.logged_at.or(record.timestamp).unwrap_or(now),
        envelope,
        bytes: entry.envelope,
    })
}

/// What became of one record of a batch.
enum Outcome {
    Applied {
        seq: u64,
        recipients: usize,
        alerts: Vec<AlertKind>,
    },
    Duplicate,
    Conflict,
    Refused(String),
}

/// A record of a batch, with what the router did with it (for logs, metrics, dead letters).
struct Routed<'a> {
    record: &'a Record,
    key: EventKey,
    kind: EventKind,
    lead_status: Option<LeadStatus>,
    lead_found: Option<bool>,
    outcome: Outcome,
}

impl Routed<'_> {
    fn log(&self) {
        let key = &self.key;
        match &self.outcome {
            Outcome::Applied {
                seq,
                recipients,
                alerts,
            } => {
                debug!(seq, event = %key, kind = ?self.kind, recipients, ?alerts, "event routed");
                if *recipients == 0 && self.lead_status == Some(LeadStatus::Unassigned) {
                    warn!(event = %key, "lead has no recipient: no agency or coordinator covers its division");
                }
                if self.lead_found == Some(false) {
                    warn!(event = %key, "outcome names a lead that was never published");
                }
            }
            Outcome::Duplicate => debug!(event = %key, "replayed event skipped"),
            Outcome::Conflict => {
                warn!(event = %key, "event id reused with different content; refused");
            }
            Outcome::Refused(reason) => {
                warn!(event = %key, reason = %reason, "referral step refused");
            }
        }
    }
}

/// Whether a batch writes its dead letters (live routing) or only counts them (rebuild: they
/// were written the first time).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DeadLetters {
    Write,
    Skip,
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
