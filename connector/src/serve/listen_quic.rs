//! QUIC over UDP (TLS 1.3): the default transport of CPS4 cards.
//!
//! The client opens one bidirectional stream for the control protocol; the transport allows
//! no second one and no unidirectional stream. Like TCP, a connection needs a handshake permit
//! (none left: the connection is refused before any crypto) and must finish its handshake and
//! open its stream within `handshake_timeout`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Endpoint, EndpointConfig, Incoming, TokioRuntime, TransportConfig, VarInt};
use quinn_proto::HashedConnectionIdGenerator;
use rustls_pki_types::CertificateDer;
use tracing::Instrument as _;

use super::keys::QuicRestartKeys;
use super::metrics::Handshake;
use super::pipeline::Peer;
use super::session_task;
use super::{ServeError, Shared};

/// How long the client gets to read the last message and close after the session ended.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// The QUIC endpoint on `socket`, with `keys` kept over restarts: a client whose connection
/// the previous process held hears that it is gone at its next packet (a stateless reset)
/// and reconnects, instead of waiting out its idle timeout.
pub fn endpoint(
    socket: UdpSocket,
    tls: rustls::ServerConfig,
    idle_timeout: Duration,
    max_handshakes: usize,
    keys: QuicRestartKeys,
) -> Result<Endpoint, ServeError> {
    let crypto = QuicServerConfig::try_from(Arc::new(tls))
        .map_err(|e| ServeError::Tls(format!("QUIC TLS configuration: {e}")))?;
    let mut transport = TransportConfig::default();
    // No path MTU probing: the control protocol's messages are small, and each probe is a
    // full-sized packet (and its acknowledgement) on every new connection.
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None)
        .mtu_discovery_config(None)
        .max_idle_timeout(Some(idle_timeout.try_into().map_err(|_| {
            ServeError::Config("the QUIC idle timeout is too long".into())
        })?));
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport));
    server.max_incoming(max_handshakes.max(1));
    let mut config = EndpointConfig::new(Arc::new(keys.reset));
    let ids = keys.connection_ids;
    config.cid_generator(move || Box::new(HashedConnectionIdGenerator::from_key(ids)));
    Endpoint::new(config, Some(server), socket, Arc::new(TokioRuntime))
        .map_err(|e| ServeError::Bind(format!("QUIC on UDP: {e}")))
}

/// Accepts connections on `endpoint` until it is closed.
pub async fn serve(endpoint: Endpoint, shared: Arc<Shared>) {
    while let Some(incoming) = endpoint.accept().await {
        // Under load, a peer must first prove it receives at its address (a stateless
        // retry), so spoofed sources cannot use up handshake permits.
        let busy = shared.handshakes.available_permits() < shared.max_handshakes / 2;
        if busy && !incoming.remote_address_validated() && incoming.may_retry() {
            tracing::debug!(peer = %incoming.remote_address(), "busy: QUIC address check sent");
            shared.metrics.handshake("quic", Handshake::Retried);
            let _ = incoming.retry();
            continue;
        }
        let Ok(permit) = shared.handshakes.clone().try_acquire_owned() else {
            tracing::debug!(peer = %incoming.remote_address(), "too many handshakes; refused");
            shared.metrics.handshake("quic", Handshake::Busy);
            incoming.refuse();
            continue;
        };
        let span = tracing::info_span!("conn", transport = "quic", session = tracing::field::Empty);
        let shared = shared.clone();
        tokio::spawn(
            async move {
                let address = incoming.remote_address();
                let ready = tokio::time::timeout(shared.handshake_timeout, handshake(incoming));
                let ready = ready.await;
                drop(permit);
                let outcome = match &ready {
                    Ok(Ok(_)) => Handshake::Completed,
                    Ok(Err(_)) => Handshake::Failed,
                    Err(_) => Handshake::TimedOut,
                };
                shared.metrics.handshake("quic", outcome);
                match ready {
                    Ok(Ok(ready)) => run(ready, address, shared).await,
                    Ok(Err(error)) => tracing::debug!(peer = %address, %error, "QUIC refused"),
                    Err(_) => tracing::debug!(peer = %address, "QUIC handshake timed out"),
                }
            }
            .instrument(span),
        );
    }
}

struct Ready {
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

async fn handshake(incoming: Incoming) -> Result<Ready, quinn::ConnectionError> {
    let connection = incoming.accept()?.await?;
    let (send, recv) = connection.accept_bi().await?;
    Ok(Ready {
        connection,
        send,
        recv,
    })
}

async fn run(ready: Ready, address: SocketAddr, shared: Arc<Shared>) {
    let Ready {
        connection,
        send,
        recv,
    } = ready;
    let certificates = connection
        .peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok());
    let Some(binding) = shared.bind_card(certificates.as_deref().map(Vec::as_slice)) else {
        connection.close(VarInt::from_u32(0), b"");
        return;
    };
    tracing::debug!(peer = %address, id_nat = %binding.card.identity.id_nat, "QUIC handshake done");
    let peer = Peer {
        transport: "quic",
        address,
    };
    session_task::run(shared, binding, peer, recv, send).await;
    let _ = tokio::time::timeout(CLOSE_GRACE, connection.closed()).await;
    connection.close(VarInt::from_u32(0), b"");
}
