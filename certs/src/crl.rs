//! Certificate revocation lists as loaded by the connector: parsed once, checked against the
//! configured CAs (a CRL must be signed by one of them), indexed by issuer, with their update
//! times so staleness can be judged against a caller-given `now`.
//!
//! Fetching is not done here: the connector downloads CRLs from URLs in its own configuration
//! (never from URLs found in a client certificate) and hands the DER to
//! [`Verifier::update_crls`](crate::Verifier::update_crls).

use std::sync::Arc;

use der::{Decode, Encode, Header, Reader, SliceReader};
use rustls_pki_types::CertificateRevocationListDer;
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;

use crate::checks::SIGNATURE_ALGORITHMS;

/// A parsed, signature-checked CRL with the facts the verifier needs.
#[derive(Debug)]
pub(crate) struct LoadedCrl {
    pub(crate) crl: CertRevocationList<'static>,
    /// The signed part (DER), whose signature the verifier checks once ([`crate::memo`]).
    pub(crate) tbs: Vec<u8>,
    pub(crate) issuer: Name,
    pub(crate) this_update: u64,
    pub(crate) next_update: Option<u64>,
}

/// Why a CRL was not accepted. Nothing is replaced when one CRL of a batch is refused.
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
    /// The CRL names an issuer that is not a configured root or intermediate.
    #[error("CRL #{index} is issued by {issuer}, which is not a configured CA; check the CRL URL")]
    UnknownIssuer {
        /// Position in the list given.
        index: usize,
        /// The issuer it names.
        issuer: String,
    },
    /// The CRL's signature does not verify with its issuer's key: corrupted or forged.
    #[error("CRL #{index} claims to come from {issuer} but its signature does not verify")]
    BadSignature {
        /// Position in the list given.
        index: usize,
        /// The issuer it names.
        issuer: String,
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

/// A CA that may sign CRLs: its subject and public key.
#[derive(Clone, Debug)]
pub(crate) struct CrlSigner {
    subject: Name,
    key_algorithm: Vec<u8>,
    key: Vec<u8>,
}

impl CrlSigner {
    pub(crate) fn from_certificate(cert: &Certificate) -> der::Result<Self> {
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        Ok(Self {
            subject: tbs.subject.clone(),
            key_algorithm: sequence_contents(&spki.algorithm.to_der()?)?,
            key: spki.subject_public_key.raw_bytes().to_vec(),
        })
    }
}

/// All loaded CRLs; at most one (the newest) per issuer.
#[derive(Debug, Default)]
pub(crate) struct CrlSet {
    pub(crate) crls: Vec<Arc<LoadedCrl>>,
}

impl CrlSet {
    pub(crate) fn parse(
        ders: &[CertificateRevocationListDer<'_>],
        signers: &[CrlSigner],
    ) -> Result<Self, CrlError> {
        let mut set = Self::default();
        for (index, der) in ders.iter().enumerate() {
            set.insert(Arc::new(load(index, der.as_ref(), signers)?));
        }
        Ok(set)
    }

    /// Keeps the newer CRL per issuer, so a replayed older CRL cannot un-revoke a card.
    fn insert(&mut self, loaded: Arc<LoadedCrl>) {
        match self.crls.iter_mut().find(|c| c.issuer == loaded.issuer) {
            Some(existing) if existing.this_update > loaded.this_update => {
                tracing::debug!(issuer = %loaded.issuer, "two CRLs of one issuer: kept the newer");
            }
            Some(existing) => *existing = loaded,
            None => self.crls.push(loaded),
        }
    }

    /// The CRLs of `self`, except where `current` holds a newer one for the same issuer: then
    /// that one, so a replayed older CRL cannot un-revoke a card.
    pub(crate) fn keep_newer_than(mut self, current: &CrlSet) -> Self {
        for loaded in &current.crls {
            let Some(new) = self.crls.iter_mut().find(|c| c.issuer == loaded.issuer) else {
                continue;
            };
            if new.this_update < loaded.this_update {
                tracing::warn!(issuer = %loaded.issuer, "kept the loaded CRL: the new one is older");
                *new = Arc::clone(loaded);
            }
        }
        self
    }

    pub(crate) fn for_issuer(&self, issuer: &Name) -> Option<&LoadedCrl> {
        self.crls.iter().find(|c| &c.issuer == issuer).map(|c| &**c)
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

fn load(index: usize, der: &[u8], signers: &[CrlSigner]) -> Result<LoadedCrl, CrlError> {
    let malformed = |detail: String| CrlError::Malformed { index, detail };
    let parsed = CertificateList::from_der(der).map_err(|e| malformed(e.to_string()))?;
    let owned = OwnedCertRevocationList::from_der(der).map_err(|e| malformed(format!("{e:?}")))?;
    let tbs = parsed.tbs_cert_list;
    let issuer_text = || tbs.issuer.to_string();
    let signer = signers
        .iter()
        .find(|s| s.subject == tbs.issuer)
        .ok_or_else(|| CrlError::UnknownIssuer {
            index,
            issuer: issuer_text(),
        })?;
    let signed = first_element(der).map_err(|e| malformed(e.to_string()))?;
    let algorithm = sequence_contents(
        &parsed
            .signature_algorithm
            .to_der()
            .map_err(|e| malformed(e.to_string()))?,
    )
    .map_err(|e| malformed(e.to_string()))?;
    if !signature_valid(signer, &algorithm, signed, parsed.signature.raw_bytes()) {
        return Err(CrlError::BadSignature {
            index,
            issuer: issuer_text(),
        });
    }
    Ok(LoadedCrl {
        crl: CertRevocationList::from(owned),
        tbs: signed.to_vec(),
        this_update: tbs.this_update.to_unix_duration().as_secs(),
        next_update: tbs.next_update.map(|t| t.to_unix_duration().as_secs()),
        issuer: tbs.issuer,
    })
}

fn signature_valid(signer: &CrlSigner, algorithm: &[u8], message: &[u8], signature: &[u8]) -> bool {
    SIGNATURE_ALGORITHMS.iter().any(|alg| {
        alg.signature_alg_id().as_ref() == algorithm
            && alg.public_key_alg_id().as_ref() == signer.key_algorithm.as_slice()
            && alg
                .verify_signature(&signer.key, message, signature)
                .is_ok()
    })
}

/// The raw TLV of the first element of a DER SEQUENCE (the signed part of a CRL).
pub(crate) fn first_element(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(der)?;
    Header::decode(&mut reader)?;
    reader.tlv_bytes()
}

/// The contents of a DER SEQUENCE, without its tag and length.
fn sequence_contents(der: &[u8]) -> der::Result<Vec<u8>> {
    let mut reader = SliceReader::new(der)?;
    let header = Header::decode(&mut reader)?;
    Ok(reader.read_slice(header.length)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_reported_with_its_position() {
        let ders = [CertificateRevocationListDer::from(vec![0x30, 0x00])];
        let err = CrlSet::parse(&ders, &[]).unwrap_err();
        assert!(err.to_string().contains("CRL #0"), "{err}");
    }

    #[test]
    fn der_helpers_split_sequences() {
        let der = [0x30, 0x05, 0x02, 0x01, 0x07, 0x05, 0x00];
        assert_eq!(first_element(&der).unwrap(), &[0x02, 0x01, 0x07]);
        assert_eq!(
            sequence_contents(&der).unwrap(),
            vec![0x02, 0x01, 0x07, 0x05, 0x00]
        );
        assert!(first_element(&[0x30, 0x05, 0x02]).is_err());
    }
}
