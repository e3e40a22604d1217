//! The small messages of a running session: reasons, notices, errors, datagrams.

use core::time::Duration;

use crate::code::Code;
use crate::error::{DecodeError, EncodeError};
use crate::limits::{MAX_DATAGRAM_LEN, MAX_ERROR_MESSAGE_LEN};
use crate::wire::{Body, Field, Fields, required};

/// Connector → client: something the user should hear about before it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What is coming, such as [`Code::LIFETIME_ENDING_SOON`].
    pub reason: Code,
    /// How long until it happens, in whole seconds.
    pub remaining: Duration,
}

/// Either way: the session ends because of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage {
    pub code: Code,
    /// What went wrong, for people; never parsed.
    pub message: String,
}

pub(super) fn encode_reason(reason: Code, body: &mut Body) -> Result<(), EncodeError> {
    body.u16(1, "reason", reason.number())
}

pub(super) fn decode_reason(body: &[u8], message: &'static str) -> Result<Code, DecodeError> {
    let mut reason = None;
    for field in Fields::new(body, message) {
        let field = field?;
        if field.tag == 1 {
            field.once(&mut reason, "reason", &Field::u16)?;
        }
    }
    required(reason, message, "reason").map(Code::from_number)
}

pub(super) fn encode_datagram(payload: &[u8], body: &mut Body) -> Result<(), EncodeError> {
    body.bytes(1, "payload", payload, MAX_DATAGRAM_LEN)
}

pub(super) fn decode_datagram(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    const M: &str = "datagram";
    let mut payload = None;
    for field in Fields::new(body, M) {
        let field = field?;
        if field.tag == 1 {
            field.once(&mut payload, "payload", &|f, n| {
                f.bytes(n, MAX_DATAGRAM_LEN)
            })?;
        }
    }
    required(payload, M, "payload")
}

impl Notice {
    pub(crate) fn encode(&self, body: &mut Body) -> Result<(), EncodeError> {
        let secs = u32::try_from(self.remaining.as_secs()).unwrap_or(u32::MAX);
        body.u16(1, "reason", self.reason.number())?;
        body.u32(2, "remaining", secs)
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        const M: &str = "notice";
        let (mut reason, mut remaining) = (None, None);
        for field in Fields::new(body, M) {
            let field = field?;
            match field.tag {
                1 => field.once(&mut reason, "reason", &Field::u16)?,
                2 => field.once(&mut remaining, "remaining", &Field::u32)?,
                _ => {}
            }
        }
        Ok(Self {
            reason: Code::from_number(required(reason, M, "reason")?),
            remaining: Duration::from_secs(u64::from(required(remaining, M, "remaining")?)),
        })
    }
}

impl ErrorMessage {
    /// An error message, its text cut to [`MAX_ERROR_MESSAGE_LEN`] bytes if need be.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE_LEN {
            let cut = (0..=MAX_ERROR_MESSAGE_LEN)
                .rev()
                .find(|&i| message.is_char_boundary(i));
            message.truncate(cut.unwrap_or(0));
        }
        Self { code, message }
    }

    pub(crate) fn encode(&self, body: &mut Body) -> Result<(), EncodeError> {
        body.u16(1, "code", self.code.number())?;
        body.str(2, "message", &self.message, MAX_ERROR_MESSAGE_LEN)
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        const M: &str = "error";
        let (mut code, mut message) = (None, None);
        for field in Fields::new(body, M) {
            let field = field?;
            match field.tag {
                1 => field.once(&mut code, "code", &Field::u16)?,
                2 => field.once(&mut message, "message", &|f, n| {
                    f.str(n, MAX_ERROR_MESSAGE_LEN)
                })?,
                _ => {}
            }
        }
        Ok(Self {
            code: Code::from_number(required(code, M, "code")?),
            message: message.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_error_text_is_cut_on_a_character_boundary() {
        let error = ErrorMessage::new(Code::INTERNAL_ERROR, "é".repeat(400));
        assert!(error.message.len() <= MAX_ERROR_MESSAGE_LEN);
        assert!(error.message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_reason_is_required() {
        let err = decode_reason(&[], "end").unwrap_err();
        assert_eq!(
            err,
            DecodeError::MissingField {
                message: "end",
                field: "reason"
            }
        );
    }
}
