//! CPS card certificates for Vigie: who a card says its holder is, and whether the connector
//! should believe it.
//!
//! - [`Verifier`] validates a card's authentication certificate at admission: the chain to one
//!   of several configured IGC-Santé-shaped trust anchors (CPS3 and CPS4 cards, ELEMENTAIRE /
//!   STANDARD / FORT PERSONNES CAs, production and test hierarchies), validity at a caller-given
//!   time, EKU clientAuth, key usage, RSA-2048 and up, revocation by CRL (with a staleness grace
//!   after which admissions fail closed) and a local emergency [`Blocklist`]. Every refusal is a
//!   typed [`Refusal`] with a stable machine code.
//! - [`CardIdentity`] reads the holder from a certificate: the [`IdNat`] (RPPS with its Luhn key,
//!   ADELI, structure-based staff cards), names, profession, UPN, card serial and issuer.
//! - [`load`] reads trust anchors, intermediates and CRLs from an operator's files and folders.
//! - [`pki`] makes test worlds shaped like IGC-Santé (roots, PERSONNES CAs, cards, CRLs, the
//!   connector's server certificate); the `vigie-pki` binary is its command line.
//!
//! What this crate is not: it fetches nothing (the connector downloads CRLs from its own
//! configured URLs, never from URLs found in a client certificate), reads no clock (every check
//! takes `now`), and does not implement rustls' `ClientCertVerifier` — the connector wraps
//! [`Verifier::verify`] and [`Verifier::acceptable_issuer_subjects`] into one.
//!
//! ```text
//!  card leaf (+ optional intermediates)
//!        │
//!        ▼
//!  chain to anchors ─ EKU ─ key usage ─ key size ─ identity ─ blocklist ─ CRL freshness
//!   (rustls-webpki,                                (idNat,     (swappable) (swappable CRLs)
//!    CRL revocation)                                names)
//!        │
//!        ▼
//!  VerifiedCard { identity, issuer, serial, not_after }   or   Refusal (code, fault)
//! ```
#![forbid(unsafe_code)]

pub mod blocklist;
mod checks;
pub mod crl;
pub mod identity;
pub mod idnat;
pub mod load;
mod memo;
pub mod oids;
pub mod pem;
pub mod pki;
pub mod refusal;
pub mod verifier;

pub use blocklist::Blocklist;
pub use crl::{CrlError, CrlStatus};
pub use identity::{CardIdentity, IdentityError};
pub use idnat::{IdNat, IdNatError, IdNatKind};
pub use refusal::{Fault, Refusal};
pub use verifier::{ConfigError, TrustConfig, VerifiedCard, Verifier};
