//! The one adaptor over boringtun's WireGuard.
//!
//! boringtun reads the clock itself (handshake timestamps, session expiry, timers); every
//! call into it goes through this module, so the rest of the data plane never touches
//! boringtun or time directly and stays testable with plain values.

use std::net::IpAddr;
use std::sync::Arc;

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use x25519_dalek::{PublicKey, StaticSecret};

/// Handshakes per second accepted before peers must prove their address with a cookie.
const HANDSHAKES_BEFORE_COOKIES: u64 = 100;

/// Where an incoming datagram belongs, after WireGuard's first checks.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// A handshake initiation from the client holding this static key.
    Initiation([u8; 32]),
    /// A packet for the local session index (the receiver index without its low byte).
    Index(u32),
    /// A cookie reply to send back (the connector is under load).
    Cookie(Vec<u8>),
    /// Failed the checks; nothing of ours runs for it.
    Refused,
}

/// What one step of a tunnel produced.
#[derive(Debug)]
pub enum Step<'a> {
    /// Nothing more to do.
    Done,
    /// Send these bytes to the client (handshake, keepalive, data, queued packets).
    ToClient(&'a [u8]),
    /// A decrypted IPv4 packet from the client.
    FromClient(&'a [u8]),
    /// A decrypted packet that is not IPv4.
    NotIpv4,
    /// WireGuard refused the input.
    Failed(WireGuardError),
}

/// The connector's static key and the checks shared by all sessions.
pub struct Identity {
    secret: StaticSecret,
    public: PublicKey,
    limiter: Arc<RateLimiter>,
}

impl Identity {
    /// The identity of a connector holding `secret`.
    pub fn new(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret);
        let limiter = Arc::new(RateLimiter::new(&public, HANDSHAKES_BEFORE_COOKIES));
        Self {
            secret,
            public,
            limiter,
        }
    }

    /// Checks mac1 (and, under load, the cookie) and finds whose packet it is. Only a
    /// handshake initiation that passes mac1 costs a Diffie-Hellman to find its sender.
    pub fn route(&self, from: Option<IpAddr>, datagram: &[u8]) -> Route {
        let mut cookie = [0u8; 64];
        match self.limiter.verify_packet(from, datagram, &mut cookie) {
            Ok(Packet::HandshakeInit(init)) => {
                match parse_handshake_anon(&self.secret, &self.public, &init) {
                    Ok(half) => Route::Initiation(half.peer_static_public),
                    Err(_) => Route::Refused,
                }
            }
            Ok(Packet::HandshakeResponse(p)) => Route::Index(p.receiver_idx >> 8),
            Ok(Packet::PacketCookieReply(p)) => Route::Index(p.receiver_idx >> 8),
            Ok(Packet::PacketData(p)) => Route::Index(p.receiver_idx >> 8),
            Err(TunnResult::WriteToNetwork(reply)) => Route::Cookie(reply.to_vec()),
            Err(_) => Route::Refused,
        }
    }

    /// Forgets the last second's handshake count; call once a second.
    pub fn new_second(&self) {
        self.limiter.reset_count();
    }

    /// A tunnel to the client holding `client_key`, under local index `index` (24 bits).
    pub fn tunnel(&self, client_key: [u8; 32], index: u32) -> Tunnel {
        let tunn = Tunn::new(
            self.secret.clone(),
            PublicKey::from(client_key),
            None,
            None,
            index,
            Some(self.limiter.clone()),
        );
        Tunnel { tunn }
    }
}

/// One session's WireGuard state.
pub struct Tunnel {
    tunn: Tunn,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel").finish_non_exhaustive()
    }
}

impl Tunnel {
    /// Feeds a datagram from the client; call again with an empty `datagram` while it
    /// returns [`Step::ToClient`], to flush what waited for the handshake.
    pub fn decapsulate<'a>(
        &mut self,
        from: Option<IpAddr>,
        datagram: &[u8],
        out: &'a mut [u8],
    ) -> Step<'a> {
        step(self.tunn.decapsulate(from, datagram, out))
    }

    /// Encrypts a packet for the client (or starts a handshake and queues it).
    pub fn encapsulate<'a>(&mut self, packet: &[u8], out: &'a mut [u8]) -> Step<'a> {
        step(self.tunn.encapsulate(packet, out))
    }

    /// Runs WireGuard's timers: keepalives, rekeying, expiry.
    pub fn update_timers<'a>(&mut self, out: &'a mut [u8]) -> Step<'a> {
        step(self.tunn.update_timers(out))
    }
}

fn step(result: TunnResult<'_>) -> Step<'_> {
    match result {
        TunnResult::Done => Step::Done,
        TunnResult::WriteToNetwork(bytes) => Step::ToClient(bytes),
        TunnResult::WriteToTunnelV4(bytes, _) => Step::FromClient(bytes),
        TunnResult::WriteToTunnelV6(..) => Step::NotIpv4,
        TunnResult::Err(error) => Step::Failed(error),
    }
}
