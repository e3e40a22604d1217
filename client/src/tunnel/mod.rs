//! The client's side of the WireGuard tunnel: a TUN device holding the session's tunnel
//! address, routes for the granted apps only (split tunnel), WireGuard (boringtun) to the
//! connector, and the apps' names.
//!
//! ```text
//!  app traffic ─▶ TUN (vigie0) ─▶ [tun thread] split, encapsulate ─┬─▶ UDP ──────────▶ connector
//!                                                                  └─▶ control connection ─▶
//!  app traffic ◀─ TUN ◀─ join ◀─ decapsulate [udp thread: UDP, WireGuard's timers] ◀─ UDP
//!                      ◀─ decapsulate [`Tunnel::handle_control`] ◀─ control connection
//! ```
//!
//! Packets move in batches ([`vigie_platform`]): the TUN device hands over TCP super-packets
//! of up to 64 KiB, cut into segments that each become one WireGuard datagram, sent together
//! in one system call; datagrams from the connector are read many per call, and consecutive
//! TCP segments are joined again before they go into the TUN device.
//!
//! Only the apps' virtual addresses (and the connector's resolver) are routed into the
//! tunnel; the rest of the machine's traffic never sees it. Names: systemd-resolved's split
//! DNS when it runs (the app names go to the connector's resolver through the tunnel),
//! else marked lines in `/etc/hosts` ([`names`]).
//!
//! **Where UDP is blocked**, WireGuard's datagrams travel inside the control connection
//! instead: from the start when the control connection itself had to fall back to TCP or the
//! grant names no UDP endpoint, else as soon as WireGuard's first handshake has gone
//! unanswered over UDP for [`UDP_PATIENCE`]. The connector follows on the first packet, as it
//! follows a laptop whose address changed (WireGuard roaming): the tunnel's UDP socket is
//! bound to no address, so its packets leave from whatever address the machine has now.
//!
//! What the client changes on the machine and how it is undone:
//! - the TUN device, its address and routes: they vanish with the device, which the kernel
//!   removes when the process closes it, however the process ends;
//! - systemd-resolved's settings for the device: they vanish with the device too;
//! - the hosts-file lines: removed when the tunnel stops; lines left by a process that
//!   died are removed by the next start ([`clean_after_crash`]).
//!
//! boringtun reads the clock itself; it is only called from this module.

pub mod names;
mod system;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use boringtun::noise::{Tunn, TunnResult};
use tokio::sync::mpsc;
use tracing::{debug, info, trace};
use vigie_platform::coalesce::{Coalescer, FrameSink};
use vigie_platform::tun::{MAX_FRAME, OffloadTun};
use vigie_platform::udp::{BatchUdp, RecvBatch, SendBatch};
use vigie_platform::vnet;
use vigie_platform::wake::{self, Stop, Wait};
use vigie_protocol::SessionGrant;
use x25519_dalek::{PublicKey, StaticSecret};

pub use names::DnsMode;

/// The TUN device's name when none is given.
pub const DEFAULT_DEVICE: &str = "vigie0";
/// How long WireGuard's first handshake may go unanswered over UDP before the tunnel moves
/// inside the control connection.
pub const UDP_PATIENCE: Duration = Duration::from_secs(4);
/// Fits WireGuard over IPv4 or IPv6 in a 1500-byte underlay.
const MTU: u16 = 1420;
/// How often WireGuard's timers run.
const TICK: Duration = Duration::from_millis(250);
/// Keeps NAT bindings open and lets the connector follow a client that moves.
const KEEPALIVE_SECONDS: u16 = 25;
/// The largest datagram or packet handled.
const BUFFER: usize = 65_536;

/// How the tunnel is set up on this machine.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// The TUN device's name.
    pub device: String,
    /// How app names are made to resolve.
    pub dns: DnsMode,
}

/// Why the tunnel could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// The grant cannot be used for a tunnel (no IPv4 address, no app…).
    #[error("{0}")]
    Grant(String),
    /// The machine refused a change (TUN device, route, names).
    #[error("{what}: {detail}")]
    System { what: &'static str, detail: String },
}

