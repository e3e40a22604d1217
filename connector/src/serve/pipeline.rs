//! The admission pipeline after the handshake: the card certificate has passed (chain,
//! revocation, identity — [`super::tls`]); now the directory decides (person, dates, card,
//! apps — [`crate::admission::admit`]), and an accepted client gets its session grant.
//!
//! Every verdict is audited before the client hears it; a refusal becomes a [`Code`]
//! ([`super::codes`]). The directory is SQLite, so its calls run on the blocking pool, never
//! on the async threads.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ring::rand::SecureRandom as _;
use rustls_pki_types::CertificateDer;
use vigie_certs::VerifiedCard;
use vigie_protocol::{Code, PortRule, PublishedApp, SessionGrant, SessionId, Transport};
use vigie_protocol::{Ending, WireGuardKey};

use super::Shared;
use super::codes::directory_code;
use super::registry::LiveSession;
use crate::admission::{AdmissionRequest, AppAccess, Verdict, admit};
use crate::apps::Protocol;
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::card::CardRef;

/// Where a connection comes from, for the audit log.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// `tcp` or `quic`.
    pub transport: &'static str,
    /// The client's address.
    pub address: SocketAddr,
}

/// An accepted client: its grant, and its entry for the registry.
#[derive(Debug)]
pub struct Admission {
    /// What the client is told.
    pub grant: SessionGrant,
    /// What the connector keeps.
    pub live: LiveSession,
}

/// Runs the directory step for `card` and, if it passes, makes the grant.
pub async fn admit_card(
    shared: &Shared,
    card: &VerifiedCard,
    certificates: Arc<[CertificateDer<'static>]>,
    client_key: WireGuardKey,
    peer: Peer,
    ender: tokio::sync::mpsc::Sender<Code>,
) -> Result<Admission, Code> {
    let request = AdmissionRequest {
        id_nat: card.identity.id_nat.clone(),
        card: CardRef::new(&card.identity.card_serial, &card.identity.issuer),
    };
    let verdict = decide(shared, &request).await?;
    // The verdict's records go to the audit log with the session's start (one sync for
    // both), and always before the client hears anything.
    let verdict_events: Vec<AuditEvent> = verdict
        .audit_events(&request)
        .into_iter()
        .map(|event| {
            event
                .field("step", "directory")
                .field("transport", peer.transport)
                .field("peer", peer.address.to_string())
        })
        .collect();
    let admitted = match verdict {
        Verdict::Accepted(admitted) => admitted,
        Verdict::Refused(refusal) => {
            shared.metrics.refused("directory", refusal.code());
            audited_all(shared, verdict_events).await?;
            tracing::debug!(reason = refusal.code(), "directory refused the card");
            return Err(directory_code(&refusal));
        }
    };
    let mut apps = admitted.apps;
    apps.extend(shared.sso_app.clone());
    let fresh = LiveSession {
        person: Arc::new(admitted.person),
        started: Utc::now().timestamp().max(0).unsigned_abs(),
        id_nat: request.id_nat.clone(),
        card: request.card.clone(),
        certificates,
        tunnel_address: std::net::Ipv4Addr::UNSPECIFIED,
        client_key,
        apps,
        ender,
        card_out: Arc::default(),
    };
    if let Some((id, parked)) = super::roaming::claim(shared, &request.card).await {
        audited_all(shared, verdict_events).await?;
        return resume(shared, id, parked, fresh, peer, card.not_after).await;
    }
    let Some(tunnel_address) = shared.registry.reserve_address() else {
        audited_all(shared, verdict_events).await?;
        return Err(Code::OVERLOADED);
    };
    let live = LiveSession {
        tunnel_address,
        ..fresh
    };
    let started = start(shared, &live, peer, verdict_events).await;
    match started {
        Ok(id) => Ok(Admission {
            grant: grant(shared, id, &live, card.not_after),
            live,
        }),
        Err(code) => {
            shared.registry.release_address(tunnel_address);
            Err(code)
        }
    }
}

/// Gives the card its waiting session back, on this connection: same id, same tunnel
/// address, same start (and so the same SSO session); the new workstation's WireGuard key and
/// the apps the directory grants now.
async fn resume(
    shared: &Shared,
    id: SessionId,
    parked: super::roaming::Parked,
    fresh: LiveSession,
    peer: Peer,
    card_not_after: u64,
) -> Result<Admission, Code> {
    let live = LiveSession {
        tunnel_address: parked.live.tunnel_address,
        started: parked.live.started,
        ..fresh
    };
    if still_live(shared, &id).await.is_none() {
        shared.registry.release_address(live.tunnel_address);
        return Err(Code::RESUME_REFUSED);
    }
    let event = super::roaming::resumed_event(&id, &live, parked.peer, peer);
    if let Err(code) = audited(shared, event).await {
        shared.registry.release_address(live.tunnel_address);
        return Err(code);
    }
    tracing::info!("session resumed with its card");
    Ok(Admission {
        grant: grant(shared, id, &live, card_not_after),
        live,
    })
}

/// `Some` when the directory has not ended session `id` (an administrator's kill, HR).
async fn still_live(shared: &Shared, id: &SessionId) -> Option<()> {
    let directory = shared.directory.clone();
    let row = hex(id);
    let ended = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(|e| e.into_inner());
        directory.ended_among(std::slice::from_ref(&row))
    })
    .await;
    match ended {
        Ok(Ok(ended)) if ended.is_empty() => Some(()),
        _ => None,
    }
}

