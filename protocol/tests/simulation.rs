//! Two-party simulation: a client and a connector session through an in-memory pipe on a
//! virtual clock, scenario by scenario. Assertions are on events, reasons and states.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use vigie_protocol::sim::{Card, Pair};
use vigie_protocol::{
    ClientEvent, ClientState, Code, ConnectorConfig, ConnectorEvent, ConnectorState, Initiator,
    Message, PortRule, PublishedApp, SessionConfig, SessionGrant, SessionId, WireGuardKey,
};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

fn grant() -> SessionGrant {
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

fn pair_with(grant: SessionGrant) -> Pair {
    Pair::new(SessionConfig::default(), ConnectorConfig::default(), grant)
}

/// A pair whose session is granted and active.
fn granted() -> Pair {
    let mut pair = pair_with(grant());
    pair.advance(SECOND);
    assert_eq!(pair.client.state(), ClientState::Active);
    assert_eq!(pair.connector.state(), ConnectorState::Active);
    pair
}

fn client_count(pair: &Pair, wanted: impl Fn(&ClientEvent) -> bool) -> usize {
    pair.client_events()
        .iter()
        .filter(|(_, e)| wanted(e))
        .count()
}

fn connector_count(pair: &Pair, wanted: impl Fn(&ConnectorEvent) -> bool) -> usize {
    pair.connector_events()
        .iter()
        .filter(|(_, e)| wanted(e))
        .count()
}

fn assert_ended(pair: &Pair, reason: Code, client_by: Initiator, connector_by: Initiator) {
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

#[test]
fn full_session_grant_keepalives_reproof_suspend_resume_end() {
    let mut pair = granted();
    let granted_grant = pair.client_events().iter().find_map(|(_, e)| match e {
        ClientEvent::Granted(grant) => Some(grant.clone()),
        _ => None,
    });
    assert_eq!(granted_grant, Some(grant()));
    assert_eq!(pair.client.session_id(), Some(SessionId([0x5e; 16])));

    for _ in 0..12 {
        pair.advance(5 * MINUTE);
        pair.tunnel_traffic();
    }
    let reproofs = client_count(&pair, |e| matches!(e, ClientEvent::ReproofRequested { .. }));
    assert_eq!(reproofs, 6, "one re-proof every 10 minutes over an hour");
    let answered = connector_count(&pair, |e| {
        matches!(e, ConnectorEvent::ReproofAnswered { .. })
    });
    assert_eq!(answered, 6);
    let keepalives = pair
        .trace()
        .iter()
        .filter(|l| l.ends_with("client → connector: keepalive"));
    assert!(
        keepalives.count() >= 200,
        "a keepalive every 15 s of silence"
    );
    assert!(pair.client_ending().is_none() && pair.connector_ending().is_none());

    pair.remove_card();
    assert_eq!(
        pair.client.state(),
        ClientState::Suspended {
            by: Initiator::Local
        }
    );
    assert_eq!(
        pair.connector.state(),
        ConnectorState::Suspended {
            by: Initiator::Peer
        }
    );
    let suspended = ConnectorEvent::Suspended {
        reason: Code::CARD_REMOVED,
    };
    assert_eq!(
        pair.connector_events().last().map(|(_, e)| e),
        Some(&suspended)
    );

    pair.advance(2 * MINUTE);
    pair.insert_card();
    assert_eq!(pair.client.state(), ClientState::Active);
    assert_eq!(pair.connector.state(), ConnectorState::Active);
    let resumed = ClientEvent::Resumed {
        reason: Code::CARD_REINSERTED,
    };
    assert_eq!(pair.client_events().last().map(|(_, e)| e), Some(&resumed));
    assert_eq!(
        connector_count(&pair, |e| matches!(
            e,
            ConnectorEvent::ResumeRequested { .. }
        )),
        1
    );
    assert_eq!(
        client_count(&pair, |e| matches!(e, ClientEvent::ReproofRequested { .. })),
        7
    );

    let now = pair.now();
    pair.client.end(Code::CLIENT_QUIT, now);
    pair.drive();
    assert_ended(&pair, Code::CLIENT_QUIT, Initiator::Local, Initiator::Peer);
}

#[test]
fn idle_session_is_warned_then_ended() {
    let mut pair = granted();
    pair.advance(12 * MINUTE);
    pair.tunnel_traffic();
    pair.advance(13 * MINUTE);
    let notices: Vec<_> = pair
        .client_events()
        .iter()
        .filter_map(|(at, e)| match e {
            ClientEvent::Notice(notice) => Some((*at, notice.reason, notice.remaining)),
            _ => None,
        })
        .collect();
    let warned_at = SECOND + 12 * MINUTE + 13 * MINUTE;
    assert_eq!(notices, [(warned_at, Code::IDLE_TIMEOUT_SOON, 2 * MINUTE)]);
    assert!(
        pair.client_ending().is_none(),
        "traffic at 12 min restarted the idle clock"
    );

    pair.advance(2 * MINUTE);
    assert_ended(&pair, Code::IDLE_TIMEOUT, Initiator::Peer, Initiator::Local);
}

#[test]
fn lifetime_is_reached_despite_traffic() {
    let mut pair = pair_with(SessionGrant {
        max_lifetime: Some(60 * MINUTE),
        reproof_interval: None,
        ..grant()
    });
    for _ in 0..11 {
        pair.advance(5 * MINUTE);
        pair.tunnel_traffic();
    }
    pair.advance(4 * MINUTE);
    let warned = pair.client_events().iter().any(
        |(_, e)| matches!(e, ClientEvent::Notice(n) if n.reason == Code::LIFETIME_ENDING_SOON),
    );
    assert!(warned, "the user hears about the end two minutes before");
    assert!(pair.client_ending().is_none());
    pair.advance(MINUTE);
    assert_ended(
        &pair,
        Code::LIFETIME_REACHED,
        Initiator::Peer,
        Initiator::Local,
    );
    assert_eq!(pair.elapsed(), 60 * MINUTE);
}

#[test]
fn missed_reproof_ends_the_session() {
    let mut pair = granted();
    pair.card = Card::Silent;
    pair.advance(10 * MINUTE);
    assert!(
        pair.client_ending().is_none(),
        "the card still has time to answer"
    );
    pair.advance(30 * SECOND);
    assert_ended(
        &pair,
        Code::REPROOF_MISSED,
        Initiator::Peer,
        Initiator::Local,
    );
}

#[test]
fn rejected_reproof_ends_the_session() {
    let mut pair = granted();
    pair.card = Card::WrongKey;
    pair.advance(10 * MINUTE);
    assert_ended(
        &pair,
        Code::REPROOF_FAILED,
        Initiator::Peer,
        Initiator::Local,
    );
}

#[test]
fn a_rejected_proof_on_resume_does_not_resume() {
    let mut pair = granted();
    pair.remove_card();
    pair.card = Card::WrongKey;
    pair.insert_card();
    assert_eq!(
        client_count(&pair, |e| matches!(e, ClientEvent::Resumed { .. })),
        0
    );
    assert_ended(
        &pair,
        Code::REPROOF_FAILED,
        Initiator::Peer,
        Initiator::Local,
    );
}

#[test]
fn the_card_pulled_again_during_resume_suspends_again() {
    let mut pair = granted();
    pair.remove_card();
    pair.card = Card::Silent;
    pair.insert_card();
    assert_eq!(pair.client.state(), ClientState::Resuming);
    pair.remove_card();
    assert_eq!(
        pair.client.state(),
        ClientState::Suspended {
            by: Initiator::Local
        }
    );
    assert_eq!(
        pair.connector.state(),
        ConnectorState::Suspended {
            by: Initiator::Peer
        }
    );
    pair.advance(MINUTE);
    assert!(
        pair.connector_ending().is_none(),
        "no re-proof is pending while the card is out"
    );
    pair.card = Card::Answers;
    pair.insert_card();
    assert_eq!(pair.connector.state(), ConnectorState::Active);
}

#[test]
fn a_silent_client_is_detected_by_the_connector() {
    let mut pair = granted();
    pair.client_mute = true;
    pair.advance(43 * SECOND);
    assert!(pair.connector_ending().is_none());
    pair.advance(2 * SECOND);
    assert_ended(
        &pair,
        Code::PEER_UNRESPONSIVE,
        Initiator::Peer,
        Initiator::Local,
    );
}

#[test]
fn a_dead_link_is_detected_on_both_sides() {
    let mut pair = granted();
    pair.client_mute = true;
    pair.connector_mute = true;
    pair.advance(MINUTE);
    assert_ended(
        &pair,
        Code::PEER_UNRESPONSIVE,
        Initiator::Local,
        Initiator::Local,
    );
}

#[test]
fn a_connector_that_never_grants_times_the_handshake_out() {
    let mut pair = pair_with(grant());
    pair.grant = None;
    pair.advance(29 * SECOND);
    assert_eq!(pair.connector.state(), ConnectorState::AwaitingGrant);
    pair.advance(SECOND);
    assert_ended(
        &pair,
        Code::HANDSHAKE_TIMEOUT,
        Initiator::Local,
        Initiator::Peer,
    );
}

#[test]
fn a_refused_client_hears_the_reason() {
    let mut pair = pair_with(grant());
    pair.grant = None;
    pair.drive();
    let requested = pair.connector_events().iter().find_map(|(_, e)| match e {
        ConnectorEvent::SessionRequested { hello, client_key } => {
            Some((hello.clone(), *client_key))
        }
        _ => None,
    });
    let (hello, key) = requested.expect("the connector heard the hello and the key");
    assert_eq!(
        (hello.software.as_str(), key),
        ("vigie-sim", WireGuardKey([0xc1; 32]))
    );

    let now = pair.now();
    pair.connector.end(Code::CARD_REVOKED, now);
    pair.drive();
    assert_ended(&pair, Code::CARD_REVOKED, Initiator::Peer, Initiator::Local);
    let reason = pair.client_ending().map(|e| e.reason.to_string());
    assert_eq!(reason.as_deref(), Some("VIGIE-E-201 card revoked"));
}

#[test]
fn the_connector_can_suspend_and_resume() {
    let mut pair = granted();
    let now = pair.now();
    pair.connector.suspend(Code::ADMIN_SUSPEND, now).unwrap();
    pair.drive();
    assert_eq!(
        pair.client.state(),
        ClientState::Suspended {
            by: Initiator::Peer
        }
    );
    assert!(
        pair.client.resume(now).is_err(),
        "only the side that suspended resumes"
    );
    pair.connector.resume(Code::ADMIN_RESUMED, now).unwrap();
    pair.drive();
    assert_eq!(pair.client.state(), ClientState::Active);
    let resumed = ClientEvent::Resumed {
        reason: Code::ADMIN_RESUMED,
    };
    assert_eq!(pair.client_events().last().map(|(_, e)| e), Some(&resumed));
}

#[test]
fn datagrams_flow_both_ways_and_count_as_activity() {
    let mut pair = granted();
    for _ in 0..4 {
        pair.advance(10 * MINUTE);
        let now = pair.now();
        pair.client.send_datagram(&[0x04; 148], now).unwrap();
        pair.connector.send_datagram(&[0x04; 92], now).unwrap();
        pair.drive();
    }
    assert!(
        pair.client_ending().is_none(),
        "datagrams kept the session from going idle"
    );
    assert_eq!(
        connector_count(
            &pair,
            |e| matches!(e, ConnectorEvent::Datagram(p) if p.len() == 148)
        ),
        4
    );
    assert_eq!(
        client_count(
            &pair,
            |e| matches!(e, ClientEvent::Datagram(p) if p.len() == 92)
        ),
        4
    );
}

#[test]
fn datagrams_are_dropped_while_suspended() {
    let mut pair = granted();
    let now = pair.now();
    pair.connector.send_datagram(&[1, 2, 3], now).unwrap();
    pair.client.suspend(Code::CARD_REMOVED, now).unwrap();
    pair.drive();
    assert_eq!(
        client_count(&pair, |e| matches!(e, ClientEvent::Datagram(_))),
        0
    );
    assert!(pair.client.send_datagram(&[1], now).is_err());
    assert!(!pair.client.is_closed());
}

#[test]
fn bytes_delivered_one_at_a_time() {
    let mut pair = pair_with(grant());
    pair.byte_by_byte = true;
    pair.advance(SECOND);
    assert_eq!(pair.client.state(), ClientState::Active);
    pair.advance(10 * MINUTE);
    let answered = connector_count(&pair, |e| {
        matches!(e, ConnectorEvent::ReproofAnswered { .. })
    });
    assert_eq!(answered, 1);
    pair.remove_card();
    pair.insert_card();
    assert_eq!(pair.client.state(), ClientState::Active);
    let now = pair.now();
    pair.client.end(Code::CLIENT_QUIT, now);
    pair.drive();
    assert_ended(&pair, Code::CLIENT_QUIT, Initiator::Local, Initiator::Peer);
}

/// Garbage, truncated and oversized frames each end the session with a protocol error that
/// says what was wrong; the other side hears the error message.
#[test]
fn garbage_truncated_and_oversized_frames_end_the_session() {
    let cases: [(&[u8], &str); 4] = [
        (
            b"GET / HTTP/1.1\r\nHost: vigie\r\n\r\n",
            "larger than the limit",
        ),
        (&[0, 0x10, 0, 0], "larger than the limit"),
        (&[0, 0, 0, 5, 1, 0x09, 1, 0, 2], "runs past the end"),
        (&[0, 0, 0, 1, 1], "too short for its header"),
    ];
    for (bytes, says) in cases {
        let mut pair = granted();
        pair.inject_to_connector(bytes);
        let ending = pair.connector_ending().expect("garbage ends the session");
        assert_eq!(
            (ending.reason, ending.initiator),
            (Code::PROTOCOL_ERROR, Initiator::Local)
        );
        let detail = ending.detail.as_deref().unwrap_or_default();
        assert!(detail.contains(says), "{detail:?} should say {says:?}");
        let client = pair.client_ending().expect("the client hears the error");
        assert_eq!(
            (client.reason, client.initiator),
            (Code::PROTOCOL_ERROR, Initiator::Peer)
        );
        assert_eq!(client.detail.as_deref(), Some(detail));
    }
}

#[test]
fn a_frame_of_another_version_is_refused_with_the_version_code() {
    let mut pair = granted();
    pair.inject_to_client(&[0, 0, 0, 2, 2, 0x06]);
    assert_ended(
        &pair,
        Code::VERSION_UNSUPPORTED,
        Initiator::Local,
        Initiator::Peer,
    );
}

#[test]
fn a_message_out_of_place_is_a_protocol_error() {
    let mut pair = granted();
    let hello = vigie_protocol::Hello::new(Default::default(), "rogue");
    pair.inject_to_client(&Message::Hello(hello).encode().unwrap());
    assert_ended(
        &pair,
        Code::PROTOCOL_ERROR,
        Initiator::Local,
        Initiator::Peer,
    );
    let detail = pair
        .client_ending()
        .and_then(|e| e.detail.clone())
        .unwrap_or_default();
    assert!(detail.contains("unexpected hello"), "{detail}");
}

/// Appends a field with an unknown tag to an encoded frame and fixes its length prefix.
fn with_unknown_field(frame: &[u8]) -> Vec<u8> {
    let mut frame = frame.to_vec();
    frame.extend_from_slice(&[0x70, 0, 3, 0xaa, 0xbb, 0xcc]);
    let len = u32::try_from(frame.len() - 4).expect("a small test frame");
    frame[..4].copy_from_slice(&len.to_be_bytes());
    frame
}

#[test]
fn a_newer_peers_unknown_field_is_ignored() {
    let mut pair = granted();
    let suspend = Message::Suspend {
        reason: Code::ADMIN_SUSPEND,
    }
    .encode()
    .unwrap();
    pair.inject_to_client(&with_unknown_field(&suspend));
    assert_eq!(
        pair.client.state(),
        ClientState::Suspended {
            by: Initiator::Peer
        }
    );
    let event = ClientEvent::Suspended {
        reason: Code::ADMIN_SUSPEND,
    };
    assert_eq!(pair.client_events().last().map(|(_, e)| e), Some(&event));
}

#[test]
fn unknown_message_types_are_ignored_or_refused_by_range() {
    let mut pair = granted();
    pair.inject_to_client(&[0, 0, 0, 5, 1, 0xc0, 1, 0, 0]);
    assert_eq!(
        pair.client.state(),
        ClientState::Active,
        "0xc0 is in the ignorable range"
    );
    pair.inject_to_client(&[0, 0, 0, 5, 1, 0x40, 1, 0, 0]);
    assert_ended(
        &pair,
        Code::PROTOCOL_ERROR,
        Initiator::Local,
        Initiator::Peer,
    );
    let detail = pair
        .client_ending()
        .and_then(|e| e.detail.clone())
        .unwrap_or_default();
    assert!(detail.contains("unknown message type 0x40"), "{detail}");
}

#[test]
fn an_unknown_reason_from_a_newer_peer_still_ends_the_session() {
    let mut pair = granted();
    let end = Message::End {
        reason: Code::from_number(777),
    }
    .encode()
    .unwrap();
    pair.inject_to_client(&end);
    let ending = pair.client_ending().expect("ended");
    assert_eq!(ending.reason.to_string(), "VIGIE-E-777 unknown(777)");
}
