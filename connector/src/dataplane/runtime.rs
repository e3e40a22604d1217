//! The data plane's I/O: the WireGuard UDP socket, the TUN device, the kernel's forwarding
//! and NAT, and the threads that feed them to the [`Engine`].
//!
//! Two threads: one reads UDP (and runs the timers every 250 ms, its read timeout), one
//! reads the TUN device. Both take the engine's lock per packet; batching is left for later.
//! Dropping the [`DataPlane`] stops both; the UDP thread removes the nftables table as it
//! ends, and the TUN device closes (taking its address and route with it).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vigie_protocol::SessionId;
use x25519_dalek::StaticSecret;

use super::engine::{Engine, Links, Path};
use super::{Counters, DataPlaneConfig, DataPlaneError, NatApp, SessionSpec, nft};
use crate::apps::Ipv4Range;

/// How often WireGuard's timers run.
const TICK: Duration = Duration::from_millis(250);

/// The running data plane. Its methods are what the serve module calls on grant, suspend,
/// resume and end, and for datagrams from control connections.
pub struct DataPlane {
    engine: Arc<Mutex<Engine>>,
    links: SocketLinks,
    stop: Arc<AtomicBool>,
    /// Sends one packet through the TUN device's route, so its reader wakes up to stop.
    wake: (UdpSocket, SocketAddr),
    threads: Vec<JoinHandle<()>>,
    local: SocketAddr,
}

#[derive(Clone)]
struct SocketLinks {
    udp: Arc<UdpSocket>,
    tun: Arc<tun::Device>,
}

impl Links for SocketLinks {
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]) {
        if let Err(error) = self.udp.send_to(datagram, to) {
            tracing::trace!(%error, "a WireGuard datagram could not be sent");
        }
    }

    fn send_lan(&mut self, packet: &[u8]) {
        if let Err(error) = self.tun.send(packet) {
            tracing::trace!(%error, "a packet could not be written to the TUN device");
        }
    }
}

impl DataPlane {
    /// Opens the UDP socket and the TUN device (its address: the first host of `clients`),
    /// enables forwarding, applies the NAT rules for `apps`, and starts the threads.
    pub fn start(
        config: &DataPlaneConfig,
        secret: StaticSecret,
        clients: Ipv4Range,
        dns_address: Option<Ipv4Addr>,
        apps: &[NatApp],
    ) -> Result<Self, DataPlaneError> {
        let system = |what| {
            move |e: std::io::Error| DataPlaneError::System {
                what,
                detail: e.to_string(),
            }
        };
        let udp = UdpSocket::bind((config.address, config.port))
            .map_err(system("cannot bind the WireGuard UDP port"))?;
        udp.set_read_timeout(Some(TICK))
            .map_err(system("cannot set the UDP read timeout"))?;
        let local = udp
            .local_addr()
            .map_err(system("cannot read the UDP address"))?;
        let (network, prefix) = network_and_prefix(clients)?;
        let tun = open_tun(config, network, prefix)?;
        enable_forwarding()?;
        let rules = nft::ruleset(&config.tun, clients, apps);
        nft::apply(&rules).map_err(|detail| DataPlaneError::System {
            what: "cannot apply the NAT rules",
            detail,
        })?;
        let wake = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .map_err(system("cannot open the wake-up socket"))?;
        let last = Ipv4Addr::from(u32::from(network) | (u32::MAX >> prefix).saturating_sub(1));
        let links = SocketLinks {
            udp: Arc::new(udp),
            tun: Arc::new(tun),
        };
        let mut plane = Self {
            engine: Arc::new(Mutex::new(Engine::new(secret, dns_address))),
            links,
            stop: Arc::new(AtomicBool::new(false)),
            wake: (wake, SocketAddr::from((last, 9))),
            threads: Vec::new(),
            local,
        };
        plane.spawn()?;
        tracing::info!(%local, tun = %config.tun, apps = apps.len(), "data plane up");
        Ok(plane)
    }

