//! Frames from a TUN device with offloads, arbitrary: a virtio-net header and what follows.
//! Cutting them never panics, every segment of a super-packet fits the room given, and every TCP segment cut
//! from a super-packet carries a correct checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_platform::ip::TcpIpv4;
use vigie_platform::split::split;
use vigie_platform::vnet::{GSO_TCPV4, VnetHeader};
use vigie_platform::{checksum, ip};

fuzz_target!(|data: &[u8]| {
    let mut frame = data.to_vec();
    let super_packet = VnetHeader::parse(data).is_some_and(|(h, _)| h.gso_type & 0x7f == GSO_TCPV4);
    let scratch_len = 2048;
    let mut scratch = vec![0u8; scratch_len];
    let _ = split(&mut frame, &mut scratch, |segment| {
        if super_packet {
            assert!(segment.len() <= scratch_len);
            let headers = TcpIpv4::parse(segment).expect("a segment of a TCP super-packet");
            assert_eq!(headers.total_len, segment.len());
            let (source, destination) = ip::addresses(segment);
            let length = (segment.len() - headers.ip_len) as u16;
            let sum = checksum::pseudo_header(source, destination, ip::TCP, length);
            let tcp = checksum::fold(checksum::add(sum, &segment[headers.ip_len..]));
            assert_eq!(tcp, 0xffff);
        }
    });
});
