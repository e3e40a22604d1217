//! The control channel's TLS configuration: the card layer's client configuration, with the
//! connector's CA as the only trust anchor, the `vigie/1` ALPN, no session resumption, and
//! card signatures moved off the async core threads.
//!
//! rustls calls the signer synchronously from inside the handshake, which tokio-rustls and
//! quinn drive on runtime tasks. A card signature blocks for hundreds of milliseconds, so
//! [`BlockingResolver`] wraps the card's key in one whose signatures run inside
//! [`tokio::task::block_in_place`]: the runtime hands the thread's other tasks to another
//! worker while the card works. This needs the multi-threaded runtime.

use std::path::Path;
use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{ClientConfig, RootCertStore, SignatureAlgorithm, SignatureScheme};

use super::error::UpError;
use crate::pcsc_transport::PcscTransport;
use crate::signer::SharedCard;
use crate::tls;

/// The control channel's ALPN: what the connector serves on QUIC and TLS/TCP.
pub const ALPN: &[u8] = b"vigie/1";

/// The trust anchors for the connector's certificate, from a PEM file.
pub fn server_roots(path: &Path) -> Result<RootCertStore, UpError> {
    let file_error = |detail: String| UpError::File {
        path: path.to_owned(),
        detail,
    };
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(format!("cannot read it ({e}); check --server-ca")))?;
    for certificate in certificates {
        let certificate =
            certificate.map_err(|e| file_error(format!("not a PEM certificate ({e})")))?;
        roots
            .add(certificate)
            .map_err(|e| file_error(format!("not a usable CA certificate ({e})")))?;
    }
    if roots.is_empty() {
        return Err(file_error(
            "holds no certificate; --server-ca must name the connector's CA in PEM".into(),
        ));
    }
    Ok(roots)
}

/// The client configuration for the card, ready for QUIC or TLS/TCP.
pub fn client_config(
    card: SharedCard<PcscTransport>,
    certificate: Vec<u8>,
    roots: RootCertStore,
) -> Result<ClientConfig, UpError> {
    let chain = vec![CertificateDer::from(certificate)];
    let mut config = tls::client_config(card, chain, roots)
        .map_err(|e| UpError::Config(format!("cannot set up TLS for this card: {e}")))?;
    config.client_auth_cert_resolver = Arc::new(BlockingResolver(Arc::clone(
        &config.client_auth_cert_resolver,
    )));
    config.alpn_protocols = vec![ALPN.to_vec()];
    // Every connection shows the card again: resumed TLS sessions would skip the card.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Hands out the card's key wrapped so its signatures block in place.
#[derive(Debug)]
struct BlockingResolver(Arc<dyn ResolvesClientCert>);

impl ResolvesClientCert for BlockingResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let inner = self.0.resolve(root_hint_subjects, sigschemes)?;
        let key = Arc::new(BlockingKey(Arc::clone(&inner.key)));
        Some(Arc::new(CertifiedKey::new(inner.cert.clone(), key)))
    }

    fn has_certs(&self) -> bool {
        self.0.has_certs()
    }
}

#[derive(Debug)]
struct BlockingKey(Arc<dyn SigningKey>);

impl SigningKey for BlockingKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let signer = self.0.choose_scheme(offered)?;
        Some(Box::new(BlockingSigner(signer)))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
}

#[derive(Debug)]
struct BlockingSigner(Box<dyn Signer>);

impl Signer for BlockingSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        tokio::task::block_in_place(|| self.0.sign(message))
    }

    fn scheme(&self) -> SignatureScheme {
        self.0.scheme()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_with_the_flag_to_fix() {
        let dir = std::env::temp_dir().join(format!("vigie-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "nothing here\n").expect("write");
        let error = server_roots(&empty).expect_err("no certificate");
        assert!(error.to_string().contains("--server-ca"), "{error}");
        let missing = server_roots(&dir.join("missing.pem")).expect_err("no file");
        assert!(
            missing.to_string().contains("check --server-ca"),
            "{missing}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
