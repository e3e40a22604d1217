//! The control channel: `vigie up` brings a session up with the card, keeps it while the
//! card stays, and ends it on `Ctrl-C` or `vigie down`.
//!
//! ```text
//!  card (PIN) ──▶ TLS config ──▶ QUIC, or TLS/TCP ──▶ ClientSession ◀─▶ connector
//!                                                       ▲    │
//!  card watch ─ removed/inserted ─┐  re-proof signing ──┘    └─▶ screen, status.json
//!  Ctrl-C, vigie down (socket) ───┴──────────▶ Driver (one task)
//! ```
//!
//! The card decides the transport: a CPS4 (RSA-PSS) uses QUIC with TLS 1.3, and TLS 1.3 over
//! TCP when UDP gets no answer within a few seconds; a CPS3 (PKCS#1 v1.5 only) uses TLS 1.2
//! over TCP. Both reach the connector's one port. A refusal reads as one sentence and a code
//! for the help desk ([`UpError`]), with its own exit code ([`exit`]).
//!
//! On the grant, the tunnel comes up ([`crate::tunnel`]) with the session's WireGuard key
//! pair, made fresh for the session ([`TunnelKey`]), whose public half went with the hello;
//! WireGuard datagrams travel inside this channel when UDP is blocked ([`tunnel_slot`]).
//! `--no-tunnel` runs the session without one (admission and card checks only). `vigie up`
//! runs in the foreground only.
//!
//! Logging: info when the session is granted and when it ends; debug for the transport's
//! decisions; the apps and addresses go to the screen and the status file, not the log.

mod card_open;
pub mod connect;
pub mod display;
pub mod error;
pub mod session;
pub mod status;
pub mod tls_setup;
pub mod tunnel_key;
pub mod tunnel_slot;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::sync::mpsc;
use tracing::warn;
use vigie_protocol::{Capabilities, ClientSession, Code, Hello, SessionConfig};

pub use connect::Transport;
pub use error::{UpError, exit};
pub use status::{StateDir, Status, default_state_dir};
pub use tunnel_key::TunnelKey;

use crate::atr::Generation;
use crate::pin_entry::PinSource;
use crate::tunnel::{self, TunnelConfig};
use crate::watch::{CardEvent, CardWatcher};
use connect::{Channel, Target};
use session::{Driver, Inputs, SessionCard};
use tunnel_slot::TunnelSlot;

/// The connector's port when `--connector` names none.
pub const DEFAULT_PORT: u16 = 443;

/// Everything `vigie up` needs to know.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// `HOST[:PORT]` of the connector.
    pub connector: String,
    /// The name in the connector's certificate; default: the host of `connector`.
    pub server_name: Option<String>,
    /// The CA (PEM) that signed the connector's certificate.
    pub server_ca: PathBuf,
    /// The reader; default: the first holding a card.
    pub reader: Option<String>,
    pub pin_source: PinSource,
    pub state_dir: PathBuf,
    /// How long QUIC may go unanswered before a CPS4 falls back to TCP.
    pub udp_wait: Duration,
    /// Never try QUIC.
    pub tcp_only: bool,
    /// The tunnel on this machine; `None` runs the session without one.
    pub tunnel: Option<TunnelConfig>,
}

/// Brings the session up and runs it until the user or the connector ends it.
pub async fn up(config: &UpConfig, screen: Box<dyn Write + Send>) -> Result<(), UpError> {
    let state = StateDir::new(config.state_dir.clone());
    state.claim()?;
    let result = up_claimed(config, &state, screen).await;
    state.clear();
    result
}

