//! A client and a connector session wired together in memory, on a virtual clock.
//!
//! This is a test harness, public so that the integration tests, the `session` example and
//! the fuzz target share it. It plays both binaries: it delivers each side's bytes to the
//! other, grants the session, supplies challenges, stands in for the card with a fake
//! signature, and checks that signature as the connector would check a real one. Time only
//! moves when [`Pair::advance`] moves it, so an hour of session runs in milliseconds.

use std::time::{Duration, Instant};

use crate::code::Code;
use crate::message::{Hello, SignatureScheme};
use crate::session::{
    ClientEvent, ClientSession, ConnectorConfig, ConnectorEvent, ConnectorSession, SessionConfig,
};
use crate::wire::{Decoded, FrameDecoder};
use crate::{Capabilities, SessionGrant, UsageError, WireGuardKey};

/// One real instant to start virtual clocks from; from there time moves only by addition.
#[expect(
    clippy::disallowed_methods,
    reason = "a virtual clock needs one real Instant as its epoch; nothing else reads the clock"
)]
pub fn epoch() -> Instant {
    Instant::now()
}

/// What the simulated card does when asked for a re-proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// Signs at once.
    Answers,
    /// Never answers (pulled out, or the PIN prompt left unanswered).
    Silent,
    /// Signs, but not with the key the connector expects.
    WrongKey,
}

/// The two sessions, the pipe between them and the clock.
#[derive(Debug)]
pub struct Pair {
    pub client: ClientSession,
    pub connector: ConnectorSession,
    epoch: Instant,
    now: Instant,
    /// Granted as soon as the connector asks; `None` leaves the decision to the test.
    pub grant: Option<SessionGrant>,
    pub card: Card,
    /// Drop everything the client sends (the laptop fell off the network).
    pub client_mute: bool,
    /// Drop everything the connector sends.
    pub connector_mute: bool,
    /// Deliver bytes one at a time instead of in whole writes.
    pub byte_by_byte: bool,
    client_events: Vec<(Duration, ClientEvent)>,
    connector_events: Vec<(Duration, ConnectorEvent)>,
    trace: Vec<String>,
    watch_up: FrameDecoder,
    watch_down: FrameDecoder,
    challenges: u8,
}

