//! The embedded log: a partitioned, append-only log in a sled database of its own
//! (`<data dir>/log`), for one machine and for the default `xiezhi serve`. Its own database
//! means its own flush: a publish acknowledgement waits for the log's records only, never for
//! the router's writes to the store.
//!
//! Appends go through one writer task ([`writer`]) that takes every request waiting, writes them
//! in one sled batch (log records and idempotency entries together), flushes once, then answers
//! them all (group commit: one flush serves many publishers). A consumer ([`consumer`]) starts
//! where the store says it stands; group commits are kept too (for `committed`, i.e.
//! monitoring), written at once and made durable by the next flush. [`legacy`] reads the log of
//! a data directory written before the log had a database of its own.
//!
//! Keys, in one tree: `L` partition offset → `LogRecord` bytes; `I` idempotency key →
//! partition, offset; `G` group 0 partition → next offset; `D` id → dead letter; `M` name →
//! the partition count.

mod consumer;
pub mod legacy;
mod writer;

use std::path::Path;
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use super::{
    AppendOutcome, Bus, BusConsumer, BusError, DeadLetter, OutgoingRecord, Record, StartFrom,
};
use crate::domain::LogPosition;
use crate::store::StoreError;
use crate::telemetry::chain;

/// Where the embedded log keeps its database inside a data directory.
pub const LOG_DIR: &str = "log";

/// Settings of the embedded log.
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// Number of partitions; fixed when the log is created.
    pub partitions: u32,
    /// The log database's page cache, in bytes.
    pub cache_bytes: u64,
}

const RECORD: u8 = b'L';
const IDEM: u8 = b'I';
const GROUP: u8 = b'G';
const DEAD: u8 = b'D';
const META: u8 = b'M';

fn sled_err(op: &'static str) -> impl FnOnce(sled::Error) -> BusError {
    move |source| BusError::Storage(StoreError::Sled { op, source })
}

fn corrupt(reason: impl ToString) -> BusError {
    BusError::Storage(StoreError::Corrupt {
        tree: "log",
        reason: reason.to_string(),
    })
}

/// `L` partition offset.
fn record_key(partition: u32, offset: u64) -> [u8; 13] {
    let mut key = [0u8; 13];
    key[0] = RECORD;
    key[1..5].copy_from_slice(&partition.to_be_bytes());
    key[5..].copy_from_slice(&offset.to_be_bytes());
    key
}

/// Partition and offset from 12 bytes.
fn position_of(raw: &[u8]) -> LogPosition {
    let mut partition = [0u8; 4];
    let mut offset = [0u8; 8];
    partition.copy_from_slice(&raw[..4]);
    offset.copy_from_slice(&raw[4..12]);
    LogPosition {
        partition: u32::from_be_bytes(partition),
        offset: u64::from_be_bytes(offset),
    }
}

/// Partition and offset as 12 bytes (an idempotency entry's value).
fn position_value(pos: LogPosition) -> [u8; 12] {
    let mut value = [0u8; 12];
    value[..4].copy_from_slice(&pos.partition.to_be_bytes());
    value[4..].copy_from_slice(&pos.offset.to_be_bytes());
    value
}

fn prefixed(family: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(rest.len() + 1);
    key.push(family);
    key.extend_from_slice(rest);
    key
}

fn group_key(group: &str, partition: u32) -> Vec<u8> {
    let mut key = prefixed(GROUP, group.as_bytes());
    key.push(0);
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

/// The next offset of each partition: one past its last record.
fn end_offsets(tree: &sled::Tree, partitions: u32) -> Result<Vec<u64>, BusError> {
    (0..partitions)
        .map(|p| {
            let mut scope = vec![RECORD];
            scope.extend_from_slice(&p.to_be_bytes());
            let last = tree
                .scan_prefix(scope)
                .next_back()
                .transpose()
                .map_err(sled_err("read log"))?;
            Ok(last.map_or(0, |(k, _)| position_of(&k[1..]).offset + 1))
        })
        .collect()
}

/// Opens the log database of the data directory `dir`, checking its partition count.
fn open_db(dir: &Path, config: &EmbeddedConfig) -> Result<(sled::Db, sled::Tree, u32), BusError> {
    let db = sled::Config::new()
        .path(dir.join(LOG_DIR))
        .cache_capacity(config.cache_bytes)
        .open()
        .map_err(sled_err("open log"))?;
    let tree = db.open_tree("log").map_err(sled_err("open log"))?;
    let partitions = config.partitions.max(1);
    let meta = prefixed(META, b"partitions");
    match tree.get(&meta).map_err(sled_err("read log"))? {
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
            tree.insert(meta, &partitions.to_be_bytes())
                .map_err(sled_err("write log"))?;
        }
    }
    Ok((db, tree, partitions))
}