async fn decide(shared: &Shared, request: &AdmissionRequest) -> Result<Verdict, Code> {
    let directory = shared.directory.clone();
    let request = request.clone();
    let policy = shared.enrolment();
    let decided = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(|e| e.into_inner());
        admit(&directory, &request, policy, Utc::now())
    })
    .await;
    match decided {
        Ok(Ok(verdict)) => Ok(verdict),
        Ok(Err(error)) => {
            tracing::error!(%error, "the directory could not decide an admission");
            Err(Code::INTERNAL_ERROR)
        }
        Err(error) => {
            tracing::error!(%error, "the admission task failed");
            Err(Code::INTERNAL_ERROR)
        }
    }
}

/// Records the session in the directory, and in the audit log after the verdict's records
/// (`verdict`, written even when the directory fails); returns its new id.
async fn start(
    shared: &Shared,
    live: &LiveSession,
    peer: Peer,
    mut verdict: Vec<AuditEvent>,
) -> Result<SessionId, Code> {
    let mut id = [0u8; 16];
    shared.rng.fill(&mut id).map_err(|_| Code::INTERNAL_ERROR)?;
    let id = SessionId(id);
    let directory = shared.directory.clone();
    let (id_nat, card, address) = (live.id_nat.clone(), live.card.clone(), live.tunnel_address);
    let recorded = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(|e| e.into_inner());
        directory.start_session(&hex(&id), &id_nat, &card, address, Utc::now())
    })
    .await;
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::error!("the directory could not record a new session");
        audited_all(shared, verdict).await?;
        return Err(Code::INTERNAL_ERROR);
    }
    let apps: Vec<&str> = live.apps.iter().map(|a| a.name.as_str()).collect();
    let event = AuditEvent::new(
        AuditKind::SessionStart,
        Actor::Card(live.id_nat.to_string()),
    )
    .field("session", hex(&id))
    .field("id_nat", live.id_nat.as_str())
    .field("tunnel_address", live.tunnel_address.to_string())
    .field("apps", apps)
    .field("transport", peer.transport)
    .field("peer", peer.address.to_string());
    verdict.push(event);
    audited_all(shared, verdict).await?;
    Ok(id)
}

/// Audits the end of a granted session.
pub async fn end(shared: &Shared, id: SessionId, live: &LiveSession, ending: &Ending) {
    let event = AuditEvent::new(AuditKind::SessionEnd, Actor::Card(live.id_nat.to_string()))
        .field("session", hex(&id))
        .field("id_nat", live.id_nat.as_str())
        .field("reason", ending.reason.number())
        .field("reason_name", ending.reason.name().unwrap_or("unknown"))
        .field(
            "initiator",
            format!("{:?}", ending.initiator).to_lowercase(),
        );
    let directory = shared.directory.clone();
    let (row, reason) = (
        hex(&id),
        ending.reason.name().unwrap_or("unknown").to_owned(),
    );
    let closed = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(|e| e.into_inner());
        directory.end_session(&row, &reason, Utc::now())
    })
    .await;
    if !matches!(closed, Ok(Ok(_))) {
        tracing::error!("the directory could not record the end of a session");
    }
    let _ = audited(shared, event).await;
}

