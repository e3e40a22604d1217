//! Card identity folders for tests, in the layout `vigie-pki init DIR` writes:
//!
//! ```text
//! DIR/cards/<name>/card.toml, auth.crt.der, auth.key.pk8.der, sign.crt.der,
//!                  sign.key.pk8.der, chain.pem
//! ```
//!
//! Made with the `openssl` command (keys RSA-2048, leaves issued by a throw-away CA named like
//! the IGC-Santé test CA). These are stand-ins, shaped only as far as the card emulator and
//! signature checks need: for certificate *validation* tests, use the `vigie-pki` generator.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::card::Generation;
use crate::cmd;
use crate::error::{LabError, Result};

/// The PIN written into every fixture card.
pub const PIN: &str = "1234";
/// The PUK written into every fixture card.
pub const PUK: &str = "12345678";

/// A temporary folder removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh folder under the system's temporary directory.
    pub fn new() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("{}-fixture", crate::names::unique_name()));
        std::fs::create_dir_all(&path).map_err(|e| LabError::file(&path, e))?;
        Ok(Self { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    cmd::run(Command::new("openssl").current_dir(dir).args(args)).map(drop)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| LabError::file(path, e))
}

/// Creates the CA of `root` (kept in `root/ca/`) unless it exists.
fn ensure_ca(root: &Path) -> Result<PathBuf> {
    let ca = root.join("ca");
    if ca.join("ca.key").exists() {
        return Ok(ca);
    }
    std::fs::create_dir_all(&ca).map_err(|e| LabError::file(&ca, e))?;
    let subject = "/C=FR/O=ASIP-SANTE/OU=IGC-SANTE TEST/CN=TEST AC IGC-SANTE ELEMENTAIRE PERSONNES";
    openssl(
        &ca,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    )?;
    Ok(ca)
}

fn issue_leaf(dir: &Path, ca: &Path, stem: &str, subject: &str, ext: &str) -> Result<()> {
    let ext_path = dir.join(format!("{stem}.ext"));
    write(&ext_path, ext)?;
    let (key, csr, pem) = (
        format!("{stem}.key.pem"),
        format!("{stem}.csr"),
        format!("{stem}.crt.pem"),
    );
    openssl(
        dir,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
            subject,
        ],
    )?;
    let ca_pem = ca.join("ca.pem").display().to_string();
    let ca_key = ca.join("ca.key").display().to_string();
    let ext_file = ext_path.display().to_string();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-set_serial",
            &format!(
                "0x{}",
                &crate::names::unique_name().replace(|c: char| !c.is_ascii_digit(), "")
            ),
            "-days",
            "1095",
            "-out",
            &pem,
            "-extfile",
            &ext_file,
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-in",
            &pem,
            "-outform",
            "DER",
            "-out",
            &format!("{stem}.crt.der"),
        ],
    )?;
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &key,
            "-outform",
            "DER",
            "-out",
            &format!("{stem}.key.pk8.der"),
        ],
    )?;
    for leftover in [key, csr, pem, format!("{stem}.ext")] {
        let _ = std::fs::remove_file(dir.join(leftover));
    }
    Ok(())
}

/// Writes `root/cards/<name>/` for a card of `generation` with PIN [`PIN`] and PUK [`PUK`].
///
/// `card_number` must be 10 digits. Returns the card's folder.
pub fn write_identity(
    root: &Path,
    name: &str,
    generation: Generation,
    card_number: &str,
) -> Result<PathBuf> {
    let ca = ensure_ca(root)?;
    let dir = root.join("cards").join(name);
    std::fs::create_dir_all(&dir).map_err(|e| LabError::file(&dir, e))?;
    let id_nat = format!("8997{card_number:0>8.8}");
    let generation_name = match generation {
        Generation::Cps3 => "cps3",
        Generation::Cps4 => "cps4",
    };
    let toml = format!(
        "generation = \"{generation_name}\"\npin = \"{PIN}\"\npuk = \"{PUK}\"\n\
         card_number = \"{card_number}\"\nholder = \"TESTEUR {name}\"\nid_nat = \"{id_nat}\"\n"
    );
    write(&dir.join("card.toml"), &toml)?;
    let subject = format!("/C=FR/title=Medecin/CN={id_nat}/SN=TESTEUR/GN=JEANNE");
    let auth_ext = format!(
        "keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=clientAuth,1.3.6.1.4.1.311.20.2.2\n\
         subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:8.{}@carte-cps.fr\n",
        &id_nat[1..]
    );
    issue_leaf(&dir, &ca, "auth", &subject, &auth_ext)?;
    issue_leaf(
        &dir,
        &ca,
        "sign",
        &subject,
        "keyUsage=critical,nonRepudiation\n",
    )?;
    let chain = ca.join("ca.pem");
    std::fs::copy(&chain, dir.join("chain.pem")).map_err(|e| LabError::file(&chain, e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::CardIdentity;

    #[test]
    fn written_identity_loads() {
        let root = TempDir::new().unwrap();
        let dir =
            write_identity(root.path(), "cps3-doctor", Generation::Cps3, "0123456789").unwrap();
        let identity = CardIdentity::load(&dir).unwrap();
        assert_eq!(identity.generation, Generation::Cps3);
        assert_eq!(identity.pin.expose(), PIN.as_bytes());
        assert_eq!(identity.auth_cert[0], 0x30);
        assert!(dir.join("chain.pem").exists());
    }
}