impl TunnelError {
    fn system(what: &'static str) -> impl Fn(std::io::Error) -> Self {
        move |e| Self::System {
            what,
            detail: e.to_string(),
        }
    }
}

/// How WireGuard's datagrams reach the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Over UDP, to this endpoint of the grant.
    Udp(SocketAddr),
    /// Inside the control connection.
    Control,
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Udp(endpoint) => write!(f, "WireGuard over UDP to {endpoint}"),
            Self::Control => f.write_str("WireGuard inside the control connection (UDP blocked)"),
        }
    }
}

/// Bytes and packets through the tunnel, both ways.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
}

#[derive(Default)]
struct Counters {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
}

impl Counters {
    fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn received(&self, bytes: usize) {
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.packets_received.fetch_add(1, Ordering::Relaxed);
    }
}

/// What both threads and the control loop share.
struct Shared {
    wireguard: Mutex<Tunn>,
    udp: BatchUdp,
    endpoint: Option<SocketAddr>,
    tun: OffloadTun,
    /// Datagrams for the control connection.
    control: mpsc::Sender<Vec<u8>>,
    over_control: AtomicBool,
    counters: Counters,
    /// While set, packets from the machine are dropped (the card is out).
    paused: AtomicBool,
    stop: Stop,
    started: Instant,
}

impl Shared {
    fn wireguard(&self) -> MutexGuard<'_, Tunn> {
        self.wireguard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn path(&self) -> Path {
        match self.endpoint {
            Some(endpoint) if !self.over_control.load(Ordering::Relaxed) => Path::Udp(endpoint),
            _ => Path::Control,
        }
    }

    /// Sends a WireGuard datagram to the connector by the current path, now.
    fn send(&self, datagram: &[u8]) {
        match self.path() {
            Path::Udp(endpoint) => self.udp.send(endpoint, datagram, None),
            Path::Control => self.send_control(datagram),
        }
    }

    /// Sends a WireGuard datagram by the current path, gathered into `runs` over UDP.
    fn send_gathered(&self, runs: &mut SendBatch, datagram: &[u8]) {
        match self.path() {
            Path::Udp(endpoint) => runs.push(&mut &self.udp, endpoint, datagram),
            Path::Control => self.send_control(datagram),
        }
    }

    fn send_control(&self, datagram: &[u8]) {
        if self.control.try_send(datagram.to_vec()).is_err() {
            trace!("the control connection is full or closed; datagram dropped");
        }
    }

    /// A WireGuard datagram from the connector, by either path; what it carries goes to
    /// `lan`, to be written to the device when the batch ends.
    fn receive(&self, wireguard: &mut Tunn, datagram: &[u8], out: &mut [u8], lan: &mut Coalescer) {
        let from = match self.path() {
            Path::Udp(endpoint) => Some(endpoint.ip()),
            Path::Control => None,
        };
        match wireguard.decapsulate(from, datagram, out) {
            TunnResult::WriteToNetwork(bytes) => {
                self.send(bytes);
                // Packets that waited for the handshake go out now.
                while let TunnResult::WriteToNetwork(bytes) = wireguard.decapsulate(None, &[], out)
                {
                    self.send(bytes);
                }
            }
            TunnResult::WriteToTunnelV4(packet, _) | TunnResult::WriteToTunnelV6(packet, _) => {
                self.counters.received(packet.len());
                lan.push(packet, &mut TunSink(&self.tun));
            }
            TunnResult::Done => {}
            TunnResult::Err(error) => trace!(?error, "a WireGuard datagram was refused"),
        }
    }

    /// Moves the tunnel inside the control connection if UDP never got an answer.
    fn fall_back_if_unanswered(&self, out: &mut [u8]) {
        let waiting = self.path() != Path::Control
            && self.started.elapsed() >= UDP_PATIENCE
            && self.wireguard().stats().0.is_none();
        if !waiting {
            return;
        }
        self.over_control.store(true, Ordering::SeqCst);
        info!("no WireGuard answer over UDP; the tunnel goes inside the control connection");
        let mut wireguard = self.wireguard();
        if let TunnResult::WriteToNetwork(bytes) = wireguard.format_handshake_initiation(out, true)
        {
            self.send(bytes);
        }
    }
}

