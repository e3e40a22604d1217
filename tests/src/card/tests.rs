//! The two personalities driven APDU by APDU, without a reader.

use std::path::PathBuf;

use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use super::*;

fn identity(generation: Generation) -> CardIdentity {
    let key = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
    CardIdentity {
        dir: PathBuf::from("/nonexistent"),
        generation,
        pin: Secret::new("1234"),
        puk: Secret::new("12345678"),
        card_number: "0123456789".into(),
        holder: "TESTEUR JEANNE".into(),
        id_nat: "899700123456".into(),
        auth_cert: (0..600u32).map(|i| i as u8).collect(),
        auth_key: key.clone(),
        sign_cert: vec![0x30, 0x03, 0x02, 0x01, 0x01],
        sign_key: key,
    }
}

fn sw(response: &[u8]) -> u16 {
    u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
}

/// Sends an APDU and follows `61xx` with GET RESPONSE, as a T=0 client does.
fn exchange(card: &VirtualCard, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut response = card.transmit(apdu);
    let mut data = Vec::new();
    while sw(&response) >> 8 == 0x61 {
        data.extend_from_slice(&response[..response.len() - 2]);
        response = card.transmit(&[
            apdu[0] & 0x03,
            0xC0,
            0x00,
            0x00,
            response[response.len() - 1],
        ]);
    }
    data.extend_from_slice(&response[..response.len() - 2]);
    (data, sw(&response))
}

fn read_file(card: &VirtualCard, cla: u8) -> Vec<u8> {
    let mut content = Vec::new();
    loop {
        let offset = content.len() as u16;
        let [p1, p2] = offset.to_be_bytes();
        let (chunk, status) = exchange(card, &[cla, 0xB0, p1, p2, 0xE7]);
        content.extend_from_slice(&chunk);
        if status != 0x9000 {
            assert!(
                status == 0x6282 || status == 0x6B00,
                "READ BINARY: {status:04X}"
            );
            return content;
        }
    }
}

fn digest_info(hash: &[u8]) -> Vec<u8> {
    let mut info = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    info.extend_from_slice(hash);
    info
}

fn with_data(header: &[u8], data: &[u8]) -> Vec<u8> {
    [header, &[data.len() as u8], data].concat()
}

#[test]
fn cps3_select_answers_61xx_then_get_response() {
    let card = VirtualCard::from_identity(&identity(Generation::Cps3));
    let response = card.transmit(&[0x00, 0xA4, 0x09, 0x04, 0x04, 0x3F, 0x00, 0xD0, 0x03]);
    assert_eq!(sw(&response) >> 8, 0x61);
    let (fcp, status) = exchange(&card, &[0x00, 0xC0, 0x00, 0x00, response[1]]);
    assert_eq!((fcp[0], status), (0x62, 0x9000));
    let (sn, status) = exchange(&card, &[0x00, 0xB0, 0x00, 0x00, 0x0C]);
    assert_eq!(status, 0x9000);
    assert_eq!(&sn[..7], &[0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01]);
}

#[test]
fn cps3_reads_the_certificate_and_signs_after_the_pin() {
    let id = identity(Generation::Cps3);
    let card = VirtualCard::from_identity(&id);
    let select_app = with_data(&[0x00, 0xA4, 0x04, 0x00], &layout::PKCS15_AID);
    assert_eq!(exchange(&card, &select_app).1, 0x6A86, "CPx refuses P2=00");
    let select_app = with_data(&[0x00, 0xA4, 0x04, 0x0C], &layout::PKCS15_AID);
    assert_eq!(exchange(&card, &select_app).1, 0x9000);
    assert_eq!(
        exchange(&card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0xC0, 0x00]).1,
        0x9000
    );
    assert_eq!(read_file(&card, 0x00), id.auth_cert);

    let mse = [
        0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
    ];
    assert_eq!(exchange(&card, &mse).1, 0x9000);
    let hash = Sha256::digest(b"client hello .. server hello");
    let internal_auth = with_data(&[0x00, 0x88, 0x00, 0x00], &digest_info(&hash));
    assert_eq!(
        exchange(&card, &internal_auth).1,
        0x6982,
        "no PIN, no signature"
    );
    assert_eq!(exchange(&card, b"\x00\x20\x00\x01\x041234").1, 0x9000);
    let (signature, status) = exchange(&card, &internal_auth);
    assert_eq!(status, 0x9000);
    RsaPublicKey::from(&id.auth_key)
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .unwrap();
}

#[test]
fn cps3_blocks_after_three_wrong_pins_and_keeps_the_count_across_power() {
    let card = VirtualCard::from_identity(&identity(Generation::Cps3));
    assert_eq!(exchange(&card, b"\x00\x20\x00\x01\x040000").1, 0x63C2);
    card.power_cycle();
    assert_eq!(exchange(&card, b"\x00\x20\x00\x01\x040000").1, 0x63C1);
    let (sdo, _) = exchange(
        &card,
        &[
            0x00, 0xCB, 0x3F, 0xFF, 0x0A, 0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, 0x01, 0x02, 0xA0,
            0x80,
        ],
    );
    assert_eq!(&sdo[11..14], &[0x9B, 0x01, 0x01]);
    assert_eq!(exchange(&card, b"\x00\x20\x00\x01\x040000").1, 0x6983);
    assert_eq!(exchange(&card, b"\x00\x20\x00\x01\x041234").1, 0x6983);
    assert_eq!(card.pin_tries_left(), 0);
}

