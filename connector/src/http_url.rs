//! `http://host[:port]/path` addresses: the CRLs of `[trust] crl_urls` (and where their
//! servers redirect), and the apps' `backchannel_logout_uri`. What travels to them is signed
//! (a CRL, a logout token), so plain HTTP is what they need: no user name or password, no
//! `https://`, and a path that can go into a request line as it is.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use serde::Deserialize;

/// Why a text is not an address this client can fetch: a configuration mistake, or a
/// redirect the server should not have sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// An `https://` address.
    #[error(
        "https:// is not supported: what goes there is signed (a CRL, a logout token), so \
         it travels over plain http://, as IGC-Santé publishes its CRLs (e.g. \
         http://igc-sante.esante.gouv.fr/CRL/ACI-EL-PP.crl)"
    )]
    Https,
    /// Another scheme, or none.
    #[error("only http:// addresses are supported")]
    Scheme,
    /// `user:password@` before the host.
    #[error("a user name or password in the address is not supported")]
    Credentials,
    /// Nothing between `http://` and the path.
    #[error("no host")]
    NoHost,
    /// A host name with characters no DNS name has.
    #[error("the host name may hold only letters, digits, '-' and '.'")]
    BadHost,
    /// Brackets around something else than an IPv6 address.
    #[error("the address between '[' and ']' is not an IPv6 address")]
    BadIpv6,
    /// A port that is not a number from 1 to 65535.
    #[error("the port must be a number from 1 to 65535")]
    BadPort,
    /// A path with spaces, control or non-ASCII characters.
    #[error("the path may hold only visible ASCII characters; percent-encode the others")]
    BadPath,
}

/// Where an address points.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower-cased.
    Name(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

/// A parsed `http://` address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl {
    host: Host,
    port: u16,
    /// The request target: path and query, starting with `/`.
    path: String,
}

impl HttpUrl {
    /// Reads `http://host[:port][/path]`; a missing path is `/`, a `#fragment` is dropped.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let rest = strip_scheme(text)?;
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (host, port) = authority_parts(authority)?;
        let path = match path.strip_prefix('?') {
            Some(_) => format!("/{path}"),
            None if path.is_empty() => "/".to_owned(),
            None => path.to_owned(),
        };
        Ok(Self {
            host,
            port,
            path: checked_path(path)?,
        })
    }

    /// Where a redirect's `Location` points, seen from this address: an absolute `http://`
    /// address, `//host/path`, an absolute path on the same server, or a path relative to
    /// this one's folder.
    pub fn join(&self, location: &str) -> Result<Self, UrlError> {
        let location = location.trim();
        if has_scheme(location) {
            return Self::parse(location);
        }
        if location.starts_with("//") {
            return Self::parse(&format!("http:{location}"));
        }
        let location = location
            .split_once('#')
            .map_or(location, |(before, _)| before);
        let path = if location.starts_with('/') {
            location.to_owned()
        } else {
            let base = self
                .path
                .split_once('?')
                .map_or(&*self.path, |(path, _)| path);
            let folder = base.rfind('/').map_or("/", |slash| &base[..=slash]);
            format!("{folder}{location}")
        };
        Ok(Self {
            path: checked_path(path)?,
            ..self.clone()
        })
    }

    /// The server.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The TCP port: 80 unless the address names one.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, as the request line carries them.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Host` header's value: the host, and the port when it is not 80.
    pub fn authority(&self) -> String {
        match self.port {
            80 => self.host.to_string(),
            port => format!("{}:{port}", self.host),
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;

    /// For the configuration file: the error names the address.
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text).map_err(|error| format!("{text:?}: {error}"))
    }
}

/// What follows `http://`; the scheme is case-insensitive.
fn strip_scheme(text: &str) -> Result<&str, UrlError> {
    let (scheme, rest) = text.trim().split_once("://").ok_or(UrlError::Scheme)?;
    if scheme.eq_ignore_ascii_case("http") {
        Ok(rest)
    } else if scheme.eq_ignore_ascii_case("https") {
        Err(UrlError::Https)
    } else {
        Err(UrlError::Scheme)
    }
}

/// Whether `text` starts with `scheme://` (so a path holding `://` further on is a path).
fn has_scheme(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        let mut chars = scheme.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn authority_parts(authority: &str) -> Result<(Host, u16), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::Credentials);
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (inside, after) = bracketed.split_once(']').ok_or(UrlError::BadIpv6)?;
            let ip: Ipv6Addr = inside.parse().map_err(|_| UrlError::BadIpv6)?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or(UrlError::BadPort)?),
            };
            (Host::Ip(IpAddr::V6(ip)), port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (named_host(host)?, Some(port)),
            None => (named_host(authority)?, None),
        },
    };
    Ok((host, port.map_or(Ok(80), port_number)?))
}

/// A DNS name or an IPv4 address.
fn named_host(host: &str) -> Result<Host, UrlError> {
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if let Ok(ip) = host.parse() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if host.len() > 253 || !host.chars().all(allowed) {
        return Err(UrlError::BadHost);
    }
    Ok(Host::Name(host.to_ascii_lowercase()))
}

