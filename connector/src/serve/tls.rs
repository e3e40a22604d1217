//! The TLS side of admission: rustls server configurations for TCP and QUIC, and the client
//! certificate verifier that runs [`vigie_certs::Verifier`] inside the handshake.
//!
//! - TCP offers TLS 1.3 and TLS 1.2 (CPS3 cards sign only PKCS#1 v1.5, which TLS 1.3 does not
//!   allow in a CertificateVerify); QUIC is TLS 1.3 only.
//! - ECDHE with AES-GCM or ChaCha20-Poly1305 only; X25519, P-256 and P-384.
//! - ALPN `vigie/1`.
//! - No resumption of any kind: no session cache, no tickets, no 0-RTT. Every connection makes
//!   the card sign.
//! - A client certificate is mandatory. A refused one fails the handshake with the alert that
//!   fits ([`super::codes::certificate_error`]); nothing of Vigie's runs for that peer.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, ServerConfig};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use vigie_certs::CardIdentity;
use webpki::ring as algs;

use super::audit_sink::AuditSink;
use super::codes::certificate_error;
use super::handshakes::Verdicts;
use super::metrics::Metrics;
use crate::audit::{Actor, AuditEvent, AuditKind};

/// The ALPN protocol name of Vigie's control channel.
pub const ALPN: &[u8] = b"vigie/1";

/// Signatures a card (or a software stand-in) may make in a handshake.
static HANDSHAKE_SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        algs::RSA_PKCS1_2048_8192_SHA256,
        algs::RSA_PKCS1_2048_8192_SHA384,
        algs::RSA_PKCS1_2048_8192_SHA512,
        algs::ECDSA_P256_SHA256,
    ],
    mapping: &[
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[algs::RSA_PKCS1_2048_8192_SHA256],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[algs::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[algs::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[algs::ECDSA_P256_SHA256],
        ),
    ],
};

/// The ring provider cut down to ECDHE and AEAD suites, in the connector's order of
/// preference: AES-128-GCM with SHA-256 first (its handshake hashing runs on the processor's
/// SHA-256 instructions, where SHA-384 is computed in software; its strength matches the
/// 128-bit security of X25519 and P-256), then AES-256-GCM and ChaCha20-Poly1305.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..rustls::crypto::ring::default_provider()
    })
}

/// The connector's own certificate chain and key.
pub struct ServerIdentity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
}

/// The TCP configuration: TLS 1.3 and 1.2.
pub fn tcp_config(
    identity: &ServerIdentity,
    verifier: Arc<CardCertVerifier>,
) -> Result<ServerConfig, rustls::Error> {
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    server_config(identity, verifier, &versions)
}

/// The QUIC configuration: TLS 1.3 only.
pub fn quic_config(
    identity: &ServerIdentity,
    verifier: Arc<CardCertVerifier>,
) -> Result<ServerConfig, rustls::Error> {
    server_config(identity, verifier, &[&rustls::version::TLS13])
}

/// The SSO issuer's HTTPS configuration: TLS 1.3 and 1.2, no client certificate (browsers
/// come through their card-admitted tunnel, app servers authenticate with their secret).
pub fn web_config(identity: &ServerIdentity) -> Result<ServerConfig, rustls::Error> {
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn server_config(
    identity: &ServerIdentity,
    verifier: Arc<CardCertVerifier>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
    config.ignore_client_order = true;
    Ok(config)
}

/// Runs [`vigie_certs::Verifier::verify`] on the card certificate a client presents (keeping
/// an accepted verdict for the connection, [`Verdicts`]), audits refusals, and checks the
/// handshake signatures the card made.
pub struct CardCertVerifier {
    verdicts: Arc<Verdicts>,
    hints: Vec<DistinguishedName>,
    audit: AuditSink,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for CardCertVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardCertVerifier").finish_non_exhaustive()
    }
}

impl CardCertVerifier {
    /// A verifier over `verdicts`, auditing refusals to `audit` and counting them.
    pub fn new(verdicts: Arc<Verdicts>, audit: AuditSink, metrics: Arc<Metrics>) -> Self {
        let hints = verdicts
            .verifier()
            .acceptable_issuer_subjects()
            .iter()
            .map(|subject| DistinguishedName::from(subject.clone()))
            .collect();
        Self {
            verdicts,
            hints,
            audit,
            metrics,
        }
    }
}

impl ClientCertVerifier for CardCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .verdicts
            .verify_in_handshake(end_entity, intermediates, now)
        {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(refusal) => {
                self.metrics.refused("certificate", refusal.code());
                self.audit.offer(refusal_event(end_entity, &refusal));
                Err(rustls::Error::InvalidCertificate(certificate_error(
                    &refusal,
                )))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &HANDSHAKE_SIGNATURES)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &HANDSHAKE_SIGNATURES)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        HANDSHAKE_SIGNATURES.supported_schemes()
    }
}

/// The audit record of a certificate refused in a handshake; the holder is named when the
/// certificate can be read at all.
fn refusal_event(end_entity: &CertificateDer<'_>, refusal: &vigie_certs::Refusal) -> AuditEvent {
    let identity = CardIdentity::from_der(end_entity).ok();
    let actor = match &identity {
        Some(identity) => Actor::Card(identity.id_nat.to_string()),
        None => Actor::Connector,
    };
    let mut event = AuditEvent::new(AuditKind::AdmissionRefused, actor)
        .field("step", "certificate")
        .field("reason", refusal.code())
        .field("detail", refusal.to_string());
    if let Some(identity) = identity {
        event = event
            .field("id_nat", identity.id_nat.as_str())
            .field("card_serial", identity.card_serial)
            .field("card_issuer", identity.issuer);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_offers_only_aead_suites_with_forward_secrecy() {
        let provider = provider();
        for suite in &provider.cipher_suites {
            let name = format!("{:?}", suite.suite());
            assert!(
                name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_"),
                "{name}"
            );
            assert!(
                name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
                "{name}"
            );
        }
    }

    #[test]
    fn the_connector_prefers_aes_128_gcm_with_sha_256() {
        let suites = provider().cipher_suites.clone();
        let first = |tls13: bool| {
            suites
                .iter()
                .find(|s| format!("{:?}", s.suite()).starts_with("TLS13_") == tls13)
                .map(|s| s.suite())
        };
        assert_eq!(
            first(true),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        assert_eq!(
            first(false),
            Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
        );
        assert_eq!(
            suites.len(),
            9,
            "AES-256-GCM and ChaCha20 are still offered"
        );
    }

    #[test]
    fn cards_may_sign_pkcs1_and_pss() {
        let schemes = HANDSHAKE_SIGNATURES.supported_schemes();
        assert_eq!(schemes.len(), 7);
        assert!(schemes.contains(&SignatureScheme::RSA_PKCS1_SHA256));
        assert!(schemes.contains(&SignatureScheme::RSA_PSS_SHA256));
        assert!(!schemes.contains(&SignatureScheme::RSA_PKCS1_SHA1));
    }
}
