//! The data plane's I/O: the WireGuard UDP socket, the TUN device, the kernel's forwarding
//! and NAT, and the threads that feed them to the [`Engine`].
//!
//! Both move batches ([`vigie_platform`]): the TUN device hands over TCP super-packets of up
//! to 64 KiB (cut into segments before the engine sees them) and takes joined ones, the UDP
//! socket sends runs of equal datagrams in one call and reads runs in one `recvmmsg`. The
//! engine still sees one packet at a time; the batching lives in the [`Links`] given to it
//! for one batch, which gather its output and send it when the batch is done.
//!
//! Two threads: one reads UDP (and runs the timers every 250 ms), one reads the TUN device.
//! Each takes the engine's lock once per batch. Dropping the [`DataPlane`] stops both; the
//! UDP thread removes the nftables table as it ends, and the TUN device closes (taking its
//! address and route with it).
//!
//! Each thread notes when it last went round its loop (at least every second, traffic or
//! not), so that `/health` can tell a thread that stopped or got stuck
//! ([`DataPlane::trouble`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vigie_platform::coalesce::{Coalescer, FrameSink};
use vigie_platform::tun::{MAX_FRAME, OffloadTun};
use vigie_platform::udp::{BatchUdp, RecvBatch, SendBatch};
use vigie_platform::vnet::{self, VnetHeader};
use vigie_platform::wake::{self, Stop, Wait};
use vigie_protocol::SessionId;
use x25519_dalek::StaticSecret;

use super::engine::{Engine, Links, Path};
use super::{Counters, DataPlaneConfig, DataPlaneError, NatApp, SessionSpec, nft};
use crate::apps::Ipv4Range;

/// How often WireGuard's timers run.
const TICK: Duration = Duration::from_millis(250);
/// The longest a packet thread waits without going round its loop.
const BEAT: Duration = Duration::from_secs(1);
/// How long a packet thread may go without going round its loop before it is called stuck.
const STUCK_AFTER: Duration = Duration::from_secs(10);

/// The running data plane. Its methods are what the serve module calls on grant, suspend,
/// resume and end, and for datagrams from control connections.
pub struct DataPlane {
    engine: Arc<Mutex<Engine>>,
    io: Arc<Io>,
    threads: Vec<JoinHandle<()>>,
    local: SocketAddr,
}

/// The devices both threads use, and their signs of life.
struct Io {
    udp: BatchUdp,
    tun: OffloadTun,
    stop: Stop,
    beats: Beats,
}

/// When each thread last went round its loop, in milliseconds after `start`.
struct Beats {
    start: Instant,
    udp: AtomicU64,
    tun: AtomicU64,
}

impl Beats {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            udp: AtomicU64::new(0),
            tun: AtomicU64::new(0),
        }
    }

    fn beat(&self, slot: &AtomicU64) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        slot.store(now, Ordering::Relaxed);
    }

    /// How long since the thread of `slot` last went round.
    fn quiet(&self, slot: &AtomicU64) -> Duration {
        let then = Duration::from_millis(slot.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(then)
    }
}

/// The engine's output during one batch: datagrams gathered into runs, packets for the
/// hospital network joined; [`flush`](Self::flush) sends what is left when it is done.
struct BatchLinks<'a> {
    io: &'a Io,
    runs: &'a mut SendBatch,
    lan: &'a mut Coalescer,
}

impl Links for BatchLinks<'_> {
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.runs.push(&mut &self.io.udp, to, datagram);
    }

    fn send_lan(&mut self, packet: &[u8]) {
        self.lan.push(packet, &mut TunSink(&self.io.tun));
    }
}

impl BatchLinks<'_> {
    fn flush(&mut self) {
        self.lan.flush(&mut TunSink(&self.io.tun));
        self.runs.flush(&mut &self.io.udp);
    }
}

/// The engine's output sent at once, for datagrams that come one by one from control
/// connections.
struct DirectLinks<'a>(&'a Io);

impl Links for DirectLinks<'_> {
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.0.udp.send(to, datagram, None);
    }

    fn send_lan(&mut self, packet: &[u8]) {
        TunSink(&self.0.tun).write_frame(&VnetHeader::PLAIN.to_bytes(), packet);
    }
}

struct TunSink<'a>(&'a OffloadTun);

impl FrameSink for TunSink<'_> {
    fn write_frame(&mut self, header: &[u8; vnet::LEN], packet: &[u8]) {
        if let Err(error) = self.0.write(header, packet) {
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
        let udp = BatchUdp::bind((config.address, config.port).into())
            .map_err(system("cannot bind the WireGuard UDP port"))?;
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
        let stop = Stop::new().map_err(system("cannot make the data plane's stop event"))?;
        let offloads = tun.offloads();
        let mut plane = Self {
            engine: Arc::new(Mutex::new(Engine::new(secret, dns_address))),
            io: Arc::new(Io {
                udp,
                tun,
                stop,
                beats: Beats::new(),
            }),
            threads: Vec::new(),
            local,
        };
        plane.spawn()?;
        tracing::info!(%local, tun = %config.tun, apps = apps.len(), offloads, "data plane up");
        Ok(plane)
    }

    fn spawn(&mut self) -> Result<(), DataPlaneError> {
        let (engine, io) = (self.engine.clone(), self.io.clone());
        let udp = std::thread::Builder::new()
            .name("vigie-wg-udp".into())
            .spawn(move || udp_loop(&engine, &io));
        let (engine, io) = (self.engine.clone(), self.io.clone());
        let tun = std::thread::Builder::new()
            .name("vigie-wg-tun".into())
            .spawn(move || tun_loop(&engine, &io));
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
        lock(&self.engine)
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
        let mut links = DirectLinks(&self.io);
        self.engine().handle_control(id, datagram, &mut links);
    }

    /// What is wrong with the packet threads, if anything: one that stopped (the TUN device
    /// failed) or that has not gone round its loop for [`STUCK_AFTER`]. Tunnels then carry
    /// nothing.
    pub fn trouble(&self) -> Vec<String> {
        let beats = &self.io.beats;
        let slots = [("UDP", &beats.udp), ("TUN", &beats.tun)];
        self.threads
            .iter()
            .zip(slots)
            .filter_map(|(thread, (what, slot))| {
                judge(what, thread.is_finished(), beats.quiet(slot))
            })
            .collect()
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
        self.io.stop.stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        tracing::info!("data plane down");
    }
}