/// Where packets for the machine go.
struct TunSink<'a>(&'a OffloadTun);

impl FrameSink for TunSink<'_> {
    fn write_frame(&mut self, header: &[u8; vnet::LEN], packet: &[u8]) {
        if let Err(error) = self.0.write(header, packet) {
            trace!(%error, "a packet could not be written to the TUN device");
        }
    }
}

/// A running tunnel; dropping it stops it and undoes what it changed.
pub struct Tunnel {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    names: names::Applied,
    device: String,
    /// Room for the packet decrypted from a control-connection datagram.
    scratch: Box<[u8]>,
    /// Hands those packets to the device one by one.
    control_lan: Coalescer,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("device", &self.device)
            .field("path", &self.shared.path())
            .finish_non_exhaustive()
    }
}

/// What the tunnel needs from the control connection.
#[derive(Debug)]
pub struct ControlLink {
    /// Where datagrams for the control connection go.
    pub datagrams: mpsc::Sender<Vec<u8>>,
    /// The control connection itself found UDP blocked: start inside it.
    pub udp_blocked: bool,
}

impl Tunnel {
    /// Opens the device, routes the grant's apps into it, makes their names resolve and
    /// starts WireGuard with `secret` (the key whose public half the connector has).
    pub fn start(
        grant: &SessionGrant,
        secret: &StaticSecret,
        config: &TunnelConfig,
        control: ControlLink,
    ) -> Result<Self, TunnelError> {
        let plan = Plan::of(grant)?;
        let udp = bind_udp(plan.endpoint)?;
        let tun = system::open_device(&config.device, plan.address, MTU)?;
        system::add_routes(&config.device, &plan.routes)?;
        let names = names::apply(&config.dns, &config.device, grant)?;
        let wireguard = Tunn::new(
            secret.clone(),
            PublicKey::from(grant.connector_key.0),
            None,
            Some(KEEPALIVE_SECONDS),
            0,
            None,
        );
        let shared = Arc::new(Shared {
            wireguard: Mutex::new(wireguard),
            udp,
            endpoint: plan.endpoint,
            tun,
            control: control.datagrams,
            over_control: AtomicBool::new(control.udp_blocked),
            counters: Counters::default(),
            paused: AtomicBool::new(false),
            stop: Stop::new()
                .map_err(TunnelError::system("cannot make the tunnel's stop event"))?,
            started: Instant::now(),
        });
        let offloads = shared.tun.offloads();
        let mut tunnel = Self {
            shared,
            threads: Vec::new(),
            names,
            device: config.device.clone(),
            scratch: vec![0; BUFFER].into_boxed_slice(),
            control_lan: Coalescer::new(false),
        };
        tunnel.handshake();
        tunnel.spawn()?;
        info!(device = %config.device, offloads, "tunnel up");
        debug!(path = %tunnel.path(), address = %plan.address, "tunnel addresses");
        Ok(tunnel)
    }

    /// Starts WireGuard's handshake now rather than with the first packet.
    fn handshake(&self) {
        let mut out = vec![0u8; 256];
        let mut wireguard = self.shared.wireguard();
        if let TunnResult::WriteToNetwork(datagram) =
            wireguard.format_handshake_initiation(&mut out, false)
        {
            self.shared.send(datagram);
        }
    }

    fn spawn(&mut self) -> Result<(), TunnelError> {
        let shared = Arc::clone(&self.shared);
        let udp = std::thread::Builder::new()
            .name("vigie-tunnel-udp".into())
            .spawn(move || udp_loop(&shared));
        let shared = Arc::clone(&self.shared);
        let tun = std::thread::Builder::new()
            .name("vigie-tunnel-tun".into())
            .spawn(move || tun_loop(&shared));
        for thread in [udp, tun] {
            self.threads
                .push(thread.map_err(TunnelError::system("cannot start a tunnel thread"))?);
        }
        Ok(())
    }

    /// A WireGuard datagram that came inside the control connection.
    pub fn handle_control(&mut self, datagram: &[u8]) {
        let mut wireguard = self.shared.wireguard();
        let (out, lan) = (&mut self.scratch, &mut self.control_lan);
        self.shared.receive(&mut wireguard, datagram, out, lan);
    }

