//! One CPS card behind a [`CardTransport`]: recognise it, read its authentication certificate,
//! verify the PIN, sign.
//!
//! Everything here is plain APDU logic over the transport; it never touches PC/SC itself, so
//! the unit tests drive it with a scripted fake card.

mod files;
mod pin_status;
pub mod pkcs15;
mod sign;

use tracing::debug;

use self::files::Channel;
pub use self::files::fcp_size as parse_fcp_size;
pub use self::pin_status::{PinState, parse_pin_data_object};
pub use self::sign::{CardScheme, digest_info, pkcs1_block};
use crate::atr::{self, Generation};
use crate::error::{CardError, StatusWord};
use crate::identity;
use crate::pin::Pin;
use crate::transport::CardTransport;

/// AID of the PKCS#15 application (both generations).
const PKCS15_AID: [u8; 13] = [
    0xE8, 0x28, 0xBD, 0x08, 0x0F, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x00, 0x10,
];
/// AID of the CPS4's ChipDoc applet, selected on logical channel 1.
const CHIPDOC_AID: [u8; 8] = [0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00];
/// The PKCS#15 object directory file, in the application's DF.
const ODF: [u8; 2] = [0x50, 0x31];
/// Path of EF.SN.ICC (the card serial number).
const EF_SN_ICC: [u8; 4] = [0x3F, 0x00, 0xD0, 0x03];
/// Issuer bytes that open EF.SN.ICC on every CPS card.
const SN_ICC_PREFIX: [u8; 7] = [0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01];
/// Reference of the card holder's PIN (VERIFY P2), global PIN `01` on both generations.
const PIN_REFERENCE: u8 = 0x01;
/// GET DATA selector of the CPS3 PIN object: SDO `BF 81 01`, its header (`A0`).
const PIN_SDO_QUERY: [u8; 10] = [0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, 0x01, 0x02, 0xA0, 0x80];
/// Modulus length of a CPS key when the certificate has not been read yet.
const DEFAULT_MODULUS_LEN: usize = 256;

/// A CPS3 or CPS4 card, opened on a transport.
pub struct Card<T: CardTransport> {
    transport: T,
    reader: String,
    atr: Vec<u8>,
    generation: Generation,
    modulus_len: usize,
}

impl<T: CardTransport> std::fmt::Debug for Card<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("reader", &self.reader)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl<T: CardTransport> Card<T> {
    /// Recognises the card by its ATR and selects its application.
    pub fn open(mut transport: T) -> Result<Self, CardError> {
        let status = transport.status()?;
        let generation = atr::recognise(&status.atr)?;
        debug!(reader = %status.reader, %generation, "card recognised");
        let mut card = Self {
            transport,
            reader: status.reader,
            atr: status.atr,
            generation,
            modulus_len: DEFAULT_MODULUS_LEN,
        };
        card.select_application()?;
        Ok(card)
    }

