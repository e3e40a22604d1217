//! The session's ephemeral WireGuard key pair: made fresh for every `vigie up`, its public
//! half sent in the control channel after the hello, its secret kept for the tunnel.

use ring::rand::{SecureRandom as _, SystemRandom};
use vigie_protocol::WireGuardKey;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::error::UpError;

/// An X25519 key pair for one session. The secret is zeroized on drop and never printed.
pub struct TunnelKey {
    secret: StaticSecret,
}

impl TunnelKey {
    /// A fresh key pair from the system's random generator.
    pub fn generate() -> Result<Self, UpError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| UpError::Config("the system's random generator failed".into()))?;
        Ok(Self {
            secret: StaticSecret::from(*bytes),
        })
    }

    /// The public key, as the hello's companion message carries it.
    pub fn public(&self) -> WireGuardKey {
        WireGuardKey(PublicKey::from(&self.secret).to_bytes())
    }

    /// The secret, for the tunnel.
    pub fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

impl std::fmt::Debug for TunnelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_has_its_own_key_and_the_secret_never_prints() {
        let a = TunnelKey::generate().expect("key");
        let b = TunnelKey::generate().expect("key");
        assert_ne!(a.public(), b.public());
        assert_eq!(
            a.public().0,
            PublicKey::from(a.secret()).to_bytes(),
            "public half of the secret"
        );
        assert_eq!(format!("{a:?}"), "TunnelKey(..)");
    }
}