    /// Stops (or lets again) the machine's packets into the tunnel: while the card is out,
    /// nothing of the session leaves the machine.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::SeqCst);
    }

    /// The traffic so far.
    pub fn traffic(&self) -> Traffic {
        let c = &self.shared.counters;
        Traffic {
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            packets_sent: c.packets_sent.load(Ordering::Relaxed),
            packets_received: c.packets_received.load(Ordering::Relaxed),
        }
    }

    /// How WireGuard's datagrams travel now.
    pub fn path(&self) -> Path {
        self.shared.path()
    }

    /// Whether the TUN device moves super-packets (segmentation offload).
    pub fn offloads(&self) -> bool {
        self.shared.tun.offloads()
    }

    /// The TUN device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// How app names resolve.
    pub fn names_mode(&self) -> &'static str {
        self.names.mode()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.shared.stop.stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The names are undone as `names` drops, after this.
        info!(device = %self.device, "tunnel down");
    }
}

/// Removes what a tunnel on `device` left behind when its process died: its hosts-file
/// lines. Does nothing while the device exists (a live tunnel of another process holds it).
pub fn clean_after_crash(device: &str) {
    if system::device_exists(device) {
        return;
    }
    let mut stale = names::Applied::hosts_of(names::HOSTS_FILE.as_ref(), device);
    stale.undo();
}

/// What the grant asks of this machine.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    address: Ipv4Addr,
    /// The grant's first UDP endpoint; without one, WireGuard goes inside the control
    /// connection.
    endpoint: Option<SocketAddr>,
    /// The apps' addresses and the resolver's, each routed as a /32.
    routes: Vec<Ipv4Addr>,
}

impl Plan {
    fn of(grant: &SessionGrant) -> Result<Self, TunnelError> {
        let IpAddr::V4(address) = grant.tunnel_address else {
            return Err(TunnelError::Grant(format!(
                "the connector gave an IPv6 tunnel address ({}); this client only has IPv4 \
                 tunnels yet",
                grant.tunnel_address
            )));
        };
        let mut routes = Vec::new();
        let apps = grant.apps.iter().map(|app| app.address);
        for ip in apps.chain(grant.dns_server) {
            if let IpAddr::V4(ip) = ip {
                if !routes.contains(&ip) {
                    routes.push(ip);
                }
            }
        }
        if routes.is_empty() {
            return Err(TunnelError::Grant(
                "no application is published to you, so there is nothing to reach".into(),
            ));
        }
        Ok(Self {
            address,
            endpoint: grant.endpoints.first().copied(),
            routes,
        })
    }
}

fn bind_udp(endpoint: Option<SocketAddr>) -> Result<BatchUdp, TunnelError> {
    let any: SocketAddr = match endpoint {
        Some(SocketAddr::V6(_)) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        _ => (Ipv4Addr::UNSPECIFIED, 0).into(),
    };
    BatchUdp::bind(any).map_err(TunnelError::system("cannot open a UDP socket"))
}

/// Datagrams from the connector into the device, a batch at a time, WireGuard's timers, and
/// the fall back to the control connection.
fn udp_loop(shared: &Shared) {
    let mut batch = RecvBatch::default();
    let mut out = vec![0u8; BUFFER];
    let mut lan = Coalescer::new(shared.tun.offloads());
    let mut next_tick = Instant::now();
    loop {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        if wake::wait(shared.udp.as_fd(), &shared.stop, Some(timeout)) == Wait::Stopped {
            return;
        }
        if let Err(error) = shared.udp.recv(&mut batch) {
            trace!(%error, "the WireGuard socket reported an error");
        }
        if !batch.is_empty() {
            let mut wireguard = shared.wireguard();
            for (from, datagram) in batch.datagrams() {
                if Some(from) == shared.endpoint {
                    shared.receive(&mut wireguard, datagram, &mut out, &mut lan);
                }
            }
            drop(wireguard);
            lan.flush(&mut TunSink(&shared.tun));
        }
        let now = Instant::now();
        if now >= next_tick {
            shared.fall_back_if_unanswered(&mut out);
            if let TunnResult::WriteToNetwork(bytes) = shared.wireguard().update_timers(&mut out) {
                shared.send(bytes);
            }
            next_tick = now + TICK;
        }
    }
}

