//! The connector's WireGuard key: made on first start in the state folder
//! (`wireguard.key`, base64 like `wg genkey` writes it, mode 0600), read on every later start.
//! Grants carry its public half; the data plane uses the private half; the QUIC endpoint's
//! restart keys are derived from it ([`QuicRestartKeys`]).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::{hkdf, hmac};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::ServeError;

/// The key file's name in the state folder.
pub const KEY_FILE: &str = "wireguard.key";

/// The connector's static WireGuard key pair. `Debug` shows only the public key.
pub struct WireGuardKeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl std::fmt::Debug for WireGuardKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireGuardKeyPair")
            .field("public", &STANDARD.encode(self.public.as_bytes()))
            .finish_non_exhaustive()
    }
}

impl WireGuardKeyPair {
    /// Reads the key from `state_dir`, making it (and the folder) on first start.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, ServeError> {
        let path = state_dir.join(KEY_FILE);
        let secret = match std::fs::read(&path) {
            Ok(text) => parse(&Zeroizing::new(text)).map_err(|detail| ServeError::File {
                path: path.clone(),
                detail,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(state_dir, &path)?,
            Err(e) => return Err(file_error(&path, e)),
        };
        let public = PublicKey::from(&secret);
        Ok(Self { secret, public })
    }

    /// The public key, as grants carry it.
    pub fn public(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// The private key, for the data plane.
    pub fn secret(&self) -> &StaticSecret {
        &self.secret
    }

    /// What the QUIC endpoint keeps over a restart, derived from the private key: the same
    /// on every start with the same key file.
    pub fn quic_restart_keys(&self) -> QuicRestartKeys {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, QUIC_SALT);
        let prk = salt.extract(self.secret.as_bytes());
        let reset = prk
            .expand(&[b"stateless reset"], hmac::HMAC_SHA256)
            .expect("an HMAC-SHA256 key is within HKDF's length limit");
        let mut ids = [0u8; 8];
        prk.expand(&[b"connection ids"], Length(ids.len()))
            .and_then(|okm| okm.fill(&mut ids))
            .expect("8 bytes are within HKDF's length limit");
        QuicRestartKeys {
            reset: hmac::Key::from(reset),
            connection_ids: u64::from_be_bytes(ids),
        }
    }
}

/// The keys a connector started again after a crash needs to tell the QUIC clients of the
/// one before that their connection is gone (RFC 9000, section 10.3), so that they reconnect
/// at once instead of waiting out their idle timeout: the key its stateless resets are
/// signed with, and the key its connection ids are checked with (an id it did not issue gets
/// no reset). Whoever holds them can end the connector's QUIC connections: they never leave
/// the process. `Debug` shows neither.
pub struct QuicRestartKeys {
    pub reset: hmac::Key,
    pub connection_ids: u64,
}

impl std::fmt::Debug for QuicRestartKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicRestartKeys").finish_non_exhaustive()
    }
}

/// HKDF's salt for the QUIC keys: nothing else is derived from the WireGuard key this way.
const QUIC_SALT: &[u8] = b"vigie connector quic restart v1";

/// An HKDF output length.
struct Length(usize);

impl hkdf::KeyType for Length {
    fn len(&self) -> usize {
        self.0
    }
}

fn parse(text: &[u8]) -> Result<StaticSecret, String> {
    let decoded = Zeroizing::new(
        STANDARD
            .decode(text.trim_ascii())
            .map_err(|_| "not a base64 WireGuard key; remove it to make a new one".to_owned())?,
    );
    let bytes: [u8; 32] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| "not a 32-byte WireGuard key; remove it to make a new one".to_owned())?;
    Ok(StaticSecret::from(bytes))
}

fn create(state_dir: &Path, path: &PathBuf) -> Result<StaticSecret, ServeError> {
    std::fs::create_dir_all(state_dir).map_err(|e| file_error(state_dir, e))?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| ServeError::Config("the system random source failed".into()))?;
    let secret = StaticSecret::from(*bytes);
    let text = Zeroizing::new(format!("{}\n", STANDARD.encode(secret.as_bytes())));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, e))?;
    tracing::info!(path = %path.display(), "made the connector's WireGuard key");
    Ok(secret)
}

fn file_error(path: &Path, error: std::io::Error) -> ServeError {
    ServeError::File {
        path: path.to_owned(),
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = WireGuardKeyPair::load_or_create(&dir.path().join("state")).unwrap();
        let again = WireGuardKeyPair::load_or_create(&dir.path().join("state")).unwrap();
        assert_eq!(first.public(), again.public());
        let mode = std::fs::metadata(dir.path().join("state").join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{first:?}").contains(&STANDARD.encode(first.secret().as_bytes())));
    }

    #[test]
    fn the_quic_keys_survive_a_restart_and_are_not_the_wireguard_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = WireGuardKeyPair::load_or_create(dir.path()).unwrap();
        let again = WireGuardKeyPair::load_or_create(dir.path()).unwrap();
        let other = WireGuardKeyPair::load_or_create(&dir.path().join("other")).unwrap();
        let tag = |keys: &WireGuardKeyPair| {
            let reset = keys.quic_restart_keys().reset;
            hmac::sign(&reset, b"a connection id").as_ref().to_vec()
        };
        let ids = |keys: &WireGuardKeyPair| keys.quic_restart_keys().connection_ids;
        assert_eq!(tag(&first), tag(&again));
        assert_eq!(ids(&first), ids(&again));
        assert_ne!(tag(&first), tag(&other));
        assert_ne!(ids(&first), ids(&other));
        let raw = hmac::Key::new(hmac::HMAC_SHA256, first.secret().as_bytes());
        assert_ne!(tag(&first), hmac::sign(&raw, b"a connection id").as_ref());
        assert!(!format!("{:?}", first.quic_restart_keys()).contains(&ids(&first).to_string()));
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let error = WireGuardKeyPair::load_or_create(dir.path()).unwrap_err();
        assert!(error.to_string().contains("base64"), "{error}");
    }
}
