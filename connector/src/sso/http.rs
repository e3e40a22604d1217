//! The issuer's HTTPS listener: TLS (rustls), HTTP/1.1 (hyper), and the endpoints.
//!
//! | path | method | who calls it |
//! |---|---|---|
//! | `/.well-known/openid-configuration` | GET | apps (discovery) |
//! | `/jwks` | GET | apps, mail servers (the public keys) |
//! | `/authorize` | GET | browsers, through their tunnel only |
//! | `/token` | POST | app servers (code exchange) |
//! | `/userinfo` | GET, POST | app servers, with an access token |
//! | `/introspect` | POST | app servers, authenticated |
//! | `/end-session` | GET | browsers (the app logs out) |
//!
//! Work per peer is bounded like the control listeners': a TLS handshake timeout, a header
//! read timeout, a body limit; each connection is its own task.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::claims::{ACR, Subject};
use super::client_auth::{ASSERTION_TYPE, Credentials};
use super::flow::Issuer;
use super::journal::Journal;
use super::keys::KeyRing;
use super::{Refusal, TokenError, query};

/// The largest request body read (a token request or an introspection).
const MAX_BODY: usize = 64 * 1024;
/// How long a peer has to finish its TLS handshake and send its request headers.
const PATIENCE: Duration = Duration::from_secs(10);

/// Finds the live session a tunnel address belongs to.
pub trait Sessions: Send + Sync {
    /// The subject of the session holding `address`, if one does.
    fn subject_at(&self, address: IpAddr) -> Option<Subject>;
}

/// The issuer with its keys, shared by every connection.
pub struct SsoService {
    /// The issuer, and the journal its changes are kept in, under one lock.
    state: Mutex<Kept>,
    keys: RwLock<KeyRing>,
    sessions: Arc<dyn Sessions>,
    rng: SystemRandom,
}

impl SsoService {
    /// The service over `issuer`, signing with `keys`, finding sessions in `sessions`; what
    /// the issuer changes is kept in `journal` before anyone hears of it.
    pub fn new(
        issuer: Issuer,
        journal: Journal,
        keys: KeyRing,
        sessions: Arc<dyn Sessions>,
    ) -> Self {
        Self {
            state: Mutex::new(Kept { issuer, journal }),
            keys: RwLock::new(keys),
            sessions,
            rng: SystemRandom::new(),
        }
    }

    fn issuer(&self) -> IssuerGuard<'_> {
        IssuerGuard(self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The sessions the issuer knows of (signed in to an app, or holding tokens).
    pub fn known_sessions(&self) -> std::collections::HashSet<String> {
        self.issuer().known_sessions()
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Rotates the signing key when due.
    pub fn rotate_keys(&self, now: u64) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = keys.rotate_if_due(now) {
            tracing::warn!(%error, "cannot rotate the SSO signing key; the current one stays");
        }
    }

    /// Replaces the registered apps, their keys read (a reloaded configuration).
    pub fn set_clients(&self, clients: Vec<super::config::RegisteredClient>) {
        self.issuer().set_clients(clients);
    }

    /// The issuer's URL.
    pub fn issuer_url(&self) -> String {
        self.issuer().config().issuer.clone()
    }

    /// The subject of the session holding tunnel address `address`.
    pub fn subject_at(&self, address: IpAddr) -> Option<Subject> {
        self.sessions.subject_at(address)
    }

    /// `claims` signed as a JWT with the current key.
    pub fn sign(&self, claims: &Value) -> Option<String> {
        match super::jwt::sign(&self.keys(), "JWT", claims) {
            Ok(token) => Some(token),
            Err(error) => {
                tracing::error!(%error, "cannot sign");
                None
            }
        }
    }

    /// A session ended: its tokens die, and the apps that hold some are told (each logout
    /// token is posted by the caller to the address given with it).
    pub fn session_ended(&self, session: &str, now: u64) -> Vec<(String, String)> {
        let keys = self.keys();
        let jti = || self.random();
        self.issuer().session_ended(&keys, session, &jti, now)
    }

    /// 128 random bits, base64url: codes and token ids.
    fn random(&self) -> String {
        let mut bytes = [0u8; 16];
        if self.rng.fill(&mut bytes).is_err() {
            tracing::error!("the system random source failed");
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

/// The issuer, locked. When the lock is let go, what the issuer changed meanwhile is first
/// written to the journal: every endpoint answers after that.
struct IssuerGuard<'a>(MutexGuard<'a, Kept>);

/// The issuer and its journal.
struct Kept {
    issuer: Issuer,
    journal: Journal,
}

impl Deref for IssuerGuard<'_> {
    type Target = Issuer;

    fn deref(&self) -> &Issuer {
        &self.0.issuer
    }
}

impl DerefMut for IssuerGuard<'_> {
    fn deref_mut(&mut self) -> &mut Issuer {
        &mut self.0.issuer
    }
}

impl Drop for IssuerGuard<'_> {
    fn drop(&mut self) {
        let Kept { issuer, journal } = &mut *self.0;
        let records = issuer.take_records();
        if records.is_empty() {
            return;
        }
        if let Err(error) = journal.append(&records) {
            tracing::error!(
                %error,
                "cannot keep the SSO sign-ins: after a restart, sessions ending would not log \
                 their apps out"
            );
        }
        if journal.compaction_due()
            && let Err(error) = journal.compact(&issuer.standing())
        {
            tracing::warn!(%error, "cannot write the SSO sign-ins afresh; appending goes on");
        }
    }
}

