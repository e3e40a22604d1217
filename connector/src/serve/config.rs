//! The `serve` sections of the configuration file: `[listen]`, `[tls]`, `[trust]`,
//! `[session]` and `[state]`.
//!
//! ```toml
//! [listen]
//! address = "0.0.0.0"              # TCP (TLS 1.3 and 1.2) and UDP (QUIC) on the same port
//! port = 443                       # 0 picks a free port (tests); the port is printed
//! handshake_timeout = "10s"        # TLS or QUIC handshake, and the first control stream
//! max_handshakes = 512             # handshakes in flight; more are dropped at once
//!
//! [tls]                            # the connector's own certificate, as `vigie-pki` writes it
//! certificate = "/etc/vigie/tls/server-chain.pem"
//! key = "/etc/vigie/tls/server.key.pem"
//!
//! [trust]                          # files, or folders whose every file is read
//! roots = ["/etc/vigie/trust/roots"]
//! intermediates = ["/etc/vigie/trust/intermediates"]
//! crls = ["/var/lib/vigie/crl"]
//! crl_grace = "1d"                 # admissions go on this long past a CRL's nextUpdate
//! blocklist = "/etc/vigie/blocklist.toml"   # optional emergency blocklist
//! refresh = "10s"                  # how often CRL and blocklist files are looked at again
//! crl_urls = ["http://igc-sante.esante.gouv.fr/CRL/ACI-EL-PP.crl"]
//!                                  # fetched by the connector into <[state] dir>/crl-fetched/,
//!                                  # read with the `crls` above; http:// only (a CRL is signed)
//! crl_fetch_every = "1h"           # at least 1m; after a failure, retried sooner (10s to 5m)
//!
//! [session]
//! idle_timeout = "15m"
//! max_lifetime = "12h"
//! reproof_interval = "5m"          # the card signs a fresh challenge this often
//! dns_server = "100.80.0.53"       # optional: told to clients
//! endpoints = ["198.18.0.2:443"]   # where clients send WireGuard packets
//! card_grace = "5m"                # a session whose card was pulled out waits this long for
//!                                  # it, on this workstation or another
//!
//! [state]
//! dir = "/var/lib/vigie"           # the connector's WireGuard key and fetched CRLs live here
//! ```
//!
//! Durations are written as a number and a unit: `s`, `m`, `h` or `d`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::crl_fetch::HttpUrl;

/// `[listen]`: where the connector answers clients.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// The address both listeners bind.
    #[serde(default = "default_address")]
    pub address: IpAddr,
    /// The TCP and UDP port; 0 picks a free one.
    #[serde(default = "default_port")]
    pub port: u16,
    /// How long a peer has to finish its TLS or QUIC handshake.
    #[serde(default = "default_handshake_timeout", with = "duration")]
    pub handshake_timeout: Duration,
    /// How many handshakes may be in flight at once, TCP and QUIC together.
    #[serde(default = "default_max_handshakes")]
    pub max_handshakes: usize,
}

fn default_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}
fn default_port() -> u16 {
    443
}
fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_handshakes() -> usize {
    512
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            address: default_address(),
            port: default_port(),
            handshake_timeout: default_handshake_timeout(),
            max_handshakes: default_max_handshakes(),
        }
    }
}

/// `[tls]`: the connector's server certificate chain and key (PEM).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The chain, leaf first.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1 PEM).
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            certificate: "/etc/vigie/tls/server-chain.pem".into(),
            key: "/etc/vigie/tls/server.key.pem".into(),
        }
    }
}

/// `[trust]`: what card certificates must chain to, and revocation data.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustFiles {
    /// Root certificates: files or folders.
    #[serde(default)]
    pub roots: Vec<PathBuf>,
    /// Intermediate CA certificates: files or folders.
    #[serde(default)]
    pub intermediates: Vec<PathBuf>,
    /// CRLs (DER or PEM): files or folders.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// How long past a CRL's nextUpdate admissions still succeed.
    #[serde(default = "default_crl_grace", with = "duration")]
    pub crl_grace: Duration,
    /// The emergency blocklist file (TOML), if any.
    #[serde(default)]
    pub blocklist: Option<PathBuf>,
    /// How often `serve` looks at the CRL and blocklist files again; a changed file is read
    /// and the live sessions whose card it now refuses end.
    #[serde(default = "default_refresh", with = "duration")]
    pub refresh: Duration,
    /// CRLs the connector fetches itself (`http://` only), into `<[state] dir>/crl-fetched/`;
    /// never from addresses found in client certificates.
    #[serde(default)]
    pub crl_urls: Vec<HttpUrl>,
    /// How often each of `crl_urls` is fetched again.
    #[serde(default = "default_crl_fetch_every", with = "duration")]
    pub crl_fetch_every: Duration,
}

