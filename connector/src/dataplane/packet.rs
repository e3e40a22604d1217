//! Reading the IPv4 packets a client sends through its tunnel, and the Internet checksum.
//!
//! These bytes come from the client: they passed WireGuard's authentication, but nothing
//! says they are well formed. Every length is checked before it is used, and a packet that
//! does not parse is a [`Malformed`] value, never a panic (fuzz target `packet_filter`).

use std::net::Ipv4Addr;

/// IP protocol numbers the filter knows.
pub const ICMP: u8 = 1;
/// TCP.
pub const TCP: u8 = 6;
/// UDP.
pub const UDP: u8 = 17;

/// TCP flags.
pub const TCP_FIN: u8 = 0x01;
/// SYN.
pub const TCP_SYN: u8 = 0x02;
/// RST.
pub const TCP_RST: u8 = 0x04;
/// ACK.
pub const TCP_ACK: u8 = 0x10;

/// ICMP echo request.
pub const ICMP_ECHO_REQUEST: u8 = 8;

/// Why a packet could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// Not IPv4 (the tunnel carries IPv4 only).
    #[error("not an IPv4 packet")]
    NotIpv4,
    /// A header or length field does not fit the bytes.
    #[error("truncated or inconsistent lengths")]
    Truncated,
}

/// An IPv4 packet's header fields the filter needs, and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    /// The whole packet, up to the IP total length.
    pub bytes: &'a [u8],
    /// The header's length in bytes.
    pub header_len: usize,
    /// The source address.
    pub source: Ipv4Addr,
    /// The destination address.
    pub destination: Ipv4Addr,
    /// The IP protocol number.
    pub protocol: u8,
    /// Whether this is a fragment (more fragments follow, or a non-zero offset).
    pub fragment: bool,
    /// What follows the header.
    pub transport: Transport,
}

/// The transport header, as far as the filter reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP ports, flags and sequence numbers (for a reset).
    Tcp {
        /// Source port.
        source: u16,
        /// Destination port.
        destination: u16,
        /// Flags byte.
        flags: u8,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Payload length.
        payload_len: usize,
    },
    /// UDP ports.
    Udp {
        /// Source port.
        source: u16,
        /// Destination port.
        destination: u16,
    },
    /// ICMP type and code.
    Icmp {
        /// Type.
        kind: u8,
        /// Code.
        code: u8,
    },
    /// Another protocol, or a fragment whose transport header is not here.
    Other,
}

/// Parses an IPv4 packet.
pub fn parse(bytes: &[u8]) -> Result<Ipv4Packet<'_>, Malformed> {
    let first = *bytes.first().ok_or(Malformed::Truncated)?;
    if first >> 4 != 4 {
        return Err(Malformed::NotIpv4);
    }
    let header_len = usize::from(first & 0x0f) * 4;
    let total_len = usize::from(be16(bytes, 2)?);
    if header_len < 20 || total_len < header_len || total_len > bytes.len() {
        return Err(Malformed::Truncated);
    }
    let bytes = &bytes[..total_len];
    let flags_offset = be16(bytes, 6)?;
    let fragment = flags_offset & 0x2000 != 0 || flags_offset & 0x1fff != 0;
    let protocol = bytes[9];
    let transport = if fragment {
        Transport::Other
    } else {
        transport(protocol, &bytes[header_len..])?
    };
    Ok(Ipv4Packet {
        bytes,
        header_len,
        source: address(bytes, 12)?,
        destination: address(bytes, 16)?,
        protocol,
        fragment,
        transport,
    })
}

fn transport(protocol: u8, payload: &[u8]) -> Result<Transport, Malformed> {
    Ok(match protocol {
        TCP => {
            let offset = usize::from(*payload.get(12).ok_or(Malformed::Truncated)? >> 4) * 4;
            if offset < 20 || offset > payload.len() {
                return Err(Malformed::Truncated);
            }
            Transport::Tcp {
                source: be16(payload, 0)?,
                destination: be16(payload, 2)?,
                flags: payload[13],
                seq: be32(payload, 4)?,
                ack: be32(payload, 8)?,
                payload_len: payload.len() - offset,
            }
        }
        UDP if payload.len() >= 8 => Transport::Udp {
            source: be16(payload, 0)?,
            destination: be16(payload, 2)?,
        },
        ICMP if payload.len() >= 8 => Transport::Icmp {
            kind: payload[0],
            code: payload[1],
        },
        UDP | ICMP => return Err(Malformed::Truncated),
        _ => Transport::Other,
    })
}

