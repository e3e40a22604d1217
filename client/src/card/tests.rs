//! The card flows against the software card of [`crate::testing`].

use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss};
use sha2::{Digest, Sha256};

use super::*;
use crate::testing::{FakeCard, identity};
use crate::transport::fake::Scripted;

fn pin(text: &str) -> Pin {
    Pin::new(text).expect("pin")
}

#[test]
fn recognises_each_generation_and_selects_its_application() {
    let cps3 = Card::open(FakeCard::cps3()).expect("cps3");
    assert_eq!(cps3.generation(), Generation::Cps3);
    assert_eq!(
        cps3.into_transport().sent[0][..5],
        [0x00, 0xA4, 0x04, 0x0C, 0x0D]
    );
    let cps4 = Card::open(FakeCard::cps4()).expect("cps4");
    assert_eq!(cps4.generation(), Generation::Cps4);
    assert_eq!(
        cps4.into_transport().sent[0][..5],
        [0x01, 0xA4, 0x04, 0x0C, 0x08]
    );
}

#[test]
fn an_unknown_card_is_refused_before_any_apdu() {
    let err = Card::open(Scripted::new(&[0x3B, 0x00], vec![])).expect_err("unknown");
    assert!(matches!(err, CardError::UnknownCard { .. }), "{err}");
}

#[test]
fn reads_the_certificate_through_61xx_on_a_cps3() {
    let mut card = Card::open(FakeCard::cps3()).expect("open");
    let der = card.read_auth_certificate().expect("certificate");
    assert_eq!(der, identity().cert_der);
    let sent = &card.into_transport().sent;
    assert!(
        sent.iter().any(|apdu| apdu[1] == 0xC0),
        "no GET RESPONSE in {sent:?}"
    );
}

#[test]
fn reads_the_certificate_on_channel_one_of_a_cps4() {
    let mut card = Card::open(FakeCard::cps4()).expect("open");
    assert_eq!(
        card.read_auth_certificate().expect("certificate"),
        identity().cert_der
    );
    assert!(
        card.into_transport()
            .sent
            .iter()
            .all(|apdu| apdu[0] & 0x03 == 0x01)
    );
}

#[test]
fn reads_the_card_number() {
    let mut card = Card::open(FakeCard::cps3()).expect("open");
    assert_eq!(card.card_number().expect("number"), "1234567890");
}

#[test]
fn wrong_pins_count_down_then_block() {
    let mut card = Card::open(FakeCard::cps4()).expect("open");
    assert_eq!(card.pin_state().expect("state"), PinState::TriesLeft(3));
    let first = card.verify_pin(&pin("0000")).expect_err("wrong");
    assert!(
        matches!(first, CardError::WrongPin { tries_left: 2 }),
        "{first}"
    );
    let second = card.verify_pin(&pin("0001")).expect_err("wrong");
    assert!(
        matches!(second, CardError::WrongPin { tries_left: 1 }),
        "{second}"
    );
    let third = card.verify_pin(&pin("0002")).expect_err("wrong");
    assert!(matches!(third, CardError::PinBlocked), "{third}");
    let after = card.verify_pin(&pin("1234")).expect_err("blocked");
    assert!(matches!(after, CardError::PinBlocked), "{after}");
    assert_eq!(card.pin_state().expect("state"), PinState::Blocked);
}

#[test]
fn a_right_pin_resets_the_counter() {
    let mut card = Card::open(FakeCard::cps3()).expect("open");
    let _ = card.verify_pin(&pin("9999"));
    card.verify_pin(&pin("1234")).expect("right pin");
    assert_eq!(card.pin_state().expect("state"), PinState::Verified);
}

#[test]
fn signing_needs_the_pin() {
    let mut card = Card::open(FakeCard::cps3()).expect("open");
    let err = card
        .sign(CardScheme::Pkcs1Sha256, b"hello")
        .expect_err("no pin");
    assert!(matches!(err, CardError::PinNotVerified), "{err}");
}

