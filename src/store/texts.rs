//! Texts that repeat across records — a rule's title and its legal citation, the same in every
//! alert and watch the rule raises — kept once under their hash (`Z` + 16 bytes of SHA-256)
//! and named by that hash in the records. There are as many as there are rules, so they are
//! cached in memory once read; a text enters the cache only once its batch is on disk.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Store, StoreError, keys};

/// The name of a text: the first 16 bytes of its SHA-256.
pub(super) type TextRef = [u8; 16];

/// The name of `text`.
pub(super) fn reference(text: &str) -> TextRef {
    let digest = Sha256::digest(text.as_bytes());
    let mut name = [0u8; 16];
    name.copy_from_slice(&digest[..16]);
    name
}

/// Texts read or written so far.
pub(super) type Cache = std::sync::RwLock<HashMap<TextRef, Arc<str>>>;

impl Store {
    /// Whether the text named `name` is known to be on disk.
    pub(super) fn has_text(&self, name: &TextRef) -> Result<bool, StoreError> {
        if self
            .texts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name)
        {
            return Ok(true);
        }
        Ok(self.load_text(name)?.is_some())
    }

    /// The text named `name`.
    pub(super) fn text(&self, name: &[u8]) -> Result<Arc<str>, StoreError> {
        let name: TextRef = name.try_into().map_err(|_| StoreError::Corrupt {
            tree: "texts",
            reason: format!("a text is named by 16 bytes, not {}", name.len()),
        })?;
        if let Some(text) = self
            .texts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
        {
            return Ok(text.clone());
        }
        self.load_text(&name)?.ok_or_else(|| StoreError::Corrupt {
            tree: "texts",
            reason: format!("text {} is named but missing", hex::encode(name)),
        })
    }

    fn load_text(&self, name: &TextRef) -> Result<Option<Arc<str>>, StoreError> {
        let Some(raw) = self
            .tree
            .get(keys::text(name))
            .map_err(StoreError::sled("read"))?
        else {
            return Ok(None);
        };
        let text: Arc<str> = String::from_utf8_lossy(&raw).into();
        self.remember_text(*name, text.clone());
        Ok(Some(text))
    }

    /// Caches a text that is on disk.
    pub(super) fn remember_text(&self, name: TextRef, text: Arc<str>) {
        self.texts
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, text);
    }
}
