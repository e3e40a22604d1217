//! Two-party simulation, when things go wrong: silent peers, refusals, garbage, and what a
//! newer peer may send. Assertions are on events, reasons and states.

use vigie_protocol::{
    ClientEvent, ClientState, Code, ConnectorEvent, ConnectorState, Initiator, Message,
    WireGuardKey,
};

mod common;
use common::*;

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
