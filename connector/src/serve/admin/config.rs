//! `[admin]`: where the metrics and health endpoint listens.
//!
//! ```toml
//! [admin]
//! listen = "127.0.0.1:9819"   # the default; a management network's address also works
//! ```
//!
//! Without the section there is no endpoint. The endpoint has no login: it must never answer
//! on the internet-facing side, where nothing of the connector may answer before a card is
//! verified. So it refuses every address that side uses — `[listen] address`, a specific
//! `[dataplane] address`, the addresses of `[session] endpoints` — and the wildcard addresses
//! (`0.0.0.0`, `::`), which include them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

use crate::config::ConnectorConfig;

/// The port of the endpoint when `[admin] listen` is not given.
pub const DEFAULT_PORT: u16 = 9819;

/// `[admin]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the endpoint listens (plain HTTP).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT))
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}

impl AdminConfig {
    /// Refuses an address on the internet-facing side.
    pub fn check(&self, config: &ConnectorConfig) -> Result<(), String> {
        let ip = self.listen.ip();
        let listen = self.listen;
        if ip.is_unspecified() {
            return Err(format!(
                "admin.listen {listen} answers on every address, the internet-facing one too; \
                 give 127.0.0.1:{DEFAULT_PORT} (the default) or the connector's address on a \
                 management network"
            ));
        }
        if ip.is_loopback() {
            return Ok(());
        }
        if config.listen.address.is_unspecified() {
            return Err(format!(
                "admin.listen {listen} is not a loopback address, so listen.address must name \
                 the internet-facing address (not {}) for the two to be told apart; or keep \
                 the endpoint on 127.0.0.1",
                config.listen.address
            ));
        }
        match public_addresses(config).into_iter().find(|a| *a == ip) {
            Some(public) => Err(format!(
                "admin.listen {listen} is on the internet-facing address {public}; nothing \
                 but the card-verified listeners may answer there: give a loopback or \
                 management address"
            )),
            None => Ok(()),
        }
    }
}

/// The addresses clients reach from outside.
fn public_addresses(config: &ConnectorConfig) -> Vec<IpAddr> {
    let mut public = vec![config.listen.address];
    if config.dataplane.enabled && !config.dataplane.address.is_unspecified() {
        public.push(config.dataplane.address);
    }
    public.extend(config.session.endpoints.iter().map(SocketAddr::ip));
    public
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(admin: &str, listen: &str, endpoints: &[&str]) -> Result<(), String> {
        let mut config = ConnectorConfig::default();
        config.listen.address = listen.parse().unwrap();
        config.session.endpoints = endpoints.iter().map(|e| e.parse().unwrap()).collect();
        let admin = AdminConfig {
            listen: admin.parse().unwrap(),
        };
        admin.check(&config)
    }

    #[test]
    fn loopback_is_the_default_and_always_allowed() {
        assert_eq!(AdminConfig::default().listen.to_string(), "127.0.0.1:9819");
        assert!(checked("127.0.0.1:9819", "0.0.0.0", &[]).is_ok());
        assert!(checked("[::1]:9819", "198.18.0.2", &[]).is_ok());
    }

    #[test]
    fn the_internet_facing_side_is_refused() {
        let every = checked("0.0.0.0:9819", "198.18.0.2", &[]).unwrap_err();
        assert!(every.contains("every address"), "{every}");
        assert!(checked("[::]:9819", "198.18.0.2", &[]).is_err());
        let public = checked("198.18.0.2:9819", "198.18.0.2", &[]).unwrap_err();
        assert!(
            public.contains("internet-facing address 198.18.0.2"),
            "{public}"
        );
        let endpoint = checked("198.18.0.3:9819", "198.18.0.2", &["198.18.0.3:51820"]);
        assert!(endpoint.is_err());
        let wildcard = checked("198.18.10.5:9819", "0.0.0.0", &[]).unwrap_err();
        assert!(wildcard.contains("listen.address must name"), "{wildcard}");
        assert!(checked("198.18.10.5:9819", "198.18.0.2", &["198.18.0.2:51820"]).is_ok());
    }
}