/// A big-endian u16 at `at`.
pub fn be16(bytes: &[u8], at: usize) -> Result<u16, Malformed> {
    let pair = bytes.get(at..at + 2).ok_or(Malformed::Truncated)?;
    Ok(u16::from_be_bytes([pair[0], pair[1]]))
}

fn be32(bytes: &[u8], at: usize) -> Result<u32, Malformed> {
    let quad = bytes.get(at..at + 4).ok_or(Malformed::Truncated)?;
    Ok(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
}

fn address(bytes: &[u8], at: usize) -> Result<Ipv4Addr, Malformed> {
    let quad = bytes.get(at..at + 4).ok_or(Malformed::Truncated)?;
    Ok(Ipv4Addr::new(quad[0], quad[1], quad[2], quad[3]))
}

/// The Internet checksum (RFC 1071) of `parts` taken as one byte string, plus `initial`.
pub fn checksum(initial: u32, parts: &[&[u8]]) -> u16 {
    let mut sum = initial;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &byte in *part {
            match odd.take() {
                Some(high) => sum += u32::from(u16::from_be_bytes([high, byte])),
                None => odd = Some(byte),
            }
        }
    }
    if let Some(high) = odd {
        sum += u32::from(u16::from_be_bytes([high, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sum of the TCP/UDP pseudo-header, to pass to [`checksum`] as `initial`.
pub fn pseudo_header(source: Ipv4Addr, destination: Ipv4Addr, protocol: u8, len: usize) -> u32 {
    let words = |a: Ipv4Addr| {
        let o = a.octets();
        u32::from(u16::from_be_bytes([o[0], o[1]])) + u32::from(u16::from_be_bytes([o[2], o[3]]))
    };
    words(source) + words(destination) + u32::from(protocol) + (len as u32 & 0xffff)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TCP SYN from `source:40000` to `destination:port`.
    pub fn tcp_syn(source: Ipv4Addr, destination: Ipv4Addr, port: u16) -> Vec<u8> {
        let mut packet = ip_header(source, destination, TCP, 40);
        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&port.to_be_bytes());
        tcp[4..8].copy_from_slice(&1000u32.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = TCP_SYN;
        packet.extend_from_slice(&tcp);
        packet
    }

    /// A UDP datagram with `payload` from `source:5353` to `destination:port`.
    pub fn udp(source: Ipv4Addr, destination: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
        let mut packet = ip_header(source, destination, UDP, 28 + payload.len());
        packet.extend_from_slice(&5353u16.to_be_bytes());
        packet.extend_from_slice(&port.to_be_bytes());
        packet.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.extend_from_slice(payload);
        packet
    }

    /// An IPv4 header with a correct checksum.
    pub fn ip_header(source: Ipv4Addr, destination: Ipv4Addr, protocol: u8, len: usize) -> Vec<u8> {
        let mut header = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, protocol, 0, 0];
        header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        header.extend_from_slice(&source.octets());
        header.extend_from_slice(&destination.octets());
        let sum = checksum(0, &[&header]);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        header
    }

    #[test]
    fn a_syn_is_read() {
        let a = Ipv4Addr::new(100, 96, 0, 2);
        let b = Ipv4Addr::new(100, 80, 0, 1);
        let bytes = tcp_syn(a, b, 443);
        let packet = parse(&bytes).unwrap();
        assert_eq!((packet.source, packet.destination), (a, b));
        assert!(matches!(
            packet.transport,
            Transport::Tcp {
                destination: 443,
                flags: TCP_SYN,
                seq: 1000,
                payload_len: 0,
                ..
            }
        ));
        assert_eq!(
            checksum(0, &[&bytes[..20]]),
            0,
            "a correct header sums to zero"
        );
    }

    #[test]
    fn every_cut_of_a_packet_is_refused_without_panic() {
        let bytes = udp(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 53, b"hello");
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(parse(&[0x60; 40]), Err(Malformed::NotIpv4));
    }

    #[test]
    fn fragments_carry_no_ports() {
        let mut bytes = udp(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 53, b"x");
        bytes[6] = 0x20;
        let packet = parse(&bytes).unwrap();
        assert!(packet.fragment);
        assert_eq!(packet.transport, Transport::Other);
    }
}
