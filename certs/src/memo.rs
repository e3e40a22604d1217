//! Signatures the verifier checks once instead of at every admission: those over the
//! configured intermediate CAs and over the loaded CRLs.
//!
//! rustls-webpki checks every signature of a path each time it builds one: the card's, made
//! by its CA, but also the CA certificate's, made by the root, and the CRL's, made by the CA.
//! The last two are the same bytes at every admission (RSA-4096 in IGC-Santé's hierarchy, the
//! most expensive part of checking a card). [`Memoized`] wraps each signature algorithm
//! webpki is given: a signature over one of the [`SignatureMemo`]'s allowed messages (the
//! to-be-signed part of a configured intermediate or of a loaded CRL) is verified the first
//! time it is seen and remembered by the SHA-256 of everything the verification depends on
//! (both algorithm identifiers, the public key, the message and the signature). Anything else,
//! card certificates and whatever a client presents, is verified every time and never
//! remembered, so the memo stays as small as the configuration.
//!
//! What this is not: a cache of verdicts. Path building, validity periods, EKU, revocation
//! lookups and every other check still run at each admission; only the arithmetic of a
//! signature already verified over the very same bytes is skipped.

use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};

use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use sha2::{Digest, Sha256};

type Digest32 = [u8; 32];

/// The messages whose signatures may be remembered, and those verified so far.
#[derive(Debug, Default)]
pub(crate) struct SignatureMemo {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    allowed: HashSet<Digest32>,
    verified: HashSet<Digest32>,
}

impl SignatureMemo {
    /// A memo for signatures over `messages` (to-be-signed DER).
    pub(crate) fn new<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let memo = Self::default();
        memo.allow_only(messages);
        memo
    }

    /// Replaces the allowed messages (new CRLs) and forgets every remembered signature.
    pub(crate) fn allow_only<'a>(&self, messages: impl IntoIterator<Item = &'a [u8]>) {
        let allowed = messages
            .into_iter()
            .map(|m| Sha256::digest(m).into())
            .collect();
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        *state = State {
            allowed,
            verified: HashSet::new(),
        };
    }

    fn allows(&self, message: &Digest32) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.allowed.contains(message)
    }

    fn knows(&self, check: &Digest32) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.verified.contains(check)
    }

    fn remember(&self, message: &Digest32, check: Digest32) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        // Allowed messages may have changed since the verification began.
        if state.allowed.contains(message) {
            state.verified.insert(check);
        }
    }

    /// How many signatures are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .verified
            .len()
    }
}

/// A signature algorithm that consults a [`SignatureMemo`] first.
#[derive(Debug)]
pub(crate) struct Memoized {
    inner: &'static dyn SignatureVerificationAlgorithm,
    memo: std::sync::Arc<SignatureMemo>,
}

impl Memoized {
    /// Every algorithm of `algorithms` behind `memo`.
    pub(crate) fn all(
        algorithms: &[&'static dyn SignatureVerificationAlgorithm],
        memo: &std::sync::Arc<SignatureMemo>,
    ) -> Vec<Self> {
        algorithms
            .iter()
            .map(|&inner| Self {
                inner,
                memo: memo.clone(),
            })
            .collect()
    }

    /// What a successful verification depends on, as one digest.
    fn check_digest(&self, public_key: &[u8], message: &Digest32, signature: &[u8]) -> Digest32 {
        let mut hash = Sha256::new();
        for part in [
            self.inner.public_key_alg_id().as_ref(),
            self.inner.signature_alg_id().as_ref(),
            public_key,
            signature,
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hash.update(message);
        hash.finalize().into()
    }
}

impl SignatureVerificationAlgorithm for Memoized {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let digest: Digest32 = Sha256::digest(message).into();
        if !self.memo.allows(&digest) {
            return self.inner.verify_signature(public_key, message, signature);
        }
        let check = self.check_digest(public_key, &digest, signature);
        if self.memo.knows(&check) {
            return Ok(());
        }
        self.inner
            .verify_signature(public_key, message, signature)?;
        self.memo.remember(&digest, check);
        Ok(())
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips_status(&self) -> rustls_pki_types::FipsStatus {
        self.inner.fips_status()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its verifications; accepts a signature equal to the message.
    #[derive(Debug)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl SignatureVerificationAlgorithm for Counting {
        fn verify_signature(&self, _: &[u8], m: &[u8], s: &[u8]) -> Result<(), InvalidSignature> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if m == s {
                Ok(())
            } else {
                Err(InvalidSignature)
            }
        }
        fn public_key_alg_id(&self) -> AlgorithmIdentifier {
            AlgorithmIdentifier::from_slice(b"k")
        }
        fn signature_alg_id(&self) -> AlgorithmIdentifier {
            AlgorithmIdentifier::from_slice(b"s")
        }
    }

    static COUNTING: Counting = Counting(std::sync::atomic::AtomicUsize::new(0));

    fn calls() -> usize {
        COUNTING.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn only_allowed_messages_are_remembered_and_only_when_valid() {
        let memo = std::sync::Arc::new(SignatureMemo::new([b"ca".as_slice()]));
        let alg = &Memoized::all(&[&COUNTING], &memo)[0];
        let before = calls();
        assert!(alg.verify_signature(b"key", b"ca", b"ca").is_ok());
        assert!(alg.verify_signature(b"key", b"ca", b"ca").is_ok());
        assert_eq!(
            calls() - before,
            1,
            "the second check of the CA is remembered"
        );
        assert!(alg.verify_signature(b"key", b"ca", b"forged").is_err());
        assert!(alg.verify_signature(b"other key", b"ca", b"ca").is_ok());
        assert_eq!(
            calls() - before,
            3,
            "another signature or key is verified anew"
        );
        for _ in 0..2 {
            assert!(alg.verify_signature(b"key", b"card", b"card").is_ok());
        }
        assert_eq!(
            calls() - before,
            5,
            "a card's signature is verified every time"
        );
        assert_eq!(memo.len(), 2);
        memo.allow_only([b"new crl".as_slice()]);
        assert_eq!(memo.len(), 0);
        assert!(alg.verify_signature(b"key", b"ca", b"ca").is_ok());
        assert_eq!(
            calls() - before,
            6,
            "a message no longer allowed is verified again"
        );
    }
}
