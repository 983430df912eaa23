//! The embedded log's file: one append-only file of frames, each a record of one partition at
//! one offset. A group of appends is written with one `write` and made durable with one
//! `fdatasync` before anyone is told; readers find a record through an in-memory index
//! (partition, offset → file position), rebuilt by scanning the file when it is opened.
//!
//! A frame: body length (u32), CRC-32 of the body (u32), then the body — partition (u32),
//! offset (u64), idempotency key length (u16) and key, and the record's bytes (a `LogRecord`).
//! Integers are little-endian.
//!
//! Recovery: a crash during an append can leave a torn or partly written group at the end of the
//! file — never acknowledged, since acknowledgements wait for the fdatasync. Opening cuts such a
//! tail off (with a warning). A bad frame farther than one group from the end is not a torn
//! write but damage: opening refuses, naming the byte where it is.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use tracing::warn;

use crate::bus::BusError;
use crate::domain::LogPosition;

/// Bytes before a frame's body: its length and CRC.
const HEADER: usize = 8;
/// Bytes of a body before the key: partition, offset, key length.
const BODY_HEAD: usize = 4 + 8 + 2;
/// Most bytes a torn append can leave behind: more than one whole group of appends (the
/// writer keeps a group under [`super::writer::GROUP_BYTES`]).
const TORN_TAIL_MAX: u64 = 32 << 20;
/// Largest frame body accepted when reading (a record is a request of at most a few MiB).
const BODY_MAX: usize = 64 << 20;

fn io_err(what: &'static str) -> impl FnOnce(std::io::Error) -> BusError {
    move |e| BusError::Unavailable(format!("embedded log: {what}: {e}"))
}

/// One record to append.
pub(super) struct Frame<'a> {
    pub(super) position: LogPosition,
    pub(super) key: &'a [u8],
    pub(super) payload: &'a [u8],
}

impl Frame<'_> {
    fn write_to(&self, out: &mut Vec<u8>) {
        let body_len = BODY_HEAD + self.key.len() + self.payload.len();
        out.extend_from_slice(&(body_len as u32).to_le_bytes());
        let crc_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let body_at = out.len();
        out.extend_from_slice(&self.position.partition.to_le_bytes());
        out.extend_from_slice(&self.position.offset.to_le_bytes());
        out.extend_from_slice(&(self.key.len() as u16).to_le_bytes());
        out.extend_from_slice(self.key);
        out.extend_from_slice(self.payload);
        let crc = crc32fast::hash(&out[body_at..]);
        out[crc_at..body_at].copy_from_slice(&crc.to_le_bytes());
    }
}

/// A frame's body, read back.
pub(super) struct Body {
    pub(super) position: LogPosition,
    pub(super) key: Vec<u8>,
    pub(super) payload: Vec<u8>,
}

impl Body {
    fn parse(body: &[u8]) -> Option<Self> {
        let partition = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
        let offset = u64::from_le_bytes(body.get(4..12)?.try_into().ok()?);
        let key_len = usize::from(u16::from_le_bytes(body.get(12..14)?.try_into().ok()?));
        let key = body.get(BODY_HEAD..BODY_HEAD + key_len)?.to_vec();
        let payload = body.get(BODY_HEAD + key_len..)?.to_vec();
        Some(Self {
            position: LogPosition { partition, offset },
            key,
            payload,
        })
    }
}

/// Where each partition's records are in the file: `positions[p][offset]` is the byte where the
/// frame starts.
pub(super) type Index = Vec<Vec<u64>>;

/// The file and its index, shared by the writer (the only appender) and the readers.
pub(super) struct LogFile {
    file: File,
    index: RwLock<Index>,
}

/// What opening found, besides the file: the last records, for the writer's idempotency window.
pub(super) struct Opened {
    pub(super) log: Arc<LogFile>,
    /// The idempotency keys and records of the last `recent` frames, oldest first.
    pub(super) recent: Vec<Body>,
}

