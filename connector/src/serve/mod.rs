//! `vigie-connector serve`: the connector's front door.
//!
//! ```text
//!  UDP :443 ── quinn (TLS 1.3) ──┐                ┌─ directory (blocking pool)
//!                                ├─ card verified ─┤  admission::admit → grant
//!  TCP :443 ── rustls (1.3/1.2) ─┘  in handshake   └─ audit (writer thread)
//!                                         │
//!                            ConnectorSession over the stream / one QUIC stream
//! ```
//!
//! Nothing of Vigie's runs for a peer without a valid card certificate: the certificate is
//! checked inside the TLS handshake ([`tls::CardCertVerifier`] over
//! [`vigie_certs::Verifier`]); a refused one fails the handshake with a fitting alert, and no
//! banner, page or error text is ever sent before that. After the handshake the verified
//! card is bound to the connection and the control protocol runs
//! ([`vigie_protocol::ConnectorSession`]): on the client's request the directory decides
//! ([`pipeline`]), then the client gets its grant or an end with a reason code
//! ([`codes`]). Every verdict is audited.
//!
//! Work per peer is bounded: a semaphore on handshakes in flight (a full one drops new peers
//! at once), a handshake timeout, frame limits from the protocol crate, one stream per QUIC
//! connection. Each connection is its own task; its errors end it and nothing else.
//!
//! With `[dataplane] enabled`, the listeners start [`crate::dataplane`] too; a granted
//! session joins it, and its control connection carries WireGuard when UDP is blocked.
//!
//! Access withdrawn by another process (`session kill`, `hr sync`, `card revoke`) ends the
//! live sessions concerned within seconds ([`withdrawals`]).
//!
//! A session whose card is pulled out waits for it, and follows it to another workstation
//! ([`roaming`]).
//!
//! A changed CRL or blocklist file is read again while the connector runs, and the live
//! sessions whose card it now refuses end ([`revocation`]). The CRLs of `[trust] crl_urls`
//! are fetched into a folder of the connector's own, read with the others ([`crl_fetch`]).
//!
//! Operations: with `[admin]`, an HTTP endpoint on an admin address serves the metrics and
//! the health check ([`admin`], [`metrics`]); SIGHUP reloads the configuration without
//! dropping a session ([`reload`]); apps published from the command line while the connector
//! runs get their NAT rules within seconds.
//!
//! Not here yet: resume tokens.
//!
//! Unlike the rest of the crate, this module reads the clock: it is the connector's event
//! loop.

pub mod admin;
mod audit_sink;
pub mod codes;
pub mod config;
pub mod crl_fetch;
pub mod files;
pub mod handshakes;
pub mod keys;
mod listen_quic;
mod listen_tcp;
pub mod metrics;
pub mod pipeline;
pub mod registry;
pub mod reload;
pub mod reproof;
mod revocation;
pub mod roaming;
mod run;
mod session_task;
pub mod sso_hook;
pub mod tls;
pub mod withdrawals;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use vigie_certs::Verifier;

pub use audit_sink::AuditSink;
pub use reload::Reloads;

use crate::audit::AuditLog;
use crate::config::{ConnectorConfig, EnrolmentConfig};
use crate::directory::Directory;
use config::SessionLimits;
use metrics::Metrics;
use registry::Registry;
use session_task::CardBinding;

/// Why the connector cannot serve. Every variant is the local administrator's to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A setting cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// A file named by the configuration cannot be used.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The trust anchors cannot make a verifier.
    #[error("[trust]: {0}")]
    Trust(#[from] vigie_certs::ConfigError),
    /// The TLS configuration cannot be built (a key that does not fit the certificate…).
    #[error("[tls]: {0}")]
    Tls(String),
    /// A listener cannot be opened.
    #[error(
        "cannot listen: {0}; check [listen] address and port, and that no other service holds them"
    )]
    Bind(String),
}

