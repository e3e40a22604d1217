//! Admission-time validation of a card's authentication certificate: the chain to one of the
//! configured IGC-Santé-shaped anchors (rustls-webpki), EKU clientAuth, key usage, key size,
//! revocation (CRLs with a staleness grace), the emergency blocklist, and the identity.
//!
//! CRLs and the blocklist sit behind their own locks so the connector can replace them on its
//! refresh schedule while admissions go on; the trust anchors are fixed for a verifier's life.
//! Each replacement bumps the verifier's [`revision`](Verifier::revision), so a caller that
//! keeps a verdict for a moment knows when it no longer holds.
//!
//! The signatures over the configured intermediates and the loaded CRLs are checked once, not
//! at every admission ([`crate::memo`]); the card's own signature is checked every time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use der::{Decode, Encode};
use rustls_pki_types::SignatureVerificationAlgorithm;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExpirationPolicy, KeyUsage, RevocationCheckDepth};
use webpki::{RevocationOptionsBuilder, UnknownStatusPolicy};
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::blocklist::Blocklist;
use crate::checks;
use crate::crl::{CrlError, CrlSet, CrlSigner, CrlStatus};
use crate::identity::{CardIdentity, serial_hex};
use crate::memo::{Memoized, SignatureMemo};
use crate::refusal::Refusal;

/// What the verifier trusts and how strict it is about revocation.
#[derive(Clone, Debug)]
pub struct TrustConfig {
    /// Root CAs (the `AC RACINE IGC-SANTE …` certificates, production and/or test).
    pub roots: Vec<CertificateDer<'static>>,
    /// Known intermediates (the `… PERSONNES` CAs). Real cards send only their leaf, so the
    /// verifier finds the issuer here.
    pub intermediates: Vec<CertificateDer<'static>>,
    /// CRLs (DER), at most one per issuer is kept: the newest.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// How long past a CRL's nextUpdate admissions still succeed. Default: one day.
    pub crl_grace: Duration,
    /// Whether a card whose issuer has no loaded CRL is refused. Default: yes.
    pub require_crl: bool,
    /// The emergency blocklist at start-up.
    pub blocklist: Blocklist,
    /// Smallest accepted RSA modulus for the card key. Default: 2048.
    pub min_rsa_bits: usize,
}

impl TrustConfig {
    /// A configuration with the given anchors and the default policy.
    pub fn new(
        roots: Vec<CertificateDer<'static>>,
        intermediates: Vec<CertificateDer<'static>>,
    ) -> Self {
        Self {
            roots,
            intermediates,
            crls: Vec::new(),
            crl_grace: Duration::from_secs(24 * 3600),
            require_crl: true,
            blocklist: Blocklist::new(),
            min_rsa_bits: 2048,
        }
    }
}

/// Why a [`TrustConfig`] cannot make a verifier: a local configuration mistake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No root was configured, so no card could ever be admitted.
    #[error("no trust anchor is configured; add the IGC-Santé root certificates")]
    NoRoots,
    /// A root certificate cannot serve as a trust anchor.
    #[error("trust anchor #{index} is not a usable certificate: {detail}")]
    BadRoot {
        /// Position in the list.
        index: usize,
        /// The parser's diagnosis.
        detail: String,
    },
    /// An intermediate is not a certificate.
    #[error("intermediate #{index} is not a usable certificate: {detail}")]
    BadIntermediate {
        /// Position in the list.
        index: usize,
        /// The parser's diagnosis.
        detail: String,
    },
    /// A CRL cannot be read.
    #[error(transparent)]
    Crl(#[from] CrlError),
}

/// A card that passed every check, with who it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCard {
    /// The holder and the card.
    pub identity: CardIdentity,
    /// The issuing CA's DN.
    pub issuer: String,
    /// The certificate serial, upper-case hex.
    pub serial: String,
    /// End of the certificate's validity, seconds since the Unix epoch: a session should not
    /// outlive it.
    pub not_after: u64,
}

