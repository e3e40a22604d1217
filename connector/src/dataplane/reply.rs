//! Packets the connector writes back into a client's tunnel itself: a TCP reset or an ICMP
//! "unreachable" for what the filter refuses (so the user is told at once instead of waiting
//! for a timeout), and the UDP answers of the connector's own DNS server.
//!
//! They are sent only to the session that sent the refused packet, after WireGuard
//! authenticated it, so they cannot be aimed at anyone else.

use std::net::Ipv4Addr;

use super::packet::{
    self, ICMP, Ipv4Packet, TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, Transport, UDP,
};

/// ICMP destination unreachable.
const ICMP_UNREACHABLE: u8 = 3;

/// The ICMP "unreachable" codes the connector uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// Code 3: nothing listens on this UDP port.
    Port = 3,
    /// Code 13: communication administratively prohibited.
    Prohibited = 13,
}

/// The reset answering `refused`, or `None` if it is a reset itself or not TCP.
pub fn tcp_reset(refused: &Ipv4Packet<'_>) -> Option<Vec<u8>> {
    let Transport::Tcp {
        source,
        destination,
        flags,
        seq,
        ack,
        payload_len,
    } = refused.transport
    else {
        return None;
    };
    if flags & TCP_RST != 0 {
        return None;
    }
    // RFC 9293 §3.10.7.1: answer an ACK with its own acknowledgement as our sequence number;
    // anything else with sequence 0, acknowledging all it occupied.
    let (our_seq, our_ack, our_flags) = if flags & TCP_ACK != 0 {
        (ack, 0, TCP_RST)
    } else {
        let length =
            payload_len as u32 + u32::from(flags & TCP_SYN != 0) + u32::from(flags & TCP_FIN != 0);
        (0, seq.wrapping_add(length), TCP_RST | TCP_ACK)
    };
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&destination.to_be_bytes());
    tcp[2..4].copy_from_slice(&source.to_be_bytes());
    tcp[4..8].copy_from_slice(&our_seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&our_ack.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = our_flags;
    let (from, to) = (refused.destination, refused.source);
    let sum = packet::checksum(packet::pseudo_header(from, to, TCP, 20), &[&tcp]);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    Some(ipv4(from, to, TCP, &tcp))
}

/// The ICMP "unreachable" answering `refused`, from its destination, quoting its header and
/// first 8 bytes as RFC 792 asks. `None` for ICMP errors, which never get an error back.
pub fn icmp_unreachable(refused: &Ipv4Packet<'_>, code: Unreachable) -> Option<Vec<u8>> {
    let is_error = matches!(
        refused.transport,
        Transport::Icmp { kind, .. } if kind != packet::ICMP_ECHO_REQUEST
    );
    if is_error {
        return None;
    }
    let quoted = &refused.bytes[..refused.bytes.len().min(refused.header_len + 8)];
    let mut icmp = Vec::with_capacity(8 + quoted.len());
    icmp.extend_from_slice(&[ICMP_UNREACHABLE, code as u8, 0, 0, 0, 0, 0, 0]);
    icmp.extend_from_slice(quoted);
    let sum = packet::checksum(0, &[&icmp]);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(ipv4(refused.destination, refused.source, ICMP, &icmp))
}

/// A UDP datagram answering `query` (ports swapped) with `payload`.
pub fn udp_answer(query: &Ipv4Packet<'_>, payload: &[u8]) -> Option<Vec<u8>> {
    let Transport::Udp {
        source,
        destination,
    } = query.transport
    else {
        return None;
    };
    let len = 8 + payload.len();
    let length = u16::try_from(len).ok()?;
    let mut udp = Vec::with_capacity(len);
    udp.extend_from_slice(&destination.to_be_bytes());
    udp.extend_from_slice(&source.to_be_bytes());
    udp.extend_from_slice(&length.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let (from, to) = (query.destination, query.source);
    let sum = match packet::checksum(packet::pseudo_header(from, to, UDP, len), &[&udp]) {
        0 => 0xffff,
        sum => sum,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    Some(ipv4(from, to, UDP, &udp))
}

/// An IPv4 packet around `payload`, with a correct header checksum.
fn ipv4(source: Ipv4Addr, destination: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
    packet.extend_from_slice(&source.octets());
    packet.extend_from_slice(&destination.octets());
    let sum = packet::checksum(0, &[&packet]);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

#[cfg(test)]
mod tests {
    use super::super::packet::tests::{tcp_syn, udp};
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(100, 96, 0, 2);
    const APP: Ipv4Addr = Ipv4Addr::new(100, 80, 0, 1);

    #[test]
    fn a_syn_is_reset_with_its_sequence_acknowledged() {
        let syn = tcp_syn(CLIENT, APP, 8080);
        let reset = tcp_reset(&packet::parse(&syn).unwrap()).unwrap();
        let parsed = packet::parse(&reset).unwrap();
        assert_eq!((parsed.source, parsed.destination), (APP, CLIENT));
        let Transport::Tcp {
            source,
            destination,
            flags,
            ack,
            ..
        } = parsed.transport
        else {
            panic!("not TCP");
        };
        assert_eq!((source, destination), (8080, 40000));
        assert_eq!(flags, TCP_RST | TCP_ACK);
        assert_eq!(ack, 1001, "the SYN occupies one sequence number");
        let pseudo = packet::pseudo_header(APP, CLIENT, TCP, 20);
        assert_eq!(packet::checksum(pseudo, &[&reset[20..]]), 0);
        assert_eq!(packet::checksum(0, &[&reset[..20]]), 0);
    }

    #[test]
    fn a_reset_is_never_answered() {
        let mut rst = tcp_syn(CLIENT, APP, 8080);
        rst[33] = TCP_RST;
        assert_eq!(tcp_reset(&packet::parse(&rst).unwrap()), None);
    }

    #[test]
    fn udp_to_a_closed_port_gets_port_unreachable_quoting_it() {
        let datagram = udp(CLIENT, APP, 9999, b"payload-longer-than-eight");
        let answer = icmp_unreachable(&packet::parse(&datagram).unwrap(), Unreachable::Port);
        let answer = answer.unwrap();
        let parsed = packet::parse(&answer).unwrap();
        assert_eq!(parsed.transport, Transport::Icmp { kind: 3, code: 3 });
        assert_eq!(
            &answer[28..],
            &datagram[..28],
            "IP header and 8 bytes quoted"
        );
        assert_eq!(packet::checksum(0, &[&answer[20..]]), 0);
    }

    #[test]
    fn dns_answers_swap_ports_and_sum_correctly() {
        let query = udp(CLIENT, APP, 53, b"q");
        let answer = udp_answer(&packet::parse(&query).unwrap(), b"answer").unwrap();
        let parsed = packet::parse(&answer).unwrap();
        assert_eq!(
            parsed.transport,
            Transport::Udp {
                source: 53,
                destination: 5353
            }
        );
        let pseudo = packet::pseudo_header(APP, CLIENT, UDP, answer.len() - 20);
        assert_eq!(packet::checksum(pseudo, &[&answer[20..]]), 0);
    }
}
