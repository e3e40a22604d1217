//! Revocation data that changes while `serve` runs: a new CRL from the card's CA and an
//! entry in the emergency blocklist each end the live session of the card concerned, and
//! only that one, and refuse its next handshake; a broken blocklist file changes nothing.

mod serve_common;

use rustls::AlertDescription;
use serve_common::client::refused_over_tcp;
use serve_common::serve_with_own_revocation;
use serve_common::{PATIENCE, Served, card_ca_stem, crl_revoking, ends_with};
use vigie_protocol::Code;

/// The ids of the sessions `session list` shows.
fn listed(served: &Served) -> String {
    served.site.ok(&["session", "list"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_crl_and_a_blocklist_entry_end_the_live_sessions_of_their_cards() {
    let served = serve_with_own_revocation();
    let (mut doctor, doctor_grant, _doctor_quic) = served.granted("cps4-doctor").await;
    let doctor_id = doctor_grant.session_id;
    let (mut nurse, nurse_grant, _nurse_quic) = served.granted("cps4-nurse").await;
    let nurse_id = nurse_grant.session_id;

    // The doctor's CA publishes a CRL that lists her card; the fetch job drops it in place.
    let stem = card_ca_stem(&served.world, "cps4-doctor");
    let crl = crl_revoking(&served.world, "cps4-doctor");
    let staged = served.site.path(&format!("{stem}.crl.part"));
    std::fs::write(&staged, crl).expect("write the CRL");
    let target = served.site.path("crl").join(format!("{stem}.crl"));
    std::fs::rename(&staged, target).expect("put the CRL in place");
    ends_with(&mut doctor, Code::CARD_REVOKED).await;
    let sessions = listed(&served);
    assert!(!sessions.contains(&doctor_id.to_string()), "{sessions}");
    assert!(sessions.contains(&nurse_id.to_string()), "{sessions}");
    let again = refused_over_tcp(served.address, &served.world, "cps4-doctor", false);
    let again = tokio::time::timeout(PATIENCE, again)
        .await
        .expect("an answer");
    assert_eq!(again, AlertDescription::CertificateRevoked);

    // A blocklist that does not parse keeps the one in force, and says so.
    std::fs::write(served.site.path("blocklist.toml"), "id_nats = 0751234567\n").expect("write");
    served.wait_log("emergency blocklist changed but cannot be used");
    assert!(listed(&served).contains(&nurse_id.to_string()));

    // The nurse's card is lost: an operator blocks her by idNat.
    let blocklist = "id_nats = [\"0751234567\"]\n";
    std::fs::write(served.site.path("blocklist.toml"), blocklist).expect("write");
    ends_with(&mut nurse, Code::CARD_REVOKED).await;
    let ends = served.wait_audit("session.end", 2);
    let revoked = u64::from(Code::CARD_REVOKED.number());
    assert_eq!(ends.len(), 2, "{ends:#?}");
    assert!(
        ends.iter().all(|e| e["fields"]["reason"] == revoked),
        "{ends:#?}"
    );
}
