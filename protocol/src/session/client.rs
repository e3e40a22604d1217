//! The client's side of a session.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::link::{Link, peer_ending};
use super::{Ending, Initiator, SessionConfig};
use crate::code::Code;
use crate::error::{EncodeError, UsageError};
use crate::ids::{Challenge, SessionId, WireGuardKey};
use crate::message::{
    Hello, Message, Notice, ReproofAnswer, ReproofChallenge, SessionGrant, SignatureScheme,
    reproof_signing_input,
};

/// Where the client's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Hello and key sent; waiting for the connector's grant.
    AwaitingGrant,
    /// Granted; the tunnel may carry traffic.
    Active,
    /// The tunnel is paused, by this side (card removed) or by the connector.
    Suspended { by: Initiator },
    /// The card is back and resume was asked for; waiting for the connector's re-proof and
    /// its resume.
    Resuming,
    /// Over; drain the last bytes with `poll_transmit` and close the connection.
    Closed,
}

/// What the client binary must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The connector admitted the session: set up the tunnel, routes and DNS from it.
    Granted(SessionGrant),
    /// Have the card sign `signing_input` and call [`ClientSession::answer_reproof`] within
    /// `answer_within`.
    ReproofRequested {
        challenge: Challenge,
        signing_input: Vec<u8>,
        answer_within: Duration,
    },
    /// The connector paused the tunnel.
    Suspended { reason: Code },
    /// The tunnel runs again.
    Resumed { reason: Code },
    /// Tell the user, such as "your session ends in 2 minutes".
    Notice(Notice),
    /// A WireGuard packet that came inside the control connection.
    Datagram(Vec<u8>),
    /// The session is over: tear the tunnel down and tell the user why.
    Ended(Ending),
}

const SUSPENDED_BY_PEER: ClientState = ClientState::Suspended {
    by: Initiator::Peer,
};

/// The client's session state machine. No I/O: see the [module docs](super).
#[derive(Debug)]
pub struct ClientSession {
    link: Link,
    state: ClientState,
    events: VecDeque<ClientEvent>,
    session_id: Option<SessionId>,
    challenge: Option<Challenge>,
    handshake_deadline: Option<Instant>,
}

impl ClientSession {
    /// Starts a session: queues the hello and the client's WireGuard public key.
    pub fn new(
        config: SessionConfig,
        hello: Hello,
        key: WireGuardKey,
        now: Instant,
    ) -> Result<Self, EncodeError> {
        let mut link = Link::new(config, now);
        let handshake_deadline = Some(now + link.config().handshake_timeout);
        link.send(&Message::Hello(hello), now)?;
        link.send(&Message::ClientKey(key), now)?;
        Ok(Self {
            link,
            state: ClientState::AwaitingGrant,
            events: VecDeque::new(),
            session_id: None,
            challenge: None,
            handshake_deadline,
        })
    }

    pub fn state(&self) -> ClientState {
        self.state
    }

    pub fn is_closed(&self) -> bool {
        self.state == ClientState::Closed
    }

    /// The session id, once granted.
    pub fn session_id(&self) -> Option<SessionId> {
        self.session_id
    }

