//! Cards as the directory knows them: which certificate (serial and issuer) belongs to whom.

use chrono::{DateTime, Utc};
use vigie_certs::IdNat;

/// A card's authentication certificate, named by its serial number and issuer. A person may
/// hold several (a CPS3 and the CPS4 that replaces it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardRef {
    serial: String,
    issuer: String,
}

impl CardRef {
    /// A card reference; the serial is normalised to upper-case hex without separators or
    /// leading zero bytes (the form `vigie-certs` and `card list` print), so `0a:ff:01`,
    /// `0AFF01` and `00 0A FF 01` name the same card.
    pub fn new(serial: &str, issuer: &str) -> Self {
        let mut hex: String = serial
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect();
        hex.make_ascii_uppercase();
        if hex.len() % 2 == 1 {
            hex.insert(0, '0');
        }
        while hex.len() > 2 && hex.starts_with("00") {
            hex.drain(..2);
        }
        Self {
            serial: hex,
            issuer: issuer.trim().to_owned(),
        }
    }

    /// The serial number, normalised.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The issuer's distinguished name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether the serial looks like a certificate serial (hex digits).
    pub fn has_valid_serial(&self) -> bool {
        !self.serial.is_empty() && self.serial.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// How a card was enrolled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrolmentKind {
    /// At the enrolment desk (`vigie-connector card enrol`).
    Desk,
    /// At its first admission, by the `on_first_use` policy.
    FirstUse,
}

impl EnrolmentKind {
    /// The stable name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desk => "desk",
            Self::FirstUse => "first-use",
        }
    }
}

/// Why and when a card was revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// When.
    pub at: DateTime<Utc>,
    /// Which admin.
    pub by: String,
    /// The reason given (lost, stolen, replaced…).
    pub reason: String,
}

/// A card bound to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRecord {
    /// The certificate.
    pub card: CardRef,
    /// Its holder.
    pub id_nat: IdNat,
    /// When it was enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// Who enrolled it (`admin:<login>`, or `card:<idNat>` on first use).
    pub enrolled_by: String,
    /// How.
    pub how: EnrolmentKind,
    /// Set once the card is revoked; a revoked card is refused for good.
    pub revoked: Option<Revocation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_normalised() {
        let a = CardRef::new("0a:ff:01", "CN=X");
        let b = CardRef::new("00 0A FF 01", " CN=X ");
        let c = CardRef::new("AFF01", "CN=X");
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.serial(), "0AFF01");
        assert!(a.has_valid_serial());
        assert!(!CardRef::new("zz", "CN=X").has_valid_serial());
        assert_eq!(CardRef::new("00", "CN=X").serial(), "00");
    }
}
