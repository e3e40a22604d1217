//! Certificate revocation lists as loaded by the connector: parsed once, indexed by issuer, with
//! their update times so staleness can be judged against a caller-given `now`.
//!
//! Fetching is not done here: the connector downloads CRLs from URLs in its own configuration
//! (never from URLs found in a client certificate) and hands the DER to
//! [`Verifier::update_crls`](crate::Verifier::update_crls).

use der::Decode;
use rustls_pki_types::CertificateRevocationListDer;
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;

/// A parsed CRL with the facts the verifier needs.
#[derive(Debug)]
pub(crate) struct LoadedCrl {
    pub(crate) crl: CertRevocationList<'static>,
    pub(crate) issuer: Name,
    pub(crate) this_update: u64,
    pub(crate) next_update: Option<u64>,
}

/// Why a CRL was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// The bytes are not a CRL this validator understands.
    #[error("CRL #{index} is not a usable X.509 v2 CRL: {detail}")]
    Malformed {
        /// Position in the list given.
        index: usize,
        /// The parser's diagnosis.
        detail: String,
    },
}

/// The freshness of one loaded CRL, for monitoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlStatus {
    /// The issuing CA's DN.
    pub issuer: String,
    /// thisUpdate, seconds since the Unix epoch.
    pub this_update: u64,
    /// nextUpdate, if the CRL has one.
    pub next_update: Option<u64>,
    /// Whether it is past nextUpdate plus the grace, so admissions under it fail closed.
    pub stale: bool,
}

/// All loaded CRLs; at most one (the newest) per issuer.
#[derive(Debug, Default)]
pub(crate) struct CrlSet {
    pub(crate) crls: Vec<LoadedCrl>,
}

impl CrlSet {
    pub(crate) fn parse(ders: &[CertificateRevocationListDer<'_>]) -> Result<Self, CrlError> {
        let mut set = Self::default();
        for (index, der) in ders.iter().enumerate() {
            let loaded = parse_one(der).map_err(|detail| CrlError::Malformed { index, detail })?;
            set.insert(loaded);
        }
        Ok(set)
    }

    fn insert(&mut self, loaded: LoadedCrl) {
        match self.crls.iter_mut().find(|c| c.issuer == loaded.issuer) {
            Some(existing) if existing.this_update >= loaded.this_update => {}
            Some(existing) => *existing = loaded,
            None => self.crls.push(loaded),
        }
    }

    pub(crate) fn for_issuer(&self, issuer: &Name) -> Option<&LoadedCrl> {
        self.crls.iter().find(|c| &c.issuer == issuer)
    }
}

impl LoadedCrl {
    /// Whether admissions under this CRL must fail closed at `now`.
    pub(crate) fn is_stale(&self, now: u64, grace_secs: u64) -> bool {
        self.next_update
            .is_some_and(|next| now > next.saturating_add(grace_secs))
    }

    pub(crate) fn status(&self, now: u64, grace_secs: u64) -> CrlStatus {
        CrlStatus {
            issuer: self.issuer.to_string(),
            this_update: self.this_update,
            next_update: self.next_update,
            stale: self.is_stale(now, grace_secs),
        }
    }
}

fn parse_one(der: &CertificateRevocationListDer<'_>) -> Result<LoadedCrl, String> {
    let parsed = CertificateList::from_der(der.as_ref()).map_err(|e| e.to_string())?;
    let owned = OwnedCertRevocationList::from_der(der.as_ref()).map_err(|e| format!("{e:?}"))?;
    let tbs = parsed.tbs_cert_list;
    Ok(LoadedCrl {
        crl: CertRevocationList::from(owned),
        issuer: tbs.issuer,
        this_update: tbs.this_update.to_unix_duration().as_secs(),
        next_update: tbs.next_update.map(|t| t.to_unix_duration().as_secs()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_reported_with_its_position() {
        let ders = [CertificateRevocationListDer::from(vec![0x30, 0x00])];
        let err = CrlSet::parse(&ders).unwrap_err();
        assert!(err.to_string().contains("CRL #0"), "{err}");
    }
}
