//! Checking a card's re-proof: its signature over the protocol's signing input, with the
//! public key of the certificate it used in the handshake.

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use vigie_protocol::SignatureScheme;
use webpki::EndEntityCert;

/// Whether `signature` is the card's, by `scheme`, over `signing_input`. Unknown schemes
/// and unreadable certificates are a no.
pub fn verify(
    certificate: &CertificateDer<'_>,
    scheme: SignatureScheme,
    signing_input: &[u8],
    signature: &[u8],
) -> bool {
    let algorithm: &dyn SignatureVerificationAlgorithm = match scheme {
        SignatureScheme::RSA_PKCS1_SHA256 => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RSA_PSS_SHA256 => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        _ => return false,
    };
    let Ok(card) = EndEntityCert::try_from(certificate) else {
        return false;
    };
    card.verify_signature(algorithm, signing_input, signature)
        .is_ok()
}

/// 32 fresh random bytes for a challenge; `None` if the system's random source fails.
pub fn challenge(rng: &ring::rand::SystemRandom) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(rng, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_and_garbage_certificates_fail() {
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(!verify(
            &garbage,
            SignatureScheme::RSA_PKCS1_SHA256,
            b"x",
            b"y"
        ));
        assert!(!verify(&garbage, SignatureScheme(99), b"x", b"y"));
        let rng = ring::rand::SystemRandom::new();
        assert_ne!(challenge(&rng), challenge(&rng));
    }
}
