//! `[sso]`: the OpenID Connect issuer, and `[[sso.client]]`: the apps that use it.
//!
//! ```toml
//! [sso]
//! issuer = "https://sso.hopital.example"   # what apps and browsers call it; https, no path
//! listen = "198.18.10.254:443"     # the connector's address on the hospital network; the
//!                                  # port is the issuer's. Browsers reach it through their
//!                                  # tunnel (it is published to every session under the
//!                                  # issuer's name), app servers directly.
//! certificate = "/etc/vigie/tls/sso-chain.pem"   # default: [tls] certificate and key; it
//! key = "/etc/vigie/tls/sso.key.pem"             # must name the issuer's host
//! code_lifetime = "1m"             # an authorization code must be exchanged within this
//! token_lifetime = "5m"            # ID and access tokens; the session bounds them too
//! key_rotation = "30d"             # a new signing key this often; the previous stays published
//!
//! [[sso.client]]
//! id = "dpi"
//! secret = "a long random string"  # omit for a public client (PKCE is then required)
//! # jwks_file = "dpi-keys.json"    # or: the app signs JWTs with its key (private_key_jwt)
//! redirect_uris = ["https://dpi.hopital.example/oidc/callback"]
//! post_logout_redirect_uris = ["https://dpi.hopital.example/"]
//! backchannel_logout_uri = "http://dpi.hopital.example/oidc/backchannel-logout"
//!
//! [[sso.identity_header]]           # a web app without OpenID Connect: see `header_proxy`
//! app = "legacy"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::serve::config::duration;

/// `[sso]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoConfig {
    /// The issuer's URL, `https://host[:port]`.
    pub issuer: String,
    /// Where the issuer listens on the hospital network.
    pub listen: SocketAddr,
    /// Its certificate chain (PEM); `[tls] certificate` if absent.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// Its key (PEM); `[tls] key` if absent.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// How long an authorization code may wait for its exchange.
    #[serde(default = "default_code_lifetime", with = "duration")]
    pub code_lifetime: Duration,
    /// How long ID and access tokens are valid.
    #[serde(default = "default_token_lifetime", with = "duration")]
    pub token_lifetime: Duration,
    /// How often the signing key changes.
    #[serde(default = "default_key_rotation", with = "duration")]
    pub key_rotation: Duration,
    /// The registered apps.
    #[serde(default, rename = "client")]
    pub clients: Vec<RegisteredClient>,
    /// Web apps that get the identity in a header instead (see [`super::header_proxy`]).
    #[serde(default, rename = "identity_header")]
    pub identity_headers: Vec<super::header_proxy::IdentityHeaderApp>,
}

fn default_code_lifetime() -> Duration {
    Duration::from_secs(60)
}
fn default_token_lifetime() -> Duration {
    Duration::from_secs(300)
}
fn default_key_rotation() -> Duration {
    Duration::from_secs(30 * 86_400)
}

/// `[[sso.client]]`: one app.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredClient {
    /// Its `client_id`.
    pub id: String,
    /// Its secret; none for a public client or one that signs its requests.
    #[serde(default)]
    pub secret: Option<ClientSecret>,
    /// Its public keys (a JWKS file), when it authenticates with JWTs it signs
    /// (`private_key_jwt`) instead of a secret.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The keys read from `jwks_file`.
    #[serde(skip)]
    pub keys: Vec<super::client_auth::ClientKey>,
    /// Where codes may be sent, exactly as the app writes them.
    pub redirect_uris: Vec<String>,
    /// Where the browser may go after the app logs out.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens are posted when a session ends.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
}

/// A client secret: zeroized on drop, never printed.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Whether `given` is the secret. Digests are compared, so the time taken says nothing
    /// about how much of the secret was right.
    pub fn matches(&self, given: &str) -> bool {
        Sha256::digest(self.0.as_bytes()) == Sha256::digest(given.as_bytes())
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(Zeroizing::new(String::deserialize(deserializer)?)))
    }
}

