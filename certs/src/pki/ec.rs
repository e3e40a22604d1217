//! ECDSA P-256 keys for the test PKI's second connector certificate: a TLS server signature
//! with P-256 costs the connector a small fraction of an RSA-2048 one, which is what a
//! connector admitting many cards a second wants.
//!
//! Like every key of the world, it derives from the seed: the private scalar from the seed and
//! a label, the public point by plain affine double-and-add on the curve (slow, a few hundred
//! milliseconds, but done once per world; `ring` signs with the key and checks that the
//! public point matches the scalar before it is written, so an arithmetic mistake here fails
//! the generation instead of writing a broken key). Not constant-time: test keys only.

use der::asn1::{Any, BitString};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use rsa::BigUint;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use zeroize::Zeroizing;

use super::PkiError;
use super::keys::derive;
use crate::oids;

const P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const GX: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const GY: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

/// PKCS#8 v1 for a P-256 key, around the 32-byte scalar and the 65-byte public point.
const PKCS8_HEAD: &[u8] = &[
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02,
    0x01, 0x01, 0x04, 0x20,
];
const PKCS8_MIDDLE: &[u8] = &[0xa1, 0x44, 0x03, 0x42, 0x00];

/// The world's P-256 key named `label`: its PKCS#8 DER and its SubjectPublicKeyInfo.
pub(crate) fn p256_key(
    seed: u64,
    label: &str,
) -> Result<(Zeroizing<Vec<u8>>, SubjectPublicKeyInfoOwned), PkiError> {
    let curve = Curve::new();
    let one = BigUint::from(1u32);
    let scalar = BigUint::from_bytes_be(&derive(seed, label)) % (&curve.n - &one) + &one;
    let (x, y) = curve
        .multiply(&scalar)
        .ok_or_else(|| PkiError::Internal("P-256: the point at infinity".into()))?;
    let mut point = vec![0x04];
    point.extend_from_slice(&fixed32(&x));
    point.extend_from_slice(&fixed32(&y));
    let mut pkcs8 = Zeroizing::new(PKCS8_HEAD.to_vec());
    pkcs8.extend_from_slice(&fixed32(&scalar));
    pkcs8.extend_from_slice(PKCS8_MIDDLE);
    pkcs8.extend_from_slice(&point);
    let alg = &ECDSA_P256_SHA256_ASN1_SIGNING;
    EcdsaKeyPair::from_pkcs8(alg, &pkcs8, &SystemRandom::new())
        .map_err(|e| PkiError::Key(format!("P-256 key refused by ring: {e}")))?;
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oids::EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&oids::P256)?),
        },
        subject_public_key: BitString::from_bytes(&point)?,
    };
    Ok((pkcs8, spki))
}

/// A number as 32 big-endian bytes.
fn fixed32(value: &BigUint) -> [u8; 32] {
    let bytes = value.to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len().min(32)..].copy_from_slice(&bytes[bytes.len().saturating_sub(32)..]);
    out
}

type Point = Option<(BigUint, BigUint)>;

/// NIST P-256 (y² = x³ − 3x + b over the prime field of `p`), affine coordinates.
struct Curve {
    p: BigUint,
    n: BigUint,
    g: (BigUint, BigUint),
}

impl Curve {
    fn new() -> Self {
        let hex = |h: &str| BigUint::parse_bytes(h.as_bytes(), 16).unwrap_or_default();
        Self {
            p: hex(P),
            n: hex(N),
            g: (hex(GX), hex(GY)),
        }
    }

    /// `scalar`·G by double-and-add, from the top bit down.
    fn multiply(&self, scalar: &BigUint) -> Point {
        let mut result: Point = None;
        for bit in (0..scalar.bits()).rev() {
            result = self.add(&result, &result);
            if (scalar >> bit) & BigUint::from(1u32) == BigUint::from(1u32) {
                result = self.add(&result, &Some(self.g.clone()));
            }
        }
        result
    }

    fn add(&self, a: &Point, b: &Point) -> Point {
        let p = &self.p;
        let (Some((x1, y1)), Some((x2, y2))) = (a, b) else {
            return a.clone().or_else(|| b.clone());
        };
        let lambda = if x1 == x2 {
            if (y1 + y2) % p == BigUint::from(0u32) {
                return None;
            }
            // Doubling: (3x² − 3) / 2y.
            let three = BigUint::from(3u32);
            let top = (&three * x1 * x1 + p * &three - three) % p;
            top * self.inverse(&(y1 * BigUint::from(2u32) % p)) % p
        } else {
            let top = (y2 + p - y1) % p;
            top * self.inverse(&((x2 + p - x1) % p)) % p
        };
        let x3 = (&lambda * &lambda + p * BigUint::from(2u32) - x1 - x2) % p;
        let y3 = (&lambda * ((x1 + p - &x3) % p) + p - y1) % p;
        Some((x3, y3))
    }

    /// The inverse modulo the prime `p` (Fermat).
    fn inverse(&self, value: &BigUint) -> BigUint {
        value.modpow(&(&self.p - BigUint::from(2u32)), &self.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_seed_and_ring_accepts_them() {
        let (a, spki_a) = p256_key(1, "server-ec").unwrap();
        let (b, _) = p256_key(1, "server-ec").unwrap();
        let (c, _) = p256_key(2, "server-ec").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(spki_a.subject_public_key.raw_bytes().len(), 65);
    }

    #[test]
    fn twice_the_generator_is_the_curve_s_known_point() {
        let curve = Curve::new();
        let (x, _) = curve.multiply(&BigUint::from(2u32)).unwrap();
        let expected = "7cf27b188d034f7e8a52380304b51ac3c08969e277f21b35a60b48fc47669978";
        assert_eq!(
            fixed32(&x).to_vec(),
            BigUint::parse_bytes(expected.as_bytes(), 16)
                .unwrap()
                .to_bytes_be()
        );
    }
}
