//! The virtio-net header that precedes every packet on a TUN device opened with
//! `IFF_VNET_HDR`: it says whether the packet is a segmentation-offload "super-packet" (and
//! its segment size), and where a checksum left to the device must be written.
//!
//! Ten bytes, little-endian (the TUN device's default on the little-endian machines Vigie
//! runs on), laid out as `struct virtio_net_hdr` of `<linux/virtio_net.h>`.

/// The header's length in bytes.
pub const LEN: usize = 10;

/// `flags`: the checksum from `csum_start` to the end is left to be computed and written at
/// `csum_start + csum_offset`, whose field holds the pseudo-header's sum.
pub const NEEDS_CSUM: u8 = 1;
/// `gso_type`: a single packet.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: a TCP over IPv4 super-packet, to be cut into segments of `gso_size` bytes.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type` bit: the segments carry ECN's congestion-window-reduced flag.
pub const GSO_ECN: u8 = 0x80;

/// One virtio-net header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHeader {
    /// [`NEEDS_CSUM`] or nothing.
    pub flags: u8,
    /// [`GSO_NONE`], [`GSO_TCPV4`] (with [`GSO_ECN`]), or a kind Vigie does not ask for.
    pub gso_type: u8,
    /// The length of the headers of each segment.
    pub hdr_len: u16,
    /// The payload bytes of each segment but the last.
    pub gso_size: u16,
    /// Where the checksummed bytes start.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHeader {
    /// A single packet with its checksums complete.
    pub const PLAIN: Self = Self {
        flags: 0,
        gso_type: GSO_NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Reads the header at the start of `frame`, and returns it with the packet after it.
    pub fn parse(frame: &[u8]) -> Option<(Self, &[u8])> {
        let (header, packet) = frame.split_first_chunk::<LEN>()?;
        Some((Self::from_bytes(header), packet))
    }

    /// The header in these ten bytes.
    pub fn from_bytes(bytes: &[u8; LEN]) -> Self {
        let word = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        Self {
            flags: bytes[0],
            gso_type: bytes[1],
            hdr_len: word(2),
            gso_size: word(4),
            csum_start: word(6),
            csum_offset: word(8),
        }
    }

    /// The header's ten bytes.
    pub fn to_bytes(self) -> [u8; LEN] {
        let mut bytes = [0u8; LEN];
        bytes[0] = self.flags;
        bytes[1] = self.gso_type;
        bytes[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        bytes[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        bytes[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        bytes[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes_in_the_kernel_layout() {
        let header = VnetHeader {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV4 | GSO_ECN,
            hdr_len: 52,
            gso_size: 1368,
            csum_start: 20,
            csum_offset: 16,
        };
        let bytes = header.to_bytes();
        assert_eq!(bytes, [1, 0x81, 52, 0, 0x58, 0x05, 20, 0, 16, 0]);
        let mut frame = bytes.to_vec();
        frame.extend_from_slice(b"packet");
        assert_eq!(
            VnetHeader::parse(&frame),
            Some((header, b"packet".as_slice()))
        );
        assert_eq!(VnetHeader::parse(&frame[..9]), None);
    }
}
