//! A bad network between the clients and the connector: every packet that crosses the WAN
//! namespace, either way, is delayed (a fixed delay and a uniform jitter), lost, or sent at
//! once ahead of those waiting (reordered) — as a clinician's home or mobile connection to
//! the hospital does.
//!
//! Where the kernel has the netem queueing discipline (`sch_netem`, a module of Debian's
//! kernel), it does the work on the WAN's two interfaces. Where it does not (a kernel built
//! without it: `tc` answers "Specified qdisc kind is unknown"), a relay in this process does
//! the same to each packet, with the same rules: the WAN routes everything it forwards into
//! a TUN device of its own (policy routing by incoming interface), the relay reads each
//! packet, decides its fate, and writes it back into the device when its time comes; the
//! kernel then forwards it on. TCP super-packets are cut into their segments first, so each
//! segment has its own fate as on a real link. Nothing here decides what the connector sees
//! beyond what a real bad link would do.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vigie_lab::NetNs;
use vigie_platform::tun::{MAX_FRAME, OffloadTun};
use vigie_platform::vnet::VnetHeader;
use vigie_platform::wake::{self, Stop, Wait};

/// What the WAN does to each packet, each way.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// The delay of a packet that is not reordered.
    pub delay: Duration,
    /// Each such delay is `delay` ± up to this, uniformly.
    pub jitter: Duration,
    /// Percent of packets lost.
    pub loss_percent: u32,
    /// Percent of the packets not lost that are sent at once, overtaking the delayed ones.
    pub reorder_percent: u32,
    /// The relay's random sequence starts here (netem has its own).
    pub seed: u64,
}

impl Impairment {
    /// The impairment as netem's arguments: `delay 30ms 10ms loss 1% reorder 5%`.
    pub fn netem_args(&self) -> Vec<String> {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        vec![
            "delay".into(),
            ms(self.delay),
            ms(self.jitter),
            "loss".into(),
            format!("{}%", self.loss_percent),
            "reorder".into(),
            format!("{}%", self.reorder_percent),
        ]
    }
}

/// How the WAN's impairment is made.
pub enum Impaired {
    /// The kernel's netem on both interfaces.
    Netem,
    /// The relay in this process.
    Relay(Relay),
}

impl Impaired {
    /// Applies `impairment` to what leaves each of `interfaces` of `wan` (its two sides).
    pub fn apply(wan: &NetNs, interfaces: &[String; 2], impairment: &Impairment) -> Self {
        if netem(wan, &interfaces[0], impairment) {
            assert!(
                netem(wan, &interfaces[1], impairment),
                "netem on one side only"
            );
            return Self::Netem;
        }
        eprintln!("the kernel has no netem: a relay in the WAN namespace impairs its packets");
        Self::Relay(Relay::start(wan, interfaces, *impairment))
    }

    /// Which engine, for the figures.
    pub fn engine(&self) -> &'static str {
        match self {
            Self::Netem => "tc netem",
            Self::Relay(_) => "relay over a TUN device (no netem in this kernel)",
        }
    }

    /// The relay's counts (netem keeps its own, not read here).
    pub fn counts(&self) -> Option<Counts> {
        match self {
            Self::Netem => None,
            Self::Relay(relay) => Some(relay.counts.snapshot()),
        }
    }
}

/// Puts netem on `interface`; false when the kernel has no netem.
fn netem(wan: &NetNs, interface: &str, impairment: &Impairment) -> bool {
    let mut args = vec!["qdisc", "add", "dev", interface, "root", "netem"];
    let netem = impairment.netem_args();
    args.extend(netem.iter().map(String::as_str));
    match wan.run("tc", &args) {
        Ok(_) => true,
        Err(error) if error.to_string().contains("qdisc kind is unknown") => false,
        Err(error) => panic!("tc netem on {interface}: {error}"),
    }
}

/// What the relay did so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Packets that crossed it (lost ones included).
    pub packets: u64,
    pub lost: u64,
    /// Sent at once, ahead of delayed ones.
    pub reordered: u64,
}

#[derive(Default)]
struct Counters {
    packets: AtomicU64,
    lost: AtomicU64,
    reordered: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Counts {
        Counts {
            packets: self.packets.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            reordered: self.reordered.load(Ordering::Relaxed),
        }
    }
}

