//! The embedded log: a partitioned, append-only log in files of its own (`<data dir>/log`), for
//! one machine and for the default `xiezhi serve`. Its own files mean its own fdatasync: a
//! publish acknowledgement waits for the log's records only, never for the router's writes to
//! the store.
//!
//! - `events.log` ([`file`]): every record as a checksummed frame, one file for all
//!   partitions, so that a group of appends costs one write and one fdatasync ([`writer`]:
//!   group commit, idempotency window). Readers ([`consumer`]) find records by (partition,
//!   offset) through an index built when the file is opened.
//! - `partitions`: the partition count, fixed when the log is created.
//! - `dead-letters.jsonl`: records the router set aside, one JSON object per line, synced.
//! - `groups.json`: how far each consumer group committed (monitoring only: the store says
//!   where the router resumes).
//! - `router.journal` ([`journal`]): the order in which the router applied the log, which
//!   `xiezhi rebuild` follows.
//!
//! [`legacy`] reads the log of a data directory written before the log had files of its own.

mod consumer;
mod file;
mod journal;
pub mod legacy;
mod writer;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use super::{
    AppendOutcome, Bus, BusConsumer, BusError, DeadLetter, OutgoingRecord, Record, StartFrom,
};
use crate::domain::LogPosition;
use crate::telemetry::chain;
use file::LogFile;

/// Where the embedded log keeps its files inside a data directory.
pub const LOG_DIR: &str = "log";
const EVENTS: &str = "events.log";
const PARTITIONS: &str = "partitions";
const DEAD_LETTERS: &str = "dead-letters.jsonl";
const GROUPS: &str = "groups.json";
const JOURNAL: &str = "router.journal";

/// Settings of the embedded log.
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// Number of partitions; fixed when the log is created.
    pub partitions: u32,
}

fn io_err(what: &'static str) -> impl FnOnce(std::io::Error) -> BusError {
    move |e| BusError::Unavailable(format!("embedded log: {what}: {e}"))
}

/// The partition count of the log in `dir`, written if the log is new.
fn partitions(dir: &Path, configured: u32) -> Result<u32, BusError> {
    let path = dir.join(PARTITIONS);
    let configured = configured.max(1);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found: u32 = text.trim().parse().map_err(|_| {
                BusError::Unavailable(format!("{} does not hold a number", path.display()))
            })?;
            if found != configured {
                return Err(BusError::PartitionMismatch { found, configured });
            }
            Ok(found)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, format!("{configured}\n")).map_err(io_err("write partitions"))?;
            Ok(configured)
        }
        Err(e) => Err(io_err("read partitions")(e)),
    }
}

/// Consumer groups' commits, kept in memory and saved at most once a second (and on close).
pub(super) struct Groups {
    path: PathBuf,
    state: StdMutex<(BTreeMap<String, Vec<u64>>, Instant)>,
}

impl Groups {
    fn open(path: PathBuf) -> Self {
        let saved = std::fs::read(&path)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default();
        Self {
            path,
            state: StdMutex::new((saved, Instant::now())),
        }
    }

    fn committed(&self, group: &str, partitions: u32) -> Vec<u64> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (0..partitions as usize)
            .map(|p| {
                state
                    .0
                    .get(group)
                    .and_then(|o| o.get(p))
                    .copied()
                    .unwrap_or(0)
            })
            .collect()
    }

    fn commit(&self, group: &str, positions: &[LogPosition]) {
        let due = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let offsets = state.0.entry(group.to_owned()).or_default();
            for pos in positions {
                let p = pos.partition as usize;
                if offsets.len() <= p {
                    offsets.resize(p + 1, 0);
                }
                offsets[p] = offsets[p].max(pos.offset + 1);
            }
            state.1.elapsed() >= Duration::from_secs(1)
        };
        if due {
            self.save();
        }
    }

    fn save(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1 = Instant::now();
        let tmp = self.path.with_extension("json.tmp");
        let written = serde_json::to_vec(&state.0)
            .map_err(std::io::Error::other)
            .and_then(|raw| std::fs::write(&tmp, raw))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(err) = written {
            warn!(error = %err, "embedded log: consumer group commits not saved");
        }
    }
}

