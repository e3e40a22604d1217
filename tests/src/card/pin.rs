//! The card holder PIN: a 3-try counter, the PUK that unblocks it, the verified flag.
//!
//! The counter and the codes are the card's persistent state (kept across removal and power
//! cycles, as on a physical card); the verified flag is volatile and the caller clears it at
//! power-off and reset. VERIFY data is the PIN in ASCII digits; trailing `FF` or `00` padding
//! (up to the 8-byte stored length some middleware uses) is ignored.

use super::apdu::{Command, Response, Sw};
use super::identity::Secret;

/// Tries a fresh PIN has.
pub const MAX_TRIES: u8 = 3;

/// The PIN and its counters.
#[derive(Debug, Clone)]
pub struct PinState {
    pin: Secret,
    puk: Secret,
    tries_left: u8,
    puk_tries_left: u8,
    verified: bool,
}

impl PinState {
    /// A personalised PIN with all its tries.
    pub fn new(pin: Secret, puk: Secret) -> Self {
        Self {
            pin,
            puk,
            tries_left: MAX_TRIES,
            puk_tries_left: 10,
            verified: false,
        }
    }

    /// Tries left before the PIN blocks.
    pub fn tries_left(&self) -> u8 {
        self.tries_left
    }

    /// Whether the PIN was verified since the last power-on or reset.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Forgets the verification (power-off, reset, removal).
    pub fn clear_verified(&mut self) {
        self.verified = false;
    }

    /// VERIFY (`20`). With data: checks it. Without: reports the state (`9000` if verified,
    /// `63Cx` otherwise, `6983` if blocked).
    pub fn verify(&mut self, cmd: &Command) -> Response {
        if self.tries_left == 0 {
            return Sw::AUTH_BLOCKED.into();
        }
        if cmd.data.is_empty() {
            let sw = if self.verified {
                Sw::OK
            } else {
                Sw::tries_left(self.tries_left)
            };
            return sw.into();
        }
        self.check(&cmd.data)
    }

    fn check(&mut self, candidate: &[u8]) -> Response {
        if unpadded(candidate) == self.pin.expose() {
            self.tries_left = MAX_TRIES;
            self.verified = true;
            return Sw::OK.into();
        }
        self.verified = false;
        self.tries_left -= 1;
        if self.tries_left == 0 {
            return Sw::AUTH_BLOCKED.into();
        }
        Sw::tries_left(self.tries_left).into()
    }

    /// CHANGE REFERENCE DATA (`24`): P1 `00` with old ‖ new PIN, or P1 `01` with the new PIN
    /// after a successful VERIFY.
    pub fn change(&mut self, cmd: &Command) -> Response {
        if self.tries_left == 0 {
            return Sw::AUTH_BLOCKED.into();
        }
        let new = match cmd.p1 {
            0x00 => {
                let split = self.pin.expose().len().min(cmd.data.len());
                let (old, new) = cmd.data.split_at(split);
                let answer = self.check(old);
                if answer.sw != Sw::OK {
                    return answer;
                }
                new
            }
            0x01 if self.verified => cmd.data.as_slice(),
            0x01 => return Sw::SECURITY_NOT_SATISFIED.into(),
            _ => return Sw::WRONG_P1P2.into(),
        };
        self.set_pin(new)
    }

    /// RESET RETRY COUNTER (`2C`): P1 `00` with PUK ‖ new PIN, P1 `01` with the PUK alone.
    pub fn unblock(&mut self, cmd: &Command) -> Response {
        if self.puk_tries_left == 0 {
            return Sw::AUTH_BLOCKED.into();
        }
        let puk_len = self.puk.expose().len();
        if cmd.p1 > 0x01 || cmd.data.len() < puk_len {
            return if cmd.p1 > 0x01 {
                Sw::WRONG_P1P2
            } else {
                Sw::WRONG_LENGTH
            }
            .into();
        }
        let (puk, new) = cmd.data.split_at(puk_len);
        if puk != self.puk.expose() {
            self.puk_tries_left -= 1;
            return Sw::tries_left(self.puk_tries_left).into();
        }
        self.tries_left = MAX_TRIES;
        if cmd.p1 == 0x00 {
            return self.set_pin(new);
        }
        Sw::OK.into()
    }