#[test]
fn cps3_has_no_pss_and_no_logical_channels() {
    let card = VirtualCard::from_identity(&identity(Generation::Cps3));
    assert_eq!(exchange(&card, b"\x00\x20\x00\x01\x041234").1, 0x9000);
    assert_eq!(
        exchange(
            &card,
            &[
                0x00, 0x22, 0x41, 0xB6, 0x06, 0x80, 0x01, 0x2C, 0x84, 0x01, 0x81
            ]
        )
        .1,
        0x9000
    );
    assert_eq!(
        exchange(&card, &with_data(&[0x00, 0x2A, 0x9E, 0x9A], &[0; 32])).1,
        0x6A80
    );
    let on_channel_1 = with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::CHIPDOC_AID);
    assert_eq!(exchange(&card, &on_channel_1).1, 0x6881);
}

fn cps4_open(card: &VirtualCard) {
    let select = with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::CHIPDOC_AID);
    assert_eq!(exchange(card, &select).1, 0x9000);
}

#[test]
fn cps4_needs_chipdoc_on_channel_1() {
    let id = identity(Generation::Cps4);
    let card = VirtualCard::from_identity(&id);
    assert_eq!(
        exchange(&card, &[0x01, 0xB0, 0x00, 0x00, 0x0C]).1,
        0x6881,
        "channel 1 is closed"
    );
    assert_eq!(
        exchange(&card, &[0x00, 0xB0, 0x00, 0x00, 0x0C]).1,
        0x6985,
        "CPS2ter applet"
    );
    cps4_open(&card);
    assert_eq!(
        exchange(&card, &[0x01, 0xA4, 0x00, 0x0C, 0x02, 0xD0, 0x03]).1,
        0x9000
    );
    let (sn, status) = exchange(&card, &[0x01, 0xB0, 0x00, 0x00, 0x0C]);
    assert_eq!((sn.len(), status), (12, 0x9000));
    assert_eq!(
        exchange(
            &card,
            &with_data(&[0x01, 0xA4, 0x04, 0x0C], &[0xA0, 0, 0, 1, 0x51])
        )
        .1,
        0x9000,
        "the GlobalPlatform helper is selectable"
    );
    assert_eq!(
        exchange(&card, &[0x01, 0xB0, 0x00, 0x00, 0x0C]).1,
        0x6985,
        "deselected"
    );
    let unknown = with_data(&[0x01, 0xA4, 0x04, 0x0C], &[0xD2, 0x76, 0x00]);
    assert_eq!(exchange(&card, &unknown).1, 0x6A82);
    cps4_open(&card);
    assert_eq!(exchange(&card, &unknown).1, 0x6A82);
    let (_, status) = exchange(&card, &[0x01, 0xA4, 0x00, 0x0C, 0x02, 0xD0, 0x03]);
    assert_eq!(status, 0x9000, "a failed SELECT keeps ChipDoc selected");
    cps4_open(&card);
    assert_eq!(
        exchange(
            &card,
            &with_data(&[0x01, 0xA4, 0x04, 0x0C], &layout::PKCS15_AID)
        )
        .1,
        0x9000
    );
    assert_eq!(
        exchange(&card, &[0x01, 0xA4, 0x02, 0x0C, 0x02, 0xC0, 0x00]).1,
        0x9000
    );
    assert_eq!(read_file(&card, 0x01), id.auth_cert);
    card.power_cycle();
    assert_eq!(
        exchange(&card, &[0x01, 0xB0, 0x00, 0x00, 0x0C]).1,
        0x6881,
        "reset closes channels"
    );
}

#[test]
fn cps4_signs_pkcs1_by_chained_decipher_and_pss_by_cds() {
    let id = identity(Generation::Cps4);
    let card = VirtualCard::from_identity(&id);
    cps4_open(&card);
    assert_eq!(
        exchange(&card, b"\x01\x20\x00\x01").1,
        0x63C3,
        "PIN status probe"
    );
    assert_eq!(exchange(&card, b"\x01\x20\x00\x01\x041234").1, 0x9000);

    let hash = Sha256::digest(b"tls 1.2 transcript");
    let info = digest_info(&hash);
    let mut block = vec![0x00, 0x01];
    block.resize(128 - info.len() - 1, 0xFF);
    block.push(0x00);
    block.extend_from_slice(&info);
    assert_eq!(
        exchange(&card, &[0x01, 0x22, 0x41, 0xB8, 0x03, 0x83, 0x01, 0x20]).1,
        0x9000
    );
    assert_eq!(
        exchange(&card, &with_data(&[0x11, 0x2A, 0x80, 0x86], &block[..100])).1,
        0x9000
    );
    let (signature, status) = exchange(
        &card,
        &[
            with_data(&[0x01, 0x2A, 0x80, 0x86], &block[100..]),
            vec![0x00],
        ]
        .concat(),
    );
    assert_eq!(status, 0x9000);
    let public = RsaPublicKey::from(&id.auth_key);
    public
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .unwrap();

    let hash = Sha256::digest(b"tls 1.3 transcript");
    assert_eq!(
        exchange(
            &card,
            &[0x01, 0x22, 0x81, 0xB6, 0x04, 0x91, 0x02, 0x2C, 0xA0]
        )
        .1,
        0x9000
    );
    let (signature, status) = exchange(
        &card,
        &[with_data(&[0x01, 0x2A, 0x9E, 0x9A], &hash), vec![0x00]].concat(),
    );
    assert_eq!(status, 0x9000);
    public
        .verify(
            Pss::new_with_salt::<Sha256>(keys::PSS_SALT_LEN),
            &hash,
            &signature,
        )
        .unwrap();
    assert_eq!(
        exchange(&card, &[0x01, 0x88, 0x00, 0x00, 0x01, 0x00]).1,
        0x6D00,
        "no INTERNAL AUTHENTICATE"
    );
}

