//! The data plane's core: sessions by index, key and tunnel address, and what happens to
//! each packet. It does no I/O of its own: datagrams, control-connection datagrams, packets
//! from the hospital side and timer ticks are handed in, and what must be sent goes out
//! through [`Links`], so tests drive it in memory.
//!
//! A session's path to its client is the source of its last authenticated packet: a UDP
//! address (WireGuard roaming: a laptop moving from Wi-Fi to 4G is followed on its first
//! packet from the new address), or its control connection when the client sends WireGuard
//! inside it because UDP is blocked.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vigie_protocol::SessionId;
use x25519_dalek::StaticSecret;

use super::counters::Counters;
use super::filter::{DropReason, SessionFilter, Verdict};
use super::tunnel::{Identity, Route, Step, Tunnel};
use super::{DataPlaneError, SessionSpec};

/// The largest packet handled, with room for WireGuard's overhead.
const BUFFER: usize = 65_536 + 64;

/// Where the engine's output goes.
pub trait Links {
    /// Sends a WireGuard datagram to a client over UDP.
    fn send_udp(&mut self, to: SocketAddr, datagram: &[u8]);
    /// Hands an accepted packet to the hospital network.
    fn send_lan(&mut self, packet: &[u8]);
}

/// How a session's packets reach its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// WireGuard over UDP to this address.
    Udp(SocketAddr),
    /// WireGuard inside the control connection.
    Control,
}

struct Session {
    key: [u8; 32],
    tunnel: Tunnel,
    filter: SessionFilter,
    path: Option<Path>,
    control: Option<mpsc::Sender<Vec<u8>>>,
    suspended: bool,
    counters: Counters,
}

/// All sessions and the connector's WireGuard identity.
pub struct Engine {
    identity: Identity,
    dns_address: Option<Ipv4Addr>,
    sessions: HashMap<u32, Session>,
    by_key: HashMap<[u8; 32], u32>,
    by_address: HashMap<Ipv4Addr, u32>,
    by_id: HashMap<SessionId, u32>,
    next_index: u32,
    counters: Counters,
    last_second: Option<Instant>,
    input: Box<[u8]>,
    output: Box<[u8]>,
}

impl Engine {
    /// An engine with no session, for the connector holding `secret`.
    pub fn new(secret: StaticSecret, dns_address: Option<Ipv4Addr>) -> Self {
        Self {
            identity: Identity::new(secret),
            dns_address,
            sessions: HashMap::new(),
            by_key: HashMap::new(),
            by_address: HashMap::new(),
            by_id: HashMap::new(),
            next_index: 1,
            counters: Counters::default(),
            last_second: None,
            input: vec![0; BUFFER].into_boxed_slice(),
            output: vec![0; BUFFER].into_boxed_slice(),
        }
    }

    /// Adds a granted session.
    pub fn add(&mut self, spec: SessionSpec) -> Result<(), DataPlaneError> {
        let key = spec.client_key.0;
        let taken = self.by_id.contains_key(&spec.id)
            || self.by_key.contains_key(&key)
            || self.by_address.contains_key(&spec.tunnel_address);
        if taken {
            return Err(DataPlaneError::Duplicate);
        }
        let index = self.free_index().ok_or(DataPlaneError::Full)?;
        let filter = SessionFilter::new(spec.tunnel_address, self.dns_address, spec.apps);
        let session = Session {
            key,
            tunnel: self.identity.tunnel(key, index),
            filter,
            path: None,
            control: spec.control,
            suspended: false,
            counters: Counters::default(),
        };
        self.by_key.insert(key, index);
        self.by_address.insert(spec.tunnel_address, index);
        self.by_id.insert(spec.id, index);
        self.sessions.insert(index, session);
        tracing::debug!(index, tunnel_address = %spec.tunnel_address, "session joined the data plane");
        Ok(())
    }

    fn free_index(&mut self) -> Option<u32> {
        for _ in 0..self.sessions.len() + 1 {
            let index = self.next_index;
            self.next_index = (self.next_index % 0x00ff_ffff) + 1;
            if !self.sessions.contains_key(&index) {
                return Some(index);
            }
        }
        None
    }

    /// Removes a session; its packets are refused from now on.
    pub fn remove(&mut self, id: &SessionId) -> bool {
        let Some(index) = self.by_id.remove(id) else {
            return false;
        };
        if let Some(session) = self.sessions.remove(&index) {
            self.by_key.remove(&session.key);
            self.by_address.remove(&session.filter.tunnel_address());
        }
        tracing::debug!(index, "session left the data plane");
        true
    }

    /// Suspends or resumes a session: while suspended, its traffic is dropped both ways
    /// (its WireGuard handshakes still complete, so resuming is instant).
    pub fn set_suspended(&mut self, id: &SessionId, suspended: bool) -> bool {
        match self.by_id.get(id).and_then(|i| self.sessions.get_mut(i)) {
            Some(session) => {
                session.suspended = suspended;
                true
            }
            None => false,
        }
    }

    /// The counters of all sessions, past and present.
    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    /// One session's counters.
    pub fn session_counters(&self, id: &SessionId) -> Option<Counters> {
        let index = self.by_id.get(id)?;
        Some(self.sessions.get(index)?.counters.clone())
    }

    /// The path a session's packets take to its client now.
    pub fn path(&self, id: &SessionId) -> Option<Path> {
        self.sessions.get(self.by_id.get(id)?)?.path
    }

