//! How `serve` runs the SSO issuer ([`crate::sso`]) when `[sso]` is configured: its HTTPS
//! listener, its keys, its built-in app (published to every session, translated by the data
//! plane to the listener), the lookup of a browser's session by its tunnel address, and the
//! back-channel logout of the apps when a session ends.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use vigie_protocol::SessionId;

use super::ServeError;
use super::files;
use super::pipeline::hex;
use super::registry::Registry;
use super::tls::{self, ServerIdentity};
use crate::admission::AppAccess;
use crate::apps::{PortRange, Protocol, PublishedApp};
use crate::config::ConnectorConfig;
use crate::dataplane::NatApp;
use crate::directory::Directory;
use crate::sso::SsoConfig;
use crate::sso::header_proxy::{self, IdentityHeaderApp, ProxiedPort};
use crate::sso::http::{Sessions, SsoService};
use crate::sso::journal::{self, Journal};
use crate::sso::keys::KeyRing;
use crate::sso::{Issuer, Subject};

/// The built-in app's name, as clients list it.
pub const APP_NAME: &str = "sso";

/// The most ports one identity-header app may have proxied.
const MAX_PROXIED_PORTS: usize = 16;

/// How often the signing key's age is checked.
const ROTATION_CHECK: Duration = Duration::from_secs(3600);

/// The issuer, ready to serve.
pub struct SsoParts {
    /// The service, shared with the session tasks.
    pub service: Arc<SsoService>,
    /// What every grant adds.
    pub app: AppAccess,
    /// How the data plane reaches the listener and the proxies: the issuer's own app, and the
    /// identity-header apps with their backend replaced by the proxy.
    pub nat: Vec<NatApp>,
    listener: TcpListener,
    proxies: Vec<(IdentityHeaderApp, ProxiedPort)>,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// Reads the issuer's keys, certificate and sign-ins, and binds its listener; `None` without
/// `[sso]`. The sign-ins of sessions that are not among `kept` (hex ids: those the connector
/// restored) ended while it was stopped: their apps are told now.
pub async fn prepare(
    config: &ConnectorConfig,
    directory: &Directory,
    apps: &[PublishedApp],
    registry: Arc<Registry>,
    kept: &HashSet<String>,
) -> Result<Option<SsoParts>, ServeError> {
    let Some(sso) = &config.sso else {
        return Ok(None);
    };
    let mut sso = sso.clone();
    sso.load_client_keys()
        .map_err(|e| ServeError::Config(format!("[[sso.client]] jwks_file: {e}")))?;
    let sso = &sso;
    let now = unix_now();
    let keys = KeyRing::load_or_create(&config.state.dir, sso.key_rotation, now)
        .map_err(|e| ServeError::Config(format!("[sso]: {e}")))?;
    let mut tls_files = config.tls.clone();
    if let (Some(certificate), Some(key)) = (&sso.certificate, &sso.key) {
        tls_files.certificate = certificate.clone();
        tls_files.key = key.clone();
    }
    let identity: ServerIdentity = files::server_identity(&tls_files)?;
    let web = tls::web_config(&identity).map_err(|e| ServeError::Tls(e.to_string()))?;
    let listener = TcpListener::bind(sso.listen)
        .await
        .map_err(|e| ServeError::Bind(format!("[sso] listen {}: {e}", sso.listen)))?;
    let (host, port) = sso.host_port().map_err(ServeError::Config)?;
    let virtual_address = directory
        .builtin_address("@sso", config.addresses.apps)
        .map_err(|e| ServeError::Config(format!("no virtual address for the SSO issuer: {e}")))?;
    let ports = vec![PortRange {
        protocol: Protocol::Tcp,
        first: port,
        last: port,
    }];
    let backend = match sso.listen.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => {
            return Err(ServeError::Config(
                "[sso] listen must be an IPv4 address: the tunnel carries IPv4".into(),
            ));
        }
    };
    let (mut nat, proxies) = header_proxies(sso, apps, backend).await?;
    nat.push(NatApp {
        name: APP_NAME.into(),
        virtual_address,
        backend,
        ports: ports.clone(),
    });
    let sessions = Arc::new(RegistrySessions(registry));
    let (issuer, journal) = kept_sign_ins(sso, &config.state.dir)?;
    let service = Arc::new(SsoService::new(issuer, journal, keys, sessions));
    for session in service.known_sessions() {
        if !kept.contains(&session) {
            logout_apps(&service, &session);
        }
    }
    Ok(Some(SsoParts {
        service,
        app: AppAccess {
            name: APP_NAME.into(),
            dns_name: host.to_owned(),
            virtual_address,
            ports,
        },
        nat,
        listener,
        proxies,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(web)),
    }))
}

