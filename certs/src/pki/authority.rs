//! A CA of a generated world with its key, for tests that issue their own certificates or
//! re-sign CRLs.

use der::Encode;
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::Certificate;

use super::{PkiError, x509};

/// A CA certificate with its key.
pub struct Authority {
    pub(super) cert: Certificate,
    pub(super) key: RsaPrivateKey,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("subject", &self.cert.tbs_certificate.subject.to_string())
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// Issues a certificate (DER) for `subject_key` as `spec` says.
    pub fn issue(
        &self,
        spec: &x509::CertSpec,
        subject_key: &RsaPublicKey,
    ) -> Result<Vec<u8>, PkiError> {
        let issuer = x509::Issuer {
            cert: &self.cert,
            key: &self.key,
        };
        Ok(x509::issue(spec, subject_key, &issuer)?.to_der()?)
    }

    /// Signs a CRL (DER) listing `revoked` (serial bytes, revocation time).
    pub fn crl(
        &self,
        number: u64,
        this_update: u64,
        next_update: u64,
        revoked: &[(Vec<u8>, u64)],
    ) -> Result<Vec<u8>, PkiError> {
        let issuer = x509::Issuer {
            cert: &self.cert,
            key: &self.key,
        };
        Ok(x509::crl(&issuer, number, this_update, next_update, revoked)?.to_der()?)
    }
}
