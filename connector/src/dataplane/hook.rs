//! How the serve module drives the data plane: start it with the listeners, attach a
//! session when it is granted, pass it the datagrams of its control connection, detach it
//! when it ends, and rebuild the NAT rules when the published apps change ([`NatRules`]).
//! Kept here so the serve module only calls these few functions.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs as _};
use std::sync::Arc;

use tokio::sync::mpsc;
use vigie_protocol::SessionId;
use x25519_dalek::StaticSecret;

use super::{DataPlane, DataPlaneError, NatApp, SessionSpec, nft};
use crate::apps::{Ipv4Range, PublishedApp};
use crate::config::ConnectorConfig;
use crate::serve::registry::LiveSession;

/// How many WireGuard datagrams may wait for a control connection before newer ones are
/// dropped (WireGuard and TCP inside it recover from the loss).
const CONTROL_QUEUE: usize = 256;

/// Starts the data plane if `[dataplane] enabled`, with NAT rules for `apps` and for the
/// connector's own `builtin` services (the SSO issuer, and the identity-header proxies,
/// which replace the rules of their app).
pub fn start(
    config: &ConnectorConfig,
    secret: &StaticSecret,
    apps: &[PublishedApp],
    builtin: &[NatApp],
) -> Result<Option<Arc<DataPlane>>, DataPlaneError> {
    if !config.dataplane.enabled {
        return Ok(None);
    }
    let dns = match config.session.dns_server {
        None => None,
        Some(IpAddr::V4(address)) => Some(address),
        Some(IpAddr::V6(address)) => {
            return Err(DataPlaneError::Config(format!(
                "session.dns_server {address} must be an IPv4 address; the tunnel carries IPv4"
            )));
        }
    };
    let nat = with_builtin(nat_apps(apps)?, builtin);
    let clients = config.addresses.clients;
    let plane = DataPlane::start(&config.dataplane, secret.clone(), clients, dns, &nat)?;
    Ok(Some(Arc::new(plane)))
}

/// The apps' NAT entries with the connector's own services: a built-in entry for a published
/// app (an identity-header proxy) replaces the app's own.
fn with_builtin(mut nat: Vec<NatApp>, builtin: &[NatApp]) -> Vec<NatApp> {
    for own in builtin {
        nat.retain(|app| app.name != own.name);
        nat.push(own.clone());
    }
    nat
}

/// The NAT rules in force, rebuilt when the published apps change while the connector runs
/// (`app publish` from the command line, a reloaded `[[app]]`), so that an app granted to new
/// sessions is also reachable by them. The rules are replaced whole and atomically
/// ([`nft`]); live sessions' connections to apps that stay are not disturbed.
#[derive(Debug)]
pub struct NatRules {
    tun: String,
    clients: Ipv4Range,
    builtin: Vec<NatApp>,
    /// The apps the rules were made from (names resolve again only when this changes).
    applied: Vec<(crate::apps::AppDefinition, Ipv4Addr)>,
    /// The apps whose rules could not be made, not to warn again every look.
    failed: Option<Vec<(crate::apps::AppDefinition, Ipv4Addr)>>,
}

impl NatRules {
    /// The rules `start` applied for `apps` and `builtin`.
    pub fn new(config: &ConnectorConfig, apps: &[PublishedApp], builtin: &[NatApp]) -> Self {
        Self {
            tun: config.dataplane.tun.clone(),
            clients: config.addresses.clients,
            builtin: builtin.to_vec(),
            applied: fingerprint(apps),
            failed: None,
        }
    }

    /// Rebuilds the rules if `apps` differ from those in force, or always with `force` (a
    /// reload: rules someone removed come back). True when the rules were replaced; an error
    /// leaves the rules in force as they were.
    pub fn sync(&mut self, apps: &[PublishedApp], force: bool) -> Result<bool, DataPlaneError> {
        let wanted = fingerprint(apps);
        let seen = wanted == self.applied || self.failed.as_ref() == Some(&wanted);
        if seen && !force {
            return Ok(false);
        }
        let made = nat_apps(apps).and_then(|nat| {
            let rules = nft::ruleset(&self.tun, self.clients, &with_builtin(nat, &self.builtin));
            nft::apply(&rules).map_err(|detail| DataPlaneError::System {
                what: "cannot apply the NAT rules",
                detail,
            })
        });
        match made {
            Ok(()) => {
                self.applied = wanted;
                self.failed = None;
                Ok(true)
            }
            Err(error) => {
                self.failed = Some(wanted);
                Err(error)
            }
        }
    }
}

