//! The control loop: one task that feeds the [`ClientSession`] with bytes from the stream,
//! its timers, the card's answers and removals, and the user's `Ctrl-C` or `vigie down`, and
//! drains what it has to send and what the user must be told.
//!
//! The card is never used on this task: re-proof signatures and reopening a reinserted card
//! run on blocking threads and come back as messages.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tracing::{debug, info, trace};
use vigie_protocol::{ClientEvent, ClientSession, ClientState, Code, Ending, Initiator};

use super::connect::{ControlStream, Target, io_error};
use super::display;
use super::error::UpError;
use super::status::{StateDir, Status};
use super::tunnel_slot::TunnelSlot;
use crate::card::{Card, CardScheme};
use crate::error::CardError;
use crate::pcsc_transport::PcscTransport;
use crate::signer::{SharedCard, lock};
use crate::watch::CardEvent;

/// Opens the card again after it was reinserted (reader, PIN), on a blocking thread.
pub type Reopen = Arc<dyn Fn() -> Result<Card<PcscTransport>, UpError> + Send + Sync>;

/// What the loop needs besides the stream.
pub struct Inputs {
    /// `vigie down`, `Ctrl-C`, `SIGTERM`.
    pub quit: mpsc::Receiver<()>,
    /// Insertions and removals, all readers.
    pub card_events: mpsc::Receiver<CardEvent>,
}

/// The card as the session uses it.
pub struct SessionCard {
    pub card: SharedCard<PcscTransport>,
    pub reader: String,
    pub reopen: Reopen,
}

/// How often the tunnel's traffic is written to the status file.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// What came back from a blocking thread.
enum CardWork {
    Signed(Result<Vec<u8>, CardError>),
    Reopened(Result<Card<PcscTransport>, UpError>),
}

/// The control loop of one session.
pub struct Driver {
    pub session: ClientSession,
    pub card: SessionCard,
    pub state: StateDir,
    pub status: Status,
    pub screen: Box<dyn Write + Send>,
    pub target: Target,
    pub tunnel: TunnelSlot,
    granted: bool,
    /// Why this side ended the session, when it was not the user's choice.
    failure: Option<UpError>,
    work: (mpsc::Sender<CardWork>, mpsc::Receiver<CardWork>),
}

impl Driver {
    pub fn new(
        session: ClientSession,
        card: SessionCard,
        state: StateDir,
        status: Status,
        screen: Box<dyn Write + Send>,
        target: Target,
        tunnel: TunnelSlot,
    ) -> Self {
        Self {
            session,
            card,
            state,
            status,
            screen,
            target,
            tunnel,
            granted: false,
            failure: None,
            work: mpsc::channel(4),
        }
    }

    /// Runs the session to its end: `Ok` when the user ended it.
    pub async fn run(
        &mut self,
        stream: &mut dyn ControlStream,
        inputs: &mut Inputs,
    ) -> Result<(), UpError> {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut status_tick = tokio::time::interval(STATUS_EVERY);
        loop {
            while let Some(bytes) = self.session.poll_transmit() {
                stream.write_all(&bytes).await.map_err(|e| self.io(&e))?;
            }
            stream.flush().await.map_err(|e| self.io(&e))?;
            while let Some(event) = self.session.poll_event() {
                if let ClientEvent::Ended(ending) = event {
                    self.flush_last(stream).await;
                    return self.outcome(ending);
                }
                self.on_event(event)?;
            }
            // The tunnel carries the machine's packets only while the session is active.
            self.tunnel
                .set_paused(self.session.state() != ClientState::Active);
            let deadline = self
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let now = || Instant::now();
            tokio::select! {
                read = stream.read(&mut buffer) => match read.map_err(|e| self.io(&e))? {
                    0 => return Err(self.closed_by_connector()),
                    n => self.session.handle_input(&buffer[..n], now()),
                },
                () = sleep_until(deadline) => self.session.handle_timeout(now()),
                Some(work) = self.work.1.recv() => self.on_card_work(work),
                Some(event) = inputs.card_events.recv() => self.on_card_event(event),
                Some(()) = inputs.quit.recv() => {
                    self.say("Ending the session.");
                    self.session.end(Code::CLIENT_QUIT, now());
                }
                Some(datagram) = self.tunnel.next_datagram() => {
                    // Only an active session carries datagrams; WireGuard resends.
                    let _ = self.session.send_datagram(&datagram, now());
                }
                _ = status_tick.tick() => self.refresh_tunnel_status(),
            }
        }
    }

