//! Card answers are untrusted bytes: every parser of them, and every card flow fed with them,
//! must return an error rather than panic.
//!
//! The input is a script of card answers: each frame is one length byte then that many bytes.
//! The first frame is the ATR; the next ones answer the APDUs in turn. A byte at the start
//! selects the generation's ATR when the script's own ATR is not a CPS one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_client::apdu::Response;
use vigie_client::card::{self, Card, CardScheme, pkcs15};
use vigie_client::{CardError, CardStatus, CardTransport, Pin, identity, tlv};

const CPS3_ATR: [u8; 17] = [
    0x3B, 0xAC, 0x00, 0x40, 0x2A, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x03, 0x10, 0x00,
    0x90, 0x00,
];
const CPS4_ATR: [u8; 17] = [
    0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x04, 0x01, 0x00, 0x00,
    0x90, 0x44,
];

struct Scripted<'a> {
    atr: Vec<u8>,
    rest: &'a [u8],
}

impl Scripted<'_> {
    fn frame(&mut self) -> Option<Vec<u8>> {
        let (&len, rest) = self.rest.split_first()?;
        let len = usize::from(len).min(rest.len());
        let (frame, rest) = rest.split_at(len);
        self.rest = rest;
        Some(frame.to_vec())
    }
}

impl CardTransport for Scripted<'_> {
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.frame().ok_or(CardError::CardRemoved)
    }

    fn status(&mut self) -> Result<CardStatus, CardError> {
        Ok(CardStatus { reader: "fuzz".into(), atr: self.atr.clone() })
    }
}

fn parsers(data: &[u8]) {
    let _ = Response::parse(data);
    for element in tlv::elements(data).take(64) {
        if element.is_err() {
            break;
        }
    }
    let _ = pkcs15::cdf_path(data);
    let _ = pkcs15::auth_certificate_path(data);
    let _ = card::parse_pin_data_object(data);
    let _ = card::parse_card_number(data);
    let _ = card::parse_fcp_size(data);
    let _ = identity::holder(data);
    let _ = identity::rsa_modulus_len(data);
}

fn flows(data: &[u8]) {
    let Some((&choice, script)) = data.split_first() else { return };
    let atr = if choice & 1 == 0 { CPS3_ATR } else { CPS4_ATR };
    let Ok(mut card) = Card::open(Scripted { atr: atr.to_vec(), rest: script }) else { return };
    let _ = card.read_auth_certificate();
    let _ = card.card_number();
    let _ = card.pin_state();
    if let Ok(pin) = Pin::new("1234") {
        let _ = card.verify_pin(&pin);
    }
    let _ = card.sign(CardScheme::Pkcs1Sha256, b"fuzz");
    let _ = card.sign(CardScheme::PssSha256, b"fuzz");
}

fuzz_target!(|data: &[u8]| {
    parsers(data);
    flows(data);
});
