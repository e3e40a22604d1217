//! What the card says about its PIN: verified, tries left, or blocked.

use crate::error::{CardError, StatusWord};
use crate::tlv;

/// The state of the card's PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinState {
    /// The PIN is verified for this card session.
    Verified,
    /// Not verified; this many tries remain before the card blocks.
    TriesLeft(u8),
    /// Three wrong PINs in a row: only the PUK can unblock the card.
    Blocked,
}

/// Reads the PIN state from the status word of a VERIFY (with or without data).
pub fn state_from_probe(sw: StatusWord) -> Result<PinState, CardError> {
    match sw {
        StatusWord::OK => Ok(PinState::Verified),
        StatusWord(0x63C0) | StatusWord(0x6983) | StatusWord(0x6984) => Ok(PinState::Blocked),
        sw if sw.sw1() == 0x63 && sw.sw2() & 0xF0 == 0xC0 => {
            Ok(PinState::TriesLeft(sw.sw2() & 0x0F))
        }
        sw => Err(CardError::Unexpected {
            command: "check the PIN",
            sw,
        }),
    }
}

/// Reads the tries left from an IAS-ECC PIN data object (`GET DATA` of SDO `BF 81 01`):
/// `70 { BF8101 { A0 { 9A max, 9B remaining, … } } }`.
pub fn parse_pin_data_object(data: &[u8]) -> Result<PinState, CardError> {
    let header = tlv::find_path(data, &[0x70, 0xBF8101, 0xA0])?
        .ok_or_else(|| CardError::malformed("the PIN data object has no header"))?;
    let remaining = tlv::find(header, 0x9B)?
        .ok_or_else(|| CardError::malformed("the PIN data object has no try counter"))?;
    match tlv::uint(remaining)? {
        0 => Ok(PinState::Blocked),
        n => Ok(PinState::TriesLeft(u8::try_from(n).unwrap_or(u8::MAX))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_probe_status_words() {
        assert_eq!(
            state_from_probe(StatusWord(0x9000)).expect("ok"),
            PinState::Verified
        );
        assert_eq!(
            state_from_probe(StatusWord(0x63C2)).expect("ok"),
            PinState::TriesLeft(2)
        );
        assert_eq!(
            state_from_probe(StatusWord(0x63C0)).expect("ok"),
            PinState::Blocked
        );
        assert_eq!(
            state_from_probe(StatusWord(0x6983)).expect("ok"),
            PinState::Blocked
        );
        assert!(state_from_probe(StatusWord(0x6A88)).is_err());
    }

    #[test]
    fn reads_the_ias_ecc_pin_object_of_a_real_trace() {
        let data = [
            0x70, 0x16, 0xBF, 0x81, 0x01, 0x12, 0xA0, 0x10, 0x9A, 0x01, 0x03, 0x9B, 0x01, 0x02,
            0xA1, 0x08, 0x8C, 0x06, 0xF3, 0x00, 0x00, 0x13, 0xFF, 0x00,
        ];
        assert_eq!(
            parse_pin_data_object(&data).expect("parse"),
            PinState::TriesLeft(2)
        );
        assert!(parse_pin_data_object(&data[..10]).is_err());
    }
}