async fn up_claimed(
    config: &UpConfig,
    state: &StateDir,
    mut screen: Box<dyn Write + Send>,
) -> Result<(), UpError> {
    if let Some(tunnel) = &config.tunnel {
        tunnel::clean_after_crash(&tunnel.device);
    }
    let roots = tls_setup::server_roots(&config.server_ca)?;
    let target = resolve(config).await?;
    let (reader, source) = (config.reader.clone(), config.pin_source.clone());
    let opened = tokio::task::spawn_blocking(move || card_open::open(reader.as_deref(), &source))
        .await
        .map_err(|e| UpError::Config(format!("the card thread failed: {e}")))??;
    let (generation, reader) = (opened.card.generation(), opened.card.reader().to_owned());
    let reopen = card_open::reopener(&reader, &opened.certificate, &config.pin_source);
    let card = Arc::new(Mutex::new(opened.card));
    let tls = tls_setup::client_config(Arc::clone(&card), opened.certificate, roots)?;

    let mut status = connecting_status(config, generation, &reader);
    state.write(&status)?;
    let _ = writeln!(
        screen,
        "Connecting to {} with the {generation} card...",
        target.display
    );
    let (mut channel, udp_blocked) =
        open_channel(config, &target, generation, tls.clone(), &mut screen).await?;
    tracing::debug!(transport = %channel.transport(), "control channel open");
    status.transport = Some(channel.transport().to_string());

    // The secret stays here for the tunnel; only the public half leaves.
    let (session, tunnel) = fresh_session(config, udp_blocked)?;
    let (quit_tx, quit) = mpsc::channel(4);
    state.listen(quit_tx.clone())?;
    spawn_signal_watch(quit_tx);
    let (watcher, card_events) = watch_cards();
    let mut inputs = Inputs { quit, card_events };
    let card = SessionCard {
        card,
        reader,
        reopen,
    };
    let mut driver = Driver::new(session, card, state.clone(), status, screen, target, tunnel);
    let result = loop {
        let result = driver.run(channel.stream(), &mut inputs).await;
        channel.close().await;
        match result {
            Err(error) if driver.was_granted() && reconnects_after(&error) => {
                let Some(again) =
                    reconnect(config, &mut driver, generation, &tls, &mut inputs).await?
                else {
                    break Ok(());
                };
                channel = again;
            }
            other => break other,
        }
    };
    drop(watcher);
    result
}

/// A new session and its tunnel, with a fresh WireGuard key pair.
fn fresh_session(
    config: &UpConfig,
    udp_blocked: bool,
) -> Result<(ClientSession, TunnelSlot), UpError> {
    let key = TunnelKey::generate()?;
    let session = new_session(&key, config.tunnel.is_some())?;
    Ok((
        session,
        TunnelSlot::new(key, config.tunnel.clone(), udp_blocked),
    ))
}

/// Whether a granted session that ended this way comes back by itself: the connector
/// restarts, or the connection broke. The connector keeps the session for the card.
fn reconnects_after(error: &UpError) -> bool {
    match error {
        UpError::Ended { code } => *code == Code::CONNECTOR_RESTARTING,
        UpError::Stopped { code } => *code == Code::PEER_UNRESPONSIVE,
        UpError::ConnectionLost(_) => true,
        _ => false,
    }
}

/// The pause before the first try; each failed try doubles it, up to [`RECONNECT_AT_MOST`].
const RECONNECT_FIRST: Duration = Duration::from_secs(2);
/// The longest pause between two tries.
const RECONNECT_AT_MOST: Duration = Duration::from_secs(30);

