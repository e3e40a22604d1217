//! Prints the trace of one simulated session on a virtual clock: hello, grant, keepalives,
//! a card re-proof, the card pulled out and put back, and the user quitting.
//!
//! `cargo run -p vigie-protocol --example session`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use vigie_protocol::sim::Pair;
use vigie_protocol::{
    Code, ConnectorConfig, PortRule, PublishedApp, SessionConfig, SessionGrant, SessionId,
    WireGuardKey,
};

fn main() {
    let minute = Duration::from_secs(60);
    let grant = SessionGrant {
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
        idle_timeout: Some(15 * minute),
        max_lifetime: Some(12 * 60 * minute),
        reproof_interval: Some(10 * minute),
        resume_token: None,
    };
    let mut pair = Pair::new(SessionConfig::default(), ConnectorConfig::default(), grant);

    pair.advance(Duration::from_secs(1));
    pair.advance(10 * minute);
    pair.tunnel_traffic();
    pair.remove_card();
    pair.advance(2 * minute);
    pair.insert_card();
    pair.advance(minute);
    pair.note("the user quits");
    let now = pair.now();
    pair.client.end(Code::CLIENT_QUIT, now);
    pair.drive();

    let keepalive = |line: &&String| line.ends_with(": keepalive");
    let keepalives = pair.trace().iter().filter(keepalive).count();
    for line in pair.trace().iter().filter(|line| !keepalive(line)) {
        println!("{line}");
    }
    println!("({keepalives} keepalives not shown)");
}
