//! The session follows the card between workstations.
//!
//! A clinician pulls her card out: her client pauses the session (the tunnel carries nothing),
//! and the session waits for the card. If the card comes back into the same workstation, the
//! session resumes there (the client and the protocol do that). If it goes into another
//! workstation, that workstation's client is admitted with the card (and its PIN) as usual,
//! and instead of a new session it gets the waiting one: the same session id, the same tunnel
//! address, the same SSO session; only the WireGuard key is the new workstation's. The first
//! workstation is told the session moved ([`Code::SESSION_MOVED`]). The audit log shows one
//! session moving: `session.suspend` when it detaches, `session.resume` with both peers when
//! it comes back.
//!
//! A session whose card is out also waits when its control connection goes away (the laptop
//! was closed): it is **parked** here for `[session] card_grace`, and ends when that runs out,
//! or earlier when an administrator, HR or a revocation ends it in the directory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use vigie_protocol::{Code, SessionId};

use super::Shared;
use super::pipeline::{Peer, hex};
use super::registry::LiveSession;
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::card::CardRef;

/// How often parked sessions are looked at.
const EVERY: Duration = Duration::from_secs(1);
/// How long a new admission waits for another connection to hand its session over.
const HANDOVER: Duration = Duration::from_secs(3);

/// A session waiting for its card, with no connection.
#[derive(Debug)]
pub struct Parked {
    /// The session as it was.
    pub live: LiveSession,
    /// Where it was last connected from.
    pub peer: Peer,
    /// When it ends if its card has not come back.
    pub until: Instant,
}

/// The parked sessions.
#[derive(Debug, Default)]
pub struct Parking {
    sessions: Mutex<HashMap<SessionId, Parked>>,
}

impl Parking {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Parked>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Parks session `id`.
    pub fn park(&self, id: SessionId, parked: Parked) {
        self.lock().insert(id, parked);
    }

    /// Takes the parked session of `card`, if there is one.
    pub fn take_card(&self, card: &CardRef) -> Option<(SessionId, Parked)> {
        let mut sessions = self.lock();
        let id = *sessions.iter().find(|(_, p)| &p.live.card == card)?.0;
        sessions.remove(&id).map(|parked| (id, parked))
    }

    /// Takes the sessions whose grace ran out at `now`.
    fn take_expired(&self, now: Instant) -> Vec<(SessionId, Parked)> {
        let mut sessions = self.lock();
        let expired: Vec<SessionId> = sessions
            .iter()
            .filter(|(_, p)| p.until <= now)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| sessions.remove(&id).map(|p| (id, p)))
            .collect()
    }

    /// Takes the parked session `id`.
    fn take(&self, id: &SessionId) -> Option<Parked> {
        self.lock().remove(id)
    }

    /// The parked sessions' ids.
    fn ids(&self) -> Vec<SessionId> {
        self.lock().keys().copied().collect()
    }
}

/// The waiting session of `card` for a new admission: a parked one, or one whose card is out
/// in another connection, which is asked to hand it over. Its id and what it was.
pub async fn claim(shared: &Shared, card: &CardRef) -> Option<(SessionId, Parked)> {
    if let Some(found) = shared.parking.take_card(card) {
        return Some(found);
    }
    let id = shared.registry.card_out_session(card)?;
    shared.registry.end(&id, Code::SESSION_MOVED);
    let deadline = Instant::now() + HANDOVER;
    while Instant::now() < deadline {
        if let Some(parked) = shared.parking.take(&id) {
            return Some((id, parked));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!("a session whose card moved was not handed over in time");
    None
}

/// Ends parked sessions whose grace ran out, or that the directory ended (an administrator's
/// kill, HR), until the connector stops.
pub async fn watch(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        for (id, parked) in shared.parking.take_expired(Instant::now()) {
            finish(&shared, id, parked, Code::CARD_REMOVED).await;
        }
        for (id, reason) in ended_in_directory(&shared).await {
            if let Some(parked) = shared.parking.take(&id) {
                finish(&shared, id, parked, reason).await;
            }
        }
    }
}

/// Parked sessions the directory has ended, with the reason it recorded.
async fn ended_in_directory(shared: &Arc<Shared>) -> Vec<(SessionId, Code)> {
    let ids = shared.parking.ids();
    if ids.is_empty() {
        return Vec::new();
    }
    let rows: Vec<String> = ids.iter().map(hex).collect();
    let directory = shared.directory.clone();
    let ended = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(|e| e.into_inner());
        directory.ended_among(&rows)
    })
    .await;
    let Ok(Ok(ended)) = ended else {
        tracing::warn!("cannot read ended sessions from the directory");
        return Vec::new();
    };
    ids.into_iter()
        .filter_map(|id| {
            let (_, reason) = ended.iter().find(|(row, _)| *row == hex(&id))?;
            Some((id, super::withdrawals::code_of(reason)))
        })
        .collect()
}

/// Ends a parked session: its address, its SSO tokens, its directory row, the audit.
async fn finish(shared: &Shared, id: SessionId, parked: Parked, reason: Code) {
    shared.registry.release_address(parked.live.tunnel_address);
    if let Some(sso) = &shared.sso {
        super::sso_hook::session_ended(sso, &id);
    }
    let ending = vigie_protocol::Ending {
        reason,
        initiator: vigie_protocol::Initiator::Local,
        detail: None,
    };
    super::pipeline::end(shared, id, &parked.live, &ending).await;
    tracing::info!(%reason, "parked session ended");
}

/// Audits a session leaving its connection to wait for its card.
pub fn parked_event(id: &SessionId, live: &LiveSession, peer: Peer, grace: Duration) -> AuditEvent {
    AuditEvent::new(
        AuditKind::SessionSuspend,
        Actor::Card(live.id_nat.to_string()),
    )
    .field("session", hex(id))
    .field("id_nat", live.id_nat.as_str())
    .field("reason", Code::CARD_REMOVED.number())
    .field("detached", true)
    .field("grace_seconds", grace.as_secs())
    .field("peer", peer.address.to_string())
}

/// Audits a session coming back with its card, maybe on another workstation.
pub fn resumed_event(id: &SessionId, live: &LiveSession, from: Peer, to: Peer) -> AuditEvent {
    AuditEvent::new(
        AuditKind::SessionResume,
        Actor::Card(live.id_nat.to_string()),
    )
    .field("session", hex(id))
    .field("id_nat", live.id_nat.as_str())
    .field("tunnel_address", live.tunnel_address.to_string())
    .field("from_peer", from.address.to_string())
    .field("peer", to.address.to_string())
    .field("transport", to.transport)
}