/// Validates card certificates against fixed anchors and replaceable revocation data.
#[derive(Debug)]
pub struct Verifier {
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    issuer_subjects: Vec<Vec<u8>>,
    crl_signers: Vec<CrlSigner>,
    crl_grace: u64,
    require_crl: bool,
    min_rsa_bits: usize,
    crls: RwLock<Arc<CrlSet>>,
    blocklist: RwLock<Arc<Blocklist>>,
    /// Bumped by every change of the CRLs or the blocklist.
    revision: AtomicU64,
    /// The chain's signature algorithms, behind the memo of CA and CRL signatures.
    algorithms: Vec<Memoized>,
    memo: Arc<SignatureMemo>,
    /// The signed parts of the intermediates, whose signatures the memo may keep.
    intermediate_tbs: Vec<Vec<u8>>,
    /// Every configured CA's subject and its RFC 4514 text, so a card's issuer is not written
    /// out anew at each admission.
    ca_names: Vec<(Name, String)>,
}

impl Verifier {
    /// Builds a verifier; fails on a configuration that could never admit anyone or cannot be
    /// read.
    pub fn new(config: TrustConfig) -> Result<Self, ConfigError> {
        if config.roots.is_empty() {
            return Err(ConfigError::NoRoots);
        }
        let anchors = trust_anchors(&config.roots)?;
        let (issuer_subjects, crl_signers) = ca_facts(&config.roots, &config.intermediates)?;
        let crls = CrlSet::parse(&config.crls, &crl_signers)?;
        let intermediate_tbs = signed_parts(&config.intermediates);
        let ca_names = ca_names(&config.roots, &config.intermediates);
        let memo = Arc::new(SignatureMemo::new(memo_messages(&intermediate_tbs, &crls)));
        let algorithms = Memoized::all(checks::SIGNATURE_ALGORITHMS, &memo);
        Ok(Self {
            anchors,
            intermediates: config.intermediates,
            issuer_subjects,
            crl_signers,
            crl_grace: config.crl_grace.as_secs(),
            require_crl: config.require_crl,
            min_rsa_bits: config.min_rsa_bits,
            crls: RwLock::new(Arc::new(crls)),
            blocklist: RwLock::new(Arc::new(config.blocklist)),
            revision: AtomicU64::new(0),
            algorithms,
            memo,
            intermediate_tbs,
            ca_names,
        })
    }

    /// Checks a card's authentication certificate at `now`.
    ///
    /// `presented` are the intermediates the client sent, if any; the configured ones are always
    /// searched too, so a bare leaf (what real CPS clients send) is enough.
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        presented: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedCard, Refusal> {
        let verdict = self.decide(end_entity, presented, now);
        match &verdict {
            Ok(card) => tracing::debug!(
                id_nat = %card.identity.id_nat,
                serial = %card.serial,
                "card certificate accepted"
            ),
            Err(refusal) => {
                tracing::debug!(code = refusal.code(), %refusal, "card certificate refused")
            }
        }
        verdict
    }

