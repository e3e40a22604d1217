//! Card re-proof: the connector's challenge, the card's answer, and the exact bytes signed.
//!
//! At intervals, and before a suspended session resumes in place, the connector sends 32
//! random bytes. The client has the card sign [`reproof_signing_input`]: the fixed context
//! [`REPROOF_CONTEXT`], then the 16-byte session id, then the 32-byte challenge. The context
//! keeps the signature from being valid as anything else the card signs (a TLS handshake
//! signs other bytes); the session id binds it to this session. The card signs the SHA-256
//! digest of those bytes with the scheme its generation supports:
//!
//! - CPS3: RSA PKCS#1 v1.5 with SHA-256 ([`SignatureScheme::RSA_PKCS1_SHA256`]);
//! - CPS4: RSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt
//!   ([`SignatureScheme::RSA_PSS_SHA256`]).
//!
//! This crate does no cryptography: the connector verifies the signature against the card's
//! certificate from the mutual TLS handshake and reports its verdict to the session.

use core::time::Duration;

use crate::error::{DecodeError, EncodeError};
use crate::ids::{Challenge, SessionId};
use crate::limits::MAX_SIGNATURE_LEN;
use crate::wire::{Body, Field, Fields, required};

/// The domain separation prefix of every re-proof signature, NUL included.
pub const REPROOF_CONTEXT: &[u8] = b"Vigie card re-proof v1\0";

/// The exact bytes the card signs for a re-proof: context ‖ session id ‖ challenge.
pub fn reproof_signing_input(session_id: SessionId, challenge: Challenge) -> Vec<u8> {
    [REPROOF_CONTEXT, &session_id.0, &challenge.0].concat()
}

/// A signature scheme by number; unknown numbers are kept so the connector can refuse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureScheme(pub u8);

impl SignatureScheme {
    /// RSA PKCS#1 v1.5 over SHA-256: what a CPS3 card signs.
    pub const RSA_PKCS1_SHA256: Self = Self(1);
    /// RSA-PSS over SHA-256, MGF1-SHA-256, 32-byte salt: what a CPS4 card signs.
    pub const RSA_PSS_SHA256: Self = Self(2);
}

/// Connector → client: have the card sign this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReproofChallenge {
    pub challenge: Challenge,
    /// How long the client has to answer, counted from when the challenge was sent.
    pub answer_within: Duration,
}

/// Client → connector: the card's signature over [`reproof_signing_input`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReproofAnswer {
    /// The challenge answered, echoed back.
    pub challenge: Challenge,
    pub scheme: SignatureScheme,
    pub signature: Vec<u8>,
}

impl ReproofChallenge {
    pub(crate) fn encode(&self, body: &mut Body) -> Result<(), EncodeError> {
        body.fixed(1, "challenge", &self.challenge.0)?;
        body.secs(2, "answer_within", Some(self.answer_within))
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        const M: &str = "re-proof challenge";
        let (mut challenge, mut answer_within) = (None, None);
        for field in Fields::new(body, M) {
            let field = field?;
            match field.tag {
                1 => field.once(&mut challenge, "challenge", &Field::array::<32>)?,
                2 => field.once(&mut answer_within, "answer_within", &|f, n| {
                    f.secs(n)?.ok_or_else(|| f.invalid(n, "is 0 s"))
                })?,
                _ => {}
            }
        }
        Ok(Self {
            challenge: Challenge(required(challenge, M, "challenge")?),
            answer_within: required(answer_within, M, "answer_within")?,
        })
    }
}

impl ReproofAnswer {
    pub(crate) fn encode(&self, body: &mut Body) -> Result<(), EncodeError> {
        if self.signature.is_empty() {
            return Err(EncodeError::InvalidValue {
                field: "signature",
                problem: "is empty",
            });
        }
        body.fixed(1, "challenge", &self.challenge.0)?;
        body.u8(2, "scheme", self.scheme.0)?;
        body.bytes(3, "signature", &self.signature, MAX_SIGNATURE_LEN)
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        const M: &str = "re-proof answer";
        let (mut challenge, mut scheme, mut signature) = (None, None, None);
        for field in Fields::new(body, M) {
            let field = field?;
            match field.tag {
                1 => field.once(&mut challenge, "challenge", &Field::array::<32>)?,
                2 => field.once(&mut scheme, "scheme", &Field::u8)?,
                3 => field.once(&mut signature, "signature", &|f, n| {
                    let bytes = f.bytes(n, MAX_SIGNATURE_LEN)?;
                    if bytes.is_empty() {
                        Err(f.invalid(n, "is empty"))
                    } else {
                        Ok(bytes)
                    }
                })?,
                _ => {}
            }
        }
        Ok(Self {
            challenge: Challenge(required(challenge, M, "challenge")?),
            scheme: SignatureScheme(required(scheme, M, "scheme")?),
            signature: required(signature, M, "signature")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_bytes_are_context_session_and_challenge() {
        let input = reproof_signing_input(SessionId([0x11; 16]), Challenge([0x22; 32]));
        assert_eq!(input.len(), REPROOF_CONTEXT.len() + 16 + 32);
        assert!(input.starts_with(b"Vigie card re-proof v1\0"));
        assert_eq!(input[REPROOF_CONTEXT.len()..][..16], [0x11; 16]);
        assert_eq!(input[REPROOF_CONTEXT.len() + 16..], [0x22; 32]);
    }

    #[test]
    fn the_input_changes_with_the_session() {
        let challenge = Challenge([7; 32]);
        let a = reproof_signing_input(SessionId([1; 16]), challenge);
        let b = reproof_signing_input(SessionId([2; 16]), challenge);
        assert_ne!(a, b);
    }
}
