//! The per-session filter: what a decrypted packet from a client may do.
//!
//! A packet passes only when it comes from the session's own tunnel address and goes to
//! one of the session's apps on a published protocol and port (or is an ICMP echo to an
//! app's address). The session's DNS address on UDP/53 is answered by the connector itself.
//! Everything else is dropped and counted by [`DropReason`]; a TCP segment or UDP datagram
//! to an app's address on a port it does not publish is also answered at once (reset or
//! "port unreachable"), and one to any other address gets "administratively prohibited".

use std::net::Ipv4Addr;

use super::packet::{self, ICMP_ECHO_REQUEST, Ipv4Packet, Transport};
use super::reply::{self, Unreachable};
use crate::admission::AppAccess;
use crate::apps::Protocol;

/// Why a packet was dropped; each reason has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The bytes are not a readable IPv4 packet.
    Malformed = 0,
    /// The source is not the session's tunnel address (spoofing, or a misconfigured peer).
    WrongSource = 1,
    /// The destination is not one of the session's apps nor its DNS address.
    UnknownDestination = 2,
    /// An app's address, but a protocol or port the app does not publish.
    UnpublishedPort = 3,
    /// A fragment: the filter cannot see its ports, so it never passes.
    Fragment = 4,
    /// The session is suspended.
    Suspended = 5,
    /// Failed WireGuard's checks, or for no known session.
    WireGuard = 6,
    /// No session holds the destination of a packet from the hospital side.
    NoSession = 7,
    /// A DNS packet that was not a query.
    Dns = 8,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [Self; 9] = [
        Self::Malformed,
        Self::WrongSource,
        Self::UnknownDestination,
        Self::UnpublishedPort,
        Self::Fragment,
        Self::Suspended,
        Self::WireGuard,
        Self::NoSession,
        Self::Dns,
    ];

    /// A stable name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongSource => "wrong_source",
            Self::UnknownDestination => "unknown_destination",
            Self::UnpublishedPort => "unpublished_port",
            Self::Fragment => "fragment",
            Self::Suspended => "suspended",
            Self::WireGuard => "wireguard",
            Self::NoSession => "no_session",
            Self::Dns => "dns",
        }
    }
}

/// What to do with a packet from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the hospital network.
    Forward,
    /// Send this packet back into the tunnel (a DNS answer).
    Answer(Vec<u8>),
    /// Drop it; send the refusal back into the tunnel if there is one.
    Drop(DropReason, Option<Vec<u8>>),
}

/// One session's allowed destinations.
#[derive(Clone, Debug)]
pub struct SessionFilter {
    tunnel_address: Ipv4Addr,
    dns_address: Option<Ipv4Addr>,
    apps: Vec<AppAccess>,
}

impl SessionFilter {
    /// The filter of a session at `tunnel_address` reaching `apps`, with the connector's DNS
    /// server at `dns_address` if one is configured.
    pub fn new(
        tunnel_address: Ipv4Addr,
        dns_address: Option<Ipv4Addr>,
        apps: Vec<AppAccess>,
    ) -> Self {
        Self {
            tunnel_address,
            dns_address,
            apps,
        }
    }

    /// The session's tunnel address.
    pub fn tunnel_address(&self) -> Ipv4Addr {
        self.tunnel_address
    }

    /// Decides what happens to `bytes`, a decrypted packet from the client.
    pub fn check(&self, bytes: &[u8]) -> Verdict {
        let packet = match packet::parse(bytes) {
            Ok(packet) => packet,
            Err(_) => return Verdict::Drop(DropReason::Malformed, None),
        };
        if packet.source != self.tunnel_address {
            return Verdict::Drop(DropReason::WrongSource, None);
        }
        if Some(packet.destination) == self.dns_address {
            return self.dns(&packet);
        }
        let Some(app) = self
            .apps
            .iter()
            .find(|a| a.virtual_address == packet.destination)
        else {
            let refusal = refusal(&packet, Unreachable::Prohibited);
            return Verdict::Drop(DropReason::UnknownDestination, refusal);
        };
        if packet.fragment {
            return Verdict::Drop(DropReason::Fragment, None);
        }
        if publishes(app, &packet.transport) {
            Verdict::Forward
        } else {
            let refusal = refusal(&packet, Unreachable::Port);
            Verdict::Drop(DropReason::UnpublishedPort, refusal)
        }
    }

    fn dns(&self, packet: &Ipv4Packet<'_>) -> Verdict {
        let Transport::Udp {
            destination: 53, ..
        } = packet.transport
        else {
            return Verdict::Drop(
                DropReason::UnpublishedPort,
                refusal(packet, Unreachable::Port),
            );
        };
        let names = self
            .apps
            .iter()
            .map(|app| (app.dns_name.as_str(), app.virtual_address));
        let answer = dns_payload(packet)
            .and_then(|query| super::dns::answer(query, names))
            .and_then(|payload| reply::udp_answer(packet, &payload));
        match answer {
            Some(answer) => Verdict::Answer(answer),
            None => Verdict::Drop(DropReason::Dns, None),
        }
    }
}

