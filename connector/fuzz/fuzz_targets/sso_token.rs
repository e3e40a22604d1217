//! What the SSO issuer reads from apps and browsers before it trusts them, on arbitrary
//! bytes: access tokens (userinfo, introspection), client assertions (private_key_jwt),
//! form and query strings, JWKS documents. Nothing panics, and nothing arbitrary verifies.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vigie_connector::sso::client_auth::{ClientKey, SeenAssertions, parse_jwks};
use vigie_connector::sso::keys::KeyRing;
use vigie_connector::sso::{jwt, query};

/// One signing key for the whole run (RSA key generation is slow).
fn keys() -> &'static (KeyRing, Vec<ClientKey>) {
    static KEYS: OnceLock<(KeyRing, Vec<ClientKey>)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vigie-fuzz-sso-{}", std::process::id()));
        let ring = KeyRing::load_or_create(&dir, Duration::from_secs(86_400), 0)
            .expect("a signing key");
        let jwks = serde_json::to_string(&ring.jwks()).expect("JSON");
        let client = parse_jwks(&jwks).expect("our own JWKS");
        (ring, client)
    })
}

fuzz_target!(|data: &[u8]| {
    let (ring, client) = keys();
    let text = String::from_utf8_lossy(data);
    assert!(jwt::verify(ring, &text, 1_000).is_err(), "an arbitrary token verified");
    let mut seen = SeenAssertions::default();
    let audiences = ["https://sso.example".to_owned()];
    let checked = seen.check(&text, None, &audiences, |_| Some(client.as_slice()), 1_000);
    assert!(checked.is_err(), "an arbitrary assertion verified");
    let params = query::parse(data);
    let _ = query::one(&params, "client_assertion");
    let _ = parse_jwks(&text);
});