    /// Whether the connector granted the session this driver ran.
    pub fn was_granted(&self) -> bool {
        self.granted
    }

    /// Starts over on a new connection with a new session and tunnel, after the connector
    /// restarted or the connection broke; the card, its PIN and the screen stay.
    pub fn restart(&mut self, session: ClientSession, tunnel: TunnelSlot, transport: String) {
        self.session = session;
        self.tunnel = tunnel;
        self.granted = false;
        self.failure = None;
        self.status.transport = Some(transport);
        let _ = self.set_state("connecting");
    }

    /// Tells the user something, on the screen.
    pub fn tell(&mut self, text: &str) {
        self.say(text);
    }

    async fn flush_last(&mut self, stream: &mut dyn ControlStream) {
        while let Some(bytes) = self.session.poll_transmit() {
            if stream.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = stream.flush().await;
    }

    fn io(&self, error: &std::io::Error) -> UpError {
        io_error(&self.target, error)
    }

    fn closed_by_connector(&self) -> UpError {
        UpError::ConnectionLost("the connector closed the connection without a reason".into())
    }

    fn outcome(&mut self, ending: Ending) -> Result<(), UpError> {
        info!(reason = %ending.reason, initiator = ?ending.initiator, "session ended");
        self.tunnel.stop();
        if let Some(failure) = self.failure.take() {
            return Err(failure);
        }
        match (ending.initiator, self.granted) {
            (Initiator::Local, _) if ending.reason == Code::CLIENT_QUIT => {
                self.say("Session ended. You can remove your card.");
                Ok(())
            }
            (Initiator::Peer, false) => Err(UpError::Refused {
                code: ending.reason,
                detail: ending.detail,
            }),
            (Initiator::Peer, true) => Err(UpError::Ended {
                code: ending.reason,
            }),
            (Initiator::Local, _) => Err(UpError::Stopped {
                code: ending.reason,
            }),
        }
    }

    fn on_event(&mut self, event: ClientEvent) -> Result<(), UpError> {
        match event {
            ClientEvent::Granted(grant) => {
                self.granted = true;
                info!(session = %grant.session_id, apps = grant.apps.len(), "session granted");
                let status = &mut self.status;
                status.session_id = Some(grant.session_id.to_string());
                status.tunnel_address = Some(grant.tunnel_address.to_string());
                status.dns_server = grant.dns_server.map(|ip| ip.to_string());
                status.apps = display::apps_of(&grant);
                status.granted_at = Some(display::unix_now());
                status.idle_timeout = grant.idle_timeout.map(|d| d.as_secs());
                status.max_lifetime = grant.max_lifetime.map(|d| d.as_secs());
                if let Err(error) = self.tunnel.start(&grant) {
                    self.say(&format!(
                        "The tunnel cannot be set up on this computer: {error}"
                    ));
                    self.failure = Some(UpError::Tunnel(error));
                    self.session.end(Code::INTERNAL_ERROR, Instant::now());
                    return Ok(());
                }
                self.status.tunnel = self.tunnel.status();
                self.set_state("active")?;
                let text = display::session_text(&self.status);
                self.say(&text);
                self.say("Keep your card in the reader. Press Ctrl-C or run `vigie down` to end.");
            }
            ClientEvent::ReproofRequested { signing_input, .. } => self.sign(signing_input),
            ClientEvent::Suspended { reason } => {
                self.say(&format!(
                    "The connector paused the session: {}.",
                    reason.message()
                ));
                self.set_state("suspended")?;
            }
            ClientEvent::Resumed { .. } => {
                self.say("The session runs again.");
                self.set_state("active")?;
            }
            ClientEvent::Notice(notice) => {
                let remaining = display::duration_text(notice.remaining.as_secs());
                self.say(&format!(
                    "Notice: {} (in {remaining}).",
                    notice.reason.message()
                ));
            }
            ClientEvent::Datagram(packet) => {
                trace!(bytes = packet.len(), "datagram from the control connection");
                self.tunnel.handle_datagram(&packet);
            }
            other => debug!(?other, "event ignored"),
        }
        Ok(())
    }

    /// Has the card sign a re-proof on a blocking thread.
    fn sign(&self, signing_input: Vec<u8>) {
        let card = Arc::clone(&self.card.card);
        let done = self.work.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut card = lock(&card);
            let scheme = preferred_scheme(card.schemes());
            let signed = card.sign(scheme, &signing_input);
            let _ = done.blocking_send(CardWork::Signed(signed));
        });
    }

    fn on_card_work(&mut self, work: CardWork) {
        let now = Instant::now();
        match work {
            CardWork::Signed(Ok(signature)) => {
                let scheme = protocol_scheme(preferred_scheme(lock(&self.card.card).schemes()));
                if let Err(e) = self.session.answer_reproof(scheme, signature, now) {
                    debug!(error = %e, "re-proof answer not sent");
                }
            }
            CardWork::Signed(Err(error)) => {
                self.say(&format!("The card could not prove itself again: {error}"));
                self.session.end(Code::CARD_REMOVED, now);
            }
            CardWork::Reopened(Ok(card)) => {
                let removed = std::mem::replace(&mut *lock(&self.card.card), card);
                // Not dropped: a drop resets the reader, and so the card now in it.
                removed.into_transport().release_removed();
                if self.session.resume(now).is_ok() {
                    self.say("Card back: resuming the session.");
                    let _ = self.set_state("resuming");
                }
            }
            CardWork::Reopened(Err(error)) => self.say(&format!(
                "The card cannot be used again ({error}); remove it and insert it to retry."
            )),
        }
    }

    fn on_card_event(&mut self, event: CardEvent) {
        let now = Instant::now();
        match event {
            CardEvent::Removed { reader } if reader == self.card.reader => {
                let active = matches!(
                    self.session.state(),
                    ClientState::Active | ClientState::Resuming
                );
                if active && self.session.suspend(Code::CARD_REMOVED, now).is_ok() {
                    self.say("Card removed: the session is paused. Insert it again to go on.");
                    let _ = self.set_state("suspended");
                }
            }
            CardEvent::Inserted { reader, .. } if reader == self.card.reader => {
                let by_us = ClientState::Suspended {
                    by: Initiator::Local,
                };
                if self.session.state() == by_us {
                    let reopen = Arc::clone(&self.card.reopen);
                    let done = self.work.0.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = done.blocking_send(CardWork::Reopened(reopen()));
                    });
                }
            }
            _ => {}
        }
    }

    /// Writes the tunnel's traffic to the status file, and tells the user when the tunnel
    /// moved inside the control connection.
    fn refresh_tunnel_status(&mut self) {
        if let Some(path) = self.tunnel.path_change() {
            self.say(&format!("The tunnel now runs as {path}."));
        }
        let tunnel = self.tunnel.status();
        if tunnel != self.status.tunnel {
            self.status.tunnel = tunnel;
            self.status.updated_at = display::unix_now();
            if let Err(error) = self.state.write(&self.status) {
                debug!(%error, "status file not updated");
            }
        }
    }

    fn set_state(&mut self, state: &str) -> Result<(), UpError> {
        self.status.state = state.to_owned();
        self.status.updated_at = display::unix_now();
        self.state.write(&self.status)
    }

    fn say(&mut self, text: &str) {
        let _ = writeln!(self.screen, "{}", text.trim_end());
        let _ = self.screen.flush();
    }
}