#[test]
fn a_chain_broken_by_another_command_is_refused() {
    let card = VirtualCard::from_identity(&identity(Generation::Cps4));
    cps4_open(&card);
    assert_eq!(
        exchange(&card, &[0x11, 0x2A, 0x80, 0x86, 0x01, 0x00]).1,
        0x9000
    );
    assert_eq!(exchange(&card, &[0x01, 0xB0, 0x00, 0x00, 0x01]).1, 0x6883);
}

#[test]
fn random_bytes_never_panic_and_always_get_a_status_word() {
    for generation in [Generation::Cps3, Generation::Cps4] {
        let card = VirtualCard::from_identity(&identity(generation));
        let mut rng = OsRng;
        for round in 0..5000 {
            let len = rng.gen_range(0..300);
            let mut apdu = vec![0; len];
            rng.fill_bytes(&mut apdu);
            if round % 3 == 0 && len > 1 {
                apdu[1] = [0xA4, 0xB0, 0x20, 0x22, 0x2A, 0x88, 0xC0, 0x70, 0xCB][round % 9];
                apdu[0] &= 0x13;
            }
            let response = card.transmit(&apdu);
            assert!(response.len() >= 2, "{apdu:02X?} got {response:02X?}");
        }
    }
}

#[test]
fn cps3_get_data_answers_the_key_sdo_as_opensc_reads_it() {
    let card = VirtualCard::from_identity(&identity(Generation::Cps3));
    let request = [
        0x00, 0xCB, 0x3F, 0xFF, 0x0B, 0x4D, 0x09, 0x70, 0x07, 0xBF, 0x90, 0x02, 0x03, 0x7F, 0x48,
        0x80,
    ];
    let (sdo, status) = exchange(&card, &request);
    assert_eq!(status, 0x9000);
    assert_eq!(&sdo[..3], &[0xBF, 0x90, 0x02]);
    assert_eq!(
        usize::from(sdo[3]),
        sdo.len() - 4,
        "the SDO is exactly its TLV"
    );
    assert!(
        sdo.windows(4).any(|w| w == [0x80, 0x02, 0x04, 0x00]),
        "1024-bit size: {sdo:02X?}"
    );
    assert!(
        sdo.windows(6)
            .any(|w| w == [0x8C, 0x04, 0x70, 0xFF, 0x11, 0x11]),
        "access rules: {sdo:02X?}"
    );
    let unknown = [
        0x00, 0xCB, 0x3F, 0xFF, 0x0B, 0x4D, 0x09, 0x70, 0x07, 0xBF, 0x90, 0x05, 0x03, 0x7F, 0x48,
        0x80,
    ];
    assert_eq!(exchange(&card, &unknown).1, 0x6A88);
}

#[test]
fn time_spent_counts_every_apdu_and_only_the_private_key_operations_done() {
    let card = VirtualCard::from_identity(&identity(Generation::Cps4));
    cps4_open(&card);
    let opened = card.time_spent();
    assert!(opened.apdu_count >= 1, "{opened:?}");
    assert_eq!(opened.signatures, 0, "opening signs nothing");

    let mse = [0x01, 0x22, 0x81, 0xB6, 0x04, 0x91, 0x02, 0x2C, 0xA0];
    let pss = [
        with_data(&[0x01, 0x2A, 0x9E, 0x9A], &Sha256::digest(b"m")),
        vec![0x00],
    ]
    .concat();
    assert_eq!(exchange(&card, &mse).1, 0x9000);
    assert_eq!(exchange(&card, &pss).1, 0x6982, "no PIN, no signature");
    assert_eq!(exchange(&card, b"\x01\x20\x00\x01\x041234").1, 0x9000);
    assert_eq!(exchange(&card, &pss).1, 0x9000);
    let spent = card.time_spent().since(&opened);
    assert_eq!(spent.apdu_count, 4, "{spent:?}");
    assert_eq!(spent.signatures, 1, "{spent:?}");
    assert!(spent.signing > Duration::ZERO, "{spent:?}");
    assert!(spent.apdus >= spent.signing, "{spent:?}");
}
