//! Vigie's control protocol (docs in progress).
#![forbid(unsafe_code)]

pub mod code;
pub mod error;
pub mod ids;
pub mod limits;
pub mod message;
pub mod wire;

pub use code::Code;
pub use error::{DecodeError, EncodeError, UsageError};
pub use ids::{Capabilities, Challenge, ResumeToken, SessionId, WireGuardKey};
pub use message::{
    ErrorMessage, Hello, Message, Notice, PortRule, PublishedApp, ReproofAnswer, ReproofChallenge,
    SessionGrant, SignatureScheme, Transport, reproof_signing_input,
};
pub use wire::{Decoded, FrameDecoder, decode_frame};
pub mod session;
pub use session::{
    ClientEvent, ClientSession, ClientState, ConnectorConfig, ConnectorEvent, ConnectorSession,
    ConnectorState, Ending, Initiator, SessionConfig,
};
pub mod sim;