/// Accepts HTTPS connections until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    service: Arc<SsoService>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (tls, service) = (tls.clone(), service.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) = tokio::time::timeout(PATIENCE, tls.accept(stream)).await else {
                return tracing::trace!(%peer, "SSO TLS handshake failed or timed out");
            };
            let io = hyper_util::rt::TokioIo::new(stream);
            let handler = hyper::service::service_fn(move |request| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(handle(&service, peer, request).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(PATIENCE)
                .max_buf_size(MAX_BODY);
            if let Err(error) = builder.serve_connection(io, handler).await {
                tracing::trace!(%peer, %error, "SSO connection ended with an error");
            }
        });
    }
}

async fn handle(
    service: &SsoService,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let now = unix_now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let params = query::parse(request.uri().query().unwrap_or("").as_bytes());
    tracing::debug!(%method, path, "SSO request");
    match (method, path.as_str()) {
        (Method::GET, "/.well-known/openid-configuration") => json_response(
            StatusCode::OK,
            &discovery(&service.issuer().config().issuer),
        ),
        (Method::GET, "/jwks") => json_response(StatusCode::OK, &service.keys().jwks()),
        (Method::GET, "/authorize") => authorize(service, peer, &params, now),
        (Method::POST, "/token") => token(service, request, now).await,
        (Method::GET | Method::POST, "/userinfo") => userinfo(service, &request, now),
        (Method::POST, "/introspect") => introspect(service, request, now).await,
        (Method::GET, "/end-session") => end_session(service, &params),
        _ => page(StatusCode::NOT_FOUND, "Not found", "There is nothing here."),
    }
}