    /// The reader holding the card.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The card's ATR.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// CPS3 or CPS4.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The signature schemes this card can make, preferred first.
    pub fn schemes(&self) -> &'static [CardScheme] {
        sign::schemes(self.generation)
    }

    /// The transport, for tests that change the fake card's state mid-flow.
    #[cfg(test)]
    pub(crate) fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// CPS3: basic channel, T=0. CPS4: the ChipDoc applet on logical channel 1.
    fn channel(&self) -> Channel {
        match self.generation {
            Generation::Cps3 => Channel {
                cla: 0x00,
                t0: true,
            },
            Generation::Cps4 => Channel {
                cla: 0x01,
                t0: false,
            },
        }
    }

    fn select_application(&mut self) -> Result<(), CardError> {
        let aid: &[u8] = match self.generation {
            Generation::Cps3 => &PKCS15_AID,
            Generation::Cps4 => &CHIPDOC_AID,
        };
        let ch = self.channel();
        files::select_aid(&mut self.transport, ch, aid)
    }

    /// The card number printed on the card, from EF.SN.ICC.
    pub fn card_number(&mut self) -> Result<String, CardError> {
        let ch = self.channel();
        let size = files::select_path(&mut self.transport, ch, &EF_SN_ICC)?;
        let content = files::read_file(&mut self.transport, ch, size.or(Some(12)))?;
        self.select_application()?;
        parse_card_number(&content)
    }

    /// Reads the authentication certificate (DER) through the PKCS#15 directory.
    pub fn read_auth_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        let ch = self.channel();
        files::select_aid(&mut self.transport, ch, &PKCS15_AID)?;
        let odf = self.read_path(&ODF)?;
        let cdf = self.read_path(&pkcs15::cdf_path(&odf)?)?;
        let der = self.read_path(&pkcs15::auth_certificate_path(&cdf)?)?;
        self.modulus_len = identity::rsa_modulus_len(&der)?;
        // Back to the application that holds the keys (the ChipDoc applet on a CPS4).
        self.select_application()?;
        debug!(bytes = der.len(), "authentication certificate read");
        Ok(der)
    }

    fn read_path(&mut self, path: &[u8]) -> Result<Vec<u8>, CardError> {
        let ch = self.channel();
        let size = files::select_path(&mut self.transport, ch, path)?;
        files::read_file(&mut self.transport, ch, size)
    }

    /// How many PIN tries are left, without spending one.
    ///
    /// Asks with a VERIFY without data (ISO 7816-4); a CPS3 that refuses it is asked for its
    /// IAS-ECC PIN object instead, as the ANS middleware does.
    pub fn pin_state(&mut self) -> Result<PinState, CardError> {
        let ch = self.channel();
        let probe = ch.command(0x20, 0x00, PIN_REFERENCE);
        let response = ch.exchange(&mut self.transport, probe)?;
        match pin_status::state_from_probe(response.sw) {
            Err(CardError::Unexpected { .. }) if self.generation == Generation::Cps3 => {
                self.pin_data_object()
            }
            other => other,
        }
    }

    /// CPS3: `GET DATA` of the PIN's security data object, from the MF.
    fn pin_data_object(&mut self) -> Result<PinState, CardError> {
        let ch = self.channel();
        files::select_path(&mut self.transport, ch, &[0x3F, 0x00])?;
        let get = ch
            .command(0xCB, 0x3F, 0xFF)
            .with_data(&PIN_SDO_QUERY)
            .with_le(0);
        let data = ch
            .exchange(&mut self.transport, get)?
            .ok_data("read the PIN counter")?;
        self.select_application()?;
        parse_pin_data_object(&data)
    }

    /// Presents the PIN. A wrong PIN reports the tries left; a blocked card says so.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<(), CardError> {
        let ch = self.channel();
        let verify = ch.command(0x20, 0x00, PIN_REFERENCE).with_data(pin.ascii());
        let response = ch.exchange(&mut self.transport, verify)?;
        match pin_status::state_from_probe(response.sw)? {
            PinState::Verified => {
                debug!("PIN verified");
                Ok(())
            }
            PinState::TriesLeft(tries_left) => Err(CardError::WrongPin { tries_left }),
            PinState::Blocked => Err(CardError::PinBlocked),
        }
    }

    /// Signs `message` (hashed here with SHA-256) with the authentication key.
    pub fn sign(&mut self, scheme: CardScheme, message: &[u8]) -> Result<Vec<u8>, CardError> {
        let start = std::time::Instant::now();
        let commands = sign::commands(self.generation, scheme, message, self.modulus_len)?;
        let mut signature = Vec::new();
        let ch = self.channel();
        let last = commands.len().saturating_sub(1);
        for (i, command) in commands.into_iter().enumerate() {
            let response = ch.exchange(&mut self.transport, command)?;
            signature = check_sign_status(response.sw, i == last).map(|()| response.data)?;
        }
        if signature.len() != self.modulus_len {
            return Err(CardError::malformed(format!(
                "a signature of {} bytes for a {}-byte key",
                signature.len(),
                self.modulus_len
            )));
        }
        let took_ms = start.elapsed().as_secs_f64() * 1e3;
        debug!(?scheme, took_ms, "card signature made");
        Ok(signature)
    }
}

fn check_sign_status(sw: StatusWord, last: bool) -> Result<(), CardError> {
    let command = if last {
        "sign"
    } else {
        "prepare the signature key"
    };
    match sw {
        StatusWord::OK => Ok(()),
        StatusWord(0x6982) => Err(CardError::PinNotVerified),
        StatusWord(0x6983) => Err(CardError::PinBlocked),
        sw => Err(CardError::Unexpected { command, sw }),
    }
}

/// The card number from EF.SN.ICC: issuer prefix, then BCD digits padded with `F`.
pub fn parse_card_number(content: &[u8]) -> Result<String, CardError> {
    let digits = content
        .strip_prefix(&SN_ICC_PREFIX[..])
        .ok_or_else(|| CardError::malformed("the card serial file has no CPS issuer number"))?;
    let mut number = String::new();
    for nibble in digits.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match nibble {
            0..=9 => number.push(char::from(b'0' + nibble)),
            0x0F => {}
            _ => {
                return Err(CardError::malformed(
                    "the card serial has a non-decimal digit",
                ));
            }
        }
    }
    Ok(number)
}

#[cfg(test)]
mod tests;
