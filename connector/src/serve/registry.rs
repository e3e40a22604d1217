//! The connector's live sessions: who holds each one, its tunnel address and apps, and a
//! handle to end it. The data plane and the session-ending features (admin kill, HR
//! departure, revocation) work from here.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustls_pki_types::CertificateDer;

use tokio::sync::mpsc;
use vigie_certs::IdNat;
use vigie_protocol::{Code, SessionId, WireGuardKey};

use crate::admission::AppAccess;
use crate::apps::Ipv4Range;
use crate::card::CardRef;
use crate::person::Person;

/// One live session, as the rest of the connector sees it.
#[derive(Clone, Debug)]
pub struct LiveSession {
    /// The card holder.
    pub id_nat: IdNat,
    /// The holder as the directory knows them, for the SSO issuer's claims.
    pub person: Arc<Person>,
    /// When the card opened the session, Unix seconds.
    pub started: u64,
    /// The card.
    pub card: CardRef,
    /// The card's certificate and the intermediates its client presented, to judge the card
    /// again when revocation data changes.
    pub certificates: Arc<[CertificateDer<'static>]>,
    /// The client's address inside the tunnel.
    pub tunnel_address: Ipv4Addr,
    /// The client's WireGuard public key.
    pub client_key: WireGuardKey,
    /// What the session may reach.
    pub apps: Vec<AppAccess>,
    /// Ends the session with a reason (the connection's task does the rest).
    pub ender: mpsc::Sender<Code>,
    /// Whether the client has paused the session because its card is out.
    pub card_out: Arc<AtomicBool>,
}

/// Live sessions by id, and the tunnel addresses they hold.
#[derive(Debug)]
pub struct Registry {
    clients: Ipv4Range,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, LiveSession>,
    /// Every reserved tunnel address, and the live session holding it (none while it is
    /// reserved for a session starting, or parked waiting for its card).
    addresses: HashMap<Ipv4Addr, Option<SessionId>>,
    /// Where the search for a free address starts: just after the last one handed out, so
    /// that reserving stays quick with thousands of sessions (and a freed address is not
    /// given to the next session at once).
    next: usize,
}

impl Registry {
    /// An empty registry handing out addresses from `clients`. The range's first host
    /// address is the connector's own end of the tunnels and is never handed out.
    pub fn new(clients: Ipv4Range) -> Self {
        Self {
            clients,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves a free tunnel address; `None` when the range is full.
    pub fn reserve_address(&self) -> Option<Ipv4Addr> {
        let mut inner = self.lock();
        let count = self.clients.hosts().skip(1).size_hint().0;
        let start = inner.next % count.max(1);
        // From `start` to the end of the range, then from its beginning to `start`.
        let usable = || self.clients.hosts().skip(1).enumerate();
        let (offset, free) = usable()
            .skip(start)
            .chain(usable().take(start))
            .find(|(_, a)| !inner.addresses.contains_key(a))?;
        inner.addresses.insert(free, None);
        inner.next = offset + 1;
        Some(free)
    }

    /// Reserves `address` for a session restored after a restart; false if it is taken or
    /// outside the clients' range.
    pub fn reserve_exact(&self, address: Ipv4Addr) -> bool {
        if !self.clients.contains(address) {
            return false;
        }
        let mut inner = self.lock();
        let free = !inner.addresses.contains_key(&address);
        if free {
            inner.addresses.insert(address, None);
        }
        free
    }

    /// Gives back an address reserved for a session that never started.
    pub fn release_address(&self, address: Ipv4Addr) {
        self.lock().addresses.remove(&address);
    }

    /// Registers a granted session (its address reserved earlier).
    pub fn insert(&self, id: SessionId, session: LiveSession) {
        let mut inner = self.lock();
        inner.addresses.insert(session.tunnel_address, Some(id));
        inner.sessions.insert(id, session);
    }

    /// Forgets an ended session and frees its address.
    pub fn remove(&self, id: &SessionId) -> Option<LiveSession> {
        let mut inner = self.lock();
        let session = inner.sessions.remove(id)?;
        inner.addresses.remove(&session.tunnel_address);
        Some(session)
    }

    /// Takes a session out to wait for its card elsewhere; its address stays reserved.
    pub fn park(&self, id: &SessionId) -> Option<LiveSession> {
        let mut inner = self.lock();
        let session = inner.sessions.remove(id)?;
        inner.addresses.insert(session.tunnel_address, None);
        Some(session)
    }

    /// The live session of `card`, if any: the one whose card is out of its reader first.
    /// A card is in one reader at a time, so another connection of the same card means that
    /// session's card moved (or its connection went stale).
    pub fn session_of_card(&self, card: &CardRef) -> Option<SessionId> {
        let inner = self.lock();
        let of_card = || inner.sessions.iter().filter(|(_, s)| &s.card == card);
        let out = of_card().find(|(_, s)| s.card_out.load(Ordering::Relaxed));
        out.or_else(|| of_card().next()).map(|(id, _)| *id)
    }

    /// A live session by id.
    pub fn get(&self, id: &SessionId) -> Option<LiveSession> {
        self.lock().sessions.get(id).cloned()
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of the live sessions.
    pub fn ids(&self) -> Vec<SessionId> {
        self.lock().sessions.keys().copied().collect()
    }

    /// Each live session's card certificates.
    pub fn certificates(&self) -> Vec<(SessionId, Arc<[CertificateDer<'static>]>)> {
        let inner = self.lock();
        let sessions = inner.sessions.iter();
        sessions
            .map(|(id, s)| (*id, s.certificates.clone()))
            .collect()
    }

    /// The live session holding tunnel `address`, if any.
    pub fn at_address(&self, address: Ipv4Addr) -> Option<(SessionId, LiveSession)> {
        let inner = self.lock();
        let id = (*inner.addresses.get(&address)?)?;
        Some((id, inner.sessions.get(&id)?.clone()))
    }

    /// Asks one live session to end with `reason`; false if it is not live here.
    pub fn end(&self, id: &SessionId, reason: Code) -> bool {
        match self.lock().sessions.get(id) {
            Some(session) => {
                let _ = session.ender.try_send(reason);
                true
            }
            None => false,
        }
    }

    /// Asks every live session to end with `reason`.
    pub fn end_all(&self, reason: Code) {
        for session in self.lock().sessions.values() {
            let _ = session.ender.try_send(reason);
        }
    }

    /// Asks a person's live sessions to end with `reason`; returns how many were asked.
    pub fn end_person(&self, id_nat: &IdNat, reason: Code) -> usize {
        let inner = self.lock();
        let mut asked = 0;
        for session in inner.sessions.values().filter(|s| &s.id_nat == id_nat) {
            let _ = session.ender.try_send(reason);
            asked += 1;
        }
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(address: Ipv4Addr) -> (LiveSession, mpsc::Receiver<Code>) {
        let (ender, ended) = mpsc::channel(1);
        let id_nat = IdNat::parse("0751234567").unwrap();
        let live = LiveSession {
            person: Arc::new(Person {
                id_nat: id_nat.clone(),
                surname: "INFIRMIERE".into(),
                given_name: "Claire".into(),
                professions: vec!["Infirmier".into()],
                groups: Vec::new(),
                status: crate::person::PersonStatus::Active,
                start_date: None,
                end_date: None,
            }),
            started: 0,
            id_nat,
            card: CardRef::new("01", "CN=X"),
            certificates: Arc::new([]),
            tunnel_address: address,
            client_key: WireGuardKey([0; 32]),
            apps: Vec::new(),
            ender,
            card_out: Arc::default(),
        };
        (live, ended)
    }

    #[test]
    fn addresses_are_unique_and_come_back() {
        let registry = Registry::new("100.96.0.0/30".parse().unwrap());
        let first = registry.reserve_address().unwrap();
        assert_eq!(
            first,
            Ipv4Addr::new(100, 96, 0, 2),
            "100.96.0.1 is the connector's"
        );
        assert_eq!(
            registry.reserve_address(),
            None,
            "a /30 has one client address"
        );
        let (live, _ended) = session(first);
        registry.insert(SessionId([1; 16]), live);
        assert_eq!(registry.len(), 1);
        let (found, live) = registry.at_address(first).unwrap();
        assert_eq!(found, SessionId([1; 16]));
        assert_eq!(registry.session_of_card(&live.card), Some(found));
        live.card_out.store(true, Ordering::Relaxed);
        assert_eq!(registry.session_of_card(&live.card), Some(found));
        let other = CardRef::new("02", "CN=X");
        assert_eq!(registry.session_of_card(&other), None);
        assert!(registry.at_address(Ipv4Addr::new(100, 96, 0, 3)).is_none());
        assert!(registry.park(&SessionId([1; 16])).is_some());
        assert!(
            registry.at_address(first).is_none(),
            "a parked session has no traffic"
        );
        assert_eq!(
            registry.reserve_address(),
            None,
            "a parked session keeps its address"
        );
        registry.release_address(first);
        assert_eq!(registry.reserve_address(), Some(first));
    }

    #[test]
    fn a_freed_address_is_not_handed_out_again_at_once() {
        let registry = Registry::new("100.96.0.0/29".parse().unwrap());
        let first = registry.reserve_address().unwrap();
        let second = registry.reserve_address().unwrap();
        registry.release_address(first);
        let third = registry.reserve_address().unwrap();
        assert_eq!(
            [first, second, third].map(|a| a.octets()[3]),
            [2, 3, 4],
            "the search goes on from the last address"
        );
        for _ in 0..2 {
            registry.reserve_address().unwrap();
        }
        assert_eq!(registry.reserve_address(), Some(first), "then wraps around");
        assert_eq!(
            registry.reserve_address(),
            None,
            "a /29 has five client addresses"
        );
    }

    #[test]
    fn ending_a_person_reaches_their_sessions() {
        let registry = Registry::new("100.96.0.0/24".parse().unwrap());
        let address = registry.reserve_address().unwrap();
        let (live, mut ended) = session(address);
        let id_nat = live.id_nat.clone();
        registry.insert(SessionId([2; 16]), live);
        assert_eq!(registry.end_person(&id_nat, Code::HR_DEPARTURE), 1);
        assert_eq!(ended.try_recv().unwrap(), Code::HR_DEPARTURE);
    }
}
