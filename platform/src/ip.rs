//! Just enough of IPv4 and TCP headers for segmentation and coalescing: where the headers
//! end, the addresses, ports, sequence number and flags. Every read is bounds-checked; a
//! packet these cannot read is passed on untouched, never guessed at.

use std::net::Ipv4Addr;

/// IP protocol number of TCP.
pub const TCP: u8 = 6;
/// IP protocol number of UDP.
pub const UDP: u8 = 17;

/// TCP flags.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// Where the headers of a TCP-over-IPv4 packet lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpIpv4 {
    /// The IPv4 header's length (options included).
    pub ip_len: usize,
    /// The TCP header's length (options included).
    pub tcp_len: usize,
    /// The IPv4 total length field.
    pub total_len: usize,
}

impl TcpIpv4 {
    /// Reads the headers of `packet`, if it is an unfragmented TCP segment over IPv4 whose
    /// headers fit in it.
    pub fn parse(packet: &[u8]) -> Option<Self> {
        let first = *packet.first()?;
        let ip_len = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || ip_len < 20 || *packet.get(9)? != TCP {
            return None;
        }
        let fragment = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]);
        if fragment & 0x3fff != 0 {
            return None;
        }
        let tcp_len = usize::from(*packet.get(ip_len + 12)? >> 4) * 4;
        let total_len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        if tcp_len < 20 || ip_len + tcp_len > packet.len().min(total_len) {
            return None;
        }
        Some(Self {
            ip_len,
            tcp_len,
            total_len,
        })
    }

    /// Both headers' length.
    pub fn headers_len(&self) -> usize {
        self.ip_len + self.tcp_len
    }

    /// The TCP sequence number.
    pub fn seq(&self, packet: &[u8]) -> u32 {
        be32(packet, self.ip_len + 4)
    }

    /// The TCP flags.
    pub fn flags(&self, packet: &[u8]) -> u8 {
        packet[self.ip_len + 13]
    }
}

/// The source and destination addresses of an IPv4 header of at least 20 bytes.
pub fn addresses(packet: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let destination = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    (source, destination)
}

/// The big-endian `u32` at `at`; the caller checked the bounds.
pub fn be32(packet: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::checksum;

    /// A TCP/IPv4 packet with complete checksums, a 12-byte timestamp option, `payload` and
    /// `flags` at `seq`.
    pub fn tcp_packet(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let total = 20 + 32 + payload.len();
        let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, TCP, 0, 0];
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&[100, 96, 0, 2, 100, 80, 0, 1]);
        p.extend_from_slice(&[0xc3, 0x50, 0x01, 0xbb]);
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&[0x80, flags, 0x01, 0xf6, 0, 0, 0, 0]);
        p.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        p.extend_from_slice(payload);
        checksum::set_ipv4_header(&mut p[..20]);
        let (source, destination) = addresses(&p);
        let sum = checksum::pseudo_header(source, destination, TCP, (total - 20) as u16);
        let value = checksum::finish(checksum::add(sum, &p[20..]));
        p[36..38].copy_from_slice(&value.to_be_bytes());
        p
    }

    /// Whether the IPv4 header and the TCP checksum of `packet` are right.
    pub fn checksums_hold(packet: &[u8]) -> bool {
        let (source, destination) = addresses(packet);
        let ip = checksum::fold(checksum::add(0, &packet[..20])) == 0xffff;
        let length = (packet.len() - 20) as u16;
        let sum = checksum::pseudo_header(source, destination, TCP, length);
        ip && checksum::fold(checksum::add(sum, &packet[20..])) == 0xffff
    }

    #[test]
    fn reads_tcp_headers_and_refuses_what_is_not_plain_tcp_over_ipv4() {
        let packet = tcp_packet(1000, ACK, b"hello");
        let headers = TcpIpv4::parse(&packet).expect("tcp");
        assert_eq!((headers.ip_len, headers.tcp_len), (20, 32));
        assert_eq!(headers.seq(&packet), 1000);
        assert_eq!(headers.flags(&packet), ACK);
        assert!(checksums_hold(&packet));

        let mut fragment = packet.clone();
        fragment[6] = 0x20; // more fragments
        assert_eq!(TcpIpv4::parse(&fragment), None);
        let mut udp = packet.clone();
        udp[9] = UDP;
        assert_eq!(TcpIpv4::parse(&udp), None);
        assert_eq!(TcpIpv4::parse(&packet[..40]), None);
        assert_eq!(TcpIpv4::parse(&[0x45]), None);
    }
}
