//! A simulated client's tunnel for one look at the data plane: boringtun in process, keyed
//! as the session's grant says, sends a TCP SYN to an app the session is granted (the app's
//! server answers SYN-ACK through the connector) and one to an app it is not granted (the
//! connector's filter answers with a reset), and reports what came back.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use boringtun::noise::{Tunn, TunnResult};
use tokio::net::UdpSocket;
use vigie_connector::dataplane::packet::{self, TCP, TCP_ACK, TCP_RST, TCP_SYN, Transport};
use x25519_dalek::{PublicKey, StaticSecret};

/// What one session's tunnel saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The granted app answered SYN-ACK.
    pub granted_answered: bool,
    /// The app not granted was refused (a reset from the connector), never answered.
    pub other_refused: bool,
    /// The app not granted answered SYN-ACK: the filter let it through.
    pub other_answered: bool,
}

/// Where one probe goes.
pub struct Probe {
    pub secret: StaticSecret,
    pub connector_key: [u8; 32],
    pub endpoint: SocketAddr,
    pub tunnel_address: Ipv4Addr,
    pub granted: (Ipv4Addr, u16),
    pub other: (Ipv4Addr, u16),
    pub index: u32,
}

/// Opens the tunnel and sends both SYNs; waits up to `patience` for both answers.
pub async fn run(probe: Probe, patience: Duration) -> Result<Seen, String> {
    let socket = UdpSocket::bind("0.0.0.0:0")
        .await
        .map_err(|e| e.to_string())?;
    let peer = PublicKey::from(probe.connector_key);
    let mut tunn = Tunn::new(probe.secret.clone(), peer, None, None, probe.index, None);
    let mut buffer = vec![0u8; 65_536];
    for (port, target) in [(40_001, probe.granted), (40_002, probe.other)] {
        let syn = tcp_syn(probe.tunnel_address, target, port);
        if let TunnResult::WriteToNetwork(datagram) = tunn.encapsulate(&syn, &mut buffer) {
            socket
                .send_to(datagram, probe.endpoint)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + patience;
    let mut incoming = vec![0u8; 65_536];
    while !(seen.granted_answered && seen.other_refused) {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut incoming)).await;
        let Ok(Ok((length, _))) = received else {
            break;
        };
        let mut input: &[u8] = &incoming[..length];
        loop {
            match tunn.decapsulate(None, input, &mut buffer) {
                TunnResult::WriteToNetwork(datagram) => {
                    socket
                        .send_to(datagram, probe.endpoint)
                        .await
                        .map_err(|e| e.to_string())?;
                    input = &[];
                }
                TunnResult::WriteToTunnelV4(ip, _) => {
                    note(&mut seen, ip, &probe);
                    break;
                }
                _ => break,
            }
        }
    }
    Ok(seen)
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