/// Connects again with the same card, whose PIN is still verified, so nobody is asked for
/// it; the connector gives the session back. `None` when the user quit meanwhile.
///
/// While the connector cannot be reached (the network is down, the laptop asleep, the
/// connector being upgraded), it keeps trying, less and less often, until the user quits:
/// nothing is lost by waiting, and the clinician who comes back finds the session up again.
/// Any other failure is an answer (the card refused, the card gone, the connector not the one
/// trusted) and ends `vigie up` with it at once.
async fn reconnect(
    config: &UpConfig,
    driver: &mut Driver,
    generation: Generation,
    tls: &rustls::ClientConfig,
    inputs: &mut Inputs,
) -> Result<Option<Channel>, UpError> {
    driver.tell("The connection to the connector was interrupted: reconnecting with your card...");
    let _ = driver.state.write(&Status {
        state: "reconnecting".into(),
        ..driver.status.clone()
    });
    let mut sink: Box<dyn Write + Send> = Box::new(std::io::sink());
    let mut pause = RECONNECT_FIRST;
    let mut told = String::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            Some(()) = inputs.quit.recv() => {
                driver.tell("Ending the session.");
                return Ok(None);
            }
        }
        let opened = open_channel(config, &driver.target, generation, tls.clone(), &mut sink).await;
        match opened {
            Ok((channel, udp_blocked)) => {
                let (session, tunnel) = fresh_session(config, udp_blocked)?;
                driver.restart(session, tunnel, channel.transport().to_string());
                return Ok(Some(channel));
            }
            Err(error) if waits_out(&error) => {
                pause = next_pause(pause);
                let reason = error.to_string();
                if reason != told {
                    driver.tell(&format!(
                        "Still reconnecting: {reason}. Trying again every {} s at most; \
                         vigie down ends the session.",
                        RECONNECT_AT_MOST.as_secs()
                    ));
                    told = reason;
                }
                tracing::debug!(%error, next_try_in = ?pause, "the connector is not back yet");
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether a reconnection that failed this way is worth trying again: the connector or the
/// network did not answer, which time may mend.
fn waits_out(error: &UpError) -> bool {
    matches!(
        error,
        UpError::Unreachable { .. } | UpError::ConnectionLost(_)
    )
}

/// The pause after `pause` when a try failed.
fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(RECONNECT_AT_MOST)
}

/// The control channel, and whether it found UDP blocked (QUIC got no answer).
async fn open_channel(
    config: &UpConfig,
    target: &Target,
    generation: Generation,
    tls: rustls::ClientConfig,
    screen: &mut Box<dyn Write + Send>,
) -> Result<(Channel, bool), UpError> {
    if generation == Generation::Cps3 || config.tcp_only {
        return Ok((connect::tcp(target, tls).await?, false));
    }
    let mut udp_blocked = false;
    let fallback = || {
        udp_blocked = true;
        let _ = writeln!(screen, "UDP seems blocked, using TCP.");
    };
    let channel = connect::quic_or_tcp(target, tls, config.udp_wait, fallback).await?;
    Ok((channel, udp_blocked))
}

fn new_session(key: &TunnelKey, tunnel: bool) -> Result<ClientSession, UpError> {
    let mut capabilities = Capabilities::NOTICES | Capabilities::RESUME_IN_PLACE;
    if tunnel {
        capabilities = capabilities | Capabilities::DATAGRAMS;
    }
    let software = format!("vigie/{}", env!("CARGO_PKG_VERSION"));
    let hello = Hello::new(capabilities, software);
    ClientSession::new(
        SessionConfig::default(),
        hello,
        key.public(),
        Instant::now(),
    )
    .map_err(|e| UpError::Config(format!("cannot write the hello: {e}")))
}

fn connecting_status(config: &UpConfig, generation: Generation, reader: &str) -> Status {
    let now = display::unix_now();
    Status {
        pid: std::process::id(),
        state: "connecting".into(),
        session_id: None,
        connector: config.connector.clone(),
        transport: None,
        card: generation.to_string(),
        reader: reader.to_owned(),
        tunnel_address: None,
        dns_server: None,
        apps: Vec::new(),
        started_at: now,
        granted_at: None,
        updated_at: now,
        idle_timeout: None,
        max_lifetime: None,
        tunnel: None,
    }
}

/// The connector's address and TLS name from `HOST[:PORT]` and `--server-name`.
async fn resolve(config: &UpConfig) -> Result<Target, UpError> {
    let (host, port) = split_host_port(&config.connector)?;
    let name = config.server_name.clone().unwrap_or_else(|| host.clone());
    let server_name = ServerName::try_from(name.clone()).map_err(|_| {
        UpError::Config(format!(
            "{name:?} is not a server name; check --server-name"
        ))
    })?;
    let unreachable = |detail: String| UpError::Unreachable {
        connector: config.connector.clone(),
        detail,
    };
    let address = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| unreachable(format!("{host} has no address")))?;
    Ok(Target {
        address,
        server_name,
        display: config.connector.clone(),
    })
}

