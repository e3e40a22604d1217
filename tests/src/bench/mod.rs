//! Vigie's tunnel as the shared benchmark harness measures it (`shared/bench`, adapter
//! `tests/bench/vigie-tunnel.sh`): the client's tunnel in namespace A and the connector's
//! data plane in namespace B, each in its own process, with the harness's keys and
//! addresses.
//!
//! ```text
//!  A: vigie-lab bench tunnel-client           B: vigie-lab bench tunnel-connector
//!     client Tunnel (TUN BENCH_IF_A,             DataPlane (UDP BENCH_PORT_B, TUN BENCH_IF_B,
//!     route to BENCH_TUN_B only) ── WireGuard ──▶ filter, nftables), one session; the "app"
//!                                                 is BENCH_TUN_B itself, on B's loopback
//! ```
//!
//! These are the same types `vigie up` and `vigie-connector serve` run after a grant: the
//! benchmark measures the data plane. [`bare`] is the baseline end without the connector's
//! filter and NAT, to measure what they cost. Admission is left out: the harness hands both ends
//! their WireGuard keys, as a grant would, and the card plays no part in moving packets.

pub mod bare;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use vigie_client::tunnel::{ControlLink, DnsMode, Tunnel, TunnelConfig};
use vigie_connector::admission::AppAccess;
use vigie_connector::dataplane::{DataPlane, DataPlaneConfig, NatApp, SessionSpec};
use vigie_protocol::{PortRule, PublishedApp, SessionGrant, SessionId, WireGuardKey};
use x25519_dalek::StaticSecret;

/// The session id both ends agree on.
const SESSION: SessionId = SessionId([0xbe; 16]);

/// What the harness gives an adapter, read from `BENCH_*` variables. Its `Debug` leaves the
/// private keys out.
pub struct BenchEnv {
    pub tun_a: Ipv4Addr,
    pub tun_b: Ipv4Addr,
    pub underlay_b: Ipv4Addr,
    pub port_b: u16,
    pub if_a: String,
    pub if_b: String,
    pub mtu: u16,
    priv_a: String,
    priv_b: String,
}

impl std::fmt::Debug for BenchEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchEnv")
            .field("tun_b", &self.tun_b)
            .field("underlay_b", &self.underlay_b)
            .field("port_b", &self.port_b)
            .finish_non_exhaustive()
    }
}

impl BenchEnv {
    /// Reads the harness's variables; names the first one missing or unreadable.
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            tun_a: var("BENCH_TUN_A")?,
            tun_b: var("BENCH_TUN_B")?,
            underlay_b: var("BENCH_UNDERLAY_B")?,
            port_b: var("BENCH_PORT_B")?,
            if_a: var("BENCH_IF_A")?,
            if_b: var("BENCH_IF_B")?,
            mtu: var("BENCH_MTU")?,
            priv_a: var("BENCH_PRIV_A")?,
            priv_b: var("BENCH_PRIV_B")?,
        })
    }

    fn secret(text: &str, name: &str) -> Result<StaticSecret> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .with_context(|| format!("{name} is not base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{name} is not a 32-byte WireGuard key"))?;
        Ok(StaticSecret::from(key))
    }

    fn public(secret: &StaticSecret) -> WireGuardKey {
        WireGuardKey(x25519_dalek::PublicKey::from(secret).to_bytes())
    }

    /// The clients' range: the upper half of the harness's /24, away from both ends.
    fn clients(&self) -> Result<vigie_connector::apps::Ipv4Range> {
        let [a, b, c, _] = self.tun_b.octets();
        format!("{a}.{b}.{c}.128/25")
            .parse()
            .context("the clients' range")
    }

    /// The client's address in the tunnel: the second host of the clients' range (the
    /// connector's device takes the first).
    fn client_address(&self) -> Ipv4Addr {
        let [a, b, c, _] = self.tun_b.octets();
        Ipv4Addr::new(a, b, c, 130)
    }
}

fn var<T: std::str::FromStr>(name: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text = std::env::var(name).with_context(|| format!("{name} is not set"))?;
    text.parse()
        .map_err(|e| anyhow::anyhow!("{name}={text:?}: {e}"))
}

/// Every TCP and UDP port, and ICMP echo: the harness's iperf3 and ping.
fn all_ports() -> Vec<vigie_connector::apps::PortRange> {
    ["tcp/1-65535", "udp/1-65535"]
        .iter()
        .filter_map(|rule| rule.parse().ok())
        .collect()
}

