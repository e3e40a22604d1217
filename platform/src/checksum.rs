//! The internet checksum (RFC 1071) of IPv4 headers and of TCP and UDP over IPv4.
//!
//! A sum is kept in a `u64` while bytes are added and folded to 16 bits at the end: adding
//! big-endian 32-bit words is the same as adding their two 16-bit halves, because 2¹⁶ is 1
//! modulo 2¹⁶ − 1. Every piece added must start at an even offset of the checksummed bytes.

use std::net::Ipv4Addr;

/// Adds `data` to a running sum, as big-endian 16-bit words; an odd last byte is the high
/// byte of a word whose low byte is zero.
pub fn add(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        sum += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    match *words.remainder() {
        [a, b, c] => sum + u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        [a, b] => sum + u64::from(u16::from_be_bytes([a, b])),
        [a] => sum + (u64::from(a) << 8),
        _ => sum,
    }
}

/// The sum folded to 16 bits, not yet complemented (what a partial checksum field holds).
pub fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum to write in a header: the folded sum, complemented.
pub fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// The sum of the IPv4 pseudo-header of a TCP or UDP segment of `length` bytes.
pub fn pseudo_header(source: Ipv4Addr, destination: Ipv4Addr, protocol: u8, length: u16) -> u64 {
    let sum = add(add(0, &source.octets()), &destination.octets());
    sum + u64::from(protocol) + u64::from(length)
}

/// Writes the checksum of the IPv4 header `header` (its length, options included) into it.
pub fn set_ipv4_header(header: &mut [u8]) {
    if header.len() < 20 {
        return;
    }
    header[10..12].fill(0);
    let value = finish(add(0, header));
    header[10..12].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition: 16-bit words one by one, carries folded at each step.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn matches_the_word_by_word_definition_for_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(
                finish(add(0, &data[..len])),
                reference(&data[..len]),
                "{len}"
            );
        }
    }

    #[test]
    fn an_ipv4_header_with_its_checksum_sums_to_zero() {
        // The example header of RFC 1071's usual illustrations, checksum field zeroed.
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        set_ipv4_header(&mut header);
        assert_eq!(&header[10..12], &[0xb8, 0x61]);
        assert_eq!(fold(add(0, &header)), 0xffff);
    }

    #[test]
    fn sums_of_pieces_at_even_offsets_add_up() {
        let data: Vec<u8> = (0..101u8).collect();
        let whole = add(0, &data);
        let pieces = add(add(add(0, &data[..12]), &data[12..40]), &data[40..]);
        assert_eq!(fold(whole), fold(pieces));
    }
}
