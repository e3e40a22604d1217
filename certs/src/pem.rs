//! Reading certificates and CRLs from the files operators have: PEM (one or many blocks) or a
//! single DER object, told apart by their first bytes.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};

/// Why a file did not yield what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// PEM text that cannot be decoded.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// Neither PEM nor DER, or no object of the wanted kind in it.
    #[error("no {0} found (expected PEM blocks or one DER object)")]
    Nothing(&'static str),
}

/// Certificates from PEM text (every `CERTIFICATE` block) or one DER certificate.
pub fn certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    if is_der(bytes) {
        return Ok(vec![CertificateDer::from(bytes.to_vec())]);
    }
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Pem(e.to_string()))?;
    non_empty(certs, "certificate")
}

/// CRLs from PEM text (every `X509 CRL` block) or one DER CRL.
pub fn crls(bytes: &[u8]) -> Result<Vec<CertificateRevocationListDer<'static>>, PemError> {
    if is_der(bytes) {
        return Ok(vec![CertificateRevocationListDer::from(bytes.to_vec())]);
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Pem(e.to_string()))?;
    non_empty(crls, "CRL")
}

/// A DER SEQUENCE starts with 0x30; PEM text never does.
fn is_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
}

fn non_empty<T>(items: Vec<T>, what: &'static str) -> Result<Vec<T>, PemError> {
    if items.is_empty() {
        Err(PemError::Nothing(what))
    } else {
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_pem_and_nothing() {
        assert_eq!(certificates(&[0x30, 0x00]).unwrap().len(), 1);
        let pem = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            certificates(pem.as_bytes()).unwrap()[0].as_ref(),
            &[0x30, 0x00]
        );
        assert!(matches!(certificates(b"hello"), Err(PemError::Nothing(_))));
        assert!(matches!(crls(pem.as_bytes()), Err(PemError::Nothing(_))));
    }
}