/// The embedded log.
pub struct EmbeddedBus {
    dir: PathBuf,
    log: Arc<LogFile>,
    partitions: u32,
    groups: Arc<Groups>,
    dead: tokio::sync::Mutex<()>,
    sender: StdMutex<Option<mpsc::Sender<writer::AppendRequest>>>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    appended: watch::Receiver<u64>,
    journal: Arc<journal::Journal>,
}

impl EmbeddedBus {
    /// Opens (or creates) the log of the data directory `dir` and starts its writer task.
    pub fn open(dir: &Path, config: &EmbeddedConfig) -> Result<Self, BusError> {
        let dir = dir.join(LOG_DIR);
        std::fs::create_dir_all(&dir).map_err(io_err("create the log directory"))?;
        let partitions = partitions(&dir, config.partitions)?;
        let opened = LogFile::open(&dir.join(EVENTS), partitions, writer::WINDOW)?;
        let (sender, receiver) = mpsc::channel(writer::QUEUE);
        let (appended_tx, appended) = watch::channel(0);
        let writer =
            writer::Writer::new(opened.log.clone(), partitions, opened.recent, appended_tx);
        let handle = tokio::spawn(writer.run(receiver));
        let journal = Arc::new(journal::Journal::open(&dir.join(JOURNAL))?);
        Ok(Self {
            journal,
            groups: Arc::new(Groups::open(dir.join(GROUPS))),
            dir,
            log: opened.log,
            partitions,
            dead: tokio::sync::Mutex::new(()),
            sender: StdMutex::new(Some(sender)),
            writer: tokio::sync::Mutex::new(Some(handle)),
            appended,
        })
    }

    /// Size of the log's events file, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, BusError> {
        self.log.len()
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
            self.log.clone(),
            Some((group.to_owned(), self.groups.clone())),
            next,
            self.appended.clone(),
        )))
    }

    async fn replay(&self) -> Result<Box<dyn BusConsumer>, BusError> {
        Ok(Box::new(consumer::EmbeddedConsumer::new(
            self.log.clone(),
            None,
            vec![0; self.partitions as usize],
            self.appended.clone(),
        )))
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        let text = match std::fs::read_to_string(self.dir.join(DEAD_LETTERS)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read dead letters")(e)),
        };
        // A line cut short by a crash was never confirmed: it is left out.
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    async fn end_offsets(&self) -> Result<Vec<u64>, BusError> {
        Ok(self.log.ends())
    }

    async fn committed(&self, group: &str) -> Result<Vec<u64>, BusError> {
        Ok(self.groups.committed(group, self.partitions))
    }

    async fn dead_letter(&self, record: &Record, reason: &str) -> Result<(), BusError> {
        let letter = DeadLetter {
            position: record.position,
            reason: reason.to_owned(),
            payload_hex: hex::encode(&record.payload),
        };
        let mut line = serde_json::to_vec(&letter).map_err(|e| {
            BusError::Unavailable(format!("embedded log: dead letter does not encode: {e}"))
        })?;
        line.push(b'\n');
        let _one_at_a_time = self.dead.lock().await;
        let path = self.dir.join(DEAD_LETTERS);
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            file.write_all(&line)?;
            file.sync_data()
        })
        .await
        .map_err(|e| BusError::Unavailable(format!("embedded log: dead letter task: {e}")))?
        .map_err(io_err("write a dead letter"))
    }

    async fn close(&self) {
        // Dropping the last sender ends the writer after it has answered every queued append.
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = self.writer.lock().await.take()
            && let Err(err) = handle.await
        {
            warn!(error = %chain(&err), "embedded log writer ended badly");
        }
        self.groups.save();
        if let Err(err) = super::RouterJournal::sync(self.journal.as_ref()) {
            warn!(error = %chain(&err), "router journal not synced");
        }
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn journal(&self) -> Option<Arc<dyn super::RouterJournal>> {
        Some(self.journal.clone())
    }

    async fn read_at(&self, position: LogPosition) -> Result<Option<Record>, BusError> {
        Ok(self.log.read(position)?.map(|body| Record {
            position,
            key: None,
            timestamp: None,
            payload: body.payload,
            traceparent: None,
        }))
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }
}
