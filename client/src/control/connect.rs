//! Opening the control channel: QUIC (TLS 1.3) for a CPS4 card, with a fall back to TLS 1.3
//! over TCP when UDP gets no answer; TLS 1.2 over TCP for a CPS3 card. Both reach the same
//! port of the connector. And reading a failure as what it means for the user: a TLS alert
//! from the connector is a refusal of the card, anything else a network problem.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, ClientConfig};
use tokio::io::{AsyncRead, AsyncWrite, Join};
use tokio::net::TcpStream;
use tracing::debug;

use super::error::UpError;

/// How long a connection may take once the connector has answered (the card signs in it).
const HANDSHAKE_PATIENCE: Duration = Duration::from_secs(60);
/// How long the QUIC stream and the connection get to deliver our last bytes at the end.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Which way the control channel runs, for the user and the status file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// QUIC over UDP, TLS 1.3.
    Quic,
    /// TLS over TCP, of this version.
    Tcp { tls13: bool },
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Quic => "QUIC (TLS 1.3)",
            Self::Tcp { tls13: true } => "TCP (TLS 1.3)",
            Self::Tcp { tls13: false } => "TCP (TLS 1.2)",
        })
    }
}

/// The stream the control protocol runs on.
pub trait ControlStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ControlStream for T {}

/// An open control channel.
pub enum Channel {
    Quic {
        endpoint: quinn::Endpoint,
        connection: quinn::Connection,
        stream: Join<quinn::RecvStream, quinn::SendStream>,
    },
    Tcp(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Channel {
    /// The stream to run the control protocol on.
    pub fn stream(&mut self) -> &mut dyn ControlStream {
        match self {
            Self::Quic { stream, .. } => stream,
            Self::Tcp(stream) => stream.as_mut(),
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Self::Quic { .. } => Transport::Quic,
            Self::Tcp(stream) => Transport::Tcp {
                tls13: stream.get_ref().1.protocol_version()
                    == Some(rustls::ProtocolVersion::TLSv1_3),
            },
        }
    }

    /// Finishes the stream once our last bytes are written, and closes the connection.
    pub async fn close(self) {
        use tokio::io::AsyncWriteExt as _;
        match self {
            Self::Quic {
                endpoint,
                connection,
                stream,
            } => {
                let (_recv, mut send) = stream.into_inner();
                let _ = send.finish();
                let _ = tokio::time::timeout(CLOSE_GRACE, send.stopped()).await;
                connection.close(quinn::VarInt::from_u32(0), b"");
                let _ = tokio::time::timeout(CLOSE_GRACE, endpoint.wait_idle()).await;
            }
            Self::Tcp(mut stream) => {
                let _ = tokio::time::timeout(CLOSE_GRACE, stream.shutdown()).await;
            }
        }
    }
}

/// Where and how to reach the connector.
#[derive(Debug, Clone)]
pub struct Target {
    pub address: SocketAddr,
    pub server_name: ServerName<'static>,
    /// The `HOST:PORT` the user gave, for messages.
    pub display: String,
}

/// QUIC, or TLS 1.3 over TCP when UDP gets no answer within `udp_wait`.
pub async fn quic_or_tcp(
    target: &Target,
    config: ClientConfig,
    udp_wait: Duration,
    on_fallback: impl FnOnce(),
) -> Result<Channel, UpError> {
    match quic(target, config.clone(), udp_wait).await {
        Err(QuicAttempt::NoAnswer) => {
            debug!("no QUIC answer; falling back to TCP");
            on_fallback();
            tcp(target, config).await
        }
        Err(QuicAttempt::Failed(error)) => Err(error),
        Ok(channel) => Ok(channel),
    }
}

enum QuicAttempt {
    /// Nothing came back over UDP.
    NoAnswer,
    Failed(UpError),
}

async fn quic(
    target: &Target,
    config: ClientConfig,
    udp_wait: Duration,
) -> Result<Channel, QuicAttempt> {
    let unreachable = |detail: String| QuicAttempt::Failed(unreachable(target, detail));
    let crypto = QuicClientConfig::try_from(config)
        .map_err(|e| unreachable(format!("QUIC needs TLS 1.3: {e}")))?;
    let local: SocketAddr = match target.address {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let mut endpoint =
        quinn::Endpoint::client(local).map_err(|e| unreachable(format!("UDP socket: {e}")))?;
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let mut connecting = endpoint
        .connect(target.address, &server_name_text(&target.server_name))
        .map_err(|e| unreachable(e.to_string()))?;
    // The connector's first answer comes before the card signs: only its absence means
    // that UDP is blocked.
    match tokio::time::timeout(udp_wait, connecting.handshake_data()).await {
        Err(_) => return Err(QuicAttempt::NoAnswer),
        Ok(Err(error)) => return Err(QuicAttempt::Failed(quic_error(target, &error))),
        Ok(Ok(_)) => {}
    }
    let connection = within_patience(target, connecting)
        .await?
        .map_err(|e| QuicAttempt::Failed(quic_error(target, &e)))?;
    let (send, recv) = within_patience(target, connection.open_bi())
        .await?
        .map_err(|e| QuicAttempt::Failed(quic_error(target, &e)))?;
    Ok(Channel::Quic {
        endpoint,
        connection,
        stream: tokio::io::join(recv, send),
    })
}

async fn within_patience<F: Future>(target: &Target, future: F) -> Result<F::Output, QuicAttempt> {
    tokio::time::timeout(HANDSHAKE_PATIENCE, future)
        .await
        .map_err(|_| QuicAttempt::Failed(unreachable(target, "the handshake never ended".into())))
}

/// TLS over TCP, with the versions the configuration offers (the card decides them).
pub async fn tcp(target: &Target, config: ClientConfig) -> Result<Channel, UpError> {
    let connect = async {
        let socket = TcpStream::connect(target.address).await?;
        let _ = socket.set_nodelay(true);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        connector.connect(target.server_name.clone(), socket).await
    };
    match tokio::time::timeout(HANDSHAKE_PATIENCE, connect).await {
        Err(_) => Err(unreachable(target, "no answer over TCP".into())),
        Ok(Err(error)) => Err(io_error(target, &error)),
        Ok(Ok(stream)) => Ok(Channel::Tcp(Box::new(stream))),
    }
}

fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => String::new(),
    }
}

fn unreachable(target: &Target, detail: String) -> UpError {
    UpError::Unreachable {
        connector: target.display.clone(),
        detail,
    }
}

/// What a failed read, write or handshake on the channel means for the user.
pub fn io_error(target: &Target, error: &std::io::Error) -> UpError {
    let inner = error.get_ref();
    if let Some(tls) = inner.and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return tls_error(target, tls);
    }
    if let Some(quinn::ReadError::ConnectionLost(lost)) =
        inner.and_then(|e| e.downcast_ref::<quinn::ReadError>())
    {
        return quic_error(target, lost);
    }
    if let Some(quinn::WriteError::ConnectionLost(lost)) =
        inner.and_then(|e| e.downcast_ref::<quinn::WriteError>())
    {
        return quic_error(target, lost);
    }
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut => {
            unreachable(target, error.to_string())
        }
        _ => UpError::ConnectionLost(error.to_string()),
    }
}

