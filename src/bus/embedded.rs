//! The embedded log: a partitioned, append-only log in the store's sled database, for one
//! machine and for the default `xiezhi serve`.
//!
//! Appends go through one writer task that takes every request waiting, writes them in one
//! transaction (log record and idempotency entry together), flushes once, then answers them all
//! (group commit: one flush serves many publishers). A consumer starts where the store says it
//! stands; group commits are kept too (for `committed`, i.e. monitoring), written at once and
//! made durable by the next flush.
//!
//! Trees: `log` (partition u32, offset u64 → timestamp µs, payload), `log_idem` (idempotency key → content
//! hash, partition, offset), `log_offsets` (group, 0, partition → next offset), `log_dlq`
//! (id → dead letter), `log_meta` (partition count).

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{
    AppendOutcome, Bus, BusConsumer, BusError, DeadLetter, OutgoingRecord, Record, StartFrom,
    partition_for,
};
use crate::domain::LogPosition;
use crate::store::{Store, StoreError};
use crate::telemetry::chain;

/// Most appends one transaction takes.
const MAX_GROUP: usize = 2_048;
/// Pending appends before publishers wait (backpressure instead of unbounded memory).
const QUEUE: usize = 4_096;

/// Settings of the embedded log.
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// Number of partitions; fixed when the log is created.
    pub partitions: u32,
}

struct AppendRequest {
    record: OutgoingRecord,
    reply: oneshot::Sender<Result<AppendOutcome, BusError>>,
}

#[derive(Clone)]
struct Trees {
    log: sled::Tree,
    idem: sled::Tree,
    offsets: sled::Tree,
    dlq: sled::Tree,
}

/// The embedded log.
pub struct EmbeddedBus {
    store: Arc<Store>,
    trees: Trees,
    partitions: u32,
    sender: StdMutex<Option<mpsc::Sender<AppendRequest>>>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    appended: watch::Receiver<u64>,
}

fn sled_err(op: &'static str) -> impl FnOnce(sled::Error) -> BusError {
    move |source| BusError::Storage(StoreError::Sled { op, source })
}

fn log_key(partition: u32, offset: u64) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&partition.to_be_bytes());
    key[4..].copy_from_slice(&offset.to_be_bytes());
    key
}

fn position_of(key: &[u8]) -> LogPosition {
    let mut partition = [0u8; 4];
    let mut offset = [0u8; 8];
    partition.copy_from_slice(&key[..4]);
    offset.copy_from_slice(&key[4..12]);
    LogPosition {
        partition: u32::from_be_bytes(partition),
        offset: u64::from_be_bytes(offset),
    }
}

/// The next offset of each partition: one past its last record.
fn end_offsets(log: &sled::Tree, partitions: u32) -> Result<Vec<u64>, BusError> {
    (0..partitions)
        .map(|p| {
            let last = log
                .scan_prefix(p.to_be_bytes())
                .next_back()
                .transpose()
                .map_err(sled_err("read log"))?;
            Ok(last.map_or(0, |(k, _)| position_of(&k).offset + 1))
        })
        .collect()
}

fn decode_offset(raw: &[u8]) -> u64 {
    raw.try_into().map_or(0, u64::from_be_bytes)
}

fn offsets_key(group: &str, partition: u32) -> Vec<u8> {
    let mut key = group.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

impl EmbeddedBus {
    /// Opens the log inside `store`'s database and starts its writer task.
    pub fn open(store: Arc<Store>, config: &EmbeddedConfig) -> Result<Self, BusError> {
        let db = store.sled();
        let open = |name: &str| db.open_tree(name).map_err(sled_err("open log"));
        let trees = Trees {
            log: open("log")?,
            idem: open("log_idem")?,
            offsets: open("log_offsets")?,
            dlq: open("log_dlq")?,
        };
        let meta = open("log_meta")?;
        let partitions = config.partitions.max(1);
        match meta.get("partitions").map_err(sled_err("read log"))? {
            Some(raw) if raw.len() == 4 => {
                let found = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
                if found != partitions {
                    return Err(BusError::PartitionMismatch {
                        found,
                        configured: partitions,
                    });
                }
            }
            _ => {
                meta.insert("partitions", &partitions.to_be_bytes())
                    .map_err(sled_err("write log"))?;
            }
        }
        let next = end_offsets(&trees.log, partitions)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let (appended_tx, appended) = watch::channel(0);
        let writer = Writer {
            store: store.clone(),
            trees: trees.clone(),
            partitions,
            next,
            appended: appended_tx,
        };
        let handle = tokio::spawn(writer.run(receiver));
        Ok(Self {
            store,
            trees,
            partitions,
            sender: StdMutex::new(Some(sender)),
            writer: tokio::sync::Mutex::new(Some(handle)),
            appended,
        })
    }

    fn committed_offsets(&self, group: &str) -> Result<Vec<u64>, BusError> {
        (0..self.partitions)
            .map(|p| {
                Ok(self
                    .trees
                    .offsets
                    .get(offsets_key(group, p))
                    .map_err(sled_err("read offsets"))?
                    .map_or(0, |raw| decode_offset(&raw)))
            })
            .collect()
    }

    fn read_dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        self.trees
            .dlq
            .iter()
            .values()
            .map(|raw| {
                let raw = raw.map_err(sled_err("read dead letters"))?;
                serde_json::from_slice(&raw).map_err(|e| {
                    BusError::Storage(StoreError::Corrupt {
                        tree: "log_dlq",
                        reason: e.to_string(),
                    })
                })
            })
            .collect()
    }
}