/// `host`, `host:port`, `[v6]:port`, `v4:port`.
fn split_host_port(connector: &str) -> Result<(String, u16), UpError> {
    let bad = || {
        UpError::Config(format!(
            "--connector {connector:?} is not HOST or HOST:PORT (e.g. vigie.chu.example:443)"
        ))
    };
    if connector.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = connector.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
        return Ok((host.to_owned(), port.parse().map_err(|_| bad())?));
    }
    match connector.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Ok((connector.to_owned(), DEFAULT_PORT)),
        None => Ok((connector.to_owned(), DEFAULT_PORT)),
    }
}

/// `Ctrl-C` and `SIGTERM` end the session like `vigie down`.
fn spawn_signal_watch(quit: mpsc::Sender<()>) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if quit.send(()).await.is_err() {
                return;
            }
        }
    });
}

/// The card watch, its events brought onto the runtime. Without PC/SC events the session
/// still runs, but does not pause when the card leaves: worth a warning.
fn watch_cards() -> (Option<CardWatcher>, mpsc::Receiver<CardEvent>) {
    let (tx, rx) = mpsc::channel(16);
    let (watcher, events) = match CardWatcher::spawn() {
        Ok(started) => started,
        Err(error) => {
            warn!(%error, "cannot watch the card; the session will not pause when it is removed");
            // A closed channel only disables its branch of the loop.
            return (None, rx);
        }
    };
    std::thread::spawn(move || {
        while let Ok(event) = events.recv() {
            if tx.blocking_send(event).is_err() {
                return;
            }
        }
    });
    (Some(watcher), rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_connector_is_waited_for_and_an_answer_ends_the_reconnection() {
        let unreachable = UpError::Unreachable {
            connector: "vigie.chu.example:443".into(),
            detail: "connection refused".into(),
        };
        assert!(waits_out(&unreachable));
        assert!(waits_out(&UpError::ConnectionLost("reset".into())));
        let revoked = UpError::CertificateRefused {
            alert: rustls::AlertDescription::CertificateRevoked,
        };
        assert!(!waits_out(&revoked));
        assert!(!waits_out(&UpError::ServerUntrusted(
            "unknown issuer".into()
        )));
        assert!(!waits_out(&UpError::CardDuringHandshake(
            "card removed".into()
        )));
        assert!(!waits_out(&UpError::Refused {
            code: Code::CARD_REVOKED,
            detail: None,
        }));
    }

    #[test]
    fn reconnection_tries_thin_out_to_one_every_half_minute() {
        let mut pause = RECONNECT_FIRST;
        let mut pauses = Vec::new();
        for _ in 0..7 {
            pauses.push(pause.as_secs());
            pause = next_pause(pause);
        }
        assert_eq!(pauses, [2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn connector_addresses_take_the_default_port() {
        let split = |s: &str| split_host_port(s).expect(s);
        assert_eq!(
            split("vigie.chu.example"),
            ("vigie.chu.example".into(), 443)
        );
        assert_eq!(split("127.0.0.1:8443"), ("127.0.0.1".into(), 8443));
        assert_eq!(split("[::1]:443"), ("::1".into(), 443));
        assert_eq!(split("::1"), ("::1".into(), 443));
        let bad = split_host_port("vigie:https").expect_err("not a port");
        assert!(bad.to_string().contains("HOST:PORT"), "{bad}");
    }
}
