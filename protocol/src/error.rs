//! What can go wrong, grouped by who is at fault.
//!
//! - [`DecodeError`]: the peer sent bytes that are not a valid frame or message. The session
//!   answers with an error message (code 400 or 401) and closes.
//! - [`EncodeError`]: a message built here breaks a limit of [`crate::limits`]; the local
//!   configuration or the caller is at fault (too many apps, a name too long).
//! - [`UsageError`]: the caller asked a session for something its state does not allow.

use crate::code::Code;

/// The peer's bytes are not a valid Vigie frame or message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("frame of {len} bytes is larger than the limit of {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("frame of {len} bytes is too short for its header (2 bytes)")]
    FrameTooShort { len: usize },
    #[error("frame ends before its declared length; the byte stream was cut")]
    Incomplete,
    #[error("{extra} bytes follow the frame")]
    TrailingBytes { extra: usize },
    #[error("frame uses protocol version {found}; this side speaks version {supported}")]
    UnsupportedVersion { found: u8, supported: u8 },
    #[error("unknown message type {message_type:#04x} in the must-understand range")]
    UnknownMessageType { message_type: u8 },
    #[error("{message}: a field runs past the end of its message")]
    Truncated { message: &'static str },
    #[error("{message}: required field `{field}` is missing")]
    MissingField {
        message: &'static str,
        field: &'static str,
    },
    #[error("{message}: field `{field}` appears twice")]
    DuplicateField {
        message: &'static str,
        field: &'static str,
    },
    #[error("{message}: field `{field}` has {len} bytes, which is not a valid length for it")]
    BadLength {
        message: &'static str,
        field: &'static str,
        len: usize,
    },
    #[error("{message}: field `{field}` has {len} bytes, more than the limit of {max}")]
    TooLong {
        message: &'static str,
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{message}: more than {max} `{field}` fields")]
    TooMany {
        message: &'static str,
        field: &'static str,
        max: usize,
    },
    #[error("{message}: field `{field}` is not valid UTF-8")]
    InvalidUtf8 {
        message: &'static str,
        field: &'static str,
    },
    #[error("{message}: field `{field}` {problem}")]
    InvalidValue {
        message: &'static str,
        field: &'static str,
        problem: &'static str,
    },
}

impl DecodeError {
    /// The code to send the peer when its bytes fail to decode.
    pub fn code(&self) -> Code {
        match self {
            Self::UnsupportedVersion { .. } => Code::VERSION_UNSUPPORTED,
            _ => Code::PROTOCOL_ERROR,
        }
    }
}

/// A message breaks a limit of this protocol; the values given to build it are at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("`{field}` has {len} bytes, more than the limit of {max}; shorten it")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{count} `{field}` entries, more than the limit of {max}; publish fewer")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("`{field}` {problem}")]
    InvalidValue {
        field: &'static str,
        problem: &'static str,
    },
    #[error("the message needs {len} bytes, more than the frame limit of {max}")]
    FrameTooLarge { len: usize, max: usize },
}

/// The caller asked a session for something its current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    #[error("cannot {action} while the session is {state}")]
    WrongState {
        action: &'static str,
        state: &'static str,
    },
    #[error("the message could not be built: {0}")]
    Encode(#[from] EncodeError),
}
