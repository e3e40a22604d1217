//! Vigie's data path on Linux: the system side of the WireGuard tunnel that the client
//! (`vigie up`) and the connector (`vigie-connector serve`) both run, so that packets move
//! 64 KiB per system call instead of one at a time.
//!
//! A crate of its own because both ends need the same platform code and it is the only
//! place of the shipped programs with `unsafe` (one ioctl, one descriptor taken over, both in
//! [`tun`]); everything else here is safe and has no state beyond its buffers.
//!
//! ```text
//!            TUN device (virtio-net header, TSO)              UDP socket (GSO / GRO)
//!  kernel ─▶ 64 KiB TCP super-packet ─▶ split ─▶ segments ─▶ [WireGuard] ─▶ SendBatch ─▶ one send
//!  kernel ◀─ super-packet ◀─ Coalescer ◀─ packets ◀─ [WireGuard] ◀─ RecvBatch ◀─ one recvmmsg
//! ```
//!
//! - [`tun`]: a TUN device with the virtio-net header and segmentation offload;
//! - [`split`]: a super-packet from it cut into segments with complete checksums;
//! - [`coalesce`]: consecutive TCP segments joined into a super-packet for it;
//! - [`udp`]: the UDP socket with segmentation and receive offloads, and send batching;
//! - [`wake`]: waiting on a descriptor, a timer or a stop request;
//! - [`checksum`], [`ip`], [`vnet`]: the internet checksum, IPv4/TCP headers, the
//!   virtio-net header.
//!
//! Not here: WireGuard itself (boringtun, in each end's own tunnel module), the filter, and
//! any decision about what may pass. IPv4 only, like the tunnels.

pub mod checksum;
pub mod coalesce;
pub mod ip;
pub mod split;
pub mod tun;
pub mod udp;
pub mod vnet;
pub mod wake;
