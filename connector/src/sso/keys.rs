//! The issuer's signing keys: RSA-2048, RS256, rotated with overlap.
//!
//! Keys live in `<state>/sso-keys/`, one PKCS#8 DER file each (mode 0600), named
//! `<created>-<kid>.pk8` so the newest sorts last. The newest signs; the one before it stays
//! published in the JWKS for one more rotation period, so tokens signed just before a rotation
//! still verify at the apps. Older files are deleted. A new key is made when the newest is
//! older than the rotation period, at start or while the connector runs
//! ([`KeyRing::rotate_if_due`]).
//!
//! RS256 because every OpenID Connect relying party must accept it, and so does Dovecot's
//! local token validation.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::SsoError;

/// The folder of the keys in the state folder.
pub const KEY_DIR: &str = "sso-keys";

/// One signing key. `Debug` shows only its id.
pub struct SigningKey {
    kid: String,
    created: u64,
    pair: RsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_pkcs8(created: u64, der: &[u8]) -> Result<Self, String> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| format!("not an RSA key ({e})"))?;
        let kid = key_id(pair.public().as_ref());
        Ok(Self { kid, created, pair })
    }

    /// The key id (`kid`): the first 12 bytes of the SHA-256 of the public key, base64url.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> serde_json::Value {
        let public: signature::RsaPublicKeyComponents<Vec<u8>> = self.pair.public().into();
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(strip_zeros(&public.n)),
            "e": URL_SAFE_NO_PAD.encode(strip_zeros(&public.e)),
        })
    }

    /// The public key in SubjectPublicKeyInfo PEM, the form mail servers load.
    pub fn public_pem(&self) -> String {
        let spki = spki_der(self.pair.public().as_ref());
        let body = base64::engine::general_purpose::STANDARD.encode(spki);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, SsoError> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        let rng = SystemRandom::new();
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut signature)
            .map_err(|_| SsoError::Internal("RSA signing failed".into()))?;
        Ok(signature)
    }

    fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            self.pair.public().as_ref(),
        );
        public.verify(input, signature).is_ok()
    }
}

/// The signing key and the one before it.
#[derive(Debug)]
pub struct KeyRing {
    dir: PathBuf,
    rotation: Duration,
    /// Oldest first; the last one signs.
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// Reads the keys under `state_dir`, making a first key (or a new one, if the newest is
    /// due for rotation) at `now` (Unix seconds).
    pub fn load_or_create(
        state_dir: &Path,
        rotation: Duration,
        now: u64,
    ) -> Result<Self, SsoError> {
        let dir = state_dir.join(KEY_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| SsoError::file(&dir, e))?;
        let mut ring = Self {
            keys: read_keys(&dir)?,
            dir,
            rotation,
        };
        ring.rotate_if_due(now)?;
        Ok(ring)
    }

    /// Makes a new signing key if the current one is older than the rotation period, keeps
    /// the one before it, and deletes older ones. True when it rotated.
    pub fn rotate_if_due(&mut self, now: u64) -> Result<bool, SsoError> {
        let due = self
            .keys
            .last()
            .is_none_or(|k| now.saturating_sub(k.created) >= self.rotation.as_secs());
        if !due {
            return Ok(false);
        }
        let key = create_key(&self.dir, now)?;
        tracing::info!(kid = key.kid, "new SSO signing key");
        self.keys.push(key);
        while self.keys.len() > 2 {
            let old = self.keys.remove(0);
            let path = self.dir.join(file_name(old.created, &old.kid));
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(%error, path = %path.display(), "cannot delete an old SSO key");
            }
        }
        Ok(true)
    }

    /// The key that signs now.
    pub fn current(&self) -> Result<&SigningKey, SsoError> {
        self.keys
            .last()
            .ok_or_else(|| SsoError::Internal("no signing key".into()))
    }

    /// Every published key, newest first.
    pub fn published(&self) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().rev()
    }

    /// The JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.published().map(SigningKey::jwk).collect::<Vec<_>>() })
    }

    /// Signs `input` with the current key; its `kid` and the signature.
    pub fn sign(&self, input: &[u8]) -> Result<(&str, Vec<u8>), SsoError> {
        let key = self.current()?;
        Ok((key.kid(), key.sign(input)?))
    }

    /// Whether `kid` is one of the published keys.
    pub fn publishes(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    /// Whether `signature` over `input` is from the published key `kid`.
    pub fn verify(&self, kid: &str, input: &[u8], signature: &[u8]) -> bool {
        self.keys
            .iter()
            .any(|k| k.kid == kid && k.verify(input, signature))
    }
}