fn default_crl_grace() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_refresh() -> Duration {
    Duration::from_secs(10)
}
fn default_crl_fetch_every() -> Duration {
    Duration::from_secs(3600)
}

/// CRL servers are public services: no connector asks one more often than this.
pub const MIN_CRL_FETCH_EVERY: Duration = Duration::from_secs(60);

impl Default for TrustFiles {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            intermediates: Vec::new(),
            crls: Vec::new(),
            crl_grace: default_crl_grace(),
            blocklist: None,
            refresh: default_refresh(),
            crl_urls: Vec::new(),
            crl_fetch_every: default_crl_fetch_every(),
        }
    }
}

/// `[session]`: what every grant says.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionLimits {
    /// A session with no traffic for this long ends.
    #[serde(default = "default_idle", with = "duration")]
    pub idle_timeout: Duration,
    /// No session lasts longer.
    #[serde(default = "default_lifetime", with = "duration")]
    pub max_lifetime: Duration,
    /// How often the card must sign a fresh challenge.
    #[serde(default = "default_reproof", with = "duration")]
    pub reproof_interval: Duration,
    /// The DNS server clients use for app names, if any.
    #[serde(default)]
    pub dns_server: Option<IpAddr>,
    /// Where clients send WireGuard packets.
    #[serde(default)]
    pub endpoints: Vec<SocketAddr>,
    /// How long a session whose card was pulled out waits for it, on this workstation or
    /// another, once its client is gone.
    #[serde(default = "default_card_grace", with = "duration")]
    pub card_grace: Duration,
}

fn default_idle() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_lifetime() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_card_grace() -> Duration {
    Duration::from_secs(5 * 60)
}
fn default_reproof() -> Duration {
    Duration::from_secs(5 * 60)
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle_timeout: default_idle(),
            max_lifetime: default_lifetime(),
            reproof_interval: default_reproof(),
            dns_server: None,
            endpoints: Vec::new(),
            card_grace: default_card_grace(),
        }
    }
}

/// `[state]`: the connector's own files.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The folder; created on first start.
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            dir: "/var/lib/vigie".into(),
        }
    }
}

/// The sections together, as [`crate::config::ConnectorConfig`] holds them.
pub struct ServeSections<'a> {
    /// `[listen]`.
    pub listen: &'a ListenConfig,
    /// `[trust]`.
    pub trust: &'a TrustFiles,
    /// `[session]`.
    pub session: &'a SessionLimits,
}

impl ServeSections<'_> {
    /// Values no connector can work with: the first problem.
    pub fn check(&self) -> Result<(), String> {
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// Values no connector can work with: every problem, each starting with its dotted key.
    pub fn problems(&self) -> Vec<String> {
        let mut found = Vec::new();
        if self.listen.max_handshakes == 0 {
            found.push("listen.max_handshakes must be at least 1".into());
        }
        if self.listen.handshake_timeout < Duration::from_secs(1) {
            found.push("listen.handshake_timeout must be at least 1s".into());
        }
        let session = self.session;
        for (key, value) in [
            ("trust.refresh", self.trust.refresh),
            ("session.idle_timeout", session.idle_timeout),
            ("session.max_lifetime", session.max_lifetime),
            ("session.reproof_interval", session.reproof_interval),
            ("session.card_grace", session.card_grace),
        ] {
            if value < Duration::from_secs(1) {
                found.push(format!("{key} must be at least 1s"));
            }
        }
        found.extend(self.check_crl_fetch().err());
        if session.endpoints.len() > vigie_protocol::limits::MAX_ENDPOINTS {
            found.push(format!(
                "session.endpoints lists {} endpoints; at most {} fit in a grant",
                session.endpoints.len(),
                vigie_protocol::limits::MAX_ENDPOINTS
            ));
        }
        found
    }

    /// `[trust] crl_fetch_every` spares the CRL servers; a URL listed twice would have two
    /// fetches write one file.
    fn check_crl_fetch(&self) -> Result<(), String> {
        if self.trust.crl_fetch_every < MIN_CRL_FETCH_EVERY {
            return Err("trust.crl_fetch_every must be at least 1m".into());
        }
        let mut seen = std::collections::HashSet::new();
        match self.trust.crl_urls.iter().find(|url| !seen.insert(*url)) {
            Some(twice) => Err(format!("trust.crl_urls lists {twice} twice")),
            None => Ok(()),
        }
    }
}

