//! Live sessions through the real `vigie-connector serve`: card re-proofs with the software
//! key, and peers that are slow on purpose.

mod serve_common;

use std::sync::Arc;
use std::time::Duration;

use serve_common::client::{self, Control, Quic, SoftCard, connect_quic, connect_tcp};
use serve_common::{PATIENCE, Served, next_event, serve_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use vigie_protocol::{ClientEvent, Code, Initiator};

type QuicControl = Control<quinn::RecvStream, quinn::SendStream>;

/// A granted session over QUIC; the connection is returned to keep it open.
async fn granted_quic(served: &Served, card: &SoftCard) -> (QuicControl, Quic) {
    let config = SoftCard::tls_config(&served.world, Some(card), false);
    let quic = connect_quic(served.address, config).await.expect("QUIC");
    let (send, recv) = quic.connection.open_bi().await.expect("a stream");
    let mut control = Control::new(recv, send);
    let event = next_event(&mut control).await;
    assert!(matches!(event, ClientEvent::Granted(_)), "{event:?}");
    (control, quic)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_card_proves_itself_again_and_a_wrong_signature_ends_the_session() {
    let served = serve_with("", "reproof_interval = \"1s\"");
    let card = SoftCard::load(&served.world, "cps4-doctor");
    let (mut control, _quic) = granted_quic(&served, &card).await;

    // Two rounds: the second challenge only comes if the first answer was accepted.
    for round in 0..2 {
        let ClientEvent::ReproofRequested { signing_input, .. } = next_event(&mut control).await
        else {
            panic!("round {round}: a re-proof challenge was expected");
        };
        control.answer(&card, &signing_input).await.expect("answer");
    }
    let ClientEvent::ReproofRequested { .. } = next_event(&mut control).await else {
        panic!("the session goes on after good answers");
    };
    control.quit().await.expect("quit");

    // Another session answers with a signature by someone else's key.
    let (mut control, _quic) = granted_quic(&served, &card).await;
    let impostor = SoftCard::load(&served.world, "cps4-nurse");
    let ClientEvent::ReproofRequested { signing_input, .. } = next_event(&mut control).await else {
        panic!("a re-proof challenge was expected");
    };
    control
        .answer(&impostor, &signing_input)
        .await
        .expect("answer");
    let ClientEvent::Ended(ending) = next_event(&mut control).await else {
        panic!("the session ends");
    };
    assert_eq!(
        (ending.reason, ending.initiator),
        (Code::REPROOF_FAILED, Initiator::Peer)
    );

    let ends = served.wait_audit("session.end", 2);
    let reasons: Vec<u64> = ends
        .iter()
        .map(|r| r["fields"]["reason"].as_u64().expect("a code"))
        .collect();
    assert!(
        reasons.contains(&u64::from(Code::REPROOF_FAILED.number())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&u64::from(Code::CLIENT_QUIT.number())),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cps3_card_answers_with_pkcs1_over_tcp() {
    let served = serve_with("", "reproof_interval = \"1s\"");
    let card = SoftCard::load(&served.world, "cps3-doctor");
    let config = SoftCard::tls_config(&served.world, Some(&card), true);
    let stream = connect_tcp(served.address, config).await.expect("TLS 1.2");
    let (reader, writer) = tokio::io::split(stream);
    let mut control = Control::new(reader, writer);
    assert!(matches!(
        next_event(&mut control).await,
        ClientEvent::Granted(_)
    ));
    for _ in 0..2 {
        let ClientEvent::ReproofRequested { signing_input, .. } = next_event(&mut control).await
        else {
            panic!("a re-proof challenge was expected");
        };
        control.answer(&card, &signing_input).await.expect("answer");
    }
    control.quit().await.expect("quit");
    let ends = served.wait_audit("session.end", 1);
    assert_eq!(ends[0]["fields"]["reason"], Code::CLIENT_QUIT.number());
}

/// Sends the start of a TLS record, then one more byte a second, as a slow-loris peer.
async fn slow_peer(served: &Served) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let mut socket = tokio::net::TcpStream::connect(served.address)
        .await
        .expect("connect");
    tokio::spawn(async move {
        let mut buffer = [0u8; 64];
        for byte in [0x16u8, 0x03, 0x01, 0x02, 0x00].into_iter().cycle() {
            socket.write_all(&[byte]).await?;
            tokio::select! {
                read = socket.read(&mut buffer) => return read.map(|_| ()),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_peer_stalls_no_one_and_is_dropped_at_the_handshake_timeout() {
    let served = serve_with("handshake_timeout = \"10s\"", "");
    let slow = slow_peer(&served).await;
    let card = SoftCard::load(&served.world, "cps4-nurse");
    let (mut control, _quic) = granted_quic(&served, &card).await;
    control.quit().await.expect("quit");
    let card = SoftCard::load(&served.world, "cps3-doctor");
    let config = SoftCard::tls_config(&served.world, Some(&card), true);
    connect_tcp(served.address, config)
        .await
        .expect("a TLS handshake while the slow peer dawdles");
    assert!(!slow.is_finished(), "the slow peer is still being heard");

    // The connector closes the slow peer once its handshake time is up.
    let closed = tokio::time::timeout(PATIENCE, slow).await.expect("closed");
    let _ = closed.expect("the slow task ran");
    assert!(
        served.log().contains("TLS handshake timed out"),
        "{}",
        served.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn handshakes_beyond_the_limit_are_dropped_at_once() {
    let served = serve_with("max_handshakes = 1\nhandshake_timeout = \"60s\"", "");
    let slow = slow_peer(&served).await;
    // The connector has given the slow peer the only permit.
    served.wait_log("TCP connection accepted");
    let mut late = tokio::net::TcpStream::connect(served.address)
        .await
        .expect("connect");
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(PATIENCE, late.read(&mut buffer))
        .await
        .expect("the connector drops the late peer");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(!slow.is_finished(), "the slow peer still holds its permit");
    served.wait_log("too many handshakes in flight");
    slow.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connector_started_again_after_a_crash_tells_quic_clients_their_connection_is_gone() {
    let mut served = serve_with("", "");
    served.pin_port();
    let nurse = SoftCard::load(&served.world, "cps4-nurse");
    let mut config = client::quic_config(SoftCard::tls_config(&served.world, Some(&nurse), false));
    // The client sends something often, as a control session's keepalives do.
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_millis(300)));
    config.transport_config(Arc::new(transport));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("UDP");
    let connection = client::connect_quic_with(&endpoint, served.address, config).await;
    let connection = connection.expect("QUIC");
    let (send, recv) = connection.open_bi().await.expect("a stream");
    let mut control = Control::new(recv, send);
    let event = next_event(&mut control).await;
    assert!(matches!(event, ClientEvent::Granted(_)), "{event:?}");

    let address = served.address;
    served.kill();
    assert_eq!(
        served.restart(),
        address,
        "the connector is back at its address"
    );
    // The new process has never heard of the connection. Its stateless reset is signed with
    // the key the first one used (derived from the state folder's WireGuard key), so the
    // client believes it and ends the connection at once; a reset signed with another key
    // is ignored, and the client would wait out its idle timeout (30 s) instead.
    let closed = tokio::time::timeout(2 * PATIENCE, connection.closed()).await;
    let closed = closed.expect("the connection ends");
    assert!(
        matches!(closed, quinn::ConnectionError::Reset),
        "{closed:?}: {}",
        served.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_live_sessions_for_their_cards_to_come_back() {
    let mut served = serve_with("", "card_grace = \"4s\"");
    let nurse = SoftCard::load(&served.world, "cps4-nurse");
    let (mut over_quic, _quic) = granted_quic(&served, &nurse).await;
    let nurse_session = over_quic.session.session_id().expect("granted");
    let doctor = SoftCard::load(&served.world, "cps3-doctor");
    let config = SoftCard::tls_config(&served.world, Some(&doctor), true);
    let stream = connect_tcp(served.address, config).await.expect("TLS 1.2");
    let (reader, writer) = tokio::io::split(stream);
    let mut over_tcp = Control::new(reader, writer);
    assert!(matches!(
        next_event(&mut over_tcp).await,
        ClientEvent::Granted(_)
    ));

    served.terminate();
    for event in [
        next_event(&mut over_quic).await,
        next_event(&mut over_tcp).await,
    ] {
        let ClientEvent::Ended(ending) = event else {
            panic!("the session ends: {event:?}");
        };
        assert_eq!(ending.reason, Code::CONNECTOR_RESTARTING);
    }
    drop((over_quic, _quic, over_tcp));
    assert_eq!(served.wait(), Some(0), "{}", served.log());
    assert!(served.audit_of("session.end").is_empty(), "sessions wait");
    assert_eq!(served.audit_of("session.suspend").len(), 2);

    // The connector is back: the nurse's card reconnects and gets her session again; the
    // doctor's does not come back, and his session ends after the grace.
    served.restart();
    let (again, _quic) = granted_quic(&served, &nurse).await;
    assert_eq!(again.session.session_id(), Some(nurse_session));
    let resumed = served.wait_audit("session.resume", 1);
    assert_eq!(
        resumed[0]["fields"]["from_peer"], "connector restart",
        "{resumed:#?}"
    );
    let ends = served.wait_audit("session.end", 1);
    assert_eq!(ends.len(), 1, "{ends:#?}");
    let restarting = u64::from(Code::CONNECTOR_RESTARTING.number());
    assert_eq!(ends[0]["fields"]["reason"], restarting, "{ends:#?}");
    assert_eq!(ends[0]["fields"]["id_nat"], "899700123450");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_connection_makes_the_card_sign_again() {
    let served = serve_with("", "");
    for (card, tls12) in [("cps3-doctor", true), ("cps4-doctor", false)] {
        let card = SoftCard::load(&served.world, card);
        // The client would resume if the connector let it.
        let mut config = SoftCard::tls_config(&served.world, Some(&card), tls12);
        config.resumption = rustls::client::Resumption::in_memory_sessions(16);
        let config = Arc::new(config);
        for attempt in 0..2 {
            let stream = connect_tcp(served.address, (*config).clone())
                .await
                .expect("TLS");
            let kind = stream.get_ref().1.handshake_kind();
            assert_eq!(kind, Some(rustls::HandshakeKind::Full), "attempt {attempt}");
            let (reader, writer) = tokio::io::split(stream);
            let mut control = Control::new(reader, writer);
            assert!(matches!(
                next_event(&mut control).await,
                ClientEvent::Granted(_)
            ));
            control.quit().await.expect("quit");
            assert!(control.next_event().await.is_ok());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_connector_checks_quic_addresses_first() {
    let served = serve_with("max_handshakes = 4\nhandshake_timeout = \"60s\"", "");
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(slow_peer(&served).await);
    }
    for _ in 0..600 {
        if served.log().matches("TCP connection accepted").count() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // One permit of four is left: a QUIC peer must show it owns its address, then gets in.
    let card = SoftCard::load(&served.world, "cps4-doctor");
    let (mut control, _quic) = granted_quic(&served, &card).await;
    control.quit().await.expect("quit");
    assert!(
        served.log().contains("QUIC address check sent"),
        "{}",
        served.log()
    );
    slow.iter().for_each(tokio::task::JoinHandle::abort);
}
