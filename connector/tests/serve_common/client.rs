//! A Vigie client with a software key in place of the card: the card identity's
//! `auth.key.pk8.der` signs the TLS handshake and the re-proofs. A CPS3 identity signs only
//! PKCS#1 v1.5 (so TLS 1.2 over TCP), a CPS4 identity RSA-PSS (TLS 1.3, over QUIC or TCP).
//!
//! Kept free of assertions so the admission benchmark can drive it too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{AlertDescription, SignatureAlgorithm, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use vigie_certs::pki::World;
use vigie_protocol::{
    Capabilities, ClientEvent, ClientSession, Code, Hello, SessionConfig, WireGuardKey,
};

/// The name in the connector's test certificate.
pub const SERVER_NAME: &str = "connector.vigie.test";
/// The control channel's ALPN.
pub const ALPN: &[u8] = b"vigie/1";

/// How a software card signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// PKCS#1 v1.5 only, as a CPS3 card.
    Pkcs1,
    /// RSA-PSS (and PKCS#1), as a CPS4 card.
    Pss,
}

/// A card identity of the test world with its private key in software.
pub struct SoftCard {
    pub certificate: CertificateDer<'static>,
    key: Vec<u8>,
    pub signing: Signing,
}

impl SoftCard {
    /// Card `name` of `world`, signing like its generation.
    pub fn load(world: &World, name: &str) -> Self {
        let dir = world.card_dir(name).expect("a card of the world");
        let signing = if name.starts_with("cps3") {
            Signing::Pkcs1
        } else {
            Signing::Pss
        };
        Self {
            certificate: CertificateDer::from(
                std::fs::read(dir.join("auth.crt.der")).expect("cert"),
            ),
            key: std::fs::read(dir.join("auth.key.pk8.der")).expect("key"),
            signing,
        }
    }

    /// A card from its certificate and PKCS#8 key (the bulk cards of load tests).
    pub fn from_parts(certificate: Vec<u8>, key: Vec<u8>, signing: Signing) -> Self {
        Self {
            certificate: CertificateDer::from(certificate),
            key,
            signing,
        }
    }

    fn certified_key(&self) -> Arc<CertifiedKey> {
        let der = PrivateKeyDer::Pkcs8(self.key.clone().into());
        let key = rustls::crypto::ring::sign::any_supported_type(&der).expect("an RSA key");
        let key: Arc<dyn SigningKey> = match self.signing {
            Signing::Pkcs1 => Arc::new(Pkcs1Only(key)),
            Signing::Pss => key,
        };
        Arc::new(CertifiedKey::new(vec![self.certificate.clone()], key))
    }

    /// Signs a re-proof's signing input as the card would; the scheme number goes with it.
    pub fn sign_reproof(&self, input: &[u8]) -> (vigie_protocol::SignatureScheme, Vec<u8>) {
        let pair = RsaKeyPair::from_pkcs8(&self.key).expect("an RSA key");
        let mut signature = vec![0; pair.public().modulus_len()];
        let (encoding, scheme): (&'static dyn signature::RsaEncoding, _) = match self.signing {
            Signing::Pkcs1 => (
                &signature::RSA_PKCS1_SHA256,
                vigie_protocol::SignatureScheme::RSA_PKCS1_SHA256,
            ),
            Signing::Pss => (
                &signature::RSA_PSS_SHA256,
                vigie_protocol::SignatureScheme::RSA_PSS_SHA256,
            ),
        };
        pair.sign(encoding, &SystemRandom::new(), input, &mut signature)
            .expect("signing");
        (scheme, signature)
    }

