//! The connector's side of a session: its state, its API and its timers.
//! Messages from the client are handled in `connector_input.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::connector_timers::{Expiry, Limits, Reproof};
use super::link::Link;
use super::{Ending, Initiator, MAX_TIMER, SessionConfig, clamp_timer};
use crate::code::Code;
use crate::error::UsageError;
use crate::ids::{Capabilities, Challenge, SessionId, WireGuardKey};
use crate::limits::PROTOCOL_VERSION;
use crate::message::{Hello, Message, ReproofAnswer, ReproofChallenge, SessionGrant};

/// The connector's timing; timers are bounded as in [`SessionConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    pub session: SessionConfig,
    /// How long the card has to answer a re-proof, counted from when it became due.
    pub reproof_answer_timeout: Duration,
    /// How long before the idle or lifetime limit the user is warned.
    pub notice_before: Duration,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            reproof_answer_timeout: Duration::from_secs(30),
            notice_before: Duration::from_secs(120),
        }
    }
}

/// Where the connector's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorState {
    /// Connection up; waiting for the client's hello and WireGuard key.
    AwaitingHello,
    /// Hello and key received; the binary decides: [`ConnectorSession::grant`] or
    /// [`ConnectorSession::end`].
    AwaitingGrant,
    /// Granted; the tunnel carries traffic.
    Active,
    /// The tunnel is paused, by the client (card removed) or by this side.
    Suspended { by: Initiator },
    /// Over; drain the last bytes with `poll_transmit` and close the connection.
    Closed,
}

/// What the connector binary must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectorEvent {
    /// The client said hello and sent its key: admit it with [`ConnectorSession::grant`] or
    /// refuse with [`ConnectorSession::end`].
    SessionRequested {
        hello: Hello,
        client_key: WireGuardKey,
    },
    /// A card re-proof is due: call [`ConnectorSession::send_reproof_challenge`] with 32
    /// fresh random bytes.
    ReproofDue,
    /// The card answered: verify `answer.signature` over `signing_input` against the card's
    /// certificate and call [`ConnectorSession::handle_reproof_verdict`].
    ReproofAnswered {
        answer: ReproofAnswer,
        signing_input: Vec<u8>,
    },
    /// The client paused the tunnel (card removed): stop forwarding its packets.
    Suspended { reason: Code },
    /// The client's card is back; a re-proof follows, then the session resumes by itself.
    ResumeRequested { reason: Code },
    /// A WireGuard packet that came inside the control connection.
    Datagram(Vec<u8>),
    /// The session is over: remove its tunnel peer and audit the reason.
    Ended(Ending),
}

/// The connector's session state machine. No I/O: see the [module docs](super).
#[derive(Debug)]
pub struct ConnectorSession {
    pub(super) link: Link,
    pub(super) config: ConnectorConfig,
    pub(super) state: ConnectorState,
    pub(super) events: VecDeque<ConnectorEvent>,
    pub(super) hello: Option<Hello>,
    pub(super) handshake_deadline: Option<Instant>,
    pub(super) session_id: Option<SessionId>,
    pub(super) limits: Option<Limits>,
    pub(super) reproof: Reproof,
    pub(super) reproof_interval: Option<Duration>,
    /// The client asked to resume; the session resumes when the re-proof succeeds.
    pub(super) resume_requested: bool,
}

impl ConnectorSession {
    /// A session for a connection whose mutual TLS handshake just completed.
    pub fn new(config: ConnectorConfig, now: Instant) -> Self {
        let link = Link::new(config.session.clone(), now);
        let config = ConnectorConfig {
            session: link.config().clone(),
            reproof_answer_timeout: clamp_timer(config.reproof_answer_timeout),
            notice_before: config.notice_before.min(MAX_TIMER),
        };
        Self {
            handshake_deadline: Some(now + config.session.handshake_timeout),
            link,
            config,
            state: ConnectorState::AwaitingHello,
            events: VecDeque::new(),
            hello: None,
            session_id: None,
            limits: None,
            reproof: Reproof::Idle { next_at: None },
            reproof_interval: None,
            resume_requested: false,
        }
    }

    pub fn state(&self) -> ConnectorState {
        self.state
    }

    pub fn is_closed(&self) -> bool {
        self.state == ConnectorState::Closed
    }

    /// The session id, once granted.
    pub fn session_id(&self) -> Option<SessionId> {
        self.session_id
    }

    /// Admits the client: sends the grant and starts the session's clocks. The session uses
    /// this crate's protocol version whatever `grant.version` says.
    pub fn grant(&mut self, mut grant: SessionGrant, now: Instant) -> Result<(), UsageError> {
        self.expect_state(ConnectorState::AwaitingGrant, "grant")?;
        grant.version = PROTOCOL_VERSION;
        self.link.send(&Message::Grant(grant.clone()), now)?;
        let notices = self
            .hello
            .as_ref()
            .map(|h| h.capabilities.contains(Capabilities::NOTICES));
        let notice_before = Some(self.config.notice_before).filter(|_| notices == Some(true));
        self.limits = Some(Limits::new(&grant, notice_before, now));
        self.session_id = Some(grant.session_id);
        self.reproof_interval = grant.reproof_interval;
        self.reproof = Reproof::Idle {
            next_at: grant.reproof_interval.map(|every| now + every),
        };
        self.state = ConnectorState::Active;
        Ok(())
    }

