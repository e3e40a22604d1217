//! The emulated CPS3 checked by software nobody here wrote: OpenSC's "IAS/ECC CPx" driver.

use std::process::{Command, Output};
use std::sync::Arc;

use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};
use vigie_certs::pki::World;
use vigie_lab::card::VirtualCard;
use vigie_lab::{Pcscd, ReaderSlot, require_root};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

fn identity_dir(name: &str) -> std::path::PathBuf {
    World::shared(1, UnixTime::now())
        .expect("test PKI world")
        .dir()
        .join("cards")
        .join(name)
}

fn opensc(pcscd: &Pcscd, tool: &str, args: &[&str]) -> Output {
    let (key, socket) = pcscd.client_env();
    Command::new(tool)
        .args(args)
        .env(key, socket)
        .env(
            "OPENSC_DEBUG",
            std::env::var("OPENSC_DEBUG").unwrap_or_else(|_| "0".into()),
        )
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e} (Debian package opensc)"))
}

fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits until pcscd shows a card in `reader` (`opensc-tool --wait` returns on any reader).
fn wait_for_card(reader: &str) {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
    let name = std::ffi::CString::new(reader).expect("reader name");
    let mut states = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
    let start = std::time::Instant::now();
    while !states[0].event_state().contains(pcsc::State::PRESENT) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no card in {reader}"
        );
        states[0].sync_current_state();
        let _ = ctx.get_status_change(Some(std::time::Duration::from_millis(500)), &mut states);
    }
}

struct Setup {
    pcscd: Arc<Pcscd>,
    slot: ReaderSlot,
}

fn setup() -> Setup {
    vigie_lab::init_test_logging();
    let pcscd = Pcscd::shared().expect("pcscd");
    let slot = pcscd.take_slot();
    Setup { pcscd, slot }
}

#[test]
fn opensc_recognises_the_cps3_and_reads_its_certificate() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup();
    let card = VirtualCard::load(&identity_dir("cps3-doctor")).expect("identity");
    let _inserted = card.insert(&s.slot).expect("insert");
    let reader = s.slot.reader_name();
    wait_for_card(&reader);
    let name = opensc(&s.pcscd, "opensc-tool", &["-r", &reader, "-n"]);
    assert!(
        String::from_utf8_lossy(&name.stdout).contains("IAS-ECC"),
        "{}",
        text(&name)
    );
    let dump = opensc(&s.pcscd, "pkcs15-tool", &["--reader", &reader, "-D"]);
    let listing = text(&dump);
    assert!(dump.status.success(), "{listing}");
    for expected in [
        "CPS_PRIV_AUT",
        "CPS_PRIV_SIG",
        "Certificat d'Authentification CPS",
        "Key ref        : 130 (0x82)",
    ] {
        assert!(listing.contains(expected), "no {expected:?} in\n{listing}");
    }

    let dir = vigie_lab::fixtures::TempDir::new().expect("temp dir");
    let pem = dir.path().join("auth.pem");
    let read = opensc(
        &s.pcscd,
        "pkcs15-tool",
        &[
            "--reader",
            &reader,
            "--read-certificate",
            AUTH_ID,
            "--output",
            &pem.display().to_string(),
        ],
    );
    assert!(read.status.success(), "{}", text(&read));
    let der = Command::new("openssl")
        .args(["x509", "-in", &pem.display().to_string(), "-outform", "DER"])
        .output()
        .expect("openssl");
    assert!(der.status.success(), "{}", text(&der));
    let expected =
        std::fs::read(identity_dir("cps3-doctor").join("auth.crt.der")).expect("auth.crt.der");
    assert_eq!(
        der.stdout, expected,
        "OpenSC read another certificate than the card's"
    );
}

/// The PKCS#15 ID of `CPS_PRIV_AUT` and its certificate, as on a real CPx.
const AUTH_ID: &str = "e828bd080f8025000001ff001002";

#[test]
fn pkcs11_tool_signs_with_the_cps3_authentication_key() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    let s = setup();
    let card = VirtualCard::load(&identity_dir("cps3-doctor")).expect("identity");
    let _inserted = card.insert(&s.slot).expect("insert");
    let reader = s.slot.reader_name();
    wait_for_card(&reader);
    let dir = vigie_lab::fixtures::TempDir::new().expect("temp dir");
    // CKM_RSA_PKCS over a DigestInfo: what a TLS 1.2 client asks of a CPS3 (the card pads).
    let hash = Sha256::digest(b"TLS 1.2 handshake to sign");
    let input = dir.path().join("digest-info");
    std::fs::write(&input, digest_info_sha256(&hash)).expect("DigestInfo");
    let output = dir.path().join("signature");
    let sign = opensc(
        &s.pcscd,
        "pkcs11-tool",
        &[
            "--module",
            "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
            // This test's reader: another test may hold a card in the other one.
            "--slot-description",
            &reader,
            "--login",
            "--pin",
            "1234",
            "--sign",
            "--mechanism",
            "RSA-PKCS",
            "--id",
            AUTH_ID,
            "--input-file",
            &input.display().to_string(),
            "--output-file",
            &output.display().to_string(),
        ],
    );
    assert!(sign.status.success(), "{}", text(&sign));
    let signature = std::fs::read(&output).expect("signature file");
    let cert =
        std::fs::read(identity_dir("cps3-doctor").join("auth.crt.der")).expect("certificate");
    public_key_of(&cert)
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .expect("the signature OpenSC obtained verifies with the certificate's key");
}

fn digest_info_sha256(hash: &[u8]) -> Vec<u8> {
    let prefix = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    [&prefix[..], hash].concat()
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
