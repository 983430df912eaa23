//! The router's journal beside the embedded log (`<data dir>/log/router.journal`): one entry per
//! batch the router applied, in the order it applied them — which records, in which order, at
//! which time, or a tick of the clock. `xiezhi rebuild` follows it, so a rebuilt store applies
//! the same records in the same batches at the same times and numbers every inbox exactly as the
//! live store did (docs/operations.md, "Rebuild").
//!
//! A frame: entry length (u32), CRC-32 of the entry (u32), the entry (little-endian). Appends
//! are written at once and made durable by [`crate::bus::RouterJournal::sync`] (the router
//! syncs about once a second and when it stops): the store keeps a copy of every entry in the
//! batch it belongs to, and the router restores any entry a crash kept from the file, and cuts
//! off entries of batches the store never applied, before it routes again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use tracing::warn;

use crate::bus::{BusError, RouterJournal};

fn io_err(what: &'static str) -> impl FnOnce(std::io::Error) -> BusError {
    move |e| BusError::Unavailable(format!("router journal: {what}: {e}"))
}

/// The journal file and where each entry starts in it.
pub(super) struct Journal {
    state: Mutex<State>,
}

struct State {
    file: File,
    /// Byte offset of each entry, and the end of the last one.
    starts: Vec<u64>,
    end: u64,
}

impl Journal {
    /// Opens (or creates) the journal at `path`; a torn last frame is cut off.
    pub(super) fn open(path: &Path) -> Result<Self, BusError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_err("open"))?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw).map_err(io_err("read"))?;
        let (starts, end) = scan(&raw);
        if end < raw.len() as u64 {
            warn!(
                path = %path.display(),
                cut = raw.len() as u64 - end,
                "router journal: a torn last entry cut off"
            );
            file.set_len(end).map_err(io_err("cut a torn entry"))?;
        }
        Ok(Self {
            state: Mutex::new(State { file, starts, end }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where each whole entry of `raw` starts, and where the last one ends.
fn scan(raw: &[u8]) -> (Vec<u64>, u64) {
    let mut starts = Vec::new();
    let mut at = 0usize;
    while raw.len() >= at + 8 {
        let len = u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]) as usize;
        let crc = u32::from_le_bytes([raw[at + 4], raw[at + 5], raw[at + 6], raw[at + 7]]);
        let Some(entry) = raw.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32fast::hash(entry) != crc {
            break;
        }
        starts.push(at as u64);
        at += 8 + len;
    }
    (starts, at as u64)
}

impl RouterJournal for Journal {
    fn count(&self) -> u64 {
        self.state().starts.len() as u64
    }

    fn entries(&self) -> Result<Vec<Vec<u8>>, BusError> {
        let state = self.state();
        let mut entries = Vec::with_capacity(state.starts.len());
        for (i, &at) in state.starts.iter().enumerate() {
            let next = state.starts.get(i + 1).copied().unwrap_or(state.end);
            let mut entry = vec![0u8; (next - at).saturating_sub(8) as usize];
            state
                .file
                .read_exact_at(&mut entry, at + 8)
                .map_err(io_err("read"))?;
            entries.push(entry);
        }
        Ok(entries)
    }

    fn append(&self, entry: &[u8]) -> Result<(), BusError> {
        let mut frame = Vec::with_capacity(entry.len() + 8);
        frame.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(entry).to_le_bytes());
        frame.extend_from_slice(entry);
        let mut state = self.state();
        state.file.write_all(&frame).map_err(io_err("append"))?;
        let at = state.end;
        state.starts.push(at);
        state.end += frame.len() as u64;
        Ok(())
    }

    fn truncate(&self, len: u64) -> Result<(), BusError> {
        let mut state = self.state();
        let Some(&cut) = state.starts.get(len as usize) else {
            return Ok(());
        };
        state.file.set_len(cut).map_err(io_err("cut"))?;
        state.file.sync_data().map_err(io_err("sync"))?;
        state.starts.truncate(len as usize);
        state.end = cut;
        Ok(())
    }

    fn sync(&self) -> Result<(), BusError> {
        let file = self.state().file.try_clone().map_err(io_err("sync"))?;
        file.sync_data().map_err(io_err("sync"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_a_torn_tail_is_cut_and_truncation_drops_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("router.journal");
        let journal = Journal::open(&path).unwrap();
        for entry in [&b"one"[..], b"two", b"three"] {
            journal.append(entry).unwrap();
        }
        journal.sync().unwrap();
        drop(journal);
        // Half a frame, as a crash during a write leaves it.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(file);

        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.count(), 3);
        assert_eq!(
            journal.entries().unwrap(),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        journal.truncate(1).unwrap();
        journal.append(b"again").unwrap();
        drop(journal);
        let journal = Journal::open(&path).unwrap();
        assert_eq!(
            journal.entries().unwrap(),
            vec![b"one".to_vec(), b"again".to_vec()]
        );
    }
}