impl LogFile {
    /// Opens (or creates) the log file at `path` for `partitions` partitions, recovering from a
    /// torn tail, and hands back the last `recent` records too.
    pub(super) fn open(path: &Path, partitions: u32, recent: usize) -> Result<Opened, BusError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err("open"))?;
        let len = file.metadata().map_err(io_err("stat"))?.len();
        let mut index: Index = vec![Vec::new(); partitions as usize];
        let mut recent_frames: std::collections::VecDeque<Body> = Default::default();
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &file);
        reader.seek(SeekFrom::Start(0)).map_err(io_err("seek"))?;
        let mut at = 0u64;
        let mut body = Vec::new();
        let good = loop {
            let mut header = [0u8; HEADER];
            if let Err(e) = reader.read_exact(&mut header) {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    break at;
                }
                return Err(io_err("read")(e));
            }
            let body_len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default()) as usize;
            let crc = u32::from_le_bytes(header[4..].try_into().unwrap_or_default());
            if !(BODY_HEAD..=BODY_MAX).contains(&body_len) {
                break at;
            }
            body.resize(body_len, 0);
            if reader.read_exact(&mut body).is_err() || crc32fast::hash(&body) != crc {
                break at;
            }
            let Some(parsed) = Body::parse(&body) else {
                break at;
            };
            let p = parsed.position.partition as usize;
            let Some(offsets) = index.get_mut(p) else {
                return Err(corrupt(path, at, "names a partition the log does not have"));
            };
            if parsed.position.offset != offsets.len() as u64 {
                return Err(corrupt(path, at, "is out of order in its partition"));
            }
            offsets.push(at);
            if recent > 0 {
                if recent_frames.len() == recent {
                    recent_frames.pop_front();
                }
                recent_frames.push_back(parsed);
            }
            at += (HEADER + body_len) as u64;
        };
        drop(reader);
        if good < len {
            if len - good > TORN_TAIL_MAX {
                return Err(corrupt(
                    path,
                    good,
                    "does not read back, and too much follows it to be a torn last append",
                ));
            }
            warn!(
                path = %path.display(),
                at = good,
                cut = len - good,
                "the embedded log ends in a torn append (never acknowledged); cutting it off"
            );
            file.set_len(good).map_err(io_err("truncate"))?;
            file.sync_all().map_err(io_err("sync"))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_err("seek"))?;
        Ok(Opened {
            log: Arc::new(Self {
                file,
                index: RwLock::new(index),
            }),
            recent: recent_frames.into(),
        })
    }

    /// The next offset of each partition.
    pub(super) fn ends(&self) -> Vec<u64> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|offsets| offsets.len() as u64)
            .collect()
    }

    /// Appends `frames` (each at its partition's next offset, in order) and makes them durable;
    /// readers see them only then. Blocking: run it off the async workers.
    pub(super) fn append(&self, frames: &[Frame<'_>]) -> Result<(), BusError> {
        let mut buffer = Vec::with_capacity(frames.len() * 400);
        let mut starts = Vec::with_capacity(frames.len());
        for frame in frames {
            starts.push(buffer.len() as u64);
            frame.write_to(&mut buffer);
        }
        let start = self.file.metadata().map_err(io_err("stat"))?.len();
        let written = (&self.file)
            .write_all(&buffer)
            .map_err(io_err("write"))
            .and_then(|()| self.file.sync_data().map_err(io_err("fdatasync")));
        if let Err(err) = written {
            // Nothing of the group is acknowledged: cut it off so the file stays what the index
            // says (a failure here leaves a torn tail, which opening cuts off).
            let _ = self.file.set_len(start);
            return Err(err);
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for (frame, at) in frames.iter().zip(starts) {
            if let Some(offsets) = index.get_mut(frame.position.partition as usize) {
                offsets.push(start + at);
            }
        }
        Ok(())
    }

    /// The frame body at (partition, offset), if it exists.
    pub(super) fn read(&self, position: LogPosition) -> Result<Option<Body>, BusError> {
        let Some(at) = self
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(position.partition as usize)
            .and_then(|offsets| offsets.get(position.offset as usize).copied())
        else {
            return Ok(None);
        };
        let mut header = [0u8; HEADER];
        self.file
            .read_exact_at(&mut header, at)
            .map_err(io_err("read"))?;
        let body_len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default()) as usize;
        let mut body = vec![0u8; body_len.min(BODY_MAX)];
        self.file
            .read_exact_at(&mut body, at + HEADER as u64)
            .map_err(io_err("read"))?;
        Body::parse(&body)
            .filter(|b| b.position == position)
            .map(Some)
            .ok_or_else(|| {
                BusError::Unavailable(format!("embedded log: frame at byte {at} is damaged"))
            })
    }

    /// Size of the file, in bytes.
    pub(super) fn len(&self) -> Result<u64, BusError> {
        Ok(self.file.metadata().map_err(io_err("stat"))?.len())
    }
}

fn corrupt(path: &Path, at: u64, what: &str) -> BusError {
    BusError::Storage(crate::store::StoreError::Corrupt {
        tree: "log",
        reason: format!("{}: the frame at byte {at} {what}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(p: u32, o: u64, key: &'static [u8], payload: &'static [u8]) -> Frame<'static> {
        Frame {
            position: LogPosition {
                partition: p,
                offset: o,
            },
            key,
            payload,
        }
    }

    #[test]
    fn appended_records_read_back_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let log = LogFile::open(&path, 2, 0).unwrap().log;
        log.append(&[frame(0, 0, b"a/1", b"one"), frame(1, 0, b"a/2", b"two")])
            .unwrap();
        log.append(&[frame(0, 1, b"", b"three")]).unwrap();
        assert_eq!(log.ends(), [2, 1]);
        drop(log);
        let opened = LogFile::open(&path, 2, 2).unwrap();
        assert_eq!(opened.log.ends(), [2, 1]);
        let three = opened
            .log
            .read(LogPosition {
                partition: 0,
                offset: 1,
            })
            .unwrap()
            .unwrap();
        assert_eq!(three.payload, b"three");
        assert_eq!(opened.recent.len(), 2);
        assert_eq!(opened.recent[0].key, b"a/2");
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_damage_farther_back_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let log = LogFile::open(&path, 1, 0).unwrap().log;
        log.append(&[frame(0, 0, b"k", b"kept")]).unwrap();
        drop(log);
        let kept = std::fs::metadata(&path).unwrap().len();
        // Half a frame, as a crash in the middle of a write leaves it.
        let mut torn = Vec::new();
        frame(0, 1, b"k2", b"lost").write_to(&mut torn);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(file);
        let log = LogFile::open(&path, 1, 0).unwrap().log;
        assert_eq!(log.ends(), [1]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), kept);
        drop(log);
        // A flipped byte in the first frame, with more than a torn append's worth after it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + BODY_HEAD + 2] ^= 1;
        bytes.extend(std::iter::repeat_n(0u8, TORN_TAIL_MAX as usize + 1));
        std::fs::write(&path, bytes).unwrap();
        assert!(LogFile::open(&path, 1, 0).is_err());
    }
}
