//! Reading a card's authentication certificate from a file, for the enrolment desk.

use std::path::{Path, PathBuf};

use vigie_certs::{CardIdentity, IdentityError};

use crate::card::CardRef;

/// Why a certificate file cannot be used. The admin's to fix: another file, another export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertFileError {
    /// The file cannot be read.
    #[error("cannot read certificate file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file looks like PEM but is not a PEM certificate.
    #[error(
        "{path} is not a PEM certificate ({why}); give the card's authentication \
             certificate as DER or as PEM (-----BEGIN CERTIFICATE-----)"
    )]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The certificate is not a card certificate Vigie can read.
    #[error(
        "{path} is not a readable card certificate: {source}; export the card's \
             authentication certificate (not its signature certificate or a CA)"
    )]
    NotACardCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: IdentityError,
    },
}

/// The identity and card reference read from a certificate file (DER or PEM).
pub fn read_card_certificate(path: &Path) -> Result<(CardIdentity, CardRef), CertFileError> {
    let bytes = std::fs::read(path).map_err(|source| CertFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        pem_certificate(&bytes).map_err(|why| CertFileError::BadPem {
            path: path.to_owned(),
            why,
        })?
    } else {
        bytes
    };
    let identity =
        CardIdentity::from_der(&der).map_err(|source| CertFileError::NotACardCertificate {
            path: path.to_owned(),
            source,
        })?;
    let card = CardRef::new(&identity.card_serial, &identity.issuer);
    Ok((identity, card))
}

fn pem_certificate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not text".to_owned())?;
    let start = text.find("-----BEGIN").unwrap_or(0);
    let (label, der) =
        der::pem::decode_vec(text[start..].trim_end().as_bytes()).map_err(|e| e.to_string())?;
    if label != "CERTIFICATE" {
        return Err(format!("it holds a {label}, not a CERTIFICATE"));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_wrong_pem_labels_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.der");
        std::fs::write(&garbage, b"\x30\x03\x02\x01").unwrap();
        let error = read_card_certificate(&garbage).unwrap_err();
        assert!(
            matches!(error, CertFileError::NotACardCertificate { .. }),
            "{error}"
        );
        let key = dir.path().join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = read_card_certificate(&key).unwrap_err().to_string();
        assert!(error.contains("PRIVATE KEY"), "{error}");
        let missing = read_card_certificate(&dir.path().join("none")).unwrap_err();
        assert!(matches!(missing, CertFileError::Unreadable { .. }));
    }
}
