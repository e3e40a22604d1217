//! Revocation data that changes while `serve` runs: a new CRL from the card's CA and an
//! entry in the emergency blocklist each end the live session of the card concerned, and
//! only that one, and refuse its next handshake; a broken blocklist file changes nothing.

mod serve_common;

use rustls::AlertDescription;
use rustls_pki_types::UnixTime;
use serve_common::client::refused_over_tcp;
use serve_common::{PATIENCE, Served, card_file, ends_with, serve_with_own_revocation};
use vigie_certs::CardIdentity;
use vigie_protocol::Code;

/// The ids of the sessions `session list` shows.
fn listed(served: &Served) -> String {
    served.site.ok(&["session", "list"])
}

/// A CRL from the card's CA, newer than the world's, that revokes the card.
fn crl_revoking(served: &Served, card: &str) -> (String, Vec<u8>) {
    let world = &served.world;
    let der = std::fs::read(card_file(world, card, "auth.crt.der")).expect("the card");
    let identity = CardIdentity::from_der(&der).expect("a card identity");
    let issuer = &world.card_entry(card).expect("the card's entry").issuer;
    let ca = world.index().cas.iter().find(|ca| &ca.name == issuer);
    let stem = ca.expect("the card's CA").stem.clone();
    let hex = &identity.card_serial;
    let mut serial: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        serial.insert(0, 0); // a DER INTEGER: positive
    }
    let now = UnixTime::now().as_secs();
    let authority = world.authority(&stem).expect("the CA's key");
    let crl = authority.crl(1_000, now, now + 7 * 86_400, &[(serial, now)]);
    (stem, crl.expect("a CRL"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_crl_and_a_blocklist_entry_end_the_live_sessions_of_their_cards() {
    let served = serve_with_own_revocation();
    let (mut doctor, doctor_grant, _doctor_quic) = served.granted("cps4-doctor").await;
    let doctor_id = doctor_grant.session_id;
    let (mut nurse, nurse_grant, _nurse_quic) = served.granted("cps4-nurse").await;
    let nurse_id = nurse_grant.session_id;

    // The doctor's CA publishes a CRL that lists her card; the fetch job drops it in place.
    let (stem, crl) = crl_revoking(&served, "cps4-doctor");
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
