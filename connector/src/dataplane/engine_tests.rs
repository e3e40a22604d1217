//! The engine against a client-side boringtun tunnel, in memory: handshakes, the filter's
//! verdicts as the client sees them, roaming, and WireGuard inside the control connection.

use boringtun::noise::{Tunn, TunnResult};
use x25519_dalek::PublicKey;

use super::super::packet::tests::tcp_syn;
use super::super::packet::{self, TCP_RST, Transport};
use super::*;
use crate::admission::AppAccess;

const CLIENT: Ipv4Addr = Ipv4Addr::new(100, 96, 0, 2);
const DPI: Ipv4Addr = Ipv4Addr::new(100, 80, 0, 1);

#[derive(Default)]
struct Wire {
    udp: Vec<(SocketAddr, Vec<u8>)>,
    lan: Vec<Vec<u8>>,
}

impl Links for Wire {
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.udp.push((to, datagram.to_vec()));
    }

    fn send_lan(&mut self, packet: &[u8]) {
        self.lan.push(packet.to_vec());
    }
}

fn secret(byte: u8) -> StaticSecret {
    StaticSecret::from([byte; 32])
}

/// An engine with one session for the client key made from `secret(2)`, and that client.
fn pair(control: Option<mpsc::Sender<Vec<u8>>>) -> (Engine, Tunn) {
    let mut engine = Engine::new(secret(1), None);
    let spec = SessionSpec {
        id: SessionId([7; 16]),
        client_key: vigie_protocol::WireGuardKey(PublicKey::from(&secret(2)).to_bytes()),
        tunnel_address: CLIENT,
        apps: vec![AppAccess {
            name: "dpi".into(),
            dns_name: "dpi.hopital.example".into(),
            virtual_address: DPI,
            ports: vec!["tcp/443".parse().unwrap()],
        }],
        control,
    };
    engine.add(spec).unwrap();
    let client = Tunn::new(secret(2), PublicKey::from(&secret(1)), None, None, 9, None);
    (engine, client)
}

/// What the client sends for `packet` (a handshake first if it has no session yet).
fn client_send(client: &mut Tunn, packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    match client.encapsulate(packet, &mut out) {
        TunnResult::WriteToNetwork(bytes) => bytes.to_vec(),
        other => panic!("the client sends nothing: {other:?}"),
    }
}

/// Feeds what the connector sent to the client; returns the client's decrypted packets
/// and what it sends back (queued data after a handshake).
fn client_receive(client: &mut Tunn, datagram: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut packets, mut replies) = (Vec::new(), Vec::new());
    let mut out = vec![0u8; 2048];
    let mut input = datagram.to_vec();
    loop {
        match client.decapsulate(None, &input, &mut out) {
            TunnResult::WriteToNetwork(bytes) => replies.push(bytes.to_vec()),
            TunnResult::WriteToTunnelV4(bytes, _) => {
                packets.push(bytes.to_vec());
                break;
            }
            _ => break,
        }
        input.clear();
    }
    (packets, replies)
}

/// Handshakes from `from` with the first packet `packet`; returns what reached the LAN.
fn handshake(engine: &mut Engine, client: &mut Tunn, from: SocketAddr, packet: &[u8]) -> Wire {
    let init = client_send(client, packet);
    let mut wire = Wire::default();
    engine.handle_udp(from, &init, &mut wire);
    let (to, response) = wire.udp.pop().expect("a handshake response");
    assert_eq!(to, from);
    let (_, queued) = client_receive(client, &response);
    for datagram in queued {
        engine.handle_udp(from, &datagram, &mut wire);
    }
    wire
}

#[test]
fn a_client_reaches_its_app_is_refused_elsewhere_and_roams() {
    let (mut engine, mut client) = pair(None);
    let home: SocketAddr = "198.18.0.1:40000".parse().unwrap();
    let wire = handshake(&mut engine, &mut client, home, &tcp_syn(CLIENT, DPI, 443));
    assert_eq!(
        wire.lan,
        [tcp_syn(CLIENT, DPI, 443)],
        "the SYN reaches the LAN"
    );

    let mut wire = Wire::default();
    let refused = client_send(&mut client, &tcp_syn(CLIENT, DPI, 22));
    engine.handle_udp(home, &refused, &mut wire);
    assert!(wire.lan.is_empty());
    let (packets, _) = client_receive(&mut client, &wire.udp[0].1);
    let reset = packet::parse(&packets[0]).unwrap();
    assert!(matches!(reset.transport, Transport::Tcp { flags, .. } if flags & TCP_RST != 0));

    let roamed: SocketAddr = "198.19.254.1:40000".parse().unwrap();
    let moved = client_send(&mut client, &tcp_syn(CLIENT, DPI, 443));
    engine.handle_udp(roamed, &moved, &mut wire);
    assert_eq!(engine.path(&SessionId([7; 16])), Some(Path::Udp(roamed)));
    let mut wire = Wire::default();
    engine.handle_lan(&tcp_syn(DPI, CLIENT, 40000), &mut wire);
    assert_eq!(wire.udp[0].0, roamed, "replies follow the client");
    let counters = engine.session_counters(&SessionId([7; 16])).unwrap();
    assert_eq!(counters.dropped(DropReason::UnpublishedPort), 1);
    assert_eq!((counters.forwarded, counters.to_client), (2, 1));
    let (out, back) = (
        tcp_syn(CLIENT, DPI, 443).len(),
        tcp_syn(DPI, CLIENT, 40000).len(),
    );
    let bytes = (counters.forwarded_bytes, counters.to_client_bytes);
    assert_eq!(bytes, (2 * out as u64, back as u64), "IP packets' bytes");
}

#[test]
fn an_unknown_key_and_a_forged_packet_get_nothing() {
    let (mut engine, _) = pair(None);
    let mut stranger = Tunn::new(secret(3), PublicKey::from(&secret(1)), None, None, 5, None);
    let init = client_send(&mut stranger, &tcp_syn(CLIENT, DPI, 443));
    let mut wire = Wire::default();
    let from: SocketAddr = "198.18.0.9:1".parse().unwrap();
    engine.handle_udp(from, &init, &mut wire);
    let mut forged = init.clone();
    forged[20] ^= 1;
    engine.handle_udp(from, &forged, &mut wire);
    engine.handle_udp(from, &[4, 0, 0, 0, 1, 0, 0, 0], &mut wire);
    assert!(wire.udp.is_empty() && wire.lan.is_empty());
    assert_eq!(engine.counters().dropped(DropReason::WireGuard), 3);
}

#[test]
fn a_client_without_udp_tunnels_inside_its_control_connection() {
    let (control, mut datagrams) = mpsc::channel(16);
    let (mut engine, mut client) = pair(Some(control));
    let id = SessionId([7; 16]);
    let init = client_send(&mut client, &tcp_syn(CLIENT, DPI, 443));
    let mut wire = Wire::default();
    engine.handle_control(&id, &init, &mut wire);
    let response = datagrams
        .try_recv()
        .expect("the response goes back the same way");
    let (_, queued) = client_receive(&mut client, &response);
    for datagram in queued {
        engine.handle_control(&id, &datagram, &mut wire);
    }
    assert_eq!(wire.lan.len(), 1);
    assert!(wire.udp.is_empty());
    assert_eq!(engine.path(&id), Some(Path::Control));
    engine.handle_control(&SessionId([8; 16]), &init, &mut wire);
    assert_eq!(engine.counters().dropped(DropReason::NoSession), 1);
}
