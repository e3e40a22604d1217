//! The session grant: what the connector gives a client it admitted.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use crate::error::{DecodeError, EncodeError};
use crate::ids::{ResumeToken, SessionId, WireGuardKey};
use crate::limits::{
    MAX_APP_NAME_LEN, MAX_APPS, MAX_DNS_NAME_LEN, MAX_ENDPOINTS, MAX_PORT_RULES, PROTOCOL_VERSION,
};
use crate::wire::{Body, Field, Fields, required};

/// The connector's answer to an admitted client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    /// The protocol version the session uses from here on.
    pub version: u8,
    pub session_id: SessionId,
    /// The client's own address inside the tunnel.
    pub tunnel_address: IpAddr,
    /// The connector's WireGuard public key.
    pub connector_key: WireGuardKey,
    /// Where to send WireGuard UDP; empty when packets go only inside the control connection.
    pub endpoints: Vec<SocketAddr>,
    pub apps: Vec<PublishedApp>,
    /// The resolver for app names inside the tunnel, if the connector runs one.
    pub dns_server: Option<IpAddr>,
    /// The session ends after this long without traffic; `None` for no limit.
    pub idle_timeout: Option<Duration>,
    /// The session ends this long after the grant, whatever happens; `None` for no limit.
    /// A grant that resumes a session (hello with a resume token) gives the time it has left.
    pub max_lifetime: Option<Duration>,
    /// How often the card must sign a fresh challenge; `None` for never.
    pub reproof_interval: Option<Duration>,
    /// The secret to present in a later hello to resume this session.
    pub resume_token: Option<ResumeToken>,
}

/// One application published to this user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedApp {
    /// The name people know it by ("Dossier patient").
    pub name: String,
    /// The name the client resolves to `address` ("dpi.chu.example").
    pub dns_name: String,
    /// The app's virtual address in the tunnel range; never the backend's address.
    pub address: IpAddr,
    pub ports: Vec<PortRule>,
}

/// A transport protocol by its IP protocol number; unknown numbers are kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transport(pub u8);

impl Transport {
    pub const TCP: Self = Self(6);
    pub const UDP: Self = Self(17);
}

/// A range of ports, both ends included, on one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRule {
    pub transport: Transport,
    pub first: u16,
    pub last: u16,
}

impl PortRule {
    /// One port on TCP, the common case.
    pub fn tcp(port: u16) -> Self {
        Self {
            transport: Transport::TCP,
            first: port,
            last: port,
        }
    }

    fn to_bytes(self) -> [u8; 5] {
        let [f0, f1] = self.first.to_be_bytes();
        let [l0, l1] = self.last.to_be_bytes();
        [self.transport.0, f0, f1, l0, l1]
    }

    fn decode(field: &Field<'_>, name: &'static str) -> Result<Self, DecodeError> {
        let [transport, f0, f1, l0, l1] = field.array(name)?;
        let rule = Self {
            transport: Transport(transport),
            first: u16::from_be_bytes([f0, f1]),
            last: u16::from_be_bytes([l0, l1]),
        };
        if rule.first > rule.last {
            return Err(field.invalid(name, "has its first port after its last"));
        }
        Ok(rule)
    }
}

/// Whether `name` can be a DNS name: 1 to 253 bytes of letters, digits, `-`, `_` and `.`.
fn dns_name_problem(name: &str) -> Option<&'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() {
        Some("is empty")
    } else if !name.chars().all(allowed) {
        Some("has characters other than letters, digits, '-', '_' and '.'")
    } else {
        None
    }
}

impl PublishedApp {
    fn encode(&self) -> Result<Body, EncodeError> {
        if let Some(problem) = dns_name_problem(&self.dns_name) {
            return Err(EncodeError::InvalidValue {
                field: "app.dns_name",
                problem,
            });
        }
        if self.ports.len() > MAX_PORT_RULES {
            let count = self.ports.len();
            return Err(EncodeError::TooMany {
                field: "app.port",
                count,
                max: MAX_PORT_RULES,
            });
        }
        let mut body = Body::new();
        body.str(1, "app.name", &self.name, MAX_APP_NAME_LEN)?;
        body.str(2, "app.dns_name", &self.dns_name, MAX_DNS_NAME_LEN)?;
        body.ip(3, "app.address", self.address)?;
        for rule in &self.ports {
            body.fixed(4, "app.port", &rule.to_bytes())?;
        }
        Ok(body)
    }

