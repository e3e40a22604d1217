//! The session follows the card: pulled out on one workstation and inserted in another, the
//! card gets its session back (same id, same tunnel address) and the first workstation is
//! told it moved; a session whose card stays out after its client is gone waits for the
//! grace period, then ends; the audit log shows one session moving, not two.

mod serve_common;

use std::time::{Duration, Instant};

use serve_common::client::{Control, SoftCard, connect_tcp};
use serve_common::{QuicControl, Served, ends_with, next_event, serve_with};
use vigie_protocol::{ClientEvent, Code};

/// The client pulls its card out: the session pauses.
async fn pull_card(control: &mut QuicControl) {
    control
        .session
        .suspend(Code::CARD_REMOVED, Instant::now())
        .expect("an active session pauses");
    control.flush().await.expect("the pause is sent");
}

/// The nurse is granted a session, pulls her card out and closes her laptop; her grant.
async fn nurse_leaves_with_her_card(served: &Served) -> vigie_protocol::SessionGrant {
    let (mut control, grant, quic) = served.granted("cps4-nurse").await;
    pull_card(&mut control).await;
    served.wait_log("client suspended");
    drop(control);
    quic.connection.close(0u32.into(), b"laptop closed");
    grant
}

/// Waits until the audit log has `count` records of `kind`.
fn audited(served: &Served, kind: &str, count: usize) -> Vec<serde_json::Value> {
    let records = served.wait_audit(kind, count);
    assert_eq!(records.len(), count, "{kind}: {records:#?}");
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_moved_to_another_workstation_takes_its_session_along() {
    let served = serve_with("", "card_grace = \"3s\"");
    let (mut first, grant, _first_quic) = served.granted("cps4-doctor").await;
    pull_card(&mut first).await;
    served.wait_log("client suspended");

    // The same card on another workstation, after its PIN: the same session.
    let (_second, moved, _second_quic) = served.granted("cps4-doctor").await;
    assert_eq!(moved.session_id, grant.session_id);
    assert_eq!(moved.tunnel_address, grant.tunnel_address);
    ends_with(&mut first, Code::SESSION_MOVED).await;

    let starts = audited(&served, "session.start", 1);
    let detached = audited(&served, "session.suspend", 1);
    let resumed = audited(&served, "session.resume", 1);
    let session = grant.session_id.to_string();
    assert_eq!(starts[0]["fields"]["session"], session.as_str());
    assert_eq!(detached[0]["fields"]["detached"], true);
    assert_eq!(resumed[0]["fields"]["session"], session.as_str());
    assert!(
        resumed[0]["fields"]["from_peer"].is_string(),
        "{resumed:#?}"
    );
    assert!(
        served.audit_of("session.end").is_empty(),
        "one session moving, not two"
    );
    let listed = served.site.ok(&["session", "list"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_that_stays_out_ends_its_session_after_the_grace() {
    let served = serve_with("", "card_grace = \"2s\"");
    let grant = nurse_leaves_with_her_card(&served).await;

    let ends = served.wait_audit("session.end", 1);
    assert_eq!(ends.len(), 1, "{ends:#?}");
    assert_eq!(
        ends[0]["fields"]["session"],
        grant.session_id.to_string().as_str()
    );
    let removed = u64::from(Code::CARD_REMOVED.number());
    assert_eq!(ends[0]["fields"]["reason"], removed, "{ends:#?}");
    let parked = served.audit_of("session.suspend");
    assert_eq!(parked[0]["fields"]["detached"], true, "{parked:#?}");
    assert!(
        served
            .site
            .ok(&["session", "list"])
            .contains("No live session")
    );

    // After the grace, the card starts a new session.
    let (_control, again, _quic) = served.granted("cps4-nurse").await;
    assert_ne!(again.session_id, grant.session_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_session_killed_by_an_administrator_does_not_come_back() {
    let served = serve_with("", "card_grace = \"5m\"");
    let grant = nurse_leaves_with_her_card(&served).await;
    served.wait_log("session waits for its card");

    let id = grant.session_id.to_string();
    served
        .site
        .ok(&["session", "kill", &id, "--reason", "card lost"]);
    let ends = served.wait_audit("session.end", 2);
    assert!(
        ends.iter().any(|e| e["fields"]["session"] == id.as_str()
            && e["fields"]["reason"] == u64::from(Code::ADMIN_KILL.number())),
        "{ends:#?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_control, again, _quic) = served.granted("cps4-nurse").await;
    assert_ne!(
        again.session_id, grant.session_id,
        "a killed session is not resumed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_connection_of_the_same_card_takes_over_a_stale_one() {
    // A laptop that changed network over TCP: its old connection is not closed yet when
    // its client connects again with the card it holds.
    let served = serve_with("", "");
    let doctor = SoftCard::load(&served.world, "cps3-doctor");
    let connect = || async {
        let config = SoftCard::tls_config(&served.world, Some(&doctor), true);
        let stream = connect_tcp(served.address, config).await.expect("TLS 1.2");
        let (reader, writer) = tokio::io::split(stream);
        Control::new(reader, writer)
    };
    let mut stale = connect().await;
    let ClientEvent::Granted(first) = next_event(&mut stale).await else {
        panic!("a grant was expected");
    };
    let mut again = connect().await;
    let ClientEvent::Granted(second) = next_event(&mut again).await else {
        panic!("a grant was expected");
    };
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(second.tunnel_address, first.tunnel_address);
    match next_event(&mut stale).await {
        ClientEvent::Ended(ending) => assert_eq!(ending.reason, Code::SESSION_MOVED),
        other => panic!("the stale connection should be told: {other:?}"),
    }
    assert_eq!(audited(&served, "session.start", 1).len(), 1);
}