/// Binds a proxy on the issuer's address for each TCP port of each identity-header app; the
/// data plane then sends those ports to the proxy instead of to the backend.
async fn header_proxies(
    sso: &SsoConfig,
    apps: &[PublishedApp],
    local: std::net::Ipv4Addr,
) -> Result<ProxySetup, ServeError> {
    let mut nat = Vec::new();
    let mut proxies = Vec::new();
    for wanted in &sso.identity_headers {
        let config_error = |why: &str| {
            ServeError::Config(format!(
                "[[sso.identity_header]] app {:?} {why}",
                wanted.app
            ))
        };
        let app = apps
            .iter()
            .find(|a| a.definition.name == wanted.app)
            .ok_or_else(|| config_error("is not a published app"))?;
        let ports = &app.definition.ports;
        if ports.iter().any(|p| p.protocol != Protocol::Tcp) {
            return Err(config_error(
                "has UDP ports; only TCP (HTTP) apps can be proxied",
            ));
        }
        if ports
            .iter()
            .map(|p| usize::from(p.last - p.first) + 1)
            .sum::<usize>()
            > MAX_PROXIED_PORTS
        {
            return Err(config_error("has too many ports to proxy"));
        }
        let mut backend = crate::dataplane::hook::nat_apps(std::slice::from_ref(app))
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let Some(mut entry) = backend.pop() else {
            continue;
        };
        for port in ports.iter().flat_map(|p| p.first..=p.last) {
            let listener = TcpListener::bind((local, port)).await.map_err(|e| {
                ServeError::Bind(format!(
                    "identity-header proxy of {} on {local}:{port}: {e}",
                    wanted.app
                ))
            })?;
            let backend = SocketAddr::from((entry.backend, port));
            proxies.push((wanted.clone(), ProxiedPort { listener, backend }));
        }
        entry.backend = local;
        nat.push(entry);
    }
    Ok((nat, proxies))
}

type ProxySetup = (Vec<NatApp>, Vec<(IdentityHeaderApp, ProxiedPort)>);

impl SsoParts {
    /// Serves until the task is aborted, rotating the signing key when due.
    pub async fn run(self) {
        let proxies: Vec<_> = self
            .proxies
            .into_iter()
            .map(|(app, port)| tokio::spawn(header_proxy::serve(app, port, self.service.clone())))
            .collect();
        let service = self.service.clone();
        let rotation = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ROTATION_CHECK);
            loop {
                tick.tick().await;
                service.rotate_keys(unix_now());
            }
        });
        crate::sso::http::serve(self.listener, self.acceptor, self.service).await;
        rotation.abort();
        proxies.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// The issuer with the sign-ins a previous run kept, and its journal, written afresh.
fn kept_sign_ins(sso: &SsoConfig, state: &Path) -> Result<(Issuer, Journal), ServeError> {
    let (mut journal, records, unreadable) =
        Journal::open(state).map_err(|e| ServeError::Config(format!("[sso]: {e}")))?;
    if unreadable > 0 {
        tracing::warn!(
            unreadable,
            file = journal::FILE_NAME,
            "lines of the kept SSO sign-ins could not be read and were left out"
        );
    }
    let mut issuer = Issuer::new(sso.clone());
    issuer.replay(records);
    journal
        .compact(&issuer.standing())
        .map_err(|e| ServeError::Config(format!("[sso]: {e}")))?;
    Ok((issuer, journal))
}

/// A session ended: its tokens die, and each app that held some is told in the background.
pub fn session_ended(service: &SsoService, id: &SessionId) {
    logout_apps(service, &hex(id));
}

/// [`session_ended`] for the session with hex id `session`.
fn logout_apps(service: &SsoService, session: &str) {
    for (url, token) in service.session_ended(session, unix_now()) {
        tokio::spawn(async move {
            let pauses = &crate::sso::backchannel::RETRY_PAUSES;
            match crate::sso::backchannel::deliver(&url, &token, pauses).await {
                Ok(tries) => tracing::debug!(url, tries, "back-channel logout delivered"),
                Err((failure, tries)) => tracing::warn!(
                    url,
                    tries,
                    error = %failure,
                    "back-channel logout not delivered; the app's session for this user ends \
                     when its tokens expire"
                ),
            }
        });
    }
}

/// The registry as the issuer sees it.
struct RegistrySessions(Arc<Registry>);

impl Sessions for RegistrySessions {
    fn subject_at(&self, address: IpAddr) -> Option<Subject> {
        let IpAddr::V4(address) = address else {
            return None;
        };
        let (id, live) = self.0.at_address(address)?;
        let person = &live.person;
        Some(Subject {
            id_nat: live.id_nat.to_string(),
            family_name: person.surname.clone(),
            given_name: person.given_name.clone(),
            professions: person.professions.clone(),
            session: hex(&id),
            auth_time: live.started,
        })
    }
}

fn unix_now() -> u64 {
    Utc::now().timestamp().max(0).unsigned_abs()
}
