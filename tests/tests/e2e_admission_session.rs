//! End to end, as root, after admission: a CPS4 whose UDP is blocked falls back to TLS 1.3
//! over TCP; the card answers the connector's re-proofs, and pulling it out pauses the
//! session until it is back (PIN again), all through the real `vigie up`.

mod e2e_support;

use std::sync::Arc;

use e2e_support::clinician::Clinician;
use e2e_support::connector::Connector;
use e2e_support::world;
use vigie_lab::NetNs;

#[test]
fn a_cps4_whose_udp_is_blocked_falls_back_to_tls13_over_tcp() {
    if vigie_lab::require_root("network namespaces, nftables, pcscd").is_err() {
        return;
    }
    vigie_lab::init_test_logging();
    let world = world();
    let netns = Arc::new(NetNs::new().expect("a network namespace"));
    let connector = Connector::start_with(&world, "", Some(&netns));
    let port = connector.address.port().to_string();
    let nft = |args: &[&str]| netns.run("nft", args).expect("nft");
    nft(&["add", "table", "inet", "vigie_e2e"]);
    nft(&[
        "add",
        "chain",
        "inet",
        "vigie_e2e",
        "input",
        "{ type filter hook input priority 0 ; }",
    ]);
    nft(&[
        "add",
        "rule",
        "inet",
        "vigie_e2e",
        "input",
        "udp",
        "dport",
        &port,
        "drop",
    ]);

    let mut clinician = Clinician::new(&world, connector.address);
    clinician.use_netns(Arc::clone(&netns));
    clinician.insert(&world, "cps4-nurse");
    let (mut session, status) = clinician.up_granted();
    assert_eq!(status.transport.as_deref(), Some("TCP (TLS 1.3)"));
    assert!(session.output().contains("UDP seems blocked, using TCP."));
    clinician.down(&mut session);
    let accepted = connector.wait_audit("admission.accepted", 1);
    assert_eq!(accepted[0]["fields"]["transport"], "tcp", "{accepted:#?}");
}

#[test]
fn the_card_proves_itself_again_and_pulling_it_pauses_the_session_until_it_is_back() {
    if vigie_lab::require_root("pcscd in a network namespace").is_err() {
        return;
    }
    vigie_lab::init_test_logging();
    let world = world();
    let connector = Connector::start_with(&world, "reproof_interval = \"1s\"", None);
    let mut clinician = Clinician::new(&world, connector.address);
    clinician.insert(&world, "cps3-doctor");
    let (mut session, _) = clinician.up_granted();
    // The doctor's card answers re-proofs every second; the session stays up meanwhile.
    connector.wait_log("card re-proof checked ok=true", 2);

    clinician.pull();
    clinician.wait_state(&mut session, "suspended");
    assert!(
        session
            .output()
            .contains("Card removed: the session is paused.")
    );
    let shown = clinician.run(&["status"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("paused (card removed"));

    clinician.insert(&world, "cps3-doctor");
    clinician.wait_state(&mut session, "active");
    assert!(session.output().contains("The session runs again."));
    clinician.down(&mut session);
    // The connector saw the pause and the resumption, after a fresh card signature.
    connector.wait_log("client suspended", 1);
    connector.wait_log("client asks to resume", 1);
}
