//! Signed receipts (after e-CODEX): every Ack carries the broker's Ed25519 signature over
//! what was accepted — producer, event id, content digest, log position, time — so a publisher
//! can later prove the broker took the event, and nobody can claim it took something else.

use std::path::Path;

use prost_types::Timestamp as ProtoTimestamp;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use crate::domain::LogPosition;
use crate::proto;

/// A receipt that cannot be made or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The key file cannot be read or written.
    #[error("receipt key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file is not an Ed25519 PKCS#8 key.
    #[error("receipt key {0} is not an Ed25519 PKCS#8 key")]
    BadKey(String),
    /// The Ack has no receipt, or an incomplete one.
    #[error("the Ack carries no complete receipt")]
    Missing,
    /// The signature does not match: the receipt was forged or the Ack altered.
    #[error(
        "the receipt does not verify against this public key: forged, altered, or signed by another key"
    )]
    Invalid,
}

/// The broker's receipt key.
pub struct ReceiptSigner {
    key: Ed25519KeyPair,
    key_id: String,
}

/// The first 8 bytes of SHA-256 of a public key, hex: names the key in receipts.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// The bytes a receipt signs.
fn message(
    producer: &str,
    event_id: &str,
    digest: &[u8],
    position: LogPosition,
    signed_at: &ProtoTimestamp,
) -> Vec<u8> {
    format!(
        "xiezhi-receipt-v1\n{producer}\n{event_id}\n{}\n{}:{}\n{}.{:09}",
        hex::encode(digest),
        position.partition,
        position.offset,
        signed_at.seconds,
        signed_at.nanos
    )
    .into_bytes()
}

impl ReceiptSigner {
    /// Loads the key at `path`.
    pub fn load(path: &Path) -> Result<Self, ReceiptError> {
        Self::open(path, false)
    }

    /// Loads the key at `path`, creating one (mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, ReceiptError> {
        Self::open(path, true)
    }

    fn open(path: &Path, create: bool) -> Result<Self, ReceiptError> {
        let io = |source| ReceiptError::Io {
            path: path.display().to_string(),
            source,
        };
        let pkcs8 = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if create && err.kind() == std::io::ErrorKind::NotFound => {
                let generated = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| ReceiptError::BadKey(path.display().to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                super::tls::write_secret(path, generated.as_ref()).map_err(io)?;
                generated.as_ref().to_vec()
            }
            Err(err) => return Err(io(err)),
        };
        let key = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| ReceiptError::BadKey(path.display().to_string()))?;
        let key_id = key_id(key.public_key().as_ref());
        Ok(Self { key, key_id })
    }

    /// The public key (32 bytes) publishers verify with.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// The verification code of an inspection plan (扫码入企): 20 characters of base32 from the
    /// broker's signature over the plan's key. Ed25519 signatures are deterministic, so a retry
    /// of the plan gets the same code (and the same content hash); without the key nobody can
    /// compute a plan's code, and 100 bits cannot be guessed.
    pub fn verify_code(&self, agency: &str, plan_id: &str) -> String {
        const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
        let signature = self
            .key
            .sign(format!("xiezhi-verify-v1\n{agency}\n{plan_id}").as_bytes());
        let digest = Sha256::digest(signature.as_ref());
        let mut bits: u128 = 0;
        for byte in &digest[..16] {
            bits = (bits << 8) | u128::from(*byte);
        }
        (0..20)
            .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
            .collect()
    }

    /// A receipt for an accepted event.
    pub fn sign(
        &self,
        producer: &str,
        event_id: &str,
        digest: &[u8; 32],
        position: LogPosition,
        at: jiff::Timestamp,
    ) -> proto::Receipt {
        let signed_at = ProtoTimestamp {
            seconds: at.as_second(),
            nanos: at.subsec_nanosecond(),
        };
        let signature = self
            .key
            .sign(&message(producer, event_id, digest, position, &signed_at));
        proto::Receipt {
            key_id: self.key_id.clone(),
            content_sha256: digest.to_vec(),
            signed_at: Some(signed_at),
            signature: signature.as_ref().to_vec(),
            producer: producer.to_owned(),
        }
    }
}

/// Checks the receipt in `ack` against the broker's public key.
pub fn verify(ack: &proto::Ack, public_key: &[u8]) -> Result<(), ReceiptError> {
    let receipt = ack.receipt.as_ref().ok_or(ReceiptError::Missing)?;
    let (Some(position), Some(signed_at)) = (ack.position, receipt.signed_at) else {
        return Err(ReceiptError::Missing);
    };
    let position = LogPosition {
        partition: position.partition,
        offset: position.offset,
    };
    let signed = message(
        &receipt.producer,
        &ack.event_id,
        &receipt.content_sha256,
        position,
        &signed_at,
    );
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&signed, &receipt.signature)
        .map_err(|_| ReceiptError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_verifies_and_any_change_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipt-key.pk8");
        let signer = ReceiptSigner::load_or_create(&path).unwrap();
        let again = ReceiptSigner::load(&path).unwrap();
        assert_eq!(signer.public_key(), again.public_key(), "the key is kept");
        let position = LogPosition {
            partition: 3,
            offset: 17,
        };
        let receipt = signer.sign(
            "330106-SCJG",
            "ev-1",
            &[7; 32],
            position,
            "2026-11-27T08:00:00Z".parse().unwrap(),
        );
        let ack = proto::Ack {
            event_id: "ev-1".into(),
            position: Some(proto::LogPosition {
                partition: 3,
                offset: 17,
            }),
            duplicate: false,
            warnings: vec![],
            receipt: Some(receipt),
        };
        verify(&ack, signer.public_key()).unwrap();
        let mut moved = ack.clone();
        moved.position = Some(proto::LogPosition {
            partition: 3,
            offset: 18,
        });
        assert!(matches!(
            verify(&moved, signer.public_key()),
            Err(ReceiptError::Invalid)
        ));
        let mut renamed = ack.clone();
        renamed.event_id = "ev-2".into();
        assert!(verify(&renamed, signer.public_key()).is_err());
        let other = ReceiptSigner::load_or_create(&dir.path().join("other.pk8")).unwrap();
        assert!(
            verify(&ack, other.public_key()).is_err(),
            "another broker's key"
        );
        assert!(matches!(
            verify(&proto::Ack::default(), signer.public_key()),
            Err(ReceiptError::Missing)
        ));
        assert!(matches!(
            ReceiptSigner::load(&dir.path().join("absent.pk8")),
            Err(ReceiptError::Io { .. })
        ));
    }
}