fn read_keys(dir: &Path) -> Result<Vec<SigningKey>, SsoError> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| SsoError::file(dir, e))? {
        let path = entry.map_err(|e| SsoError::file(dir, e))?.path();
        let Some(created) = created_of(&path) else {
            continue;
        };
        let der = Zeroizing::new(std::fs::read(&path).map_err(|e| SsoError::file(&path, e))?);
        let key = SigningKey::from_pkcs8(created, &der).map_err(|detail| SsoError::File {
            path: path.clone(),
            detail: format!("{detail}; remove it to make a new key"),
        })?;
        keys.push(key);
    }
    keys.sort_by_key(|k| k.created);
    Ok(keys)
}

/// The creation time in a key file's name, `None` for other files.
fn created_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?.strip_suffix(".pk8")?;
    name.split_once('-')?.0.parse().ok()
}

fn file_name(created: u64, kid: &str) -> String {
    format!("{created}-{kid}.pk8")
}

fn create_key(dir: &Path, now: u64) -> Result<SigningKey, SsoError> {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
        .map_err(|e| SsoError::Internal(format!("cannot make an RSA key: {e}")))?;
    let der = private
        .to_pkcs8_der()
        .map_err(|e| SsoError::Internal(format!("cannot encode the RSA key: {e}")))?;
    let key = SigningKey::from_pkcs8(now, der.as_bytes()).map_err(SsoError::Internal)?;
    let path = dir.join(file_name(now, &key.kid));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| SsoError::file(&path, e))?;
    file.write_all(der.as_bytes())
        .map_err(|e| SsoError::file(&path, e))?;
    Ok(key)
}

fn key_id(public_der: &[u8]) -> String {
    let digest = Sha256::digest(public_der);
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo with the rsaEncryption algorithm.
fn spki_der(rsa_public_key: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption, NULL }
    const ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(rsa_public_key);
    let mut body = ALGORITHM.to_vec();
    body.extend(der_tlv(0x03, &bit_string));
    der_tlv(0x30, &body)
}

fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn keys_rotate_with_one_overlap_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Duration::from_secs(30 * DAY);
        let mut ring = KeyRing::load_or_create(dir.path(), rotation, 1_000).unwrap();
        let first = ring.current().unwrap().kid().to_owned();
        assert!(!ring.rotate_if_due(1_000 + DAY).unwrap(), "not due yet");
        assert!(ring.rotate_if_due(1_000 + 30 * DAY).unwrap());
        let second = ring.current().unwrap().kid().to_owned();
        assert_ne!(first, second);
        let (kid, signature) = ring.sign(b"payload").unwrap();
        assert_eq!(kid, second);
        assert!(ring.verify(&second, b"payload", &signature));
        assert!(!ring.verify(&first, b"payload", &signature), "another key");
        assert!(!ring.verify(&second, b"other", &signature));
        assert_eq!(
            ring.published().count(),
            2,
            "the previous key stays published"
        );

        ring.rotate_if_due(1_000 + 60 * DAY).unwrap();
        let again = KeyRing::load_or_create(dir.path(), rotation, 1_000 + 61 * DAY).unwrap();
        let kids: Vec<&str> = again.published().map(SigningKey::kid).collect();
        assert_eq!(kids.len(), 2, "the oldest key was deleted: {kids:?}");
        assert_eq!(kids[1], second);
    }

    #[test]
    fn the_jwk_and_the_pem_carry_the_signing_key() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load_or_create(dir.path(), Duration::from_secs(DAY), 0).unwrap();
        let key = ring.current().unwrap();
        let jwk = key.jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "RSA-2048");
        let pem = key.public_pem();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let spki = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let (_, signature) = ring.sign(b"x").unwrap();
        let from_spki = rsa_public_from_spki(&spki);
        let public =
            signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, from_spki);
        assert!(public.verify(b"x", &signature).is_ok());
    }

    /// The RSAPublicKey inside a SubjectPublicKeyInfo this module wrote.
    fn rsa_public_from_spki(spki: &[u8]) -> &[u8] {
        let bit_string = spki.windows(2).position(|w| w == [0x03, 0x82]).unwrap();
        &spki[bit_string + 5..]
    }

    #[test]
    fn a_damaged_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join(KEY_DIR);
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::write(keys.join("5-abc.pk8"), b"garbage").unwrap();
        let error = KeyRing::load_or_create(dir.path(), Duration::from_secs(DAY), 10)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("5-abc.pk8") && error.contains("remove it"),
            "{error}"
        );
    }
}
