//! Two-party simulation, the life of a session: a client and a connector session through an
//! in-memory pipe on a virtual clock. Assertions are on events, reasons and states; the
//! failure modes are in `simulation_faults.rs`.

use vigie_protocol::sim::Card;
use vigie_protocol::{
    ClientEvent, ClientState, Code, ConnectorEvent, ConnectorState, Initiator, SessionGrant,
    SessionId,
};

mod common;
use common::*;

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
