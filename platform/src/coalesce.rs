//! Packets on their way into a TUN device, joined where the kernel would have joined them:
//! consecutive TCP segments of one flow become one super-packet with a virtio-net header, so
//! the kernel takes 64 KiB in one write and walks its stack once for them (what GRO does for
//! a network card).
//!
//! A segment joins the flow's open group when it continues it exactly: next sequence number,
//! the same addresses, ports, acknowledgement, window, options and IP fields, flags ACK (and
//! PSH, which closes the group), a payload no larger than the group's first, and a correct
//! checksum. Anything else — another protocol, SYN/FIN/RST/URG, a gap, a shorter segment
//! followed by more, a bad checksum — closes the flow's group and goes on alone, so each
//! flow's order is kept. The super-packet's TCP checksum is left to the kernel (partial sum,
//! `NEEDS_CSUM`), which it needs for a packet it may cut again to forward.
//!
//! Groups are flushed by [`Coalescer::flush`] at the end of each batch, when full (64 KiB or
//! 64 segments), or when a new flow needs the slot.

use std::net::Ipv4Addr;

use crate::checksum;
use crate::ip::{self, ACK, PSH, TCP, TcpIpv4};
use crate::vnet::{self, GSO_TCPV4, NEEDS_CSUM, VnetHeader};

/// Flows with an open group at once; a further flow flushes the oldest.
const SLOTS: usize = 8;
/// The largest IPv4 packet.
const MAX_PACKET: usize = 65_535;
/// The most segments joined into one super-packet, as the kernel's own GRO and UDP GSO
/// keep to: a peer sending tiny segments cannot make one frame of thousands.
const MAX_SEGMENTS: usize = 64;
/// The only flags a joined segment may carry.
const JOINABLE_FLAGS: u8 = ACK | PSH;

/// Where joined frames go: the virtio-net header, then the packet.
pub trait FrameSink {
    /// Writes one frame to the device.
    fn write_frame(&mut self, header: &[u8; vnet::LEN], packet: &[u8]);
}

impl<F: FnMut(&[u8; vnet::LEN], &[u8])> FrameSink for F {
    fn write_frame(&mut self, header: &[u8; vnet::LEN], packet: &[u8]) {
        self(header, packet)
    }
}

/// The addresses and ports of a TCP flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowKey {
    source: Ipv4Addr,
    destination: Ipv4Addr,
    ports: u32,
}

/// One flow's segments so far, joined in `buffer` (IP packet, without virtio header).
struct Group {
    buffer: Box<[u8]>,
    len: usize,
    key: FlowKey,
    headers: TcpIpv4,
    /// Payload bytes of each segment (the first's).
    segment: usize,
    next_seq: u32,
    count: usize,
    /// A shorter segment or PSH ended it: nothing more joins.
    closed: bool,
    /// When it was opened, to pick the oldest.
    age: u64,
}

/// Joins TCP segments on their way into a TUN device opened with offloads.
pub struct Coalescer {
    groups: Vec<Group>,
    /// The device takes super-packets; without it every packet goes alone.
    enabled: bool,
    opened: u64,
}

impl Coalescer {
    /// A coalescer for a device that takes super-packets (`enabled`) or not.
    pub fn new(enabled: bool) -> Self {
        let groups = (0..if enabled { SLOTS } else { 0 })
            .map(|_| Group::empty())
            .collect();
        Self {
            groups,
            enabled,
            opened: 0,
        }
    }

    /// Takes `packet` (a decrypted IP packet): joins it to its flow's group, or writes what
    /// must go before it and then it, or keeps it as the start of a new group.
    pub fn push(&mut self, packet: &[u8], sink: &mut impl FrameSink) {
        let joinable = self.enabled.then(|| joinable(packet)).flatten();
        let Some((key, headers)) = joinable else {
            if let Some(key) = self.enabled.then(|| tcp_key(packet)).flatten() {
                self.flush_flow(key, sink);
            }
            return sink.write_frame(&VnetHeader::PLAIN.to_bytes(), packet);
        };
        if let Some(group) = self.groups.iter_mut().find(|g| g.count > 0 && g.key == key) {
            if group.takes(packet, headers) {
                return group.append(packet, headers);
            }
            group.flush(sink);
        }
        self.open(packet, key, headers, sink);
    }

    /// Writes every open group; call at the end of each batch.
    pub fn flush(&mut self, sink: &mut impl FrameSink) {
        for group in &mut self.groups {
            group.flush(sink);
        }
    }

    fn flush_flow(&mut self, key: FlowKey, sink: &mut impl FrameSink) {
        if let Some(group) = self.groups.iter_mut().find(|g| g.count > 0 && g.key == key) {
            group.flush(sink);
        }
    }

    fn open(&mut self, packet: &[u8], key: FlowKey, headers: TcpIpv4, sink: &mut impl FrameSink) {
        let free = self.groups.iter().position(|g| g.count == 0);
        let index = free.unwrap_or_else(|| {
            let oldest = self.groups.iter().enumerate().min_by_key(|(_, g)| g.age);
            oldest.map_or(0, |(i, _)| i)
        });
        let group = &mut self.groups[index];
        group.flush(sink);
        self.opened += 1;
        group.start(packet, key, headers, self.opened);
    }
}