    fn decode(outer: &Field<'_>, _name: &'static str) -> Result<Self, DecodeError> {
        let (mut name, mut dns_name, mut address, mut ports) = (None, None, None, Vec::new());
        for field in outer.fields() {
            let field = field?;
            match field.tag {
                1 => field.once(&mut name, "app.name", &|f, n| f.str(n, MAX_APP_NAME_LEN))?,
                2 => field.once(&mut dns_name, "app.dns_name", &|f, n| {
                    let text = f.str(n, MAX_DNS_NAME_LEN)?;
                    dns_name_problem(&text).map_or(Ok(text), |problem| Err(f.invalid(n, problem)))
                })?,
                3 => field.once(&mut address, "app.address", &Field::ip)?,
                4 => field.push(&mut ports, MAX_PORT_RULES, "app.port", &PortRule::decode)?,
                _ => {}
            }
        }
        Ok(Self {
            name: required(name, "grant", "app.name")?,
            dns_name: required(dns_name, "grant", "app.dns_name")?,
            address: required(address, "grant", "app.address")?,
            ports,
        })
    }
}

impl SessionGrant {
    pub(crate) fn encode(&self, body: &mut Body) -> Result<(), EncodeError> {
        check_count("endpoint", self.endpoints.len(), MAX_ENDPOINTS)?;
        check_count("app", self.apps.len(), MAX_APPS)?;
        body.u8(1, "version", self.version)?;
        body.fixed(2, "session_id", &self.session_id.0)?;
        body.ip(3, "tunnel_address", self.tunnel_address)?;
        body.fixed(4, "connector_key", &self.connector_key.0)?;
        for endpoint in &self.endpoints {
            body.socket_addr(5, "endpoint", *endpoint)?;
        }
        for app in &self.apps {
            body.nested(6, "app", app.encode()?)?;
        }
        if let Some(dns) = self.dns_server {
            body.ip(7, "dns_server", dns)?;
        }
        body.secs(8, "idle_timeout", self.idle_timeout)?;
        body.secs(9, "max_lifetime", self.max_lifetime)?;
        body.secs(10, "reproof_interval", self.reproof_interval)?;
        if let Some(token) = &self.resume_token {
            body.fixed(11, "resume_token", token.expose())?;
        }
        Ok(())
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut draft = Draft::default();
        for field in Fields::new(body, "grant") {
            draft.take(&field?)?;
        }
        draft.finish()
    }
}

fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), EncodeError> {
    if count > max {
        return Err(EncodeError::TooMany { field, count, max });
    }
    Ok(())
}

/// A grant's fields as they are read, before the required ones are checked.
#[derive(Default)]
struct Draft {
    version: Option<u8>,
    session_id: Option<[u8; 16]>,
    tunnel_address: Option<IpAddr>,
    connector_key: Option<[u8; 32]>,
    endpoints: Vec<SocketAddr>,
    apps: Vec<PublishedApp>,
    dns_server: Option<IpAddr>,
    idle_timeout: Option<Option<Duration>>,
    max_lifetime: Option<Option<Duration>>,
    reproof_interval: Option<Option<Duration>>,
    resume_token: Option<ResumeToken>,
}

impl Draft {
    fn take(&mut self, field: &Field<'_>) -> Result<(), DecodeError> {
        match field.tag {
            1 => field.once(&mut self.version, "version", &Field::u8),
            2 => field.once(&mut self.session_id, "session_id", &Field::array::<16>),
            3 => field.once(&mut self.tunnel_address, "tunnel_address", &Field::ip),
            4 => field.once(
                &mut self.connector_key,
                "connector_key",
                &Field::array::<32>,
            ),
            5 => field.push(
                &mut self.endpoints,
                MAX_ENDPOINTS,
                "endpoint",
                &Field::socket_addr,
            ),
            6 => field.push(&mut self.apps, MAX_APPS, "app", &PublishedApp::decode),
            7 => field.once(&mut self.dns_server, "dns_server", &Field::ip),
            8 => field.once(&mut self.idle_timeout, "idle_timeout", &Field::secs),
            9 => field.once(&mut self.max_lifetime, "max_lifetime", &Field::secs),
            10 => field.once(&mut self.reproof_interval, "reproof_interval", &Field::secs),
            11 => field.once(&mut self.resume_token, "resume_token", &|f, n| {
                f.array(n).map(ResumeToken::new)
            }),
            _ => Ok(()),
        }
    }

    fn finish(self) -> Result<SessionGrant, DecodeError> {
        const M: &str = "grant";
        let version = required(self.version, M, "version")?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                supported: PROTOCOL_VERSION,
            });
        }
        Ok(SessionGrant {
            version,
            session_id: SessionId(required(self.session_id, M, "session_id")?),
            tunnel_address: required(self.tunnel_address, M, "tunnel_address")?,
            connector_key: WireGuardKey(required(self.connector_key, M, "connector_key")?),
            endpoints: self.endpoints,
            apps: self.apps,
            dns_server: self.dns_server,
            idle_timeout: self.idle_timeout.flatten(),
            max_lifetime: self.max_lifetime.flatten(),
            reproof_interval: self.reproof_interval.flatten(),
            resume_token: self.resume_token,
        })
    }
}
