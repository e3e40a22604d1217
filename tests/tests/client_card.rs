//! The client's card layer against a real pcscd, the vpcd reader and the virtual CPS card,
//! through the `pcsc` crate: certificates, signatures for each padding, PIN blocking, and
//! removal seen mid-operation and by the watcher.

mod client_support;

use std::time::Instant;

use client_support::{Lab, public_key};
use rsa::{Pkcs1v15Sign, Pss};
use sha2::{Digest, Sha256};
use vigie_client::card::Card;
use vigie_client::watch::{CardEvent, CardWatcher};
use vigie_client::{CardError, CardScheme, Generation, Pin, PinState};

fn pin(text: &str) -> Pin {
    Pin::new(text).expect("a well-formed PIN")
}

/// Reads the certificate, verifies the PIN and checks each signature the card can make
/// against the certificate's own public key.
fn read_and_sign(name: &str, generation: Generation) {
    let Some(lab) = Lab::with_card(name) else {
        return;
    };
    let mut card = Card::open(lab.connect()).expect("open the card");
    assert_eq!(card.generation(), generation);
    assert_eq!(card.reader(), lab.slot.reader_name());

    let card_toml = std::fs::read_to_string(lab.card_dir.join("card.toml")).expect("card.toml");
    let card_toml: toml::Table = card_toml.parse().expect("card.toml is TOML");
    let number = card.card_number().expect("read EF.SN.ICC");
    assert_eq!(Some(number.as_str()), card_toml["card_number"].as_str());

    let der = card.read_auth_certificate().expect("read the certificate");
    assert_eq!(
        der,
        lab.auth_cert(),
        "the card's certificate is the identity's"
    );
    let public = public_key(&der);

    card.verify_pin(&pin("1234")).expect("right PIN");
    let message = format!("TLS transcript of {name}");
    let hash = Sha256::digest(message.as_bytes());
    for scheme in card.schemes() {
        let signature = card
            .sign(*scheme, message.as_bytes())
            .expect("card signature");
        let verified = match scheme {
            CardScheme::Pkcs1Sha256 => {
                public.verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
            }
            CardScheme::PssSha256 => {
                public.verify(Pss::new_with_salt::<Sha256>(32), &hash, &signature)
            }
            other => panic!("unexpected scheme {other:?}"),
        };
        verified.unwrap_or_else(|e| panic!("{name} {scheme:?} signature does not verify: {e}"));
    }
}

#[test]
fn cps3_certificate_and_pkcs1_signature() {
    read_and_sign("cps3-doctor", Generation::Cps3);
}

#[test]
fn cps4_certificate_and_both_paddings() {
    read_and_sign("cps4-doctor", Generation::Cps4);
}

#[test]
fn cps3_refuses_pss() {
    let Some(lab) = Lab::with_card("cps3-pharmacist") else {
        return;
    };
    let mut card = Card::open(lab.connect()).expect("open");
    assert_eq!(card.schemes(), [CardScheme::Pkcs1Sha256]);
    card.verify_pin(&pin("1234")).expect("right PIN");
    let err = card
        .sign(CardScheme::PssSha256, b"m")
        .expect_err("no PSS on a CPS3");
    assert!(matches!(err, CardError::Unsupported(_)), "{err}");
}