    /// Sends the re-proof challenge asked for by [`ConnectorEvent::ReproofDue`].
    pub fn send_reproof_challenge(
        &mut self,
        challenge: [u8; 32],
        now: Instant,
    ) -> Result<(), UsageError> {
        let Reproof::Due { deadline } = self.reproof else {
            let state = "without a re-proof due";
            return Err(UsageError::WrongState {
                action: "send a re-proof challenge",
                state,
            });
        };
        let challenge = Challenge(challenge);
        let left = deadline.saturating_duration_since(now).as_secs().max(1);
        let answer_within = Duration::from_secs(left);
        let request = ReproofChallenge {
            challenge,
            answer_within,
        };
        self.link
            .send_control(&Message::ReproofChallenge(request), now);
        self.reproof = Reproof::Sent {
            challenge,
            deadline,
        };
        Ok(())
    }

    /// The binary's verdict on the card's signature from [`ConnectorEvent::ReproofAnswered`].
    /// A rejected signature ends the session with [`Code::REPROOF_FAILED`]; an accepted one
    /// resumes the session if the client asked to.
    pub fn handle_reproof_verdict(&mut self, ok: bool, now: Instant) -> Result<(), UsageError> {
        let Reproof::Answered { .. } = self.reproof else {
            let state = "without a re-proof answer";
            return Err(UsageError::WrongState {
                action: "give a re-proof verdict",
                state,
            });
        };
        if !ok {
            self.end(Code::REPROOF_FAILED, now);
            return Ok(());
        }
        self.reproof = Reproof::Idle {
            next_at: self.reproof_interval.map(|every| now + every),
        };
        if self.resume_requested {
            self.resume_requested = false;
            self.link.send_control(
                &Message::Resume {
                    reason: Code::CARD_REINSERTED,
                },
                now,
            );
            self.state = ConnectorState::Active;
            self.handle_activity(now);
        }
        Ok(())
    }

    /// Traffic went through the session's tunnel: the idle clock starts again.
    pub fn handle_activity(&mut self, now: Instant) {
        if let Some(limits) = &mut self.limits {
            limits.activity(now);
        }
    }

    /// Pauses the tunnel from this side, such as [`Code::ADMIN_SUSPEND`].
    pub fn suspend(&mut self, reason: Code, now: Instant) -> Result<(), UsageError> {
        self.expect_state(ConnectorState::Active, "suspend")?;
        self.link.send_control(&Message::Suspend { reason }, now);
        self.state = ConnectorState::Suspended {
            by: Initiator::Local,
        };
        self.reproof = Reproof::Idle { next_at: None };
        Ok(())
    }

    /// Resumes a tunnel this side paused, such as [`Code::ADMIN_RESUMED`].
    pub fn resume(&mut self, reason: Code, now: Instant) -> Result<(), UsageError> {
        self.expect_state(
            ConnectorState::Suspended {
                by: Initiator::Local,
            },
            "resume",
        )?;
        self.link.send_control(&Message::Resume { reason }, now);
        self.state = ConnectorState::Active;
        self.reproof = Reproof::Idle {
            next_at: self.reproof_interval.map(|every| now + every),
        };
        Ok(())
    }

    /// Ends the session, or refuses it before the grant ([`Code::CARD_REVOKED`],
    /// [`Code::ADMIN_KILL`], [`Code::CONNECTOR_SHUTTING_DOWN`]…). Does nothing once closed.
    pub fn end(&mut self, reason: Code, now: Instant) {
        if !self.is_closed() {
            let ending = self.link.end(reason, now);
            self.close(ending);
        }
    }

    /// Sends a WireGuard packet inside the control connection.
    pub fn send_datagram(&mut self, packet: &[u8], now: Instant) -> Result<(), UsageError> {
        self.expect_state(ConnectorState::Active, "send a datagram")?;
        self.link.send(&Message::Datagram(packet.to_vec()), now)?;
        Ok(())
    }

    /// Bytes to write to the control stream, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.link.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<ConnectorEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let limits = self.limits.as_ref().and_then(Limits::next_deadline);
        let reproof = self.reproof.deadline();
        [
            Some(self.link.next_deadline()),
            self.handshake_deadline,
            limits,
            reproof,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The deadline from [`poll_timeout`](Self::poll_timeout) has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self
            .handshake_deadline
            .is_some_and(|deadline| now >= deadline)
        {
            return self.end(Code::HANDSHAKE_TIMEOUT, now);
        }
        while let Some(expiry) = self.limits.as_mut().and_then(|limits| limits.expired(now)) {
            match expiry {
                Expiry::End(reason) => return self.end(reason, now),
                Expiry::Notify(notice) => self.link.send_control(&Message::Notice(notice), now),
            }
        }
        self.reproof_timeout(now);
        if !self.is_closed() {
            if let Some(ending) = self.link.handle_timeout(now) {
                self.close(ending);
            }
        }
    }