/// Packets from the machine into WireGuard, a super-packet at a time.
fn tun_loop(shared: &Shared) {
    let mut frame = vec![0u8; MAX_FRAME];
    let mut scratch = vec![0u8; MAX_FRAME];
    let mut out = vec![0u8; BUFFER];
    let mut runs = SendBatch::new(shared.udp.max_segments());
    loop {
        match wake::wait(shared.tun.as_fd(), &shared.stop, None) {
            Wait::Stopped => return,
            Wait::TimedOut => continue,
            Wait::Ready => {}
        }
        let len = match shared.tun.read(&mut frame) {
            Ok(len) => len,
            Err(error) => {
                tracing::error!(%error, "the TUN device cannot be read; the tunnel stops");
                return;
            }
        };
        if shared.paused.load(Ordering::SeqCst) {
            continue;
        }
        let mut wireguard = shared.wireguard();
        let cut = vigie_platform::split::split(&mut frame[..len], &mut scratch, |packet| {
            // Only IPv4 goes through; the kernel's own IPv6 chatter on the device stays here.
            if packet.first().is_none_or(|b| b >> 4 != 4) {
                return;
            }
            if let TunnResult::WriteToNetwork(bytes) = wireguard.encapsulate(packet, &mut out) {
                shared.counters.sent(packet.len());
                shared.send_gathered(&mut runs, bytes);
            }
        });
        drop(wireguard);
        runs.flush(&mut &shared.udp);
        if let Err(error) = cut {
            trace!(%error, "a frame from the TUN device was dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_protocol::{PortRule, PublishedApp, SessionId, WireGuardKey};

    fn grant() -> SessionGrant {
        let app = |n: u8| PublishedApp {
            name: format!("app{n}"),
            dns_name: format!("app{n}.chu.example"),
            address: IpAddr::from([100, 80, 0, n]),
            ports: vec![PortRule::tcp(443)],
        };
        SessionGrant {
            version: 1,
            session_id: SessionId([7; 16]),
            tunnel_address: IpAddr::from([100, 96, 0, 2]),
            connector_key: WireGuardKey([9; 32]),
            endpoints: vec![SocketAddr::from(([198, 18, 0, 2], 51820))],
            apps: vec![app(1), app(2), app(1)],
            dns_server: Some(IpAddr::from([100, 80, 0, 53])),
            idle_timeout: None,
            max_lifetime: None,
            reproof_interval: None,
            resume_token: None,
        }
    }

    #[test]
    fn only_the_apps_and_the_resolver_are_routed_into_the_tunnel() {
        let plan = Plan::of(&grant()).expect("a plan");
        assert_eq!(plan.address, Ipv4Addr::new(100, 96, 0, 2));
        assert_eq!(
            plan.endpoint,
            Some(SocketAddr::from(([198, 18, 0, 2], 51820)))
        );
        let routes: Vec<String> = plan.routes.iter().map(ToString::to_string).collect();
        assert_eq!(routes, ["100.80.0.1", "100.80.0.2", "100.80.0.53"]);
    }

    #[test]
    fn a_grant_without_udp_endpoint_tunnels_inside_the_control_connection() {
        let mut no_endpoint = grant();
        no_endpoint.endpoints.clear();
        let plan = Plan::of(&no_endpoint).expect("a plan");
        assert_eq!(plan.endpoint, None);
    }

    #[test]
    fn a_grant_without_apps_or_ipv4_has_no_tunnel_and_says_why() {
        let mut no_apps = grant();
        no_apps.apps.clear();
        no_apps.dns_server = None;
        let error = Plan::of(&no_apps).expect_err("no apps");
        assert!(error.to_string().contains("nothing to reach"), "{error}");

        let mut v6 = grant();
        v6.tunnel_address = "fd00::2".parse().expect("v6");
        assert!(Plan::of(&v6).is_err());
    }
}