/// The writer task's state: next offset of each partition.
struct Writer {
    store: Arc<Store>,
    trees: Trees,
    partitions: u32,
    next: Vec<u64>,
    appended: watch::Sender<u64>,
}

/// What the writer decided for one request before writing.
enum Plan {
    Write(LogPosition),
    Answer(Result<AppendOutcome, BusError>),
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<AppendRequest>) {
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
                None => self
                    .trees
                    .idem
                    .get(key)
                    .map_err(sled_err("read log"))?
                    .map(|raw| decode_idem(&raw)),
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

    /// Writes log records and idempotency entries in one transaction, then flushes.
    async fn commit(&self, writes: &[(&AppendRequest, LogPosition)]) -> Result<(), BusError> {
        let result = (&self.trees.log, &self.trees.idem).transaction(|(log, idem)| {
            for (request, pos) in writes {
                log.insert(
                    &log_key(pos.partition, pos.offset),
                    log_value(&request.record),
                )?;
                if !request.record.idempotency_key.is_empty() {
                    idem.insert(
                        request.record.idempotency_key.as_slice(),
                        encode_idem(&request.record.content_hash, *pos).as_slice(),
                    )?;
                }
            }
            Ok::<_, ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(())) => unreachable!("the append transaction never aborts"),
            Err(TransactionError::Storage(source)) => {
                return Err(BusError::Storage(StoreError::Sled {
                    op: "append",
                    source,
                }));
            }
        }
        self.store.flush().await?;
        Ok(())
    }

    fn fail_all(requests: Vec<AppendRequest>, err: &BusError) {
        warn!(error = %chain(err), "embedded log could not plan appends");
        for request in requests {
            let _ = request.reply.send(Err(BusError::Unavailable(chain(err))));
        }
    }
}

/// A log value: the gateway's timestamp (µs since the epoch, big-endian), then the payload.
fn log_value(record: &OutgoingRecord) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + record.payload.len());
    value.extend_from_slice(&record.timestamp.as_microsecond().to_be_bytes());
    value.extend_from_slice(&record.payload);
    value
}

/// Splits a log value into its timestamp and payload.
fn split_log_value(value: &[u8]) -> (Option<jiff::Timestamp>, &[u8]) {
    match value.split_first_chunk::<8>() {
        Some((micros, payload)) => (
            jiff::Timestamp::from_microsecond(i64::from_be_bytes(*micros)).ok(),
            payload,
        ),
        None => (None, value),
    }
}

fn encode_idem(hash: &[u8; 32], pos: LogPosition) -> [u8; 44] {
    let mut value = [0u8; 44];
    value[..32].copy_from_slice(hash);
    value[32..].copy_from_slice(&log_key(pos.partition, pos.offset));
    value
}