/// The embedded log.
pub struct EmbeddedBus {
    db: sled::Db,
    tree: sled::Tree,
    partitions: u32,
    sender: StdMutex<Option<mpsc::Sender<writer::AppendRequest>>>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    appended: watch::Receiver<u64>,
}

impl EmbeddedBus {
    /// Opens (or creates) the log of the data directory `dir` and starts its writer task.
    pub fn open(dir: &Path, config: &EmbeddedConfig) -> Result<Self, BusError> {
        let (db, tree, partitions) = open_db(dir, config)?;
        let next = end_offsets(&tree, partitions)?;
        let (sender, receiver) = mpsc::channel(writer::QUEUE);
        let (appended_tx, appended) = watch::channel(0);
        let writer = writer::Writer::new(db.clone(), tree.clone(), partitions, next, appended_tx);
        let handle = tokio::spawn(writer.run(receiver));
        Ok(Self {
            db,
            tree,
            partitions,
            sender: StdMutex::new(Some(sender)),
            writer: tokio::sync::Mutex::new(Some(handle)),
            appended,
        })
    }

    async fn flush(&self) -> Result<(), BusError> {
        writer::flush(&self.db).await
    }

    /// Size of the log database on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, BusError> {
        self.db.size_on_disk().map_err(sled_err("size"))
    }
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
        let (reply, answer) = tokio::sync::oneshot::channel();
        sender
            .send(writer::AppendRequest { record, reply })
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
        Ok(Box::new(consumer::EmbeddedConsumer::new(
            self.tree.clone(),
            Some(group.to_owned()),
            next,
            self.appended.clone(),
        )))
    }

    async fn replay(&self) -> Result<Box<dyn BusConsumer>, BusError> {
        Ok(Box::new(consumer::EmbeddedConsumer::new(
            self.tree.clone(),
            None,
            vec![0; self.partitions as usize],
            self.appended.clone(),
        )))
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        self.tree
            .scan_prefix([DEAD])
            .values()
            .map(|raw| {
                let raw = raw.map_err(sled_err("read dead letters"))?;
                serde_json::from_slice(&raw).map_err(corrupt)
            })
            .collect()
    }

    async fn end_offsets(&self) -> Result<Vec<u64>, BusError> {
        end_offsets(&self.tree, self.partitions)
    }

    async fn committed(&self, group: &str) -> Result<Vec<u64>, BusError> {
        (0..self.partitions)
            .map(|p| {
                Ok(self
                    .tree
                    .get(group_key(group, p))
                    .map_err(sled_err("read offsets"))?
                    .map_or(0, |raw| {
                        raw.as_ref().try_into().map_or(0, u64::from_be_bytes)
                    }))
            })
            .collect()
    }

    async fn dead_letter(&self, record: &Record, reason: &str) -> Result<(), BusError> {
        let letter = DeadLetter {
            position: record.position,
            reason: reason.to_owned(),
            payload_hex: hex::encode(&record.payload),
        };
        let id = self.db.generate_id().map_err(sled_err("dead letter"))?;
        let value = serde_json::to_vec(&letter).map_err(corrupt)?;
        self.tree
            .insert(prefixed(DEAD, &id.to_be_bytes()), value)
            .map_err(sled_err("dead letter"))?;
        self.flush().await
    }

    async fn close(&self) {
        // Dropping the last sender ends the writer after it has answered every queued append.
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = self.writer.lock().await.take() {
            let _ = handle.await;
        }
        if let Err(err) = self.flush().await {
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
