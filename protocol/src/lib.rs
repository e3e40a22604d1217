//! Vigie's control protocol: the messages a client and a connector exchange once mutual TLS
//! is up, their encoding, and the session state machine of each side.
//!
//! The crate is **sans-IO**: no sockets, no clock, no files, no environment, no threads, no
//! tokio, no cryptography (`protocol/clippy.toml` forbids the first ones). Bytes read from the
//! TLS stream go into `handle_input(bytes, now)`, bytes to write come out of
//! `poll_transmit()`, the binary's decisions go in through calls such as `grant(…)` or
//! `handle_reproof_verdict(ok, now)`, and what it must act on comes out of `poll_event()`;
//! `poll_timeout()` says when to call `handle_timeout(now)`. See [`ClientSession`] and
//! [`ConnectorSession`]. The channel below is already authenticated by the card and is
//! ordered and reliable (TLS over TCP, or a QUIC stream); it may deliver bytes in any chunks.
//!
//! # One session
//!
//! ```text
//!  client                                              connector
//!    │ ─── hello (version, capabilities, resume token?) ──▶ │
//!    │ ─── client key (ephemeral WireGuard public key) ───▶ │  SessionRequested → admission
//!    │ ◀── grant (session id, tunnel address, connector ─── │  grant(…)
//!    │        key, endpoints, apps, DNS, limits, token)     │
//!    │ ◀─▶ keepalive, each way after 15 s of silence ◀─▶    │  45 s of silence: peer unresponsive
//!    │ ◀─▶ datagram (WireGuard packet, when UDP is blocked) │
//!    │ ◀── re-proof challenge (32 random bytes) ─────────── │  every reproof_interval
//!    │ ─── re-proof answer (card signature) ──────────────▶ │  ReproofAnswered → verdict
//!    │ ◀── notice ("session ends in 2 minutes") ─────────── │  before idle or lifetime limit
//!    │ ─── suspend (card removed) ────────────────────────▶ │  tunnel paused
//!    │ ─── resume (card reinserted) ──────────────────────▶ │
//!    │ ◀── re-proof challenge / answer ──────────────────▶  │  the same card is back
//!    │ ◀── resume ───────────────────────────────────────── │  tunnel runs again
//!    │ ─── end (client quit) ─────────────────────────────▶ │  or ◀── end (idle timeout, …)
//! ```
//!
//! Either side may end the session at any time with an end message (a [`Code`] as reason) or
//! an error message (a code and a sentence); both are final. The connector enforces the idle
//! timeout (on activity the binary reports with `handle_activity`, since data-plane traffic
//! does not pass through this crate), the maximum lifetime, and the re-proof deadline; the
//! idle timeout also bounds how long a session may stay suspended. A session that cannot be
//! resumed in place (another workstation, a restarted connector) starts again with a fresh
//! card-signed TLS handshake and a hello carrying the grant's resume token.
//!
//! Re-proof: the card signs the SHA-256 digest of `"Vigie card re-proof v1\0" ‖ session id ‖
//! challenge` with RSA PKCS#1 v1.5 (CPS3) or RSA-PSS (CPS4); see [`message`] and
//! [`reproof_signing_input`]. The connector verifies, this crate only carries the bytes.
//!
//! # Encoding
//!
//! ```text
//! frame = length:u32 (bytes after it) ‖ version:u8 (= 1) ‖ type:u8 ‖ field*
//! field = tag:u8 ‖ length:u16 ‖ value          integers big-endian, text UTF-8
//! ```
//!
//! Why this shape, written by hand rather than with a serialisation library:
//!
//! - **Length-prefixed** frames let a reader on a stream that arrives in arbitrary chunks
//!   know where a message ends, and refuse an oversized one from its first four bytes, before
//!   buffering it ([`FrameDecoder`]).
//! - **Versioned** in every frame, so a peer speaking an incompatible version is told so
//!   (code 401) instead of misreading bytes. A hello is always framed as version 1 and says
//!   the highest version the client speaks; the grant names the version of the session.
//! - **Tag-length-value** bodies let a newer peer add fields: tags this version does not know
//!   are skipped. Known fields must appear at most once (repeated ones, such as apps, are
//!   counted against their limit); missing required fields are an error that names them.
//! - **Message types** below `0x80` must be understood: an unknown one is a protocol error,
//!   because ignoring, say, a new kind of end would leave a session running that the peer
//!   believes over. From `0x80` up a type may be ignored: a newer peer's optional message,
//!   like the [`Notice`] (`0x80`) that a client without notices can drop.
//! - **Codes**, not strings, say why: stable numbers with names ([`Code`]); unknown numbers
//!   from a newer peer still decode and print as `unknown(n)`.
//! - **Written by hand**, a few hundred lines with no dependency: every length is checked before
//!   it is used and no input can make the decoder panic or allocate beyond the limits below
//!   (the `decode` fuzz target checks it). A general format (CBOR, protobuf) would bring a
//!   parser much larger than the protocol, and its own notion of optional fields and limits.
//!
//! # Limits
//!
//! All in [`limits`]: frames up to [`limits::MAX_FRAME_LEN`] (256 KiB) after the prefix;
//! field values up to 65,535 bytes; up to [`limits::MAX_APPS`] (256) apps per grant, each
//! with up to [`limits::MAX_PORT_RULES`] (32) port rules; up to [`limits::MAX_ENDPOINTS`] (8)
//! endpoints; app names up to 64 bytes, DNS names up to 253, client software up to 128, error
//! messages up to 512, re-proof signatures up to 1,024, datagrams up to 65,535.
//!
//! # Logging and secrets
//!
//! The crate logs nothing: every decision comes out as an event or an [`Ending`] with a code
//! and, for errors, a sentence, for the binary to log under its own policy and span. The only
//! secret it carries, the [`ResumeToken`], is zeroized on drop and prints as `ResumeToken(..)`.
//!
//! # Tests
//!
//! Unit tests beside the code; `tests/fixtures.rs` compares every message with its golden
//! bytes in `tests/fixtures/*.hex` (regenerate deliberately with `VIGIE_BLESS=1 cargo test -p
//! vigie-protocol --test fixtures`, then review the diff); `tests/simulation*.rs` run both
//! state machines against each other on a virtual clock ([`sim`]); `fuzz/` holds the `decode`
//! target. `cargo run -p vigie-protocol --example session` prints the trace of one session.
#![forbid(unsafe_code)]

pub mod code;
pub mod error;
pub mod ids;
pub mod limits;
pub mod message;
pub mod session;
pub mod sim;
pub mod wire;

pub use code::Code;
pub use error::{DecodeError, EncodeError, UsageError};
pub use ids::{Capabilities, Challenge, ResumeToken, SessionId, WireGuardKey};
pub use message::{
    ErrorMessage, Hello, Message, Notice, PortRule, PublishedApp, ReproofAnswer, ReproofChallenge,
    SessionGrant, SignatureScheme, Transport, reproof_signing_input,
};
pub use session::{
    ClientEvent, ClientSession, ClientState, ConnectorConfig, ConnectorEvent, ConnectorSession,
    ConnectorState, Ending, Initiator, SessionConfig,
};
pub use wire::{Decoded, FrameDecoder, decode_frame};
