//! The signature flows of both generations, with the authentication key.
//!
//! - CPS3 (IAS-ECC): `MSE SET` (algorithm `02` = PKCS#1 v1.5, key `82`), then `INTERNAL
//!   AUTHENTICATE` over a DigestInfo; the card pads. No PSS.
//! - CPS4 (ChipDoc, channel 1), PKCS#1 v1.5: the host builds the whole type-01 block and the
//!   card applies its raw private-key operation through `PSO:DECIPHER` (key `20`).
//! - CPS4, RSA-PSS with SHA-256: `MSE SET` for `PSO:CDS` (algorithm `2C`), then `PSO:CDS`
//!   over the 32-byte hash; the card pads (salt of 32 bytes).

use sha2::{Digest, Sha256};

use crate::apdu::Command;
use crate::atr::Generation;
use crate::error::CardError;

/// The signature schemes a CPS card can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CardScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (TLS `rsa_pkcs1_sha256`).
    Pkcs1Sha256,
    /// RSASSA-PSS with SHA-256, salt 32 (TLS `rsa_pss_rsae_sha256`).
    PssSha256,
}

/// DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The schemes `generation` can make, preferred first.
pub fn schemes(generation: Generation) -> &'static [CardScheme] {
    match generation {
        Generation::Cps3 => &[CardScheme::Pkcs1Sha256],
        Generation::Cps4 => &[CardScheme::PssSha256, CardScheme::Pkcs1Sha256],
    }
}

/// The SHA-256 DigestInfo of `message`.
pub fn digest_info(message: &[u8]) -> Vec<u8> {
    [&SHA256_DIGEST_INFO[..], &Sha256::digest(message)].concat()
}

/// The EMSA-PKCS1-v1_5 block of `message` for a modulus of `modulus_len` bytes.
pub fn pkcs1_block(message: &[u8], modulus_len: usize) -> Result<Vec<u8>, CardError> {
    let info = digest_info(message);
    let pad = modulus_len
        .checked_sub(info.len() + 3)
        .filter(|pad| *pad >= 8)
        .ok_or(CardError::Unsupported("sign with a key this small"))?;
    let mut block = Vec::with_capacity(modulus_len);
    block.extend_from_slice(&[0x00, 0x01]);
    block.resize(2 + pad, 0xFF);
    block.push(0x00);
    block.extend_from_slice(&info);
    Ok(block)
}

/// The commands that make `scheme`'s signature of `message` on a card of `generation`; the
/// signature is the response to the last one.
pub fn commands(
    generation: Generation,
    scheme: CardScheme,
    message: &[u8],
    modulus_len: usize,
) -> Result<Vec<Command>, CardError> {
    match (generation, scheme) {
        (Generation::Cps3, CardScheme::Pkcs1Sha256) => Ok(vec![
            Command::new(0x00, 0x22, 0x41, 0xA4).with_data(&[0x80, 0x01, 0x02, 0x84, 0x01, 0x82]),
            Command::new(0x00, 0x88, 0x00, 0x00).with_data(&digest_info(message)),
        ]),
        (Generation::Cps3, CardScheme::PssSha256) => Err(CardError::Unsupported(
            "make RSA-PSS signatures (a CPS3 signs PKCS#1 v1.5 only)",
        )),
        (Generation::Cps4, CardScheme::Pkcs1Sha256) => Ok(vec![
            Command::new(0x01, 0x22, 0x41, 0xB8).with_data(&[0x83, 0x01, 0x20]),
            Command::new(0x01, 0x2A, 0x80, 0x86)
                .with_data(&pkcs1_block(message, modulus_len)?)
                .with_le(0),
        ]),
        (Generation::Cps4, CardScheme::PssSha256) => Ok(vec![
            Command::new(0x01, 0x22, 0x81, 0xB6).with_data(&[0x91, 0x02, 0x2C, 0xA0]),
            Command::new(0x01, 0x2A, 0x9E, 0x9A)
                .with_data(&Sha256::digest(message))
                .with_le(0),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_block_has_the_rfc_8017_shape() {
        let block = pkcs1_block(b"hello", 256).expect("block");
        assert_eq!(block.len(), 256);
        assert_eq!(&block[..2], &[0x00, 0x01]);
        assert!(block[2..204].iter().all(|b| *b == 0xFF));
        assert_eq!(block[204], 0x00);
        assert_eq!(&block[205..], digest_info(b"hello").as_slice());
    }

    #[test]
    fn tiny_keys_are_refused() {
        assert!(pkcs1_block(b"x", 60).is_err());
    }

    #[test]
    fn cps3_cannot_do_pss() {
        let err = commands(Generation::Cps3, CardScheme::PssSha256, b"m", 256).expect_err("pss");
        assert!(err.to_string().contains("PKCS#1 v1.5 only"), "{err}");
        assert_eq!(schemes(Generation::Cps3), &[CardScheme::Pkcs1Sha256]);
    }

    #[test]
    fn cps4_signs_on_channel_one() {
        for scheme in schemes(Generation::Cps4) {
            let cmds = commands(Generation::Cps4, *scheme, b"m", 256).expect("cmds");
            assert!(cmds.iter().all(|c| c.cla & 0x03 == 0x01), "{cmds:?}");
        }
    }
}