/// Namespace B: the data plane with one session for A's key; runs until SIGTERM or SIGINT.
pub fn run_connector(env: &BenchEnv) -> Result<()> {
    let secret = BenchEnv::secret(&env.priv_b, "BENCH_PRIV_B")?;
    let client_key = BenchEnv::public(&BenchEnv::secret(&env.priv_a, "BENCH_PRIV_A")?);
    let config = DataPlaneConfig {
        enabled: true,
        address: IpAddr::V4(env.underlay_b),
        port: env.port_b,
        tun: env.if_b.clone(),
        mtu: env.mtu,
    };
    let app = NatApp {
        name: "bench".into(),
        virtual_address: env.tun_b,
        backend: env.tun_b,
        ports: all_ports(),
    };
    let signals = Signals::block()?;
    let plane = DataPlane::start(&config, secret, env.clients()?, None, &[app])
        .context("the data plane did not start")?;
    let access = AppAccess {
        name: "bench".into(),
        dns_name: "bench.vigie.test".into(),
        virtual_address: env.tun_b,
        ports: all_ports(),
    };
    let spec = SessionSpec {
        id: SESSION,
        client_key,
        tunnel_address: env.client_address(),
        apps: vec![access],
        control: None,
    };
    plane.add_session(spec).context("the session")?;
    eprintln!(
        "vigie bench: connector data plane on {}",
        plane.local_addr()
    );
    signals.wait();
    Ok(())
}

/// Namespace A: the client's tunnel as a grant for B would set it up; runs until SIGTERM
/// or SIGINT.
pub fn run_client(env: &BenchEnv) -> Result<()> {
    let secret = BenchEnv::secret(&env.priv_a, "BENCH_PRIV_A")?;
    let connector = BenchEnv::public(&BenchEnv::secret(&env.priv_b, "BENCH_PRIV_B")?);
    if env.mtu != 1420 {
        bail!("the client's tunnel has an MTU of 1420; run the harness with BENCH_MTU=1420");
    }
    let grant = SessionGrant {
        version: 1,
        session_id: SESSION,
        tunnel_address: IpAddr::V4(env.client_address()),
        connector_key: connector,
        endpoints: vec![SocketAddr::from((env.underlay_b, env.port_b))],
        apps: vec![PublishedApp {
            name: "bench".into(),
            dns_name: "bench.vigie.test".into(),
            address: IpAddr::V4(env.tun_b),
            ports: vec![PortRule::tcp(5201)],
        }],
        dns_server: None,
        idle_timeout: None,
        max_lifetime: None,
        reproof_interval: None,
        resume_token: None,
    };
    let config = TunnelConfig {
        device: env.if_a.clone(),
        dns: DnsMode::Off,
    };
    // Never read: the benchmark runs over UDP, and a full queue only drops.
    let (datagrams, _unread) = tokio::sync::mpsc::channel(1);
    let link = ControlLink {
        datagrams,
        udp_blocked: false,
    };
    let signals = Signals::block()?;
    let _tunnel = Tunnel::start(&grant, &secret, &config, link).context("the tunnel")?;
    eprintln!("vigie bench: client tunnel {} up", env.if_a);
    signals.wait();
    Ok(())
}

/// SIGTERM and SIGINT, blocked in every thread (set before any starts) and awaited.
struct Signals(nix::sys::signal::SigSet);

impl Signals {
    fn block() -> Result<Self> {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGTERM);
        set.add(Signal::SIGINT);
        set.thread_block().context("blocking SIGTERM and SIGINT")?;
        Ok(Self(set))
    }

    fn wait(&self) {
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BenchEnv {
        BenchEnv {
            tun_a: Ipv4Addr::new(100, 64, 3, 1),
            tun_b: Ipv4Addr::new(100, 64, 3, 2),
            underlay_b: Ipv4Addr::new(198, 18, 0, 2),
            port_b: 51852,
            if_a: "zb1a2b33a".into(),
            if_b: "zb1a2b33b".into(),
            mtu: 1420,
            priv_a: base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
            priv_b: "not a key".into(),
        }
    }

    #[test]
    fn the_client_sits_in_the_upper_half_of_the_harness_range_away_from_both_ends() {
        let env = env();
        let clients = env.clients().expect("a range");
        assert_eq!(clients.to_string(), "100.64.3.128/25");
        assert!(clients.contains(env.client_address()));
        assert!(!clients.contains(env.tun_a) && !clients.contains(env.tun_b));
    }

    #[test]
    fn keys_are_read_as_wireguard_writes_them_and_a_bad_one_is_named() {
        let env = env();
        assert!(BenchEnv::secret(&env.priv_a, "BENCH_PRIV_A").is_ok());
        let error = BenchEnv::secret(&env.priv_b, "BENCH_PRIV_B")
            .err()
            .expect("not base64");
        assert!(error.to_string().contains("BENCH_PRIV_B"), "{error}");
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let error = BenchEnv::secret(&short, "BENCH_PRIV_A")
            .err()
            .expect("16 bytes");
        assert!(error.to_string().contains("32-byte"), "{error}");
    }
}
