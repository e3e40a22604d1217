//! Identity assertions for web apps that do not speak OpenID Connect. The connector stands in
//! front of such an app: the data plane sends the app's TCP ports to this proxy on the
//! issuer's address instead of to the backend, and the proxy forwards each HTTP request to
//! the backend with one header added, a short-lived JWT signed like the ID tokens, naming the
//! person of the session the request came through. The app checks it with the issuer's JWKS
//! and trusts nothing else: a header of that name sent by the browser is removed first.
//!
//! ```toml
//! [[sso.identity_header]]
//! app = "legacy"                 # a published app; its ports must all be TCP
//! header = "X-Vigie-Identity"    # the default
//! ```
//!
//! HTTP/1.1 only, one backend connection per browser connection; protocol upgrades
//! (WebSocket) are not carried.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use super::claims::Subject;
use super::http::SsoService;

/// How long an assertion is valid: long enough for the app to read it, too short to replay.
const ASSERTION_LIFETIME: u64 = 60;
/// How long a browser has to send its request headers.
const PATIENCE: Duration = Duration::from_secs(30);

/// `[[sso.identity_header]]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityHeaderApp {
    /// The published app's name.
    pub app: String,
    /// The header's name.
    #[serde(default = "default_header")]
    pub header: String,
}

fn default_header() -> String {
    "X-Vigie-Identity".into()
}

/// One proxied port: where browsers arrive, where the app is.
pub struct ProxiedPort {
    /// The listener on the issuer's address, the app's port.
    pub listener: TcpListener,
    /// The app's backend and port.
    pub backend: SocketAddr,
}

/// What every connection of one app shares.
struct App {
    name: String,
    issuer: String,
    header: HeaderName,
    backend: SocketAddr,
    service: Arc<SsoService>,
    /// The last assertion made for each session and when it expires: a page's many requests
    /// reuse one signature instead of paying an RSA signature each.
    signed: std::sync::Mutex<HashMap<String, (HeaderValue, u64)>>,
}

/// Proxies `port` of app `config` until the task is dropped.
pub async fn serve(config: IdentityHeaderApp, port: ProxiedPort, service: Arc<SsoService>) {
    let Ok(header) = HeaderName::from_bytes(config.header.as_bytes()) else {
        return tracing::error!(header = config.header, "not a usable HTTP header name");
    };
    let app = Arc::new(App {
        name: config.app,
        issuer: service.issuer_url(),
        header,
        backend: port.backend,
        service,
        signed: std::sync::Mutex::default(),
    });
    loop {
        let Ok((stream, peer)) = port.listener.accept().await else {
            continue;
        };
        tokio::spawn(connection(app.clone(), stream, peer));
    }
}

type Reply = Response<Either<Incoming, Full<Bytes>>>;

async fn connection(app: Arc<App>, stream: TcpStream, peer: SocketAddr) {
    let backend = match TcpStream::connect(app.backend).await {
        Ok(backend) => backend,
        Err(error) => {
            return tracing::warn!(app = app.name, %error, "the app's backend is unreachable");
        }
    };
    let Ok((sender, link)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(backend)).await
    else {
        return;
    };
    tokio::spawn(link);
    let sender = Arc::new(Mutex::new(sender));
    let handler = hyper::service::service_fn(move |request| {
        let (app, sender) = (app.clone(), sender.clone());
        async move {
            Ok::<_, std::convert::Infallible>(forward(&app, &sender, peer.ip(), request).await)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(PATIENCE);
    let io = hyper_util::rt::TokioIo::new(stream);
    if let Err(error) = builder.serve_connection(io, handler).await {
        tracing::trace!(%error, "proxied connection ended with an error");
    }
}

async fn forward(
    app: &App,
    sender: &Mutex<hyper::client::conn::http1::SendRequest<Incoming>>,
    peer: IpAddr,
    mut request: Request<Incoming>,
) -> Reply {
    let Some(subject) = app.service.subject_at(peer) else {
        return refusal(
            StatusCode::FORBIDDEN,
            "this application is reached through Vigie only",
        );
    };
    let Some(assertion) = app.assertion(&subject) else {
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the identity could not be signed",
        );
    };
    let headers = request.headers_mut();
    headers.remove(&app.header);
    headers.insert(app.header.clone(), assertion);
    let mut sender = sender.lock().await;
    match sender.send_request(request).await {
        Ok(response) => response.map(Either::Left),
        Err(error) => {
            tracing::debug!(app = app.name, %error, "the app did not answer");
            refusal(StatusCode::BAD_GATEWAY, "the application did not answer")
        }
    }
}

impl App {
    /// The header value naming `subject`: the cached one while it has more than half its
    /// life left, else a new one.
    fn assertion(&self, subject: &Subject) -> Option<HeaderValue> {
        let now = unix_now();
        let mut signed = self.signed.lock().unwrap_or_else(PoisonError::into_inner);
        signed.retain(|_, (_, exp)| *exp > now);
        if let Some((value, exp)) = signed.get(&subject.session) {
            if *exp > now + ASSERTION_LIFETIME / 2 {
                return Some(value.clone());
            }
        }
        let value = HeaderValue::from_str(&self.service.sign(&self.claims(subject, now))?).ok()?;
        let exp = now + ASSERTION_LIFETIME;
        signed.insert(subject.session.clone(), (value.clone(), exp));
        Some(value)
    }

    /// The identity claims of an ID token, for this app, valid [`ASSERTION_LIFETIME`].
    fn claims(&self, subject: &Subject, now: u64) -> Value {
        let mut claims = subject.identity_claims();
        let extra = json!({
            "iss": self.issuer,
            "aud": self.name,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "auth_time": subject.auth_time,
            "sid": subject.session,
            "amr": super::claims::AMR,
            "acr": super::claims::ACR,
        });
        if let (Value::Object(map), Value::Object(extra)) = (&mut claims, extra) {
            map.extend(extra);
        }
        claims
    }
}

fn refusal(status: StatusCode, text: &str) -> Reply {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(format!("{text}\n")))));
    *response.status_mut() = status;
    response
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
