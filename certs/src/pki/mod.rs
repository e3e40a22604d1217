//! The test PKI: a world of IGC-Santé-shaped CAs, card identities and a connector certificate,
//! made deterministically from a seed and a generation time. Used by `vigie-pki init`, by this
//! crate's tests and by the lab's end-to-end tests ([`World::shared`]).
//!
//! This is not a CA for real use: keys are written in clear and derived from a small seed.
//!
//! # Folder layout
//!
//! ```text
//! DIR/world.toml                      index: CAs, and every card with name, idNat, kind,
//!                                     generation, expected verdict
//! DIR/trust/roots/*.pem               TEST AC RACINE IGC-SANTE {ELEMENTAIRE,STANDARD,FORT}
//!                                     (racine-elementaire.pem, racine-standard.pem, racine-fort.pem)
//! DIR/trust/intermediates/*.pem       TEST AC IGC-SANTE {ELEMENTAIRE,STANDARD,FORT} PERSONNES
//!                                     (+ ELEMENTAIRE ORGANISATIONS, which signs server certs)
//! DIR/crl/*.crl                       one CRL (DER) per PERSONNES CA; cps3-revoked is in
//!                                     elementaire-personnes.crl
//! DIR/ca-keys/*.key.pem               CA private keys, PKCS#8 PEM
//! DIR/connector/server.pem, server.key.pem, server-chain.pem
//!                                     connector TLS certificate (DNS connector.vigie.test and
//!                                     sso.vigie.test, IP 198.18.0.2 and 127.0.0.1); chain =
//!                                     leaf + CA; an RSA-2048 key
//! DIR/connector/server-ec.pem, server-ec.key.pem, server-ec-chain.pem
//!                                     the same names with an ECDSA P-256 key (its signature
//!                                     in each handshake costs far less than RSA's)
//! DIR/unknown-ca/root.pem             an unrelated root that signed the unknown-CA card
//! DIR/cards/<name>/card.toml          generation, pin, puk, card_number, holder, id_nat
//! DIR/cards/<name>/auth.crt.der       authentication certificate (DER)
//! DIR/cards/<name>/auth.key.pk8.der   its RSA-2048 private key, PKCS#8 DER
//! DIR/cards/<name>/sign.crt.der       signature (non-repudiation) certificate (DER)
//! DIR/cards/<name>/sign.key.pk8.der   its private key, PKCS#8 DER
//! DIR/cards/<name>/chain.pem          the auth certificate's issuing CA (PEM)
//! ```
//!
//! Cards: `cps4-doctor` and `cps3-doctor` (one person), `cps4-nurse`, `cps3-pharmacist`,
//! `cps4-staff`, `cps4-expired`, `cps3-revoked`, `cps4-unknown-ca`.

mod authority;
mod bulk;
mod ec;
mod files;
mod generate;
mod index;
mod keys;
mod spec;
pub mod x509;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use der::DecodePem;
use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use x509_cert::Certificate;

pub use authority::Authority;
pub use bulk::{BulkCard, BulkCards};
pub use files::CardToml;
pub use generate::{CONNECTOR_DNS, CONNECTOR_IP, SSO_DNS};
pub use index::{CaEntry, CardEntry, WorldIndex};
pub use spec::{CaRole, Expected, Generation};

use crate::verifier::TrustConfig;

/// Bumped whenever the generator's output changes, so shared worlds cached by an older build
/// are not reused.
const OUTPUT_VERSION: u32 = 5;