/// The UDP payload of a packet.
fn dns_payload<'a>(packet: &Ipv4Packet<'a>) -> Option<&'a [u8]> {
    packet.bytes.get(packet.header_len + 8..)
}

/// Whether `app` publishes the packet's protocol and port (or it is an echo request).
fn publishes(app: &AppAccess, transport: &Transport) -> bool {
    let (protocol, port) = match *transport {
        Transport::Tcp { destination, .. } => (Protocol::Tcp, destination),
        Transport::Udp { destination, .. } => (Protocol::Udp, destination),
        Transport::Icmp { kind, .. } => return kind == ICMP_ECHO_REQUEST,
        Transport::Other => return false,
    };
    app.ports
        .iter()
        .any(|range| range.protocol == protocol && (range.first..=range.last).contains(&port))
}

/// The quick refusal of a packet: a reset for TCP, ICMP `code` for the rest.
fn refusal(packet: &Ipv4Packet<'_>, code: Unreachable) -> Option<Vec<u8>> {
    match packet.transport {
        Transport::Tcp { .. } => reply::tcp_reset(packet),
        _ if packet.fragment => None,
        _ => reply::icmp_unreachable(packet, code),
    }
}

#[cfg(test)]
mod tests {
    use super::super::dns::tests::query;
    use super::super::packet::tests::{ip_header, tcp_syn, udp};
    use super::super::packet::{ICMP, TCP_RST};
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(100, 96, 0, 2);
    const DPI: Ipv4Addr = Ipv4Addr::new(100, 80, 0, 1);
    const DNS: Ipv4Addr = Ipv4Addr::new(100, 80, 0, 53);

    fn filter() -> SessionFilter {
        let dpi = AppAccess {
            name: "dpi".into(),
            dns_name: "dpi.hopital.example".into(),
            virtual_address: DPI,
            ports: vec!["tcp/443".parse().unwrap(), "udp/5000-5010".parse().unwrap()],
        };
        SessionFilter::new(CLIENT, Some(DNS), vec![dpi])
    }

    fn dropped(verdict: Verdict) -> (DropReason, Option<Vec<u8>>) {
        match verdict {
            Verdict::Drop(reason, reply) => (reason, reply),
            other => panic!("not dropped: {other:?}"),
        }
    }

    #[test]
    fn published_ports_pass() {
        assert_eq!(filter().check(&tcp_syn(CLIENT, DPI, 443)), Verdict::Forward);
        assert_eq!(
            filter().check(&udp(CLIENT, DPI, 5005, b"x")),
            Verdict::Forward
        );
        let mut echo = ip_header(CLIENT, DPI, ICMP, 28);
        echo.extend_from_slice(&[ICMP_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(filter().check(&echo), Verdict::Forward);
    }

    #[test]
    fn another_port_of_the_app_is_reset_at_once() {
        let (reason, reply) = dropped(filter().check(&tcp_syn(CLIENT, DPI, 22)));
        assert_eq!(reason, DropReason::UnpublishedPort);
        let reply = reply.unwrap();
        let parsed = packet::parse(&reply).unwrap();
        assert!(matches!(parsed.transport, Transport::Tcp { flags, .. } if flags & TCP_RST != 0));
        let (reason, reply) = dropped(filter().check(&udp(CLIENT, DPI, 5011, b"x")));
        assert_eq!(reason, DropReason::UnpublishedPort);
        let parsed = packet::parse(reply.as_deref().unwrap()).unwrap();
        assert_eq!(parsed.transport, Transport::Icmp { kind: 3, code: 3 });
    }

    #[test]
    fn spoofed_sources_and_other_addresses_are_dropped() {
        let spoofed = tcp_syn(Ipv4Addr::new(100, 96, 0, 3), DPI, 443);
        assert_eq!(
            dropped(filter().check(&spoofed)),
            (DropReason::WrongSource, None)
        );
        let lan = Ipv4Addr::new(198, 18, 2, 2);
        let (reason, reply) = dropped(filter().check(&udp(CLIENT, lan, 80, b"x")));
        assert_eq!(reason, DropReason::UnknownDestination);
        let parsed = packet::parse(reply.as_deref().unwrap()).unwrap();
        assert_eq!(parsed.transport, Transport::Icmp { kind: 3, code: 13 });
        assert_eq!(dropped(filter().check(&[0x45, 0])).0, DropReason::Malformed);
    }

    #[test]
    fn the_dns_address_answers_for_the_sessions_apps() {
        let ask = |name: &str| filter().check(&udp(CLIENT, DNS, 53, &query(name, 1)));
        let Verdict::Answer(reply) = ask("dpi.hopital.example") else {
            panic!("no answer");
        };
        assert_eq!(&reply[reply.len() - 4..], &DPI.octets());
        let Verdict::Answer(reply) = ask("paie.hopital.example") else {
            panic!("no answer");
        };
        assert_eq!(reply[28 + 3] & 0x0f, 3, "NXDOMAIN");
        let (reason, _) = dropped(filter().check(&tcp_syn(CLIENT, DNS, 53)));
        assert_eq!(reason, DropReason::UnpublishedPort);
    }
}
