//! One batch through the router, in two halves that overlap on two cores: [`Router::stage`]
//! decodes the records, decides each (its view reads the batches still being applied), stages
//! and freezes the batch, and hands it to the store to apply in the background; the router then
//! stages the next batch while the store writes this one. [`Router::finish`] waits until the
//! batch is durable, then logs and counts what happened, sets aside what the store could not
//! take, and only then commits the log positions.

use std::time::Instant;

use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{DeadLetters, RebuildStats, Router, RouterError, decide, trace_span};
use crate::bus::{BusConsumer, Record};
use crate::domain::{AlertKind, EventKey, EventKind, LeadStatus, LogPosition};
use crate::store::{Committed, Decision, Incoming, Marks, StoreError};

/// A batch frozen and being applied, with what the router does once it is durable.
pub(super) struct Applying {
    task: JoinHandle<Result<Committed, StoreError>>,
    /// What the task gave, once it ended.
    committed: Option<Committed>,
    positions: Vec<LogPosition>,
    routed: Vec<Routed>,
    set_aside: u64,
    dead_letters: DeadLetters,
    started: Instant,
}

impl Applying {
    /// Waits until the store has applied the batch (or failed to). Cancel-safe, and may be
    /// called again once it has answered.
    pub(super) async fn applied(&mut self) -> Result<(), RouterError> {
        if self.committed.is_none() {
            let committed = match (&mut self.task).await {
                Ok(applied) => applied?,
                Err(join) => return Err(StoreError::Background(join.to_string()).into()),
            };
            self.committed = Some(committed);
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

impl Router {
    /// Decodes, decides and stages `records` as one batch and starts applying it.
    pub(super) async fn stage(
        &self,
        records: Vec<Record>,
        dead_letters: DeadLetters,
    ) -> Result<Applying, RouterError> {
        self.stage_at(records, dead_letters, self.clock.now()).await
    }

    /// [`Router::stage`] applied at `now` (a rebuild following the journal: the live time).
    pub(super) async fn stage_at(
        &self,
        records: Vec<Record>,
        dead_letters: DeadLetters,
        now: jiff::Timestamp,
    ) -> Result<Applying, RouterError> {
        let started = Instant::now();
        let positions: Vec<LogPosition> = records.iter().map(|r| r.position).collect();
        let mut decoded = Vec::with_capacity(records.len());
        let mut undecodable = Vec::new();
        for record in records {
            match incoming(&record, now) {
                Ok(incoming) => decoded.push((incoming, record)),
                Err(err) => undecodable.push((record, crate::telemetry::chain(&err))),
            }
        }
        // Before the store's positions move past them: after that nothing reads them again.
        self.set_aside(&undecodable, dead_letters).await?;
        // Also with nothing decodable, so the store's positions move past set-aside records.
        let mut batch = self.store.begin(now).await;
        let mut routed = Vec::with_capacity(decoded.len());
        for (incoming, record) in decoded {
            let decided = decide::decide(&batch, &incoming, &self.policy)?;
            let key = incoming.envelope.key();
            let kind = incoming.envelope.kind();
            let recipients = match &decided.decision {
                Decision::Apply(writes) => writes.event.as_ref().map_or(0, |e| e.recipients.len()),
                _ => 0,
            };
            let outcome = match &decided.decision {
                Decision::Duplicate => Outcome::Duplicate,
                Decision::Conflict => Outcome::Conflict,
                Decision::Refused(reason) => Outcome::Refused(reason.clone()),
                Decision::Apply(_) => Outcome::Applied {
                    seq: 0,
                    recipients,
                    alerts: Vec::new(),
                },
            };
            let staged = batch.stage(incoming, decided.decision);
            let outcome = match outcome {
                Outcome::Applied { recipients, .. } => Outcome::Applied {
                    seq: staged.seq.unwrap_or(0),
                    recipients,
                    alerts: staged.alerts.iter().map(|a| a.kind).collect(),
                },
                other => other,
            };
            routed.push(Routed {
                record,
                key,
                kind,
                lead_status: decided.lead_status,
                lead_found: decided.lead_found,
                outcome,
            });
        }
        batch.advance(&positions);
        let frozen = batch.freeze();
        let marks = Marks {
            journal: self.journal_entry(super::journal::Entry {
                now,
                tick: false,
                positions: positions.clone(),
            })?,
            // A replicas' writer applies a batch only once the decisions log has it.
            decisions: self.ship(&frozen).await?,
        };
        let store = self.store.clone();
        Ok(Applying {
            task: tokio::spawn(async move { store.apply_at(frozen, marks).await }),
            committed: None,
            positions,
            routed,
            set_aside: undecodable.len() as u64,
            dead_letters,
            started,
        })
    }

    /// Waits until the batch is durable, then archives its audit entries, logs and counts what
    /// happened, sets aside what the store refused, and commits the log positions.
    pub(super) async fn finish(
        &self,
        consumer: &mut dyn BusConsumer,
        mut applying: Applying,
    ) -> Result<RebuildStats, RouterError> {
        applying.applied().await?;
        let committed = applying.committed.take().unwrap_or_default();
        let metrics = crate::telemetry::metrics::metrics();
        metrics.batch(applying.positions.len(), applying.started.elapsed());
        self.bus.archive(&committed.audit).await;
        let mut counts = RebuildStats {
            set_aside: applying.set_aside,
            ..RebuildStats::default()
        };
        let mut conflicts = Vec::new();
        for routed in applying.routed {
            let _span = trace_span(&routed.record).entered();
            routed.log();
            match &routed.outcome {
                Outcome::Applied { alerts, .. } => {
                    counts.applied += 1;
                    metrics.applied(routed.kind.name(), self.bus.kind(), 1);
                    for alert in alerts {
                        metrics.alert(alert.name());
                    }
                }
                Outcome::Conflict => {
                    let reason = format!(
                        "event id {} was already applied with different content; the first one stands",
                        routed.key
                    );
                    conflicts.push((routed.record, reason));
                }
                Outcome::Refused(reason) => {
                    let reason = format!("referral step refused when applied: {reason}");
                    conflicts.push((routed.record, reason));
                }
                Outcome::Duplicate => {}
            }
        }
        self.set_aside(&conflicts, applying.dead_letters).await?;
        counts.set_aside += conflicts.len() as u64;
        // Only now, with the batch durable in the store and the dead letters on their log.
        consumer.commit(&applying.positions).await?;
        self.sync_journal_now_and_then().await?;
        Ok(counts)
    }

    /// Makes the journal durable about once a second (the store's copies cover a crash in
    /// between; a rebuild after losing both store and the last second re-decides that second).
    async fn sync_journal_now_and_then(&self) -> Result<(), RouterError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        {
            let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
            if synced.elapsed() < std::time::Duration::from_secs(1) {
                return Ok(());
            }
            *synced = Instant::now();
        }
        let journal = journal.clone();
        tokio::task::spawn_blocking(move || journal.sync())
            .await
            .map_err(|join| StoreError::Background(join.to_string()))??;
        Ok(())
    }

    /// Notes `position` as dead-lettered; false if the dead letters hold it already (see
    /// [`Router::lettered`]). Noted before the write: a write that fails stops the router, and
    /// the next one reads the dead letters afresh.
    fn first_letter(&self, position: LogPosition) -> bool {
        let first = self
            .lettered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(position);
        if !first {
            warn!(
                partition = position.partition,
                offset = position.offset,
                "record already on the dead letters: not set aside twice"
            );
        }
        first
    }

    /// Logs records the store cannot take and, in live routing, puts them on the dead letters.
    async fn set_aside(
        &self,
        letters: &[(Record, String)],
        dead_letters: DeadLetters,
    ) -> Result<(), RouterError> {
        for (record, reason) in letters {
            warn!(
                partition = record.position.partition,
                offset = record.position.offset,
                reason = %reason,
                "record set aside as a dead letter"
            );
            if dead_letters == DeadLetters::Write && self.first_letter(record.position) {
                self.bus.dead_letter(record, reason).await?;
                abort_after_dead_letter_if_testing();
            }
        }
        Ok(())
    }
}

/// Fault injection for the integration suite: with `XIEZHI_TEST_ABORT_AFTER_DEAD_LETTER` set,
/// the process aborts right after a dead letter is durable and before the store has recorded
/// its batch — the crash after which a restarted router must not dead-letter the record again.
/// Variables under `XIEZHI_TEST_` belong to the test suite (see `config`).
fn abort_after_dead_letter_if_testing() {
    static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *SET.get_or_init(|| std::env::var_os("XIEZHI_TEST_ABORT_AFTER_DEAD_LETTER").is_some()) {
        std::process::abort();
    }
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
struct Routed {
    record: Record,
    key: EventKey,
    kind: EventKind,
    lead_status: Option<LeadStatus>,
    lead_found: Option<bool>,
    outcome: Outcome,
}

impl Routed {
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
