//! What the simulation tests share: a typical grant, pairs, and assertions on endings.
#![allow(
    dead_code,
    reason = "each test file uses its own share of these helpers"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use vigie_protocol::sim::Pair;
use vigie_protocol::{
    ClientEvent, ClientState, Code, ConnectorConfig, ConnectorEvent, ConnectorState, Initiator,
    PortRule, PublishedApp, SessionConfig, SessionGrant, SessionId, WireGuardKey,
};

pub const SECOND: Duration = Duration::from_secs(1);
pub const MINUTE: Duration = Duration::from_secs(60);

pub fn grant() -> SessionGrant {
    SessionGrant {
        version: 1,
        session_id: SessionId([0x5e; 16]),
        tunnel_address: IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)),
        connector_key: WireGuardKey([0xc0; 32]),
        endpoints: vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            443,
        )],
        apps: vec![PublishedApp {
            name: "Dossier patient".into(),
            dns_name: "dpi.chu.example".into(),
            address: IpAddr::V4(Ipv4Addr::new(100, 100, 0, 10)),
            ports: vec![PortRule::tcp(443)],
        }],
        dns_server: Some(IpAddr::V4(Ipv4Addr::new(100, 100, 0, 53))),
        idle_timeout: Some(15 * MINUTE),
        max_lifetime: Some(8 * 60 * MINUTE),
        reproof_interval: Some(10 * MINUTE),
        resume_token: None,
    }
}

pub fn pair_with(grant: SessionGrant) -> Pair {
    Pair::new(SessionConfig::default(), ConnectorConfig::default(), grant)
}

/// A pair whose session is granted and active.
pub fn granted() -> Pair {
    let mut pair = pair_with(grant());
    pair.advance(SECOND);
    assert_eq!(pair.client.state(), ClientState::Active);
    assert_eq!(pair.connector.state(), ConnectorState::Active);
    pair
}

pub fn client_count(pair: &Pair, wanted: impl Fn(&ClientEvent) -> bool) -> usize {
    pair.client_events()
        .iter()
        .filter(|(_, e)| wanted(e))
        .count()
}

pub fn connector_count(pair: &Pair, wanted: impl Fn(&ConnectorEvent) -> bool) -> usize {
    pair.connector_events()
        .iter()
        .filter(|(_, e)| wanted(e))
        .count()
}

pub fn assert_ended(pair: &Pair, reason: Code, client_by: Initiator, connector_by: Initiator) {
    let client = pair.client_ending().expect("the client's session ended");
    let connector = pair
        .connector_ending()
        .expect("the connector's session ended");
    assert_eq!(
        (client.reason, client.initiator),
        (reason, client_by),
        "client: {client:?}"
    );
    assert_eq!(
        (connector.reason, connector.initiator),
        (reason, connector_by)
    );
    assert!(pair.client.is_closed() && pair.connector.is_closed());
    assert_eq!(pair.client.poll_timeout(), None);
    assert_eq!(pair.connector.poll_timeout(), None);
}
