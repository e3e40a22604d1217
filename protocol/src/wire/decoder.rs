//! Cutting a byte stream that arrives in arbitrary chunks into frames.

use zeroize::Zeroize;

use super::{Decoded, LENGTH_PREFIX_LEN, decode_payload, frame_len};
use crate::error::DecodeError;

/// Buffers the bytes of the control stream and yields whole frames.
///
/// It holds at most one partial frame beyond what was pushed, and checks a frame's length
/// prefix against the limit as soon as the prefix is complete, before buffering its body.
/// After an error the stream cannot be resynchronised: the session must close.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            // Frames already decoded may hold a resume token: wipe them, not just drop them.
            if let Some(done) = self.buf.get_mut(..self.start) {
                done.zeroize();
            }
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Decoded>, DecodeError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let Some((prefix, rest)) = pending.split_first_chunk::<LENGTH_PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = frame_len(*prefix)?;
        let Some(payload) = rest.get(..len) else {
            return Ok(None);
        };
        let decoded = decode_payload(payload)?;
        self.start += LENGTH_PREFIX_LEN + len;
        Ok(Some(decoded))
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

impl Drop for FrameDecoder {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    const KEEPALIVE: [u8; 6] = [0, 0, 0, 2, 1, 0x06];

    #[test]
    fn frames_arrive_one_byte_at_a_time() {
        let mut decoder = FrameDecoder::new();
        for (i, byte) in KEEPALIVE.iter().enumerate() {
            assert_eq!(
                decoder.next_frame().unwrap(),
                None,
                "frame complete after {i} bytes"
            );
            decoder.push(&[*byte]);
        }
        assert_eq!(
            decoder.next_frame().unwrap(),
            Some(Decoded::Message(Message::Keepalive))
        );
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn several_frames_in_one_chunk() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[KEEPALIVE, KEEPALIVE, KEEPALIVE].concat()[..15]);
        assert!(decoder.next_frame().unwrap().is_some());
        assert!(decoder.next_frame().unwrap().is_some());
        assert_eq!(decoder.next_frame().unwrap(), None);
        decoder.push(&KEEPALIVE[3..]);
        assert!(decoder.next_frame().unwrap().is_some());
    }

    #[test]
    fn an_oversized_prefix_fails_before_the_body_arrives() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0x01, 0, 0, 0]);
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::FrameTooLarge { .. })
        ));
    }
}
