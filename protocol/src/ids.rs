//! Fixed-size values that travel in messages: ids, keys, tokens, challenges, capabilities.

use core::fmt;

use zeroize::Zeroizing;

/// The connector's identifier for one session; stable across suspend and resume.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);

/// A WireGuard (Curve25519) public key. Public, so it prints.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WireGuardKey(pub [u8; 32]);

/// The random bytes of a card re-proof challenge, chosen by the connector.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Challenge(pub [u8; 32]);

/// A secret the connector hands out in a grant and the client presents in a later hello to
/// resume the same session. It proves nothing on its own: resumption still needs a fresh
/// card-signed mutual TLS handshake. Zeroized on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct ResumeToken(Zeroizing<[u8; 32]>);

impl ResumeToken {
    /// Wraps token bytes made by the connector's random generator.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes, for the connector's session store.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Compares in time independent of where the tokens differ.
impl PartialEq for ResumeToken {
    fn eq(&self, other: &Self) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }
}

impl Eq for ResumeToken {}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResumeToken(..)")
    }
}

/// What a client can do, as bits; bits this version does not know are kept as they came.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(pub u32);

impl Capabilities {
    /// The client can carry WireGuard packets inside the control connection.
    pub const DATAGRAMS: Self = Self(1);
    /// The client shows notices ("your session ends in 2 minutes").
    pub const NOTICES: Self = Self(1 << 1);
    /// The client can resume in place after the card comes back (suspend, re-proof, resume).
    pub const RESUME_IN_PLACE: Self = Self(1 << 2);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Capabilities {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities({:#x})", self.0)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// Prints the key in base64, the form WireGuard tools use.
impl fmt::Display for WireGuardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64(&self.0))
    }
}

impl fmt::Debug for WireGuardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WireGuardKey({self})")
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Challenge(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// Standard base64 with padding (RFC 4648), enough for printing keys.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_token_debug_prints_nothing_secret() {
        let token = ResumeToken::new([0xab; 32]);
        let printed = format!("{token:?}");
        assert_eq!(printed, "ResumeToken(..)");
        assert!(!printed.contains("ab"));
    }

    #[test]
    fn resume_tokens_compare_by_value() {
        assert_eq!(ResumeToken::new([1; 32]), ResumeToken::new([1; 32]));
        let mut other = [1; 32];
        other[31] = 2;
        assert_ne!(ResumeToken::new([1; 32]), ResumeToken::new(other));
    }

    #[test]
    fn wireguard_keys_print_as_base64() {
        assert_eq!(
            WireGuardKey([0; 32]).to_string(),
            format!("{}=", "A".repeat(43))
        );
        assert_eq!(base64(b"Vigie"), "VmlnaWU=");
        assert_eq!(base64(b"Vig"), "Vmln");
        assert_eq!(base64(b"Vi"), "Vmk=");
    }

    #[test]
    fn capabilities_keep_unknown_bits() {
        let caps = Capabilities::DATAGRAMS | Capabilities(1 << 31);
        assert!(caps.contains(Capabilities::DATAGRAMS));
        assert!(!caps.contains(Capabilities::NOTICES));
        assert_eq!(caps.0 >> 31, 1);
    }
}
