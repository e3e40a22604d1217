//! Recognising the card generation from its answer to reset (ATR).
//!
//! The CPS3 contact ATR is matched under the mask the ANS middleware uses (some bytes vary
//! between card batches); the CPS4 ATRs are matched exactly. Anything else is not a CPS card.

use std::fmt;

use crate::apdu::hex;
use crate::error::CardError;

/// The CPS generations Vigie can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Generation {
    /// IAS-ECC card, T=0, PKCS#1 v1.5 signatures only (TLS 1.2).
    Cps3,
    /// ChipDoc applet on logical channel 1, PKCS#1 v1.5 and RSA-PSS (TLS 1.3).
    Cps4,
}

impl Generation {
    /// Whether the card can make RSA-PSS signatures (and so a TLS 1.3 handshake).
    pub fn can_sign_pss(self) -> bool {
        matches!(self, Self::Cps4)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cps3 => "CPS3",
            Self::Cps4 => "CPS4",
        })
    }
}

const CPS3_ATR: [u8; 17] = [
    0x3B, 0xAC, 0x00, 0x40, 0x2A, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x03, 0x10, 0x00, 0x90,
    0x00,
];
const CPS3_MASK: [u8; 17] = [
    0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF,
    0xFF,
];

const CPS4_ATRS: [[u8; 17]; 3] = [
    // Production card.
    [
        0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x04, 0x01, 0x00, 0x00,
        0x90, 0x44,
    ],
    // Release candidate.
    [
        0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x04, 0x01, 0x00,
        0x90, 0x44,
    ],
    // Release candidate, T=0 only.
    [
        0x3B, 0xDC, 0x18, 0xFF, 0x00, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x04, 0x01, 0x00,
        0x90, 0x00,
    ],
];

/// Tells which CPS generation an ATR belongs to.
pub fn recognise(atr: &[u8]) -> Result<Generation, CardError> {
    if CPS4_ATRS.iter().any(|known| known.as_slice() == atr) {
        return Ok(Generation::Cps4);
    }
    if matches_masked(atr, &CPS3_ATR, &CPS3_MASK) {
        return Ok(Generation::Cps3);
    }
    Err(CardError::UnknownCard { atr: hex(atr) })
}

fn matches_masked(atr: &[u8], expected: &[u8], mask: &[u8]) -> bool {
    atr.len() == expected.len()
        && atr
            .iter()
            .zip(expected)
            .zip(mask)
            .all(|((a, e), m)| a & m == e & m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_both_generations() {
        assert_eq!(recognise(&CPS3_ATR).expect("cps3"), Generation::Cps3);
        for atr in CPS4_ATRS {
            assert_eq!(recognise(&atr).expect("cps4"), Generation::Cps4);
        }
    }

    #[test]
    fn cps3_mask_lets_batch_bytes_vary() {
        let mut atr = CPS3_ATR;
        atr[11] = 0x7E;
        atr[13] = 0x22;
        assert_eq!(recognise(&atr).expect("masked cps3"), Generation::Cps3);
        atr[6] = 0x13;
        assert!(recognise(&atr).is_err());
    }

    #[test]
    fn unknown_card_names_its_atr() {
        let err = recognise(&[0x3B, 0x8F, 0x80, 0x01]).expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.contains("3B 8F 80 01") && msg.contains("not a CPS card"),
            "{msg}"
        );
    }

    #[test]
    fn only_cps4_signs_pss() {
        assert!(Generation::Cps4.can_sign_pss());
        assert!(!Generation::Cps3.can_sign_pss());
    }
}