/// Why a world could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// An encoding step failed.
    #[error("DER encoding failed: {0}")]
    Der(#[from] der::Error),
    /// RSA key generation or signing failed.
    #[error("RSA: {0}")]
    Rsa(#[from] rsa::Error),
    /// A key file could not be encoded or read.
    #[error("private key: {0}")]
    Key(String),
    /// `world.toml` or `card.toml` is not what this version writes.
    #[error("{path}: {detail}; regenerate the world with `vigie-pki init`")]
    Index {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// No card of that name in the world.
    #[error("the world has no card named {0:?}")]
    UnknownCard(String),
    /// No CA of that file stem in the world.
    #[error("the world has no CA named {0:?}")]
    UnknownCa(String),
    /// A bug in the generator.
    #[error("internal error in the test PKI: {0}")]
    Internal(String),
}

/// A generated world on disk.
#[derive(Clone, Debug)]
pub struct World {
    dir: PathBuf,
    index: WorldIndex,
}

impl World {
    /// Makes a complete world in `dir` from `seed`, with `now` as generation time. Takes a few
    /// seconds (seven RSA-4096 CA keys).
    pub fn generate(dir: &Path, seed: u64, now: UnixTime) -> Result<Self, PkiError> {
        let now = now.as_secs();
        let built = generate::build(seed, now)?;
        let index = index::index_of(seed, now, &built)?;
        files::write_world(dir, &built, &index)?;
        Ok(Self {
            dir: dir.to_owned(),
            index,
        })
    }

    /// Opens a world written earlier.
    pub fn open(dir: &Path) -> Result<Self, PkiError> {
        let path = dir.join("world.toml");
        let text = String::from_utf8(files::read(&path)?).map_err(|e| PkiError::Index {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let index = toml::from_str(&text).map_err(|e| PkiError::Index {
            path,
            detail: e.to_string(),
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            index,
        })
    }

    /// A world shared by every test of the machine: made once per seed and day under the
    /// system temporary folder, then reused, so suites do not pay for RSA-4096 keys per test.
    /// The generation time is `now` rounded down to midnight UTC.
    pub fn shared(seed: u64, now: UnixTime) -> Result<Self, PkiError> {
        static GENERATING: Mutex<()> = Mutex::new(());
        let day = now.as_secs() / 86_400 * 86_400;
        let dir = std::env::temp_dir().join(format!("vigie-pki-v{OUTPUT_VERSION}-{seed}-{day}"));
        let _guard = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
        if dir.join("world.toml").is_file() {
            return Self::open(&dir);
        }
        let staging = dir.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        Self::generate(
            &staging,
            seed,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(day)),
        )?;
        if std::fs::rename(&staging, &dir).is_err() {
            // Another process finished first; its world is the same one.
            let _ = std::fs::remove_dir_all(&staging);
        }
        Self::open(&dir)
    }

    /// The world's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The contents of `world.toml`.
    pub fn index(&self) -> &WorldIndex {
        &self.index
    }

    /// The generation time as [`UnixTime`].
    pub fn generated_at(&self) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.index.generated_at))
    }

    /// A verifier configuration trusting the three test roots, with the four intermediates and
    /// the three PERSONNES CRLs loaded.
    pub fn trust_config(&self) -> Result<TrustConfig, PkiError> {
        let mut roots = Vec::new();
        let mut intermediates = Vec::new();
        let mut crls = Vec::new();
        for ca in &self.index.cas {
            let pem = files::read(&self.dir.join(&ca.certificate))?;
            let der = pem_certificates(&pem, &ca.certificate)?;
            match ca.role {
                CaRole::Root => roots.extend(der),
                CaRole::Intermediate => intermediates.extend(der),
                CaRole::Untrusted => {}
            }
            if let Some(crl) = &ca.crl {
                crls.push(CertificateRevocationListDer::from(files::read(
                    &self.dir.join(crl),
                )?));
            }
        }
        let mut config = TrustConfig::new(roots, intermediates);
        config.crls = crls;
        Ok(config)
    }

    /// The folder of card `name`.
    pub fn card_dir(&self, name: &str) -> Result<PathBuf, PkiError> {
        self.card_entry(name)?;
        Ok(self.dir.join("cards").join(name))
    }

    /// The index entry of card `name`.
    pub fn card_entry(&self, name: &str) -> Result<&CardEntry, PkiError> {
        self.index
            .cards
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| PkiError::UnknownCard(name.to_owned()))
    }

    /// Card `name`'s authentication certificate.
    pub fn card_auth(&self, name: &str) -> Result<CertificateDer<'static>, PkiError> {
        Ok(CertificateDer::from(files::read(
            &self.card_dir(name)?.join("auth.crt.der"),
        )?))
    }

    /// Card `name`'s `card.toml`.
    pub fn card_toml(&self, name: &str) -> Result<CardToml, PkiError> {
        let path = self.card_dir(name)?.join("card.toml");
        let text = String::from_utf8_lossy(&files::read(&path)?).into_owned();
        toml::from_str(&text).map_err(|e| PkiError::Index {
            path,
            detail: e.to_string(),
        })
    }

    /// A CA of the world (by file stem, e.g. `elementaire-personnes`) with its key, to issue
    /// more certificates or CRLs in tests.
    pub fn authority(&self, stem: &str) -> Result<Authority, PkiError> {
        let entry = self
            .index
            .cas
            .iter()
            .find(|c| c.stem == stem)
            .ok_or_else(|| PkiError::UnknownCa(stem.to_owned()))?;
        let cert_pem = files::read(&self.dir.join(&entry.certificate))?;
        let cert = Certificate::from_pem(&cert_pem)?;
        let key_pem =
            String::from_utf8_lossy(&files::read(&self.dir.join(&entry.key))?).into_owned();
        let key =
            RsaPrivateKey::from_pkcs8_pem(&key_pem).map_err(|e| PkiError::Key(e.to_string()))?;
        Ok(Authority { cert, key })
    }
}

/// A deterministic RSA key for tests that issue their own certificates.
pub fn test_key(seed: u64, label: &str, bits: usize) -> Result<RsaPrivateKey, PkiError> {
    Ok(keys::rsa_key(seed, label, bits)?)
}

fn pem_certificates(pem: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Index {
            path: PathBuf::from(name),
            detail: e.to_string(),
        })
}