    fn decide(
        &self,
        end_entity: &CertificateDer<'_>,
        presented: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedCard, Refusal> {
        let cert = Certificate::from_der(end_entity).map_err(|e| malformed(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let serial = serial_hex(tbs.serial_number.as_bytes());
        let issuer = self.issuer_text(&tbs.issuer);
        let crls = self.crl_snapshot();
        self.check_chain(end_entity, presented, now, &crls)
            .map_err(|e| checks::map_webpki_error(e, &serial, &issuer))?;
        checks::extended_key_usage(&cert)?;
        checks::key_usage(&cert)?;
        checks::key_size(&cert, self.min_rsa_bits)?;
        let identity =
            CardIdentity::with_issuer_text(&cert, issuer.clone()).map_err(Refusal::BadIdentity)?;
        self.check_blocklist(&identity)?;
        self.check_crl_freshness(&crls, &cert, now.as_secs())?;
        Ok(VerifiedCard {
            identity,
            issuer,
            serial,
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
        })
    }

    /// The RFC 4514 text of `issuer`: known by heart for a configured CA.
    fn issuer_text(&self, issuer: &Name) -> String {
        match self.ca_names.iter().find(|(name, _)| name == issuer) {
            Some((_, text)) => text.clone(),
            None => issuer.to_string(),
        }
    }

    fn check_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        presented: &[CertificateDer<'_>],
        now: UnixTime,
        crls: &CrlSet,
    ) -> Result<(), webpki::Error> {
        let ee = EndEntityCert::try_from(end_entity)?;
        let intermediates: Vec<CertificateDer<'_>> = presented
            .iter()
            .chain(&self.intermediates)
            .map(|c| CertificateDer::from(c.as_ref()))
            .collect();
        let crl_refs: Vec<_> = crls.crls.iter().map(|c| &c.crl).collect();
        let status_policy = match self.require_crl {
            true => UnknownStatusPolicy::Deny,
            false => UnknownStatusPolicy::Allow,
        };
        let revocation = RevocationOptionsBuilder::new(&crl_refs)
            .ok()
            .map(|builder| {
                builder
                    .with_depth(RevocationCheckDepth::EndEntity)
                    .with_status_policy(status_policy)
                    .with_expiration_policy(ExpirationPolicy::Ignore)
                    .build()
            });
        // Required-if-present: webpki applies it to the CAs too, which carry no EKU. The leaf's
        // EKU must be present, which `checks::extended_key_usage` enforces.
        let usage = KeyUsage::client_auth();
        let algs: Vec<&dyn SignatureVerificationAlgorithm> = self
            .algorithms
            .iter()
            .map(|a| a as &dyn SignatureVerificationAlgorithm)
            .collect();
        ee.verify_for_usage(
            &algs,
            &self.anchors,
            &intermediates,
            now,
            usage,
            revocation,
            None,
        )?;
        Ok(())
    }

    fn check_blocklist(&self, identity: &CardIdentity) -> Result<(), Refusal> {
        let blocklist = self.blocklist_snapshot();
        if blocklist.blocks_certificate(&identity.issuer, &identity.card_serial) {
            return Err(Refusal::BlocklistedCertificate {
                serial: identity.card_serial.clone(),
                issuer: identity.issuer.clone(),
            });
        }
        if blocklist.blocks_id_nat(identity.person_key()) {
            return Err(Refusal::BlocklistedIdNat {
                id_nat: identity.person_key().to_owned(),
            });
        }
        Ok(())
    }

    fn check_crl_freshness(
        &self,
        crls: &CrlSet,
        cert: &Certificate,
        now: u64,
    ) -> Result<(), Refusal> {
        let issuer = &cert.tbs_certificate.issuer;
        match crls.for_issuer(issuer) {
            Some(crl) if crl.is_stale(now, self.crl_grace) => Err(Refusal::StaleCrl {
                issuer: issuer.to_string(),
                next_update: crl.next_update.unwrap_or_default(),
            }),
            None if self.require_crl => Err(Refusal::RevocationUnknown {
                detail: format!("no CRL is loaded for {issuer}"),
            }),
            _ => Ok(()),
        }
    }

    /// Replaces every CRL at once (the connector's scheduled refresh). Each CRL must be signed
    /// by a configured CA; where the loaded CRL of an issuer is newer than the one given, the
    /// loaded one stays, so a replayed old CRL cannot un-revoke a card. On error nothing changes.
    ///
    /// Live sessions are not re-judged here: the caller calls [`verify`](Self::verify) again on
    /// each session's stored leaf after a swap and ends those that are now refused.
    pub fn update_crls(&self, crls: &[CertificateRevocationListDer<'_>]) -> Result<(), CrlError> {
        let set = CrlSet::parse(crls, &self.crl_signers)?;
        let set = Arc::new(set.keep_newer_than(&self.crl_snapshot()));
        tracing::debug!(count = set.crls.len(), "CRLs replaced");
        self.memo
            .allow_only(memo_messages(&self.intermediate_tbs, &set));
        *self.crls.write().unwrap_or_else(PoisonError::into_inner) = set;
        self.revision.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Replaces the emergency blocklist; the next `verify` call sees it.
    pub fn set_blocklist(&self, blocklist: Blocklist) {
        tracing::debug!(empty = blocklist.is_empty(), "blocklist replaced");
        *self
            .blocklist
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(blocklist);
        self.revision.fetch_add(1, Ordering::SeqCst);
    }

    /// A number that changes whenever the CRLs or the blocklist are replaced: a verdict taken
    /// at one revision may be reused only while the revision is the same (and the moment the
    /// verdict was for is close enough to count as now).
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// The current blocklist.
    pub fn blocklist(&self) -> Arc<Blocklist> {
        self.blocklist_snapshot()
    }

    /// The freshness of every loaded CRL at `now`, for monitoring and warnings.
    pub fn crl_statuses(&self, now: UnixTime) -> Vec<CrlStatus> {
        let crls = self.crl_snapshot();
        crls.crls
            .iter()
            .map(|crl| crl.status(now.as_secs(), self.crl_grace))
            .collect()
    }

    /// DER-encoded subject names (outer SEQUENCE included) of every configured root and
    /// intermediate: the `certificate_authorities` hints of a TLS `CertificateRequest`.
    pub fn acceptable_issuer_subjects(&self) -> &[Vec<u8>] {
        &self.issuer_subjects
    }

    fn crl_snapshot(&self) -> Arc<CrlSet> {
        Arc::clone(&self.crls.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn blocklist_snapshot(&self) -> Arc<Blocklist> {
        Arc::clone(
            &self
                .blocklist
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

fn trust_anchors(roots: &[CertificateDer<'_>]) -> Result<Vec<TrustAnchor<'static>>, ConfigError> {
    let anchor = |(index, root)| {
        webpki::anchor_from_trusted_cert(root)
            .map(|anchor| anchor.to_owned())
            .map_err(|e| ConfigError::BadRoot {
                index,
                detail: format!("{e:?}"),
            })
    };
    roots.iter().enumerate().map(anchor).collect()
}

/// Every CA's subject (DER, for TLS hints) and CRL-signing key, roots first.
fn ca_facts(
    roots: &[CertificateDer<'_>],
    intermediates: &[CertificateDer<'_>],
) -> Result<(Vec<Vec<u8>>, Vec<CrlSigner>), ConfigError> {
    let mut subjects = Vec::new();
    let mut signers = Vec::new();
    for (index, root) in roots.iter().enumerate() {
        let (subject, signer) =
            ca_fact(root).map_err(|detail| ConfigError::BadRoot { index, detail })?;
        subjects.push(subject);
        signers.push(signer);
    }
    for (index, ca) in intermediates.iter().enumerate() {
        let bad = |detail| ConfigError::BadIntermediate { index, detail };
        let (subject, signer) = ca_fact(ca).map_err(bad)?;
        subjects.push(subject);
        signers.push(signer);
    }
    Ok((subjects, signers))
}

fn ca_fact(cert: &CertificateDer<'_>) -> Result<(Vec<u8>, CrlSigner), String> {
    let parsed = Certificate::from_der(cert).map_err(|e| e.to_string())?;
    let subject = parsed
        .tbs_certificate
        .subject
        .to_der()
        .map_err(|e| e.to_string())?;
    let signer = CrlSigner::from_certificate(&parsed).map_err(|e| e.to_string())?;
    Ok((subject, signer))
}

/// The subject of every configured CA that parses, with its text.
fn ca_names(
    roots: &[CertificateDer<'_>],
    intermediates: &[CertificateDer<'_>],
) -> Vec<(Name, String)> {
    roots
        .iter()
        .chain(intermediates)
        .filter_map(|der| Certificate::from_der(der).ok())
        .map(|cert| {
            let subject = cert.tbs_certificate.subject;
            let text = subject.to_string();
            (subject, text)
        })
        .collect()
}

/// The signed part of each certificate that has one (others are left to path building).
fn signed_parts(certificates: &[CertificateDer<'_>]) -> Vec<Vec<u8>> {
    certificates
        .iter()
        .filter_map(|c| crate::crl::first_element(c).ok().map(<[u8]>::to_vec))
        .collect()
}

/// What the memo may remember signatures over: the intermediates and the loaded CRLs.
fn memo_messages<'a>(
    intermediates: &'a [Vec<u8>],
    crls: &'a CrlSet,
) -> impl Iterator<Item = &'a [u8]> {
    let crls = crls.crls.iter().map(|c| c.tbs.as_slice());
    intermediates.iter().map(Vec::as_slice).chain(crls)
}

fn malformed(detail: String) -> Refusal {
    Refusal::Malformed { detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_strict() {
        let config = TrustConfig::new(vec![], vec![]);
        assert!(config.require_crl);
        assert_eq!(config.min_rsa_bits, 2048);
        assert_eq!(config.crl_grace, Duration::from_secs(86_400));
        assert!(matches!(Verifier::new(config), Err(ConfigError::NoRoots)));
    }

    #[test]
    fn the_verifier_can_be_shared_between_connection_tasks() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Verifier>();
        shareable::<VerifiedCard>();
    }

    #[test]
    fn a_bad_intermediate_is_named_by_its_own_index() {
        let garbage = CertificateDer::from(vec![0x30, 0x00]);
        assert!(matches!(
            ca_facts(&[], &[garbage]),
            Err(ConfigError::BadIntermediate { index: 0, .. })
        ));
    }
}
