//! The router: reads the log in batches, decodes each record, applies the batch to the store
//! (deduplication, routing, deliveries — one transaction, flushed), and only then commits the
//! log positions.
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

use crate::bus::{Bus, BusConsumer, BusError, Record};
use crate::domain::{Clock, Envelope, Registry};
use crate::store::{ApplyOutcome, Store, StoreError};

/// Settings of the router.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Most records applied in one transaction.
    pub batch_max: usize,
    /// Consumer group name on the log.
    pub group: String,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            batch_max: 1_000,
            group: "xiezhi-router".to_owned(),
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
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    config: RouterConfig,
}

impl Router {
    /// A router over these parts.
    pub fn new(
        bus: Arc<dyn Bus>,
        store: Arc<Store>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        config: RouterConfig,
    ) -> Self {
        Self {
            bus,
            store,
            registry,
            clock,
            config,
        }
    }

    /// Runs until `shutdown`, then applies what is already on the log and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RouterError> {
        let mut consumer = self.bus.consumer(&self.config.group).await?;
        info!(group = %self.config.group, "router started");
        loop {
            let records = tokio::select! {
                () = shutdown.cancelled() => break,
                polled = consumer.poll(self.config.batch_max) => polled?,
            };
            self.process(consumer.as_mut(), records).await?;
        }
        // The gateway has stopped: drain what is on the log so every acknowledged event is
        // applied before exit. A short quiet period means the log is exhausted.
        while let Ok(polled) = tokio::time::timeout(
            Duration::from_millis(100),
            consumer.poll(self.config.batch_max),
        )
        .await
        {
            self.process(consumer.as_mut(), polled?).await?;
        }
        info!("router stopped");
        Ok(())
    }

    /// Decodes, applies and commits one batch.
    async fn process(
        &self,
        consumer: &mut dyn BusConsumer,
        records: Vec<Record>,
    ) -> Result<(), RouterError> {
        let positions: Vec<_> = records.iter().map(|r| r.position).collect();
        let mut batch = Vec::with_capacity(records.len());
        for record in &records {
            match Envelope::decode(&record.payload) {
                Ok(envelope) => batch.push((record.position, envelope)),
                Err(err) => {
                    warn!(
                        partition = record.position.partition,
                        offset = record.position.offset,
                        error = %crate::telemetry::chain(&err),
                        "undecodable record set aside as a dead letter"
                    );
                    self.bus
                        .dead_letter(record, &crate::telemetry::chain(&err))
                        .await?;
                }
            }
        }
        if !batch.is_empty() {
            let applied = self
                .store
                .apply(&batch, &self.registry, self.clock.now())
                .await?;
            for outcome in &applied.outcomes {
                log_outcome(outcome);
            }
        }
        consumer.commit(&positions).await?;
        Ok(())
    }
}

fn log_outcome(outcome: &ApplyOutcome) {
    match outcome {
        ApplyOutcome::Applied {
            seq,
            key,
            kind,
            recipients,
            lead_status,
            lead_found,
        } => {
            let to: Vec<&str> = recipients.iter().map(|(a, _)| a.as_str()).collect();
            debug!(seq, event = %key, ?kind, recipients = ?to, "event routed");
            if recipients.is_empty() && *lead_status == Some(crate::domain::LeadStatus::Unassigned)
            {
                warn!(event = %key, "lead has no recipient: no agency or coordinator covers its division");
            }
            if *lead_found == Some(false) {
                warn!(event = %key, "outcome names a lead that was never published");
            }
        }
        ApplyOutcome::Duplicate { key } => debug!(event = %key, "replayed event skipped"),
    }
}
