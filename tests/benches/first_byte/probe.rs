//! The first-byte prober: a thread inside the laptop's namespace that asks the published web
//! app for its page, by name, again and again until an answer comes, and notes the instant
//! its first byte was read.
//!
//! Each try looks the name up where the laptop's resolver finds it (the laptop's own hosts
//! file, where `vigie up` writes the app names: reading it directly sends no DNS query
//! anywhere), opens a TCP connection to the app's virtual address and sends a GET. Before the
//! name or the route exists a try fails at once and the next follows a millisecond later; a
//! connection opened once the route exists waits in the tunnel for WireGuard's handshake as
//! any program's would. The answer must be the app's own page, or the probe fails.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use vigie_lab::NetNs;

/// The pause between two tries that failed at once.
const RETRY_EVERY: Duration = Duration::from_millis(1);
/// How long one connection may wait for its handshake (SYNs queued behind WireGuard's).
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);
/// How long an open connection may wait for the answer.
const ANSWER_PATIENCE: Duration = Duration::from_secs(5);

/// What one probe saw.
#[derive(Debug, Clone, Copy)]
pub struct FirstByte {
    /// When the answer's first byte was read.
    pub at: Instant,
}

/// A running prober; stopped and joined when dropped.
pub struct Prober {
    outcome: mpsc::Receiver<Result<FirstByte, String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What to ask for, and what the answer must contain.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub port: u16,
    pub marker: String,
}

impl Prober {
    /// Starts probing `target` from inside `laptop`; returns once the thread is in the
    /// namespace and trying.
    pub fn start(laptop: &NetNs, target: Target) -> Result<Self, String> {
        let netns = Netns::open(laptop)?;
        let hosts = laptop.etc_path("hosts");
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = mpsc::channel();
        let (outcome_tx, outcome) = mpsc::channel();
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            if let Err(e) = netns.enter() {
                let _ = ready_tx.send(Err(e));
                return;
            }
            let _ = ready_tx.send(Ok(()));
            let _ = outcome_tx.send(probe(&hosts, &target, &stopped));
        });
        ready
            .recv()
            .map_err(|_| "the prober thread died".to_owned())??;
        Ok(Self {
            outcome,
            stop,
            thread: Some(thread),
        })
    }

    /// Waits for the first byte, for `patience` at most, checking `still_going` (the client
    /// still runs) every few milliseconds.
    pub fn wait(
        &self,
        patience: Duration,
        mut still_going: impl FnMut() -> Result<(), String>,
    ) -> Result<FirstByte, String> {
        let start = Instant::now();
        loop {
            match self.outcome.recv_timeout(Duration::from_millis(5)) {
                Ok(outcome) => return outcome,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the prober thread died".into());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            still_going()?;
            if start.elapsed() > patience {
                return Err(format!("no answer from the app in {patience:?}"));
            }
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The app's own time: one GET of `address` from inside `ns` (the hospital LAN, no
/// tunnel), from the start of the connection to the answer's first byte.
pub fn direct(ns: &NetNs, address: SocketAddr, target: &Target) -> Result<Duration, String> {
    let netns = Netns::open(ns)?;
    let target = target.clone();
    let worker = std::thread::spawn(move || {
        netns.enter()?;
        let start = Instant::now();
        let (at, answer) = get(address, &target.name).map_err(|e| format!("{address}: {e}"))?;
        if !answer.contains(&target.marker) {
            return Err(format!("not the app's page: {answer:.200}"));
        }
        Ok(at - start)
    });
    worker
        .join()
        .map_err(|_| "the thread on the LAN panicked".to_owned())?
}

/// A namespace to move one thread into.
struct Netns {
    path: String,
    handle: File,
}

impl Netns {
    fn open(ns: &NetNs) -> Result<Self, String> {
        let path = format!("/var/run/netns/{}", ns.name());
        let handle = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        Ok(Self { path, handle })
    }

    /// Moves the calling thread (only) into the namespace.
    fn enter(&self) -> Result<(), String> {
        setns(&self.handle, CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("enter {}: {e}", self.path))
    }
}

/// Tries until the app answers (its page, checked) or `stop` is set.
fn probe(hosts: &Path, target: &Target, stop: &AtomicBool) -> Result<FirstByte, String> {
    while !stop.load(Ordering::SeqCst) {
        let Some(address) = lookup(hosts, &target.name) else {
            std::thread::sleep(RETRY_EVERY);
            continue;
        };
        match get(SocketAddr::new(address, target.port), &target.name) {
            Ok((at, answer)) if answer.contains(&target.marker) => {
                return Ok(FirstByte { at });
            }
            Ok((_, answer)) => return Err(format!("not the app's page: {answer:.200}")),
            Err(_) => std::thread::sleep(RETRY_EVERY),
        }
    }
    Err("stopped before any answer".into())
}

/// The address of `name` in the hosts file at `path`, if a line names it.
fn lookup(path: &Path, name: &str) -> Option<IpAddr> {
    let text = std::fs::read_to_string(path).ok()?;
    hosts_address(&text, name)
}

fn hosts_address(text: &str, name: &str) -> Option<IpAddr> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .find_map(|line| {
            let mut words = line.split_whitespace();
            let address = words.next()?.parse().ok()?;
            words.any(|word| word == name).then_some(address)
        })
}

/// One GET: the instant of the answer's first byte, and the whole answer.
fn get(address: SocketAddr, host: &str) -> std::io::Result<(Instant, String)> {
    let mut stream = TcpStream::connect_timeout(&address, CONNECT_PATIENCE)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(ANSWER_PATIENCE))?;
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut first = [0u8; 1];
    if stream.read(&mut first)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let at = Instant::now();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    let answer = [&first[..], &rest].concat();
    Ok((at, String::from_utf8_lossy(&answer).into_owned()))
}
