//! IPv4 address ranges (CIDR) for virtual addresses: the app range and the client range, both
//! inside the shared address space 100.64.0.0/10 that tunnels use.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network in CIDR form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Range {
    network: u32,
    prefix: u8,
}

/// Why a range is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("address range {text:?} is not valid: {why}")]
pub struct RangeError {
    text: String,
    why: &'static str,
}

/// The tunnel address space: 100.64.0.0/10.
pub const TUNNEL_SPACE: Ipv4Range = Ipv4Range {
    network: 0x6440_0000,
    prefix: 10,
};

impl Ipv4Range {
    /// The range of `prefix` leading bits of `network`, host bits cleared.
    pub const fn new(network: [u8; 4], prefix: u8) -> Self {
        let prefix = if prefix > 32 { 32 } else { prefix };
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Self {
            network: u32::from_be_bytes(network) & mask,
            prefix,
        }
    }

    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// Whether `address` is in the range.
    pub fn contains(self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == self.network
    }

    /// Whether all of `other` lies in this range.
    pub fn covers(self, other: Self) -> bool {
        other.prefix >= self.prefix && self.contains(Ipv4Addr::from(other.network))
    }

    /// Whether the two ranges share any address.
    pub fn overlaps(self, other: Self) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The usable host addresses, in order: the network and broadcast addresses are left out
    /// for ranges that have them.
    pub fn hosts(self) -> impl Iterator<Item = Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        let (skip, take) = if size > 2 { (1, size - 2) } else { (0, size) };
        let network = u64::from(self.network);
        (network + skip..network + skip + take)
            .map(|a| Ipv4Addr::from(u32::try_from(a).unwrap_or(u32::MAX)))
    }
}

impl FromStr for Ipv4Range {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |why| RangeError {
            text: text.to_owned(),
            why,
        };
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| error("write it as a.b.c.d/len"))?;
        let address: Ipv4Addr = address.parse().map_err(|_| error("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|&p| p <= 32)
            .ok_or_else(|| error("the length is 0 to 32"))?;
        let range = Self {
            network: u32::from(address),
            prefix,
        };
        if u32::from(address) & range.mask() != u32::from(address) {
            return Err(error("host bits are set; use the network address"));
        }
        Ok(range)
    }
}

impl fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

impl TryFrom<String> for Ipv4Range {
    type Error = RangeError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Ipv4Range> for String {
    fn from(value: Ipv4Range) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_nest() {
        let apps: Ipv4Range = "100.80.0.0/16".parse().unwrap();
        let clients: Ipv4Range = "100.96.0.0/12".parse().unwrap();
        assert!(TUNNEL_SPACE.covers(apps) && TUNNEL_SPACE.covers(clients));
        assert!(!apps.overlaps(clients));
        assert!(apps.overlaps("100.80.4.0/24".parse().unwrap()));
        assert!(!TUNNEL_SPACE.covers("198.18.0.0/15".parse().unwrap()));
        assert_eq!(apps.to_string(), "100.80.0.0/16");
    }

    #[test]
    fn hosts_skip_network_and_broadcast() {
        let small: Ipv4Range = "100.80.0.0/30".parse().unwrap();
        let hosts: Vec<_> = small.hosts().collect();
        assert_eq!(
            hosts,
            [Ipv4Addr::new(100, 80, 0, 1), Ipv4Addr::new(100, 80, 0, 2)]
        );
    }

    #[test]
    fn bad_ranges_are_refused() {
        for text in ["100.80.0.1/16", "100.80.0.0", "100.80.0.0/33", "x/8"] {
            assert!(text.parse::<Ipv4Range>().is_err(), "{text}");
        }
    }
}
