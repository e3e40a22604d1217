//! MANAGE SECURITY ENVIRONMENT: which key and algorithm the next private-key command uses.
//!
//! Accepts `22 41 A4` (authentication), `22 41 B6` / `22 81 B6` (digital signature),
//! `22 41 B8` (confidentiality) and `22 F3 xx` (restore: forget the environment). The data is
//! a list of TLVs in any order: `80` algorithm, `83` or `84` key reference, and the CPS4's
//! `91` (algorithm then key reference in one value).

use super::apdu::{Command, Response, Sw};

/// The control reference templates the cards understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// `A4`: authentication (INTERNAL AUTHENTICATE).
    Authentication,
    /// `B6`: digital signature (PSO:CDS).
    Signature,
    /// `B8`: confidentiality (PSO:DECIPHER).
    Decipher,
}

/// The security environment of one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mse {
    /// The template last set, with its algorithm and key reference.
    pub current: Option<(Template, Option<u8>, Option<u8>)>,
}

impl Mse {
    /// Applies an MSE command.
    pub fn handle(&mut self, cmd: &Command) -> Response {
        if cmd.p1 == 0xF3 {
            self.current = None;
            return Sw::OK.into();
        }
        if cmd.p1 != 0x41 && cmd.p1 != 0x81 {
            return Sw::WRONG_P1P2.into();
        }
        let template = match cmd.p2 {
            0xA4 => Template::Authentication,
            0xB6 => Template::Signature,
            0xB8 => Template::Decipher,
            _ => return Sw::WRONG_P1P2.into(),
        };
        match parse_crt(&cmd.data) {
            Ok((algo, key)) => {
                self.current = Some((template, algo, key));
                Sw::OK.into()
            }
            Err(sw) => {
                self.current = None;
                sw.into()
            }
        }
    }

    /// The algorithm and key reference set for `template`, or `6985` if another (or none) is.
    pub fn expect(&self, template: Template) -> Result<(Option<u8>, Option<u8>), Sw> {
        match self.current {
            Some((t, algo, key)) if t == template => Ok((algo, key)),
            _ => Err(Sw::CONDITIONS_NOT_SATISFIED),
        }
    }
}

/// Parses the control reference template's TLVs: (algorithm, key reference).
fn parse_crt(mut data: &[u8]) -> Result<(Option<u8>, Option<u8>), Sw> {
    let (mut algo, mut key) = (None, None);
    while !data.is_empty() {
        let [tag, len, rest @ ..] = data else {
            return Err(Sw::WRONG_DATA);
        };
        let len = usize::from(*len);
        if rest.len() < len {
            return Err(Sw::WRONG_DATA);
        }
        let value = &rest[..len];
        match (*tag, value) {
            (0x80, [a]) => algo = Some(*a),
            (0x83 | 0x84, [k]) => key = Some(*k),
            (0x91, [a, k]) => (algo, key) = (Some(*a), Some(*k)),
            (0x80 | 0x83 | 0x84 | 0x91, _) => return Err(Sw::WRONG_DATA),
            _ => {}
        }
        data = &rest[len..];
    }
    Ok((algo, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mse(bytes: &[u8]) -> (Mse, Sw) {
        let mut mse = Mse::default();
        let sw = mse.handle(&Command::parse(bytes).unwrap()).sw;
        (mse, sw)
    }

    #[test]
    fn tags_in_either_order() {
        let (cryptolib, sw) = mse(&[
            0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
        ]);
        assert_eq!(sw, Sw::OK);
        let (opensc, _) = mse(&[
            0x00, 0x22, 0x41, 0xA4, 0x06, 0x84, 0x01, 0x82, 0x80, 0x01, 0x02,
        ]);
        assert_eq!(cryptolib, opensc);
        assert_eq!(
            opensc.expect(Template::Authentication),
            Ok((Some(0x02), Some(0x82)))
        );
        assert_eq!(
            opensc.expect(Template::Signature),
            Err(Sw::CONDITIONS_NOT_SATISFIED)
        );
    }

    #[test]
    fn cps4_pss_and_decipher_forms() {
        let (pss, sw) = mse(&[0x01, 0x22, 0x81, 0xB6, 0x04, 0x91, 0x02, 0x2C, 0xA0]);
        assert_eq!(sw, Sw::OK);
        assert_eq!(
            pss.expect(Template::Signature),
            Ok((Some(0x2C), Some(0xA0)))
        );
        let (dec, _) = mse(&[0x01, 0x22, 0x41, 0xB8, 0x03, 0x83, 0x01, 0x20]);
        assert_eq!(dec.expect(Template::Decipher), Ok((None, Some(0x20))));
    }

    #[test]
    fn malformed_and_restore() {
        assert_eq!(
            mse(&[0x00, 0x22, 0x41, 0xA4, 0x02, 0x80, 0x05]).1,
            Sw::WRONG_DATA
        );
        assert_eq!(
            mse(&[0x00, 0x22, 0x41, 0xA4, 0x03, 0x80, 0x02, 0x01]).1,
            Sw::WRONG_DATA
        );
        assert_eq!(mse(&[0x00, 0x22, 0x42, 0xA4]).1, Sw::WRONG_P1P2);
        assert_eq!(mse(&[0x00, 0x22, 0xF3, 0x01]).1, Sw::OK);
    }
}
