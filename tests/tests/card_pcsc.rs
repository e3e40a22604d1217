//! The virtual cards behind a real pcscd with vpcd, driven through the `pcsc` crate as the
//! client will drive them: certificates, PIN counter, signatures, removal and reinsertion.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcsc::{Card, Context, Protocols, ReaderState, Scope, ShareMode, State};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};
use vigie_certs::pki::World;
use vigie_lab::card::{VirtualCard, layout};
use vigie_lab::{Pcscd, ReaderSlot, require_root};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

/// How long to wait for pcscd to notice an insertion or removal before failing the test.
const EVENT_WAIT: Duration = Duration::from_secs(30);

fn identity_dir(name: &str) -> PathBuf {
    let world = World::shared(1, UnixTime::now()).expect("test PKI world");
    world.dir().join("cards").join(name)
}

struct Setup {
    _pcscd: Arc<Pcscd>,
    slot: ReaderSlot,
    ctx: Context,
    reader: CString,
    card: VirtualCard,
}

fn setup(name: &str) -> Setup {
    vigie_lab::init_test_logging();
    let pcscd = Pcscd::shared().expect("pcscd with vpcd");
    let slot = pcscd.take_slot();
    let card = VirtualCard::load(&identity_dir(name)).expect("card identity");
    let ctx = Context::establish(Scope::User).expect("PC/SC context on the lab's pcscd");
    let reader = CString::new(slot.reader_name()).expect("reader name");
    Setup {
        _pcscd: pcscd,
        slot,
        ctx,
        reader,
        card,
    }
}