fn fingerprint(apps: &[PublishedApp]) -> Vec<(crate::apps::AppDefinition, Ipv4Addr)> {
    let mut print: Vec<_> = apps
        .iter()
        .map(|app| (app.definition.clone(), app.virtual_address))
        .collect();
    print.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    print
}

/// The apps with their backends resolved to IPv4 addresses (names once, at start).
pub fn nat_apps(apps: &[PublishedApp]) -> Result<Vec<NatApp>, DataPlaneError> {
    apps.iter()
        .map(|app| {
            let definition = &app.definition;
            Ok(NatApp {
                name: definition.name.clone(),
                virtual_address: app.virtual_address,
                backend: resolve_backend(&definition.name, &definition.backend)?,
                ports: definition.ports.clone(),
            })
        })
        .collect()
}

/// The IPv4 address of app `app`'s `backend` (an address, or a name resolved now).
pub fn resolve_backend(app: &str, backend: &str) -> Result<Ipv4Addr, DataPlaneError> {
    if let Ok(address) = backend.parse::<Ipv4Addr>() {
        return Ok(address);
    }
    let unusable = |why: String| {
        DataPlaneError::Config(format!(
            "app {app}: backend {backend:?} {why}; give an IPv4 address or a name that resolves \
             to one"
        ))
    };
    let found = (backend, 0)
        .to_socket_addrs()
        .map_err(|e| unusable(format!("cannot be resolved ({e})")))?;
    found
        .filter_map(|address| match address.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| unusable("has no IPv4 address".into()))
}

/// Adds a granted session; the receiver yields the WireGuard datagrams to send inside its
/// control connection. `None` without a data plane, or if the session could not be added.
pub fn attach(
    plane: Option<&DataPlane>,
    id: SessionId,
    live: &LiveSession,
) -> Option<mpsc::Receiver<Vec<u8>>> {
    let plane = plane?;
    let (control, datagrams) = mpsc::channel(CONTROL_QUEUE);
    let spec = SessionSpec {
        id,
        client_key: live.client_key,
        tunnel_address: live.tunnel_address,
        apps: live.apps.clone(),
        control: Some(control),
    };
    match plane.add_session(spec) {
        Ok(()) => Some(datagrams),
        Err(error) => {
            tracing::error!(%error, "the session could not join the data plane");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::{AppDefinition, AppSource};

    fn app(backend: &str) -> PublishedApp {
        PublishedApp {
            definition: AppDefinition {
                name: "dpi".into(),
                dns_name: "dpi.hopital.example".into(),
                ports: vec!["tcp/443".parse().unwrap()],
                backend: backend.into(),
            },
            virtual_address: Ipv4Addr::new(100, 80, 0, 1),
            source: AppSource::Admin,
            grants: Vec::new(),
        }
    }

    #[test]
    fn backends_are_addresses_or_names_resolved_once() {
        let nat = nat_apps(&[app("198.18.2.2"), app("localhost")]).unwrap();
        assert_eq!(nat[0].backend, Ipv4Addr::new(198, 18, 2, 2));
        assert_eq!(nat[1].backend, Ipv4Addr::LOCALHOST);
        let error = nat_apps(&[app("fe80::1")]).unwrap_err().to_string();
        assert!(error.contains("app dpi"), "{error}");
    }

    #[test]
    fn without_a_data_plane_nothing_is_attached_or_started() {
        let config = ConnectorConfig::default();
        let secret = StaticSecret::from([1; 32]);
        assert!(start(&config, &secret, &[], &[]).unwrap().is_none());
    }
}
