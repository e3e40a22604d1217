//! The national identifier of a health professional (idNat), as carried in a card certificate's
//! CN: a prefix digit that says which register the rest comes from, then the identifier.
//!
//! | prefix | register | shape |
//! |---|---|---|
//! | `8` | RPPS | 11 digits, the last a Luhn key |
//! | `0` | ADELI | 9 digits |
//! | `1`, `3`, `4`, `5`, `6` | structure (ADELI cabinet, FINESS, SIREN, SIRET, RPPS cabinet) | `<structure id>/<internal id>` |
//!
//! Other prefixes are kept as [`IdNatKind::Other`] rather than refused: the register may grow,
//! and the directory lookup decides whether such a person may enter.

use std::fmt;

/// A parsed idNat. Two cards of one person (a CPS3 and its CPS4 replacement) carry the same one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdNat {
    text: String,
    kind: IdNatKind,
}

/// Which register an idNat comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdNatKind {
    /// Prefix `8`: an RPPS number (11 digits whose Luhn key checked).
    Rpps,
    /// Prefix `0`: an ADELI number (9 digits).
    Adeli,
    /// A staff card (CPE/CPA) or a cabinet identity: `<prefix><structure id>/<internal id>`.
    Structure {
        /// The prefix digit (`1` ADELI cabinet, `3` FINESS, `4` SIREN, `5` SIRET, `6` RPPS cabinet).
        prefix: char,
        /// The structure's identifier in its register.
        structure_id: String,
        /// The identifier the structure gave its staff member.
        internal_id: String,
    },
    /// A prefix this version does not know; the identifier is kept as written.
    Other {
        /// The prefix digit or character.
        prefix: char,
    },
}

/// Why a string is not a well-formed idNat.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdNatError {
    /// The identifier is empty.
    #[error("the idNat is empty")]
    Empty,
    /// A character outside the printable ASCII range, or a space.
    #[error("the idNat {0:?} contains a character that is not printable ASCII")]
    BadCharacter(String),
    /// An RPPS or ADELI number that is not made of the right number of digits.
    #[error("the idNat {text:?} should be the prefix {prefix} followed by {digits} digits")]
    BadLength {
        /// The idNat as written.
        text: String,
        /// Its prefix.
        prefix: char,
        /// How many digits the register uses.
        digits: usize,
    },
    /// An RPPS number whose last digit is not its Luhn key: a typing or issuing error.
    #[error("the RPPS number in idNat {0:?} fails its Luhn check")]
    BadLuhn(String),
    /// A structure identity without the `/<internal id>` part, or with an empty part.
    #[error("the idNat {0:?} should read <prefix><structure id>/<internal id>")]
    BadStructure(String),
}

impl IdNat {
    /// Parses an idNat as found in a certificate CN or a UPN.
    pub fn parse(text: &str) -> Result<Self, IdNatError> {
        let mut chars = text.chars();
        let prefix = chars.next().ok_or(IdNatError::Empty)?;
        if !text.chars().all(|c| c.is_ascii_graphic()) {
            return Err(IdNatError::BadCharacter(text.to_owned()));
        }
        let rest = chars.as_str();
        let kind = match prefix {
            '8' => parse_rpps(text, rest)?,
            '0' => parse_digits(text, prefix, rest, 9).map(|()| IdNatKind::Adeli)?,
            '1' | '3' | '4' | '5' | '6' => parse_structure(text, prefix, rest)?,
            _ => IdNatKind::Other { prefix },
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
        })
    }

    /// The idNat as written on the card (prefix included).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which register it comes from.
    pub fn kind(&self) -> &IdNatKind {
        &self.kind
    }

    /// The prefix digit.
    pub fn prefix(&self) -> char {
        self.text.chars().next().unwrap_or('?')
    }

    /// The UPN local part form `<prefix>.<rest>`, as in `8.99700434378@carte-cps.fr`.
    pub fn upn_local_part(&self) -> String {
        let (prefix, rest) = self.text.split_at(1);
        format!("{prefix}.{rest}")
    }
}

