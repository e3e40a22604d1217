//! The generated world, checked by the verifier: each card gets its expected verdict.

use std::time::Duration;

use rustls_pki_types::UnixTime;
use vigie_certs::pki::{Expected, World};
use vigie_certs::{IdNatKind, Verifier};

fn world() -> World {
    World::shared(1, UnixTime::now()).expect("test world")
}

fn at(world: &World, offset_secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(
        world.index().generated_at + offset_secs,
    ))
}

#[test]
fn every_card_gets_its_expected_verdict() {
    let world = world();
    let verifier = Verifier::new(world.trust_config().unwrap()).unwrap();
    for card in &world.index().cards {
        let leaf = world.card_auth(&card.name).unwrap();
        let verdict = verifier.verify(&leaf, &[], at(&world, 3600));
        let code = verdict.as_ref().map_or_else(|r| r.code(), |_| "accepted");
        let wanted = match card.expected {
            Expected::Accepted => "accepted",
            Expected::Expired => "expired",
            Expected::Revoked => "revoked",
            Expected::UnknownCa => "unknown_issuer",
        };
        assert_eq!(code, wanted, "{}: {verdict:?}", card.name);
    }
}

#[test]
fn cps3_and_cps4_cards_of_one_person_share_the_person_key() {
    let world = world();
    let verifier = Verifier::new(world.trust_config().unwrap()).unwrap();
    let now = at(&world, 60);
    let v4 = verifier
        .verify(&world.card_auth("cps4-doctor").unwrap(), &[], now)
        .unwrap();
    let v3 = verifier
        .verify(&world.card_auth("cps3-doctor").unwrap(), &[], now)
        .unwrap();
    assert_eq!(v4.identity.person_key(), v3.identity.person_key());
    assert_ne!(v4.serial, v3.serial);
    assert_ne!(v4.issuer, v3.issuer);
    assert_eq!(v4.identity.id_nat.kind(), &IdNatKind::Rpps);
    assert_eq!(v4.identity.profession.as_deref(), Some("Médecin"));
    assert_eq!(
        v4.identity.upn.as_deref(),
        Some(format!("{}@carte-cps.fr", v4.identity.id_nat.upn_local_part()).as_str())
    );
}
