//! The log record: what the gateway appends and the router reads, on either log — a
//! [`proto::LogRecord`] holding the envelope's bytes exactly as encoded at publish, their
//! content hash computed once, and the time the gateway took the event.
//!
//! Records written before the log carried protobuf (JSON envelopes of schema 1) still decode:
//! on Kafka such a record's value is the JSON itself (it starts with `{`, which no protobuf
//! `LogRecord` does: its first byte is a field tag), and a migrated embedded log keeps the JSON
//! bytes inside a `LogRecord` marked [`Encoding::JsonV1`].

use jiff::Timestamp;
use prost::Message as _;

use super::{DecodeError, Encoding, content_hash, decode_envelope, encode_envelope};
use crate::domain::Envelope;
use crate::proto;

/// An envelope's bytes as they travel: encoded once, hashed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeBytes {
    /// The bytes as published.
    pub bytes: Vec<u8>,
    /// How they are encoded.
    pub encoding: Encoding,
    /// SHA-256 of the event's protobuf encoding (for a JSON record, of its protobuf re-encoding,
    /// so that a retry published today is recognised as the same event).
    pub content_hash: [u8; 32],
}

impl EnvelopeBytes {
    /// Encodes `envelope` for the log.
    pub fn encode(envelope: &Envelope) -> Self {
        let bytes = encode_envelope(envelope);
        let content_hash = content_hash(&bytes);
        Self {
            bytes,
            encoding: Encoding::Protobuf,
            content_hash,
        }
    }

    /// The envelope they hold.
    pub fn decode(&self) -> Result<Envelope, DecodeError> {
        decode_envelope(&self.bytes, self.encoding)
    }
}

/// A decoded log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// When the gateway took the event (`None` for a legacy record: the log's own timestamp
    /// stands in).
    pub logged_at: Option<Timestamp>,
    /// The envelope's bytes.
    pub envelope: EnvelopeBytes,
}

/// The log record of an envelope encoded at publish, taken at `logged_at`.
pub fn encode(envelope: &EnvelopeBytes, logged_at: Timestamp) -> Vec<u8> {
    proto::LogRecord {
        logged_at: Some(super::to_proto::ts(logged_at)),
        envelope: envelope.bytes.clone(),
        content_sha256: envelope.content_hash.to_vec(),
        encoding: envelope.encoding.number(),
    }
    .encode_to_vec()
}

/// Reads a record as the log holds it: a `LogRecord`, or a legacy JSON envelope.
pub fn decode(raw: &[u8]) -> Result<LogEntry, DecodeError> {
    if raw.first() == Some(&b'{') {
        let envelope = decode_envelope(raw, Encoding::JsonV1)?;
        return Ok(LogEntry {
            logged_at: None,
            envelope: EnvelopeBytes {
                bytes: raw.to_vec(),
                encoding: Encoding::JsonV1,
                content_hash: content_hash(&encode_envelope(&envelope)),
            },
        });
    }
    let record = proto::LogRecord::decode(raw).map_err(DecodeError::Protobuf)?;
    let encoding = Encoding::from_number(record.encoding)?;
    let content_hash =
        <[u8; 32]>::try_from(record.content_sha256.as_slice()).map_err(|_| DecodeError::Field {
            field: "content_sha256",
            reason: format!("{} bytes, not 32", record.content_sha256.len()),
        })?;
    let logged_at = record
        .logged_at
        .as_ref()
        .map(|t| super::from_proto::timestamp("logged_at", Some(t)))
        .transpose()?;
    Ok(LogEntry {
        logged_at,
        envelope: EnvelopeBytes {
            bytes: record.envelope,
            encoding,
            content_hash,
        },
    })
}

/// The log record of a legacy JSON envelope carried over from an old embedded log.
pub fn migrate(json: &[u8], logged_at: Option<Timestamp>) -> Result<Vec<u8>, DecodeError> {
    let envelope = decode_envelope(json, Encoding::JsonV1)?;
    Ok(proto::LogRecord {
        logged_at: logged_at.map(super::to_proto::ts),
        envelope: json.to_vec(),
        content_sha256: content_hash(&encode_envelope(&envelope)).to_vec(),
        encoding: Encoding::JsonV1.number(),
    }
    .encode_to_vec())
}
