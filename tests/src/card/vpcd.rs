//! vpcd's framing: a 2-byte big-endian length, then the payload, in both directions.
//!
//! Sans-IO: [`FrameDecoder`] takes bytes as they arrive and yields [`Frame`]s; [`encode`]
//! frames an answer. A 1-byte payload from vpcd is a control message (`00` power off, `01`
//! power on, `02` reset, `04` send the ATR); anything longer is a command APDU. A zero-length
//! answer from the card means "no card" to vpcd, so the emulator never sends one by accident.

/// One message from vpcd to the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `00`: power the card off (no answer).
    PowerOff,
    /// `01`: power the card on (no answer).
    PowerOn,
    /// `02`: warm reset (no answer).
    Reset,
    /// `04`: send the ATR.
    AtrRequest,
    /// Another 1-byte control code, which this version of vpcd does not send; ignored.
    UnknownControl(u8),
    /// A command APDU, exactly as the PC/SC application passed it.
    Apdu(Vec<u8>),
}

impl Frame {
    fn from_payload(payload: Vec<u8>) -> Frame {
        match payload.as_slice() {
            [0x00] => Frame::PowerOff,
            [0x01] => Frame::PowerOn,
            [0x02] => Frame::Reset,
            [0x04] => Frame::AtrRequest,
            [other] => Frame::UnknownControl(*other),
            _ => Frame::Apdu(payload),
        }
    }
}

/// Accumulates bytes from the socket and cuts them into frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, if one has fully arrived.
    ///
    /// A zero-length frame carries nothing and is skipped.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        loop {
            let [hi, lo, ..] = self.buffer[..] else {
                return None;
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if self.buffer.len() < 2 + len {
                return None;
            }
            let payload: Vec<u8> = self.buffer.drain(..2 + len).skip(2).collect();
            if !payload.is_empty() {
                return Some(Frame::from_payload(payload));
            }
        }
    }
}

/// Frames `payload` for the wire. Payloads longer than 65,535 bytes are cut to that length
/// (no card answer comes close).
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(2 + len);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&payload[..len]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_and_apdus() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&[
            0, 1, 0x01, 0, 1, 0x04, 0, 4, 0x00, 0xA4, 0x04, 0x00, 0, 1, 0x02, 0, 1, 0x00,
        ]);
        assert_eq!(decoder.poll_frame(), Some(Frame::PowerOn));
        assert_eq!(decoder.poll_frame(), Some(Frame::AtrRequest));
        assert_eq!(
            decoder.poll_frame(),
            Some(Frame::Apdu(vec![0x00, 0xA4, 0x04, 0x00]))
        );
        assert_eq!(decoder.poll_frame(), Some(Frame::Reset));
        assert_eq!(decoder.poll_frame(), Some(Frame::PowerOff));
        assert_eq!(decoder.poll_frame(), None);
    }

    #[test]
    fn partial_frames_wait_for_the_rest() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&[0]);
        assert_eq!(decoder.poll_frame(), None);
        decoder.push(&[5, 0x00, 0xB0]);
        assert_eq!(decoder.poll_frame(), None);
        decoder.push(&[0x00, 0x00, 0x0C, 0, 1]);
        assert_eq!(
            decoder.poll_frame(),
            Some(Frame::Apdu(vec![0x00, 0xB0, 0x00, 0x00, 0x0C]))
        );
        decoder.push(&[0x07]);
        assert_eq!(decoder.poll_frame(), Some(Frame::UnknownControl(7)));
    }

    #[test]
    fn empty_frames_are_skipped_and_encoding_round_trips() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&[0, 0]);
        decoder.push(&encode(&[0x90, 0x00]));
        assert_eq!(decoder.poll_frame(), Some(Frame::Apdu(vec![0x90, 0x00])));
        assert_eq!(encode(&[1, 2, 3]), vec![0, 3, 1, 2, 3]);
    }
}
