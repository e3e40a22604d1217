//! What a refused client is told, in one place: a certificate refusal becomes a TLS alert
//! (the handshake fails and nothing else runs), a directory refusal becomes a control-protocol
//! [`Code`] the user can read to the help desk (`VIGIE-E-204 unknown person`).
//!
//! The audit log keeps the precise reason (`revoked`, `person-suspended`…); the wire carries
//! what the client can show without learning more than it needs.

use rustls::CertificateError;
use vigie_certs::Refusal as CertRefusal;
use vigie_protocol::Code;

use crate::admission::Refusal as DirectoryRefusal;
use crate::person::AccessBlock;

/// The rustls error for a refused card certificate; rustls turns it into the alert noted on
/// each arm.
pub fn certificate_error(refusal: &CertRefusal) -> CertificateError {
    match refusal {
        // unknown_ca
        CertRefusal::UnknownIssuer => CertificateError::UnknownIssuer,
        // certificate_expired
        CertRefusal::Expired { .. } => CertificateError::Expired,
        CertRefusal::NotYetValid { .. } => CertificateError::NotValidYet,
        // certificate_revoked: by the issuer's CRL or the local emergency blocklist.
        CertRefusal::Revoked { .. }
        | CertRefusal::BlocklistedCertificate { .. }
        | CertRefusal::BlocklistedIdNat { .. } => CertificateError::Revoked,
        // unsupported_certificate: a certificate that is not for authentication.
        CertRefusal::WrongEku | CertRefusal::WrongKeyUsage { .. } => {
            CertificateError::InvalidPurpose
        }
        // access_denied: the card may be fine; the connector's revocation data is not.
        CertRefusal::StaleCrl { .. } | CertRefusal::RevocationUnknown { .. } => {
            CertificateError::ApplicationVerificationFailure
        }
        // bad_certificate: malformed, weak key, broken chain, no usable identity.
        _ => CertificateError::BadEncoding,
    }
}

/// The protocol code that ends a session for a directory refusal.
pub fn directory_code(refusal: &DirectoryRefusal) -> Code {
    match refusal {
        DirectoryRefusal::UnknownPerson => Code::UNKNOWN_PERSON,
        DirectoryRefusal::Person(AccessBlock::Suspended) => Code::HR_SUSPENSION,
        DirectoryRefusal::Person(AccessBlock::Departed | AccessBlock::Ended(_)) => {
            Code::HR_DEPARTURE
        }
        DirectoryRefusal::Person(AccessBlock::NotStarted(_)) => Code::NOT_STARTED,
        DirectoryRefusal::CardRevoked { .. } => Code::CARD_REVOKED,
        DirectoryRefusal::CardNotEnrolled => Code::CARD_NOT_ENROLLED,
        DirectoryRefusal::CardOfAnotherPerson => Code::CARD_OF_ANOTHER_HOLDER,
        DirectoryRefusal::NoAppGranted => Code::NOT_AUTHORIZED,
    }
}

/// The protocol code that ends a live session when its card is refused on a later check (a
/// new CRL or blocklist entry).
pub fn certificate_code(refusal: &CertRefusal) -> Code {
    match refusal {
        CertRefusal::Revoked { .. }
        | CertRefusal::BlocklistedCertificate { .. }
        | CertRefusal::BlocklistedIdNat { .. } => Code::CARD_REVOKED,
        CertRefusal::StaleCrl { .. } | CertRefusal::RevocationUnknown { .. } => {
            Code::INTERNAL_ERROR
        }
        _ => Code::NOT_AUTHORIZED,
    }
}

#[cfg(test)]
mod tests {
    use rustls::AlertDescription;

    use super::*;

    #[test]
    fn each_card_problem_has_its_own_alert() {
        let alert = |r: &CertRefusal| AlertDescription::from(certificate_error(r));
        let revoked = CertRefusal::Revoked {
            serial: "01".into(),
            issuer: "CN=X".into(),
        };
        assert_eq!(
            alert(&CertRefusal::UnknownIssuer),
            AlertDescription::UnknownCA
        );
        assert_eq!(
            alert(&CertRefusal::Expired { not_after: 0 }),
            AlertDescription::CertificateExpired
        );
        assert_eq!(alert(&revoked), AlertDescription::CertificateRevoked);
        assert_eq!(
            alert(&CertRefusal::WrongEku),
            AlertDescription::UnsupportedCertificate
        );
        let stale = CertRefusal::RevocationUnknown {
            detail: "none".into(),
        };
        assert_eq!(alert(&stale), AlertDescription::AccessDenied);
        assert_eq!(certificate_code(&revoked), Code::CARD_REVOKED);
    }

    #[test]
    fn directory_refusals_the_user_can_tell_apart() {
        assert_eq!(
            directory_code(&DirectoryRefusal::UnknownPerson),
            Code::UNKNOWN_PERSON
        );
        assert_eq!(
            directory_code(&DirectoryRefusal::Person(AccessBlock::Suspended)),
            Code::HR_SUSPENSION
        );
        assert_eq!(
            directory_code(&DirectoryRefusal::Person(AccessBlock::Departed)),
            Code::HR_DEPARTURE
        );
        assert_eq!(
            directory_code(&DirectoryRefusal::NoAppGranted),
            Code::NOT_AUTHORIZED
        );
        let later = chrono::NaiveDate::from_ymd_opt(2099, 1, 1).unwrap();
        assert_eq!(
            directory_code(&DirectoryRefusal::Person(AccessBlock::NotStarted(later))),
            Code::NOT_STARTED
        );
        assert_eq!(
            directory_code(&DirectoryRefusal::CardNotEnrolled),
            Code::CARD_NOT_ENROLLED
        );
        assert_eq!(
            directory_code(&DirectoryRefusal::CardOfAnotherPerson),
            Code::CARD_OF_ANOTHER_HOLDER
        );
    }
}
