//! The rustls client configuration for a card: which TLS versions, which certificate, which
//! server to trust.
//!
//! A CPS3 signs only PKCS#1 v1.5, which TLS 1.3 forbids for CertificateVerify, so its
//! configuration offers TLS 1.2 only. A CPS4 signs RSA-PSS too, so it offers TLS 1.3 first and
//! keeps TLS 1.2 for connectors that have not moved yet. The crypto provider is `ring`.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::crypto::ring;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use rustls_pki_types::CertificateDer;

use crate::atr::Generation;
use crate::signer::{CardSigningKey, SharedCard, lock};
use crate::transport::CardTransport;

static TLS12_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
static TLS13_FIRST: [&SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];

/// The TLS versions a card of `generation` can complete a handshake with.
pub fn protocol_versions(generation: Generation) -> &'static [&'static SupportedProtocolVersion] {
    match generation {
        Generation::Cps3 => &TLS12_ONLY,
        Generation::Cps4 => &TLS13_FIRST,
    }
}

/// A client configuration that authenticates with the card.
///
/// `chain` is the card's authentication certificate first (CPS clients usually send the leaf
/// alone); `roots` are the trust anchors of the connector's server certificate.
pub fn client_config<T: CardTransport + 'static>(
    card: SharedCard<T>,
    chain: Vec<CertificateDer<'static>>,
    roots: RootCertStore,
) -> Result<ClientConfig, rustls::Error> {
    let generation = lock(&card).generation();
    let key = Arc::new(CardSigningKey::new(card));
    let resolver = CardCertResolver {
        schemes: key.tls_schemes(),
        certified: Arc::new(CertifiedKey::new(chain, key)),
    };
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(protocol_versions(generation))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(resolver));
    Ok(config)
}

/// Always answers a certificate request with the card's certificate, when the server accepts
/// a scheme the card can make.
#[derive(Debug)]
struct CardCertResolver {
    schemes: Vec<SignatureScheme>,
    certified: Arc<CertifiedKey>,
}

impl ResolvesClientCert for CardCertResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let usable = self.schemes.iter().any(|s| sigschemes.contains(s));
        usable.then(|| Arc::clone(&self.certified))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
