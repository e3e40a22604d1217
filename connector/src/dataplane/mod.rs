//! The WireGuard data plane: per-session tunnels, the app filter, forwarding to the backends.
//!
//! ```text
//!  client ── WireGuard/UDP :51820 ──┐                       ┌─ TUN vigie0 ─ kernel ─ backends
//!  client ── Datagram in control ───┼─ engine: session by ──┤   nftables: DNAT app → backend,
//!                                   │  index/key, boringtun, │   masquerade to the LAN address
//!                                   │  filter, DNS answers   │
//!                                   └────────────────────────┘
//! ```
//!
//! - **One UDP socket of its own** ([`DataPlaneConfig::port`], 51820 by default), apart from
//!   the QUIC port: quinn owns its socket and would need a custom socket layer to pass
//!   WireGuard packets aside, and a separate port lets a hospital firewall and monitor the
//!   two kinds of traffic separately. Grants tell clients where it is (`session.endpoints`).
//! - **Sessions** ([`engine`]): one boringtun tunnel per granted session, keyed by the
//!   client's ephemeral key from its hello. A data packet finds its session by receiver
//!   index; a handshake initiation by the static key it carries, decrypted only after mac1
//!   (and under load the cookie) passed, so nothing of Vigie's runs for a packet that fails
//!   WireGuard's own checks. A session's endpoint is the source of its last authenticated
//!   packet (roaming). Packets a client sends inside its control connection
//!   ([`DataPlane::handle_control`]) make the session answer the same way, automatically.
//! - **Filter** ([`filter`]): only packets from the session's tunnel address to its apps'
//!   virtual addresses on published ports pass; the DNS address is answered here ([`dns`]);
//!   the rest is dropped and counted by reason, and refused at once with a TCP reset or an
//!   ICMP unreachable ([`reply`]).
//! - **Forwarding** ([`nft`]): accepted packets go into a TUN device; the kernel translates
//!   the virtual address to the backend's and the source to the connector's own address,
//!   with connection tracking. Kernel NAT is used rather than a userspace one: it is
//!   complete (TCP, UDP, ICMP errors, fragments on the LAN side), fast, and inspectable with
//!   `nft list table ip vigie` and `conntrack -L` by the hospital's network team.
//!
//! - **Batches** ([`vigie_platform`]): the TUN device has segmentation offload, so the
//!   kernel hands over and takes 64 KiB TCP super-packets; the UDP socket sends runs of
//!   equal datagrams in one call (GSO) and reads joined runs (GRO). The engine still sees
//!   one packet at a time: super-packets are cut before it, and its output is gathered.
//!
//! The engine does no I/O; [`DataPlane`] runs it on two threads (UDP and timers, TUN) behind
//! one lock, taken once per batch. Its counters are exported by `serve`'s metrics
//! ([`crate::serve::metrics`]). Not here yet: IPv6 inside the tunnel, more than one thread
//! per direction (a TUN device with several queues and a socket per core would let a larger
//! machine spread many sessions' traffic over its cores).

mod counters;
pub mod dns;
pub mod engine;
pub mod filter;
pub mod hook;
pub mod nft;
pub mod packet;
pub mod reply;
mod runtime;
pub mod tunnel;

use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;
use tokio::sync::mpsc;
use vigie_protocol::{SessionId, WireGuardKey};

pub use counters::Counters;
pub use engine::Path;
pub use filter::DropReason;
pub use nft::NatApp;
pub use runtime::DataPlane;

use crate::admission::AppAccess;

/// `[dataplane]`: the WireGuard data plane. Needs root (a TUN device and nftables).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataPlaneConfig {
    /// Whether the connector runs the data plane (off: clients get grants but no tunnel).
    #[serde(default)]
    pub enabled: bool,
    /// The address of the WireGuard UDP socket.
    #[serde(default = "any_address")]
    pub address: IpAddr,
    /// The WireGuard UDP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The TUN device's name.
    #[serde(default = "default_tun")]
    pub tun: String,
    /// The TUN device's MTU: 1420 fits WireGuard in a 1500-byte underlay.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
}

impl Default for DataPlaneConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: any_address(),
            port: default_port(),
            tun: default_tun(),
            mtu: default_mtu(),
        }
    }
}

fn any_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

fn default_port() -> u16 {
    51820
}

fn default_tun() -> String {
    "vigie0".into()
}

fn default_mtu() -> u16 {
    1420
}

/// A granted session, as the data plane needs it.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    /// The session.
    pub id: SessionId,
    /// The client's WireGuard public key (ephemeral, from its hello).
    pub client_key: WireGuardKey,
    /// The client's address inside the tunnel.
    pub tunnel_address: Ipv4Addr,
    /// What the session may reach.
    pub apps: Vec<AppAccess>,
    /// Where WireGuard datagrams for the client go when it tunnels inside its control
    /// connection; `None` for a UDP-only session.
    pub control: Option<mpsc::Sender<Vec<u8>>>,
}

/// Why the data plane cannot start or take a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataPlaneError {
    /// A setting cannot work (the local administrator's to fix).
    #[error("[dataplane]: {0}")]
    Config(String),
    /// The system refused a resource: socket, TUN device, nftables (the local
    /// administrator's to fix: root, the nftables package, a free port).
    #[error("{what}: {detail}")]
    System {
        /// What was being done.
        what: &'static str,
        /// The system's answer.
        detail: String,
    },
    /// The session, its key or its tunnel address is already in the data plane (a bug of
    /// the caller).
    #[error("the session, its key or its tunnel address is already in the data plane")]
    Duplicate,
    /// Every session index is in use.
    #[error("the data plane holds as many sessions as it can")]
    Full,
}