/// Makes every relative path of the sections relative to `base` (the file's folder); URLs
/// are not paths and stay as written.
pub fn resolve_paths(
    tls: &mut TlsConfig,
    trust: &mut TrustFiles,
    state: &mut StateConfig,
    base: &Path,
) {
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    resolve(&mut tls.certificate);
    resolve(&mut tls.key);
    trust.roots.iter_mut().for_each(resolve);
    trust.intermediates.iter_mut().for_each(resolve);
    trust.crls.iter_mut().for_each(resolve);
    if let Some(blocklist) = &mut trust.blocklist {
        resolve(blocklist);
    }
    resolve(&mut state.dir);
}

/// Durations as `30s`, `15m`, `12h`, `1d`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Reads a duration written as a number and a unit.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration; write it like 30s, 15m, 12h, 1d"))?;
        let scale = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => {
                return Err(format!(
                    "{text:?} has no known unit; write it like 30s, 15m, 12h, 1d"
                ));
            }
        };
        number
            .checked_mul(scale)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long"))
    }

    /// The serde hook for `#[serde(with = "duration")]`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(duration::parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration::parse("1d"), Ok(Duration::from_secs(86_400)));
        assert!(duration::parse("15").is_err());
        assert!(duration::parse("m").is_err());
        assert!(duration::parse("99999999999999999999d").is_err());
    }

    #[test]
    fn limits_below_a_second_are_refused() {
        let listen = ListenConfig {
            max_handshakes: 0,
            ..ListenConfig::default()
        };
        let session = SessionLimits::default();
        let trust = TrustFiles::default();
        let sections = ServeSections {
            listen: &listen,
            trust: &trust,
            session: &session,
        };
        assert!(sections.check().unwrap_err().contains("max_handshakes"));
        let listen = ListenConfig::default();
        let trust = TrustFiles {
            refresh: Duration::ZERO,
            ..TrustFiles::default()
        };
        let sections = ServeSections {
            listen: &listen,
            trust: &trust,
            session: &session,
        };
        assert!(sections.check().unwrap_err().contains("trust.refresh"));
    }

    fn trust_section(lines: &str) -> Result<TrustFiles, String> {
        let trust: TrustFiles = toml::from_str(lines).map_err(|e| e.to_string())?;
        let (listen, session) = (ListenConfig::default(), SessionLimits::default());
        let sections = ServeSections {
            listen: &listen,
            trust: &trust,
            session: &session,
        };
        sections.check().map(|()| trust)
    }

    #[test]
    fn crl_urls_are_http_addresses_fetched_at_most_every_minute() {
        let trust = trust_section("crl_urls = [\"http://crl.example/a.crl\"]").unwrap();
        assert_eq!(trust.crl_urls[0].to_string(), "http://crl.example/a.crl");
        assert_eq!(trust.crl_fetch_every, Duration::from_secs(3600));
        let error = trust_section("crl_urls = [\"https://crl.example/a.crl\"]").unwrap_err();
        assert!(
            error.contains("\"https://crl.example/a.crl\": https://"),
            "{error}"
        );
        let error = trust_section("crl_fetch_every = \"59s\"").unwrap_err();
        assert!(
            error.contains("trust.crl_fetch_every must be at least 1m"),
            "{error}"
        );
        assert!(trust_section("crl_fetch_every = \"1m\"").is_ok());
        let twice = "crl_urls = [\"http://crl.example/a.crl\", \"http://CRL.example:80/a.crl\"]";
        let error = trust_section(twice).unwrap_err();
        assert!(error.contains("twice"), "{error}");
    }
}
