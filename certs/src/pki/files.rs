//! Writing a built world to its folder layout, and reading the pieces back.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use der::pem::LineEnding;
use der::{Encode, EncodePem};
use rsa::RsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;

use super::generate::{Built, BuiltCa};
use super::spec::{CaRole, Generation};
use super::{PkiError, WorldIndex};

/// `DIR/cards/<name>/card.toml`: what the card emulator needs besides the DER files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardToml {
    /// `cps3` or `cps4`.
    pub generation: Generation,
    /// The PIN ("code porteur"), 4 digits.
    pub pin: String,
    /// The unblock code, 8 digits.
    pub puk: String,
    /// The 10-digit card number that goes in EF.SN.ICC.
    pub card_number: String,
    /// The holder's display name.
    pub holder: String,
    /// The holder's idNat.
    pub id_nat: String,
}

const README: &str = include_str!("README.txt");

pub(crate) fn write_world(dir: &Path, built: &Built, index: &WorldIndex) -> Result<(), PkiError> {
    for ca in &built.cas {
        write_ca(dir, ca)?;
    }
    write_pem(&dir.join("unknown-ca/root.pem"), &[&built.unknown.cert])?;
    write_key_pem(&dir.join("unknown-ca/root.key.pem"), &built.unknown.key)?;
    let org = built
        .cas
        .iter()
        .find(|c| c.def.stem == "elementaire-organisations")
        .ok_or_else(|| PkiError::Internal("no server CA".into()))?;
    write_pem(&dir.join("connector/server.pem"), &[&built.server])?;
    write_pem(
        &dir.join("connector/server-chain.pem"),
        &[&built.server, &org.cert],
    )?;
    write_key_pem(&dir.join("connector/server.key.pem"), &built.server_key)?;
    write_pem(&dir.join("connector/server-ec.pem"), &[&built.server_ec])?;
    write_pem(
        &dir.join("connector/server-ec-chain.pem"),
        &[&built.server_ec, &org.cert],
    )?;
    let ec_pem = der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &built.server_ec_key)
        .map_err(|e| PkiError::Key(e.to_string()))?;
    write_secret(
        &dir.join("connector/server-ec.key.pem"),
        zeroize::Zeroizing::new(ec_pem).as_bytes(),
    )?;
    write_cards(dir, built)?;
    let text = toml::to_string(index).map_err(|e| PkiError::Internal(e.to_string()))?;
    write_file(&dir.join("README.txt"), README.as_bytes())?;
    // world.toml last: its presence marks a complete world.
    write_file(&dir.join("world.toml"), text.as_bytes())
}

fn write_ca(dir: &Path, ca: &BuiltCa) -> Result<(), PkiError> {
    let folder = match ca.def.role {
        CaRole::Root => "trust/roots",
        _ => "trust/intermediates",
    };
    write_pem(
        &dir.join(folder).join(format!("{}.pem", ca.def.stem)),
        &[&ca.cert],
    )?;
    write_key_pem(
        &dir.join(format!("ca-keys/{}.key.pem", ca.def.stem)),
        &ca.key,
    )?;
    if let Some(crl) = &ca.crl {
        write_file(
            &dir.join(format!("crl/{}.crl", ca.def.stem)),
            &crl.to_der()?,
        )?;
    }
    Ok(())
}

fn write_cards(dir: &Path, built: &Built) -> Result<(), PkiError> {
    for card in &built.cards {
        let folder = dir.join("cards").join(card.def.name);
        let toml = CardToml {
            generation: card.def.generation,
            pin: "1234".into(),
            puk: "12345678".into(),
            card_number: card.card_number.clone(),
            holder: format!("{} {}", card.def.given_name, card.def.surname),
            id_nat: card.def.id_nat.clone(),
        };
        let text = toml::to_string(&toml).map_err(|e| PkiError::Internal(e.to_string()))?;
        write_file(&folder.join("card.toml"), text.as_bytes())?;
        write_file(&folder.join("auth.crt.der"), &card.auth.to_der()?)?;
        write_key_der(&folder.join("auth.key.pk8.der"), &card.auth_key)?;
        write_file(&folder.join("sign.crt.der"), &card.sign.to_der()?)?;
        write_key_der(&folder.join("sign.key.pk8.der"), &card.sign_key)?;
        write_pem(&folder.join("chain.pem"), &[&card.issuer_cert])?;
    }
    Ok(())
}

fn write_pem(path: &Path, certs: &[&Certificate]) -> Result<(), PkiError> {
    let mut text = String::new();
    for cert in certs {
        text.push_str(&cert.to_pem(LineEnding::LF)?);
    }
    write_file(path, text.as_bytes())
}

fn write_key_pem(path: &Path, key: &RsaPrivateKey) -> Result<(), PkiError> {
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| PkiError::Key(e.to_string()))?;
    write_secret(path, pem.as_bytes())
}

fn write_key_der(path: &Path, key: &RsaPrivateKey) -> Result<(), PkiError> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| PkiError::Key(e.to_string()))?;
    write_secret(path, der.as_bytes())
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    create_parent(path)?;
    fs::write(path, bytes).map_err(|e| io_error(path, e))
}

/// Private keys are readable by their owner only.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    create_parent(path)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    file.write_all(bytes).map_err(|e| io_error(path, e))
}

fn create_parent(path: &Path) -> Result<(), PkiError> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| io_error(parent, e)),
        None => Ok(()),
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|e| io_error(path, e))
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Io {
        path: PathBuf::from(path),
        source,
    }
}
