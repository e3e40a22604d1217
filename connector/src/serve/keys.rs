//! The connector's WireGuard key: made on first start in the state folder
//! (`wireguard.key`, base64 like `wg genkey` writes it, mode 0600), read on every later start.
//! Grants carry its public half; the data plane will use the private half.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom as _, SystemRandom};
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
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let error = WireGuardKeyPair::load_or_create(dir.path()).unwrap_err();
        assert!(error.to_string().contains("base64"), "{error}");
    }
}
