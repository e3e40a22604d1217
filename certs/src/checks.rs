//! The checks rustls-webpki leaves to us (key usage, key size) and the translation of its
//! errors into [`Refusal`]s.

use der::Decode;
use rsa::pkcs1::RsaPublicKey;
use rustls_pki_types::SignatureVerificationAlgorithm;
use webpki::ring as algs;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};

use crate::oids;
use crate::refusal::Refusal;

/// Signature algorithms accepted in a chain. RSA moduli under 2048 bits fail here.
pub(crate) static SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    algs::RSA_PKCS1_2048_8192_SHA256,
    algs::RSA_PKCS1_2048_8192_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA512,
    algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P384_SHA384,
];

/// The leaf must say it is for TLS client authentication; a missing EKU is not enough.
pub(crate) fn extended_key_usage(cert: &Certificate) -> Result<(), Refusal> {
    match cert.tbs_certificate.get::<ExtendedKeyUsage>() {
        Ok(Some((_, usages))) if usages.0.contains(&oids::CLIENT_AUTH) => Ok(()),
        Ok(_) => Err(Refusal::WrongEku),
        Err(e) => Err(Refusal::Malformed {
            detail: format!("extended key usage extension: {e}"),
        }),
    }
}

/// The card key must be allowed to sign (the TLS handshake's CertificateVerify).
pub(crate) fn key_usage(cert: &Certificate) -> Result<(), Refusal> {
    let needed = "digitalSignature";
    match cert.tbs_certificate.get::<KeyUsage>() {
        Ok(Some((_, usage))) if usage.digital_signature() => Ok(()),
        Ok(_) => Err(Refusal::WrongKeyUsage { needed }),
        Err(e) => Err(Refusal::Malformed {
            detail: format!("key usage extension: {e}"),
        }),
    }
}

/// The card key must be RSA with at least `minimum` bits.
pub(crate) fn key_size(cert: &Certificate, minimum: usize) -> Result<(), Refusal> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != oids::RSA_ENCRYPTION {
        return Err(Refusal::UnsupportedKey {
            detail: format!("algorithm {}", spki.algorithm.oid),
        });
    }
    let key = RsaPublicKey::from_der(spki.subject_public_key.raw_bytes()).map_err(|e| {
        Refusal::UnsupportedKey {
            detail: e.to_string(),
        }
    })?;
    let bits = modulus_bits(key.modulus.as_bytes());
    if bits < minimum {
        return Err(Refusal::KeyTooSmall { bits, minimum });
    }
    Ok(())
}

fn modulus_bits(bytes: &[u8]) -> usize {
    let significant = bytes
        .iter()
        .position(|b| *b != 0)
        .map_or(&[][..], |i| &bytes[i..]);
    match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Translates a path-validation error into the refusal a user or auditor can read.
pub(crate) fn map_webpki_error(error: webpki::Error, serial: &str, issuer: &str) -> Refusal {
    use webpki::Error as E;
    let detail = format!("{error:?}");
    match error {
        E::UnknownIssuer => Refusal::UnknownIssuer,
        E::CertExpired { not_after, .. } => Refusal::Expired {
            not_after: not_after.as_secs(),
        },
        E::CertNotValidYet { not_before, .. } => Refusal::NotYetValid {
            not_before: not_before.as_secs(),
        },
        E::CertRevoked => Refusal::Revoked {
            serial: serial.to_owned(),
            issuer: issuer.to_owned(),
        },
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => Refusal::WrongEku,
        E::UnknownRevocationStatus
        | E::CrlExpired { .. }
        | E::InvalidCrlSignatureForPublicKey
        | E::IssuerNotCrlSigner
        | E::InvalidCrlNumber
        | E::UnsupportedCrlIssuingDistributionPoint
        | E::UnsupportedIndirectCrl
        | E::UnsupportedCrlSignatureAlgorithmContext(_)
        | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => {
            Refusal::RevocationUnknown { detail }
        }
        E::InvalidSignatureForPublicKey
        | E::SignatureAlgorithmMismatch
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            Refusal::BadSignature { detail }
        }
        E::BadDer
        | E::BadDerTime
        | E::TrailingData(_)
        | E::ExtensionValueInvalid
        | E::MalformedExtensions
        | E::UnsupportedCertVersion
        | E::InvalidSerialNumber
        | E::InvalidCertValidity
        | E::UnsupportedCriticalExtension => Refusal::Malformed { detail },
        _ => Refusal::BadChain { detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_ignores_leading_zeros() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01, 0x00]), 9);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn webpki_errors_map_to_refusal_codes() {
        let code = |e| map_webpki_error(e, "01", "CN=CA").code();
        assert_eq!(code(webpki::Error::UnknownIssuer), "unknown_issuer");
        assert_eq!(code(webpki::Error::CertRevoked), "revoked");
        assert_eq!(code(webpki::Error::EmptyEkuExtension), "wrong_eku");
        assert_eq!(code(webpki::Error::PathLenConstraintViolated), "bad_chain");
        assert_eq!(code(webpki::Error::BadDer), "malformed_certificate");
        assert_eq!(
            code(webpki::Error::InvalidSignatureForPublicKey),
            "bad_signature"
        );
    }
}