    /// Bytes read from the control stream, in any chunks.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.is_closed() {
            return;
        }
        self.link.receive(bytes, now);
        while let Some(next) = self.link.next_message(now) {
            match next {
                Ok(message) => self.on_message(message, now),
                Err(ending) => self.close(ending),
            }
            if self.is_closed() {
                return;
            }
        }
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
            let ending = self.link.end(Code::HANDSHAKE_TIMEOUT, now);
            return self.close(ending);
        }
        if let Some(ending) = self.link.handle_timeout(now) {
            self.close(ending);
        }
    }

    /// Sends the card's signature over the `signing_input` of the last re-proof request.
    pub fn answer_reproof(
        &mut self,
        scheme: SignatureScheme,
        signature: Vec<u8>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let challenge = self.challenge.ok_or(UsageError::WrongState {
            action: "answer a re-proof",
            state: "without a pending challenge",
        })?;
        let answer = ReproofAnswer {
            challenge,
            scheme,
            signature,
        };
        self.link.send(&Message::ReproofAnswer(answer), now)?;
        self.challenge = None;
        Ok(())
    }

    /// Pauses the tunnel, typically because the card was removed ([`Code::CARD_REMOVED`]),
    /// also while a resume is under way (the card came out again).
    pub fn suspend(&mut self, reason: Code, now: Instant) -> Result<(), UsageError> {
        if self.state != ClientState::Resuming {
            self.expect_state(ClientState::Active, "suspend")?;
        }
        self.link.send_control(&Message::Suspend { reason }, now);
        self.state = ClientState::Suspended {
            by: Initiator::Local,
        };
        self.challenge = None;
        Ok(())
    }

    /// The card is back: asks the connector to resume. It answers with a re-proof request,
    /// then, once the card's signature is accepted, resumes the tunnel.
    pub fn resume(&mut self, now: Instant) -> Result<(), UsageError> {
        self.expect_state(
            ClientState::Suspended {
                by: Initiator::Local,
            },
            "resume",
        )?;
        self.link.send_control(
            &Message::Resume {
                reason: Code::CARD_REINSERTED,
            },
            now,
        );
        self.state = ClientState::Resuming;
        Ok(())
    }

    /// Ends the session, such as [`Code::CLIENT_QUIT`] when the user quits. Does nothing
    /// once the session is closed.
    pub fn end(&mut self, reason: Code, now: Instant) {
        if !self.is_closed() {
            let ending = self.link.end(reason, now);
            self.close(ending);
        }
    }

    /// Sends a WireGuard packet inside the control connection.
    pub fn send_datagram(&mut self, packet: &[u8], now: Instant) -> Result<(), UsageError> {
        self.expect_state(ClientState::Active, "send a datagram")?;
        self.link.send(&Message::Datagram(packet.to_vec()), now)?;
        Ok(())
    }

    /// Bytes to write to the control stream, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.link.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let link = self.link.next_deadline();
        Some(
            self.handshake_deadline
                .map_or(link, |deadline| deadline.min(link)),
        )
    }

    fn on_message(&mut self, message: Message, now: Instant) {
        use ClientState::*;
        if let Some(ending) = peer_ending(&message) {
            return self.close(ending);
        }
        let granted = self.state != AwaitingGrant;
        match (message, self.state) {
            (Message::Keepalive, _) => {}
            (Message::Grant(grant), AwaitingGrant) => self.on_grant(grant),
            (Message::ReproofChallenge(request), _) if granted => self.on_challenge(request),
            (Message::Suspend { reason }, _) if granted => {
                self.state = SUSPENDED_BY_PEER;
                self.events.push_back(ClientEvent::Suspended { reason });
            }
            (Message::Resume { reason }, Resuming | SUSPENDED_BY_PEER) => {
                self.state = Active;
                self.events.push_back(ClientEvent::Resumed { reason });
            }
            (Message::Datagram(packet), Active) => self.push(ClientEvent::Datagram(packet)),
            // The tunnel is paused: packets in flight when it paused are dropped.
            (Message::Datagram(_), _) if granted => {}
            (Message::Notice(notice), _) if granted => self.push(ClientEvent::Notice(notice)),
            (message, state) => {
                let ending = self.link.violation(&message, state.describe(), now);
                self.close(ending);
            }
        }
    }

    fn push(&mut self, event: ClientEvent) {
        self.events.push_back(event);
    }

    fn on_challenge(&mut self, request: ReproofChallenge) {
        let session_id = self.session_id.unwrap_or(SessionId([0; 16]));
        self.challenge = Some(request.challenge);
        self.push(ClientEvent::ReproofRequested {
            challenge: request.challenge,
            signing_input: reproof_signing_input(session_id, request.challenge),
            answer_within: request.answer_within,
        });
    }

    fn on_grant(&mut self, grant: SessionGrant) {
        self.session_id = Some(grant.session_id);
        self.handshake_deadline = None;
        self.state = ClientState::Active;
        self.events.push_back(ClientEvent::Granted(grant));
    }

    fn close(&mut self, ending: Ending) {
        self.state = ClientState::Closed;
        self.handshake_deadline = None;
        self.challenge = None;
        self.events.push_back(ClientEvent::Ended(ending));
    }

    fn expect_state(&self, wanted: ClientState, action: &'static str) -> Result<(), UsageError> {
        if self.state != wanted {
            return Err(UsageError::WrongState {
                action,
                state: self.state.describe(),
            });
        }
        Ok(())
    }
}

