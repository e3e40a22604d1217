//! Mutual TLS with the card's key: the rustls client with the card signer (through a real
//! pcscd and the virtual card) against an in-process rustls server on loopback that requires
//! a client certificate from the test IGC-Santé hierarchy. A CPS3 can only make PKCS#1 v1.5
//! signatures, so it negotiates TLS 1.2; a CPS4 signs RSA-PSS and negotiates TLS 1.3.

mod client_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use client_support::{Lab, world};
use vigie_client::card::Card;
use vigie_client::rustls::crypto::ring;
use vigie_client::rustls::pki_types::pem::PemObject;
use vigie_client::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use vigie_client::rustls::server::WebPkiClientVerifier;
use vigie_client::rustls::{
    self, ClientConnection, ProtocolVersion, RootCertStore, ServerConfig, ServerConnection,
    StreamOwned,
};
use vigie_client::{Pin, signer, tls};

/// The roots of the three test PERSONNES/ORGANISATIONS hierarchies.
fn roots(dir: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for entry in std::fs::read_dir(dir.join("trust/roots")).expect("trust/roots") {
        let path = entry.expect("entry").path();
        for cert in CertificateDer::pem_file_iter(&path).expect("pem") {
            roots
                .add(cert.expect("root certificate"))
                .expect("add root");
        }
    }
    roots
}

/// A server that requires a card certificate, offering TLS 1.3 and 1.2 like the connector.
fn server_config(dir: &Path) -> Arc<ServerConfig> {
    let provider = Arc::new(ring::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(dir)), provider.clone())
            .build()
            .expect("client verifier");
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("connector/server-chain.pem"))
            .expect("server chain")
            .collect::<Result<_, _>>()
            .expect("server chain certificates");
    let key =
        PrivateKeyDer::from_pem_file(dir.join("connector/server.key.pem")).expect("server key");
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    Arc::new(config)
}

/// What the server saw of one handshake.
struct Seen {
    version: ProtocolVersion,
    client_cert: Vec<u8>,
}

/// Accepts one connection, completes the handshake, says hello.
fn serve_once(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> JoinHandle<Result<Seen, String>> {
    std::thread::spawn(move || {
        let (socket, _) = listener.accept().map_err(|e| e.to_string())?;
        let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, socket);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| format!("server handshake: {e}"))?;
        }
        tls.write_all(b"hello").map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        let version = tls.conn.protocol_version().ok_or("no version")?;
        let client_cert = tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no client certificate")?;
        Ok(Seen {
            version,
            client_cert: client_cert.to_vec(),
        })
    })
}

/// A client configuration signing with `name`'s card, PIN verified; and the card's leaf.
fn card_client(lab: &Lab) -> (rustls::ClientConfig, Vec<u8>) {
    let world = world();
    let mut card = Card::open(lab.connect()).expect("open the card");
    let leaf = card.read_auth_certificate().expect("certificate");
    card.verify_pin(&Pin::new("1234").expect("pin"))
        .expect("right PIN");
    let issuer = CertificateDer::from_pem_file(lab.card_dir.join("chain.pem")).expect("chain.pem");
    let chain = vec![CertificateDer::from(leaf.clone()), issuer];
    let card = Arc::new(Mutex::new(card));
    let config = tls::client_config(card, chain, roots(world.dir())).expect("client config");
    (config, leaf)
}

/// Starts a one-shot server and opens the client's connection to it.
fn connect(
    config: rustls::ClientConfig,
) -> (
    StreamOwned<ClientConnection, TcpStream>,
    JoinHandle<Result<Seen, String>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback listener");
    let addr = listener.local_addr().expect("address");
    let server = serve_once(listener, server_config(world().dir()));
    let name = ServerName::try_from("connector.vigie.test").expect("server name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("client connection");
    (
        StreamOwned::new(conn, TcpStream::connect(addr).expect("connect")),
        server,
    )
}

fn handshake_with_card(name: &str) -> (Seen, Vec<u8>) {
    let lab = Lab::with_card(name).expect("this test needs root");
    let (config, leaf) = card_client(&lab);
    let (mut tls, server) = connect(config);
    let mut hello = [0u8; 5];
    let read = tls.read_exact(&mut hello);
    if let Err(e) = &read {
        let card_error = tls
            .conn
            .process_new_packets()
            .err()
            .and_then(|e| signer::card_error(&e).map(ToString::to_string));
        panic!("client handshake failed: {e} (card: {card_error:?})");
    }
    assert_eq!(&hello, b"hello");
    let seen = server.join().expect("server thread").expect("server side");
    (seen, leaf)
}

fn skip_unless_root() -> bool {
    vigie_lab::require_root("pcscd in a network namespace").is_err()
}

#[test]
fn cps3_authenticates_over_tls_1_2() {
    if skip_unless_root() {
        return;
    }
    let (seen, leaf) = handshake_with_card("cps3-doctor");
    assert_eq!(seen.version, ProtocolVersion::TLSv1_2);
    assert_eq!(
        seen.client_cert, leaf,
        "the server saw the card's certificate"
    );
}

#[test]
fn a_card_pulled_before_the_handshake_fails_it_as_a_card_error() {
    if skip_unless_root() {
        return;
    }
    let mut lab = Lab::with_card("cps4-nurse").expect("root");
    let (config, _) = card_client(&lab);
    lab.pull();
    let (mut tls, server) = connect(config);
    let mut hello = [0u8; 5];
    assert!(
        tls.read_exact(&mut hello).is_err(),
        "no session without the card"
    );
    let err = tls
        .conn
        .process_new_packets()
        .expect_err("the handshake failed");
    let card = signer::card_error(&err).unwrap_or_else(|| panic!("not a card error: {err}"));
    assert!(card.is_card_gone(), "{card}");
    drop(tls);
    assert!(
        server.join().expect("server thread").is_err(),
        "the server saw no client"
    );
}

#[test]
fn cps4_authenticates_over_tls_1_3() {
    if skip_unless_root() {
        return;
    }
    let (seen, leaf) = handshake_with_card("cps4-doctor");
    assert_eq!(seen.version, ProtocolVersion::TLSv1_3);
    assert_eq!(
        seen.client_cert, leaf,
        "the server saw the card's certificate"
    );
}