    fn reproof_timeout(&mut self, now: Instant) {
        match self.reproof {
            Reproof::Idle { next_at: Some(at) } if now >= at => self.reproof_due(now),
            Reproof::Due { deadline } | Reproof::Sent { deadline, .. } if now >= deadline => {
                self.end(Code::REPROOF_MISSED, now);
            }
            _ => {}
        }
    }

    /// Starts a re-proof: the binary must now supply a challenge, and the card answer, before
    /// the deadline.
    pub(super) fn reproof_due(&mut self, now: Instant) {
        let deadline = now + self.config.reproof_answer_timeout;
        self.reproof = Reproof::Due { deadline };
        self.events.push_back(ConnectorEvent::ReproofDue);
    }

    pub(super) fn close(&mut self, ending: Ending) {
        self.state = ConnectorState::Closed;
        self.handshake_deadline = None;
        self.reproof = Reproof::Idle { next_at: None };
        self.events.push_back(ConnectorEvent::Ended(ending));
    }

    fn expect_state(&self, wanted: ConnectorState, action: &'static str) -> Result<(), UsageError> {
        if self.state != wanted {
            return Err(UsageError::WrongState {
                action,
                state: self.state.describe(),
            });
        }
        Ok(())
    }
}

impl ConnectorState {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Self::AwaitingHello => "awaiting the client's hello",
            Self::AwaitingGrant => "awaiting the connector's decision",
            Self::Active => "active",
            Self::Suspended {
                by: Initiator::Local,
            } => "suspended by the connector",
            Self::Suspended {
                by: Initiator::Peer,
            } => "suspended by the client",
            Self::Closed => "closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::epoch;
    use core::net::{IpAddr, Ipv4Addr};

    fn grant() -> SessionGrant {
        SessionGrant {
            version: 9,
            session_id: SessionId([1; 16]),
            tunnel_address: IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)),
            connector_key: WireGuardKey([2; 32]),
            endpoints: Vec::new(),
            apps: Vec::new(),
            dns_server: None,
            idle_timeout: None,
            max_lifetime: None,
            reproof_interval: Some(Duration::from_secs(600)),
            resume_token: None,
        }
    }

    fn requested() -> (ConnectorSession, Instant) {
        let now = epoch();
        let mut session = ConnectorSession::new(ConnectorConfig::default(), now);
        let hello = Message::Hello(Hello::new(Capabilities::NOTICES, "test"))
            .encode()
            .unwrap();
        let key = Message::ClientKey(WireGuardKey([3; 32])).encode().unwrap();
        session.handle_input(&[hello, key].concat(), now);
        assert!(matches!(
            session.poll_event(),
            Some(ConnectorEvent::SessionRequested { .. })
        ));
        (session, now)
    }

    #[test]
    fn a_key_before_the_hello_is_a_protocol_error() {
        let now = epoch();
        let mut session = ConnectorSession::new(ConnectorConfig::default(), now);
        session.handle_input(
            &Message::ClientKey(WireGuardKey([3; 32])).encode().unwrap(),
            now,
        );
        let Some(ConnectorEvent::Ended(ending)) = session.poll_event() else {
            panic!("the session ends");
        };
        assert_eq!(
            (ending.reason, ending.initiator),
            (Code::PROTOCOL_ERROR, Initiator::Local)
        );
    }

    #[test]
    fn the_session_decides_the_version_of_the_grant() {
        let (mut session, now) = requested();
        session.poll_transmit();
        session.grant(grant(), now).unwrap();
        let sent = crate::decode_frame(&session.poll_transmit().unwrap()).unwrap();
        let crate::Decoded::Message(Message::Grant(granted)) = sent else {
            panic!("a grant is sent");
        };
        assert_eq!(granted.version, PROTOCOL_VERSION);
        assert_eq!(session.session_id(), Some(SessionId([1; 16])));
    }

    #[test]
    fn reproof_calls_out_of_turn_are_usage_errors() {
        let (mut session, now) = requested();
        assert!(session.send_reproof_challenge([0; 32], now).is_err());
        session.grant(grant(), now).unwrap();
        assert!(
            session.grant(grant(), now).is_err(),
            "one grant per session"
        );
        assert!(session.handle_reproof_verdict(true, now).is_err());
        assert_eq!(session.poll_timeout(), Some(now + Duration::from_secs(15)));
        let later = now + Duration::from_secs(600);
        let keepalive = Message::Keepalive.encode().unwrap();
        session.handle_input(&keepalive, later - Duration::from_secs(1));
        session.handle_timeout(later);
        assert_eq!(session.poll_event(), Some(ConnectorEvent::ReproofDue));
        assert!(session.send_reproof_challenge([7; 32], later).is_ok());
        let again = session.send_reproof_challenge([7; 32], later);
        assert!(again.is_err(), "one challenge at a time");
    }
}
