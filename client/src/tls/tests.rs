//! Full handshakes in memory: the rustls client with the software card against a rustls
//! server that requires a client certificate from the test CA.

use std::sync::Mutex;

use rustls::server::WebPkiClientVerifier;
use rustls::{Connection, ProtocolVersion, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, ServerName};

use super::*;
use crate::card::Card;
use crate::error::CardError;
use crate::pin::Pin;
use crate::signer;
use crate::testing::{FakeCard, identity};

fn ca() -> CertificateDer<'static> {
    CertificateDer::from_pem_file(identity().dir.join("ca.pem")).expect("ca")
}

fn server_config(versions: &[&'static SupportedProtocolVersion]) -> Arc<ServerConfig> {
    let provider = Arc::new(ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca()).expect("root");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("verifier");
    let dir = &identity().dir;
    let cert = CertificateDer::from_pem_file(dir.join("server.pem")).expect("server cert");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server key");
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .expect("server config");
    Arc::new(config)
}

fn card_config(fake: FakeCard, pin: &str) -> ClientConfig {
    card_config_shared(fake, pin).0
}

fn card_config_shared(fake: FakeCard, pin: &str) -> (ClientConfig, SharedCard<FakeCard>) {
    let mut card = Card::open(fake).expect("open");
    let der = card.read_auth_certificate().expect("certificate");
    card.verify_pin(&Pin::new(pin).expect("pin"))
        .expect("verify");
    let mut roots = RootCertStore::empty();
    roots.add(ca()).expect("root");
    let card = Arc::new(Mutex::new(card));
    let config = client_config(Arc::clone(&card), vec![CertificateDer::from(der)], roots)
        .expect("client config");
    (config, card)
}

fn transfer(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut buffer = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buffer).expect("write to memory");
    }
    let mut slice = buffer.as_slice();
    while !slice.is_empty() {
        to.read_tls(&mut slice).expect("read from memory");
        to.process_new_packets()?;
    }
    Ok(())
}

/// Runs a handshake; returns the version and the client certificate the server saw.
fn handshake(
    client: ClientConfig,
    server: Arc<ServerConfig>,
) -> Result<(ProtocolVersion, Vec<u8>), rustls::Error> {
    let name = ServerName::try_from("localhost").expect("name");
    let mut client = Connection::from(rustls::ClientConnection::new(Arc::new(client), name)?);
    let mut server = Connection::from(rustls::ServerConnection::new(server)?);
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        transfer(&mut client, &mut server)?;
        transfer(&mut server, &mut client)?;
    }
    let version = server.protocol_version().expect("negotiated");
    let seen = server
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("client cert");
    Ok((version, seen.to_vec()))
}

#[test]
fn cps3_completes_tls_1_2_with_its_certificate() {
    let server = server_config(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let (version, seen) = handshake(card_config(FakeCard::cps3(), "1234"), server).expect("ok");
    assert_eq!(version, ProtocolVersion::TLSv1_2);
    assert_eq!(seen, identity().cert_der);
}

#[test]
fn cps4_completes_tls_1_3_with_its_certificate() {
    let server = server_config(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let (version, seen) = handshake(card_config(FakeCard::cps4(), "1234"), server).expect("ok");
    assert_eq!(version, ProtocolVersion::TLSv1_3);
    assert_eq!(seen, identity().cert_der);
}

#[test]
fn cps4_still_reaches_a_tls_1_2_only_server() {
    let server = server_config(&[&rustls::version::TLS12]);
    let (version, _) = handshake(card_config(FakeCard::cps4(), "1234"), server).expect("ok");
    assert_eq!(version, ProtocolVersion::TLSv1_2);
}

#[test]
fn a_card_pulled_before_the_signature_fails_the_handshake_with_a_card_error() {
    let (config, card) = card_config_shared(FakeCard::cps4(), "1234");
    lock(&card).transport_mut().present = false;
    let server = server_config(&[&rustls::version::TLS13]);
    let err = handshake(config, server).expect_err("card gone");
    assert!(
        signer::card_error(&err).is_some_and(CardError::is_card_gone),
        "{err}"
    );
}
