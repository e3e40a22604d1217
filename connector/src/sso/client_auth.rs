//! How an app proves who it is at the token and introspection endpoints: its secret (HTTP
//! Basic or form fields), or a JWT it signed with its own RSA key (`private_key_jwt`, RFC
//! 7523), checked against the public keys registered for it (`jwks_file`). No secret then
//! lives on the connector.
//!
//! An assertion must name the client as `iss` and `sub`, the issuer or its token endpoint as
//! `aud`, expire within [`MAX_ASSERTION_LIFETIME`], and carry a `jti` never seen before.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde_json::Value;

use super::jwt::{self, JwtError};

/// The `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may be valid, in seconds: it is made for one request.
pub const MAX_ASSERTION_LIFETIME: u64 = 300;

/// One public RSA key of an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKey {
    kid: Option<String>,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// The RSA keys of a JWKS document; other key types are skipped.
pub fn parse_jwks(text: &str) -> Result<Vec<ClientKey>, String> {
    let document: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let keys = document["keys"]
        .as_array()
        .ok_or("not a JWKS document (no \"keys\" list)")?;
    let mut found = Vec::new();
    for key in keys.iter().filter(|k| k["kty"] == "RSA") {
        let part = |name: &str| {
            let text = key[name]
                .as_str()
                .ok_or(format!("an RSA key without {name:?}"))?;
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| format!("{name:?} of an RSA key is not base64url"))
        };
        found.push(ClientKey {
            kid: key["kid"].as_str().map(str::to_owned),
            n: part("n")?,
            e: part("e")?,
        });
    }
    if found.is_empty() {
        return Err("no RSA key in the JWKS document".into());
    }
    Ok(found)
}

/// What the client presented.
#[derive(Debug)]
pub enum Credentials<'a> {
    /// A client id, and its secret if any (none for a public client).
    Secret {
        /// `client_id`.
        id: &'a str,
        /// `client_secret`.
        secret: Option<&'a str>,
    },
    /// A signed assertion.
    Assertion {
        /// `client_id`, if the form gave one (it must then match the assertion).
        id: Option<&'a str>,
        /// `client_assertion`.
        assertion: &'a str,
    },
}

/// The assertion ids seen, until they expire: a replayed assertion is refused.
#[derive(Debug, Default)]
pub struct SeenAssertions(HashMap<String, u64>);

impl SeenAssertions {
    /// Checks `assertion` for the client it names, with `keys_of` giving a client's keys;
    /// the client id.
    pub fn check<'k>(
        &mut self,
        assertion: &str,
        claimed: Option<&str>,
        audiences: &[String],
        keys_of: impl Fn(&str) -> Option<&'k [ClientKey]>,
        now: u64,
    ) -> Result<String, JwtError> {
        self.0.retain(|_, exp| *exp > now);
        let unverified = peek_issuer(assertion).ok_or(JwtError::Malformed("no iss"))?;
        if claimed.is_some_and(|c| c != unverified) {
            return Err(JwtError::UnknownKey);
        }
        let keys = keys_of(&unverified).ok_or(JwtError::UnknownKey)?;
        let claims = jwt::verify_with(assertion, now, |kid, input, signature| {
            let usable = keys
                .iter()
                .filter(|k| kid.is_none() || k.kid.as_deref() == kid);
            for key in usable {
                let public = RsaPublicKeyComponents {
                    n: &key.n,
                    e: &key.e,
                };
                if public
                    .verify(&RSA_PKCS1_2048_8192_SHA256, input, signature)
                    .is_ok()
                {
                    return Ok(());
                }
            }
            Err(JwtError::BadSignature)
        })?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let aud_ok = match claims.get("aud") {
            Some(Value::String(aud)) => audiences.contains(aud),
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str().is_some_and(|a| audiences.iter().any(|x| x == a))),
            _ => false,
        };
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        if text("iss") != Some(&unverified) || text("sub") != Some(&unverified) || !aud_ok {
            return Err(JwtError::Malformed("iss, sub or aud do not fit"));
        }
        if exp > now + MAX_ASSERTION_LIFETIME {
            return Err(JwtError::Malformed("valid for too long"));
        }
        let jti = text("jti").ok_or(JwtError::Malformed("no jti"))?;
        if self
            .0
            .insert(format!("{unverified}\u{0}{jti}"), exp)
            .is_some()
        {
            return Err(JwtError::Malformed("replayed"));
        }
        Ok(unverified)
    }
}

/// The `iss` of a JWT, before its signature is checked: only to find whose keys check it.
fn peek_issuer(token: &str) -> Option<String> {
    let claims = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(claims).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_documents_give_their_rsa_keys() {
        let keys = parse_jwks(
            r#"{"keys":[{"kty":"EC","crv":"P-256"},{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB"}]}"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("k1"));
        assert!(parse_jwks("[]").is_err());
        assert!(parse_jwks(r#"{"keys":[{"kty":"RSA","n":"!","e":"AQAB"}]}"#).is_err());
        assert!(parse_jwks(r#"{"keys":[]}"#).is_err());
    }
}
