//! A card identity folder, as `vigie-pki init DIR` writes it under `DIR/cards/<name>/`:
//! `card.toml`, the authentication and signature certificates (DER) and their RSA keys
//! (PKCS#8 DER), and the issuing chain (PEM, not used by the card).

use std::fmt;
use std::path::{Path, PathBuf};

use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{LabError, Result};

/// The card generation, which selects the emulator's personality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    /// IAS-ECC card, T=0, PKCS#1 v1.5 by the card, no PSS.
    Cps3,
    /// NXP ChipDoc applet on logical channel 1, raw RSA and PSS.
    Cps4,
}

/// A secret code (PIN or PUK): zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a code.
    pub fn new(code: impl Into<String>) -> Self {
        Self(Zeroizing::new(code.into()))
    }

    /// The code's bytes, as sent in VERIFY (ASCII digits).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `card.toml`. Keys this version does not know are ignored: the file is written by
/// `vigie-pki`, which may record more than the card needs.
#[derive(Deserialize)]
struct CardToml {
    generation: Generation,
    pin: String,
    puk: String,
    card_number: String,
    holder: String,
    id_nat: String,
}

/// Everything the emulator needs from an identity folder. `Debug` leaves out the keys.
#[derive(Clone)]
pub struct CardIdentity {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// CPS3 or CPS4.
    pub generation: Generation,
    /// The PIN the card was personalised with.
    pub pin: Secret,
    /// The unblock code.
    pub puk: Secret,
    /// The 10-digit card number (EF.SN.ICC).
    pub card_number: String,
    /// The holder's name, for logs.
    pub holder: String,
    /// The holder's national identifier.
    pub id_nat: String,
    /// The authentication certificate (DER).
    pub auth_cert: Vec<u8>,
    /// Its private key.
    pub auth_key: RsaPrivateKey,
    /// The signature certificate (DER).
    pub sign_cert: Vec<u8>,
    /// Its private key.
    pub sign_key: RsaPrivateKey,
}

impl fmt::Debug for CardIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardIdentity")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .field("card_number", &self.card_number)
            .field("id_nat", &self.id_nat)
            .finish_non_exhaustive()
    }
}

impl CardIdentity {
    /// Reads `dir/card.toml` and the certificate and key files beside it.
    pub fn load(dir: &Path) -> Result<Self> {
        let toml_path = dir.join("card.toml");
        let text =
            std::fs::read_to_string(&toml_path).map_err(|e| bad(&toml_path, e.to_string()))?;
        let card: CardToml = toml::from_str(&text).map_err(|e| bad(&toml_path, e.to_string()))?;
        check_digits(&toml_path, "pin", &card.pin, 4..=8)?;
        check_digits(&toml_path, "puk", &card.puk, 8..=8)?;
        check_digits(&toml_path, "card_number", &card.card_number, 10..=10)?;
        Ok(Self {
            dir: dir.to_owned(),
            generation: card.generation,
            pin: Secret::new(card.pin),
            puk: Secret::new(card.puk),
            card_number: card.card_number,
            holder: card.holder,
            id_nat: card.id_nat,
            auth_cert: read(dir, "auth.crt.der")?,
            auth_key: read_key(dir, "auth.key.pk8.der")?,
            sign_cert: read(dir, "sign.crt.der")?,
            sign_key: read_key(dir, "sign.key.pk8.der")?,
        })
    }
}

fn bad(path: &Path, reason: String) -> LabError {
    LabError::Identity {
        path: path.to_owned(),
        reason,
    }
}

fn check_digits(
    path: &Path,
    key: &str,
    value: &str,
    lens: std::ops::RangeInclusive<usize>,
) -> Result<()> {
    if value.bytes().all(|b| b.is_ascii_digit()) && lens.contains(&value.len()) {
        return Ok(());
    }
    Err(bad(
        path,
        format!("`{key}` must be {} to {} digits", lens.start(), lens.end()),
    ))
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| LabError::file(&path, e))
}

fn read_key(dir: &Path, name: &str) -> Result<RsaPrivateKey> {
    let der = Zeroizing::new(read(dir, name)?);
    RsaPrivateKey::from_pkcs8_der(&der)
        .map_err(|e| bad(&dir.join(name), format!("not an RSA PKCS#8 key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("1234")), "Secret(..)");
    }

    #[test]
    fn identity_debug_leaves_out_keys_and_codes() {
        let root = crate::fixtures::TempDir::new().unwrap();
        let dir = crate::fixtures::write_identity(
            root.path(),
            "cps4-doctor",
            Generation::Cps4,
            "0000000042",
        )
        .unwrap();
        let identity = CardIdentity::load(&dir).unwrap();
        let text = format!("{identity:?}");
        assert!(
            text.contains("0000000042") && !text.contains("primes") && !text.contains("1234"),
            "{text}"
        );
    }

    #[test]
    fn missing_folder_names_the_file() {
        let err = CardIdentity::load(Path::new("/nonexistent/cards/cps3-doctor")).unwrap_err();
        assert!(err.to_string().contains("card.toml"), "{err}");
    }

    #[test]
    fn bad_toml_is_explained() {
        let dir = std::env::temp_dir().join(crate::names::unique_name());
        std::fs::create_dir_all(&dir).unwrap();
        let body = "generation = \"cps5\"\npin = \"1234\"\npuk = \"12345678\"\n\
                    card_number = \"0123456789\"\nholder = \"X\"\nid_nat = \"8\"\n";
        std::fs::write(dir.join("card.toml"), body).unwrap();
        let err = CardIdentity::load(&dir).unwrap_err().to_string();
        assert!(err.contains("cps5"), "{err}");
        std::fs::write(
            dir.join("card.toml"),
            body.replace("cps5", "cps3").replace("1234\"", "12a4\""),
        )
        .unwrap();
        let err = CardIdentity::load(&dir).unwrap_err().to_string();
        assert!(err.contains("`pin` must be 4 to 8 digits"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