/// Digits only (no sign, no spaces), 1 to 65535.
fn port_number(text: &str) -> Result<u16, UrlError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    match text.parse() {
        Ok(0) | Err(_) => Err(UrlError::BadPort),
        Ok(port) => Ok(port),
    }
}

/// The path goes into the request line as it is: a space or a line break would change the
/// request, so only visible ASCII passes.
fn checked_path(path: String) -> Result<String, UrlError> {
    if path.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(path)
    } else {
        Err(UrlError::BadPath)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn parts(text: &str) -> (Host, u16, String) {
        let url = HttpUrl::parse(text).unwrap();
        (url.host, url.port, url.path)
    }

    fn name(host: &str) -> Host {
        Host::Name(host.into())
    }

    #[test]
    fn names_ports_and_paths() {
        assert_eq!(
            parts("http://igc-sante.esante.gouv.fr/CRL/ACI-EL-PP.crl"),
            (
                name("igc-sante.esante.gouv.fr"),
                80,
                "/CRL/ACI-EL-PP.crl".into()
            )
        );
        assert_eq!(
            parts("HTTP://Crl.Example:8080"),
            (name("crl.example"), 8080, "/".into())
        );
        assert_eq!(
            parts("http://198.18.0.9/a.crl?v=2#top"),
            (
                Host::Ip(Ipv4Addr::new(198, 18, 0, 9).into()),
                80,
                "/a.crl?v=2".into()
            )
        );
        assert_eq!(parts("http://crl.example?x").2, "/?x");
    }

    #[test]
    fn ipv6_literals_are_in_brackets() {
        let v6 = |text: &str| Host::Ip(text.parse::<Ipv6Addr>().unwrap().into());
        assert_eq!(
            parts("http://[fd00::1]:8080/x.crl"),
            (v6("fd00::1"), 8080, "/x.crl".into())
        );
        assert_eq!(parts("http://[::1]").0, v6("::1"));
        let url = HttpUrl::parse("http://[fd00::1]:81/x.crl").unwrap();
        assert_eq!(url.authority(), "[fd00::1]:81");
        assert_eq!(url.to_string(), "http://[fd00::1]:81/x.crl");
        assert_eq!(HttpUrl::parse("http://[fd00::1"), Err(UrlError::BadIpv6));
        assert_eq!(
            HttpUrl::parse("http://[crl.example]/"),
            Err(UrlError::BadIpv6)
        );
        assert_eq!(HttpUrl::parse("http://[::1]x/"), Err(UrlError::BadPort));
        assert_eq!(HttpUrl::parse("http://fd00::1/"), Err(UrlError::BadPort));
    }

    #[test]
    fn what_cannot_be_fetched_says_why() {
        let error = |text: &str| HttpUrl::parse(text).unwrap_err();
        assert_eq!(error("https://crl.example/x.crl"), UrlError::Https);
        assert!(error("https://x/").to_string().contains("signed"));
        assert_eq!(error("ftp://crl.example/x.crl"), UrlError::Scheme);
        assert_eq!(error("crl.example/x.crl"), UrlError::Scheme);
        assert_eq!(
            error("http://user:secret@crl.example/"),
            UrlError::Credentials
        );
        assert_eq!(error("http:///x.crl"), UrlError::NoHost);
        assert_eq!(error("http://:80/x.crl"), UrlError::NoHost);
        assert_eq!(error("http://crl_example/"), UrlError::BadHost);
        assert_eq!(error("http://crl.example:0/"), UrlError::BadPort);
        assert_eq!(error("http://crl.example:65536/"), UrlError::BadPort);
        assert_eq!(error("http://crl.example:+80/"), UrlError::BadPort);
        assert_eq!(error("http://crl.example:/"), UrlError::BadPort);
        assert_eq!(error("http://crl.example/a b"), UrlError::BadPath);
        assert_eq!(error("http://crl.example/é.crl"), UrlError::BadPath);
    }

    #[test]
    fn the_configuration_error_names_the_address() {
        let error = HttpUrl::try_from("https://crl.example/x.crl".to_owned()).unwrap_err();
        assert!(
            error.starts_with("\"https://crl.example/x.crl\": https://"),
            "{error}"
        );
    }

    #[test]
    fn redirects_resolve_against_the_address() {
        let base = HttpUrl::parse("http://crl.example:8080/CRL/old.crl?x=1").unwrap();
        let join = |location: &str| base.join(location).unwrap().to_string();
        assert_eq!(
            join("http://mirror.example/a.crl"),
            "http://mirror.example/a.crl"
        );
        assert_eq!(
            join("//mirror.example:81/a.crl"),
            "http://mirror.example:81/a.crl"
        );
        assert_eq!(join("/new/a.crl"), "http://crl.example:8080/new/a.crl");
        assert_eq!(join("a.crl"), "http://crl.example:8080/CRL/a.crl");
        assert_eq!(
            join("/to?u=http://x"),
            "http://crl.example:8080/to?u=http://x"
        );
        assert_eq!(base.join("https://mirror.example/"), Err(UrlError::Https));
        assert_eq!(base.join("/a b"), Err(UrlError::BadPath));
        assert_eq!(base.join("/a\r\nHost: x"), Err(UrlError::BadPath));
    }
}
