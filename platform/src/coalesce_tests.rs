use super::*;
use crate::ip::tests::{checksums_hold, tcp_packet};
use crate::ip::{FIN, SYN, UDP};
use crate::split::split;

/// The frames a coalescer wrote, with their headers.
#[derive(Default)]
struct Frames(Vec<(VnetHeader, Vec<u8>)>);

impl FrameSink for Frames {
    fn write_frame(&mut self, header: &[u8; vnet::LEN], packet: &[u8]) {
        self.0
            .push((VnetHeader::from_bytes(header), packet.to_vec()));
    }
}

/// Segments of `size` bytes of `payload` from `seq`, as a sender's kernel cuts them.
fn segments(seq: u32, payload: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut at = 0;
    payload
        .chunks(size)
        .map(|chunk| {
            let packet = tcp_packet(seq + at, ACK, chunk);
            at += chunk.len() as u32;
            packet
        })
        .collect()
}

fn coalesce(packets: &[Vec<u8>]) -> Vec<(VnetHeader, Vec<u8>)> {
    let mut coalescer = Coalescer::new(true);
    let mut frames = Frames::default();
    for packet in packets {
        coalescer.push(packet, &mut frames);
    }
    coalescer.flush(&mut frames);
    frames.0
}

/// A flow's packet with other ports.
fn other_flow(mut packet: Vec<u8>) -> Vec<u8> {
    packet[20] = 0xd0;
    repair(packet)
}

#[test]
fn consecutive_segments_become_one_super_packet_that_splits_back_into_them() {
    let payload: Vec<u8> = (0..40 * 1368u32).map(|i| (i % 251) as u8).collect();
    let sent = segments(1_000_000, &payload, 1368);
    let frames = coalesce(&sent);
    assert_eq!(frames.len(), 1);
    let (header, packet) = &frames[0];
    assert_eq!(header.gso_type, GSO_TCPV4);
    assert_eq!(header.flags, NEEDS_CSUM);
    assert_eq!(usize::from(header.gso_size), 1368);
    assert_eq!(usize::from(header.hdr_len), 52);
    assert_eq!(&packet[52..], payload.as_slice());
    assert_eq!(TcpIpv4::parse(packet).unwrap().total_len, packet.len());
    assert_eq!(checksum::fold(checksum::add(0, &packet[..20])), 0xffff);

    // The kernel's view: cutting it again gives exactly the segments that were sent.
    let mut frame = header.to_bytes().to_vec();
    frame.extend_from_slice(packet);
    let mut again = Vec::new();
    let mut scratch = vec![0u8; 1500];
    split(&mut frame, &mut scratch, |s| again.push(s.to_vec())).unwrap();
    assert_eq!(again.len(), sent.len());
    for (a, b) in again.iter().zip(&sent) {
        assert_eq!(a[20..], b[20..], "TCP header and payload");
        assert!(checksums_hold(a));
    }
}

#[test]
fn interleaved_flows_are_joined_each_in_its_own_order() {
    let a = segments(10, &[1u8; 4000], 1000);
    let b: Vec<_> = segments(500, &[2u8; 3000], 1000)
        .into_iter()
        .map(other_flow)
        .collect();
    let mixed = vec![
        a[0].clone(),
        b[0].clone(),
        a[1].clone(),
        b[1].clone(),
        a[2].clone(),
        b[2].clone(),
        a[3].clone(),
    ];
    let frames = coalesce(&mixed);
    assert_eq!(frames.len(), 2);
    let payloads: Vec<usize> = frames.iter().map(|(_, p)| p.len() - 52).collect();
    assert_eq!(payloads, [4000, 3000]);
    assert!(frames[0].1[52..].iter().all(|&b| b == 1));
    assert!(frames[1].1[52..].iter().all(|&b| b == 2));
}