    /// A WireGuard datagram from `from` over UDP.
    pub fn handle_udp(&mut self, from: SocketAddr, datagram: &[u8], links: &mut impl Links) {
        let index = match self.identity.route(Some(from.ip()), datagram) {
            Route::Initiation(key) => self.by_key.get(&key).copied(),
            Route::Index(index) => Some(index),
            Route::Cookie(reply) => return links.send_udp(from, &reply),
            Route::Refused => None,
        };
        match index {
            Some(index) => self.decapsulate(index, Path::Udp(from), datagram, links),
            None => self.counters.count_drop(DropReason::WireGuard),
        }
    }

    /// A WireGuard datagram that came inside session `id`'s control connection.
    pub fn handle_control(&mut self, id: &SessionId, datagram: &[u8], links: &mut impl Links) {
        let Some(&index) = self.by_id.get(id) else {
            return self.counters.count_drop(DropReason::NoSession);
        };
        // The connection is already bound to this session: only WireGuard's checks remain.
        match self.identity.route(None, datagram) {
            Route::Initiation(key) if self.by_key.get(&key) == Some(&index) => {}
            Route::Index(i) if i == index => {}
            _ => return self.counters.count_drop(DropReason::WireGuard),
        }
        self.decapsulate(index, Path::Control, datagram, links);
    }

    fn decapsulate(&mut self, index: u32, path: Path, datagram: &[u8], links: &mut impl Links) {
        let Some(session) = self.sessions.get_mut(&index) else {
            return self.counters.count_drop(DropReason::WireGuard);
        };
        let from = match path {
            Path::Udp(address) => Some(address.ip()),
            Path::Control => None,
        };
        let mut input = datagram;
        loop {
            match session.tunnel.decapsulate(from, input, &mut self.input) {
                Step::Failed(error) if !input.is_empty() => {
                    tracing::trace!(?error, "WireGuard refused a datagram");
                    session.counters.count_drop(DropReason::WireGuard);
                    self.counters.count_drop(DropReason::WireGuard);
                    return;
                }
                Step::Done | Step::Failed(_) => break,
                Step::ToClient(bytes) => send(session, Some(path), bytes, links),
                Step::FromClient(packet) => {
                    session.path = Some(path);
                    return filtered(session, &mut self.counters, packet, &mut self.output, links);
                }
                Step::NotIpv4 => {
                    session.counters.count_drop(DropReason::Malformed);
                    return self.counters.count_drop(DropReason::Malformed);
                }
            }
            // Only an authenticated packet moves the session to where it came from.
            session.path = Some(path);
            input = &[];
        }
        session.path = Some(path);
    }

    /// A packet from the hospital side (read from the TUN device), for a client.
    pub fn handle_lan(&mut self, packet: &[u8], links: &mut impl Links) {
        let destination = match packet {
            [first, ..] if first >> 4 == 4 && packet.len() >= 20 => {
                Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19])
            }
            _ => return self.counters.count_drop(DropReason::Malformed),
        };
        let session = self
            .by_address
            .get(&destination)
            .and_then(|index| self.sessions.get_mut(index));
        let Some(session) = session else {
            return self.counters.count_drop(DropReason::NoSession);
        };
        if session.suspended {
            session.counters.count_drop(DropReason::Suspended);
            return self.counters.count_drop(DropReason::Suspended);
        }
        session.counters.to_client += 1;
        self.counters.to_client += 1;
        session.counters.to_client_bytes += packet.len() as u64;
        self.counters.to_client_bytes += packet.len() as u64;
        if let Step::ToClient(bytes) = session.tunnel.encapsulate(packet, &mut self.output) {
            send(session, session.path, bytes, links);
        }
    }

    /// Runs every session's WireGuard timers; call a few times a second.
    pub fn handle_tick(&mut self, now: Instant, links: &mut impl Links) {
        let second = Duration::from_secs(1);
        if self
            .last_second
            .is_none_or(|last| now.duration_since(last) >= second)
        {
            self.identity.new_second();
            self.last_second = Some(now);
        }
        for session in self.sessions.values_mut() {
            if let Step::ToClient(bytes) = session.tunnel.update_timers(&mut self.output) {
                send(session, session.path, bytes, links);
            }
        }
    }
}

/// Applies the session's filter to a decrypted packet.
fn filtered(
    session: &mut Session,
    counters: &mut Counters,
    packet: &[u8],
    scratch: &mut [u8],
    links: &mut impl Links,
) {
    if session.suspended {
        session.counters.count_drop(DropReason::Suspended);
        return counters.count_drop(DropReason::Suspended);
    }
    let reply = match session.filter.check(packet) {
        Verdict::Forward => {
            session.counters.forwarded += 1;
            counters.forwarded += 1;
            session.counters.forwarded_bytes += packet.len() as u64;
            counters.forwarded_bytes += packet.len() as u64;
            return links.send_lan(packet);
        }
        Verdict::Answer(answer) => answer,
        Verdict::Drop(reason, reply) => {
            tracing::trace!(reason = reason.name(), "packet dropped");
            session.counters.count_drop(reason);
            counters.count_drop(reason);
            match reply {
                Some(reply) => reply,
                None => return,
            }
        }
    };
    if let Step::ToClient(bytes) = session.tunnel.encapsulate(&reply, scratch) {
        send(session, session.path, bytes, links);
    }
}

/// Sends a WireGuard datagram to the client by `path`.
fn send(session: &Session, path: Option<Path>, bytes: &[u8], links: &mut impl Links) {
    match (path, &session.control) {
        (Some(Path::Udp(address)), _) => links.send_udp(address, bytes),
        (Some(Path::Control), Some(control)) => {
            if control.try_send(bytes.to_vec()).is_err() {
                tracing::trace!("control connection full; datagram dropped");
            }
        }
        _ => tracing::trace!("no path to the client yet; datagram dropped"),
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