/// The relay's thread and its TUN device, stopped and deleted when dropped.
pub struct Relay {
    stop: Arc<Stop>,
    counts: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The routing table that sends the WAN's forwarded packets into the relay's device.
const TABLE: &str = "100";

impl Relay {
    fn start(wan: &NetNs, interfaces: &[String; 2], impairment: Impairment) -> Self {
        let name = vigie_lab::names::unique_ifname();
        let stop = Arc::new(Stop::new().expect("an eventfd"));
        let counts = Arc::new(Counters::default());
        let (ready, opened) = std::sync::mpsc::channel();
        let path = format!("/var/run/netns/{}", wan.name());
        let (thread_stop, thread_counts, device) = (stop.clone(), counts.clone(), name.clone());
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("the WAN's namespace file");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("enter it");
            // An address of the tunnel range, used by nothing: the device only carries.
            let address = std::net::Ipv4Addr::new(100, 127, 255, 253);
            let netmask = std::net::Ipv4Addr::new(255, 255, 255, 252);
            let tun = OffloadTun::open(&device, address, netmask, 1500).expect("the relay's TUN");
            ready.send(()).expect("the test waits");
            let mut relay = Relaying::new(impairment, thread_counts);
            relay.run(&tun, &thread_stop);
        });
        opened.recv().expect("the relay's device is open");
        let rp_filter = format!("net.ipv4.conf.{name}.rp_filter=0");
        wan.run("sysctl", &["-qw", &rp_filter]).expect("rp_filter");
        wan.run(
            "ip",
            &["route", "add", "default", "dev", &name, "table", TABLE],
        )
        .expect("the relay's route");
        for interface in interfaces {
            wan.run("ip", &["rule", "add", "iif", interface, "lookup", TABLE])
                .expect("the relay's rule");
        }
        Self {
            stop,
            counts,
            thread: Some(thread),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A packet waiting for its time: when, then arrival order among equals.
type Waiting = Reverse<(Instant, u64, Vec<u8>)>;

/// The relay's loop state.
struct Relaying {
    impairment: Impairment,
    counts: Arc<Counters>,
    random: u64,
    waiting: BinaryHeap<Waiting>,
    arrivals: u64,
}

impl Relaying {
    fn new(impairment: Impairment, counts: Arc<Counters>) -> Self {
        Self {
            random: impairment.seed | 1,
            impairment,
            counts,
            waiting: BinaryHeap::new(),
            arrivals: 0,
        }
    }

    /// Reads, schedules and writes packets until `stop`.
    fn run(&mut self, tun: &OffloadTun, stop: &Stop) {
        let mut frame = vec![0u8; MAX_FRAME];
        let mut scratch = vec![0u8; MAX_FRAME];
        loop {
            let next = self.waiting.peek().map(|Reverse((due, ..))| *due);
            let timeout = next.map(|due| due.saturating_duration_since(Instant::now()));
            match wake::wait(tun.as_fd(), stop, timeout) {
                Wait::Stopped => return,
                Wait::Ready => {
                    if let Ok(length) = tun.read(&mut frame) {
                        let now = Instant::now();
                        let cut = vigie_platform::split::split(
                            &mut frame[..length],
                            &mut scratch,
                            |packet| self.schedule(packet, now),
                        );
                        if let Err(error) = cut {
                            eprintln!("relay: a frame it cannot cut: {error}");
                        }
                    }
                }
                Wait::TimedOut => {}
            }
            self.send_due(tun);
        }
    }

    /// Decides `packet`'s fate, as netem does: lost, sent at once, or delayed.
    fn schedule(&mut self, packet: &[u8], now: Instant) {
        self.counts.packets.fetch_add(1, Ordering::Relaxed);
        if self.percent() < self.impairment.loss_percent {
            self.counts.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let due = if self.percent() < self.impairment.reorder_percent {
            self.counts.reordered.fetch_add(1, Ordering::Relaxed);
            now
        } else {
            now + self.delay()
        };
        self.arrivals += 1;
        self.waiting
            .push(Reverse((due, self.arrivals, packet.to_vec())));
    }

    /// `delay` ± `jitter`, uniformly.
    fn delay(&mut self) -> Duration {
        let Impairment { delay, jitter, .. } = self.impairment;
        let span = u64::try_from(jitter.as_micros() * 2).unwrap_or(0);
        let offset = Duration::from_micros(self.next() % (span + 1));
        (delay + offset).saturating_sub(jitter)
    }

    fn send_due(&mut self, tun: &OffloadTun) {
        let now = Instant::now();
        let header = VnetHeader::PLAIN.to_bytes();
        while self
            .waiting
            .peek()
            .is_some_and(|Reverse((due, ..))| *due <= now)
        {
            let Some(Reverse((_, _, packet))) = self.waiting.pop() else {
                break;
            };
            if let Err(error) = tun.write(&header, &packet) {
                eprintln!("relay: a packet not written back: {error}");
            }
        }
    }

    /// 0..100.
    fn percent(&mut self) -> u32 {
        u32::try_from(self.next() % 100).unwrap_or(0)
    }

    /// xorshift64*: a fast, seeded sequence, good enough to pick packets.
    fn next(&mut self) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relaying() -> Relaying {
        let impairment = Impairment {
            delay: Duration::from_millis(30),
            jitter: Duration::from_millis(10),
            loss_percent: 1,
            reorder_percent: 5,
            seed: 7,
        };
        Relaying::new(impairment, Arc::default())
    }

    #[test]
    fn delays_stay_within_the_jitter_and_spread_over_it() {
        let mut relay = relaying();
        let delays: Vec<Duration> = (0..10_000).map(|_| relay.delay()).collect();
        let (min, max) = (delays.iter().min(), delays.iter().max());
        assert!(
            min.is_some_and(|d| *d >= Duration::from_millis(20)),
            "{min:?}"
        );
        assert!(
            max.is_some_and(|d| *d <= Duration::from_millis(40)),
            "{max:?}"
        );
        assert!(
            min.is_some_and(|d| *d < Duration::from_millis(21)),
            "{min:?}"
        );
        assert!(
            max.is_some_and(|d| *d > Duration::from_millis(39)),
            "{max:?}"
        );
    }

    #[test]
    fn about_the_asked_share_of_packets_is_lost_and_reordered() {
        let mut relay = relaying();
        let now = Instant::now();
        for _ in 0..100_000 {
            relay.schedule(&[0x45; 20], now);
        }
        let counts = relay.counts.snapshot();
        assert_eq!(counts.packets, 100_000);
        assert!((800..1_200).contains(&counts.lost), "{counts:?}");
        assert!((4_500..5_500).contains(&counts.reordered), "{counts:?}");
        assert_eq!(relay.waiting.len() as u64, counts.packets - counts.lost);
    }

    #[test]
    fn netem_is_asked_for_the_same() {
        let args = relaying().impairment.netem_args().join(" ");
        assert_eq!(args, "delay 30ms 10ms loss 1% reorder 5%");
    }
}
