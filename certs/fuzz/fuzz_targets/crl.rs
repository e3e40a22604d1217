//! Arbitrary bytes as a downloaded CRL: loading must fail with an error or succeed, and the
//! verifier must keep working either way.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use vigie_certs::{TrustConfig, Verifier};

static ROOT: &[u8] = include_bytes!("../fixtures/racine-elementaire.der");
static INTERMEDIATE: &[u8] = include_bytes!("../fixtures/elementaire-personnes.der");

fuzz_target!(|data: &[u8]| {
    let config = TrustConfig::new(
        vec![CertificateDer::from(ROOT)],
        vec![CertificateDer::from(INTERMEDIATE)],
    );
    let verifier = Verifier::new(config).expect("the committed fixtures make a verifier");
    if verifier.update_crls(&[CertificateRevocationListDer::from(data)]).is_ok() {
        let now = UnixTime::since_unix_epoch(Duration::from_secs(1_767_312_000));
        let _ = verifier.crl_statuses(now);
        let _ = verifier.verify(&CertificateDer::from(INTERMEDIATE), &[], now);
    }
});
