//! What the kernel hands a TUN device with offloads on, cut back into packets WireGuard can
//! carry: a TCP super-packet of up to 64 KiB becomes segments of the size the kernel chose
//! (which fit the device's MTU), each with its own headers and checksums, and a single packet
//! whose checksum was left to the device gets it.
//!
//! The segments are what the kernel itself would have sent had the device no offloads: the
//! same headers, the sequence number advanced by the payload before, the IP identifier by
//! one per segment, FIN and PSH only on the last segment and CWR only on the first.

use crate::checksum;
use crate::ip::{self, CWR, FIN, PSH, TCP, TcpIpv4, UDP};
use crate::vnet::{self, GSO_ECN, GSO_NONE, GSO_TCPV4, NEEDS_CSUM, VnetHeader};

/// Why a frame from the TUN device was not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// Shorter than its virtio-net header, or than the headers it announces.
    #[error("the frame is shorter than its headers")]
    Truncated,
    /// A segmentation kind the device was not set up for (only TCP over IPv4 is).
    #[error("segmentation offload of kind {0} was not asked for")]
    Unsupported(u8),
    /// A TCP super-packet with a zero segment size, or segments larger than the room given.
    #[error("the segment size {0} cannot be used")]
    SegmentSize(u16),
}

/// Calls `each` with every packet of `frame` (a virtio-net header and what follows it), with
/// checksums complete; returns how many there were. `scratch` is where segments are built:
/// it must hold the largest segment (headers and `gso_size` bytes).
pub fn split(
    frame: &mut [u8],
    scratch: &mut [u8],
    mut each: impl FnMut(&[u8]),
) -> Result<usize, SplitError> {
    let (header, packet) = frame
        .split_first_chunk_mut::<{ vnet::LEN }>()
        .ok_or(SplitError::Truncated)?;
    let header = VnetHeader::from_bytes(header);
    match header.gso_type & !GSO_ECN {
        GSO_NONE => {
            if header.flags & NEEDS_CSUM != 0 {
                complete_checksum(packet, header)?;
            }
            each(packet);
            Ok(1)
        }
        GSO_TCPV4 => segment_tcp(packet, header.gso_size, scratch, each),
        other => Err(SplitError::Unsupported(other)),
    }
}

/// Writes the checksum left to the device: the sum from `csum_start` to the end, over the
/// pseudo-header's sum the field already holds.
fn complete_checksum(packet: &mut [u8], header: VnetHeader) -> Result<(), SplitError> {
    let start = usize::from(header.csum_start);
    let at = start + usize::from(header.csum_offset);
    if at + 2 > packet.len() {
        return Err(SplitError::Truncated);
    }
    let mut value = checksum::finish(checksum::add(0, &packet[start..]));
    let udp = packet.first().is_some_and(|b| b >> 4 == 4) && packet.get(9) == Some(&UDP);
    if udp && value == 0 {
        // Zero means "no checksum" in UDP; its complement stands for a sum of zero.
        value = 0xffff;
    }
    packet[at..at + 2].copy_from_slice(&value.to_be_bytes());
    Ok(())
}

fn segment_tcp(
    packet: &[u8],
    gso_size: u16,
    scratch: &mut [u8],
    mut each: impl FnMut(&[u8]),
) -> Result<usize, SplitError> {
    let headers = TcpIpv4::parse(packet).ok_or(SplitError::Truncated)?;
    let header_len = headers.headers_len();
    let size = usize::from(gso_size);
    if size == 0 || header_len + size > scratch.len() {
        return Err(SplitError::SegmentSize(gso_size));
    }
    let payload = &packet[header_len..packet.len().min(headers.total_len.max(header_len))];
    let count = payload.len().div_ceil(size).max(1);
    let mut chunks = payload.chunks(size);
    for index in 0..count {
        let chunk = chunks.next().unwrap_or_default();
        let segment = &mut scratch[..header_len + chunk.len()];
        segment[..header_len].copy_from_slice(&packet[..header_len]);
        segment[header_len..].copy_from_slice(chunk);
        let placement = Placement {
            index,
            last: index + 1 == count,
            offset: index * size,
        };
        fix_segment(segment, headers, placement);
        each(segment);
    }
    Ok(count)
}

/// Where a segment sits in its super-packet.
struct Placement {
    index: usize,
    last: bool,
    /// Payload bytes before it.
    offset: usize,
}