fn decode_idem(raw: &[u8]) -> ([u8; 32], LogPosition) {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&raw[..32]);
    (hash, position_of(&raw[32..44]))
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn append(&self, record: OutgoingRecord) -> Result<AppendOutcome, BusError> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(BusError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(AppendRequest { record, reply })
            .await
            .map_err(|_| BusError::Closed)?;
        answer.await.map_err(|_| BusError::Closed)?
    }

    async fn consumer(
        &self,
        group: &str,
        start: StartFrom,
    ) -> Result<Box<dyn BusConsumer>, BusError> {
        let next = (0..self.partitions).map(|p| start(p)).collect();
        Ok(Box::new(EmbeddedConsumer {
            trees: self.trees.clone(),
            group: Some(group.to_owned()),
            next,
            start: 0,
            appended: self.appended.clone(),
        }))
    }

    async fn replay(&self) -> Result<Box<dyn BusConsumer>, BusError> {
        Ok(Box::new(EmbeddedConsumer {
            trees: self.trees.clone(),
            group: None,
            next: vec![0; self.partitions as usize],
            start: 0,
            appended: self.appended.clone(),
        }))
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        self.read_dead_letters()
    }

    async fn end_offsets(&self) -> Result<Vec<u64>, BusError> {
        end_offsets(&self.trees.log, self.partitions)
    }

    async fn committed(&self, group: &str) -> Result<Vec<u64>, BusError> {
        self.committed_offsets(group)
    }

    async fn dead_letter(&self, record: &Record, reason: &str) -> Result<(), BusError> {
        let letter = DeadLetter {
            position: record.position,
            reason: reason.to_owned(),
            payload_hex: hex::encode(&record.payload),
        };
        let id = self
            .store
            .sled()
            .generate_id()
            .map_err(sled_err("dead letter"))?;
        let value = serde_json::to_vec(&letter).map_err(|e| {
            BusError::Storage(StoreError::Corrupt {
                tree: "log_dlq",
                reason: e.to_string(),
            })
        })?;
        self.trees
            .dlq
            .insert(id.to_be_bytes(), value)
            .map_err(sled_err("dead letter"))?;
        self.store.flush().await?;
        Ok(())
    }

    async fn close(&self) {
        // Dropping the last sender ends the writer after it has answered every queued append.
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = self.writer.lock().await.take() {
            let _ = handle.await;
        }
        if let Err(err) = self.store.flush().await {
            warn!(error = %chain(&err), "final flush of the embedded log failed");
        }
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }
}

/// A consumer of the embedded log.
struct EmbeddedConsumer {
    trees: Trees,
    /// `None` for a replay, which commits nothing.
    group: Option<String>,
    /// Next offset to hand out, per partition.
    next: Vec<u64>,
    /// Partition to start the next poll at, so no partition starves the others.
    start: usize,
    appended: watch::Receiver<u64>,
}

impl EmbeddedConsumer {
    fn read(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        let partitions = self.next.len();
        let mut out = Vec::new();
        // A fair share per partition first, then whatever room is left.
        let share = max.div_ceil(partitions).max(1);
        for round in [share, max] {
            for i in 0..partitions {
                let p = (self.start + i) % partitions;
                let room = max - out.len();
                if room == 0 {
                    break;
                }
                let from = log_key(p as u32, self.next[p]);
                let to = log_key(p as u32, u64::MAX);
                for entry in self.trees.log.range(from..=to).take(round.min(room)) {
                    let (key, value) = entry.map_err(sled_err("read log"))?;
                    let position = position_of(&key);
                    self.next[p] = position.offset + 1;
                    let (timestamp, payload) = split_log_value(&value);
                    out.push(Record {
                        position,
                        key: None,
                        payload: payload.to_vec(),
                        traceparent: None,
                        timestamp,
                    });
                }
            }
        }
        self.start = (self.start + 1) % partitions;
        Ok(out)
    }
}

#[async_trait]
impl BusConsumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        loop {
            // Mark the current generation seen before reading, so an append between the read
            // and the wait still wakes us.
            self.appended.borrow_and_update();
            let records = self.read(max.max(1))?;
            if !records.is_empty() {
                return Ok(records);
            }
            // Also wake periodically: cheap insurance against a missed notification.
            let _ = tokio::time::timeout(Duration::from_secs(1), self.appended.changed()).await;
        }
    }

    async fn commit(&mut self, positions: &[LogPosition]) -> Result<(), BusError> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let mut upto: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
        for pos in positions {
            let next = upto.entry(pos.partition).or_default();
            *next = (*next).max(pos.offset + 1);
        }
        let mut batch = sled::Batch::default();
        for (partition, next) in upto {
            batch.insert(offsets_key(group, partition), &next.to_be_bytes());
        }
        self.trees
            .offsets
            .apply_batch(batch)
            .map_err(sled_err("commit offsets"))?;
        Ok(())
    }
}
