//! The router as one of several interchangeable replicas (`router.replicas`, Kafka only;
//! docs/kafka.md, "Replicas"). A replica follows the decisions log, applying each decided batch
//! to its store exactly as the writer applied it, until Kafka's consumer-group protocol gives it
//! the writer's place. Then it fences the writer before it, applies everything that writer
//! committed (up to its own barrier), and routes: it reads the events log from its store's
//! positions, decides, writes each batch to the decisions log in a transaction, and only then
//! applies it to its own store. Deadline ticks run only there, so each fires once.
//!
//! A writer that loses its place stops (fail-stop: its supervisor restarts it as a follower);
//! a batch it was writing is aborted by the fence, never applied anywhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Router, RouterError};
use crate::bus::{Decided, Decisions};

/// Most decided batches applied per read of the decisions log.
const READ_MAX: usize = 64;
/// How often the decisions log's end is read for the lag.
const END_EVERY: Duration = Duration::from_secs(1);

/// What `/healthz` and `/metrics` say of this replica.
#[derive(Debug)]
pub struct ReplicaStatus {
    /// This replica's name in metrics.
    pub name: String,
    /// Batches behind the decisions log's end that still count as ready.
    pub ready_lag: u64,
    writer: AtomicBool,
    /// The offset after the last decisions record read or written (barriers included).
    read_next: AtomicU64,
    /// The decisions log's end when last read (`u64::MAX`: not read yet).
    end: AtomicU64,
}

impl ReplicaStatus {
    /// A replica not yet caught up.
    pub fn new(name: String, ready_lag: u64) -> Arc<Self> {
        Arc::new(Self {
            name,
            ready_lag,
            writer: AtomicBool::new(false),
            read_next: AtomicU64::new(0),
            end: AtomicU64::new(u64::MAX),
        })
    }

    /// Whether this replica decides and writes now.
    pub fn writer(&self) -> bool {
        self.writer.load(Ordering::Relaxed)
    }

    /// Decided batches on the log this replica has not applied yet (`None`: not known yet).
    /// Every committed batch is followed by its transaction's marker, which is no batch.
    pub fn lag(&self) -> Option<u64> {
        let end = self.end.load(Ordering::Relaxed);
        (end != u64::MAX)
            .then(|| end.saturating_sub(self.read_next.load(Ordering::Relaxed).saturating_add(1)))
    }

    /// Whether readers may be sent here: the lag is known and small.
    pub fn ready(&self) -> bool {
        self.lag().is_some_and(|lag| lag <= self.ready_lag)
    }

    pub(super) fn read(&self, next: u64) {
        self.read_next.fetch_max(next, Ordering::Relaxed);
    }

    pub(super) fn set_end(&self, end: u64) {
        self.end.store(end, Ordering::Relaxed);
    }
}

impl Router {
    /// Runs as a replica until `shutdown`: follows the decisions log, and writes it while this
    /// replica holds the writer's place.
    pub async fn run_replica(
        mut self,
        decisions: Arc<dyn Decisions>,
        status: Arc<ReplicaStatus>,
        shutdown: CancellationToken,
    ) -> Result<(), RouterError> {
        let ends = tokio::spawn(watch_end(
            decisions.clone(),
            status.clone(),
            shutdown.clone(),
        ));
        let stop_sharing = CancellationToken::new();
        let shared = tokio::spawn(share_acks(
            decisions.clone(),
            self.store.clone(),
            stop_sharing.clone(),
        ));
        let learnt = tokio::spawn(learn_acks(decisions.clone(), self.store.clone()));
        let result = self.replicate(decisions, status, shutdown).await;
        ends.abort();
        learnt.abort();
        // What was acknowledged here up to now still goes out.
        stop_sharing.cancel();
        if tokio::time::timeout(Duration::from_secs(5), shared)
            .await
            .is_err()
        {
            warn!("acknowledgements not shared within 5 s of stopping");
        }
        result
    }

