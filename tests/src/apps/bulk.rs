//! Large payloads for transfer tests: bytes no pattern-blind mistake leaves unchanged, and
//! their SHA-256 written as the lab web app answers an upload with it.

use sha2::{Digest as _, Sha256};

/// `len` pseudo-random bytes (xorshift from a fixed seed: the same on every run).
pub fn bulk_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_are_the_same_each_time_and_not_a_short_cycle() {
        let bytes = bulk_bytes(1 << 16);
        assert_eq!(bytes, bulk_bytes(1 << 16));
        assert_ne!(bytes[..4096], bytes[4096..8192]);
        assert_eq!(sha256_hex(b"abc").len(), 64);
        assert!(sha256_hex(b"abc").starts_with("ba7816bf"));
    }
}