impl Group {
    fn empty() -> Self {
        Self {
            buffer: vec![0; MAX_PACKET].into_boxed_slice(),
            len: 0,
            key: FlowKey {
                source: Ipv4Addr::UNSPECIFIED,
                destination: Ipv4Addr::UNSPECIFIED,
                ports: 0,
            },
            headers: TcpIpv4 {
                ip_len: 0,
                tcp_len: 0,
                total_len: 0,
            },
            segment: 0,
            next_seq: 0,
            count: 0,
            closed: false,
            age: 0,
        }
    }

    fn start(&mut self, packet: &[u8], key: FlowKey, headers: TcpIpv4, age: u64) {
        self.buffer[..packet.len()].copy_from_slice(packet);
        self.len = packet.len();
        self.key = key;
        self.headers = headers;
        self.segment = packet.len() - headers.headers_len();
        self.next_seq = headers.seq(packet).wrapping_add(self.segment as u32);
        self.count = 1;
        self.closed = headers.flags(packet) & PSH != 0;
        self.age = age;
    }

    /// Whether `packet` continues this group exactly.
    fn takes(&self, packet: &[u8], headers: TcpIpv4) -> bool {
        let payload = packet.len() - headers.headers_len();
        !self.closed
            && headers
                == TcpIpv4 {
                    total_len: headers.total_len,
                    ..self.headers
                }
            && headers.seq(packet) == self.next_seq
            && payload <= self.segment
            && self.count < MAX_SEGMENTS
            && self.len + payload <= MAX_PACKET
            && same_headers(&self.buffer[..self.headers.headers_len()], packet, headers)
    }

    fn append(&mut self, packet: &[u8], headers: TcpIpv4) {
        let payload = &packet[headers.headers_len()..];
        self.buffer[self.len..self.len + payload.len()].copy_from_slice(payload);
        self.len += payload.len();
        self.next_seq = self.next_seq.wrapping_add(payload.len() as u32);
        self.count += 1;
        let flag_at = headers.ip_len + 13;
        if headers.flags(packet) & PSH != 0 {
            self.buffer[flag_at] |= PSH;
            self.closed = true;
        }
        if payload.len() < self.segment {
            self.closed = true;
        }
    }

    /// Writes the group (a plain packet when it holds one) and empties it.
    fn flush(&mut self, sink: &mut impl FrameSink) {
        match self.count {
            0 => return,
            1 => sink.write_frame(&VnetHeader::PLAIN.to_bytes(), &self.buffer[..self.len]),
            _ => {
                let header = self.finish();
                sink.write_frame(&header.to_bytes(), &self.buffer[..self.len]);
            }
        }
        self.count = 0;
    }

    /// Sets the joined packet's lengths and checksums; returns its virtio-net header.
    fn finish(&mut self) -> VnetHeader {
        let ip_len = self.headers.ip_len;
        let packet = &mut self.buffer[..self.len];
        packet[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
        checksum::set_ipv4_header(&mut packet[..ip_len]);
        let (source, destination) = ip::addresses(packet);
        let tcp_len = (self.len - ip_len) as u16;
        let partial = checksum::fold(checksum::pseudo_header(source, destination, TCP, tcp_len));
        packet[ip_len + 16..ip_len + 18].copy_from_slice(&partial.to_be_bytes());
        VnetHeader {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: self.headers.headers_len() as u16,
            gso_size: self.segment as u16,
            csum_start: ip_len as u16,
            csum_offset: 16,
        }
    }
}

/// The flow of a TCP/IPv4 packet, joinable or not.
fn tcp_key(packet: &[u8]) -> Option<FlowKey> {
    let headers = TcpIpv4::parse(packet)?;
    let (source, destination) = ip::addresses(packet);
    let ports = ip::be32(packet, headers.ip_len);
    Some(FlowKey {
        source,
        destination,
        ports,
    })
}

/// The flow and headers of a segment that may join a group: plain TCP over IPv4 with data,
/// ACK (and maybe PSH) only, the lengths consistent and the checksum right.
fn joinable(packet: &[u8]) -> Option<(FlowKey, TcpIpv4)> {
    let headers = TcpIpv4::parse(packet)?;
    let flags = headers.flags(packet);
    let ok = headers.total_len == packet.len()
        && packet.len() > headers.headers_len()
        && flags & ACK != 0
        && flags & !JOINABLE_FLAGS == 0
        && tcp_checksum_holds(packet, headers.ip_len);
    ok.then(|| Some((tcp_key(packet)?, headers))).flatten()
}

fn tcp_checksum_holds(packet: &[u8], ip_len: usize) -> bool {
    let (source, destination) = ip::addresses(packet);
    let sum = checksum::pseudo_header(source, destination, TCP, (packet.len() - ip_len) as u16);
    checksum::fold(checksum::add(sum, &packet[ip_len..])) == 0xffff
}

/// Whether the headers of `packet` match the group's first, but for what changes from one
/// segment to the next (length, identifier, checksums, sequence number, PSH).
fn same_headers(first: &[u8], packet: &[u8], headers: TcpIpv4) -> bool {
    let ip_len = headers.ip_len;
    let (a, b) = (&first[ip_len..], &packet[ip_len..headers.headers_len()]);
    first[..2] == packet[..2]
        && first[6..10] == packet[6..10]
        && first[12..ip_len] == packet[12..ip_len]
        && a[..4] == b[..4]
        && a[8..13] == b[8..13]
        && a[13] & !PSH == b[13] & !PSH
        && a[14..16] == b[14..16]
        && a[18..] == b[18..]
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