fn authorize(
    service: &SsoService,
    peer: SocketAddr,
    params: &[(String, String)],
    now: u64,
) -> Response<Full<Bytes>> {
    let subject = service.sessions.subject_at(peer.ip());
    let code = service.random();
    match service
        .issuer()
        .authorize(params, subject.as_ref(), code, now)
    {
        Ok(location) => {
            tracing::debug!(
                session = subject.map(|s| s.session),
                "signed in by the card's session"
            );
            redirect(&location)
        }
        Err(refusal) => {
            tracing::debug!(%refusal, "authorization refused");
            let status = match refusal {
                Refusal::NoSession => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            page(status, "Sign-on refused", &refusal.to_string())
        }
    }
}

async fn token(
    service: &SsoService,
    request: Request<Incoming>,
    now: u64,
) -> Response<Full<Bytes>> {
    let (basic, form) = match client_form(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let jti = service.random();
    let keys = service.keys();
    let mut issuer = service.issuer();
    let result = credentials(basic.as_ref(), &form)
        .ok_or(TokenError::InvalidClient)
        .and_then(|credentials| issuer.authenticate(&credentials, now))
        .and_then(|client| issuer.token(&keys, &client, &form, &jti, now));
    match result {
        Ok(tokens) => json_response(StatusCode::OK, &tokens.body),
        Err(error) => {
            tracing::debug!(%error, "token request refused");
            let status = match error {
                TokenError::InvalidClient => StatusCode::UNAUTHORIZED,
                TokenError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            oauth_error(status, error.code(), &error.to_string())
        }
    }
}

fn userinfo(service: &SsoService, request: &Request<Incoming>, now: u64) -> Response<Full<Bytes>> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        return unauthorized("invalid_request");
    };
    let keys = service.keys();
    match service.issuer().userinfo(&keys, bearer.trim(), now) {
        Ok(claims) => json_response(StatusCode::OK, &claims),
        Err(error) => {
            tracing::debug!(%error, "userinfo refused");
            unauthorized("invalid_token")
        }
    }
}

async fn introspect(
    service: &SsoService,
    request: Request<Incoming>,
    now: u64,
) -> Response<Full<Bytes>> {
    let (basic, form) = match client_form(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let keys = service.keys();
    let mut issuer = service.issuer();
    let client = credentials(basic.as_ref(), &form).map(|c| issuer.authenticate(&c, now));
    let authenticated = matches!(client, Some(Ok(id)) if issuer.is_confidential(&id));
    if !authenticated {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "introspection needs a confidential client's credentials",
        );
    }
    let token = query::one(&form, "token").unwrap_or("");
    json_response(StatusCode::OK, &issuer.introspect(&keys, token, now))
}

fn end_session(service: &SsoService, params: &[(String, String)]) -> Response<Full<Bytes>> {
    let keys = service.keys();
    match service.issuer().end_session(&keys, params) {
        Some(location) => redirect(&location),
        None => page(
            StatusCode::OK,
            "Signed out",
            "You are signed out of the application. Your Vigie session stays open for your other applications.",
        ),
    }
}

/// The discovery document.
fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "end_session_endpoint": format!("{issuer}/end-session"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": [ACR],
        "claims_supported": [
            "sub", "preferred_username", "SubjectNameID", "given_name", "family_name", "name",
            "SubjectRefPro", "SubjectRole", "amr", "acr", "auth_time", "sid"
        ],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}

/// What the client presented: HTTP Basic, a signed assertion, or form fields.
fn credentials<'a>(
    basic: Option<&'a (String, String)>,
    form: &'a [(String, String)],
) -> Option<Credentials<'a>> {
    if let Some((id, secret)) = basic {
        return Some(Credentials::Secret {
            id,
            secret: Some(secret),
        });
    }
    let id = query::one(form, "client_id");
    if query::one(form, "client_assertion_type") == Some(ASSERTION_TYPE) {
        let assertion = query::one(form, "client_assertion")?;
        return Some(Credentials::Assertion { id, assertion });
    }
    Some(Credentials::Secret {
        id: id?,
        secret: query::one(form, "client_secret"),
    })
}

/// The client id and secret of an `Authorization: Basic` header, form-decoded as RFC 6749
/// says.
fn basic_credentials(headers: &hyper::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// An app's request: its HTTP Basic credentials, if any, and its form; or the answer that
/// refuses a body that is not a form.
async fn client_form(
    request: Request<Incoming>,
) -> Result<(Option<(String, String)>, Vec<(String, String)>), Response<Full<Bytes>>> {
    let basic = basic_credentials(request.headers());
    let form = read_form(request).await.ok_or_else(|| {
        let why = "the body is not a form or too large";
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why)
    })?;
    Ok((basic, form))
}

async fn read_form(request: Request<Incoming>) -> Option<Vec<(String, String)>> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .ok()?;
    Some(query::parse(&body.to_bytes()))
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    respond(status, "application/json", body)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn unauthorized(error: &str) -> Response<Full<Bytes>> {
    let mut response = oauth_error(
        StatusCode::UNAUTHORIZED,
        error,
        "a live access token is required",
    );
    let challenge = format!("Bearer error=\"{error}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut response = respond(StatusCode::FOUND, "text/plain", Vec::new());
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            "Sign-on refused",
            "The return address cannot be used.",
        ),
    }
}

/// A small HTML page for people.
fn page(status: StatusCode, title: &str, text: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{title}</title>\
         <h1>{title}</h1><p>{}</p>\n",
        html_escape(text)
    );
    respond(status, "text/html; charset=utf-8", body.into_bytes())
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = hyper::HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20app:s%3Acret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("my app".into(), "s:cret".into()))
        );
    }

    #[test]
    fn discovery_names_every_endpoint_under_the_issuer() {
        let doc = discovery("https://sso.example");
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
        ] {
            assert!(
                doc[key]
                    .as_str()
                    .unwrap()
                    .starts_with("https://sso.example/"),
                "{key}"
            );
        }
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    }
}