impl Pair {
    /// A client and a connector whose hello and key are already on their way.
    pub fn new(client: SessionConfig, connector: ConnectorConfig, grant: SessionGrant) -> Self {
        let epoch = epoch();
        let hello = Hello::new(
            Capabilities::DATAGRAMS | Capabilities::NOTICES | Capabilities::RESUME_IN_PLACE,
            "vigie-sim",
        );
        let key = WireGuardKey([0xc1; 32]);
        Self {
            client: ClientSession::new(client, hello, key, epoch)
                .expect("a simulation hello always encodes"),
            connector: ConnectorSession::new(connector, epoch),
            epoch,
            now: epoch,
            grant: Some(grant),
            card: Card::Answers,
            client_mute: false,
            connector_mute: false,
            byte_by_byte: false,
            client_events: Vec::new(),
            connector_events: Vec::new(),
            trace: Vec::new(),
            watch_up: FrameDecoder::new(),
            watch_down: FrameDecoder::new(),
            challenges: 0,
        }
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the pair was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// Moves time forward by `by`, firing every timer that falls due on the way, in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        self.drive();
        while let Some(next) = self.next_timeout().filter(|&next| next <= target) {
            self.now = self.now.max(next);
            if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                self.client.handle_timeout(self.now);
            }
            if self.connector.poll_timeout().is_some_and(|t| t <= self.now) {
                self.connector.handle_timeout(self.now);
            }
            self.drive();
        }
        self.now = target;
    }

    /// Delivers bytes and reacts to events until both sides are quiet at the current time.
    pub fn drive(&mut self) {
        while self.step() {}
    }

    /// The user pulls the card out: the client suspends the session.
    pub fn remove_card(&mut self) {
        self.note("card removed");
        self.client
            .suspend(Code::CARD_REMOVED, self.now)
            .expect("suspend while active");
        self.drive();
    }

    /// The user puts the card back: the client asks to resume.
    pub fn insert_card(&mut self) {
        self.note("card inserted");
        self.client
            .resume(self.now)
            .expect("resume after the card was removed");
        self.drive();
    }

    /// Packets went through the tunnel (the connector's data plane reports it).
    pub fn tunnel_traffic(&mut self) {
        self.connector.handle_activity(self.now);
    }

    /// Bytes written straight into the connector's input, as a rogue client would.
    pub fn inject_to_connector(&mut self, bytes: &[u8]) {
        self.note(&format!("{} raw bytes to the connector", bytes.len()));
        self.connector.handle_input(bytes, self.now);
        self.drive();
    }

    /// Bytes written straight into the client's input, as a rogue connector would.
    pub fn inject_to_client(&mut self, bytes: &[u8]) {
        self.note(&format!("{} raw bytes to the client", bytes.len()));
        self.client.handle_input(bytes, self.now);
        self.drive();
    }

    /// The client's events so far, with the virtual time of each.
    pub fn client_events(&self) -> &[(Duration, ClientEvent)] {
        &self.client_events
    }

    pub fn connector_events(&self) -> &[(Duration, ConnectorEvent)] {
        &self.connector_events
    }

    /// How the client's session ended, if it has.
    pub fn client_ending(&self) -> Option<&crate::Ending> {
        self.client_events
            .iter()
            .find_map(|(_, event)| match event {
                ClientEvent::Ended(ending) => Some(ending),
                _ => None,
            })
    }

    pub fn connector_ending(&self) -> Option<&crate::Ending> {
        self.connector_events
            .iter()
            .find_map(|(_, event)| match event {
                ConnectorEvent::Ended(ending) => Some(ending),
                _ => None,
            })
    }

    /// A readable log of messages, events and actions, one line each.
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    /// Adds a line to the trace.
    pub fn note(&mut self, text: &str) {
        let line = format!("{} {text}", clock(self.elapsed()));
        self.trace.push(line);
    }

    fn next_timeout(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.connector.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn step(&mut self) -> bool {
        let mut moved = false;
        if let Some(bytes) = self.client.poll_transmit() {
            moved = true;
            self.watch(true, &bytes);
            if !self.client_mute {
                deliver(&bytes, self.byte_by_byte, |chunk| {
                    self.connector.handle_input(chunk, self.now)
                });
            }
        }
        if let Some(bytes) = self.connector.poll_transmit() {
            moved = true;
            self.watch(false, &bytes);
            if !self.connector_mute {
                deliver(&bytes, self.byte_by_byte, |chunk| {
                    self.client.handle_input(chunk, self.now)
                });
            }
        }
        while let Some(event) = self.client.poll_event() {
            moved = true;
            self.on_client_event(event);
        }
        while let Some(event) = self.connector.poll_event() {
            moved = true;
            self.on_connector_event(event);
        }
        moved
    }

    fn on_client_event(&mut self, event: ClientEvent) {
        self.note(&format!("client event: {}", describe_client(&event)));
        if let ClientEvent::ReproofRequested { signing_input, .. } = &event {
            let signature = match self.card {
                Card::Answers => Some(fake_signature(signing_input)),
                Card::WrongKey => Some(vec![0x5a; 256]),
                Card::Silent => None,
            };
            if let Some(signature) = signature {
                let scheme = SignatureScheme::RSA_PSS_SHA256;
                let answered = self.client.answer_reproof(scheme, signature, self.now);
                self.stale(answered);
            }
        }
        self.client_events.push((self.elapsed(), event));
    }

    fn on_connector_event(&mut self, event: ConnectorEvent) {
        self.note(&format!("connector event: {}", describe_connector(&event)));
        match &event {
            ConnectorEvent::SessionRequested { .. } => {
                if let Some(grant) = self.grant.clone() {
                    self.connector
                        .grant(grant, self.now)
                        .expect("the simulation grant is valid");
                }
            }
            ConnectorEvent::ReproofDue => {
                self.challenges = self.challenges.wrapping_add(1);
                let challenge = [self.challenges; 32];
                let sent = self.connector.send_reproof_challenge(challenge, self.now);
                self.stale(sent);
            }
            ConnectorEvent::ReproofAnswered {
                answer,
                signing_input,
            } => {
                let ok = answer.signature == fake_signature(signing_input);
                self.note(if ok {
                    "signature accepted"
                } else {
                    "signature rejected"
                });
                let verdict = self.connector.handle_reproof_verdict(ok, self.now);
                self.stale(verdict);
            }
            _ => {}
        }
        self.connector_events.push((self.elapsed(), event));
    }

    /// An event can be stale by the time the binary acts on it: a later message in the same
    /// read may have closed or suspended the session. The session then refuses the call, as
    /// it should, and the binary carries on.
    fn stale(&mut self, result: Result<(), UsageError>) {
        if let Err(err) = result {
            self.note(&format!("refused: {err}"));
        }
    }

    fn watch(&mut self, upstream: bool, bytes: &[u8]) {
        let (decoder, arrow) = if upstream {
            (&mut self.watch_up, "client → connector")
        } else {
            (&mut self.watch_down, "connector → client")
        };
        decoder.push(bytes);
        let mut lines = Vec::new();
        while let Ok(Some(decoded)) = decoder.next_frame() {
            lines.push(match decoded {
                Decoded::Message(message) => format!("{arrow}: {}", message.name()),
                Decoded::Ignored { message_type } => format!("{arrow}: type {message_type:#x}"),
            });
        }
        lines.iter().for_each(|line| self.note(line));
    }
}

