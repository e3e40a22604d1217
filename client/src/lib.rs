//! Vigie's client side of the card: the CPS3/CPS4 professional card over PC/SC, the PIN, and
//! the card-backed signer of the mutual-TLS handshake.
//!
//! ```text
//!  vigie (binary) ──▶ Card<PcscTransport> ──▶ pcscd ──▶ reader ──▶ CPS3 / CPS4
//!        │                 ▲
//!        └─ rustls ── CardSigner (Mutex<Card>)        CardWatcher ──▶ CardEvent
//! ```
//!
//! What it is:
//! - [`card::Card`]: the APDU flows of both generations (recognise by ATR, read the
//!   authentication certificate, PIN, sign), pure logic over a [`CardTransport`].
//! - [`pcsc_transport`]: the real transport through the `pcsc` crate, and reader discovery.
//! - [`pin`] and [`pin_entry`]: a zeroizing, validated PIN, and where it comes from.
//! - [`signer`] and [`tls`]: a `rustls` signing key backed by the card, and the client
//!   configuration that offers TLS 1.3 only when the card can sign RSA-PSS.
//! - [`watch`]: card insertion and removal events for the session layer.
//! - [`control`]: the control channel to the connector (`vigie up`, `status`, `down`), on
//!   tokio: QUIC or TLS/TCP, the session loop, the status file and control socket.
//!
//! What it is not: it does not validate certificates (the connector does, with
//! `vigie-certs`), keeps no PIN beyond one verification, and never logs a PIN or card data.
//! The card is slow and blocking: callers on an async runtime must run card operations on a
//! blocking thread (e.g. `spawn_blocking`), never on the runtime's core threads.
#![forbid(unsafe_code)]

pub mod apdu;
pub mod atr;
pub mod card;
pub mod control;
pub mod error;
pub mod identity;
pub mod pcsc_transport;
pub mod pin;
pub mod pin_entry;
pub mod signer;
pub mod tls;
pub mod tlv;
pub mod transport;
pub mod tunnel;
pub mod watch;

#[cfg(test)]
mod testing;

/// The rustls this crate builds on, so callers and tests use the same types.
pub use rustls;

pub use atr::Generation;
pub use card::{Card, CardScheme, PinState};
pub use error::{CardError, StatusWord};
pub use pin::{Pin, PinError};
pub use transport::{CardStatus, CardTransport};
