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

#[test]
fn signature_certificates_cannot_authenticate() {
    let world = world();
    let verifier = Verifier::new(world.trust_config().unwrap()).unwrap();
    let dir = world.card_dir("cps4-doctor").unwrap();
    let sign = std::fs::read(dir.join("sign.crt.der")).unwrap();
    let verdict = verifier.verify(&sign.into(), &[], at(&world, 60));
    assert_eq!(verdict.unwrap_err().code(), "wrong_eku");
}

#[test]
fn card_files_hold_what_the_emulator_needs() {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let world = world();
    for card in &world.index().cards {
        let toml = world.card_toml(&card.name).unwrap();
        assert_eq!((toml.pin.as_str(), toml.puk.as_str()), ("1234", "12345678"));
        assert_eq!(toml.card_number.len(), 10);
        assert!(toml.card_number.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            (toml.id_nat.as_str(), toml.generation),
            (card.id_nat.as_str(), card.generation)
        );
        let dir = world.card_dir(&card.name).unwrap();
        let key = std::fs::read(dir.join("auth.key.pk8.der")).unwrap();
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&key).unwrap();
        assert_eq!(key.size(), 256, "{}: RSA-2048", card.name);
        // The key matches the certificate: its modulus is in the certificate's DER.
        let cert = std::fs::read(dir.join("auth.crt.der")).unwrap();
        let modulus = key.n().to_bytes_be();
        assert!(
            cert.windows(modulus.len()).any(|w| w == modulus.as_slice()),
            "{}",
            card.name
        );
    }
    let numbers: std::collections::BTreeSet<_> = world
        .index()
        .cards
        .iter()
        .map(|c| world.card_toml(&c.name).unwrap().card_number)
        .collect();
    assert_eq!(
        numbers.len(),
        world.index().cards.len(),
        "card numbers are unique"
    );
}