    fn spawn(&mut self) -> Result<(), DataPlaneError> {
        let (engine, links, stop) = (self.engine.clone(), self.links.clone(), self.stop.clone());
        let udp = std::thread::Builder::new()
            .name("vigie-wg-udp".into())
            .spawn(move || udp_loop(&engine, links, &stop));
        let (engine, links, stop) = (self.engine.clone(), self.links.clone(), self.stop.clone());
        let tun = std::thread::Builder::new()
            .name("vigie-wg-tun".into())
            .spawn(move || tun_loop(&engine, links, &stop));
        for thread in [udp, tun] {
            let thread = thread.map_err(|e| DataPlaneError::System {
                what: "cannot start a data plane thread",
                detail: e.to_string(),
            })?;
            self.threads.push(thread);
        }
        Ok(())
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The WireGuard UDP socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Adds a granted session.
    pub fn add_session(&self, spec: SessionSpec) -> Result<(), DataPlaneError> {
        self.engine().add(spec)
    }

    /// Removes an ended session; returns whether it was there.
    pub fn remove_session(&self, id: &SessionId) -> bool {
        self.engine().remove(id)
    }

    /// Stops a session's traffic until [`resume`](Self::resume).
    pub fn suspend(&self, id: &SessionId) -> bool {
        self.engine().set_suspended(id, true)
    }

    /// Lets a suspended session's traffic flow again.
    pub fn resume(&self, id: &SessionId) -> bool {
        self.engine().set_suspended(id, false)
    }

    /// A WireGuard datagram that came inside session `id`'s control connection.
    pub fn handle_control(&self, id: &SessionId, datagram: &[u8]) {
        let mut links = self.links.clone();
        self.engine().handle_control(id, datagram, &mut links);
    }

    /// The whole data plane's counters.
    pub fn counters(&self) -> Counters {
        self.engine().counters()
    }

    /// One session's counters.
    pub fn session_counters(&self, id: &SessionId) -> Option<Counters> {
        self.engine().session_counters(id)
    }

    /// How a session's packets reach its client now.
    pub fn path(&self, id: &SessionId) -> Option<Path> {
        self.engine().path(id)
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let (socket, to) = &self.wake;
        let _ = socket.send_to(b"stop", to);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        tracing::info!("data plane down");
    }
}

fn udp_loop(engine: &Mutex<Engine>, mut links: SocketLinks, stop: &AtomicBool) {
    let mut buffer = vec![0u8; 65_536];
    let mut next_tick = Instant::now();
    let udp = links.udp.clone();
    while !stop.load(Ordering::SeqCst) {
        if let Ok((len, from)) = udp.recv_from(&mut buffer) {
            let mut engine = engine.lock().unwrap_or_else(PoisonError::into_inner);
            engine.handle_udp(from, &buffer[..len], &mut links);
        }
        let now = Instant::now();
        if now >= next_tick {
            let mut engine = engine.lock().unwrap_or_else(PoisonError::into_inner);
            engine.handle_tick(now, &mut links);
            next_tick = now + TICK;
        }
    }
    // Removed from this thread, which runs in the data plane's network namespace even when
    // the `DataPlane` is dropped from another.
    if let Err(error) = nft::remove() {
        tracing::warn!(%error, "the data plane's nftables table could not be removed");
    }
}

fn tun_loop(engine: &Mutex<Engine>, mut links: SocketLinks, stop: &AtomicBool) {
    let mut buffer = vec![0u8; 65_536];
    let tun = links.tun.clone();
    while !stop.load(Ordering::SeqCst) {
        match tun.recv(&mut buffer) {
            Ok(len) => {
                let mut engine = engine.lock().unwrap_or_else(PoisonError::into_inner);
                engine.handle_lan(&buffer[..len], &mut links);
            }
            Err(error) => {
                tracing::error!(%error, "the TUN device cannot be read; the data plane stops");
                return;
            }
        }
    }
}

/// The range's network address and prefix length.
fn network_and_prefix(range: Ipv4Range) -> Result<(Ipv4Addr, u8), DataPlaneError> {
    let text = range.to_string();
    let parsed = text
        .split_once('/')
        .and_then(|(network, prefix)| Some((network.parse().ok()?, prefix.parse().ok()?)));
    match parsed {
        Some((network, prefix)) if prefix <= 30 => Ok((network, prefix)),
        _ => Err(DataPlaneError::Config(format!(
            "the client range {text} is too small for a tunnel; use at least a /30"
        ))),
    }
}

fn open_tun(
    config: &DataPlaneConfig,
    network: Ipv4Addr,
    prefix: u8,
) -> Result<tun::Device, DataPlaneError> {
    let own = Ipv4Addr::from(u32::from(network) + 1);
    let mask = Ipv4Addr::from(u32::MAX << (32 - prefix));
    let mut settings = tun::Configuration::default();
    settings
        .tun_name(&config.tun)
        .address(own)
        .netmask(mask)
        .mtu(config.mtu)
        .up();
    tun::create(&settings).map_err(|e| DataPlaneError::System {
        what: "cannot open the TUN device (the connector needs root or CAP_NET_ADMIN)",
        detail: e.to_string(),
    })
}

/// Turns IPv4 forwarding on: packets go from the TUN device to the LAN and back.
fn enable_forwarding() -> Result<(), DataPlaneError> {
    const PATH: &str = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(PATH).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(PATH, "1").map_err(|e| DataPlaneError::System {
        what: "cannot enable IPv4 forwarding (net.ipv4.ip_forward)",
        detail: e.to_string(),
    })?;
    tracing::info!("enabled IPv4 forwarding");
    Ok(())
}