#[test]
fn a_gap_a_shorter_segment_or_psh_ends_the_group() {
    let mut sent = segments(0, &[0u8; 2500], 1000); // 1000, 1000, 500
    sent.push(tcp_packet(2500, ACK, &[0u8; 1000])); // after the shorter one
    sent.push(tcp_packet(9000, ACK, &[0u8; 1000])); // a gap
    sent.push(tcp_packet(10_000, ACK | PSH, &[0u8; 1000]));
    sent.push(tcp_packet(11_000, ACK, &[0u8; 1000])); // after PSH
    let frames = coalesce(&sent);
    let shapes: Vec<(u8, usize)> = frames
        .iter()
        .map(|(h, p)| (h.gso_type, p.len() - 52))
        .collect();
    assert_eq!(
        shapes,
        [(GSO_TCPV4, 2500), (0, 1000), (GSO_TCPV4, 2000), (0, 1000)]
    );
    assert_ne!(frames[2].1[33] & PSH, 0, "PSH carried to the joined packet");
}

#[test]
fn other_packets_go_alone_after_their_flows_group() {
    let mut sent = segments(0, &[0u8; 2000], 1000);
    sent.push(tcp_packet(2000, ACK | FIN, &[]));
    sent.push(tcp_packet(0, SYN, &[]));
    let mut udp = tcp_packet(0, ACK, b"datagram");
    udp[9] = UDP;
    sent.push(udp.clone());
    let mut bad = tcp_packet(3000, ACK, &[0u8; 1000]);
    bad[60] ^= 0xff; // payload changed, checksum no longer right
    sent.push(bad.clone());
    let frames = coalesce(&sent);
    assert_eq!(frames.len(), 5);
    assert_eq!(frames[0].0.gso_type, GSO_TCPV4);
    assert_eq!(frames[1].1, sent[2], "FIN after the data before it");
    assert_eq!(frames[2].1, sent[3]);
    assert_eq!(frames[3].1, udp);
    assert_eq!(frames[4], (VnetHeader::PLAIN, bad));
}

#[test]
fn without_offloads_every_packet_goes_alone_untouched() {
    let sent = segments(0, &[3u8; 3000], 1000);
    let mut coalescer = Coalescer::new(false);
    let mut frames = Frames::default();
    for packet in &sent {
        coalescer.push(packet, &mut frames);
    }
    coalescer.flush(&mut frames);
    let plain: Vec<_> = sent
        .iter()
        .map(|p| (VnetHeader::PLAIN, p.clone()))
        .collect();
    assert_eq!(frames.0, plain);
}

#[test]
fn more_flows_than_slots_lose_nothing() {
    let mut sent = Vec::new();
    for flow in 0..(SLOTS as u8 + 3) {
        for packet in segments(0, &[flow; 2000], 1000) {
            let mut packet = other_flow(packet);
            packet[21] = flow;
            sent.push(repair(packet));
        }
    }
    let frames = coalesce(&sent);
    let total: usize = frames.iter().map(|(_, p)| p.len() - 52).sum();
    assert_eq!(total, 2000 * (SLOTS + 3));
    assert_eq!(frames.len(), SLOTS + 3);
}

#[test]
fn a_group_never_grows_past_the_largest_ip_packet() {
    let sent = segments(0, &vec![5u8; 100 * 1000], 1000);
    let frames = coalesce(&sent);
    assert!(frames.iter().all(|(_, p)| p.len() <= MAX_PACKET));
    let total: usize = frames.iter().map(|(_, p)| p.len() - 52).sum();
    assert_eq!(total, 100 * 1000);
    assert_eq!(frames.len(), 2);
}

/// Recomputes the TCP checksum after an edit.
fn repair(mut packet: Vec<u8>) -> Vec<u8> {
    packet[36..38].fill(0);
    let (source, destination) = ip::addresses(&packet);
    let length = (packet.len() - 20) as u16;
    let sum = checksum::pseudo_header(source, destination, TCP, length);
    let value = checksum::finish(checksum::add(sum, &packet[20..]));
    packet[36..38].copy_from_slice(&value.to_be_bytes());
    packet
}

#[test]
fn tiny_segments_make_groups_of_at_most_64() {
    let sent = segments(0, &[9u8; 200], 1);
    let frames = coalesce(&sent);
    let counts: Vec<usize> = frames.iter().map(|(_, p)| p.len() - 52).collect();
    assert_eq!(counts, [64, 64, 64, 8]);
    assert!(frames.iter().all(|(h, _)| h.gso_size == 1));
}
