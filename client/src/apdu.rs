//! Command and response APDUs (ISO 7816-4, short form only).
//!
//! Responses come from the card and are untrusted: [`Response::parse`] accepts any bytes and
//! never panics. Command data may hold a PIN, so it lives in a zeroizing buffer and `Debug`
//! shows only its length.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{CardError, StatusWord};

/// Longest data field of a short command APDU.
pub const MAX_SHORT_DATA: usize = 255;

/// A command APDU.
#[derive(Clone)]
pub struct Command {
    /// Class byte (channel bits included).
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    data: Zeroizing<Vec<u8>>,
    le: Option<u8>,
}

impl Command {
    /// A command with no data and no expected length (case 1).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Zeroizing::new(Vec::new()),
            le: None,
        }
    }

    /// Sets the data field.
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = Zeroizing::new(data.to_vec());
        self
    }

    /// Sets Le (`0` asks for up to 256 bytes).
    pub fn with_le(mut self, le: u8) -> Self {
        self.le = Some(le);
        self
    }

    /// Removes Le (T=0 cards take case-4 commands as case 3 and answer `61 xx`).
    pub fn without_le(mut self) -> Self {
        self.le = None;
        self
    }

    /// The data field.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The expected length, if any.
    pub fn le(&self) -> Option<u8> {
        self.le
    }

    /// Encodes the command; data longer than [`MAX_SHORT_DATA`] must be chained by the caller.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(5 + self.data.len() + 1));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            let lc = u8::try_from(self.data.len()).unwrap_or(u8::MAX);
            out.push(lc);
            out.extend_from_slice(&self.data[..usize::from(lc)]);
        }
        if let Some(le) = self.le {
            out.push(le);
        }
        out
    }

    /// Splits a long command into a chain of short ones (CLA bit `0x10` on all but the last).
    pub fn chained(&self) -> Vec<Command> {
        if self.data.len() <= MAX_SHORT_DATA {
            return vec![self.clone()];
        }
        let chunks: Vec<&[u8]> = self.data.chunks(MAX_SHORT_DATA).collect();
        let last = chunks.len() - 1;
        let link = |(i, chunk): (usize, &&[u8])| {
            let cla = if i == last { self.cla } else { self.cla | 0x10 };
            let cmd = Command::new(cla, self.ins, self.p1, self.p2).with_data(chunk);
            match (i == last, self.le) {
                (true, Some(le)) => cmd.with_le(le),
                _ => cmd,
            }
        };
        chunks.iter().enumerate().map(link).collect()
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}, {} data bytes, le {:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

/// A response APDU: data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// The data field (may be empty).
    pub data: Vec<u8>,
    /// The trailing status word.
    pub sw: StatusWord,
}

impl Response {
    /// Parses raw bytes from the card: at least the two status bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, CardError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self {
                data: data.to_vec(),
                sw: StatusWord::from_bytes(*sw1, *sw2),
            }),
            _ => Err(CardError::malformed(format!(
                "a response of {} bytes has no status word",
                bytes.len()
            ))),
        }
    }

    /// The data if the status is `90 00`, otherwise `Unexpected` naming `command`.
    pub fn ok_data(self, command: &'static str) -> Result<Vec<u8>, CardError> {
        if self.sw.is_ok() {
            Ok(self.data)
        } else {
            Err(CardError::Unexpected {
                command,
                sw: self.sw,
            })
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Response({} data bytes, sw {:?})",
            self.data.len(),
            self.sw
        )
    }
}

/// Formats bytes as spaced upper-case hex, for messages (never for PIN-bearing commands).
pub fn hex(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_case() {
        let case1 = Command::new(0x00, 0xA4, 0x04, 0x0C).to_bytes();
        assert_eq!(*case1, [0x00, 0xA4, 0x04, 0x0C]);
        let case2 = Command::new(0x00, 0xB0, 0, 0).with_le(0x0C).to_bytes();
        assert_eq!(*case2, [0x00, 0xB0, 0, 0, 0x0C]);
        let case4 = Command::new(0x01, 0x2A, 0x9E, 0x9A)
            .with_data(&[1, 2])
            .with_le(0)
            .to_bytes();
        assert_eq!(*case4, [0x01, 0x2A, 0x9E, 0x9A, 2, 1, 2, 0]);
    }

    #[test]
    fn chains_long_data_with_the_chaining_bit() {
        let cmd = Command::new(0x01, 0x2A, 0x80, 0x86)
            .with_data(&[7; 256])
            .with_le(0);
        let chain = cmd.chained();
        assert_eq!(chain.len(), 2);
        assert_eq!(
            (chain[0].cla, chain[0].data().len(), chain[0].le()),
            (0x11, 255, None)
        );
        assert_eq!(
            (chain[1].cla, chain[1].data().len(), chain[1].le()),
            (0x01, 1, Some(0))
        );
    }

    #[test]
    fn debug_hides_command_data() {
        let cmd = Command::new(0, 0x20, 0, 1).with_data(b"1234");
        let shown = format!("{cmd:?}");
        assert!(
            !shown.contains("1234") && !shown.contains("31 32"),
            "{shown}"
        );
    }

    #[test]
    fn parses_responses_and_rejects_short_ones() {
        let r = Response::parse(&[0xAA, 0x90, 0x00]).expect("valid");
        assert_eq!((r.data.as_slice(), r.sw), (&[0xAA][..], StatusWord::OK));
        assert!(Response::parse(&[0x90]).is_err());
        assert!(Response::parse(&[]).is_err());
    }
}
