//! Byte layouts of store keys. Numbers are big-endian so that sled's byte order is numeric
//! order; variable-length prefixes (agency ids, division codes, subject keys) are followed by a
//! 0 byte, which none of them contains, so a prefix scan never runs into a longer neighbour.

/// `prefix`, 0, `n` big-endian.
pub(super) fn compound(prefix: &str, n: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 9);
    key.extend_from_slice(prefix.as_bytes());
    key.push(0);
    key.extend_from_slice(&n.to_be_bytes());
    key
}

/// `prefix`, 0: the start of every [`compound`] key with that prefix.
pub(super) fn scope(prefix: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 1);
    key.extend_from_slice(prefix.as_bytes());
    key.push(0);
    key
}

/// The number at the end of a [`compound`] key.
pub(super) fn suffix_u64(key: &[u8]) -> u64 {
    decode_u64(&key[key.len().saturating_sub(8)..])
}

/// A big-endian u64 from up to 8 bytes; missing bytes count as zero (never written so, but a
/// reader must not panic on a damaged record).
pub(super) fn decode_u64(raw: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = raw.len().min(8);
    buf[8 - n..].copy_from_slice(&raw[..n]);
    u64::from_be_bytes(buf)
}

/// Page tokens are the hex of the last key returned.
pub(super) fn token(key: &[u8]) -> String {
    hex::encode(key)
}

/// The key a page token stands for; `None` if the token is not ours.
pub(super) fn untoken(token: &str) -> Option<Vec<u8>> {
    hex::decode(token).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_keys_sort_numerically_within_a_prefix() {
        assert!(compound("330106-GA", 2) < compound("330106-GA", 256));
        assert!(compound("330106-GA", u64::MAX) < compound("330106-GAB", 0));
        assert!(compound("330106-GA", 7).starts_with(&scope("330106-GA")));
        assert!(!compound("330106-GAB", 7).starts_with(&scope("330106-GA")));
        assert_eq!(suffix_u64(&compound("x", 42)), 42);
    }

    #[test]
    fn tokens_round_trip() {
        let key = compound("3301", 9);
        assert_eq!(untoken(&token(&key)), Some(key));
        assert_eq!(untoken("not hex"), None);
    }
}