    /// A TLS client configuration presenting this card (or no card), trusting the world's
    /// roots for the connector's certificate.
    pub fn tls_config(world: &World, card: Option<&Self>, tls12: bool) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        let pem =
            std::fs::read(world.dir().join("trust/roots/racine-elementaire.pem")).expect("root");
        for cert in vigie_certs::pem::certificates(&pem).expect("PEM") {
            roots.add(cert).expect("a root");
        }
        let versions: &[&'static rustls::SupportedProtocolVersion] = if tls12 {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots);
        let mut config = match card {
            Some(card) => builder.with_client_cert_resolver(Arc::new(Fixed(card.certified_key()))),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        config
    }
}

/// A signing key that refuses every scheme but PKCS#1 v1.5, like a CPS3 card.
#[derive(Debug)]
struct Pkcs1Only(Arc<dyn SigningKey>);

impl SigningKey for Pkcs1Only {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let pkcs1: Vec<SignatureScheme> = offered
            .iter()
            .copied()
            .filter(|s| {
                matches!(
                    s,
                    SignatureScheme::RSA_PKCS1_SHA256
                        | SignatureScheme::RSA_PKCS1_SHA384
                        | SignatureScheme::RSA_PKCS1_SHA512
                )
            })
            .collect();
        self.0.choose_scheme(&pkcs1)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesClientCert for Fixed {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A TLS-over-TCP connection to the connector.
pub type TcpTls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Connects over TCP and finishes the TLS handshake (client side).
pub async fn connect_tcp(
    address: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<TcpTls> {
    let socket = tokio::net::TcpStream::connect(address).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(SERVER_NAME).expect("a name");
    connector.connect(name, socket).await
}

/// The alert inside an I/O error from a TLS stream, if it is one.
pub fn alert_of(error: &std::io::Error) -> Option<AlertDescription> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }
}

/// The alert a refused card gets over TCP: in TLS 1.2 the handshake fails; in TLS 1.3 the
/// client's side finishes first and the alert arrives on the first read.
pub async fn refused_over_tcp(
    address: SocketAddr,
    world: &World,
    card: &str,
    tls12: bool,
) -> AlertDescription {
    let soft = SoftCard::load(world, card);
    let config = SoftCard::tls_config(world, Some(&soft), tls12);
    let attempt = async {
        let stream = connect_tcp(address, config).await?;
        let (reader, writer) = tokio::io::split(stream);
        let mut control = Control::new(reader, writer);
        control
            .next_event()
            .await
            .map(|event| panic!("{card} got {event:?}"))
    };
    let error = attempt.await.expect_err("refused");
    alert_of(&error).unwrap_or_else(|| panic!("{card}: no alert in {error:?}"))
}

/// A QUIC connection to the connector and its control stream.
pub struct Quic {
    pub endpoint: quinn::Endpoint,
    pub connection: quinn::Connection,
}

/// Connects over QUIC (TLS 1.3).
pub async fn connect_quic(
    address: SocketAddr,
    config: rustls::ClientConfig,
) -> Result<Quic, quinn::ConnectionError> {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("UDP");
    let connection = connect_quic_on(&endpoint, address, config).await?;
    Ok(Quic {
        endpoint,
        connection,
    })
}

/// The QUIC client configuration for a TLS 1.3 configuration.
pub fn quic_config(config: rustls::ClientConfig) -> quinn::ClientConfig {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(config).expect("TLS 1.3");
    quinn::ClientConfig::new(Arc::new(crypto))
}

/// Connects over QUIC from an endpoint many connections share (load tests open thousands).
pub async fn connect_quic_on(
    endpoint: &quinn::Endpoint,
    address: SocketAddr,
    config: rustls::ClientConfig,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    connect_quic_with(endpoint, address, quic_config(config)).await
}

/// [`connect_quic_on`] with a QUIC configuration made beforehand.
pub async fn connect_quic_with(
    endpoint: &quinn::Endpoint,
    address: SocketAddr,
    config: quinn::ClientConfig,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    endpoint
        .connect_with(config, address, SERVER_NAME)
        .expect("a connection attempt")
        .await
}

/// The client side of the control protocol over any stream.
pub struct Control<R, W> {
    pub session: ClientSession,
    reader: R,
    writer: W,
    closed: bool,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Control<R, W> {
    /// Starts a session: hello and a WireGuard key are sent with the first event wait.
    pub fn new(reader: R, writer: W) -> Self {
        Self::with_key(reader, writer, WireGuardKey([7; 32]))
    }

    /// [`Control::new`] with the client's own WireGuard public key, for clients that open
    /// their tunnel.
    pub fn with_key(reader: R, writer: W, key: WireGuardKey) -> Self {
        let hello = Hello::new(Capabilities::NOTICES, "vigie-test-client");
        let session = ClientSession::new(SessionConfig::default(), hello, key, Instant::now())
            .expect("a hello");
        Self {
            session,
            reader,
            writer,
            closed: false,
        }
    }

    /// Sends what the session has to send.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.writer.write_all(&bytes).await?;
        }
        self.writer.flush().await
    }

    /// The next event; `Err` when the stream fails (a TLS alert, for instance), `Ok(None)`
    /// when the connector closed the stream with nothing more to say.
    pub async fn next_event(&mut self) -> std::io::Result<Option<ClientEvent>> {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(Some(event));
            }
            self.flush().await?;
            if self.closed || self.session.is_closed() {
                return Ok(None);
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                read = self.reader.read(&mut buffer) => match read? {
                    0 => self.closed = true,
                    n => self.session.handle_input(&buffer[..n], Instant::now()),
                },
                () = sleep_until(deadline) => self.session.handle_timeout(Instant::now()),
            }
        }
    }

    /// Answers the pending re-proof with `card`'s signature over `input`.
    pub async fn answer(&mut self, card: &SoftCard, input: &[u8]) -> std::io::Result<()> {
        let (scheme, signature) = card.sign_reproof(input);
        self.session
            .answer_reproof(scheme, signature, Instant::now())
            .expect("a challenge is pending");
        self.flush().await
    }

    /// Ends the session as a user quitting.
    pub async fn quit(&mut self) -> std::io::Result<()> {
        self.session.end(Code::CLIENT_QUIT, Instant::now());
        self.flush().await
    }

    /// The stream's two halves, to close them as a client does (a QUIC send stream is
    /// finished, and its last bytes acknowledged, before the connection closes).
    pub fn into_parts(self) -> (R, W) {
        (self.reader, self.writer)
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
