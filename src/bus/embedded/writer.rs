//! The embedded log's writer task: group commit. It takes every append waiting, decides a
//! position or an immediate answer (duplicate, conflict) for each — also against earlier
//! requests of the same group — writes the new records and their idempotency entries in one
//! sled batch, flushes once, and answers them all.

use prost::Message as _;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::{IDEM, position_of, position_value, prefixed, record_key, sled_err};
use crate::bus::{AppendOutcome, BusError, OutgoingRecord, partition_for};
use crate::domain::LogPosition;
use crate::telemetry::chain;

/// Most appends one batch takes.
const MAX_GROUP: usize = 2_048;
/// Pending appends before publishers wait (backpressure instead of unbounded memory).
pub(super) const QUEUE: usize = 4_096;

/// An append and where to answer it.
pub(super) struct AppendRequest {
    pub(super) record: OutgoingRecord,
    pub(super) reply: oneshot::Sender<Result<AppendOutcome, BusError>>,
}

/// The writer task's state: next offset of each partition.
pub(super) struct Writer {
    db: sled::Db,
    tree: sled::Tree,
    partitions: u32,
    next: Vec<u64>,
    appended: watch::Sender<u64>,
}

/// What the writer decided for one request before writing.
enum Plan {
    Write(LogPosition),
    Answer(Result<AppendOutcome, BusError>),
}

/// Flushes the log database on the blocking pool (see `Store::flush` for why not
/// `flush_async`).
pub(super) async fn flush(db: &sled::Db) -> Result<(), BusError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || db.flush())
        .await
        .map_err(|join| BusError::Unavailable(format!("log flush task failed: {join}")))?
        .map_err(sled_err("flush log"))?;
    Ok(())
}

impl Writer {
    pub(super) fn new(
        db: sled::Db,
        tree: sled::Tree,
        partitions: u32,
        next: Vec<u64>,
        appended: watch::Sender<u64>,
    ) -> Self {
        Self {
            db,
            tree,
            partitions,
            next,
            appended,
        }
    }

    pub(super) async fn run(mut self, mut receiver: mpsc::Receiver<AppendRequest>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
            self.write_group(std::mem::take(&mut group)).await;
        }
        debug!("embedded log writer stopped");
    }

    async fn write_group(&mut self, requests: Vec<AppendRequest>) {
        let saved_next = self.next.clone();
        let plans = match self.plan(&requests) {
            Ok(plans) => plans,
            Err(err) => return Self::fail_all(requests, &err),
        };
        let writes: Vec<(&AppendRequest, LogPosition)> = requests
            .iter()
            .zip(&plans)
            .filter_map(|(req, plan)| match plan {
                Plan::Write(pos) => Some((req, *pos)),
                Plan::Answer(_) => None,
            })
            .collect();
        let written = if writes.is_empty() {
            Ok(())
        } else {
            self.commit(&writes).await
        };
        if let Err(err) = &written {
            // Nothing of the group is acknowledged; offsets go back so the log stays gapless.
            self.next = saved_next;
            warn!(error = %chain(err), appends = writes.len(), "embedded log append failed");
        } else if !writes.is_empty() {
            self.appended.send_modify(|n| *n += 1);
        }
        for (request, plan) in requests.into_iter().zip(plans) {
            let answer = match (plan, &written) {
                (Plan::Answer(answer), _) => answer,
                (Plan::Write(pos), Ok(())) => Ok(AppendOutcome::Appended(pos)),
                (Plan::Write(_), Err(err)) => Err(BusError::Unavailable(chain(err))),
            };
            // The publisher may have gone (deadline passed); the record stays durable either way.
            let _ = request.reply.send(answer);
        }
    }

    /// The content hash of the record at `pos`, as written.
    fn hash_at(&self, pos: LogPosition) -> Result<[u8; 32], BusError> {
        let raw = self
            .tree
            .get(record_key(pos.partition, pos.offset))
            .map_err(sled_err("read log"))?
            .ok_or_else(|| {
                super::corrupt(format!("idempotency entry names {pos:?}, not written"))
            })?;
        let record = crate::proto::LogRecord::decode(raw.as_ref()).map_err(super::corrupt)?;
        <[u8; 32]>::try_from(record.content_sha256.as_slice()).map_err(super::corrupt)
    }

    /// Decides, per request, a new position or an immediate answer (duplicate or conflict),
    /// also against earlier requests of the same group.
    fn plan(&mut self, requests: &[AppendRequest]) -> Result<Vec<Plan>, BusError> {
        let mut in_group: std::collections::HashMap<&[u8], ([u8; 32], LogPosition)> =
            std::collections::HashMap::new();
        let mut plans = Vec::with_capacity(requests.len());
        for request in requests {
            let record = &request.record;
            let key = record.idempotency_key.as_slice();
            let earlier = match in_group.get(key) {
                Some(found) => Some(*found),
                None if key.is_empty() => None,
                None => match self
                    .tree
                    .get(prefixed(IDEM, key))
                    .map_err(sled_err("read log"))?
                {
                    Some(raw) => {
                        let pos = position_of(&raw);
                        Some((self.hash_at(pos)?, pos))
                    }
                    None => None,
                },
            };
            let plan = match earlier {
                Some((hash, pos)) if hash == record.content_hash => {
                    Plan::Answer(Ok(AppendOutcome::Duplicate(pos)))
                }
                Some((_, existing)) => Plan::Answer(Err(BusError::Conflict { existing })),
                None => {
                    let partition = partition_for(&record.key, self.partitions);
                    let offset = self.next[partition as usize];
                    self.next[partition as usize] += 1;
                    let pos = LogPosition { partition, offset };
                    if !key.is_empty() {
                        in_group.insert(key, (record.content_hash, pos));
                    }
                    Plan::Write(pos)
                }
            };
            plans.push(plan);
        }
        Ok(plans)
    }

    /// Writes log records and idempotency entries in one sled batch, then flushes.
    async fn commit(&self, writes: &[(&AppendRequest, LogPosition)]) -> Result<(), BusError> {
        let mut batch = sled::Batch::default();
        for (request, pos) in writes {
            batch.insert(
                &record_key(pos.partition, pos.offset)[..],
                request.record.payload.as_slice(),
            );
            if !request.record.idempotency_key.is_empty() {
                batch.insert(
                    prefixed(IDEM, &request.record.idempotency_key),
                    &position_value(*pos)[..],
                );
            }
        }
        self.tree.apply_batch(batch).map_err(sled_err("append"))?;
        flush(&self.db).await
    }

    fn fail_all(requests: Vec<AppendRequest>, err: &BusError) {
        warn!(error = %chain(err), "embedded log could not plan appends");
        for request in requests {
            let _ = request.reply.send(Err(BusError::Unavailable(chain(err))));
        }
    }
}