    async fn replicate(
        &mut self,
        decisions: Arc<dyn Decisions>,
        status: Arc<ReplicaStatus>,
        shutdown: CancellationToken,
    ) -> Result<(), RouterError> {
        self.store.archive_audit(self.bus.archives());
        let from = self.store.decisions_next()?;
        status.read(from);
        status.set_end(decisions.end().await?);
        let mut reader = decisions.reader(from).await?;
        let mut writer = decisions.writer();
        info!(from, "replica following the decisions log");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                held = writer.wait_for(|w| *w).map(|held| held.is_ok()) => if held { break } else { return Err(RouterError::Displaced) },
                polled = reader.poll(READ_MAX) => self.apply_decided(polled?, &status).await?,
            }
        }
        let barrier = decisions.take_over().await?;
        info!(
            barrier,
            "writer's place taken: applying what earlier writers committed"
        );
        while status.read_next.load(Ordering::Relaxed) <= barrier {
            let polled = reader.poll(READ_MAX).await?;
            self.apply_decided(polled, &status).await?;
        }
        drop(reader);
        status.writer.store(true, Ordering::Relaxed);
        info!("replica writing: deciding from the events log");
        self.decisions = Some(decisions.clone());
        self.status = Some(status.clone());
        let lost = async move {
            let _ = writer.wait_for(|w| !*w).map(|_| ()).await;
        };
        let result = self.route(shutdown, Box::pin(lost)).await;
        status.writer.store(false, Ordering::Relaxed);
        result
    }

    /// Applies decided batches read from the log, in order.
    pub(super) async fn apply_decided(
        &self,
        records: Vec<Decided>,
        status: &ReplicaStatus,
    ) -> Result<(), RouterError> {
        for record in records {
            if let Some(batch) = &record.batch {
                let committed = self.store.apply_decided(batch, record.offset + 1).await?;
                self.bus.archive(&committed.audit).await;
            }
            status.read(record.offset + 1);
        }
        Ok(())
    }

    /// Writes a frozen batch to the decisions log when this router is the replicas' writer;
    /// the offset its store records as applied with it.
    pub(super) async fn ship(
        &self,
        frozen: &crate::store::Frozen,
    ) -> Result<Option<u64>, RouterError> {
        let Some(decisions) = &self.decisions else {
            return Ok(None);
        };
        let next = decisions.append(frozen.encode()).await?;
        if let Some(status) = &self.status {
            status.read(next);
        }
        Ok(Some(next))
    }
}

/// Hands the inbox acknowledgements taken here to the other replicas, retrying until the log
/// takes them; once `stop` is cancelled, those still waiting, then ends.
async fn share_acks(
    decisions: Arc<dyn Decisions>,
    store: Arc<crate::store::Store>,
    stop: CancellationToken,
) {
    loop {
        let (acks, last) = tokio::select! {
            acks = store.acks_to_share() => (acks, false),
            () = stop.cancelled() => (store.take_acks(), true),
        };
        for (agency, cursor) in acks {
            while let Err(err) = decisions.share_ack(&agency, cursor).await {
                warn!(error = %crate::telemetry::chain(&err), agency, cursor, "acknowledgement not shared yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if last {
            return;
        }
    }
}

/// Keeps the acknowledgements other replicas took (and this one's, coming back: no change).
async fn learn_acks(decisions: Arc<dyn Decisions>, store: Arc<crate::store::Store>) {
    let mut acks = loop {
        match decisions.acks().await {
            Ok(acks) => break acks,
            Err(err) => {
                warn!(error = %crate::telemetry::chain(&err), "cannot read shared acknowledgements; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        let learnt = match acks.next().await {
            Ok((agency, cursor)) => match crate::domain::AgencyId::parse(&agency) {
                Ok(agency) => store.acknowledge_shared(&agency, cursor).await.map(|_| ()),
                Err(_) => {
                    warn!(
                        agency,
                        "shared acknowledgement of an unknown agency id; skipped"
                    );
                    Ok(())
                }
            },
            Err(err) => {
                warn!(error = %crate::telemetry::chain(&err), "reading shared acknowledgements failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            }
        };
        if let Err(err) = learnt {
            warn!(error = %crate::telemetry::chain(&err), "a shared acknowledgement not kept");
        }
    }
}

/// Keeps the decisions log's end fresh for the lag.
async fn watch_end(
    decisions: Arc<dyn Decisions>,
    status: Arc<ReplicaStatus>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(END_EVERY) => {}
        }
        match decisions.end().await {
            Ok(end) => status.set_end(end),
            Err(err) => {
                warn!(error = %crate::telemetry::chain(&err), "cannot read the decisions log's end")
            }
        }
    }
}
