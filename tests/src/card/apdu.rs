//! ISO 7816-4 short command APDUs (cases 1 to 4) and response APDUs.
//!
//! Parsing never panics: bytes that are not a short APDU come back as the status word a card
//! would answer (`6700` wrong length, `6E00` class not supported). Extended-length APDUs are
//! not supported by the emulated cards and are refused with `6700`.

/// A status word (SW1 SW2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sw(pub u16);

impl Sw {
    /// Normal processing.
    pub const OK: Sw = Sw(0x9000);
    /// Wrong length (Lc or Le inconsistent with the command).
    pub const WRONG_LENGTH: Sw = Sw(0x6700);
    /// Logical channel not supported.
    pub const CHANNEL_NOT_SUPPORTED: Sw = Sw(0x6881);
    /// Last command of the chain expected.
    pub const CHAIN_EXPECTED: Sw = Sw(0x6883);
    /// Security status not satisfied (PIN not verified).
    pub const SECURITY_NOT_SATISFIED: Sw = Sw(0x6982);
    /// Authentication method blocked (PIN blocked).
    pub const AUTH_BLOCKED: Sw = Sw(0x6983);
    /// Conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Sw = Sw(0x6985);
    /// Command not allowed (no current EF).
    pub const NO_CURRENT_EF: Sw = Sw(0x6986);
    /// Incorrect parameters in the data field.
    pub const WRONG_DATA: Sw = Sw(0x6A80);
    /// Function not supported.
    pub const FUNC_NOT_SUPPORTED: Sw = Sw(0x6A81);
    /// File or application not found.
    pub const FILE_NOT_FOUND: Sw = Sw(0x6A82);
    /// Referenced data not found.
    pub const REF_NOT_FOUND: Sw = Sw(0x6A88);
    /// Incorrect parameters P1-P2.
    pub const WRONG_P1P2: Sw = Sw(0x6A86);
    /// Wrong parameters P1-P2 (offset outside the EF).
    pub const OFFSET_OUTSIDE: Sw = Sw(0x6B00);
    /// Instruction code not supported.
    pub const INS_NOT_SUPPORTED: Sw = Sw(0x6D00);
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: Sw = Sw(0x6E00);

    /// `63Cx`: verification failed, `x` tries left.
    pub fn tries_left(tries: u8) -> Sw {
        Sw(0x63C0 | u16::from(tries.min(15)))
    }

    /// `61xx`: `xx` bytes wait for GET RESPONSE (`00` means 256 or more).
    pub fn bytes_available(count: usize) -> Sw {
        Sw(0x6100 | (count.min(256) % 256) as u16)
    }
}

/// A parsed short command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The class byte as sent (channel bits and chaining bit included).
    pub cla: u8,
    /// The instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// The command data (empty for cases 1 and 2).
    pub data: Vec<u8>,
    /// The maximum response length Ne, if Le was present (Le `00` means 256).
    pub ne: Option<usize>,
}

impl Command {
    /// Parses a short APDU, or returns the status word a card answers to malformed bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, Sw> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(Sw::WRONG_LENGTH);
        };
        if *cla == 0xFF {
            return Err(Sw::CLA_NOT_SUPPORTED);
        }
        let (data, ne) = parse_body(body)?;
        Ok(Self {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            p2: *p2,
            data,
            ne,
        })
    }

    /// Whether the chaining bit (`0x10`) of an inter-industry class byte is set.
    pub fn is_chained(&self) -> bool {
        self.cla & 0x80 == 0 && self.cla & 0x10 != 0
    }

    /// The logical channel (0 to 3 in the first interindustry class, 4 to 19 in the further).
    pub fn channel(&self) -> u8 {
        if self.cla & 0x40 == 0 {
            self.cla & 0x03
        } else {
            4 + (self.cla & 0x0F)
        }
    }

    /// Whether the class is proprietary (`0x80` bit set), which the cards here do not speak.
    pub fn is_proprietary(&self) -> bool {
        self.cla & 0x80 != 0
    }
}

