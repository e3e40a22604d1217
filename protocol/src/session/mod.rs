//! The sans-IO session state machines, one per side, and what they share.
//!
//! Both sides are driven the same way: feed bytes read from the control stream to
//! `handle_input(bytes, now)`, call `handle_timeout(now)` when the deadline from
//! `poll_timeout()` passes, call the API methods when the card, the user or the operator
//! acts; then drain `poll_transmit()` (bytes to write to the stream, in order) and
//! `poll_event()` (what the binary must act on). Events report what the peer or the clock
//! did; the caller's own calls take effect at once and are not echoed back as events, except
//! that every session finishes with exactly one `Ended` event, whoever ended it.

mod client;
mod connector;
mod connector_input;
mod connector_timers;
mod link;

pub use client::{ClientEvent, ClientSession, ClientState};
pub use connector::{ConnectorConfig, ConnectorEvent, ConnectorSession, ConnectorState};

use core::time::Duration;

use crate::code::Code;

/// Timing shared by both sides. Each value is taken between 1 s and a year: a zero interval
/// would spin the caller's event loop, and a huge one would overflow an `Instant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Send a keepalive when nothing else was sent for this long.
    pub keepalive_interval: Duration,
    /// End the session when nothing at all was received for this long.
    pub dead_peer_timeout: Duration,
    /// End the session when it is not set up this long after it started (client: until the
    /// grant; connector: until the hello and the client's key).
    pub handshake_timeout: Duration,
}

/// The shortest timer a session accepts.
const MIN_TIMER: Duration = Duration::from_secs(1);
/// The longest timer a session accepts.
const MAX_TIMER: Duration = Duration::from_secs(365 * 24 * 3600);

fn clamp_timer(value: Duration) -> Duration {
    value.clamp(MIN_TIMER, MAX_TIMER)
}

impl SessionConfig {
    /// The configuration with every timer within bounds.
    fn clamped(&self) -> Self {
        Self {
            keepalive_interval: clamp_timer(self.keepalive_interval),
            dead_peer_timeout: clamp_timer(self.dead_peer_timeout),
            handshake_timeout: clamp_timer(self.handshake_timeout),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            keepalive_interval: Duration::from_secs(15),
            dead_peer_timeout: Duration::from_secs(45),
            handshake_timeout: Duration::from_secs(30),
        }
    }
}

/// Which side took an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This side: its API was called, or one of its timers fired.
    Local,
    /// The other side, by a message.
    Peer,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub reason: Code,
    pub initiator: Initiator,
    /// The error message sent or received, when the session ended on an error.
    pub detail: Option<String>,
}
