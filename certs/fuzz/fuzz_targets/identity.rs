//! Arbitrary bytes into the card identity extractor and the idNat parser: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_certs::{CardIdentity, IdNat};

fuzz_target!(|data: &[u8]| {
    if let Ok(identity) = CardIdentity::from_der(data) {
        // An extracted identity's idNat must parse again to itself.
        let again = IdNat::parse(identity.person_key()).expect("an extracted idNat re-parses");
        assert_eq!(again, identity.id_nat);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = IdNat::parse(text);
    }
});