/// Adjusts a copied header to its segment: lengths, identifier, sequence, flags, checksums.
fn fix_segment(segment: &mut [u8], headers: TcpIpv4, at: Placement) {
    let ip_len = headers.ip_len;
    let total = segment.len() as u16;
    segment[2..4].copy_from_slice(&total.to_be_bytes());
    let id = u16::from_be_bytes([segment[4], segment[5]]).wrapping_add(at.index as u16);
    segment[4..6].copy_from_slice(&id.to_be_bytes());
    checksum::set_ipv4_header(&mut segment[..ip_len]);

    let seq = ip::be32(segment, ip_len + 4).wrapping_add(at.offset as u32);
    segment[ip_len + 4..ip_len + 8].copy_from_slice(&seq.to_be_bytes());
    let mut flags = segment[ip_len + 13];
    if !at.last {
        flags &= !(FIN | PSH);
    }
    if at.index != 0 {
        flags &= !CWR;
    }
    segment[ip_len + 13] = flags;
    segment[ip_len + 16..ip_len + 18].fill(0);
    let (source, destination) = ip::addresses(segment);
    let length = (segment.len() - ip_len) as u16;
    let sum = checksum::pseudo_header(source, destination, TCP, length);
    let value = checksum::finish(checksum::add(sum, &segment[ip_len..]));
    segment[ip_len + 16..ip_len + 18].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::tests::{checksums_hold, tcp_packet};
    use crate::ip::{ACK, addresses};

    fn frame(header: VnetHeader, packet: &[u8]) -> Vec<u8> {
        let mut frame = header.to_bytes().to_vec();
        frame.extend_from_slice(packet);
        frame
    }

    fn split_all(frame: &mut [u8]) -> Result<Vec<Vec<u8>>, SplitError> {
        let mut scratch = vec![0u8; 1500];
        let mut out = Vec::new();
        split(frame, &mut scratch, |p| out.push(p.to_vec()))?;
        Ok(out)
    }

    fn tso(gso_size: u16) -> VnetHeader {
        VnetHeader {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 52,
            gso_size,
            csum_start: 20,
            csum_offset: 16,
        }
    }

    #[test]
    fn a_super_packet_becomes_segments_the_kernel_would_have_sent() {
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let mut super_packet = tcp_packet(5000, ACK | PSH | FIN, &payload);
        super_packet[36..38].fill(0xaa); // a partial sum, to be replaced
        let segments = split_all(&mut frame(tso(1368), &super_packet)).unwrap();

        let sizes: Vec<usize> = segments.iter().map(|s| s.len() - 52).collect();
        assert_eq!(sizes, [1368, 1368, 264]);
        for (i, segment) in segments.iter().enumerate() {
            let headers = TcpIpv4::parse(segment).unwrap();
            assert_eq!(headers.total_len, segment.len());
            assert_eq!(headers.seq(segment), 5000 + 1368 * i as u32);
            assert_eq!(
                u16::from_be_bytes([segment[4], segment[5]]),
                0x1234 + i as u16
            );
            assert!(checksums_hold(segment), "segment {i}");
            assert_eq!(addresses(segment), addresses(&super_packet));
            let last = i == 2;
            assert_eq!(headers.flags(segment) & (PSH | FIN) != 0, last);
            assert_eq!(
                &segment[52..],
                &payload[1368 * i..(1368 * (i + 1)).min(3000)]
            );
        }
    }

    #[test]
    fn cwr_stays_on_the_first_segment_only() {
        let super_packet = tcp_packet(1, ACK | CWR, &[7u8; 2000]);
        let mut header = tso(1000);
        header.gso_type |= GSO_ECN;
        let segments = split_all(&mut frame(header, &super_packet)).unwrap();
        let cwr: Vec<bool> = segments.iter().map(|s| s[33] & CWR != 0).collect();
        assert_eq!(cwr, [true, false]);
    }

    #[test]
    fn a_single_packet_gets_the_checksum_left_to_the_device() {
        let packet = tcp_packet(9, ACK, b"abc");
        let mut partial = packet.clone();
        let (source, destination) = addresses(&packet);
        let pseudo = checksum::fold(checksum::pseudo_header(source, destination, TCP, 35));
        partial[36..38].copy_from_slice(&pseudo.to_be_bytes());
        let mut header = tso(0);
        header.gso_type = GSO_NONE;
        let out = split_all(&mut frame(header, &partial)).unwrap();
        assert_eq!(out, std::slice::from_ref(&packet));

        let plain = split_all(&mut frame(VnetHeader::PLAIN, &packet)).unwrap();
        assert_eq!(plain, [packet]);
    }

    #[test]
    fn frames_it_cannot_cut_are_refused_with_the_reason() {
        let packet = tcp_packet(1, ACK, &[0u8; 100]);
        assert_eq!(split_all(&mut [0u8; 4]), Err(SplitError::Truncated));
        assert_eq!(
            split_all(&mut frame(tso(0), &packet)),
            Err(SplitError::SegmentSize(0))
        );
        assert_eq!(
            split_all(&mut frame(tso(4000), &packet)),
            Err(SplitError::SegmentSize(4000))
        );
        let mut udp = tso(1000);
        udp.gso_type = 5;
        assert_eq!(
            split_all(&mut frame(udp, &packet)),
            Err(SplitError::Unsupported(5))
        );
        let mut far = tso(0);
        far.gso_type = GSO_NONE;
        far.csum_start = 200;
        assert_eq!(
            split_all(&mut frame(far, &packet)),
            Err(SplitError::Truncated)
        );
    }
}