/// Waits until the reader shows a card (`present`) or no card; returns the ATR seen.
fn wait_for_card(ctx: &Context, reader: &CString, present: bool) -> Vec<u8> {
    let mut states = vec![ReaderState::new(reader.clone(), State::UNAWARE)];
    let start = Instant::now();
    loop {
        ctx.get_status_change(Some(Duration::from_millis(500)), &mut states)
            .or_else(|e| {
                if e == pcsc::Error::Timeout {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .expect("SCardGetStatusChange");
        let state = states[0].event_state();
        if state.contains(State::PRESENT) == present && !state.contains(State::UNKNOWN) {
            return states[0].atr().to_vec();
        }
        assert!(
            start.elapsed() < EVENT_WAIT,
            "reader {reader:?} never showed present={present}: {state:?}"
        );
        states[0].sync_current_state();
    }
}

fn connect(ctx: &Context, reader: &CString) -> Card {
    ctx.connect(reader, ShareMode::Shared, Protocols::T0 | Protocols::T1)
        .expect("SCardConnect")
}

/// Sends an APDU; follows `61xx` with GET RESPONSE on the same channel.
fn send(card: &Card, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
    let mut data = Vec::new();
    let mut response = card
        .transmit(apdu, &mut buffer)
        .expect("SCardTransmit")
        .to_vec();
    loop {
        let (body, sw) = response.split_at(response.len() - 2);
        data.extend_from_slice(body);
        let sw = u16::from_be_bytes([sw[0], sw[1]]);
        if sw >> 8 != 0x61 {
            return (data, sw);
        }
        let get_response = [apdu[0] & 0x03, 0xC0, 0x00, 0x00, sw as u8];
        response = card
            .transmit(&get_response, &mut buffer)
            .expect("GET RESPONSE")
            .to_vec();
    }
}

fn with_data(header: &[u8], data: &[u8]) -> Vec<u8> {
    [header, &[data.len() as u8], data].concat()
}

/// Selects the PKCS#15 application and reads the authentication certificate.
fn read_auth_certificate(card: &Card, cla: u8) -> Vec<u8> {
    assert_eq!(
        send(
            card,
            &with_data(&[cla, 0xA4, 0x04, 0x0C], &layout::PKCS15_AID)
        )
        .1,
        0x9000
    );
    assert_eq!(
        send(card, &[cla, 0xA4, 0x02, 0x0C, 0x02, 0xC0, 0x00]).1,
        0x9000
    );
    let mut content = Vec::new();
    loop {
        let [p1, p2] = (content.len() as u16).to_be_bytes();
        let (chunk, sw) = send(card, &[cla, 0xB0, p1, p2, 0xE7]);
        content.extend_from_slice(&chunk);
        match sw {
            0x9000 => continue,
            0x6282 | 0x6B00 => return content,
            other => panic!("READ BINARY answered {other:04X}"),
        }
    }
}

fn public_key_of(cert_der: &[u8]) -> RsaPublicKey {
    let cert = Certificate::from_der(cert_der).expect("certificate DER");
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("SPKI");
    RsaPublicKey::from_public_key_der(&spki).expect("RSA public key")
}

fn digest_info_sha256(hash: &[u8]) -> Vec<u8> {
    let prefix = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    [&prefix[..], hash].concat()
}

fn verify_pin(card: &Card, cla: u8, pin: &[u8]) -> u16 {
    send(card, &with_data(&[cla, 0x20, 0x00, 0x01], pin)).1
}

#[test]
fn cps3_certificate_and_card_padded_pkcs1_signature() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup("cps3-doctor");
    let _inserted = s.card.insert(&s.slot).unwrap();
    let atr = wait_for_card(&s.ctx, &s.reader, true);
    assert_eq!(atr, vigie_lab::card::CPS3_ATR);
    let card = connect(&s.ctx, &s.reader);

    let cert = read_auth_certificate(&card, 0x00);
    assert_eq!(
        cert,
        std::fs::read(identity_dir("cps3-doctor").join("auth.crt.der")).unwrap()
    );

    let hash = Sha256::digest(b"TLS 1.2 handshake transcript");
    let mse = [
        0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
    ];
    assert_eq!(send(&card, &mse).1, 0x9000);
    let internal_auth = with_data(&[0x00, 0x88, 0x00, 0x00], &digest_info_sha256(&hash));
    assert_eq!(
        send(&card, &internal_auth).1,
        0x6982,
        "signing needs the PIN"
    );
    assert_eq!(verify_pin(&card, 0x00, b"1234"), 0x9000);
    let (signature, sw) = send(&card, &internal_auth);
    assert_eq!(sw, 0x9000);
    public_key_of(&cert)
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .expect("signature verifies with the certificate's key");
}

#[test]
fn cps4_certificate_pkcs1_by_decipher_and_pss_by_cds() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup("cps4-doctor");
    let _inserted = s.card.insert(&s.slot).unwrap();
    assert_eq!(
        wait_for_card(&s.ctx, &s.reader, true),
        vigie_lab::card::CPS4_ATR
    );
    let card = connect(&s.ctx, &s.reader);
    assert_eq!(
        send(
            &card,
            &with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::CHIPDOC_AID)
        )
        .1,
        0x9000
    );

    let cert = read_auth_certificate(&card, 0x01);
    assert_eq!(
        cert,
        std::fs::read(identity_dir("cps4-doctor").join("auth.crt.der")).unwrap()
    );
    let public = public_key_of(&cert);
    assert_eq!(
        send(&card, &[0x01, 0x20, 0x00, 0x01]).1,
        0x63C3,
        "PIN status probe"
    );
    assert_eq!(verify_pin(&card, 0x01, b"1234"), 0x9000);

    // PKCS#1 v1.5: the host pads, PSO:DECIPHER with chaining applies the key.
    let hash = Sha256::digest(b"TLS 1.2 with a CPS4");
    let info = digest_info_sha256(&hash);
    let mut block = vec![0x00, 0x01];
    block.resize(256 - info.len() - 1, 0xFF);
    block.push(0x00);
    block.extend_from_slice(&info);
    assert_eq!(
        send(&card, &[0x01, 0x22, 0x41, 0xB8, 0x03, 0x83, 0x01, 0x20]).1,
        0x9000
    );
    assert_eq!(
        send(&card, &with_data(&[0x11, 0x2A, 0x80, 0x86], &block[..255])).1,
        0x9000
    );
    let last = [
        with_data(&[0x01, 0x2A, 0x80, 0x86], &block[255..]),
        vec![0x00],
    ]
    .concat();
    let (signature, sw) = send(&card, &last);
    assert_eq!(sw, 0x9000);
    public
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .expect("PKCS#1 v1.5 verifies");

    // RSA-PSS: PSO:CDS over the SHA-256 hash.
    let hash = Sha256::digest(b"TLS 1.3 CertificateVerify");
    assert_eq!(
        send(
            &card,
            &[0x01, 0x22, 0x81, 0xB6, 0x04, 0x91, 0x02, 0x2C, 0xA0]
        )
        .1,
        0x9000
    );
    let (signature, sw) = send(
        &card,
        &[with_data(&[0x01, 0x2A, 0x9E, 0x9A], &hash), vec![0x00]].concat(),
    );
    assert_eq!(sw, 0x9000);
    public
        .verify(Pss::new_with_salt::<Sha256>(32), &hash, &signature)
        .expect("PSS verifies");
}