impl fmt::Display for IdNat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_digits(text: &str, prefix: char, rest: &str, digits: usize) -> Result<(), IdNatError> {
    if rest.len() == digits && rest.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdNatError::BadLength {
            text: text.to_owned(),
            prefix,
            digits,
        })
    }
}

fn parse_rpps(text: &str, rest: &str) -> Result<IdNatKind, IdNatError> {
    parse_digits(text, '8', rest, 11)?;
    if luhn_valid(rest) {
        Ok(IdNatKind::Rpps)
    } else {
        Err(IdNatError::BadLuhn(text.to_owned()))
    }
}

fn parse_structure(text: &str, prefix: char, rest: &str) -> Result<IdNatKind, IdNatError> {
    let bad = || IdNatError::BadStructure(text.to_owned());
    let (structure_id, internal_id) = rest.split_once('/').ok_or_else(bad)?;
    if structure_id.is_empty() || internal_id.is_empty() || internal_id.contains('/') {
        return Err(bad());
    }
    Ok(IdNatKind::Structure {
        prefix,
        structure_id: structure_id.to_owned(),
        internal_id: internal_id.to_owned(),
    })
}

/// Whether a string of ASCII digits ends with its Luhn key.
pub fn luhn_valid(digits: &str) -> bool {
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && luhn_sum(digits) % 10 == 0
}

/// The Luhn key digit to append to `digits` (ASCII digits) so that the whole is valid.
pub fn luhn_key(digits: &str) -> char {
    let with_zero = format!("{digits}0");
    let key = (10 - luhn_sum(&with_zero) % 10) % 10;
    char::from(b'0' + key as u8)
}

fn luhn_sum(digits: &str) -> u32 {
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpps_with_a_valid_key_parses() {
        let body = "9970043437";
        let id = format!("8{body}{}", luhn_key(body));
        let parsed = IdNat::parse(&id).unwrap();
        assert_eq!(parsed.kind(), &IdNatKind::Rpps);
        assert_eq!(
            parsed.upn_local_part(),
            format!("8.{body}{}", luhn_key(body))
        );
    }

    #[test]
    fn rpps_with_a_wrong_key_is_refused() {
        let body = "9970043437";
        let good = luhn_key(body).to_digit(10).unwrap();
        let id = format!("8{body}{}", (good + 1) % 10);
        assert!(matches!(IdNat::parse(&id), Err(IdNatError::BadLuhn(_))));
    }

    #[test]
    fn luhn_matches_the_textbook_example() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert_eq!(luhn_key("7992739871"), '3');
    }

    #[test]
    fn adeli_needs_nine_digits() {
        assert_eq!(
            IdNat::parse("0751234567").unwrap().kind(),
            &IdNatKind::Adeli
        );
        assert!(matches!(
            IdNat::parse("07512345"),
            Err(IdNatError::BadLength { .. })
        ));
        assert!(matches!(
            IdNat::parse("07512345x7"),
            Err(IdNatError::BadLength { .. })
        ));
    }

    #[test]
    fn staff_cards_split_structure_and_internal_id() {
        let id = IdNat::parse("500000000029751/CPAT0001").unwrap();
        let IdNatKind::Structure {
            prefix,
            structure_id,
            internal_id,
        } = id.kind()
        else {
            panic!("not a structure idNat: {id:?}");
        };
        assert_eq!((*prefix, structure_id.as_str()), ('5', "00000000029751"));
        assert_eq!(internal_id, "CPAT0001");
        assert!(matches!(
            IdNat::parse("3123456789"),
            Err(IdNatError::BadStructure(_))
        ));
        assert!(matches!(
            IdNat::parse("3/x"),
            Err(IdNatError::BadStructure(_))
        ));
    }

    #[test]
    fn unknown_prefix_and_bad_text() {
        let id = IdNat::parse("7ABC").unwrap();
        assert_eq!(id.kind(), &IdNatKind::Other { prefix: '7' });
        assert_eq!(IdNat::parse(""), Err(IdNatError::Empty));
        assert!(matches!(
            IdNat::parse("8 99"),
            Err(IdNatError::BadCharacter(_))
        ));
        assert!(matches!(
            IdNat::parse("8é"),
            Err(IdNatError::BadCharacter(_))
        ));
    }
}
