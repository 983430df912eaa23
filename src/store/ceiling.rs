//! The store's own write ceiling, for `xiezhi bench --baseline`: the exact keys and values the
//! store wrote for a run's events, captured batch by batch from the committed write sets and
//! replayed into a fresh sled database with the same settings, one sled batch and one flush per
//! batch — what applying costs when nothing is decided, decoded or encoded.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// The writes of each committed batch, in order.
pub type Captured = Vec<Vec<(Vec<u8>, Vec<u8>)>>;

impl Store {
    /// Keeps every batch's writes from now on (memory grows with them: for benchmarks).
    pub fn capture_writes(&self) {
        *self.capture.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    }

    /// The writes kept since [`Store::capture_writes`]; stops keeping them.
    pub fn captured_writes(&self) -> Captured {
        self.capture
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default()
    }
}

/// Replays `batches` into a fresh store database under `dir` with a page cache of
/// `cache_bytes`, one sled batch and a flush per batch; returns how long it took.
pub fn replay(dir: &Path, batches: &Captured, cache_bytes: u64) -> Result<Duration, StoreError> {
    let db = super::sled_config(dir, cache_bytes)
        .open()
        .map_err(StoreError::sled("open"))?;
    let tree = db
        .open_tree("xiezhi")
        .map_err(StoreError::sled("open tree"))?;
    let started = Instant::now();
    for writes in batches {
        let mut batch = sled::Batch::default();
        for (key, value) in writes {
            batch.insert(key.as_slice(), value.as_slice());
        }
        tree.apply_batch(batch).map_err(StoreError::sled("write"))?;
        db.flush().map_err(StoreError::sled("flush"))?;
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::super::STORE_DIR;
    use super::*;

    #[test]
    fn every_captured_write_is_replayed_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let batches: Captured = (0u32..5)
            .map(|b| {
                (0u32..500)
                    .map(|n| ((b * 1000 + n).to_be_bytes().to_vec(), vec![7u8; 100]))
                    .collect()
            })
            .collect();
        replay(dir.path(), &batches, 16 << 20).unwrap();
        // sled lets go of its lock file from a background thread: wait for it.
        let db = (0..100)
            .find_map(|_| {
                sled::open(dir.path().join(STORE_DIR))
                    .inspect_err(|_| std::thread::sleep(std::time::Duration::from_millis(20)))
                    .ok()
            })
            .expect("the replayed database opens");
        assert_eq!(db.open_tree("xiezhi").unwrap().len(), 2_500);
    }
}