    fn set_pin(&mut self, new: &[u8]) -> Response {
        let new = unpadded(new);
        if !(4..=8).contains(&new.len()) || !new.iter().all(u8::is_ascii_digit) {
            return Sw::WRONG_DATA.into();
        }
        self.pin = Secret::new(String::from_utf8_lossy(new).into_owned());
        Sw::OK.into()
    }

    /// The IAS-ECC PIN SDO (`BF 81 01`) as GET DATA returns it: max tries `9A`, tries left `9B`.
    pub fn sdo(&self) -> Vec<u8> {
        let mut out = vec![0x70, 0x16, 0xBF, 0x81, 0x01, 0x12, 0xA0, 0x10];
        out.extend_from_slice(&[0x9A, 0x01, MAX_TRIES, 0x9B, 0x01, self.tries_left]);
        out.extend_from_slice(&[0xA1, 0x08, 0x8C, 0x06, 0xF3, 0x00, 0x00, 0x13, 0xFF, 0x00]);
        out
    }
}

fn unpadded(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0xFF && b != 0x00)
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> PinState {
        PinState::new(Secret::new("1234"), Secret::new("12345678"))
    }

    fn verify(pin: &mut PinState, data: &[u8]) -> Sw {
        let mut apdu = vec![0x00, 0x20, 0x00, 0x01];
        if !data.is_empty() {
            apdu.push(data.len() as u8);
            apdu.extend_from_slice(data);
        }
        pin.verify(&Command::parse(&apdu).unwrap()).sw
    }

    #[test]
    fn wrong_pins_count_down_then_block() {
        let mut pin = state();
        assert_eq!(verify(&mut pin, b"0000"), Sw(0x63C2));
        assert_eq!(verify(&mut pin, b"0000"), Sw(0x63C1));
        assert_eq!(verify(&mut pin, b""), Sw(0x63C1));
        assert_eq!(verify(&mut pin, b"0000"), Sw::AUTH_BLOCKED);
        assert_eq!(verify(&mut pin, b"1234"), Sw::AUTH_BLOCKED);
        assert!(!pin.is_verified());
    }

    #[test]
    fn right_pin_resets_the_counter_and_padding_is_ignored() {
        let mut pin = state();
        assert_eq!(verify(&mut pin, b"9999"), Sw(0x63C2));
        assert_eq!(verify(&mut pin, b"1234\xFF\xFF\xFF\xFF"), Sw::OK);
        assert_eq!(pin.tries_left(), 3);
        assert_eq!(verify(&mut pin, b""), Sw::OK);
        pin.clear_verified();
        assert_eq!(verify(&mut pin, b""), Sw(0x63C3));
    }

    #[test]
    fn puk_unblocks_and_sets_a_new_pin() {
        let mut pin = state();
        for _ in 0..3 {
            verify(&mut pin, b"0000");
        }
        let wrong = Command::parse(b"\x00\x2C\x00\x01\x0C000000004321").unwrap();
        assert_eq!(pin.unblock(&wrong).sw, Sw(0x63C9));
        let right = Command::parse(b"\x00\x2C\x00\x01\x0C123456784321").unwrap();
        assert_eq!(pin.unblock(&right).sw, Sw::OK);
        assert_eq!(verify(&mut pin, b"4321"), Sw::OK);
    }

    #[test]
    fn change_needs_the_old_pin() {
        let mut pin = state();
        let change = Command::parse(b"\x00\x24\x00\x01\x0812345678").unwrap();
        assert_eq!(pin.change(&change).sw, Sw::OK);
        assert_eq!(verify(&mut pin, b"5678"), Sw::OK);
        let bad = Command::parse(b"\x00\x24\x00\x01\x0800001111").unwrap();
        assert_eq!(pin.change(&bad).sw, Sw(0x63C2));
    }

    #[test]
    fn sdo_reports_the_counter() {
        let mut pin = state();
        verify(&mut pin, b"0000");
        let sdo = pin.sdo();
        assert_eq!(sdo.len(), 0x18);
        assert_eq!(&sdo[11..14], &[0x9B, 0x01, 0x02]);
    }
}
