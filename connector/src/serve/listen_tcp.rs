//! TLS over TCP: for CPS3 cards (TLS 1.2) and for clients whose network blocks UDP.
//!
//! Each accepted socket needs a handshake permit (a full semaphore drops the socket at once,
//! so a flood cannot queue work), gets `handshake_timeout` to finish its handshake, and only
//! then reaches Vigie's code with a verified card.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::Instrument as _;

use super::Shared;
use super::metrics::Handshake;
use super::pipeline::Peer;
use super::session_task::{self, CardBinding};

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let (socket, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait a little, never spin.
                tracing::warn!(%error, "cannot accept a TCP connection");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = shared.handshakes.clone().try_acquire_owned() else {
            tracing::debug!(peer = %address, "too many handshakes in flight; dropped");
            shared.metrics.handshake("tcp", Handshake::Busy);
            continue;
        };
        tracing::debug!(peer = %address, "TCP connection accepted");
        let span = tracing::info_span!("conn", transport = "tcp", session = tracing::field::Empty);
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(
            async move {
                let stream = handshake(socket, address, &acceptor, &shared).await;
                drop(permit);
                if let Some((stream, binding)) = stream {
                    let peer = Peer {
                        transport: "tcp",
                        address,
                    };
                    let (reader, writer) = tokio::io::split(stream);
                    session_task::run(shared, binding, peer, reader, writer).await;
                }
            }
            .instrument(span),
        );
    }
}

type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

async fn handshake(
    socket: TcpStream,
    address: SocketAddr,
    acceptor: &TlsAcceptor,
    shared: &Shared,
) -> Option<(TlsStream, CardBinding)> {
    let _ = socket.set_nodelay(true);
    let accepted = tokio::time::timeout(shared.handshake_timeout, acceptor.accept(socket)).await;
    let stream = match accepted {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(peer = %address, %error, "TLS handshake failed");
            shared.metrics.handshake("tcp", Handshake::Failed);
            return None;
        }
        Err(_) => {
            tracing::debug!(peer = %address, "TLS handshake timed out");
            shared.metrics.handshake("tcp", Handshake::TimedOut);
            return None;
        }
    };
    shared.metrics.handshake("tcp", Handshake::Completed);
    let (_, connection) = stream.get_ref();
    let binding = shared.bind_card(connection.peer_certificates())?;
    tracing::debug!(
        peer = %address,
        version = ?connection.protocol_version(),
        id_nat = %binding.card.identity.id_nat,
        "TLS handshake done"
    );
    Some((stream, binding))
}
