//! Arbitrary bytes into the frame decoder and into both session state machines: nothing may
//! panic, and whatever decodes must re-encode and decode to the same message.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vigie_protocol::sim::{Pair, epoch};
use vigie_protocol::{
    ClientSession, ConnectorConfig, ConnectorSession, Decoded, FrameDecoder, Hello, SessionConfig,
    SessionGrant, SessionId, WireGuardKey, decode_frame,
};

fuzz_target!(|data: &[u8]| {
    roundtrip(data);
    stream(data);
    sessions(data);
});

/// One whole frame: if it decodes, it re-encodes, and the result decodes to the same message.
fn roundtrip(data: &[u8]) {
    if let Ok(Decoded::Message(message)) = decode_frame(data) {
        let encoded = message.encode().expect("a decoded message re-encodes");
        assert_eq!(decode_frame(&encoded), Ok(Decoded::Message(message)));
    }
}

/// The same bytes as a stream cut into chunks whose size the first byte picks.
fn stream(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1).max(1));
    let mut decoder = FrameDecoder::new();
    for piece in data.chunks(chunk) {
        decoder.push(piece);
        while let Ok(Some(_)) = decoder.next_frame() {}
    }
}

/// The bytes as input to a fresh client, a fresh connector, and both sides of a live session.
fn sessions(data: &[u8]) {
    let now = epoch();
    let later = now + Duration::from_secs(3600);

    let mut connector = ConnectorSession::new(ConnectorConfig::default(), now);
    connector.handle_input(data, now);
    drain_connector(&mut connector);
    connector.handle_timeout(later);
    drain_connector(&mut connector);

    let hello = Hello::new(Default::default(), "fuzz");
    let key = WireGuardKey([1; 32]);
    let mut client = ClientSession::new(SessionConfig::default(), hello, key, now).expect("hello");
    client.handle_input(data, now);
    while client.poll_event().is_some() {}
    client.handle_timeout(later);
    assert!(
        client.is_closed(),
        "an hour without a grant always ends the session"
    );

    let mut pair = Pair::new(
        SessionConfig::default(),
        ConnectorConfig::default(),
        grant(),
    );
    pair.advance(Duration::from_secs(1));
    pair.inject_to_client(data);
    pair.inject_to_connector(data);
    pair.advance(Duration::from_secs(7200));
    assert!(
        pair.client.is_closed() && pair.connector.is_closed(),
        "the lifetime is one hour"
    );
}

fn drain_connector(connector: &mut ConnectorSession) {
    while connector.poll_event().is_some() {}
    while connector.poll_transmit().is_some() {}
}

fn grant() -> SessionGrant {
    SessionGrant {
        version: 1,
        session_id: SessionId([9; 16]),
        tunnel_address: std::net::Ipv4Addr::new(100, 64, 0, 2).into(),
        connector_key: WireGuardKey([2; 32]),
        endpoints: Vec::new(),
        apps: Vec::new(),
        dns_server: None,
        idle_timeout: Some(Duration::from_secs(900)),
        max_lifetime: Some(Duration::from_secs(3600)),
        reproof_interval: Some(Duration::from_secs(600)),
        resume_token: None,
    }
}
