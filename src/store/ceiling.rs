//! The store's own write ceiling, for `xiezhi bench --baseline`: the same records inserted into
//! a fresh sled database in batches, one flush per batch — what the router's apply does at the
//! least (it also indexes, routes and evaluates rules), so the router's rate reads against it.

use std::path::Path;
use std::time::{Duration, Instant};

use super::StoreError;

/// Inserts `records` (key, value) into a fresh database in `dir`, `batch` to a sled batch and
/// a flush; returns how long it took.
pub fn batched_inserts(
    dir: &Path,
    records: &[(Vec<u8>, Vec<u8>)],
    batch: usize,
) -> Result<Duration, StoreError> {
    let db = sled::Config::new()
        .path(dir)
        .open()
        .map_err(StoreError::sled("open"))?;
    let tree = db
        .open_tree("events")
        .map_err(StoreError::sled("open tree"))?;
    let started = Instant::now();
    for chunk in records.chunks(batch.max(1)) {
        let mut writes = sled::Batch::default();
        for (key, value) in chunk {
            writes.insert(key.as_slice(), value.as_slice());
        }
        tree.apply_batch(writes)
            .map_err(StoreError::sled("write"))?;
        db.flush().map_err(StoreError::sled("flush"))?;
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_is_written_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<_> = (0u32..2_500)
            .map(|n| (n.to_be_bytes().to_vec(), vec![7u8; 300]))
            .collect();
        batched_inserts(dir.path(), &records, 1_000).unwrap();
        let db = sled::open(dir.path()).unwrap();
        assert_eq!(db.open_tree("events").unwrap().len(), 2_500);
    }
}
