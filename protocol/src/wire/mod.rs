//! The framing: a length prefix, a version, a message type and a body of tag-length-value
//! fields. The layout and the reasons for it are in the crate docs.

mod decoder;
mod reader;
mod writer;

pub use decoder::FrameDecoder;
pub(crate) use reader::{Field, Fields, required};
pub(crate) use writer::Body;

use crate::error::DecodeError;
use crate::limits::{MAX_FRAME_LEN, PROTOCOL_VERSION};
use crate::message::Message;

/// Bytes of the length prefix in front of every frame.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Message types from this value up may be ignored by a peer that does not know them; types
/// below it must be understood, and an unknown one is a protocol error.
pub const FIRST_IGNORABLE_TYPE: u8 = 0x80;

/// One frame taken off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message this version understands.
    Message(Message),
    /// A message of a type in the ignorable range that this version does not know: a newer
    /// peer's optional message. Its body was skipped.
    Ignored { message_type: u8 },
}

/// Decodes exactly one whole frame, length prefix included (for fixtures and tests; a
/// session uses [`FrameDecoder`] on the byte stream).
pub fn decode_frame(frame: &[u8]) -> Result<Decoded, DecodeError> {
    let Some((prefix, rest)) = frame.split_first_chunk::<LENGTH_PREFIX_LEN>() else {
        return Err(DecodeError::Incomplete);
    };
    let len = frame_len(*prefix)?;
    match rest.len().cmp(&len) {
        core::cmp::Ordering::Less => Err(DecodeError::Incomplete),
        core::cmp::Ordering::Greater => Err(DecodeError::TrailingBytes {
            extra: rest.len() - len,
        }),
        core::cmp::Ordering::Equal => decode_payload(rest),
    }
}

/// Reads a length prefix and checks it against [`MAX_FRAME_LEN`].
pub(crate) fn frame_len(prefix: [u8; LENGTH_PREFIX_LEN]) -> Result<usize, DecodeError> {
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > MAX_FRAME_LEN {
        return Err(DecodeError::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// Decodes what follows a length prefix: version, message type, body.
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Decoded, DecodeError> {
    let Some((&[version, message_type], body)) = payload.split_first_chunk::<2>() else {
        return Err(DecodeError::FrameTooShort { len: payload.len() });
    };
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    match Message::decode_body(message_type, body)? {
        Some(message) => Ok(Decoded::Message(message)),
        None if message_type >= FIRST_IGNORABLE_TYPE => Ok(Decoded::Ignored { message_type }),
        None => Err(DecodeError::UnknownMessageType { message_type }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_an_oversized_length_before_reading_the_body() {
        let err = decode_frame(&[0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(err, DecodeError::FrameTooLarge { .. }));
    }

    #[test]
    fn rejects_other_versions_with_the_version_code() {
        let err = decode_frame(&[0, 0, 0, 2, 9, 0x06]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnsupportedVersion {
                found: 9,
                supported: 1
            }
        );
        assert_eq!(err.code(), crate::Code::VERSION_UNSUPPORTED);
    }

    #[test]
    fn unknown_types_are_errors_or_ignored_by_range() {
        let err = decode_frame(&[0, 0, 0, 2, 1, 0x7f]).unwrap_err();
        assert_eq!(err, DecodeError::UnknownMessageType { message_type: 0x7f });
        let ignored = decode_frame(&[0, 0, 0, 5, 1, 0xfe, 1, 0, 0]).unwrap();
        assert_eq!(ignored, Decoded::Ignored { message_type: 0xfe });
    }

    #[test]
    fn rejects_short_and_long_frames() {
        assert_eq!(
            decode_frame(&[0, 0, 0, 1, 1]),
            Err(DecodeError::FrameTooShort { len: 1 })
        );
        assert_eq!(decode_frame(&[0, 0, 0, 2, 1]), Err(DecodeError::Incomplete));
        let extra = decode_frame(&[0, 0, 0, 2, 1, 0x06, 0]);
        assert_eq!(extra, Err(DecodeError::TrailingBytes { extra: 1 }));
    }
}