pub(super) async fn audited(shared: &Shared, event: AuditEvent) -> Result<(), Code> {
    audited_all(shared, vec![event]).await
}

/// Writes `events` next to each other in the audit log and waits until they are on disk.
async fn audited_all(shared: &Shared, events: Vec<AuditEvent>) -> Result<(), Code> {
    if events.is_empty() {
        return Ok(());
    }
    shared.audit.write_all(events).await.map_err(|error| {
        tracing::error!(%error, "cannot audit; refusing the admission");
        Code::INTERNAL_ERROR
    })
}

fn grant(shared: &Shared, id: SessionId, live: &LiveSession, card_not_after: u64) -> SessionGrant {
    let limits = shared.limits();
    let now = Utc::now().timestamp().max(0).unsigned_abs();
    // A resumed session keeps what is left of its lifetime, counted from its first grant.
    let lived = Duration::from_secs(now.saturating_sub(live.started));
    let max_lifetime = limits.max_lifetime.saturating_sub(lived);
    SessionGrant {
        version: vigie_protocol::limits::PROTOCOL_VERSION,
        session_id: id,
        tunnel_address: IpAddr::V4(live.tunnel_address),
        connector_key: WireGuardKey(shared.connector_key),
        endpoints: limits.endpoints.clone(),
        apps: live.apps.iter().map(published_app).collect(),
        dns_server: limits.dns_server,
        idle_timeout: Some(limits.idle_timeout),
        max_lifetime: Some(lifetime(max_lifetime, card_not_after, now)),
        reproof_interval: Some(limits.reproof_interval),
        // Sessions resume by their card (see `roaming`), not by a token.
        resume_token: None,
    }
}

/// The session's maximum lifetime: the configured one, cut short so the session does not
/// outlive the card certificate (at least a second, so the grant stays valid).
fn lifetime(configured: Duration, card_not_after: u64, now: u64) -> Duration {
    let left = Duration::from_secs(card_not_after.saturating_sub(now).max(1));
    configured.min(left).max(Duration::from_secs(1))
}

fn published_app(app: &AppAccess) -> PublishedApp {
    let ports = app
        .ports
        .iter()
        .map(|range| PortRule {
            transport: match range.protocol {
                Protocol::Tcp => Transport::TCP,
                Protocol::Udp => Transport::UDP,
            },
            first: range.first,
            last: range.last,
        })
        .collect();
    PublishedApp {
        name: app.name.clone(),
        dns_name: app.dns_name.clone(),
        address: IpAddr::V4(app.virtual_address),
        ports,
    }
}

/// A session id as the directory and the audit log write it.
pub fn hex(id: &SessionId) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_never_outlives_its_card() {
        let twelve_hours = Duration::from_secs(12 * 3600);
        assert_eq!(lifetime(twelve_hours, 1_000_000, 0), twelve_hours);
        assert_eq!(lifetime(twelve_hours, 1_000, 400), Duration::from_secs(600));
        assert_eq!(lifetime(twelve_hours, 1_000, 2_000), Duration::from_secs(1));
    }

    #[test]
    fn apps_keep_their_ports_and_never_their_backend() {
        let app = AppAccess {
            name: "dpi".into(),
            dns_name: "dpi.hopital.example".into(),
            virtual_address: std::net::Ipv4Addr::new(100, 80, 0, 1),
            ports: vec!["tcp/443".parse().unwrap(), "udp/5000-5010".parse().unwrap()],
        };
        let published = published_app(&app);
        assert_eq!(published.address.to_string(), "100.80.0.1");
        assert_eq!(published.ports[0], PortRule::tcp(443));
        assert_eq!(
            published.ports[1],
            PortRule {
                transport: Transport::UDP,
                first: 5000,
                last: 5010
            }
        );
        assert_eq!(hex(&SessionId([0xab; 16])).len(), 32);
    }
}
