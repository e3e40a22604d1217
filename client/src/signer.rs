//! A `rustls` signing key whose private half stays on the card.
//!
//! The card is one shared, slow, blocking resource: every signature takes the card's mutex,
//! so a handshake and, say, a PIN check never interleave their APDUs. A signature blocks for
//! the card's RSA operation (hundreds of milliseconds on a real card); on an async runtime,
//! run the handshake's card work on a blocking thread, not on a core thread.
//!
//! A card failure during the handshake surfaces as `rustls::Error::Other` wrapping the
//! [`CardError`], so the caller can tell "card removed" from a network failure.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use tracing::debug;

use crate::card::{Card, CardScheme};
use crate::error::CardError;
use crate::transport::CardTransport;

/// A card shared between the signer and the rest of the client.
pub type SharedCard<T> = Arc<Mutex<Card<T>>>;

/// The card's authentication key, as rustls sees it.
pub struct CardSigningKey<T: CardTransport> {
    card: SharedCard<T>,
    schemes: &'static [CardScheme],
}

impl<T: CardTransport> CardSigningKey<T> {
    /// A signing key for `card`, offering the schemes its generation can make.
    pub fn new(card: SharedCard<T>) -> Self {
        let schemes = lock(&card).schemes();
        Self { card, schemes }
    }

    /// The TLS signature schemes this key offers, preferred first.
    pub fn tls_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.iter().map(|s| tls_scheme(*s)).collect()
    }
}

impl<T: CardTransport> std::fmt::Debug for CardSigningKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardSigningKey")
            .field("schemes", &self.schemes)
            .finish_non_exhaustive()
    }
}

/// The TLS name of a card scheme.
pub fn tls_scheme(scheme: CardScheme) -> SignatureScheme {
    match scheme {
        CardScheme::Pkcs1Sha256 => SignatureScheme::RSA_PKCS1_SHA256,
        CardScheme::PssSha256 => SignatureScheme::RSA_PSS_SHA256,
    }
}

impl<T: CardTransport + 'static> SigningKey for CardSigningKey<T> {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = self
            .schemes
            .iter()
            .find(|s| offered.contains(&tls_scheme(**s)))?;
        debug!(?scheme, "card signature scheme chosen");
        Some(Box::new(CardSigner {
            card: Arc::clone(&self.card),
            scheme: *scheme,
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

/// One signature with a chosen scheme.
struct CardSigner<T: CardTransport> {
    card: SharedCard<T>,
    scheme: CardScheme,
}

impl<T: CardTransport> std::fmt::Debug for CardSigner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardSigner")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl<T: CardTransport> Signer for CardSigner<T> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        lock(&self.card)
            .sign(self.scheme, message)
            .map_err(|e| rustls::Error::Other(rustls::OtherError(Arc::new(e))))
    }

    fn scheme(&self) -> SignatureScheme {
        tls_scheme(self.scheme)
    }
}

/// Locks the card. A panic elsewhere while holding it leaves no half-done APDU state that a
/// new command cannot recover from, so a poisoned lock is still usable.
pub fn lock<T: CardTransport>(card: &SharedCard<T>) -> std::sync::MutexGuard<'_, Card<T>> {
    card.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The card error behind a rustls error, if the handshake failed because of the card.
pub fn card_error(error: &rustls::Error) -> Option<&CardError> {
    match error {
        rustls::Error::Other(other) => other.0.downcast_ref::<CardError>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rsa::Pss;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::pin::Pin;
    use crate::testing::{FakeCard, identity};

    fn shared(fake: FakeCard) -> SharedCard<FakeCard> {
        let mut card = Card::open(fake).expect("open");
        card.read_auth_certificate().expect("certificate");
        Arc::new(Mutex::new(card))
    }

    #[test]
    fn cps3_offers_pkcs1_only() {
        let key = CardSigningKey::new(shared(FakeCard::cps3()));
        assert_eq!(key.tls_schemes(), [SignatureScheme::RSA_PKCS1_SHA256]);
        assert!(
            key.choose_scheme(&[SignatureScheme::RSA_PSS_SHA256])
                .is_none()
        );
    }

    #[test]
    fn cps4_prefers_pss_and_its_signature_verifies() {
        let card = shared(FakeCard::cps4());
        lock(&card)
            .verify_pin(&Pin::new("1234").expect("pin"))
            .expect("verify");
        let key = CardSigningKey::new(card);
        let offered = [
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PSS_SHA256,
        ];
        let signer = key.choose_scheme(&offered).expect("a scheme");
        assert_eq!(signer.scheme(), SignatureScheme::RSA_PSS_SHA256);
        let signature = signer.sign(b"transcript").expect("sign");
        let hash = Sha256::digest(b"transcript");
        let public = identity().key.to_public_key();
        public
            .verify(Pss::new_with_salt::<Sha256>(32), &hash, &signature)
            .expect("valid");
    }

    #[test]
    fn card_failures_are_recoverable_from_the_rustls_error() {
        let key = CardSigningKey::new(shared(FakeCard::cps3()));
        let signer = key
            .choose_scheme(&[SignatureScheme::RSA_PKCS1_SHA256])
            .expect("scheme");
        let err = signer.sign(b"no pin yet").expect_err("needs pin");
        assert!(
            matches!(card_error(&err), Some(CardError::PinNotVerified)),
            "{err}"
        );
    }
}
