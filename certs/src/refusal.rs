//! Why a card was refused at admission: one typed reason per failure, each with a stable machine
//! code for the audit log and a message a user or an admin can act on.

use std::fmt;

use crate::identity::IdentityError;

/// Why a card certificate was not admitted.
///
/// [`code`](Self::code) is stable across releases and is what the audit log and metrics record;
/// the `Display` text is for people. [`fault`](Self::fault) says whose side must act.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The chain leads to none of the configured trust anchors.
    #[error("the card was issued by a certification authority this connector does not trust")]
    UnknownIssuer,
    /// The certificate's validity ended.
    #[error("the card certificate expired on {}", Date(*not_after))]
    Expired {
        /// End of validity, seconds since the Unix epoch.
        not_after: u64,
    },
    /// The certificate's validity has not started.
    #[error("the card certificate is not valid before {}", Date(*not_before))]
    NotYetValid {
        /// Start of validity, seconds since the Unix epoch.
        not_before: u64,
    },
    /// The issuer's CRL lists the certificate.
    #[error("the card certificate {serial} was revoked by its issuer")]
    Revoked {
        /// Certificate serial, upper-case hex.
        serial: String,
        /// Issuer DN.
        issuer: String,
    },
    /// The certificate is not meant for TLS client authentication.
    #[error(
        "the certificate is not an authentication certificate (no clientAuth extended key usage)"
    )]
    WrongEku,
    /// The key usage does not allow signing a handshake.
    #[error("the certificate's key usage does not allow {needed}")]
    WrongKeyUsage {
        /// The usage that was missing.
        needed: &'static str,
    },
    /// The public key is shorter than policy allows.
    #[error("the card's RSA key has {bits} bits; at least {minimum} are required")]
    KeyTooSmall {
        /// Modulus length found.
        bits: usize,
        /// Minimum accepted.
        minimum: usize,
    },
    /// The public key is not RSA, or cannot be read.
    #[error("the card's public key is not a usable RSA key ({detail})")]
    UnsupportedKey {
        /// What was found.
        detail: String,
    },
    /// A signature in the chain does not verify.
    #[error("a signature in the certificate chain is invalid ({detail})")]
    BadSignature {
        /// The validator's diagnosis.
        detail: String,
    },
    /// The chain breaks a CA constraint (path length, CA used as end entity, ...).
    #[error("the certificate chain breaks a CA constraint ({detail})")]
    BadChain {
        /// The validator's diagnosis.
        detail: String,
    },
    /// The local emergency blocklist names this certificate.
    #[error("the card certificate {serial} is on the local blocklist")]
    BlocklistedCertificate {
        /// Certificate serial, upper-case hex.
        serial: String,
        /// Issuer DN.
        issuer: String,
    },
    /// The local emergency blocklist names this person.
    #[error("the holder {id_nat} is on the local blocklist")]
    BlocklistedIdNat {
        /// The idNat that matched.
        id_nat: String,
    },
    /// The issuer's CRL is past its nextUpdate by more than the configured grace: new
    /// admissions fail closed until a fresh CRL is loaded.
    #[error(
        "the revocation list of {issuer} is out of date (next update was due {}); \
         refresh the CRLs",
        Date(*next_update)
    )]
    StaleCrl {
        /// The CA whose CRL is stale.
        issuer: String,
        /// The CRL's nextUpdate, seconds since the Unix epoch.
        next_update: u64,
    },
    /// No usable CRL covers the issuer, so the card's revocation status is unknown.
    #[error("the revocation status is unknown: {detail}; load the issuer's CRL")]
    RevocationUnknown {
        /// What was missing or wrong.
        detail: String,
    },
    /// The bytes are not a well-formed certificate.
    #[error("the card certificate is malformed: {detail}")]
    Malformed {
        /// The parser's diagnosis.
        detail: String,
    },
    /// The chain is valid but the certificate does not name a person the way a CPS does.
    #[error("the card certificate does not carry a usable identity: {0}")]
    BadIdentity(IdentityError),
}

/// Whose side a refusal points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The presented card or certificate is not acceptable; the holder must use another card.
    Card,
    /// The connector's revocation data is missing or out of date; an operator must act.
    RevocationData,
    /// A local decision (the emergency blocklist).
    LocalDecision,
}

impl Refusal {
    /// The stable machine code, e.g. `"revoked"` or `"stale_crl"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownIssuer => "unknown_issuer",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::Revoked { .. } => "revoked",
            Self::WrongEku => "wrong_eku",
            Self::WrongKeyUsage { .. } => "wrong_key_usage",
            Self::KeyTooSmall { .. } => "key_too_small",
            Self::UnsupportedKey { .. } => "unsupported_key",
            Self::BadSignature { .. } => "bad_signature",
            Self::BadChain { .. } => "bad_chain",
            Self::BlocklistedCertificate { .. } => "blocklisted_certificate",
            Self::BlocklistedIdNat { .. } => "blocklisted_id_nat",
            Self::StaleCrl { .. } => "stale_crl",
            Self::RevocationUnknown { .. } => "revocation_unknown",
            Self::Malformed { .. } => "malformed_certificate",
            Self::BadIdentity(_) => "bad_identity",
        }
    }

    /// Whose side must act.
    pub fn fault(&self) -> Fault {
        match self {
            Self::StaleCrl { .. } | Self::RevocationUnknown { .. } => Fault::RevocationData,
            Self::BlocklistedCertificate { .. } | Self::BlocklistedIdNat { .. } => {
                Fault::LocalDecision
            }
            _ => Fault::Card,
        }
    }
}

/// Formats seconds since the Unix epoch as an RFC 3339 UTC date.
pub(crate) struct Date(pub u64);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match der::DateTime::from_unix_duration(std::time::Duration::from_secs(self.0)) {
            Ok(date) => write!(f, "{date}"),
            Err(_) => write!(f, "{} s after the Unix epoch", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_dates_and_codes_are_stable() {
        let refusal = Refusal::Expired {
            not_after: 1_700_000_000,
        };
        assert_eq!(refusal.code(), "expired");
        assert_eq!(refusal.fault(), Fault::Card);
        assert!(
            refusal.to_string().contains("2023-11-14T22:13:20Z"),
            "{refusal}"
        );
        let stale = Refusal::StaleCrl {
            issuer: "CN=X".into(),
            next_update: 0,
        };
        assert_eq!(
            (stale.code(), stale.fault()),
            ("stale_crl", Fault::RevocationData)
        );
        assert!(stale.to_string().contains("refresh the CRLs"));
    }
}
