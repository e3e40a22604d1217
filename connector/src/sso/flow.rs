//! The OpenID Connect issuer's decisions, without I/O: authorization (code flow, PKCE), the
//! token exchange, userinfo, introspection and logout. The HTTP layer ([`super::http`]) parses
//! requests into these calls and writes their answers; the time and the random values come
//! from the caller.
//!
//! The card is the login. A browser reaches the authorization endpoint through its session's
//! tunnel, so the caller already knows the [`Subject`]; there is no login page, and a request
//! from anywhere else gets a page that says so. Everything issued for a session lives as long
//! as the session: when it ends ([`Issuer::session_ended`]) its codes are dropped, its tokens
//! stop being accepted at userinfo and introspection, and the apps that had tokens are named
//! so the caller can send them back-channel logout tokens.
//!
//! Each change to what outlives a request (a session's person, the apps holding its tokens,
//! those logged out) is also said as a [`Record`], which the caller takes
//! ([`Issuer::take_records`]) and keeps in the [`super::journal`], so that an issuer started
//! again ([`Issuer::replay`]) knows the sessions the connector kept.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::claims::Subject;
use super::client_auth::{Credentials, SeenAssertions};
use super::config::{RegisteredClient, SsoConfig};
use super::journal::Record;
use super::jwt::{self, JwtError};
use super::keys::KeyRing;
use super::{Refusal, TokenError, query};

/// An authorization code waiting for its exchange.
#[derive(Debug)]
struct PendingCode {
    client: String,
    redirect_uri: String,
    challenge: Option<String>,
    nonce: Option<String>,
    scope: String,
    session: String,
    expires: u64,
}

/// What the token endpoint answers.
#[derive(Debug)]
pub struct Tokens {
    /// The JSON body.
    pub body: Value,
}

/// The issuer's state: pending codes, the live sessions' subjects, who holds tokens.
#[derive(Debug)]
pub struct Issuer {
    config: SsoConfig,
    codes: HashMap<String, PendingCode>,
    subjects: HashMap<String, Subject>,
    /// (session, client) pairs that received tokens, for back-channel logout.
    holders: HashSet<(String, String)>,
    /// (session, client) pairs the app logged out of.
    logged_out: HashSet<(String, String)>,
    /// Client assertions already used.
    seen: SeenAssertions,
    /// Changes not yet taken by [`Self::take_records`].
    outbox: Vec<Record>,
}

impl Issuer {
    /// An issuer with no session yet.
    pub fn new(config: SsoConfig) -> Self {
        Self {
            config,
            codes: HashMap::new(),
            subjects: HashMap::new(),
            holders: HashSet::new(),
            logged_out: HashSet::new(),
            seen: SeenAssertions::default(),
            outbox: Vec::new(),
        }
    }

