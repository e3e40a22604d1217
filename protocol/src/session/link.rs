//! What both sides share: the frame decoder, the outgoing bytes, keepalives and the dead-peer
//! timer, and the ways a session closes.

use std::time::Instant;

use super::{Ending, Initiator, SessionConfig};
use crate::EncodeError;
use crate::code::Code;
use crate::message::{ErrorMessage, Message};
use crate::wire::{Decoded, FrameDecoder};

/// The byte stream of one session, with its timers.
#[derive(Debug)]
pub(super) struct Link {
    decoder: FrameDecoder,
    outgoing: Vec<u8>,
    config: SessionConfig,
    last_received: Instant,
    last_sent: Instant,
}

impl Link {
    pub(super) fn new(config: SessionConfig, now: Instant) -> Self {
        Self {
            decoder: FrameDecoder::new(),
            outgoing: Vec::new(),
            config: config.clamped(),
            last_received: now,
            last_sent: now,
        }
    }

    /// The timing in force, bounded.
    pub(super) fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Queues a message for the peer.
    pub(super) fn send(&mut self, message: &Message, now: Instant) -> Result<(), EncodeError> {
        let frame = message.encode()?;
        self.outgoing.extend_from_slice(&frame);
        self.last_sent = now;
        Ok(())
    }

    /// Queues a message whose size is bounded by construction (keepalive, suspend, resume,
    /// end, error, challenge), so encoding cannot fail; were it to, the peer would hear
    /// nothing and its dead-peer timer would end the session.
    pub(super) fn send_control(&mut self, message: &Message, now: Instant) {
        if self.send(message, now).is_err() {
            debug_assert!(false, "a {} failed to encode", message.name());
        }
    }

    pub(super) fn receive(&mut self, bytes: &[u8], now: Instant) {
        if !bytes.is_empty() {
            self.decoder.push(bytes);
            self.last_received = now;
        }
    }

    /// The next message from the peer; a frame that fails to decode is answered with an
    /// error message and ends the session.
    pub(super) fn next_message(&mut self, now: Instant) -> Option<Result<Message, Ending>> {
        loop {
            return match self.decoder.next_frame() {
                Ok(None) => None,
                Ok(Some(Decoded::Ignored { .. })) => continue,
                Ok(Some(Decoded::Message(message))) => Some(Ok(message)),
                Err(err) => Some(Err(self.fail(err.code(), err.to_string(), now))),
            };
        }
    }

    /// Ends the session from this side with an end message.
    pub(super) fn end(&mut self, reason: Code, now: Instant) -> Ending {
        self.send_control(&Message::End { reason }, now);
        Ending {
            reason,
            initiator: Initiator::Local,
            detail: None,
        }
    }

    /// Ends the session from this side with an error message.
    pub(super) fn fail(&mut self, code: Code, detail: String, now: Instant) -> Ending {
        let error = ErrorMessage::new(code, detail);
        self.send_control(&Message::Error(error.clone()), now);
        Ending {
            reason: code,
            initiator: Initiator::Local,
            detail: Some(error.message),
        }
    }

    /// Ends the session because the peer broke the protocol's rules for this state.
    pub(super) fn violation(&mut self, message: &Message, state: &str, now: Instant) -> Ending {
        let detail = format!("unexpected {} while the session is {state}", message.name());
        self.fail(Code::PROTOCOL_ERROR, detail, now)
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.outgoing.is_empty()).then(|| core::mem::take(&mut self.outgoing))
    }

    /// The next keepalive or dead-peer deadline.
    pub(super) fn next_deadline(&self) -> Instant {
        self.keepalive_at().min(self.dead_peer_at())
    }

    /// Sends a keepalive if one is due; ends the session if the peer has gone silent.
    pub(super) fn handle_timeout(&mut self, now: Instant) -> Option<Ending> {
        if now >= self.dead_peer_at() {
            return Some(self.end(Code::PEER_UNRESPONSIVE, now));
        }
        if now >= self.keepalive_at() {
            self.send_control(&Message::Keepalive, now);
        }
        None
    }

    fn keepalive_at(&self) -> Instant {
        self.last_sent + self.config.keepalive_interval
    }

    fn dead_peer_at(&self) -> Instant {
        self.last_received + self.config.dead_peer_timeout
    }
}

/// How a session ends when the peer ends it; `None` for any other message.
pub(super) fn peer_ending(message: &Message) -> Option<Ending> {
    let (reason, detail) = match message {
        Message::End { reason } => (*reason, None),
        Message::Error(error) => (error.code, Some(error.message.clone())),
        _ => return None,
    };
    Some(Ending {
        reason,
        initiator: Initiator::Peer,
        detail,
    })
}
