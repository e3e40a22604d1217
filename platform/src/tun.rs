//! A TUN device that moves 64 KiB at a time: opened with the virtio-net header and told it
//! may hand over TCP super-packets with their checksums left to it, as a network card with
//! segmentation offload would. Reads then give up to 64 KiB of one flow in one system call
//! ([`crate::split`] cuts them); writes take super-packets ([`crate::coalesce`] makes them).
//!
//! The device is created and configured (address, netmask, MTU, up) by the `tun` crate;
//! this module adds the offload switch and reads and writes whole frames. When the kernel
//! refuses the offloads, frames still carry a (plain) virtio-net header and everything
//! works one packet at a time.
//!
//! The device is gone, with its address and routes, when the [`OffloadTun`] is dropped.

use std::io::IoSlice;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd as _, IntoRawFd as _, OwnedFd};

use crate::vnet;

/// What the device is told it may hand over: partial checksums and TCP-over-IPv4
/// super-packets, with ECN (the tunnels carry IPv4 only; the kernel cuts anything else).
const OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO_ECN;

/// The largest frame a read returns: a virtio-net header and a 64 KiB packet.
pub const MAX_FRAME: usize = vnet::LEN + 65_536;

/// Why a TUN device could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the TUN device {name}: {detail}")]
pub struct TunError {
    /// The device's name.
    pub name: String,
    /// The system's answer.
    pub detail: String,
}

/// A TUN device with the virtio-net header, and segmentation offload when the kernel has it.
#[derive(Debug)]
pub struct OffloadTun {
    fd: OwnedFd,
    offloads: bool,
}

impl OffloadTun {
    /// Creates device `name` with `address`/`netmask` and `mtu`, up.
    pub fn open(
        name: &str,
        address: Ipv4Addr,
        netmask: Ipv4Addr,
        mtu: u16,
    ) -> Result<Self, TunError> {
        let mut settings = tun::Configuration::default();
        settings
            .tun_name(name)
            .address(address)
            .netmask(netmask)
            .mtu(mtu)
            .up();
        settings.platform_config(|platform| {
            platform.vnet_hdr(true);
        });
        let device = tun::create(&settings).map_err(|e| TunError {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        // SAFETY: `into_raw_fd` gives up the device's descriptor, open and owned by nobody
        // else from now on; `OwnedFd` closes it exactly once.
        #[expect(
            unsafe_code,
            reason = "taking ownership of the TUN device's descriptor"
        )]
        let fd = unsafe { OwnedFd::from_raw_fd(device.into_raw_fd()) };
        let offloads = match set_offloads(fd.as_fd(), OFFLOADS) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(device = name, %error, "TUN offloads refused; one packet at a time");
                false
            }
        };
        Ok(Self { fd, offloads })
    }

    /// Whether the device hands over and takes super-packets.
    pub fn offloads(&self) -> bool {
        self.offloads
    }

    /// Reads one frame (virtio-net header and packet) into `frame`, which should hold
    /// [`MAX_FRAME`] bytes; blocks until there is one.
    pub fn read(&self, frame: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match rustix::io::read(&self.fd, &mut *frame) {
                Err(rustix::io::Errno::INTR) => continue,
                result => return result.map_err(std::io::Error::from),
            }
        }
    }

    /// Writes one frame: its virtio-net header, then the packet.
    pub fn write(&self, header: &[u8; vnet::LEN], packet: &[u8]) -> std::io::Result<()> {
        let parts = [IoSlice::new(header), IoSlice::new(packet)];
        loop {
            match rustix::io::writev(&self.fd, &parts) {
                Err(rustix::io::Errno::INTR) => continue,
                result => return result.map(|_| ()).map_err(std::io::Error::from),
            }
        }
    }
}

impl AsFd for OffloadTun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `TUNSETOFFLOAD`: which offloaded packets the device may hand over.
fn set_offloads(fd: BorrowedFd<'_>, offloads: libc::c_uint) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: TUNSETOFFLOAD takes its argument by value (no pointer), on a descriptor that is
    // open for the duration of the call (borrowed).
    #[expect(unsafe_code, reason = "the TUNSETOFFLOAD ioctl has no safe wrapper")]
    let result = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD as _,
            libc::c_ulong::from(offloads),
        )
    };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
