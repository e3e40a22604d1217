//! The verdict on a card certificate taken inside a TLS handshake, handed over to the
//! connection once the handshake has finished, so that a card is checked once per connection
//! and not twice.
//!
//! rustls asks [`super::tls::CardCertVerifier`] about the card's certificate in the middle of
//! the handshake and keeps only a yes or no; the connection then needs the card's identity.
//! [`Verdicts::verify_in_handshake`] keeps each accepted verdict for a moment, keyed by the
//! certificate's bytes, and [`Verdicts::bind`] takes it back after the handshake. A kept
//! verdict is used only if it is fresh (younger than the handshake timeout), the card
//! certificate is still within its validity, and the verifier's CRLs and blocklist have not
//! changed since ([`vigie_certs::Verifier::revision`]); otherwise, and for any certificate it
//! does not hold, `bind` runs the whole verification again, as it always did. Verdicts are
//! never shared between connections: `bind` removes what it uses.
//!
//! Memory is bounded: at most `capacity` verdicts wait (those of handshakes that failed after
//! the certificate check are dropped when they grow old); when full, nothing more is kept and
//! `bind` verifies in full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls_pki_types::{CertificateDer, UnixTime};
use vigie_certs::{Refusal, VerifiedCard, Verifier};

/// Accepted verdicts waiting for their connection.
pub struct Verdicts {
    verifier: Arc<Verifier>,
    kept: Mutex<HashMap<Vec<u8>, Kept>>,
    max_age: Duration,
    capacity: usize,
}

struct Kept {
    card: VerifiedCard,
    revision: u64,
    at: Instant,
}

impl Verdicts {
    /// Verdicts of `verifier`, kept at most `max_age`, at most `capacity` at once.
    pub fn new(verifier: Arc<Verifier>, max_age: Duration, capacity: usize) -> Self {
        Self {
            verifier,
            kept: Mutex::new(HashMap::new()),
            max_age,
            capacity,
        }
    }

    /// The verifier behind the verdicts.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Verifies a certificate presented in a handshake and keeps an accepted verdict for
    /// [`bind`](Self::bind).
    pub fn verify_in_handshake(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedCard, Refusal> {
        // Read before verifying: a change during the verification invalidates the verdict.
        let revision = self.verifier.revision();
        let card = self.verifier.verify(end_entity, intermediates, now)?;
        self.keep(end_entity.as_ref(), &card, revision);
        Ok(card)
    }

    /// The verified card behind a finished handshake: the handshake's verdict if it still
    /// holds, else a full verification.
    pub fn bind(
        &self,
        end_entity: &CertificateDer<'_>,
        presented: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedCard, Refusal> {
        let kept = self.lock().remove(end_entity.as_ref());
        if let Some(kept) = kept {
            let fresh = kept.at.elapsed() <= self.max_age;
            let unchanged = kept.revision == self.verifier.revision();
            if fresh && unchanged && now.as_secs() < kept.card.not_after {
                return Ok(kept.card);
            }
            tracing::debug!(fresh, unchanged, "handshake verdict stale; verifying again");
        }
        self.verifier.verify(end_entity, presented, now)
    }

    fn keep(&self, end_entity: &[u8], card: &VerifiedCard, revision: u64) {
        let mut kept = self.lock();
        if kept.len() >= self.capacity {
            let max_age = self.max_age;
            kept.retain(|_, k| k.at.elapsed() <= max_age);
            if kept.len() >= self.capacity {
                return;
            }
        }
        let entry = Kept {
            card: card.clone(),
            revision,
            at: Instant::now(),
        };
        kept.insert(end_entity.to_vec(), entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use vigie_certs::Blocklist;
    use vigie_certs::pki::World;

    use super::*;

    fn setup() -> (World, Verdicts, CertificateDer<'static>) {
        let world = World::shared(1, UnixTime::now()).expect("the test world");
        let verifier = Verifier::new(world.trust_config().expect("trust")).expect("a verifier");
        let verdicts = Verdicts::new(Arc::new(verifier), Duration::from_secs(60), 4);
        let card = world.card_auth("cps4-doctor").expect("the doctor's card");
        (world, verdicts, card)
    }

    fn days_later(days: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(
            UnixTime::now().as_secs() + days * 86_400,
        ))
    }

    #[test]
    fn the_handshake_verdict_is_used_once() {
        let (_world, verdicts, card) = setup();
        verdicts
            .verify_in_handshake(&card, &[], UnixTime::now())
            .unwrap();
        // Thirty days on, the world's CRLs are stale: only the handshake's verdict, taken
        // while they were fresh, admits the card.
        assert!(verdicts.bind(&card, &[], days_later(30)).is_ok());
        let again = verdicts.bind(&card, &[], days_later(30));
        assert_eq!(again.unwrap_err().code(), "stale_crl");
    }

    #[test]
    fn a_new_blocklist_or_crl_invalidates_the_handshake_verdict() {
        let (world, verdicts, card) = setup();
        let doctor = vigie_certs::CardIdentity::from_der(&card).unwrap();
        verdicts
            .verify_in_handshake(&card, &[], UnixTime::now())
            .unwrap();
        let mut blocklist = Blocklist::new();
        blocklist.block_id_nat(doctor.person_key());
        verdicts.verifier().set_blocklist(blocklist);
        let refused = verdicts.bind(&card, &[], UnixTime::now()).unwrap_err();
        assert_eq!(refused.code(), "blocklisted_id_nat");

        verdicts.verifier().set_blocklist(Blocklist::new());
        verdicts
            .verify_in_handshake(&card, &[], UnixTime::now())
            .unwrap();
        let authority = world.authority("elementaire-personnes").unwrap();
        let now = UnixTime::now().as_secs();
        let serial = serial_bytes(&doctor.card_serial);
        let crl = authority
            .crl(1_000, now, now + 86_400, &[(serial, now)])
            .unwrap();
        let mut crls = world.trust_config().unwrap().crls;
        crls.push(crl.into());
        verdicts.verifier().update_crls(&crls).unwrap();
        let refused = verdicts.bind(&card, &[], UnixTime::now()).unwrap_err();
        assert_eq!(refused.code(), "revoked");
    }

    #[test]
    fn a_full_store_keeps_nothing_more_and_binding_still_verifies() {
        let (world, verdicts, _) = setup();
        let names = [
            "cps4-doctor",
            "cps3-doctor",
            "cps4-nurse",
            "cps4-staff",
            "cps3-pharmacist",
        ];
        for name in names {
            let card = world.card_auth(name).unwrap();
            verdicts
                .verify_in_handshake(&card, &[], UnixTime::now())
                .unwrap();
        }
        assert_eq!(verdicts.lock().len(), 4);
        let last = world.card_auth("cps3-pharmacist").unwrap();
        let stale = verdicts.bind(&last, &[], days_later(30));
        assert_eq!(
            stale.unwrap_err().code(),
            "stale_crl",
            "not kept, so verified again"
        );
    }

    /// A certificate serial in upper-case hex, as DER INTEGER content bytes.
    fn serial_bytes(hex: &str) -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            bytes.insert(0, 0);
        }
        bytes
    }
}
