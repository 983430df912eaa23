//! Bloom filters over two index families that nearly every record looks up and nearly always
//! misses — has this `producer/event_id` been applied (`K`), has this subject a history for this
//! offence (`O`) — so that a miss costs no sled read. This matters beyond the read itself: sled
//! takes a process-wide write lock for every batch it applies, so a read that can be skipped is
//! one the router's next batch need not wait for while the store writes the last.
//!
//! Filled when the store opens (from the keys on disk) and as batches are staged; never emptied
//! (keys of these families are never removed; a batch dropped before it was applied leaves a
//! false "maybe", which only costs the read). Sized at open for four times the keys then on disk
//! and at least a million, at ten bits a key (about 1% false "maybe" at that size); beyond
//! it the rate of false "maybe" grows until the next start sizes it anew.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bits per key the filter is sized for.
const BITS_PER_KEY: usize = 10;
/// Hash functions per key (optimal for ten bits a key).
const HASHES: u64 = 7;
/// Keys a filter is sized for at least.
const MIN_KEYS: usize = 1 << 20;

/// A Bloom filter safe to read and fill from several threads.
pub(super) struct Bloom {
    bits: Vec<AtomicU64>,
    hasher: std::hash::RandomState,
}

impl Bloom {
    /// A filter for about `keys` keys.
    pub(super) fn with_capacity(keys: usize) -> Self {
        let bits = (keys.max(MIN_KEYS) * BITS_PER_KEY).next_power_of_two();
        Self {
            bits: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// The bit positions of `key` (double hashing over one 64-bit hash).
    fn positions(&self, key: &[u8]) -> impl Iterator<Item = usize> + use<> {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key);
        let hash = hasher.finish();
        let (a, b) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        let mask = (self.bits.len() * 64 - 1) as u64;
        (0..HASHES).map(move |i| (a.wrapping_add(i.wrapping_mul(b)) & mask) as usize)
    }

    /// Notes `key`.
    pub(super) fn insert(&self, key: &[u8]) {
        for bit in self.positions(key) {
            self.bits[bit / 64].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
    }

    /// Whether `key` may have been noted (`false`: it certainly was not).
    pub(super) fn may_contain(&self, key: &[u8]) -> bool {
        self.positions(key)
            .all(|bit| self.bits[bit / 64].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noted_keys_are_always_found_and_others_rarely() {
        let bloom = Bloom::with_capacity(100_000);
        for n in 0..100_000u32 {
            bloom.insert(format!("330106-SCJG/ev-{n}").as_bytes());
        }
        assert!(
            (0..100_000u32).all(|n| bloom.may_contain(format!("330106-SCJG/ev-{n}").as_bytes()))
        );
        let false_maybe = (0..100_000u32)
            .filter(|n| bloom.may_contain(format!("330106-GA/other-{n}").as_bytes()))
            .count();
        assert!(
            false_maybe < 1_000,
            "{false_maybe} false positives in 100,000"
        );
    }
}
