//! Many card identities at once, for load tests and benchmarks: thousands of distinct card
//! certificates (distinct idNat, serial and names) issued by a CA of the world.
//!
//! RSA key generation is what makes cards slow to make, so every bulk card shares one RSA-2048
//! key pair: the connector checks each certificate on its own (chain, EKU, revocation,
//! identity) and never compares keys between cards, so a shared key changes nothing it does.
//! The certificates are signed with `ring` (several times faster than the `rsa` crate with the
//! CA's 4096-bit key), spread over the machine's cores.
//!
//! Not for the lab's emulated cards: a bulk card has no card folder, PIN or signature
//! certificate, only what a software client needs to be admitted.

use der::Encode;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::RsaPublicKey;
use rsa::pkcs8::EncodePrivateKey;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use zeroize::Zeroizing;

use super::x509::{self, Attr, CertSpec, Issuer};
use super::{PkiError, World, keys};
use crate::{IdNat, oids};

const DAY: u64 = 86_400;

/// The CA that issues bulk cards.
const ISSUER: &str = "elementaire-personnes";

/// One bulk card: its holder's idNat and its authentication certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkCard {
    /// An RPPS idNat (`8` + ten digits + Luhn key), distinct for every index.
    pub id_nat: String,
    /// The authentication certificate (DER).
    pub certificate: Vec<u8>,
}

/// Bulk cards and the key they share.
pub struct BulkCards {
    /// The shared RSA-2048 private key, PKCS#8 DER.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    /// The cards, in index order.
    pub cards: Vec<BulkCard>,
}

impl std::fmt::Debug for BulkCards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkCards")
            .field("cards", &self.cards.len())
            .finish_non_exhaustive()
    }
}

/// The idNat of bulk card `index`: RPPS numbers `8 998…`, which the world's own cards do not
/// use.
pub fn bulk_id_nat(index: usize) -> String {
    let body = format!("998{index:07}");
    format!("8{body}{}", crate::idnat::luhn_key(&body))
}

impl World {
    /// `count` card identities (at most ten million) issued now by the world's ELEMENTAIRE
    /// PERSONNES CA, valid five years, all of them active cards with EKU clientAuth and the
    /// profession `Médecin`. Listed in no CRL.
    pub fn bulk_cards(&self, count: usize) -> Result<BulkCards, PkiError> {
        if count > 10_000_000 {
            return Err(PkiError::Internal("at most ten million bulk cards".into()));
        }
        let seed = self.index().seed;
        let key = keys::rsa_key(seed, "bulk/auth", 2048)?;
        let public = RsaPublicKey::from(&key);
        let key_pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| PkiError::Key(e.to_string()))?;
        let authority = self.authority(ISSUER)?;
        let ca_der = authority
            .key
            .to_pkcs8_der()
            .map_err(|e| PkiError::Key(e.to_string()))?;
        let signer = RsaKeyPair::from_pkcs8(ca_der.as_bytes())
            .map_err(|e| PkiError::Key(format!("the CA key for ring: {e}")))?;
        let issuer = Issuer {
            cert: &authority.cert,
            key: &authority.key,
        };
        let now = self.index().generated_at;
        let spki = x509::spki(&public)?;
        let make = |index: usize| card(seed, now, index, &spki, &issuer, &signer);
        let cards = in_parallel(count, make)?;
        Ok(BulkCards {
            key_pkcs8: Zeroizing::new(key_pkcs8.as_bytes().to_vec()),
            cards,
        })
    }
}

/// `make(0..count)`, spread over the machine's cores, in index order.
fn in_parallel<T: Send>(
    count: usize,
    make: impl Fn(usize) -> Result<T, PkiError> + Sync,
) -> Result<Vec<T>, PkiError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let make = &make;
    let parts: Vec<Result<Vec<T>, PkiError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| scope.spawn(move || (w..count).step_by(workers).map(make).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(PkiError::Internal("a signing thread failed".into())))
            })
            .collect()
    });
    let mut parts: Vec<std::vec::IntoIter<T>> = parts
        .into_iter()
        .map(|p| p.map(Vec::into_iter))
        .collect::<Result<_, _>>()?;
    let mut all = Vec::with_capacity(count);
    for index in 0..count {
        let next = parts[index % workers].next();
        all.push(next.ok_or_else(|| PkiError::Internal("a card went missing".into()))?);
    }
    Ok(all)
}

fn card(
    seed: u64,
    now: u64,
    index: usize,
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    issuer: &Issuer<'_>,
    signer: &RsaKeyPair,
) -> Result<BulkCard, PkiError> {
    let id_nat = bulk_id_nat(index);
    let given = format!("CARTE{index}");
    let subject = x509::name(&[
        vec![Attr::new(oids::COUNTRY, "FR")],
        vec![Attr::new(oids::TITLE, "Médecin")],
        vec![
            Attr::new(oids::CN, &id_nat),
            Attr::new(oids::SURNAME, "BANC"),
            Attr::new(oids::GIVEN_NAME, &given),
        ],
    ])?;
    let id = IdNat::parse(&id_nat).map_err(|e| PkiError::Internal(e.to_string()))?;
    let upn = format!("{}@carte-cps.fr", id.upn_local_part());
    let usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
    let eku = x509::eku(&[oids::CLIENT_AUTH, oids::SMARTCARD_LOGON]);
    let extensions = vec![
        x509::ext(&x509::san_upn(&upn)?, &subject)?,
        x509::ext(&usage, &subject)?,
        x509::ext(&eku, &subject)?,
    ];
    let spec = CertSpec {
        serial: super::generate::serial(seed, &format!("bulk/{index}")),
        subject,
        not_before: now - DAY,
        not_after: now + 5 * 365 * DAY,
        extensions,
    };
    let tbs = x509::tbs_for_spki(&spec, spki.clone(), issuer)?;
    let tbs_der = tbs.to_der()?;
    let mut signature = vec![0; signer.public().modulus_len()];
    signer
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            &tbs_der,
            &mut signature,
        )
        .map_err(|_| PkiError::Internal("ring could not sign a card".into()))?;
    let certificate = x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: x509::sha256_with_rsa(),
        signature: der::asn1::BitString::from_bytes(&signature)?,
    };
    Ok(BulkCard {
        id_nat,
        certificate: certificate.to_der()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_id_nats_are_valid_distinct_rpps_numbers() {
        let a = IdNat::parse(&bulk_id_nat(0)).unwrap();
        let b = IdNat::parse(&bulk_id_nat(9_999_999)).unwrap();
        assert_eq!(a.kind(), &crate::IdNatKind::Rpps);
        assert_ne!(a, b);
        assert_eq!(bulk_id_nat(42).len(), 12);
    }
}
