//! Errors of the card layer, grouped by who is at fault.
//!
//! Every message is written for the person holding the card, or for the help desk they call:
//! it says what happened and what to do next. None of them ever contains the PIN.

use std::fmt;

/// A status word (SW1 SW2) returned by the card.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// The command completed normally.
    pub const OK: Self = Self(0x9000);

    /// Builds a status word from its two bytes.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    /// The first byte (the status class).
    pub fn sw1(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// The second byte (the qualifier).
    pub fn sw2(self) -> u8 {
        self.0.to_be_bytes()[1]
    }

    /// True for `90 00`.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X}", self.sw1(), self.sw2())
    }
}

/// What went wrong while talking to the reader or the card.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    // --- The user can fix it ---
    /// The PIN was refused; the card counts the try.
    #[error(
        "wrong PIN: {tries_left} {} left before the card blocks; type it again carefully",
        if *tries_left == 1 { "try" } else { "tries" }
    )]
    WrongPin {
        /// Tries the card still allows.
        tries_left: u8,
    },
    /// The PIN try counter reached zero.
    #[error(
        "the card is blocked after too many wrong PINs; unblock it with your PUK at the \
         hospital's card desk"
    )]
    PinBlocked,
    /// A protected operation was asked before a PIN was verified.
    #[error("the card needs your PIN first; enter it and try again")]
    PinNotVerified,
    /// No card in the reader.
    #[error("no card in reader \"{reader}\"; insert your CPS card (chip first, facing up)")]
    NoCard {
        /// The reader's name.
        reader: String,
    },
    /// The card was pulled out during the operation.
    #[error("the card was removed; insert it again and retry")]
    CardRemoved,
    /// The card was reset by another program, its PIN state is lost.
    #[error("the card was reset by another program; retry (the PIN will be asked again)")]
    CardReset,

    // --- The workstation: reader or PC/SC service ---
    /// No reader is connected.
    #[error("no smart-card reader found; plug in the reader and retry")]
    NoReader,
    /// The reader asked for (`--reader`) is not connected.
    #[error(
        "there is no reader named \"{reader}\" (readers found: {available}); check --reader or \
         VIGIE_READER"
    )]
    NoSuchReader {
        /// The name asked for.
        reader: String,
        /// The readers that exist, comma-separated.
        available: String,
    },
    /// The reader was unplugged during the operation.
    #[error("the card reader was disconnected; plug it in again and retry")]
    ReaderGone,
    /// The PC/SC service is not running.
    #[error("the smart-card service (pcscd) is not running; start it or ask your IT support")]
    ServiceUnavailable,
    /// The card is held by another program.
    #[error("the card is in use by another program; close it and retry")]
    CardBusy,
    /// Another PC/SC failure.
    #[error("smart-card reader error ({0}); unplug and replug the reader, then retry")]
    Reader(String),

    // --- The card is not what we expect or misbehaved ---
    /// The ATR does not belong to a CPS3 or CPS4 card.
    #[error("this is not a CPS card (ATR {atr}); insert your CPS3 or CPS4 professional card")]
    UnknownCard {
        /// The ATR, as hex.
        atr: String,
    },
    /// The card answered a command with an unexpected status word.
    #[error(
        "the card refused \"{command}\" (status {sw}); remove and reinsert it, and if this \
         persists call your IT support with this message"
    )]
    Unexpected {
        /// The command, in words.
        command: &'static str,
        /// What the card answered.
        sw: StatusWord,
    },
    /// The card returned bytes that do not parse.
    #[error(
        "the card sent a malformed answer ({what}); remove and reinsert it, and if this \
         persists call your IT support with this message"
    )]
    Malformed {
        /// What was malformed.
        what: String,
    },
    /// The card cannot do what was asked (e.g. PSS on a CPS3).
    #[error("this card cannot {0}")]
    Unsupported(&'static str),
}

impl CardError {
    /// A malformed answer, described in words.
    pub fn malformed(what: impl Into<String>) -> Self {
        Self::Malformed { what: what.into() }
    }

    /// True when the card is gone (removed or its reader unplugged).
    pub fn is_card_gone(&self) -> bool {
        matches!(
            self,
            Self::CardRemoved | Self::ReaderGone | Self::NoCard { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_pin_message_counts_tries() {
        let one = CardError::WrongPin { tries_left: 1 }.to_string();
        let two = CardError::WrongPin { tries_left: 2 }.to_string();
        assert!(one.contains("1 try left"), "{one}");
        assert!(two.contains("2 tries left"), "{two}");
    }

    #[test]
    fn blocked_message_names_the_puk() {
        let msg = CardError::PinBlocked.to_string();
        assert!(msg.contains("PUK") && msg.contains("card desk"), "{msg}");
    }

    #[test]
    fn status_word_bytes_round_trip() {
        let sw = StatusWord::from_bytes(0x63, 0xC2);
        assert_eq!((sw.sw1(), sw.sw2()), (0x63, 0xC2));
        assert_eq!(sw.to_string(), "63 C2");
        assert!(!sw.is_ok());
    }
}