impl RegisteredClient {
    /// Whether the client proves who it is (a secret or keys), rather than being public.
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some() || !self.keys.is_empty()
    }
}

impl SsoConfig {
    /// Reads every client's `jwks_file`.
    pub fn load_client_keys(&mut self) -> Result<(), String> {
        for client in &mut self.clients {
            let Some(path) = &client.jwks_file else {
                continue;
            };
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            client.keys = super::client_auth::parse_jwks(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// The registered client `id`.
    pub fn client(&self, id: &str) -> Option<&RegisteredClient> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// The issuer's host and port, from its URL.
    pub fn host_port(&self) -> Result<(&str, u16), String> {
        let rest = self
            .issuer
            .strip_prefix("https://")
            .ok_or_else(|| format!("sso.issuer {:?} must start with https://", self.issuer))?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "sso.issuer {:?} must be https://host or https://host:port, without a path",
                self.issuer
            ));
        }
        match rest.rsplit_once(':') {
            None => Ok((rest, 443)),
            Some((host, port)) => port
                .parse()
                .map(|port| (host, port))
                .map_err(|_| format!("sso.issuer {:?} has a bad port", self.issuer)),
        }
    }

    /// Settings no issuer can work with.
    pub fn check(&self) -> Result<(), String> {
        let (_, port) = self.host_port()?;
        if self.listen.port() != port {
            return Err(format!(
                "sso.listen port {} differs from the issuer's port {port}; browsers reach the \
                 listener through their tunnel on the issuer's port",
                self.listen.port()
            ));
        }
        for (key, value) in [
            ("sso.code_lifetime", self.code_lifetime),
            ("sso.token_lifetime", self.token_lifetime),
            ("sso.key_rotation", self.key_rotation),
        ] {
            if value < Duration::from_secs(1) {
                return Err(format!("{key} must be at least 1s"));
            }
        }
        for app in &self.identity_headers {
            if hyper::header::HeaderName::from_bytes(app.header.as_bytes()).is_err() {
                return Err(format!(
                    "[[sso.identity_header]] {:?}: header {:?} is not an HTTP header name",
                    app.app, app.header
                ));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for client in &self.clients {
            if client.id.is_empty() || !ids.insert(client.id.as_str()) {
                return Err(format!(
                    "[[sso.client]] id {:?} is empty or listed twice",
                    client.id
                ));
            }
            if client.redirect_uris.is_empty() {
                return Err(format!(
                    "[[sso.client]] {:?} lists no redirect_uris",
                    client.id
                ));
            }
            if let Some(uri) = &client.backchannel_logout_uri {
                crate::http_url::HttpUrl::parse(uri).map_err(|e| {
                    format!(
                        "[[sso.client]] {:?} backchannel_logout_uri {uri:?}: {e}",
                        client.id
                    )
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str, listen: &str) -> SsoConfig {
        toml::from_str(&format!(
            "issuer = \"{issuer}\"\nlisten = \"{listen}\"\n\
             [[client]]\nid = \"dpi\"\nsecret = \"s3cret\"\nredirect_uris = [\"https://dpi/cb\"]\n"
        ))
        .unwrap()
    }

    #[test]
    fn the_issuer_url_gives_the_published_name_and_port() {
        let sso = config("https://sso.hopital.example", "198.18.10.254:443");
        assert_eq!(sso.host_port(), Ok(("sso.hopital.example", 443)));
        assert!(sso.check().is_ok());
        let sso = config("https://sso.hopital.example:8443", "198.18.10.254:443");
        assert!(sso.check().unwrap_err().contains("differs"));
        for bad in [
            "http://sso",
            "https://sso/path",
            "https://",
            "https://sso:x",
        ] {
            assert!(config(bad, "198.18.10.254:443").check().is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_match_and_never_print() {
        let sso = config("https://sso", "198.18.10.254:443");
        let secret = sso.clients[0].secret.as_ref().unwrap();
        assert!(secret.matches("s3cret"));
        assert!(!secret.matches("s3cre"));
        assert!(!format!("{sso:?}").contains("s3cret"));
    }
}