fn deliver(bytes: &[u8], byte_by_byte: bool, mut input: impl FnMut(&[u8])) {
    if byte_by_byte {
        bytes.chunks(1).for_each(input);
    } else {
        input(bytes);
    }
}

/// Stands in for the card's signature: the signed bytes backwards. Enough to show that both
/// sides computed the same signing input; no security intended.
pub fn fake_signature(signing_input: &[u8]) -> Vec<u8> {
    signing_input.iter().rev().copied().collect()
}

fn clock(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    format!(
        "[{:02}:{:02}:{:02}]",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn describe_client(event: &ClientEvent) -> String {
    match event {
        ClientEvent::Granted(grant) => format!("granted session {}", grant.session_id),
        ClientEvent::ReproofRequested { .. } => "re-proof requested: the card signs".into(),
        ClientEvent::Suspended { reason } => format!("suspended ({reason})"),
        ClientEvent::Resumed { reason } => format!("resumed ({reason})"),
        ClientEvent::Notice(notice) => {
            format!(
                "notice: {} in {} s",
                notice.reason,
                notice.remaining.as_secs()
            )
        }
        ClientEvent::Datagram(packet) => format!("datagram of {} bytes", packet.len()),
        ClientEvent::Ended(ending) => {
            format!("ended ({}, by {:?})", ending.reason, ending.initiator)
        }
    }
}

fn describe_connector(event: &ConnectorEvent) -> String {
    match event {
        ConnectorEvent::SessionRequested { hello, .. } => {
            format!("session requested by {:?}", hello.software)
        }
        ConnectorEvent::ReproofDue => "re-proof due: sending a challenge".into(),
        ConnectorEvent::ReproofAnswered { .. } => "card answered: verifying".into(),
        ConnectorEvent::Suspended { reason } => format!("suspended ({reason})"),
        ConnectorEvent::ResumeRequested { reason } => format!("resume requested ({reason})"),
        ConnectorEvent::Datagram(packet) => format!("datagram of {} bytes", packet.len()),
        ConnectorEvent::Ended(ending) => {
            format!("ended ({}, by {:?})", ending.reason, ending.initiator)
        }
    }
}
