//! The binary encodings of what Xiezhi keeps, below the store and the log: an event's envelope
//! in protobuf (encoded once at publish, hashed once, never re-encoded), the [`log`] record
//! around it, and the conversions between domain values and the generated protobuf messages
//! that the log, the store and the gateway share ([`to_proto`], [`from_proto`], the enum
//! tables). It knows nothing of sled, Kafka or tonic.
//!
//! The envelope's content hash is SHA-256 over its protobuf encoding. prost writes fields in
//! field-number order and the domain keeps facts sorted, so equal envelopes encode to equal
//! bytes: a retry hashes the same, a changed field does not.

pub mod from_proto;
pub mod inspection;
pub mod json;
pub mod log;
pub mod procedure;
pub(crate) mod tables;
pub mod to_proto;

use prost::Message as _;
use sha2::{Digest, Sha256};

use crate::domain::{Envelope, SCHEMA_VERSION};
use crate::proto;

/// How an envelope's bytes are encoded (`xiezhi.v1.EnvelopeEncoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Protobuf `xiezhi.v1.Envelope`: everything this release writes.
    #[default]
    Protobuf,
    /// Schema-1 JSON, written by releases before the log carried protobuf.
    JsonV1,
}

impl Encoding {
    /// The `EnvelopeEncoding` number.
    pub fn number(self) -> i32 {
        match self {
            Encoding::Protobuf => proto::EnvelopeEncoding::Protobuf as i32,
            Encoding::JsonV1 => proto::EnvelopeEncoding::JsonV1 as i32,
        }
    }

    /// From an `EnvelopeEncoding` number.
    pub fn from_number(number: i32) -> Result<Self, DecodeError> {
        match proto::EnvelopeEncoding::try_from(number) {
            Ok(proto::EnvelopeEncoding::Protobuf) => Ok(Encoding::Protobuf),
            Ok(proto::EnvelopeEncoding::JsonV1) => Ok(Encoding::JsonV1),
            Err(_) => Err(DecodeError::Field {
                field: "encoding",
                reason: format!("{number} is not a known envelope encoding"),
            }),
        }
    }
}

/// Bytes that are not a valid record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not protobuf of the expected message.
    #[error("undecodable protobuf")]
    Protobuf(#[source] prost::DecodeError),
    /// Not JSON of the schema-1 envelope shape, or a field broke a rule.
    #[error("undecodable JSON envelope")]
    Json(#[source] serde_json::Error),
    /// A field is missing or breaks a rule.
    #[error("field {field}: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Written by a newer release.
    #[error("envelope schema version {found} is newer than the {supported} this release reads")]
    TooNew {
        /// Version in the record.
        found: u32,
        /// Newest version this release reads.
        supported: u32,
    },
}

/// The envelope's protobuf encoding: what the gateway appends, once.
pub fn encode_envelope(envelope: &Envelope) -> Vec<u8> {
    to_proto::envelope(envelope).encode_to_vec()
}

/// SHA-256 of an envelope's protobuf encoding.
pub fn content_hash(protobuf: &[u8]) -> [u8; 32] {
    Sha256::digest(protobuf).into()
}

/// Decodes envelope bytes, refusing schema versions newer than this release.
pub fn decode_envelope(bytes: &[u8], encoding: Encoding) -> Result<Envelope, DecodeError> {
    let envelope = match encoding {
        Encoding::Protobuf => {
            let raw = proto::Envelope::decode(bytes).map_err(DecodeError::Protobuf)?;
            from_proto::envelope(&raw)?
        }
        Encoding::JsonV1 => serde_json::from_slice(bytes).map_err(DecodeError::Json)?,
    };
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(DecodeError::TooNew {
            found: envelope.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Payload;
    use crate::domain::event::tests::sample_lead;

    #[test]
    fn an_envelope_round_trips_through_its_log_record() {
        let envelope = sample_lead();
        let bytes = log::EnvelopeBytes::encode(&envelope);
        let at: jiff::Timestamp = "2026-11-27T08:00:01.123456Z".parse().unwrap();
        let entry = log::decode(&log::encode(&bytes, at)).unwrap();
        assert_eq!(entry.logged_at, Some(at));
        assert_eq!(entry.envelope, bytes);
        assert_eq!(entry.envelope.decode().unwrap(), envelope);
    }

    #[test]
    fn content_hash_is_stable_and_changes_with_any_field() {
        let a = sample_lead();
        let mut b = a.clone();
        assert_eq!(
            log::EnvelopeBytes::encode(&a).content_hash,
            log::EnvelopeBytes::encode(&b).content_hash
        );
        if let Payload::Lead(lead) = &mut b.payload {
            lead.summary.push('。');
        }
        assert_ne!(
            log::EnvelopeBytes::encode(&a).content_hash,
            log::EnvelopeBytes::encode(&b).content_hash
        );
    }

    #[test]
    fn a_legacy_json_record_decodes_and_hashes_as_its_protobuf_form() {
        let envelope = sample_lead();
        let json = serde_json::to_vec(&envelope).unwrap();
        let entry = log::decode(&json).unwrap();
        assert_eq!(entry.envelope.encoding, Encoding::JsonV1);
        assert_eq!(entry.logged_at, None);
        assert_eq!(entry.envelope.decode().unwrap(), envelope);
        assert_eq!(
            entry.envelope.content_hash,
            log::EnvelopeBytes::encode(&envelope).content_hash
        );
        // Carried over into a LogRecord, it keeps its bytes and its hash.
        let migrated = log::decode(&log::migrate(&json, None).unwrap()).unwrap();
        assert_eq!(migrated.envelope, entry.envelope);
    }

    #[test]
    fn garbage_newer_versions_and_invalid_identifiers_are_refused() {
        assert!(log::decode(b"\x00\xffnot a record").is_err());
        assert!(log::decode(b"{not json").is_err());
        let mut newer = sample_lead();
        newer.schema_version = SCHEMA_VERSION + 1;
        assert!(matches!(
            decode_envelope(&encode_envelope(&newer), Encoding::Protobuf),
            Err(DecodeError::TooNew { .. })
        ));
        let mut raw = to_proto::envelope(&sample_lead());
        raw.producer = "nobody".into();
        assert!(matches!(
            decode_envelope(&raw.encode_to_vec(), Encoding::Protobuf),
            Err(DecodeError::Field {
                field: "producer",
                ..
            })
        ));
        let json = String::from_utf8(serde_json::to_vec(&sample_lead()).unwrap())
            .unwrap()
            .replace("330106-SCJG", "nobody");
        assert!(decode_envelope(json.as_bytes(), Encoding::JsonV1).is_err());
    }
}