    /// The changes since the last call, for the journal.
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.outbox)
    }

    /// Applies records a previous run wrote, in their order (nothing goes to the outbox).
    pub fn replay(&mut self, records: impl IntoIterator<Item = Record>) {
        for record in records {
            match record {
                Record::Subject { subject } => {
                    self.subjects.insert(subject.session.clone(), subject);
                }
                Record::Holder { session, client } => {
                    self.logged_out.remove(&(session.clone(), client.clone()));
                    self.holders.insert((session, client));
                }
                Record::LoggedOut { session, client } => {
                    self.logged_out.insert((session, client));
                }
                Record::Ended { session } => self.forget(&session),
            }
        }
    }

    /// What stands now, as records that [`Self::replay`] turns back into it.
    pub fn standing(&self) -> Vec<Record> {
        let subjects = self.subjects.values().map(|subject| Record::Subject {
            subject: subject.clone(),
        });
        let holders = self.holders.iter().map(|(session, client)| Record::Holder {
            session: session.clone(),
            client: client.clone(),
        });
        let logged_out = self
            .logged_out
            .iter()
            .map(|(session, client)| Record::LoggedOut {
                session: session.clone(),
                client: client.clone(),
            });
        subjects.chain(holders).chain(logged_out).collect()
    }

    /// The sessions the issuer knows of (signed in, or holding tokens).
    pub fn known_sessions(&self) -> HashSet<String> {
        let holding = self.holders.iter().map(|(session, _)| session.clone());
        self.subjects.keys().cloned().chain(holding).collect()
    }

    /// The configuration.
    pub fn config(&self) -> &SsoConfig {
        &self.config
    }

    /// Replaces the registered apps (a reloaded configuration). Codes already given to an
    /// app that is no longer registered cannot be exchanged any more; sign-ins stay.
    pub fn set_clients(&mut self, clients: Vec<RegisteredClient>) {
        self.config.clients = clients;
    }

    /// The authorization endpoint. `subject` is the session the request came through, if
    /// any; `code` a fresh random code. Answers the URL to redirect the browser to.
    pub fn authorize(
        &mut self,
        params: &[(String, String)],
        subject: Option<&Subject>,
        code: String,
        now: u64,
    ) -> Result<String, Refusal> {
        self.forget_expired(now);
        let client = self.client(query::one(params, "client_id"))?.clone();
        let redirect_uri = query::one(params, "redirect_uri").ok_or(Refusal::BadRedirect)?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(Refusal::BadRedirect);
        }
        let state = query::one(params, "state");
        let back = |error: &str, description: &str| {
            let pairs = [("error", error), ("error_description", description)];
            Ok(query::append(
                redirect_uri,
                pairs.into_iter().chain(state.map(|s| ("state", s))),
            ))
        };
        if query::one(params, "response_type") != Some("code") {
            return back("unsupported_response_type", "only the code flow is offered");
        }
        let scope = query::one(params, "scope").unwrap_or("");
        if !scope.split(' ').any(|s| s == "openid") {
            return back("invalid_scope", "the openid scope is required");
        }
        let challenge = match pkce_challenge(params, &client) {
            Ok(challenge) => challenge,
            Err(description) => return back("invalid_request", description),
        };
        let Some(subject) = subject else {
            return Err(Refusal::NoSession);
        };
        let known = self.subjects.get(&subject.session);
        if known != Some(subject) {
            self.subjects
                .insert(subject.session.clone(), subject.clone());
            self.outbox.push(Record::Subject {
                subject: subject.clone(),
            });
        }
        let pending = PendingCode {
            client: client.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            nonce: query::one(params, "nonce").map(str::to_owned),
            scope: scope.to_owned(),
            session: subject.session.clone(),
            expires: now + self.config.code_lifetime.as_secs(),
        };
        self.codes.insert(code.clone(), pending);
        let pairs = [("code", code.as_str())];
        Ok(query::append(
            redirect_uri,
            pairs.into_iter().chain(state.map(|s| ("state", s))),
        ))
    }

    /// The token endpoint: exchanges a code for an ID token and an access token. `client_id`
    /// is the client as [`Self::authenticate`] found it.
    pub fn token(
        &mut self,
        keys: &KeyRing,
        client_id: &str,
        params: &[(String, String)],
        jti: &str,
        now: u64,
    ) -> Result<Tokens, TokenError> {
        self.forget_expired(now);
        if query::one(params, "grant_type") != Some("authorization_code") {
            return Err(TokenError::UnsupportedGrant);
        }
        let code = query::one(params, "code").ok_or(TokenError::InvalidGrant("no code"))?;
        let pending = self
            .codes
            .remove(code)
            .ok_or(TokenError::InvalidGrant("unknown, used or expired code"))?;
        if pending.client != client_id {
            return Err(TokenError::InvalidGrant(
                "the code was issued to another client",
            ));
        }
        if query::one(params, "redirect_uri") != Some(pending.redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant(
                "redirect_uri differs from the request's",
            ));
        }
        if let Some(challenge) = &pending.challenge {
            let verifier = query::one(params, "code_verifier").unwrap_or("");
            if &s256(verifier) != challenge {
                return Err(TokenError::InvalidGrant(
                    "the PKCE code_verifier does not match",
                ));
            }
        }
        let subject = self
            .subjects
            .get(&pending.session)
            .ok_or(TokenError::InvalidGrant("the session has ended"))?;
        let lifetime = self.config.token_lifetime.as_secs();
        let issuer = &self.config.issuer;
        let id_claims =
            subject.id_token(issuer, client_id, pending.nonce.as_deref(), now, lifetime);
        let access_claims =
            subject.access_token(issuer, client_id, &pending.scope, jti, now, lifetime);
        let id_token = jwt::sign(keys, "JWT", &id_claims).map_err(TokenError::Internal)?;
        let access_token =
            // `JWT`, not RFC 9068's `at+jwt`: mail servers that validate tokens locally
            // (Dovecot 2.3) refuse any other `typ`.
            jwt::sign(keys, "JWT", &access_claims).map_err(TokenError::Internal)?;
        let pair = (pending.session, client_id.to_owned());
        let back = self.logged_out.remove(&pair);
        if self.holders.insert(pair.clone()) || back {
            self.outbox.push(Record::Holder {
                session: pair.0,
                client: pair.1,
            });
        }
        Ok(Tokens {
            body: json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "id_token": id_token,
                "scope": pending.scope,
            }),
        })
    }

    /// The userinfo endpoint: the identity claims for a live access token.
    pub fn userinfo(&self, keys: &KeyRing, bearer: &str, now: u64) -> Result<Value, JwtError> {
        let (claims, subject) = self.live_token(keys, bearer, now)?;
        let mut info = subject.identity_claims();
        if let (Value::Object(info), Some(sid)) = (&mut info, claims.get("sid")) {
            info.insert("sid".into(), sid.clone());
        }
        Ok(info)
    }

    /// The introspection endpoint (RFC 7662): `{"active": false}` for anything not live.
    pub fn introspect(&self, keys: &KeyRing, token: &str, now: u64) -> Value {
        match self.live_token(keys, token, now) {
            Ok((mut claims, _)) => {
                claims.insert("active".into(), Value::Bool(true));
                claims.insert("token_type".into(), Value::String("Bearer".into()));
                Value::Object(claims)
            }
            Err(_) => json!({ "active": false }),
        }
    }

    /// RP-initiated logout: the app named by `id_token_hint` logs out of the session; its
    /// tokens stop being accepted. Answers where to send the browser, if the app gave a
    /// registered address.
    pub fn end_session(&mut self, keys: &KeyRing, params: &[(String, String)]) -> Option<String> {
        let hint = query::one(params, "id_token_hint")?;
        // An expired ID token still names who logs out; its signature must be ours.
        let claims = jwt::verify(keys, hint, 0).ok()?;
        let client = claims.get("aud").and_then(Value::as_str)?.to_owned();
        let session = claims.get("sid").and_then(Value::as_str)?.to_owned();
        if self.logged_out.insert((session.clone(), client.clone())) {
            self.outbox.push(Record::LoggedOut {
                session,
                client: client.clone(),
            });
        }
        let target = query::one(params, "post_logout_redirect_uri")?;
        let registered = self.config.client(&client)?;
        if !registered
            .post_logout_redirect_uris
            .iter()
            .any(|u| u == target)
        {
            return None;
        }
        let state = query::one(params, "state").map(|s| ("state", s));
        Some(query::append(target, state.into_iter()))
    }

    /// A session ended: forgets it, and names the apps to tell, with the logout token each
    /// should receive at its back-channel logout address.
    pub fn session_ended(
        &mut self,
        keys: &KeyRing,
        session: &str,
        jti: &dyn Fn() -> String,
        now: u64,
    ) -> Vec<(String, String)> {
        let clients: Vec<String> = self
            .holders
            .iter()
            .filter(|(s, _)| s == session)
            .map(|(_, c)| c.clone())
            .collect();
        if self.subjects.contains_key(session) || !clients.is_empty() {
            self.outbox.push(Record::Ended {
                session: session.to_owned(),
            });
        }
        self.forget(session);
        clients
            .into_iter()
            .filter_map(|client| {
                let uri = self
                    .config
                    .client(&client)?
                    .backchannel_logout_uri
                    .clone()?;
                let claims = json!({
                    "iss": self.config.issuer,
                    "aud": client,
                    "iat": now,
                    "exp": now + 120,
                    "jti": jti(),
                    "sid": session,
                    "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
                });
                let token = jwt::sign(keys, "logout+jwt", &claims).ok()?;
                Some((uri, token))
            })
            .collect()
    }

    /// Checks who the client is at `now`: its secret, its signed assertion, or nothing for
    /// a public client. The client's id.
    pub fn authenticate(
        &mut self,
        credentials: &Credentials<'_>,
        now: u64,
    ) -> Result<String, TokenError> {
        match *credentials {
            Credentials::Secret { id, secret } => {
                let client = self.config.client(id).ok_or(TokenError::InvalidClient)?;
                match (&client.secret, secret) {
                    (None, None) if client.keys.is_empty() => Ok(client.id.clone()),
                    (Some(expected), Some(given)) if expected.matches(given) => {
                        Ok(client.id.clone())
                    }
                    _ => Err(TokenError::InvalidClient),
                }
            }
            Credentials::Assertion { id, assertion } => {
                let issuer = self.config.issuer.clone();
                let audiences = [issuer.clone(), format!("{issuer}/token")];
                let config = &self.config;
                let keys_of =
                    |id: &str| Some(config.client(id)?.keys.as_slice()).filter(|k| !k.is_empty());
                self.seen
                    .check(assertion, id, &audiences, keys_of, now)
                    .map_err(|_| TokenError::InvalidClient)
            }
        }
    }

    /// Whether the client `id` is confidential (may introspect tokens).
    pub fn is_confidential(&self, id: &str) -> bool {
        self.config
            .client(id)
            .is_some_and(RegisteredClient::is_confidential)
    }

    fn client(&self, id: Option<&str>) -> Result<&RegisteredClient, Refusal> {
        id.and_then(|id| self.config.client(id))
            .ok_or(Refusal::UnknownClient)
    }

    fn live_token(
        &self,
        keys: &KeyRing,
        token: &str,
        now: u64,
    ) -> Result<(serde_json::Map<String, Value>, &Subject), JwtError> {
        let claims = jwt::verify(keys, token, now)?;
        let session = claims.get("sid").and_then(Value::as_str).unwrap_or("");
        let client = claims
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let subject = self.subjects.get(session).ok_or(JwtError::Expired)?;
        if self
            .logged_out
            .contains(&(session.to_owned(), client.to_owned()))
        {
            return Err(JwtError::Expired);
        }
        Ok((claims, subject))
    }

    /// Drops everything about `session`.
    fn forget(&mut self, session: &str) {
        self.subjects.remove(session);
        self.codes.retain(|_, c| c.session != session);
        self.logged_out.retain(|(s, _)| s != session);
        self.holders.retain(|(s, _)| s != session);
    }

    fn forget_expired(&mut self, now: u64) {
        self.codes.retain(|_, c| c.expires > now);
    }
}

/// The S256 code challenge of a request; required of public clients.
fn pkce_challenge(
    params: &[(String, String)],
    client: &RegisteredClient,
) -> Result<Option<String>, &'static str> {
    let challenge = query::one(params, "code_challenge");
    let method = query::one(params, "code_challenge_method");
    match (challenge, method) {
        (None, _) if client.is_confidential() => Ok(None),
        (None, _) => Err("a public client must send a PKCE code_challenge"),
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => Ok(Some(c.to_owned())),
        (Some(_), Some("S256")) => Err("the PKCE code_challenge has the wrong length"),
        (Some(_), _) => Err("only the S256 PKCE method is offered"),
    }
}

/// The S256 transform of a PKCE verifier.
pub fn s256(verifier: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