/// The trouble with packet thread `what`, which has `finished` or been quiet for `quiet`.
fn judge(what: &str, finished: bool, quiet: Duration) -> Option<String> {
    let advice = "the tunnels carry nothing: restart the connector (systemctl restart \
                  vigie-connector) and send its log to support";
    if finished {
        Some(format!("the data plane's {what} thread stopped; {advice}"))
    } else if quiet > STUCK_AFTER {
        Some(format!(
            "the data plane's {what} thread has not run for {} s; {advice}",
            quiet.as_secs()
        ))
    } else {
        None
    }
}

fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Datagrams from clients, a batch at a time, and WireGuard's timers.
fn udp_loop(engine: &Mutex<Engine>, io: &Io) {
    let mut batch = RecvBatch::default();
    let mut runs = SendBatch::new(io.udp.max_segments());
    let mut lan = Coalescer::new(io.tun.offloads());
    let mut next_tick = Instant::now();
    loop {
        io.beats.beat(&io.beats.udp);
        let timeout = next_tick.saturating_duration_since(Instant::now());
        if wake::wait(io.udp.as_fd(), &io.stop, Some(timeout)) == Wait::Stopped {
            break;
        }
        if let Err(error) = io.udp.recv(&mut batch) {
            tracing::trace!(%error, "the WireGuard socket reported an error");
        }
        let mut links = BatchLinks {
            io,
            runs: &mut runs,
            lan: &mut lan,
        };
        let mut plane = lock(engine);
        for (from, datagram) in batch.datagrams() {
            plane.handle_udp(from, datagram, &mut links);
        }
        let now = Instant::now();
        if now >= next_tick {
            plane.handle_tick(now, &mut links);
            next_tick = now + TICK;
        }
        drop(plane);
        links.flush();
    }
    // Removed from this thread, which runs in the data plane's network namespace even when
    // the `DataPlane` is dropped from another.
    if let Err(error) = nft::remove() {
        tracing::warn!(%error, "the data plane's nftables table could not be removed");
    }
}

/// Packets from the hospital side, a super-packet at a time, cut into segments for clients.
fn tun_loop(engine: &Mutex<Engine>, io: &Io) {
    let mut frame = vec![0u8; MAX_FRAME];
    let mut scratch = vec![0u8; MAX_FRAME];
    let mut runs = SendBatch::new(io.udp.max_segments());
    let mut lan = Coalescer::new(false);
    loop {
        io.beats.beat(&io.beats.tun);
        match wake::wait(io.tun.as_fd(), &io.stop, Some(BEAT)) {
            Wait::Stopped => return,
            Wait::TimedOut => continue,
            Wait::Ready => {}
        }
        let len = match io.tun.read(&mut frame) {
            Ok(len) => len,
            Err(error) => {
                tracing::error!(%error, "the TUN device cannot be read; the data plane stops");
                return;
            }
        };
        let mut links = BatchLinks {
            io,
            runs: &mut runs,
            lan: &mut lan,
        };
        let mut plane = lock(engine);
        let cut = vigie_platform::split::split(&mut frame[..len], &mut scratch, |packet| {
            plane.handle_lan(packet, &mut links)
        });
        drop(plane);
        links.flush();
        if let Err(error) = cut {
            tracing::trace!(%error, "a frame from the TUN device was dropped");
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
) -> Result<OffloadTun, DataPlaneError> {
    let own = Ipv4Addr::from(u32::from(network) + 1);
    let mask = Ipv4Addr::from(u32::MAX << (32 - prefix));
    OffloadTun::open(&config.tun, own, mask, config.mtu).map_err(|e| DataPlaneError::System {
        what: "cannot open the TUN device (the connector needs root or CAP_NET_ADMIN)",
        detail: e.detail,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_thread_that_stopped_or_went_quiet_is_named_with_what_to_do() {
        assert_eq!(judge("UDP", false, Duration::from_millis(300)), None);
        assert_eq!(judge("TUN", false, STUCK_AFTER), None);
        let stopped = judge("TUN", true, Duration::ZERO).expect("a stopped thread");
        assert!(
            stopped.starts_with("the data plane's TUN thread stopped"),
            "{stopped}"
        );
        assert!(stopped.contains("restart the connector"), "{stopped}");
        let stuck = judge("UDP", false, Duration::from_secs(42)).expect("a stuck thread");
        assert!(stuck.contains("UDP thread has not run for 42 s"), "{stuck}");
    }

    #[test]
    fn a_beat_makes_a_thread_quiet_for_no_time() {
        let beats = Beats::new();
        std::thread::sleep(Duration::from_millis(30));
        assert!(beats.quiet(&beats.tun) >= Duration::from_millis(30));
        beats.beat(&beats.tun);
        assert!(beats.quiet(&beats.tun) < Duration::from_millis(30));
        assert!(
            beats.quiet(&beats.udp) >= Duration::from_millis(30),
            "each thread its own"
        );
    }
}