fn tls_error(target: &Target, error: &rustls::Error) -> UpError {
    if let Some(card) = crate::signer::card_error(error) {
        return UpError::CardDuringHandshake(card.to_string());
    }
    match error {
        rustls::Error::AlertReceived(alert) => UpError::CertificateRefused { alert: *alert },
        rustls::Error::InvalidCertificate(problem) => {
            UpError::ServerUntrusted(format!("{problem:?}"))
        }
        other => unreachable(target, format!("TLS: {other}")),
    }
}

/// A QUIC connection error: a crypto error code carries the TLS alert.
pub fn quic_error(target: &Target, error: &quinn::ConnectionError) -> UpError {
    match error {
        quinn::ConnectionError::ConnectionClosed(close) => match alert_of(close.error_code) {
            Some(alert) => UpError::CertificateRefused { alert },
            None => unreachable(target, error.to_string()),
        },
        quinn::ConnectionError::TransportError(local) => match alert_of(local.code) {
            Some(AlertDescription::BadCertificate | AlertDescription::UnknownCA) => {
                UpError::ServerUntrusted(local.reason.clone())
            }
            _ => unreachable(target, error.to_string()),
        },
        quinn::ConnectionError::TimedOut => unreachable(target, "no answer over QUIC".into()),
        other => UpError::ConnectionLost(other.to_string()),
    }
}

/// The TLS alert in a QUIC crypto error code (0x100 + alert).
fn alert_of(code: quinn::TransportErrorCode) -> Option<AlertDescription> {
    let number = u64::from(code);
    (0x100..0x200)
        .contains(&number)
        .then(|| AlertDescription::from((number - 0x100) as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quic_crypto_codes_carry_the_alert() {
        let expired = quinn::TransportErrorCode::crypto(45);
        assert_eq!(
            alert_of(expired),
            Some(AlertDescription::CertificateExpired)
        );
        assert_eq!(
            alert_of(quinn::TransportErrorCode::PROTOCOL_VIOLATION),
            None
        );
    }

    #[test]
    fn a_tls_alert_on_a_stream_is_a_refusal_of_the_card_and_a_reset_is_a_lost_connection() {
        let target = Target {
            address: "127.0.0.1:443".parse().expect("address"),
            server_name: ServerName::try_from("connector.vigie.test").expect("name"),
            display: "connector.vigie.test:443".into(),
        };
        let alert = rustls::Error::AlertReceived(AlertDescription::CertificateRevoked);
        let refused = io_error(&target, &std::io::Error::other(alert));
        assert!(matches!(
            refused,
            UpError::CertificateRefused {
                alert: AlertDescription::CertificateRevoked
            }
        ));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(
            io_error(&target, &reset),
            UpError::ConnectionLost(_)
        ));
        let refused_port = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let unreachable = io_error(&target, &refused_port);
        assert!(unreachable.to_string().contains("connector.vigie.test:443"));
    }

    #[test]
    fn transports_read_as_people_say_them() {
        assert_eq!(Transport::Quic.to_string(), "QUIC (TLS 1.3)");
        assert_eq!(Transport::Tcp { tls13: false }.to_string(), "TCP (TLS 1.2)");
    }
}