#[test]
fn three_wrong_pins_block_the_card() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup("cps3-pharmacist");
    let _inserted = s.card.insert(&s.slot).unwrap();
    wait_for_card(&s.ctx, &s.reader, true);
    let card = connect(&s.ctx, &s.reader);
    assert_eq!(verify_pin(&card, 0x00, b"0000"), 0x63C2);
    assert_eq!(verify_pin(&card, 0x00, b"1111"), 0x63C1);
    assert_eq!(verify_pin(&card, 0x00, b"2222"), 0x6983);
    assert_eq!(
        verify_pin(&card, 0x00, b"1234"),
        0x6983,
        "blocked even for the right PIN"
    );
    assert_eq!(s.card.pin_tries_left(), 0);
    let mse = [
        0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
    ];
    assert_eq!(send(&card, &mse).1, 0x9000);
    let hash = Sha256::digest(b"x");
    let internal_auth = with_data(&[0x00, 0x88, 0x00, 0x00], &digest_info_sha256(&hash));
    assert_eq!(send(&card, &internal_auth).1, 0x6982);
}

#[test]
fn removal_and_reinsertion_are_seen_and_keep_the_pin_counter() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup("cps4-nurse");
    let inserted = s.card.insert(&s.slot).unwrap();
    wait_for_card(&s.ctx, &s.reader, true);
    {
        let card = connect(&s.ctx, &s.reader);
        assert_eq!(
            send(
                &card,
                &with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::CHIPDOC_AID)
            )
            .1,
            0x9000
        );
        assert_eq!(verify_pin(&card, 0x01, b"9999"), 0x63C2);
        assert_eq!(verify_pin(&card, 0x01, b"1234"), 0x9000);
        assert_eq!(verify_pin(&card, 0x01, b"9999"), 0x63C2);
        inserted.remove();
        wait_for_card(&s.ctx, &s.reader, false);
        let mut buffer = [0u8; 64];
        assert!(
            card.transmit(&[0x01, 0xB0, 0x00, 0x00, 0x01], &mut buffer)
                .is_err(),
            "the card is gone"
        );
    }

    let _again = s.card.insert(&s.slot).unwrap();
    wait_for_card(&s.ctx, &s.reader, true);
    let card = connect(&s.ctx, &s.reader);
    assert_eq!(
        send(&card, &[0x01, 0xB0, 0x00, 0x00, 0x01]).1,
        0x6881,
        "power-up closed channel 1"
    );
    assert_eq!(
        send(
            &card,
            &with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::CHIPDOC_AID)
        )
        .1,
        0x9000
    );
    assert_eq!(
        send(&card, &[0x01, 0x20, 0x00, 0x01]).1,
        0x63C2,
        "counter kept, verification lost"
    );
}

#[test]
fn a_card_pulled_mid_apdu_fails_the_transmit() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup("cps4-staff");
    let _inserted = s.card.insert(&s.slot).unwrap();
    wait_for_card(&s.ctx, &s.reader, true);
    let card = connect(&s.ctx, &s.reader);
    assert_eq!(
        send(
            &card,
            &with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::CHIPDOC_AID)
        )
        .1,
        0x9000
    );
    s.card.faults().pull_on_next_apdu();
    let mut buffer = [0u8; 64];
    // vpcd hands the application either an error or an empty answer (no status word).
    let result = card
        .transmit(&[0x01, 0xB0, 0x00, 0x00, 0x01], &mut buffer)
        .map(<[u8]>::to_vec);
    assert!(
        result.as_ref().map_or(true, |r| r.len() < 2),
        "got {result:?}"
    );
    wait_for_card(&s.ctx, &s.reader, false);
}

#[test]
fn a_slow_card_still_answers() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup("cps4-expired");
    let _inserted = s.card.insert(&s.slot).unwrap();
    wait_for_card(&s.ctx, &s.reader, true);
    let card = connect(&s.ctx, &s.reader);
    let delay = Duration::from_millis(300);
    s.card.faults().set_answer_delay(Some(delay));
    let start = Instant::now();
    let select = with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::CHIPDOC_AID);
    assert_eq!(send(&card, &select).1, 0x9000);
    assert!(
        start.elapsed() >= delay,
        "the answer came before the injected delay"
    );
    s.card.faults().set_answer_delay(None);
    assert_eq!(send(&card, &[0x01, 0x20, 0x00, 0x01]).1, 0x63C3);
}
