//! The embedded log of a data directory written before layout 4, when log and store shared one
//! sled database and records were JSON envelopes: read it, and carry it over into a log of the
//! current kind. Every record keeps its partition, offset, time and bytes (wrapped in a
//! `LogRecord` marked JSON); idempotency entries and dead letters come along.
//!
//! The old trees: `log` (partition u32, offset u64 → time µs, JSON envelope), `log_idem`
//! (idempotency key → content hash, partition, offset), `log_dlq` (id → dead letter JSON),
//! `log_meta` (`partitions`).

use std::path::Path;

use super::{DEAD, IDEM, META, prefixed, record_key, sled_err};
use crate::bus::BusError;
use crate::codec::{Encoding, log};

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

/// Copies the old log in `old` into a new log database under `new` (the data directory that
/// will hold it). `new` must not hold a log yet.
pub fn migrate(old: &Path, new: &Path) -> Result<Migrated, BusError> {
    let source = sled::Config::new()
        .path(old)
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
    if new.join(super::LOG_DIR).exists() {
        return Err(BusError::Unavailable(format!(
            "{} already holds a log; migrate into a new data directory",
            new.display()
        )));
    }
    let target = sled::Config::new()
        .path(new.join(super::LOG_DIR))
        .open()
        .map_err(sled_err("open new log"))?;
    let tree = target.open_tree("log").map_err(sled_err("open new log"))?;
    tree.insert(prefixed(META, b"partitions"), &partitions.to_be_bytes())
        .map_err(sled_err("write new log"))?;
    let mut migrated = Migrated {
        partitions,
        ..Migrated::default()
    };
    let mut batch = sled::Batch::default();
    let mut pending = 0;
    for entry in records.iter() {
        let (key, value) = entry.map_err(sled_err("read old log"))?;
        if key.len() != 12 || value.len() < 8 {
            continue;
        }
        let partition = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
        let offset = u64::from_be_bytes(key[4..12].try_into().unwrap_or_default());
        let micros = i64::from_be_bytes(value[..8].try_into().unwrap_or_default());
        let logged_at = jiff::Timestamp::from_microsecond(micros).ok();
        let json = &value[8..];
        let wrapped = log::migrate(json, logged_at).unwrap_or_else(|_| {
            migrated.undecodable += 1;
            undecodable(json, logged_at)
        });
        batch.insert(&record_key(partition, offset)[..], wrapped);
        migrated.records += 1;
        pending += 1;
        if pending == 10_000 {
            tree.apply_batch(std::mem::take(&mut batch))
                .map_err(sled_err("write new log"))?;
            pending = 0;
        }
    }
    for entry in idem.iter() {
        let (key, value) = entry.map_err(sled_err("read old log"))?;
        if value.len() == 44 {
            batch.insert(prefixed(IDEM, &key), &value[32..44]);
        }
    }
    for entry in dead.iter() {
        let (key, value) = entry.map_err(sled_err("read old log"))?;
        batch.insert(prefixed(DEAD, &key), value);
    }
    tree.apply_batch(batch).map_err(sled_err("write new log"))?;
    target.flush().map_err(sled_err("flush new log"))?;
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
