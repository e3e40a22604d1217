//! A simulated client's tunnel for one look at the data plane: boringtun in process, keyed
//! as the session's grant says, sends a TCP SYN to an app the session is granted (the app's
//! server answers SYN-ACK through the connector) and one to an app it is not granted (the
//! connector's filter answers with a reset), and reports what came back.
//!
//! On a lossy link a packet may be lost either way: what has no answer yet is sent again
//! every second (the WireGuard handshake, or the SYN), as a TCP stack would, until both
//! answers are in or the patience runs out.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use boringtun::noise::{Tunn, TunnResult};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use vigie_connector::dataplane::packet::{self, TCP, TCP_ACK, TCP_RST, TCP_SYN, Transport};
use x25519_dalek::{PublicKey, StaticSecret};

/// How long an unanswered packet waits before it is sent again.
const RESEND: Duration = Duration::from_secs(1);

/// What one session's tunnel saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The granted app answered SYN-ACK.
    pub granted_answered: bool,
    /// The app not granted was refused (a reset from the connector), never answered.
    pub other_refused: bool,
    /// The app not granted answered SYN-ACK: the filter let it through.
    pub other_answered: bool,
    /// How many times something was sent again for lack of an answer.
    pub resent: u32,
}

impl Seen {
    /// Both apps have had their say.
    fn done(&self) -> bool {
        self.granted_answered && (self.other_refused || self.other_answered)
    }
}

/// Where one probe goes.
pub struct Probe {
    pub secret: StaticSecret,
    pub connector_key: [u8; 32],
    pub endpoint: SocketAddr,
    pub tunnel_address: Ipv4Addr,
    pub granted: (Ipv4Addr, u16),
    pub other: (Ipv4Addr, u16),
    /// boringtun's index for the tunnel.
    pub index: u32,
    /// The SYNs' source ports: this one to the granted app, the next to the other.
    pub first_port: u16,
}

/// The probe's tunnel and socket.
struct Tunnel {
    tunn: Tunn,
    socket: UdpSocket,
    endpoint: SocketAddr,
    buffer: Vec<u8>,
}

/// Opens the tunnel and sends both SYNs; waits up to `patience` for both answers.
pub async fn run(probe: Probe, patience: Duration) -> Result<Seen, String> {
    let socket = UdpSocket::bind("0.0.0.0:0")
        .await
        .map_err(|e| e.to_string())?;
    let peer = PublicKey::from(probe.connector_key);
    let tunn = Tunn::new(probe.secret.clone(), peer, None, None, probe.index, None);
    let mut tunnel = Tunnel {
        tunn,
        socket,
        endpoint: probe.endpoint,
        buffer: vec![0u8; 65_536],
    };
    let mut seen = Seen::default();
    let deadline = Instant::now() + patience;
    loop {
        tunnel.send_syns(&probe, &seen).await?;
        let next = (Instant::now() + RESEND).min(deadline);
        tunnel.receive_until(next, &probe, &mut seen).await?;
        if seen.done() || Instant::now() >= deadline {
            return Ok(seen);
        }
        seen.resent += 1;
    }
}

impl Tunnel {
    /// Sends the SYNs still unanswered; a new handshake when the last one got no answer.
    async fn send_syns(&mut self, probe: &Probe, seen: &Seen) -> Result<(), String> {
        let first = *seen == Seen::default();
        let targets = [
            (probe.first_port, probe.granted, !seen.granted_answered),
            (
                probe.first_port.wrapping_add(1),
                probe.other,
                !(seen.other_refused || seen.other_answered),
            ),
        ];
        let mut queued = false;
        for (port, target, wanted) in targets {
            if !wanted {
                continue;
            }
            let syn = tcp_syn(probe.tunnel_address, target, port);
            match self.tunn.encapsulate(&syn, &mut self.buffer) {
                TunnResult::WriteToNetwork(datagram) => {
                    send(&self.socket, datagram, self.endpoint).await?
                }
                _ => queued = true,
            }
        }
        if queued && !first {
            // Still no session: the handshake or its answer was lost.
            if let TunnResult::WriteToNetwork(datagram) = self
                .tunn
                .format_handshake_initiation(&mut self.buffer, true)
            {
                send(&self.socket, datagram, self.endpoint).await?;
            }
        }
        Ok(())
    }

    /// Handles what comes back until `until`.
    async fn receive_until(
        &mut self,
        until: Instant,
        probe: &Probe,
        seen: &mut Seen,
    ) -> Result<(), String> {
        let mut incoming = vec![0u8; 65_536];
        while !seen.done() {
            let received = tokio::time::timeout_at(until, self.socket.recv_from(&mut incoming));
            let Ok(Ok((length, _))) = received.await else {
                return Ok(());
            };
            let mut input: &[u8] = &incoming[..length];
            loop {
                match self.tunn.decapsulate(None, input, &mut self.buffer) {
                    TunnResult::WriteToNetwork(datagram) => {
                        send(&self.socket, datagram, self.endpoint).await?;
                        input = &[];
                    }
                    TunnResult::WriteToTunnelV4(ip, _) => {
                        note(seen, ip, probe);
                        break;
                    }
                    _ => break,
                }
            }
        }
        Ok(())
    }
}

async fn send(socket: &UdpSocket, datagram: &[u8], to: SocketAddr) -> Result<(), String> {
    socket
        .send_to(datagram, to)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn note(seen: &mut Seen, ip: &[u8], probe: &Probe) {
    let Ok(parsed) = packet::parse(ip) else {
        return;
    };
    let Transport::Tcp { flags, .. } = parsed.transport else {
        return;
    };
    let syn_ack = flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK;
    if parsed.source == probe.granted.0 && syn_ack && parsed.destination == probe.tunnel_address {
        seen.granted_answered = true;
    }
    if parsed.source == probe.other.0 {
        seen.other_refused |= flags & TCP_RST != 0;
        seen.other_answered |= syn_ack;
    }
}

/// A TCP SYN from `source:port` to `target`, with correct checksums.
fn tcp_syn(source: Ipv4Addr, target: (Ipv4Addr, u16), port: u16) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, TCP, 0, 0];
    ip.extend_from_slice(&source.octets());
    ip.extend_from_slice(&target.0.octets());
    let sum = packet::checksum(0, &[&ip]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&port.to_be_bytes());
    tcp[2..4].copy_from_slice(&target.1.to_be_bytes());
    tcp[4..8].copy_from_slice(&1_000u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = TCP_SYN;
    tcp[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    let pseudo = packet::pseudo_header(source, target.0, TCP, tcp.len());
    let sum = packet::checksum(pseudo, &[&tcp]);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&tcp);
    ip
}