/// What every connection shares.
pub struct Shared {
    verifier: Arc<Verifier>,
    verdicts: Arc<handshakes::Verdicts>,
    directory: Arc<Mutex<Directory>>,
    /// `[enrolment]`, replaced by a reload.
    enrolment: RwLock<EnrolmentConfig>,
    audit: AuditSink,
    registry: Arc<Registry>,
    /// `[session]`, replaced by a reload.
    limits: RwLock<Arc<SessionLimits>>,
    metrics: Arc<Metrics>,
    connector_key: [u8; 32],
    rng: ring::rand::SystemRandom,
    protocol: vigie_protocol::ConnectorConfig,
    handshakes: Arc<Semaphore>,
    max_handshakes: usize,
    handshake_timeout: Duration,
    dataplane: Option<Arc<crate::dataplane::DataPlane>>,
    /// The SSO issuer, if `[sso]` runs it.
    sso: Option<Arc<crate::sso::http::SsoService>>,
    /// Its built-in app, added to every grant.
    sso_app: Option<crate::admission::AppAccess>,
    /// Sessions waiting for their card, with no connection.
    parking: roaming::Parking,
}

impl Shared {
    /// The session limits in force.
    fn limits(&self) -> Arc<SessionLimits> {
        self.limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The enrolment policy in force.
    fn enrolment(&self) -> EnrolmentConfig {
        *self
            .enrolment
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The verified card behind a finished handshake. The handshake already verified it;
    /// this reads the identity back out (and fails closed if revocation data changed since).
    fn bind_card(&self, certificates: Option<&[CertificateDer<'static>]>) -> Option<CardBinding> {
        let (leaf, presented) = certificates?.split_first()?;
        match self.verdicts.bind(leaf, presented, UnixTime::now()) {
            Ok(card) => Some(CardBinding {
                card,
                certificate: leaf.clone(),
                chain: certificates?.into(),
            }),
            Err(refusal) => {
                tracing::debug!(code = refusal.code(), "card refused after the handshake");
                None
            }
        }
    }
}

/// A connector with its listeners bound, ready to [`run`](Self::run).
pub struct Server {
    shared: Arc<Shared>,
    tcp: TcpListener,
    quic: quinn::Endpoint,
    acceptor: tokio_rustls::TlsAcceptor,
    local: SocketAddr,
    revocation: revocation::Watch,
    crl_fetch: Option<crl_fetch::Fetcher>,
    sso: Option<sso_hook::SsoParts>,
    /// The configuration the connector started with.
    config: ConnectorConfig,
    nat: Option<Arc<Mutex<crate::dataplane::hook::NatRules>>>,
    admin: Option<TcpListener>,
}

impl Server {
    /// Reads the trust and TLS files, makes or reads the WireGuard key, and binds TCP and UDP
    /// on the same port. Must run inside a tokio runtime.
    pub async fn bind(
        config: &ConnectorConfig,
        directory: Directory,
        audit: AuditLog,
    ) -> Result<Self, ServeError> {
        let key = keys::WireGuardKeyPair::load_or_create(&config.state.dir)?;
        let (trust_files, fetched) = revocation_files(config)?;
        let revocation = revocation::Watch::new(&trust_files);
        let trust = files::trust_config(&trust_files)?;
        let (urls, every) = (&config.trust.crl_urls, config.trust.crl_fetch_every);
        let crl_fetch = crl_fetch::Fetcher::new(urls, every, fetched, &trust);
        let verifier = Arc::new(Verifier::new(trust)?);
        let identity = files::server_identity(&config.tls)?;
        let audit = AuditSink::start(audit)
            .map_err(|e| ServeError::Config(format!("cannot start the audit writer: {e}")))?;
        let metrics = Arc::new(Metrics::new(
            chrono::Utc::now().timestamp().max(0).unsigned_abs(),
        ));
        let timeout = config.listen.handshake_timeout;
        let capacity = config.listen.max_handshakes.saturating_mul(2);
        let verdicts = Arc::new(handshakes::Verdicts::new(
            verifier.clone(),
            timeout,
            capacity,
        ));
        let cards = tls::CardCertVerifier::new(verdicts.clone(), audit.clone(), metrics.clone());
        let cards = Arc::new(cards);
        let tls_error = |e: rustls::Error| ServeError::Tls(e.to_string());
        let tcp_tls = tls::tcp_config(&identity, cards.clone()).map_err(tls_error)?;
        let quic_tls = tls::quic_config(&identity, cards).map_err(tls_error)?;
        let (tcp, udp) = bind_pair(config.listen.address, config.listen.port).await?;
        let local = tcp
            .local_addr()
            .map_err(|e| ServeError::Bind(e.to_string()))?;
        let listen = &config.listen;
        let restart_keys = key.quic_restart_keys();
        let quic =
            listen_quic::endpoint(udp, quic_tls, idle(), listen.max_handshakes, restart_keys)?;
        directory
            .commit_without_waiting_for_disk()
            .map_err(|e| ServeError::Config(format!("directory: {e}")))?;
        let apps = directory
            .apps()
            .map_err(|e| ServeError::Config(format!("cannot read the published apps: {e}")))?;
        let registry = Arc::new(Registry::new(config.addresses.clients));
        let restored = roaming::restore(&directory, &registry, config.session.card_grace);
        let kept = restored.iter().map(|(id, _)| pipeline::hex(id)).collect();
        let sso = sso_hook::prepare(config, &directory, &apps, registry.clone(), &kept).await?;
        let builtin: Vec<_> = sso.iter().flat_map(|s| s.nat.clone()).collect();
        let dataplane = crate::dataplane::hook::start(config, key.secret(), &apps, &builtin)
            .map_err(|e| ServeError::Config(format!("data plane: {e}")))?;
        let nat = dataplane.as_ref().map(|_| {
            let rules = crate::dataplane::hook::NatRules::new(config, &apps, &builtin);
            Arc::new(Mutex::new(rules))
        });
        let admin = match &config.admin {
            Some(admin) => Some(admin::bind(admin).await?),
            None => None,
        };
        let shared = Arc::new(Shared {
            verifier,
            verdicts,
            directory: Arc::new(Mutex::new(directory)),
            enrolment: RwLock::new(config.enrolment),
            audit,
            registry,
            limits: RwLock::new(Arc::new(config.session.clone())),
            metrics,
            connector_key: key.public(),
            rng: ring::rand::SystemRandom::new(),
            protocol: vigie_protocol::ConnectorConfig::default(),
            handshakes: Arc::new(Semaphore::new(listen.max_handshakes)),
            max_handshakes: listen.max_handshakes,
            handshake_timeout: listen.handshake_timeout,
            dataplane,
            sso: sso.as_ref().map(|s| s.service.clone()),
            sso_app: sso.as_ref().map(|s| s.app.clone()),
            parking: roaming::Parking::default(),
        });
        for (id, parked) in restored {
            shared.parking.park(id, parked);
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tcp_tls));
        Ok(Self {
            shared,
            tcp,
            quic,
            acceptor,
            local,
            revocation,
            crl_fetch,
            sso,
            config: config.clone(),
            nat,
            admin,
        })
    }

    /// The admin endpoint's address, with `[admin]`.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound address; TCP and UDP share its port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The live sessions.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }
}

/// `[trust]` with the folder of fetched CRLs among the CRL sources (made if missing), so that
/// a CRL fetched before a restart counts from the start, and the watcher sees new ones.
fn revocation_files(
    config: &ConnectorConfig,
) -> Result<(config::TrustFiles, crl_fetch::Folder), ServeError> {
    let folder = crl_fetch::Folder::prepare(&config.state.dir, &config.trust.crl_urls)?;
    let mut trust = config.trust.clone();
    trust.crls.push(folder.path().to_owned());
    Ok((trust, folder))
}

/// QUIC's idle timeout: longer than the control protocol's dead-peer timer, which ends
/// silent sessions itself.
fn idle() -> Duration {
    vigie_protocol::ConnectorConfig::default()
        .session
        .dead_peer_timeout
        + Duration::from_secs(15)
}

/// TCP and UDP on one port. With port 0 the TCP port is picked first and UDP tries to
/// follow; another program holding that UDP port makes it try again.
async fn bind_pair(
    address: std::net::IpAddr,
    port: u16,
) -> Result<(TcpListener, UdpSocket), ServeError> {
    let bind_error = |e: std::io::Error| ServeError::Bind(format!("{address} port {port}: {e}"));
    let tries = if port == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let tcp = TcpListener::bind((address, port))
            .await
            .map_err(bind_error)?;
        let bound = tcp.local_addr().map_err(bind_error)?;
        match UdpSocket::bind(bound) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(error) => last = Some(error),
        }
    }
    Err(bind_error(last.unwrap_or_else(|| {
        std::io::Error::other("no port free for both TCP and UDP")
    })))
}
