//! The embedded log's writer task: group commit. It takes every append waiting, decides a
//! position or an immediate answer (duplicate, conflict) for each — also against earlier
//! requests of the same group — writes the new records with one write and one fdatasync, and
//! answers them all.
//!
//! Idempotency: a retry of an event the router has applied is answered by the gateway from the
//! store, before it reaches the log. What the log must catch itself is a retry of an event
//! appended but not yet applied: it keeps the keys of its last [`WINDOW`] appends in memory
//! (reloaded from the file's tail when it opens), far more than the router ever lags behind.
//! A retry older than that which the store somehow did not answer is appended again and
//! deduplicated by the router: never applied twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use prost::Message as _;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::file::{Body, Frame, LogFile};
use crate::bus::{AppendOutcome, BusError, OutgoingRecord, partition_for};
use crate::domain::LogPosition;
use crate::telemetry::chain;

/// Most appends one group takes.
const MAX_GROUP: usize = 2_048;
/// Most bytes one group writes (a torn group must stay recognisable as one: see `file.rs`).
pub(super) const GROUP_BYTES: usize = 16 << 20;
/// Pending appends before publishers wait (backpressure instead of unbounded memory).
pub(super) const QUEUE: usize = 4_096;
/// Appends whose keys the writer remembers.
pub(super) const WINDOW: usize = 16_384;

/// An append and where to answer it.
pub(super) struct AppendRequest {
    pub(super) record: OutgoingRecord,
    pub(super) reply: oneshot::Sender<Result<AppendOutcome, BusError>>,
}

/// The last appends' keys, content hashes and positions.
#[derive(Default)]
struct Window {
    keys: HashMap<Vec<u8>, ([u8; 32], LogPosition)>,
    order: VecDeque<Vec<u8>>,
}

impl Window {
    fn remember(&mut self, key: Vec<u8>, hash: [u8; 32], position: LogPosition) {
        if key.is_empty() {
            return;
        }
        if self.order.len() == WINDOW
            && let Some(oldest) = self.order.pop_front()
        {
            self.keys.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.keys.insert(key, (hash, position));
    }

    /// The window of a freshly opened log: the keys of its last records.
    fn of(recent: Vec<Body>) -> Self {
        let mut window = Self::default();
        for body in recent {
            let hash = crate::proto::LogRecord::decode(body.payload.as_slice())
                .ok()
                .and_then(|r| <[u8; 32]>::try_from(r.content_sha256.as_slice()).ok())
                .unwrap_or([0; 32]);
            window.remember(body.key, hash, body.position);
        }
        window
    }
}

/// The writer task's state.
pub(super) struct Writer {
    log: Arc<LogFile>,
    partitions: u32,
    next: Vec<u64>,
    window: Window,
    appended: watch::Sender<u64>,
}

/// What the writer decided for one request before writing.
enum Plan {
    Write(LogPosition),
    Answer(Result<AppendOutcome, BusError>),
}

impl Writer {
    pub(super) fn new(
        log: Arc<LogFile>,
        partitions: u32,
        recent: Vec<Body>,
        appended: watch::Sender<u64>,
    ) -> Self {
        Self {
            next: log.ends(),
            log,
            partitions,
            window: Window::of(recent),
            appended,
        }
    }

    pub(super) async fn run(mut self, mut receiver: mpsc::Receiver<AppendRequest>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
            // Cut the group where it would outgrow GROUP_BYTES.
            let mut bytes = 0;
            let mut rest = Vec::new();
            if let Some(cut) = group.iter().position(|r| {
                bytes += r.record.payload.len() + r.record.idempotency_key.len();
                bytes > GROUP_BYTES
            }) {
                rest = group.split_off(cut.max(1));
            }
            self.write_group(std::mem::take(&mut group)).await;
            if !rest.is_empty() {
                self.write_group(rest).await;
            }
        }
        debug!("embedded log writer stopped");
    }

    async fn write_group(&mut self, requests: Vec<AppendRequest>) {
        let saved_next = self.next.clone();
        let plans = self.plan(&requests);
        let writes: Vec<(usize, LogPosition)> = plans
            .iter()
            .enumerate()
            .filter_map(|(i, plan)| match plan {
                Plan::Write(pos) => Some((i, *pos)),
                Plan::Answer(_) => None,
            })
            .collect();
        let (requests, written) = if writes.is_empty() {
            (requests, Ok(()))
        } else {
            let log = self.log.clone();
            let task = tokio::task::spawn_blocking(move || {
                let frames: Vec<Frame<'_>> = writes
                    .iter()
                    .map(|(i, position)| Frame {
                        position: *position,
                        key: &requests[*i].record.idempotency_key,
                        payload: &requests[*i].record.payload,
                    })
                    .collect();
                let written = log.append(&frames);
                (requests, written)
            });
            match task.await {
                Ok(done) => done,
                Err(join) => {
                    // The requests went down with the task; their publishers see the channel
                    // close and answer UNAVAILABLE.
                    warn!(error = %join, "embedded log append task failed");
                    self.next = saved_next;
                    return;
                }
            }
        };
        match &written {
            Err(err) => {
                // Nothing of the group is acknowledged; offsets go back so the log stays gapless.
                self.next = saved_next;
                warn!(error = %chain(err), "embedded log append failed");
            }
            Ok(()) => {
                for (request, plan) in requests.iter().zip(&plans) {
                    if let Plan::Write(pos) = plan {
                        let record = &request.record;
                        self.window.remember(
                            record.idempotency_key.clone(),
                            record.content_hash,
                            *pos,
                        );
                    }
                }
                self.appended.send_modify(|n| *n += 1);
            }
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

    /// Decides, per request, a new position or an immediate answer (duplicate or conflict),
    /// also against earlier requests of the same group.
    fn plan(&mut self, requests: &[AppendRequest]) -> Vec<Plan> {
        let mut in_group: HashMap<&[u8], ([u8; 32], LogPosition)> = HashMap::new();
        let mut plans = Vec::with_capacity(requests.len());
        for request in requests {
            let record = &request.record;
            let key = record.idempotency_key.as_slice();
            let earlier = match in_group.get(key) {
                Some(found) => Some(*found),
                None if key.is_empty() => None,
                None => self.window.keys.get(key).copied(),
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
        plans
    }
}