#[test]
fn cps3_pkcs1_signature_verifies() {
    let mut card = Card::open(FakeCard::cps3()).expect("open");
    card.read_auth_certificate().expect("certificate");
    card.verify_pin(&pin("1234")).expect("pin");
    let signature = card
        .sign(CardScheme::Pkcs1Sha256, b"to be signed")
        .expect("sign");
    let public = identity().key.to_public_key();
    let hash = Sha256::digest(b"to be signed");
    public
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .expect("valid signature");
    assert!(card.sign(CardScheme::PssSha256, b"x").is_err());
}

#[test]
fn cps4_signatures_verify_for_both_paddings() {
    let mut card = Card::open(FakeCard::cps4()).expect("open");
    card.read_auth_certificate().expect("certificate");
    card.verify_pin(&pin("1234")).expect("pin");
    let public = identity().key.to_public_key();
    let hash = Sha256::digest(b"handshake");
    let pkcs1 = card
        .sign(CardScheme::Pkcs1Sha256, b"handshake")
        .expect("pkcs1");
    public
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &pkcs1)
        .expect("pkcs1 valid");
    let pss = card.sign(CardScheme::PssSha256, b"handshake").expect("pss");
    public
        .verify(Pss::new_with_salt::<Sha256>(32), &hash, &pss)
        .expect("pss valid");
    assert_eq!(pss.len(), public.size());
    let sent = card.into_transport().sent;
    assert!(
        sent.iter().any(|apdu| apdu[0] == 0x11 && apdu[1] == 0x2A),
        "no chaining"
    );
}

#[test]
fn removal_mid_signature_is_reported_as_removal() {
    let mut fake = FakeCard::cps4();
    fake.verified = true;
    let mut card = Card::open(fake).expect("open");
    let mut transport = card.into_transport();
    transport.present = false;
    card = Card {
        transport,
        reader: "r".into(),
        atr: vec![],
        generation: Generation::Cps4,
        modulus_len: 256,
    };
    let err = card.sign(CardScheme::PssSha256, b"x").expect_err("removed");
    assert!(err.is_card_gone(), "{err}");
}

#[test]
fn card_number_parser_checks_the_issuer() {
    let good = [
        0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01, 0x00, 0x12, 0x34, 0x5F, 0xFF,
    ];
    assert_eq!(parse_card_number(&good).expect("number"), "0012345");
    assert!(parse_card_number(&good[1..]).is_err());
    let mut bad = good;
    bad[8] = 0xA1;
    assert!(parse_card_number(&bad).is_err());
}

#[test]
fn a_cps3_refusing_the_pin_probe_is_asked_for_its_pin_object() {
    let sdo = [
        0x70, 0x16, 0xBF, 0x81, 0x01, 0x12, 0xA0, 0x10, 0x9A, 0x01, 0x03, 0x9B, 0x01, 0x02, 0xA1,
        0x08, 0x8C, 0x06, 0xF3, 0x00, 0x00, 0x13, 0xFF, 0x00, 0x90, 0x00,
    ];
    let replies = vec![
        vec![0x90, 0x00],
        vec![0x6A, 0x86],
        vec![0x90, 0x00],
        vec![0x61, 0x18],
        sdo.to_vec(),
        vec![0x90, 0x00],
    ];
    let mut card = Card::open(Scripted::new(&crate::testing::CPS3_ATR, replies)).expect("open");
    assert_eq!(card.pin_state().expect("state"), PinState::TriesLeft(2));
    let sent = card.into_transport().sent;
    assert_eq!(
        sent[3][..5],
        [0x00, 0xCB, 0x3F, 0xFF, 0x0A],
        "GET DATA without Le on T=0"
    );
    assert_eq!(sent[4], [0x00, 0xC0, 0x00, 0x00, 0x18]);
}
