//! The embedded log of a data directory written before layout 4, when log and store shared one
//! sled database and records were JSON envelopes: read it, and carry it over into a log of the
//! current kind. Every record keeps its partition, offset, time and bytes (wrapped in a
//! `LogRecord` marked JSON) and its idempotency key; dead letters come along.
//!
//! The old trees: `log` (partition u32, offset u64 → time µs, JSON envelope), `log_idem`
//! (idempotency key → content hash, partition, offset), `log_dlq` (id → dead letter JSON),
//! `log_meta` (`partitions`).

use std::collections::HashMap;
use std::path::Path;

use super::file::{Frame, LogFile};
use crate::bus::BusError;
use crate::codec::{Encoding, log};
use crate::domain::LogPosition;

fn sled_err(op: &'static str) -> impl FnOnce(sled::Error) -> BusError {
    move |source| BusError::Storage(crate::store::StoreError::Sled { op, source })
}

/// What a migration carried over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Log records.
    pub records: u64,
    /// Records whose JSON did not decode, kept as they were (the router sets them aside).
    pub undecodable: u64,
    /// The partition count.
    pub partitions: u32,
}

/// Whether `dir` holds a data directory of the old kind (one sled database in the directory).
pub fn is_legacy(dir: &Path) -> bool {
    dir.join("conf").is_file() && dir.join("db").is_file()
}

fn open_tree(db: &sled::Db, name: &str) -> Result<sled::Tree, BusError> {
    db.open_tree(name).map_err(sled_err("open old log"))
}

/// Copies the old log in `old` into a new log under `new` (the data directory that will hold it).
/// `new` must not hold a log yet.
pub fn migrate(old: &Path, new: &Path) -> Result<Migrated, BusError> {
    // Read once, front to back: sled's default page cache (1 GiB) would only hold on to memory.
    let source = sled::Config::new()
        .path(old)
        .cache_capacity(16 << 20)
        .open()
        .map_err(sled_err("open old data directory"))?;
    let records = open_tree(&source, "log")?;
    let idem = open_tree(&source, "log_idem")?;
    let dead = open_tree(&source, "log_dlq")?;
    let meta = open_tree(&source, "log_meta")?;
    let partitions = match meta.get("partitions").map_err(sled_err("read old log"))? {
        Some(raw) if raw.len() == 4 => u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        _ => 1,
    };
    let dir = new.join(super::LOG_DIR);
    if dir.exists() {
        return Err(BusError::Unavailable(format!(
            "{} already holds a log; migrate into a new data directory",
            new.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(super::io_err("create the log directory"))?;
    super::partitions(&dir, partitions)?;
    let log = LogFile::open(&dir.join(super::EVENTS), partitions, 0)?.log;
    // Each record's idempotency key, by position.
    let mut keys: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for entry in idem.iter() {
        let (key, value) = entry.map_err(sled_err("read old log"))?;
        if value.len() == 44 {
            keys.insert(value[32..44].to_vec(), key.to_vec());
        }
    }
    let mut migrated = Migrated {
        partitions,
        ..Migrated::default()
    };
    let mut pending: Vec<(LogPosition, Vec<u8>, Vec<u8>)> = Vec::new();
    let flush = |pending: &mut Vec<(LogPosition, Vec<u8>, Vec<u8>)>| {
        let frames: Vec<Frame<'_>> = pending
            .iter()
            .map(|(position, key, payload)| Frame {
                position: *position,
                key,
                payload,
            })
            .collect();
        let appended = log.append(&frames);
        pending.clear();
        appended
    };
    for entry in records.iter() {
        let (key, value) = entry.map_err(sled_err("read old log"))?;
        if key.len() != 12 || value.len() < 8 {
            continue;
        }
        let position = LogPosition {
            partition: u32::from_be_bytes([key[0], key[1], key[2], key[3]]),
            offset: u64::from_be_bytes(key[4..12].try_into().unwrap_or_default()),
        };
        let micros = i64::from_be_bytes(value[..8].try_into().unwrap_or_default());
        let logged_at = jiff::Timestamp::from_microsecond(micros).ok();
        let json = &value[8..];
        let wrapped = log::migrate(json, logged_at).unwrap_or_else(|_| {
            migrated.undecodable += 1;
            undecodable(json, logged_at)
        });
        let idempotency = keys.remove(key.as_ref()).unwrap_or_default();
        pending.push((position, idempotency, wrapped));
        migrated.records += 1;
        if pending.len() == 10_000 {
            flush(&mut pending)?;
        }
    }
    flush(&mut pending)?;
    let mut letters = Vec::new();
    for entry in dead.iter() {
        let (_, value) = entry.map_err(sled_err("read old log"))?;
        letters.extend_from_slice(&value);
        letters.push(b'\n');
    }
    if !letters.is_empty() {
        std::fs::write(dir.join(super::DEAD_LETTERS), letters)
            .map_err(super::io_err("write dead letters"))?;
    }
    Ok(migrated)
}

/// A record whose JSON does not decode, wrapped as it was: the router sets it aside again.
fn undecodable(json: &[u8], logged_at: Option<jiff::Timestamp>) -> Vec<u8> {
    use prost::Message as _;
    crate::proto::LogRecord {
        logged_at: logged_at.map(crate::codec::to_proto::ts),
        envelope: json.to_vec(),
        content_sha256: vec![0; 32],
        encoding: Encoding::JsonV1.number(),
    }
    .encode_to_vec()
}