/// The scheme a re-proof uses: RSA-PSS when the card has it (CPS4), else PKCS#1 v1.5.
fn preferred_scheme(schemes: &[CardScheme]) -> CardScheme {
    if schemes.contains(&CardScheme::PssSha256) {
        CardScheme::PssSha256
    } else {
        CardScheme::Pkcs1Sha256
    }
}

fn protocol_scheme(scheme: CardScheme) -> vigie_protocol::SignatureScheme {
    match scheme {
        CardScheme::PssSha256 => vigie_protocol::SignatureScheme::RSA_PSS_SHA256,
        CardScheme::Pkcs1Sha256 => vigie_protocol::SignatureScheme::RSA_PKCS1_SHA256,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cps4_proves_with_pss_and_a_cps3_with_pkcs1() {
        let cps4 = [CardScheme::PssSha256, CardScheme::Pkcs1Sha256];
        let cps3 = [CardScheme::Pkcs1Sha256];
        assert_eq!(
            protocol_scheme(preferred_scheme(&cps4)),
            vigie_protocol::SignatureScheme::RSA_PSS_SHA256
        );
        assert_eq!(
            protocol_scheme(preferred_scheme(&cps3)),
            vigie_protocol::SignatureScheme::RSA_PKCS1_SHA256
        );
    }
}
