//! JSON Web Tokens in compact form, RS256 only: made for ID tokens, access tokens, logout
//! tokens and identity assertions, and read back when an app presents an access token.
//!
//! Reading is strict: three base64url parts without padding, a header whose `alg` is RS256
//! and whose `kid` is a key the issuer publishes, a signature that verifies, JSON object
//! claims, and an `exp` in the future. Anything else is refused with a reason; the bytes
//! come from whoever calls the issuer, so this never panics, and it has a fuzz target.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::SsoError;
use super::keys::KeyRing;

/// The largest token read back; ours are a few kilobytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a presented token is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts of JSON, or too long.
    #[error("the token is malformed ({0})")]
    Malformed(&'static str),
    /// Another algorithm than RS256, or a key this issuer does not publish.
    #[error("the token is not signed by this issuer's keys")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// Its `exp` is past.
    #[error("the token has expired")]
    Expired,
}

/// Signs `claims` with the current key; `typ` goes in the header (`JWT`, `logout+jwt`).
pub fn sign(keys: &KeyRing, typ: &str, claims: &Value) -> Result<String, SsoError> {
    let kid = keys.current()?.kid().to_owned();
    let header = serde_json::json!({ "alg": "RS256", "typ": typ, "kid": kid });
    let mut input = encode_json(&header)?;
    input.push('.');
    input.push_str(&encode_json(claims)?);
    let (_, signature) = keys.sign(input.as_bytes())?;
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(input)
}

/// Checks a token made by [`sign`] at `now` (Unix seconds); its claims.
pub fn verify(keys: &KeyRing, token: &str, now: u64) -> Result<Map<String, Value>, JwtError> {
    verify_with(token, now, |kid, input, signature| {
        let kid = kid.ok_or(JwtError::UnknownKey)?;
        if !keys.publishes(kid) {
            return Err(JwtError::UnknownKey);
        }
        if keys.verify(kid, input, signature) {
            Ok(())
        } else {
            Err(JwtError::BadSignature)
        }
    })
}

/// Checks an RS256 token at `now` with `check`, which is given the header's `kid` (if any),
/// the signed bytes and the signature; the claims.
pub fn verify_with(
    token: &str,
    now: u64,
    check: impl FnOnce(Option<&str>, &[u8], &[u8]) -> Result<(), JwtError>,
) -> Result<Map<String, Value>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed("too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three parts"));
    };
    let header = decode_object(header)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(JwtError::UnknownKey);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    let signed_len = token.len() - signature_part_len(token);
    let kid = header.get("kid").and_then(Value::as_str);
    check(kid, &token.as_bytes()[..signed_len], &signature)?;
    let claims = decode_object(claims)?;
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) if exp > now => Ok(claims),
        Some(_) => Err(JwtError::Expired),
        None => Err(JwtError::Malformed("no exp")),
    }
}

/// The length of the signature part and the dot before it.
fn signature_part_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

fn encode_json(value: &Value) -> Result<String, SsoError> {
    let bytes = serde_json::to_vec(value).map_err(|e| SsoError::Internal(format!("JSON: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn decode_object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed("not a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn keys() -> (tempfile::TempDir, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load_or_create(dir.path(), Duration::from_secs(86_400), 0).unwrap();
        (dir, ring)
    }

    #[test]
    fn a_signed_token_reads_back_until_it_expires() {
        let (_dir, keys) = keys();
        let claims = serde_json::json!({ "sub": "899700123450", "exp": 100 });
        let token = sign(&keys, "JWT", &claims).unwrap();
        let read = verify(&keys, &token, 99).unwrap();
        assert_eq!(read["sub"], "899700123450");
        assert_eq!(verify(&keys, &token, 100), Err(JwtError::Expired));
    }

    #[test]
    fn tampered_foreign_and_malformed_tokens_are_refused() {
        let (_dir, keys) = keys();
        let (_other_dir, other) = self::keys();
        let claims = serde_json::json!({ "sub": "a", "exp": 100 });
        let token = sign(&keys, "JWT", &claims).unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"b","exp":100}"#);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(verify(&keys, &forged, 1), Err(JwtError::BadSignature));
        let foreign = sign(&other, "JWT", &claims).unwrap();
        assert_eq!(verify(&keys, &foreign, 1), Err(JwtError::UnknownKey));
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(verify(&keys, &none_alg, 1), Err(JwtError::UnknownKey));
        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(
                matches!(verify(&keys, garbage, 1), Err(JwtError::Malformed(_))),
                "{garbage:.20}"
            );
        }
    }
}
