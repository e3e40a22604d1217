//! Decrypted packets from a tunnel peer, arbitrary, on their way into the TUN device: each
//! input is a sequence of packets, each prefixed by its 16-bit length. Joining them never
//! panics, and what is written to the device, cut again as the kernel would, is exactly as
//! many packets and bytes as went in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_platform::coalesce::Coalescer;
use vigie_platform::split::split;
use vigie_platform::vnet;

fuzz_target!(|data: &[u8]| {
    let mut packets = Vec::new();
    let mut rest = data;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
        packets.push(&tail[..len]);
        rest = &tail[len..];
    }
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut sink = |header: &[u8; vnet::LEN], packet: &[u8]| {
        let mut frame = header.to_vec();
        frame.extend_from_slice(packet);
        frames.push(frame);
    };
    let mut coalescer = Coalescer::new(true);
    for packet in &packets {
        coalescer.push(packet, &mut sink);
    }
    coalescer.flush(&mut sink);

    let (mut count, mut bytes) = (0, 0);
    let mut scratch = vec![0u8; 70_000];
    for frame in &mut frames {
        split(frame, &mut scratch, |p| {
            count += 1;
            bytes += p.len();
        })
        .expect("the coalescer writes only frames the kernel can cut");
    }
    assert_eq!(count, packets.len());
    assert_eq!(bytes, packets.iter().map(|p| p.len()).sum::<usize>());
});