fn block_after_three_wrong_pins(name: &str) {
    let Some(lab) = Lab::with_card(name) else {
        return;
    };
    let mut card = Card::open(lab.connect()).expect("open");
    assert_eq!(card.pin_state().expect("state"), PinState::TriesLeft(3));
    let first = card.verify_pin(&pin("0000")).expect_err("wrong PIN");
    assert!(
        matches!(first, CardError::WrongPin { tries_left: 2 }),
        "{first}"
    );
    let second = card.verify_pin(&pin("0001")).expect_err("wrong PIN");
    assert!(
        matches!(second, CardError::WrongPin { tries_left: 1 }),
        "{second}"
    );
    let third = card.verify_pin(&pin("0002")).expect_err("wrong PIN");
    assert!(matches!(third, CardError::PinBlocked), "{third}");
    assert!(third.to_string().contains("PUK"), "{third}");

    let right = card
        .verify_pin(&pin("1234"))
        .expect_err("blocked even with the right PIN");
    assert!(matches!(right, CardError::PinBlocked), "{right}");
    assert_eq!(card.pin_state().expect("state"), PinState::Blocked);
    let sign = card
        .sign(card.schemes()[0], b"m")
        .expect_err("no signature when blocked");
    assert!(
        matches!(sign, CardError::PinNotVerified | CardError::PinBlocked),
        "{sign}"
    );
    assert_eq!(
        lab.card.pin_tries_left(),
        0,
        "the emulator agrees the card is blocked"
    );
}

#[test]
fn cps3_blocks_after_three_wrong_pins() {
    block_after_three_wrong_pins("cps3-doctor");
}

#[test]
fn cps4_blocks_after_three_wrong_pins() {
    block_after_three_wrong_pins("cps4-nurse");
}

#[test]
fn a_card_pulled_mid_session_reads_as_removed() {
    let Some(mut lab) = Lab::with_card("cps4-staff") else {
        return;
    };
    let mut card = Card::open(lab.connect()).expect("open");
    card.verify_pin(&pin("1234")).expect("right PIN");
    lab.pull();
    let err = card.read_auth_certificate().expect_err("card gone");
    assert!(err.is_card_gone(), "expected a removal, got: {err}");
}

#[test]
fn a_card_pulled_during_a_signature_reads_as_removed() {
    let Some(lab) = Lab::with_card("cps3-doctor") else {
        return;
    };
    let mut card = Card::open(lab.connect()).expect("open");
    card.verify_pin(&pin("1234")).expect("right PIN");
    lab.card.faults().pull_on_next_apdu();
    let err = card
        .sign(CardScheme::Pkcs1Sha256, b"m")
        .expect_err("card pulled mid-APDU");
    assert!(err.is_card_gone(), "expected a removal, got: {err}");
}

#[test]
fn watcher_sees_removal_and_reinsertion() {
    let Some(mut lab) = Lab::with_card("cps3-pharmacist") else {
        return;
    };
    let (watcher, events) = CardWatcher::spawn().expect("watch");
    let reader = lab.slot.reader_name();
    let ours = |event: &CardEvent| match event {
        CardEvent::Inserted { reader: r, .. } | CardEvent::Removed { reader: r } => *r == reader,
        _ => false,
    };
    let next = || loop {
        let event = events.recv().expect("the watcher is running");
        if ours(&event) {
            return event;
        }
    };

    let first = next();
    assert!(
        matches!(&first, CardEvent::Inserted { atr, .. } if *atr == lab.card.atr()),
        "{first:?}"
    );
    let mut card = Card::open(lab.connect()).expect("open");
    card.verify_pin(&pin("1234")).expect("right PIN");
    assert_eq!(card.pin_state().expect("state"), PinState::Verified);

    let pulled = Instant::now();
    lab.pull();
    assert_eq!(
        next(),
        CardEvent::Removed {
            reader: reader.clone()
        }
    );
    println!("removal seen after {:?}", pulled.elapsed());

    let inserted = Instant::now();
    lab.reinsert();
    let again = next();
    assert!(
        matches!(&again, CardEvent::Inserted { atr, .. } if *atr == lab.card.atr()),
        "{again:?}"
    );
    println!("insertion seen after {:?}", inserted.elapsed());

    let mut card = Card::open(lab.connect()).expect("open after reinsertion");
    let state = card.pin_state().expect("state");
    assert_eq!(
        state,
        PinState::TriesLeft(3),
        "a reinserted card asks for the PIN again"
    );
    watcher.stop();
}
