//! The client's opening messages: hello and its WireGuard key.

use crate::error::{DecodeError, EncodeError};
use crate::ids::{Capabilities, ResumeToken, WireGuardKey};
use crate::limits::{MAX_SOFTWARE_LEN, PROTOCOL_VERSION};
use crate::wire::{Body, Field, Fields, required};

/// The client's first message.
///
/// A hello is always framed as version 1, whatever the client speaks, so that any connector
/// can read it; `max_version` tells the connector the highest version the client speaks, and
/// the grant says which version the session uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The highest protocol version the client speaks.
    pub max_version: u8,
    pub capabilities: Capabilities,
    /// The client software and platform, for the help desk ("vigie 0.1.0 linux").
    pub software: String,
    /// Present when the client asks to resume an earlier session.
    pub resume_token: Option<ResumeToken>,
}

impl Hello {
    /// A hello for this version of the protocol.
    pub fn new(capabilities: Capabilities, software: impl Into<String>) -> Self {
        Self {
            max_version: PROTOCOL_VERSION,
            capabilities,
            software: software.into(),
            resume_token: None,
        }
    }

    pub(crate) fn encode(&self, body: &mut Body) -> Result<(), EncodeError> {
        body.u8(1, "max_version", self.max_version)?;
        body.u32(2, "capabilities", self.capabilities.0)?;
        body.str(3, "software", &self.software, MAX_SOFTWARE_LEN)?;
        if let Some(token) = &self.resume_token {
            body.fixed(4, "resume_token", token.expose())?;
        }
        Ok(())
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        const M: &str = "hello";
        let (mut max_version, mut capabilities, mut software, mut token) = (None, None, None, None);
        for field in Fields::new(body, M) {
            let field = field?;
            match field.tag {
                1 => field.once(&mut max_version, "max_version", &Field::u8)?,
                2 => field.once(&mut capabilities, "capabilities", &Field::u32)?,
                3 => field.once(&mut software, "software", &|f, n| {
                    f.str(n, MAX_SOFTWARE_LEN)
                })?,
                4 => field.once(&mut token, "resume_token", &|f, n| {
                    f.array(n).map(ResumeToken::new)
                })?,
                _ => {}
            }
        }
        let max_version = required(max_version, M, "max_version")?;
        if max_version == 0 {
            return Err(DecodeError::InvalidValue {
                message: M,
                field: "max_version",
                problem: "is 0; versions start at 1",
            });
        }
        Ok(Self {
            max_version,
            capabilities: Capabilities(capabilities.unwrap_or(0)),
            software: software.unwrap_or_default(),
            resume_token: token,
        })
    }
}

pub(super) fn encode_key(key: &WireGuardKey, body: &mut Body) -> Result<(), EncodeError> {
    body.fixed(1, "public_key", &key.0)
}

pub(super) fn decode_key(body: &[u8]) -> Result<WireGuardKey, DecodeError> {
    const M: &str = "client key";
    let mut key = None;
    for field in Fields::new(body, M) {
        let field = field?;
        if field.tag == 1 {
            field.once(&mut key, "public_key", &Field::array::<32>)?;
        }
    }
    required(key, M, "public_key").map(WireGuardKey)
}