impl ClientState {
    fn describe(self) -> &'static str {
        match self {
            Self::AwaitingGrant => "awaiting its grant",
            Self::Active => "active",
            Self::Suspended {
                by: Initiator::Local,
            } => "suspended by the client",
            Self::Suspended {
                by: Initiator::Peer,
            } => "suspended by the connector",
            Self::Resuming => "resuming",
            Self::Closed => "closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::epoch;
    use crate::wire::{Decoded, FrameDecoder};

    fn client() -> (ClientSession, Instant) {
        let now = epoch();
        let hello = Hello::new(Default::default(), "test");
        let session =
            ClientSession::new(SessionConfig::default(), hello, WireGuardKey([3; 32]), now);
        (session.unwrap(), now)
    }

    fn sent(session: &mut ClientSession) -> Vec<Message> {
        let mut decoder = FrameDecoder::new();
        decoder.push(&session.poll_transmit().unwrap_or_default());
        let mut messages = Vec::new();
        while let Some(Decoded::Message(message)) = decoder.next_frame().unwrap() {
            messages.push(message);
        }
        messages
    }

    #[test]
    fn opens_with_hello_then_key_and_a_handshake_deadline() {
        let (mut session, now) = client();
        let names: Vec<_> = sent(&mut session).iter().map(Message::name).collect();
        assert_eq!(names, ["hello", "client key"]);
        assert_eq!(session.poll_timeout(), Some(now + Duration::from_secs(15)));
        session.handle_timeout(now + Duration::from_secs(30));
        let ending = Ending {
            reason: Code::HANDSHAKE_TIMEOUT,
            initiator: Initiator::Local,
            detail: None,
        };
        assert_eq!(session.poll_event(), Some(ClientEvent::Ended(ending)));
    }

    #[test]
    fn zero_timers_are_taken_as_one_second() {
        let now = epoch();
        let zero = SessionConfig {
            keepalive_interval: Duration::ZERO,
            dead_peer_timeout: Duration::ZERO,
            handshake_timeout: Duration::ZERO,
        };
        let hello = Hello::new(Default::default(), "test");
        let session = ClientSession::new(zero, hello, WireGuardKey([3; 32]), now).unwrap();
        assert_eq!(session.poll_timeout(), Some(now + Duration::from_secs(1)));
    }

    #[test]
    fn calls_out_of_turn_are_usage_errors() {
        let (mut session, now) = client();
        let answer = session.answer_reproof(SignatureScheme::RSA_PSS_SHA256, vec![1], now);
        assert!(matches!(answer, Err(UsageError::WrongState { .. })));
        let suspend = session.suspend(Code::CARD_REMOVED, now).unwrap_err();
        assert_eq!(
            suspend.to_string(),
            "cannot suspend while the session is awaiting its grant"
        );
        assert!(session.send_datagram(&[1], now).is_err());
        assert_eq!(session.state(), ClientState::AwaitingGrant);
    }

    #[test]
    fn a_datagram_before_the_grant_ends_the_session_with_an_error_message() {
        let (mut session, now) = client();
        sent(&mut session);
        let frame = Message::Datagram(vec![1, 2]).encode().unwrap();
        session.handle_input(&frame, now);
        assert!(session.is_closed());
        let Some(Message::Error(error)) = sent(&mut session).pop() else {
            panic!("an error message is sent");
        };
        assert_eq!(error.code, Code::PROTOCOL_ERROR);
        assert_eq!(
            error.message,
            "unexpected datagram while the session is awaiting its grant"
        );
        session.handle_input(&frame, now);
        assert_eq!(
            session.poll_transmit(),
            None,
            "a closed session says nothing more"
        );
    }
}
