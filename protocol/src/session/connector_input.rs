//! The connector's handling of the client's messages.

use std::time::Instant;

use super::Initiator;
use super::connector::{ConnectorEvent, ConnectorSession, ConnectorState};
use super::connector_timers::Reproof;
use super::link::peer_ending;
use crate::code::Code;
use crate::ids::{SessionId, WireGuardKey};
use crate::message::{Message, ReproofAnswer, reproof_signing_input};

const SUSPENDED_BY_PEER: ConnectorState = ConnectorState::Suspended {
    by: Initiator::Peer,
};

impl ConnectorSession {
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

    fn on_message(&mut self, message: Message, now: Instant) {
        use ConnectorState::*;
        if let Some(ending) = peer_ending(&message) {
            return self.close(ending);
        }
        let granted = matches!(self.state, Active | Suspended { .. });
        match (message, self.state) {
            (Message::Keepalive, _) => {}
            (Message::Hello(hello), AwaitingHello) if self.hello.is_none() => {
                self.hello = Some(hello);
            }
            (Message::ClientKey(key), AwaitingHello) if self.hello.is_some() => self.on_key(key),
            (Message::ReproofAnswer(answer), _) if granted => self.on_reproof_answer(answer),
            (Message::Suspend { reason }, _) if granted => self.on_suspend(reason),
            (Message::Resume { reason }, SUSPENDED_BY_PEER) => self.on_resume(reason, now),
            (Message::Datagram(packet), Active) => {
                self.handle_activity(now);
                self.events.push_back(ConnectorEvent::Datagram(packet));
            }
            // The tunnel is paused: packets in flight when it paused are dropped.
            (Message::Datagram(_), Suspended { .. }) => {}
            (message, state) => {
                let ending = self.link.violation(&message, state.describe(), now);
                self.close(ending);
            }
        }
    }

    /// The hello came first, now the key: the binary decides.
    fn on_key(&mut self, client_key: WireGuardKey) {
        self.handshake_deadline = None;
        self.state = ConnectorState::AwaitingGrant;
        if let Some(hello) = self.hello.clone() {
            self.events
                .push_back(ConnectorEvent::SessionRequested { hello, client_key });
        }
    }

    /// The card left the reader: pause, and forget any re-proof under way.
    fn on_suspend(&mut self, reason: Code) {
        self.state = SUSPENDED_BY_PEER;
        self.reproof = Reproof::Idle { next_at: None };
        self.resume_requested = false;
        self.events.push_back(ConnectorEvent::Suspended { reason });
    }

    /// The card is back: the session resumes once it proves itself again.
    fn on_resume(&mut self, reason: Code, now: Instant) {
        if !self.resume_requested {
            self.resume_requested = true;
            self.events
                .push_back(ConnectorEvent::ResumeRequested { reason });
            self.reproof_due(now);
        }
    }

    /// An answer to the challenge in flight goes to the binary for verification; a late
    /// answer to an earlier challenge, crossed by a suspend, is dropped.
    fn on_reproof_answer(&mut self, answer: ReproofAnswer) {
        let Reproof::Sent { challenge, .. } = self.reproof else {
            return;
        };
        if answer.challenge != challenge {
            return;
        }
        let session_id = self.session_id.unwrap_or(SessionId([0; 16]));
        let signing_input = reproof_signing_input(session_id, challenge);
        self.reproof = Reproof::Answered { challenge };
        self.events.push_back(ConnectorEvent::ReproofAnswered {
            answer,
            signing_input,
        });
    }
}
