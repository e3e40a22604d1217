//! One authenticated connection's control session: feeds the stream's bytes and the clock to
//! [`ConnectorSession`], acts on its events (admission and grant, re-proofs, the end), and
//! writes what it sends. The same code serves a TLS stream (TCP) and a QUIC stream.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use vigie_certs::VerifiedCard;
use vigie_protocol::{Code, ConnectorEvent, ConnectorSession, ConnectorState, Ending, SessionId};

use super::Shared;
use super::pipeline::{self, Peer, hex};
use super::registry::LiveSession;
use super::reproof;

/// How often the data plane's counters are read: traffic in the tunnel is activity, which
/// keeps the idle timeout away.
const ACTIVITY_EVERY: Duration = Duration::from_secs(5);

/// The card behind a connection, bound to it at the handshake.
pub struct CardBinding {
    /// What the verifier found.
    pub card: VerifiedCard,
    /// The certificate itself, for re-proofs.
    pub certificate: CertificateDer<'static>,
    /// The certificate and the intermediates the client presented, to judge the card again
    /// when revocation data changes.
    pub chain: Arc<[CertificateDer<'static>]>,
}

/// A running session and what the connector knows about it.
struct Task {
    shared: Arc<Shared>,
    binding: CardBinding,
    peer: Peer,
    session: ConnectorSession,
    ender: mpsc::Sender<Code>,
    granted: Option<(SessionId, LiveSession)>,
    /// A granted session that ended, to take out of the registry once the stream is closed.
    ended: Option<SessionId>,
    /// WireGuard datagrams from the data plane, to send inside this connection.
    datagrams: Option<mpsc::Receiver<Vec<u8>>>,
    /// Whether the data plane holds the session's traffic (suspended).
    plane_paused: bool,
    /// Packets through the session's tunnel, at the last look.
    packets_seen: u64,
}

/// Runs the control session until it ends.
pub async fn run<R, W>(
    shared: Arc<Shared>,
    binding: CardBinding,
    peer: Peer,
    mut reader: R,
    mut writer: W,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (ender, mut ended) = mpsc::channel(4);
    let session = ConnectorSession::new(shared.protocol.clone(), Instant::now());
    let mut task = Task {
        shared,
        binding,
        peer,
        session,
        ender,
        granted: None,
        ended: None,
        datagrams: None,
        plane_paused: false,
        packets_seen: 0,
    };
    let mut buffer = vec![0u8; 16 * 1024];
    let mut writable = true;
    let mut activity = tokio::time::interval(ACTIVITY_EVERY);
    loop {
        while let Some(event) = task.session.poll_event() {
            task.handle(event).await;
        }
        task.pause_plane_while_suspended();
        writable = writable && flush(&mut task.session, &mut writer).await;
        if !writable && !task.session.is_closed() {
            task.session.end(Code::PEER_UNRESPONSIVE, Instant::now());
            continue;
        }
        if task.session.is_closed() {
            break;
        }
        let deadline = task
            .session
            .poll_timeout()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            read = reader.read(&mut buffer) => match read {
                Ok(0) | Err(_) => task.session.end(Code::PEER_UNRESPONSIVE, Instant::now()),
                Ok(n) => task.session.handle_input(&buffer[..n], Instant::now()),
            },
            () = sleep_until(deadline) => task.session.handle_timeout(Instant::now()),
            Some(reason) = ended.recv() => task.session.end(reason, Instant::now()),
            Some(datagram) = next_datagram(&mut task.datagrams) => {
                let _ = task.session.send_datagram(&datagram, Instant::now());
            }
            _ = activity.tick() => task.report_activity(),
        }
    }
    let _ = writer.shutdown().await;
    // Only now, with the last message written, does the session leave the registry: a
    // connector shutting down waits for the registry to empty.
    if let Some(id) = task.ended {
        task.shared.registry.remove(&id);
    }
}

