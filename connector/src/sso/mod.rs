//! Single sign-on: the connector is an OpenID Connect issuer for the card's session.
//!
//! ```text
//!  browser on the laptop ── tunnel ── DNAT to [sso] listen ──┐   (source: the session's
//!                                                           │    tunnel address)
//!  app servers on the hospital network ─────────────────────┤
//!                                                           ▼
//!                             issuer: discovery, JWKS, authorize, token, userinfo,
//!                                     introspect, end-session
//! ```
//!
//! The issuer is published to every session as a built-in app under its own name (the host
//! of `[sso] issuer`), with its backend the issuer's own listener on the hospital network.
//! The kernel delivers tunnel traffic to that listener without translating its source, so
//! a request's source address is the tunnel address of the session it came through: that
//! session is the login, already made with the card and its PIN. A request from elsewhere
//! (an app server) may use every endpoint but authorization.
//!
//! - [`flow`]: the issuer's decisions, without I/O;
//! - [`claims`]: the tokens' claims, shaped like Pro Santé Connect's;
//! - [`jwt`], [`keys`]: RS256 tokens and the signing keys, rotated with overlap;
//! - [`http`]: the HTTPS listener;
//! - [`backchannel`]: logout tokens posted to the apps when a session ends;
//! - [`header_proxy`]: a signed identity header for web apps without OpenID Connect;
//! - [`journal`]: the sign-ins, kept across a restart.
//!
//! Not here yet: refresh tokens.

pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod config;
pub mod flow;
pub mod header_proxy;
pub mod http;
pub mod journal;
pub mod jwt;
pub mod keys;
pub mod query;

use std::path::{Path, PathBuf};

pub use claims::Subject;
pub use config::SsoConfig;
pub use flow::Issuer;

/// Why the issuer cannot start or go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoError {
    /// A file of the issuer cannot be used.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Something that should not fail did.
    #[error("SSO issuer: {0}")]
    Internal(String),
}

impl SsoError {
    fn file(path: &Path, error: std::io::Error) -> Self {
        Self::File {
            path: path.to_owned(),
            detail: error.to_string(),
        }
    }
}

/// Why an authorization request is answered with a page rather than a redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The `client_id` is not registered.
    #[error("this application is not registered with the hospital's sign-on")]
    UnknownClient,
    /// The `redirect_uri` is missing or not registered for the client.
    #[error("this application asked to return to an address it did not register")]
    BadRedirect,
    /// The request did not come through a live Vigie session.
    #[error(
        "sign-on works only through Vigie: insert your health professional card, connect with \
         Vigie, then open the application again"
    )]
    NoSession,
}

/// An error of the token endpoint, as RFC 6749 names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Unknown client or wrong secret.
    #[error("invalid_client")]
    InvalidClient,
    /// Only `authorization_code` is offered.
    #[error("unsupported_grant_type")]
    UnsupportedGrant,
    /// The code cannot be exchanged, and why.
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// Signing failed.
    #[error("server_error")]
    Internal(SsoError),
}

impl TokenError {
    /// The `error` field of the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidClient => "invalid_client",
            Self::UnsupportedGrant => "unsupported_grant_type",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::Internal(_) => "server_error",
        }
    }
}
