//! Arbitrary bytes as a client's leaf certificate, checked against a small fixed trust store
//! (the committed TEST ELEMENTAIRE root, its PERSONNES CA and CRL, from `vigie-pki init --seed 1
//! --at 2026-01-01T00:00:00Z`). The verifier must refuse with a reason, never panic.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use vigie_certs::{TrustConfig, Verifier};

static ROOT: &[u8] = include_bytes!("../fixtures/racine-elementaire.der");
static INTERMEDIATE: &[u8] = include_bytes!("../fixtures/elementaire-personnes.der");
static CRL: &[u8] = include_bytes!("../fixtures/elementaire-personnes.crl");

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let mut config = TrustConfig::new(
            vec![CertificateDer::from(ROOT)],
            vec![CertificateDer::from(INTERMEDIATE)],
        );
        config.crls = vec![CertificateRevocationListDer::from(CRL)];
        Verifier::new(config).expect("the committed fixtures make a verifier")
    })
}

fuzz_target!(|data: &[u8]| {
    // 2026-01-02T00:00:00Z: inside the fixtures' validity and CRL window.
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_767_312_000));
    let leaf = CertificateDer::from(data);
    if let Ok(card) = verifier().verify(&leaf, &[], now) {
        assert!(!card.identity.person_key().is_empty());
    }
    // The same bytes as a presented intermediate for a bare, unrelated leaf.
    let _ = verifier().verify(&CertificateDer::from(INTERMEDIATE), &[leaf], now);
});
