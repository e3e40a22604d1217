//! The baseline the benchmark compares the connector's data plane to: a tunnel end with the
//! same WireGuard (boringtun) and the same batched I/O ([`vigie_platform`]), and nothing of
//! the connector's — no session lookup, no per-session filter, no counters, no NAT. The
//! difference between the two is what the connector's own per-packet work costs.
//!
//! ```text
//!  B: TUN BENCH_IF_B (BENCH_TUN_B/24) ◀─▶ boringtun ◀─▶ UDP BENCH_PORT_B ◀─▶ A's client tunnel
//! ```
//!
//! Not for anything but measuring: it answers one peer, the one whose key the harness gave.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use boringtun::noise::{Tunn, TunnResult};
use vigie_platform::coalesce::{Coalescer, FrameSink};
use vigie_platform::tun::{MAX_FRAME, OffloadTun};
use vigie_platform::udp::{BatchUdp, RecvBatch, SendBatch};
use vigie_platform::vnet;
use vigie_platform::wake::{self, Stop, Wait};

use super::{BenchEnv, Signals};

/// The peer's WireGuard state and where it was last heard from.
struct Peer {
    tunn: Tunn,
    endpoint: Option<SocketAddr>,
}

struct Bare {
    peer: Mutex<Peer>,
    udp: BatchUdp,
    tun: OffloadTun,
    stop: Stop,
}

struct Device<'a>(&'a OffloadTun);

impl FrameSink for Device<'_> {
    fn write_frame(&mut self, header: &[u8; vnet::LEN], packet: &[u8]) {
        let _ = self.0.write(header, packet);
    }
}

/// Namespace B without the data plane; runs until SIGTERM or SIGINT.
pub fn run_bare(env: &BenchEnv) -> Result<()> {
    let secret = BenchEnv::secret(&env.priv_b, "BENCH_PRIV_B")?;
    let client = BenchEnv::public(&BenchEnv::secret(&env.priv_a, "BENCH_PRIV_A")?);
    let signals = Signals::block()?;
    let mask = Ipv4Addr::new(255, 255, 255, 0);
    let bare = Bare {
        peer: Mutex::new(Peer {
            tunn: Tunn::new(secret, client.0.into(), None, None, 0, None),
            endpoint: None,
        }),
        udp: BatchUdp::bind((env.underlay_b, env.port_b).into()).context("the UDP port")?,
        tun: OffloadTun::open(&env.if_b, env.tun_b, mask, env.mtu).context("the TUN device")?,
        stop: Stop::new().context("the stop event")?,
    };
    eprintln!("vigie bench: bare tunnel end on {}", env.if_b);
    std::thread::scope(|scope| {
        scope.spawn(|| from_network(&bare));
        scope.spawn(|| from_device(&bare));
        signals.wait();
        bare.stop.stop();
    });
    Ok(())
}

fn from_network(bare: &Bare) {
    let (mut batch, mut out) = (RecvBatch::default(), vec![0u8; MAX_FRAME]);
    let mut device = Coalescer::new(bare.tun.offloads());
    let mut next_tick = Instant::now();
    while wake::wait(
        bare.udp.as_fd(),
        &bare.stop,
        Some(Duration::from_millis(250)),
    ) != Wait::Stopped
    {
        let _ = bare.udp.recv(&mut batch);
        let mut peer = bare.peer.lock().unwrap_or_else(PoisonError::into_inner);
        for (from, datagram) in batch.datagrams() {
            match peer.tunn.decapsulate(Some(from.ip()), datagram, &mut out) {
                TunnResult::WriteToNetwork(reply) => {
                    bare.udp.send(from, reply, None);
                    while let TunnResult::WriteToNetwork(queued) =
                        peer.tunn.decapsulate(None, &[], &mut out)
                    {
                        bare.udp.send(from, queued, None);
                    }
                }
                TunnResult::WriteToTunnelV4(packet, _) => {
                    device.push(packet, &mut Device(&bare.tun))
                }
                _ => continue,
            }
            peer.endpoint = Some(from);
        }
        if Instant::now() >= next_tick {
            if let (TunnResult::WriteToNetwork(bytes), Some(to)) =
                (peer.tunn.update_timers(&mut out), peer.endpoint)
            {
                bare.udp.send(to, bytes, None);
            }
            next_tick = Instant::now() + Duration::from_millis(250);
        }
        drop(peer);
        device.flush(&mut Device(&bare.tun));
    }
}

fn from_device(bare: &Bare) {
    let (mut frame, mut scratch) = (vec![0u8; MAX_FRAME], vec![0u8; MAX_FRAME]);
    let mut out = vec![0u8; MAX_FRAME];
    let mut runs = SendBatch::new(bare.udp.max_segments());
    while wake::wait(bare.tun.as_fd(), &bare.stop, None) != Wait::Stopped {
        let Ok(len) = bare.tun.read(&mut frame) else {
            return;
        };
        let mut peer = bare.peer.lock().unwrap_or_else(PoisonError::into_inner);
        let Peer { tunn, endpoint } = &mut *peer;
        let _ = vigie_platform::split::split(&mut frame[..len], &mut scratch, |packet| {
            if let (TunnResult::WriteToNetwork(bytes), Some(to)) =
                (tunn.encapsulate(packet, &mut out), *endpoint)
            {
                runs.push(&mut &bare.udp, to, bytes);
            }
        });
        drop(peer);
        runs.flush(&mut &bare.udp);
    }
}
