//! The card's private-key operations, in the three shapes the CPS cards offer.
//!
//! - [`sign_digest_info`]: the card pads (EMSA-PKCS1-v1_5, type 01) then signs; CPS3
//!   INTERNAL AUTHENTICATE and PSO:CDS with a PKCS#1 algorithm.
//! - [`raw_private`]: textbook RSA on a block the host already padded; CPS4 PSO:DECIPHER.
//! - [`sign_pss_sha256`]: RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (the length
//!   TLS 1.3 requires; the CPS4's real salt length is not public); CPS4 PSO:CDS algo `2C`.
//!
//! Errors are status words: the caller answers them as they are.

use rand::rngs::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey, hazmat};
use sha2::{Digest, Sha256};

use super::apdu::Sw;

/// The PSS salt length used by the emulated CPS4.
pub const PSS_SALT_LEN: usize = 32;

/// The largest DigestInfo a CPS3 accepts: 40 % of the modulus (102 bytes for RSA-2048).
pub fn max_digest_info_len(key: &RsaPrivateKey) -> usize {
    key.size() * 2 / 5
}

/// PKCS#1 v1.5 signature of an already-encoded DigestInfo (the card does the padding).
pub fn sign_digest_info(key: &RsaPrivateKey, digest_info: &[u8]) -> Result<Vec<u8>, Sw> {
    if digest_info.is_empty() || digest_info.len() > max_digest_info_len(key) {
        return Err(Sw::WRONG_LENGTH);
    }
    key.sign(Pkcs1v15Sign::new_unprefixed(), digest_info)
        .map_err(|_| Sw::WRONG_DATA)
}

/// PKCS#1 v1.5 signature of a SHA-256 hash: the card builds the DigestInfo and pads.
pub fn sign_sha256_pkcs1(key: &RsaPrivateKey, hash: &[u8]) -> Result<Vec<u8>, Sw> {
    if hash.len() != 32 {
        return Err(Sw::WRONG_LENGTH);
    }
    key.sign(Pkcs1v15Sign::new::<Sha256>(), hash)
        .map_err(|_| Sw::WRONG_DATA)
}

/// RSA-PSS (SHA-256, salt 32) over a SHA-256 hash computed by the host.
pub fn sign_pss_sha256(key: &RsaPrivateKey, hash: &[u8]) -> Result<Vec<u8>, Sw> {
    if hash.len() != Sha256::output_size() {
        return Err(Sw::WRONG_LENGTH);
    }
    key.sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha256>(PSS_SALT_LEN), hash)
        .map_err(|_| Sw::WRONG_DATA)
}

/// Raw RSA with the private key on a block exactly as long as the modulus.
///
/// A block that is not smaller than the modulus is refused with `6A80`.
pub fn raw_private(key: &RsaPrivateKey, block: &[u8]) -> Result<Vec<u8>, Sw> {
    if block.len() != key.size() {
        return Err(Sw::WRONG_LENGTH);
    }
    let input = BigUint::from_bytes_be(block);
    let output =
        hazmat::rsa_decrypt_and_check(key, Some(&mut OsRng), &input).map_err(|_| Sw::WRONG_DATA)?;
    let bytes = output.to_bytes_be();
    let mut out = vec![0; key.size() - bytes.len()];
    out.extend_from_slice(&bytes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPublicKey;

    fn key() -> RsaPrivateKey {
        RsaPrivateKey::new(&mut OsRng, 1024).unwrap()
    }

    fn digest_info(hash: &[u8]) -> Vec<u8> {
        let mut info = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        info.extend_from_slice(hash);
        info
    }

    #[test]
    fn card_padded_signature_verifies_as_pkcs1_sha256() {
        let key = key();
        let hash = Sha256::digest(b"tls transcript");
        let signature = sign_digest_info(&key, &digest_info(&hash)).unwrap();
        let public = RsaPublicKey::from(&key);
        public
            .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
            .unwrap();
        assert_eq!(sign_sha256_pkcs1(&key, &hash).unwrap(), signature);
    }

    #[test]
    fn raw_rsa_on_a_host_padded_block_is_a_pkcs1_signature() {
        let key = key();
        let hash = Sha256::digest(b"handshake");
        let info = digest_info(&hash);
        let mut block = vec![0x00, 0x01];
        block.resize(key.size() - info.len() - 1, 0xFF);
        block.push(0x00);
        block.extend_from_slice(&info);
        let signature = raw_private(&key, &block).unwrap();
        RsaPublicKey::from(&key)
            .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
            .unwrap();
    }

    #[test]
    fn pss_verifies_with_salt_32() {
        let key = key();
        let hash = Sha256::digest(b"tls 1.3");
        let signature = sign_pss_sha256(&key, &hash).unwrap();
        RsaPublicKey::from(&key)
            .verify(
                Pss::new_with_salt::<Sha256>(PSS_SALT_LEN),
                &hash,
                &signature,
            )
            .unwrap();
    }

    #[test]
    fn bad_lengths_are_status_words() {
        let key = key();
        assert_eq!(sign_digest_info(&key, &[0; 52]), Err(Sw::WRONG_LENGTH));
        assert_eq!(sign_pss_sha256(&key, &[0; 20]), Err(Sw::WRONG_LENGTH));
        assert_eq!(raw_private(&key, &[0; 10]), Err(Sw::WRONG_LENGTH));
        assert_eq!(raw_private(&key, &[0xFF; 128]), Err(Sw::WRONG_DATA));
    }
}