async fn next_datagram(datagrams: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match datagrams {
        Some(datagrams) => datagrams.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Writes everything the session has to send; false when the stream is broken.
async fn flush<W: AsyncWrite + Unpin>(session: &mut ConnectorSession, writer: &mut W) -> bool {
    let mut wrote = false;
    while let Some(bytes) = session.poll_transmit() {
        if writer.write_all(&bytes).await.is_err() {
            return false;
        }
        wrote = true;
    }
    !wrote || writer.flush().await.is_ok()
}

impl Task {
    /// Holds the session's traffic in the data plane while the session is suspended, by
    /// either side, and lets it go once the session is active again.
    fn pause_plane_while_suspended(&mut self) {
        let (Some(plane), Some((id, _))) = (&self.shared.dataplane, &self.granted) else {
            return;
        };
        let paused = matches!(self.session.state(), ConnectorState::Suspended { .. });
        if paused == self.plane_paused {
            return;
        }
        if paused {
            plane.suspend(id);
        } else {
            plane.resume(id);
        }
        self.plane_paused = paused;
        tracing::debug!(paused, "data plane follows the session");
    }

    /// Tells the session about traffic in its tunnel since the last look.
    fn report_activity(&mut self) {
        let (Some(plane), Some((id, _))) = (&self.shared.dataplane, &self.granted) else {
            return;
        };
        let Some(counters) = plane.session_counters(id) else {
            return;
        };
        let packets = counters.forwarded + counters.to_client;
        if packets != self.packets_seen {
            self.packets_seen = packets;
            self.session.handle_activity(Instant::now());
        }
    }

    async fn handle(&mut self, event: ConnectorEvent) {
        match event {
            ConnectorEvent::SessionRequested { client_key, .. } => self.admit(client_key).await,
            ConnectorEvent::ReproofDue => self.challenge(),
            ConnectorEvent::ReproofAnswered {
                answer,
                signing_input,
            } => {
                let ok = reproof::verify(
                    &self.binding.certificate,
                    answer.scheme,
                    &signing_input,
                    &answer.signature,
                );
                tracing::debug!(ok, "card re-proof checked");
                let _ = self.session.handle_reproof_verdict(ok, Instant::now());
            }
            ConnectorEvent::Suspended { reason } => {
                tracing::debug!(%reason, "client suspended");
                self.set_card_out(reason == Code::CARD_REMOVED);
            }
            ConnectorEvent::ResumeRequested { reason } => {
                tracing::debug!(%reason, "client asks to resume");
                self.set_card_out(false);
            }
            ConnectorEvent::Datagram(packet) => {
                if let (Some(plane), Some((id, _))) = (&self.shared.dataplane, &self.granted) {
                    plane.handle_control(id, &packet);
                }
            }
            ConnectorEvent::Ended(ending) => self.ended(&ending).await,
            _ => tracing::debug!("unhandled session event"),
        }
    }

    async fn admit(&mut self, client_key: vigie_protocol::WireGuardKey) {
        let card = &self.binding.card;
        let admitted = pipeline::admit_card(
            &self.shared,
            card,
            self.binding.chain.clone(),
            client_key,
            self.peer,
            self.ender.clone(),
        )
        .await;
        let now = Instant::now();
        let admission = match admitted {
            Ok(admission) => admission,
            Err(code) => return self.session.end(code, now),
        };
        self.shared.metrics.accepted();
        let id = admission.grant.session_id;
        if self.session.grant(admission.grant, now).is_err() {
            // The client went away while the directory decided: the session it was given
            // (new, or resumed with its card) ends, recorded as such.
            self.shared
                .registry
                .release_address(admission.live.tunnel_address);
            let ending = Ending {
                reason: Code::PEER_UNRESPONSIVE,
                initiator: vigie_protocol::Initiator::Peer,
                detail: None,
            };
            if let Some(sso) = &self.shared.sso {
                super::sso_hook::session_ended(sso, &id);
            }
            return pipeline::end(&self.shared, id, &admission.live, &ending).await;
        }
        self.shared.registry.insert(id, admission.live.clone());
        self.shared.metrics.session_up(self.peer.transport);
        let plane = self.shared.dataplane.as_deref();
        self.datagrams = crate::dataplane::hook::attach(plane, id, &admission.live);
        tracing::Span::current().record("session", hex(&id));
        tracing::info!("session up");
        self.granted = Some((id, admission.live));
    }

    fn challenge(&mut self) {
        let now = Instant::now();
        match reproof::challenge(&self.shared.rng) {
            Some(challenge) => {
                let _ = self.session.send_reproof_challenge(challenge, now);
            }
            None => self.session.end(Code::INTERNAL_ERROR, now),
        }
    }

    fn set_card_out(&self, out: bool) {
        if let Some((_, live)) = &self.granted {
            live.card_out.store(out, Ordering::Relaxed);
        }
    }

    /// Whether the session should wait for its card rather than end: it moved to another
    /// workstation, or its connection went away while the card was out.
    fn waits_for_card(&self, ending: &Ending) -> bool {
        let card_out = self
            .granted
            .as_ref()
            .is_some_and(|(_, live)| live.card_out.load(Ordering::Relaxed));
        ending.reason == Code::SESSION_MOVED
            || ending.reason == Code::CONNECTOR_RESTARTING
            || (card_out && ending.reason == Code::PEER_UNRESPONSIVE)
    }

    /// Takes the session off this connection to wait for its card.
    async fn park(&mut self, id: SessionId, reason: Code) {
        if let Some(plane) = &self.shared.dataplane {
            plane.remove_session(&id);
        }
        let Some(live) = self.shared.registry.park(&id) else {
            return;
        };
        let grace = self.shared.limits().card_grace;
        let event = super::roaming::parked_event(&id, &live, self.peer, reason, grace);
        let _ = pipeline::audited(&self.shared, event).await;
        let parked = super::roaming::Parked {
            live,
            peer: Some(self.peer),
            until: Instant::now() + grace,
            // Connection lost with the card out: it ends, if it does, for the card.
            reason: if reason == Code::PEER_UNRESPONSIVE {
                Code::CARD_REMOVED
            } else {
                reason
            },
        };
        self.shared.parking.park(id, parked);
        tracing::info!("session waits for its card");
    }

    async fn ended(&mut self, ending: &Ending) {
        let waits = self.waits_for_card(ending);
        let Some((id, live)) = self.granted.take() else {
            tracing::debug!(reason = %ending.reason, "connection closed before a grant");
            return;
        };
        let reason = (!waits).then(|| ending.reason.name().unwrap_or("unknown"));
        self.shared
            .metrics
            .session_down(self.peer.transport, reason);
        if waits {
            return self.park(id, ending.reason).await;
        }
        self.ended = Some(id);
        if let Some(plane) = &self.shared.dataplane {
            plane.remove_session(&id);
        }
        if let Some(sso) = &self.shared.sso {
            super::sso_hook::session_ended(sso, &id);
        }
        pipeline::end(&self.shared, id, &live, ending).await;
        tracing::info!(reason = %ending.reason, initiator = ?ending.initiator, "session down");
    }
}
