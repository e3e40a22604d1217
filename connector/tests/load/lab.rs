//! The load tests' network, in namespaces of their own: the clients', the connector's, and a
//! backend namespace behind the connector whose servers the apps point at, joined by veth
//! links on 198.18.0.0/15. Optionally a WAN namespace sits between the clients and the
//! connector and delays, loses and reorders what crosses it, both ways ([`super::impair`]).
//!
//! ```text
//!  clients ──veth──▶ [ wan: delay, loss, reordering ] ──veth──▶ connector ──veth──▶ backend
//! ```
//!
//! Dropping the [`Lab`] deletes what it made, each thing by its own name: the impairment
//! first, then the links, the listeners, the namespaces. It does not start the connector.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use vigie_lab::{NetNs, VethLink};

use super::impair::{Impaired, Impairment};

/// The backends' network, behind the connector.
const BACKENDS: &str = "198.18.10.0/24";

/// The namespaces and links of one load test (fields drop in this order).
pub struct Lab {
    impaired: Option<Impaired>,
    _links: Vec<VethLink>,
    _listeners: Vec<TcpListener>,
    /// Where the simulated clients run.
    pub clients: NetNs,
    /// Where `vigie-connector serve` runs.
    pub connector: NetNs,
    _wan: Option<NetNs>,
    _backend: NetNs,
    /// The connector's address as the clients reach it.
    pub connector_address: Ipv4Addr,
}

impl Lab {
    /// Clients and connector on one link; `backends` listen for TCP behind the connector
    /// (the kernel answers SYN-ACK for them; nothing accepts).
    pub fn new(backends: &[SocketAddr]) -> Self {
        let clients = NetNs::new().expect("the clients' namespace");
        let connector = NetNs::new().expect("the connector's namespace");
        let link = VethLink::new(&clients, &connector).expect("clients ↔ connector");
        let connector_address = link.addr_b();
        Self::behind(
            clients,
            connector,
            None,
            vec![link],
            connector_address,
            backends,
        )
    }

    /// Clients reach the connector through a WAN namespace that applies `impairment` to
    /// every packet, both ways.
    pub fn impaired(backends: &[SocketAddr], impairment: &Impairment) -> Self {
        let clients = NetNs::new().expect("the clients' namespace");
        let wan = NetNs::new().expect("the WAN namespace");
        let connector = NetNs::new().expect("the connector's namespace");
        let outer = VethLink::new(&clients, &wan).expect("clients ↔ WAN");
        let inner = VethLink::new(&wan, &connector).expect("WAN ↔ connector");
        for setting in ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0"] {
            wan.run("sysctl", &["-qw", setting])
                .expect("the WAN forwards");
        }
        let (to_connector, to_clients) = (host(inner.addr_b()), host(outer.addr_a()));
        let via_wan = outer.addr_b().to_string();
        clients
            .run("ip", &["route", "add", &to_connector, "via", &via_wan])
            .expect("the clients' route to the connector");
        let via_wan = inner.addr_a().to_string();
        connector
            .run("ip", &["route", "add", &to_clients, "via", &via_wan])
            .expect("the connector's route to the clients");
        let sides = [
            interface_with(&wan, outer.addr_b()),
            interface_with(&wan, inner.addr_a()),
        ];
        let impaired = Impaired::apply(&wan, &sides, impairment);
        let connector_address = inner.addr_b();
        let mut lab = Self::behind(
            clients,
            connector,
            Some(wan),
            vec![outer, inner],
            connector_address,
            backends,
        );
        lab.impaired = Some(impaired);
        lab
    }

    /// Adds the backend namespace behind `connector`, with `backends` listening.
    fn behind(
        clients: NetNs,
        connector: NetNs,
        wan: Option<NetNs>,
        mut links: Vec<VethLink>,
        connector_address: Ipv4Addr,
        backends: &[SocketAddr],
    ) -> Self {
        let backend = NetNs::new().expect("the backends' namespace");
        let link = VethLink::new(&connector, &backend).expect("connector ↔ backends");
        let via = link.addr_b().to_string();
        connector
            .run("ip", &["route", "add", BACKENDS, "via", &via])
            .expect("a route to the backends");
        links.push(link);
        let listeners = backends
            .iter()
            .map(|address| listen(&backend, *address))
            .collect();
        Self {
            impaired: None,
            _links: links,
            _listeners: listeners,
            clients,
            connector,
            _wan: wan,
            _backend: backend,
            connector_address,
        }
    }

    /// What impairs the clients' link, if anything.
    pub fn impairment(&self) -> Option<&Impaired> {
        self.impaired.as_ref()
    }
}

/// A listener on `address` in `backend`, the address added to its loopback first.
fn listen(backend: &NetNs, address: SocketAddr) -> TcpListener {
    let std::net::IpAddr::V4(ip) = address.ip() else {
        panic!("the lab's backends are IPv4: {address}");
    };
    backend
        .run("ip", &["addr", "add", &host(ip), "dev", "lo"])
        .expect("a backend's address");
    backend.listen_tcp(address).expect("a backend listens")
}

fn host(address: Ipv4Addr) -> String {
    format!("{address}/32")
}

/// The name of the interface of `netns` that holds `address`.
pub fn interface_with(netns: &NetNs, address: Ipv4Addr) -> String {
    let listed = netns
        .run_stdout("ip", &["-o", "-4", "addr", "show"])
        .expect("the namespace's addresses");
    let wanted = format!("{address}/");
    listed
        .lines()
        .find(|line| {
            line.split_whitespace()
                .nth(3)
                .is_some_and(|a| a.starts_with(&wanted))
        })
        .and_then(|line| line.split_whitespace().nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .unwrap_or_else(|| panic!("no interface holds {address} in {listed}"))
}
