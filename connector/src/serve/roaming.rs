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

use chrono::Utc;
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
    /// Where it was last connected from (none for a session restored after a restart).
    pub peer: Option<Peer>,
    /// When it ends if its card has not come back.
    pub until: Instant,
    /// Why it waits, and so why it ends if its card does not come back in time.
    pub reason: Code,
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

    /// How many sessions wait for their card.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session waits for its card.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parked sessions' ids.
    fn ids(&self) -> Vec<SessionId> {
        self.lock().keys().copied().collect()
    }
}

/// The waiting session of `card` for a new admission: a parked one, or the live one of
/// another connection (its card moved, or that connection went stale: a laptop that changed
/// network over TCP), which is asked to hand it over. Its id and what it was.
pub async fn claim(shared: &Shared, card: &CardRef) -> Option<(SessionId, Parked)> {
    if let Some(found) = shared.parking.take_card(card) {
        return Some(found);
    }
    let id = shared.registry.session_of_card(card)?;
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
            let reason = parked.reason;
            finish(&shared, id, parked, reason).await;
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
pub fn parked_event(
    id: &SessionId,
    live: &LiveSession,
    peer: Peer,
    reason: Code,
    grace: Duration,
) -> AuditEvent {
    AuditEvent::new(
        AuditKind::SessionSuspend,
        Actor::Card(live.id_nat.to_string()),
    )
    .field("session", hex(id))
    .field("id_nat", live.id_nat.as_str())
    .field("reason", reason.number())
    .field("detached", true)
    .field("grace_seconds", grace.as_secs())
    .field("peer", peer.address.to_string())
}

/// Audits a session coming back with its card, maybe on another workstation or after a
/// connector restart.
pub fn resumed_event(
    id: &SessionId,
    live: &LiveSession,
    from: Option<Peer>,
    to: Peer,
) -> AuditEvent {
    let from = from.map_or_else(|| "connector restart".to_owned(), |p| p.address.to_string());
    AuditEvent::new(
        AuditKind::SessionResume,
        Actor::Card(live.id_nat.to_string()),
    )
    .field("session", hex(id))
    .field("id_nat", live.id_nat.as_str())
    .field("tunnel_address", live.tunnel_address.to_string())
    .field("from_peer", from)
    .field("peer", to.address.to_string())
    .field("transport", to.transport)
}

/// The sessions a stopped connector left live in the directory, parked again for `grace`:
/// their clients reconnect with their card and get them back. Their tunnel addresses are
/// reserved again; a session that cannot be restored (its person gone, its address taken)
/// is ended in the directory.
pub fn restore(
    directory: &crate::directory::Directory,
    registry: &super::registry::Registry,
    grace: Duration,
) -> Vec<(SessionId, Parked)> {
    let rows = match directory.sessions_to_restore() {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "cannot read the sessions to restore");
            return Vec::new();
        }
    };
    let until = Instant::now() + grace;
    let mut restored = Vec::new();
    for (row, address) in rows {
        let id_nat = vigie_certs::IdNat::parse(&row.id_nat).ok();
        let person = id_nat.and_then(|n| directory.person(&n).ok().flatten());
        let (Some(id), Some(person)) = (parse_id(&row.id), person) else {
            let _ = directory.end_session(&row.id, "not-restored", Utc::now());
            continue;
        };
        if !registry.reserve_exact(address) {
            let _ = directory.end_session(&row.id, "not-restored", Utc::now());
            continue;
        }
        let started = chrono::DateTime::parse_from_rfc3339(&row.started_at)
            .map_or(0, |t| t.timestamp().max(0).unsigned_abs());
        let live = LiveSession {
            id_nat: person.id_nat.clone(),
            person: Arc::new(person),
            started,
            card: row.card,
            certificates: Arc::new([]),
            tunnel_address: address,
            client_key: vigie_protocol::WireGuardKey([0; 32]),
            apps: Vec::new(),
            ender: tokio::sync::mpsc::channel(1).0,
            card_out: Arc::default(),
        };
        let reason = Code::CONNECTOR_RESTARTING;
        restored.push((
            id,
            Parked {
                live,
                peer: None,
                until,
                reason,
            },
        ));
    }
    if !restored.is_empty() {
        tracing::info!(
            count = restored.len(),
            "sessions wait for their clients to reconnect"
        );
    }
    restored
}

/// A session id from its hex form.
fn parse_id(text: &str) -> Option<SessionId> {
    let mut id = [0u8; 16];
    if text.len() != 32 {
        return None;
    }
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(SessionId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_read_back_from_hex() {
        let id = SessionId([0xab; 16]);
        assert_eq!(parse_id(&hex(&id)), Some(id));
        assert_eq!(parse_id("ab"), None);
        assert_eq!(parse_id(&"zz".repeat(16)), None);
        assert_eq!(parse_id(&"é".repeat(16)), None);
    }
}
