//! The card PIN ("code porteur"): four digits, checked before they reach the card.
//!
//! A [`Pin`] is zeroized when dropped, and neither `Debug` nor `Display` shows any of it, so a
//! PIN cannot end up in a log line, an error message or a panic message by accident. It is
//! validated on construction: a typo of the wrong length never costs one of the three tries.

use std::fmt;

use zeroize::Zeroizing;

/// Number of digits of a CPS PIN.
pub const PIN_LEN: usize = 4;

/// A validated CPS PIN.
#[derive(Clone)]
pub struct Pin(Zeroizing<[u8; PIN_LEN]>);

/// Why a typed PIN was rejected before reaching the card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// Nothing was typed.
    #[error("no PIN was entered; type the 4 digits of your card's PIN")]
    Empty,
    /// The PIN does not have four characters.
    #[error(
        "a CPS PIN is exactly 4 digits; the card was not asked, so no try was used: type it again"
    )]
    WrongLength,
    /// Something other than a digit was typed.
    #[error(
        "a CPS PIN has only digits (0-9); the card was not asked, so no try was used: type it \
         again"
    )]
    NotDigits,
}

impl Pin {
    /// Validates a typed PIN. A single trailing line break (from a file or a pipe) is ignored.
    pub fn new(typed: &str) -> Result<Self, PinError> {
        let typed = typed.strip_suffix('\n').unwrap_or(typed);
        let typed = typed.strip_suffix('\r').unwrap_or(typed);
        if typed.is_empty() {
            return Err(PinError::Empty);
        }
        if typed.chars().count() != PIN_LEN {
            return Err(PinError::WrongLength);
        }
        if !typed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinError::NotDigits);
        }
        let mut digits = Zeroizing::new([0u8; PIN_LEN]);
        digits.copy_from_slice(typed.as_bytes());
        Ok(Self(digits))
    }

    /// The PIN as ASCII digits, the encoding VERIFY carries.
    pub fn ascii(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_four_digits_and_a_trailing_newline() {
        assert_eq!(Pin::new("1234").expect("valid").ascii(), b"1234");
        assert_eq!(Pin::new("0000\n").expect("valid").ascii(), b"0000");
        assert_eq!(Pin::new("9876\r\n").expect("valid").ascii(), b"9876");
    }

    #[test]
    fn rejects_typos_before_the_card_sees_them() {
        assert_eq!(Pin::new("").expect_err("empty"), PinError::Empty);
        assert_eq!(Pin::new("123").expect_err("short"), PinError::WrongLength);
        assert_eq!(Pin::new("12345").expect_err("long"), PinError::WrongLength);
        assert_eq!(Pin::new("12a4").expect_err("letter"), PinError::NotDigits);
        assert_eq!(
            Pin::new("١٢٣٤").expect_err("other digits"),
            PinError::NotDigits
        );
        assert_eq!(Pin::new(" 1234").expect_err("space"), PinError::WrongLength);
    }

    #[test]
    fn formatting_never_shows_the_digits() {
        let pin = Pin::new("4711").expect("valid");
        let shown = format!("{pin:?} {pin} {pin:#?}");
        assert!(!shown.contains("4711") && !shown.contains('7'), "{shown}");
    }
}
