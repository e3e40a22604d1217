//! The local emergency blocklist: certificates (issuer + serial) or people (idNat) the connector
//! refuses at once, without waiting for the issuer's next CRL.
//!
//! The file form, for operators:
//!
//! ```toml
//! id_nats = ["899700123456"]
//!
//! [[certificates]]
//! issuer = "CN=TEST AC IGC-SANTE ELEMENTAIRE PERSONNES,OU=IGC-SANTE TEST,OU=0002 187512751,O=ASIP-SANTE,C=FR"
//! serial = "1A2B3C"
//! ```
//!
//! Serials are hex, any case, `:` separators and leading zeros allowed. Issuers are compared as
//! written by [`CardIdentity::issuer`](crate::CardIdentity::issuer) (RFC 4514).

use std::collections::BTreeSet;

use serde::Deserialize;

/// Certificates and people refused regardless of CRLs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blocklist {
    certificates: BTreeSet<(String, String)>,
    id_nats: BTreeSet<String>,
}

/// Why a blocklist file was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlocklistError {
    /// The TOML text is not a blocklist.
    #[error("the blocklist is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    /// A serial is not hexadecimal.
    #[error("the blocklisted serial {0:?} is not hexadecimal")]
    BadSerial(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlocklistFile {
    #[serde(default)]
    id_nats: Vec<String>,
    #[serde(default)]
    certificates: Vec<CertificateEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateEntry {
    issuer: String,
    serial: String,
}

impl Blocklist {
    /// An empty blocklist.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the TOML form shown in the module docs.
    pub fn from_toml(text: &str) -> Result<Self, BlocklistError> {
        let file: BlocklistFile = toml::from_str(text)?;
        let mut list = Self::new();
        for id_nat in file.id_nats {
            list.block_id_nat(&id_nat);
        }
        for entry in file.certificates {
            list.block_certificate(&entry.issuer, &entry.serial)?;
        }
        Ok(list)
    }

    /// Blocks one certificate by its issuer DN and serial (hex).
    pub fn block_certificate(&mut self, issuer: &str, serial: &str) -> Result<(), BlocklistError> {
        let serial =
            normalize_serial(serial).ok_or_else(|| BlocklistError::BadSerial(serial.into()))?;
        self.certificates.insert((issuer.trim().to_owned(), serial));
        Ok(())
    }

    /// Blocks every card of one person.
    pub fn block_id_nat(&mut self, id_nat: &str) {
        self.id_nats.insert(id_nat.trim().to_owned());
    }

    /// Whether the certificate `serial` (hex) from `issuer` is blocked.
    pub fn blocks_certificate(&self, issuer: &str, serial: &str) -> bool {
        normalize_serial(serial)
            .is_some_and(|serial| self.certificates.contains(&(issuer.to_owned(), serial)))
    }

    /// Whether the person is blocked.
    pub fn blocks_id_nat(&self, id_nat: &str) -> bool {
        self.id_nats.contains(id_nat)
    }

    /// Whether nothing is blocked.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty() && self.id_nats.is_empty()
    }
}

/// Upper-case hex without separators or leading zeros (`"0"` for zero).
fn normalize_serial(serial: &str) -> Option<String> {
    let digits: String = serial.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0').to_ascii_uppercase();
    Some(if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_match_in_any_spelling() {
        let mut list = Blocklist::new();
        list.block_certificate("CN=CA", "00:1a:2B").unwrap();
        assert!(list.blocks_certificate("CN=CA", "1A2B"));
        assert!(!list.blocks_certificate("CN=Other", "1A2B"));
        assert!(!list.blocks_certificate("CN=CA", "1A2C"));
        assert!(list.block_certificate("CN=CA", "xyz").is_err());
    }

    #[test]
    fn toml_form_loads_and_rejects_unknown_keys() {
        let list = Blocklist::from_toml(
            "id_nats = [\"0751234567\"]\n[[certificates]]\nissuer = \"CN=CA\"\nserial = \"0F\"\n",
        )
        .unwrap();
        assert!(list.blocks_id_nat("0751234567"));
        assert!(list.blocks_certificate("CN=CA", "f"));
        assert!(Blocklist::from_toml("idnats = []").is_err());
    }
}
