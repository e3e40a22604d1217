//! Network namespaces and veth links, each behind a guard whose `Drop` deletes what it made.
//!
//! Namespaces are made with `ip netns add`, so they appear in `ip netns list` under their
//! `vg-<pid>-<n>` name and a person can inspect a stuck test with `ip netns exec`. Sockets are
//! opened inside a namespace from a short-lived thread that enters it with `setns(2)`: the
//! socket keeps its namespace after the thread is gone, and the rest of the process is not
//! moved.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use crate::cmd;
use crate::error::{LabError, Result};
use crate::names;

/// A network namespace that exists as long as this guard.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace with a fresh name and brings its loopback up.
    pub fn new() -> Result<Self> {
        let name = names::unique_name();
        cmd::run_args("ip", &["netns", "add", &name])?;
        let ns = Self { name };
        ns.run("ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that will run `program` inside this namespace (through `ip netns exec`).
    ///
    /// The process started from it has the pid that `Child::id` reports: `ip` execs the
    /// program in place.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `program args…` inside the namespace to completion; failure quotes its stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        cmd::run(self.command(program).args(args))
    }

    /// Runs `program args…` inside the namespace and returns its standard output as text.
    pub fn run_stdout(&self, program: &str, args: &[&str]) -> Result<String> {
        let output = self.run(program, args)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Opens a TCP connection from inside this namespace.
    pub fn connect_tcp(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        connect_tcp_in(Some(self.name()), addr, timeout)
    }

    /// Gives programs run by [`command`](Self::command) their own `/etc/FILE`, starting
    /// with `text`: `ip netns exec` mounts `/etc/netns/NAME/FILE` over it, so a program that
    /// edits `/etc/hosts` in the namespace edits this copy, never the machine's. The folder
    /// goes with the namespace. Returns the copy's path, for the test to read.
    pub fn private_etc_file(&self, file: &str, text: &str) -> Result<std::path::PathBuf> {
        let dir = self.etc_dir();
        std::fs::create_dir_all(&dir).map_err(|e| LabError::file(&dir, e))?;
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| LabError::file(&path, e))?;
        Ok(path)
    }

    /// Where the namespace's own `/etc/FILE` is, as seen from outside the namespace (it may
    /// not exist: see [`private_etc_file`](Self::private_etc_file)).
    pub fn etc_path(&self, file: &str) -> std::path::PathBuf {
        self.etc_dir().join(file)
    }

    fn etc_dir(&self) -> std::path::PathBuf {
        std::path::Path::new("/etc/netns").join(&self.name)
    }

    /// Binds a UDP socket inside this namespace.
    pub fn bind_udp(&self, addr: SocketAddr) -> Result<std::net::UdpSocket> {
        let what = format!("bind UDP {addr} in {}", self.name);
        in_netns(&self.name, move || {
            std::net::UdpSocket::bind(addr).map_err(|e| LabError::io(what, e))
        })
    }

    /// Binds a TCP listener inside this namespace (an in-process test server).
    pub fn listen_tcp(&self, addr: SocketAddr) -> Result<TcpListener> {
        let what = format!("listen on {addr} in {}", self.name);
        in_netns(&self.name, move || {
            TcpListener::bind(addr).map_err(|e| LabError::io(what, e))
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let etc = self.etc_dir();
        if etc.exists() {
            if let Err(err) = std::fs::remove_dir_all(&etc) {
                tracing::warn!(dir = %etc.display(), %err, "could not delete the namespace's /etc files");
            }
        }
        if let Err(err) = cmd::run_args("ip", &["netns", "del", &self.name]) {
            tracing::warn!(netns = %self.name, %err, "could not delete network namespace");
        }
    }
}

/// Opens a TCP connection to `addr`, from inside namespace `netns` when one is named.
pub fn connect_tcp_in(
    netns: Option<&str>,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream> {
    let what = format!(
        "connect to {addr} in {}",
        netns.unwrap_or("the host namespace")
    );
    let Some(netns) = netns else {
        return TcpStream::connect_timeout(&addr, timeout).map_err(|e| LabError::io(what, e));
    };
    in_netns(netns, move || {
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| LabError::io(what, e))
    })
}

/// Runs `f` on a short-lived thread that has entered network namespace `netns`.
///
/// Sockets `f` creates stay in that namespace; the calling thread is not moved.
fn in_netns<T: Send + 'static>(
    netns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let path = format!("/var/run/netns/{netns}");
    let handle = File::open(&path).map_err(|e| LabError::file(&path, e))?;
    let worker = std::thread::spawn(move || -> Result<T> {
        setns(&handle, CloneFlags::CLONE_NEWNET).map_err(|source| LabError::System {
            what: format!("enter network namespace {path}"),
            source,
        })?;
        f()
    });
    worker
        .join()
        .map_err(|_| LabError::Misuse("a thread working in a network namespace panicked".into()))?
}

/// Waits until something accepts TCP connections on `addr` (inside `netns` if given).
///
/// Each probe connection is closed at once. The error names the address and the time waited.
pub fn wait_for_tcp_port(netns: Option<&NetNs>, addr: SocketAddr, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let probe = connect_tcp_in(netns.map(NetNs::name), addr, Duration::from_millis(500));
        if probe.is_ok() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let place = netns.map_or("the host namespace".to_owned(), |ns| ns.name().to_owned());
            return Err(LabError::NotReady {
                what: format!("TCP port {addr} in {place}"),
                waited: start.elapsed(),
                details: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Deletes what lab processes that died without teardown (killed test binaries) left behind:
/// namespaces named `vg-<pid>-<n>` whose `<pid>` is not running, after killing (by PID) the
/// processes still inside them, their `/etc/netns/vg-<pid>-…` files, and their `vg-<pid>-…`
/// folders under the lab's temporary folder. Returns the namespaces deleted. Live processes' resources are never touched.
pub fn clean_stale() -> Result<Vec<String>> {
    let listing = cmd::run_args("ip", &["netns", "list"])?;
    let mut deleted = Vec::new();
    for name in listing.lines().filter_map(|l| l.split_whitespace().next()) {
        if !owner_is_dead(name) {
            continue;
        }
        let pids = cmd::run_args("ip", &["netns", "pids", name]).unwrap_or_default();
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        cmd::run_args("ip", &["netns", "del", name])?;
        deleted.push(name.to_owned());
    }
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            if owner_is_dead(&entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(crate::process::log_root()) {
        for entry in entries.flatten() {
            if owner_is_dead(&entry.file_name().to_string_lossy()) {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let _ = if is_dir {
                    std::fs::remove_dir_all(entry.path())
                } else {
                    std::fs::remove_file(entry.path())
                };
            }
        }
    }
    Ok(deleted)
}

/// Whether `name` is a lab name `vg-<pid>-…` whose process is gone.
fn owner_is_dead(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("vg-") else {
        return false;
    };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// A veth pair joining two namespaces, with an underlay /30 from 198.18.0.0/15.
#[derive(Debug)]
pub struct VethLink {
    netns_a: String,
    name_a: String,
    addr_a: Ipv4Addr,
    addr_b: Ipv4Addr,
}

static NEXT_SUBNET: AtomicU32 = AtomicU32::new(0);

impl VethLink {
    /// Creates the pair, moves one end into each namespace, addresses both ends and brings
    /// them up. The addresses are unique within this process.
    pub fn new(a: &NetNs, b: &NetNs) -> Result<Self> {
        let (addr_a, addr_b) = next_underlay_pair()?;
        let name_a = names::unique_ifname();
        let name_b = names::unique_ifname();
        cmd::run_args(
            "ip",
            &[
                "link", "add", &name_a, "type", "veth", "peer", "name", &name_b,
            ],
        )?;
        let link = Self {
            netns_a: a.name().to_owned(),
            name_a: name_a.clone(),
            addr_a,
            addr_b,
        };
        // From here on, `link`'s Drop deletes the pair if a later step fails.
        cmd::run_args("ip", &["link", "set", &name_a, "netns", a.name()])?;
        cmd::run_args("ip", &["link", "set", &name_b, "netns", b.name()])?;
        configure_end(a, &name_a, addr_a)?;
        configure_end(b, &name_b, addr_b)?;
        Ok(link)
    }

    /// The address of the end in the first namespace.
    pub fn addr_a(&self) -> Ipv4Addr {
        self.addr_a
    }

    /// The address of the end in the second namespace.
    pub fn addr_b(&self) -> Ipv4Addr {
        self.addr_b
    }
}

impl Drop for VethLink {
    fn drop(&mut self) {
        // Deleting one end deletes the pair. The end may be gone with its namespace already.
        let in_ns = cmd::run_args("ip", &["-n", &self.netns_a, "link", "del", &self.name_a]);
        let in_host = || cmd::run_args("ip", &["link", "del", &self.name_a]);
        if in_ns.is_err() && in_host().is_ok() {
            tracing::debug!(link = %self.name_a, "veth deleted from the host namespace");
        }
    }
}

fn configure_end(ns: &NetNs, name: &str, addr: Ipv4Addr) -> Result<()> {
    ns.run("ip", &["addr", "add", &format!("{addr}/30"), "dev", name])?;
    ns.run("ip", &["link", "set", name, "up"])?;
    Ok(())
}

/// The two host addresses of the next /30 in 198.18.0.0/15.
fn next_underlay_pair() -> Result<(Ipv4Addr, Ipv4Addr)> {
    let index = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed);
    underlay_pair(index)
        .ok_or_else(|| LabError::Misuse("the 198.18.0.0/15 underlay is exhausted".into()))
}

fn underlay_pair(index: u32) -> Option<(Ipv4Addr, Ipv4Addr)> {
    const BASE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
    const LINKS: u32 = (1 << 17) / 4;
    if index >= LINKS {
        return None;
    }
    let network = BASE + index * 4;
    Some((Ipv4Addr::from(network + 1), Ipv4Addr::from(network + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lab_names_of_dead_processes_are_stale() {
        assert!(!owner_is_dead(&format!("vg-{}-0", std::process::id())));
        assert!(!owner_is_dead("vg-1-0"), "pid 1 is alive");
        assert!(!owner_is_dead("other-ns"));
        assert!(!owner_is_dead("vg-x-1"));
        assert!(
            owner_is_dead("vg-4194305-3"),
            "above pid_max, so never alive"
        );
    }

    #[test]
    fn underlay_stays_in_198_18_slash_15() {
        assert_eq!(
            underlay_pair(0),
            Some((Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2)))
        );
        let (_, last) = underlay_pair((1 << 15) - 1).unwrap();
        assert_eq!(last, Ipv4Addr::new(198, 19, 255, 254));
        assert_eq!(underlay_pair(1 << 15), None);
    }
}