/// Splits the bytes after the header into (data, Ne) per ISO 7816-4 short cases.
fn parse_body(body: &[u8]) -> Result<(Vec<u8>, Option<usize>), Sw> {
    match body {
        [] => Ok((Vec::new(), None)),
        [le] => Ok((Vec::new(), Some(ne_of(*le)))),
        [0, ..] => Err(Sw::WRONG_LENGTH),
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            match rest.len() {
                n if n == lc => Ok((rest.to_vec(), None)),
                n if n == lc + 1 => Ok((rest[..lc].to_vec(), Some(ne_of(rest[lc])))),
                _ => Err(Sw::WRONG_LENGTH),
            }
        }
    }
}

fn ne_of(le: u8) -> usize {
    if le == 0 { 256 } else { usize::from(le) }
}

/// A response APDU: data then the status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// The status word.
    pub sw: Sw,
}

impl Response {
    /// A response with data and `9000`.
    pub fn ok(data: Vec<u8>) -> Self {
        Self { data, sw: Sw::OK }
    }

    /// A bare status word.
    pub fn status(sw: Sw) -> Self {
        Self {
            data: Vec::new(),
            sw,
        }
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }
}

impl From<Sw> for Response {
    fn from(sw: Sw) -> Self {
        Self::status(sw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_cases_parse() {
        let c1 = Command::parse(&[0x00, 0xA4, 0x03, 0x0C]).unwrap();
        assert_eq!((c1.data.len(), c1.ne), (0, None));
        let c2 = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!((c2.data.len(), c2.ne), (0, Some(256)));
        let c3 = Command::parse(&[0x00, 0x20, 0x00, 0x01, 0x02, 0x31, 0x32]).unwrap();
        assert_eq!((c3.data, c3.ne), (vec![0x31, 0x32], None));
        let c4 = Command::parse(&[0x00, 0x88, 0x00, 0x00, 0x01, 0xAA, 0x10]).unwrap();
        assert_eq!((c4.data, c4.ne), (vec![0xAA], Some(16)));
    }

    #[test]
    fn malformed_lengths_are_6700() {
        assert_eq!(Command::parse(&[]), Err(Sw::WRONG_LENGTH));
        assert_eq!(Command::parse(&[0x00, 0xA4, 0x00]), Err(Sw::WRONG_LENGTH));
        assert_eq!(
            Command::parse(&[0x00, 0x20, 0x00, 0x01, 0x05, 0x31]),
            Err(Sw::WRONG_LENGTH)
        );
        // Extended length (Lc starts with 00) is not supported.
        assert_eq!(
            Command::parse(&[0x00, 0x2A, 0x9E, 0x9A, 0x00, 0x01, 0x00]),
            Err(Sw::WRONG_LENGTH)
        );
    }

    #[test]
    fn cla_ff_is_refused() {
        assert_eq!(
            Command::parse(&[0xFF, 0xCA, 0x00, 0x00]),
            Err(Sw::CLA_NOT_SUPPORTED)
        );
    }

    #[test]
    fn channel_and_chaining_bits() {
        let c = Command::parse(&[0x11, 0x2A, 0x80, 0x86, 0x01, 0x00]).unwrap();
        assert!(c.is_chained());
        assert_eq!(c.channel(), 1);
        let further = Command::parse(&[0x41, 0xB0, 0x00, 0x00]).unwrap();
        assert_eq!(further.channel(), 5);
    }

    #[test]
    fn status_word_helpers() {
        assert_eq!(Sw::tries_left(2), Sw(0x63C2));
        assert_eq!(Sw::bytes_available(256), Sw(0x6100));
        assert_eq!(Sw::bytes_available(0x27), Sw(0x6127));
        assert_eq!(Response::ok(vec![1]).to_bytes(), vec![1, 0x90, 0x00]);
    }
}
