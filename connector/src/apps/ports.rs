//! Ports and protocols of a published app: `tcp/443`, `tcp/8000-8010`, `udp/53`.

use std::fmt;
use std::str::FromStr;

/// A transport protocol an app is reached over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// A protocol and an inclusive port range.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct PortRange {
    /// The protocol.
    pub protocol: Protocol,
    /// The first port.
    pub first: u16,
    /// The last port (equal to `first` for a single port).
    pub last: u16,
}

/// Why a port specification is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("port {text:?} is not valid: {why}; write it as tcp/443, tcp/8000-8010 or udp/53")]
pub struct PortRangeError {
    text: String,
    why: &'static str,
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |why| PortRangeError {
            text: text.to_owned(),
            why,
        };
        let (protocol, ports) = text.split_once('/').ok_or_else(|| error("no protocol"))?;
        let protocol = match protocol.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return Err(error("the protocol must be tcp or udp")),
        };
        let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0);
        let first = port(first).ok_or_else(|| error("ports are numbers from 1 to 65535"))?;
        let last = port(last).ok_or_else(|| error("ports are numbers from 1 to 65535"))?;
        if last < first {
            return Err(error("the range ends before it starts"));
        }
        Ok(Self {
            protocol,
            first,
            last,
        })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}/{}", self.protocol.as_str(), self.first)
        } else {
            write!(f, "{}/{}-{}", self.protocol.as_str(), self.first, self.last)
        }
    }
}

impl TryFrom<String> for PortRange {
    type Error = PortRangeError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<PortRange> for String {
    fn from(value: PortRange) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ports_and_ranges_round_trip() {
        for text in ["tcp/443", "tcp/8000-8010", "udp/53"] {
            assert_eq!(text.parse::<PortRange>().unwrap().to_string(), text);
        }
        let range: PortRange = "TCP/8000-8010".parse().unwrap();
        assert_eq!(
            (range.protocol, range.first, range.last),
            (Protocol::Tcp, 8000, 8010)
        );
    }

    #[test]
    fn bad_specifications_say_why() {
        for text in [
            "443",
            "sctp/1",
            "tcp/0",
            "tcp/70000",
            "tcp/10-5",
            "tcp/",
            "tcp/a-b",
        ] {
            let error = text.parse::<PortRange>().unwrap_err().to_string();
            assert!(error.contains(text), "{error}");
        }
    }
}
