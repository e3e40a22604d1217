//! Opening the card for a session: the reader, the card, its authentication certificate and
//! the PIN. Blocking: callers run it on a blocking thread.

use std::sync::Arc;

use super::error::UpError;
use super::session::Reopen;
use crate::card::Card;
use crate::error::CardError;
use crate::pcsc_transport::{self, PcscTransport};
use crate::pin_entry::{self, PinPrompt, PinSource};
use crate::{Pin, PinState};

/// A card ready to sign, and its authentication certificate (DER).
pub struct Opened {
    pub card: Card<PcscTransport>,
    pub certificate: Vec<u8>,
}

/// Opens the card in `reader` (default: the first holding one) and verifies the PIN.
pub fn open(reader: Option<&str>, source: &PinSource) -> Result<Opened, UpError> {
    let ctx = pcsc_transport::establish()?;
    let transport = PcscTransport::connect_any(&ctx, reader)?;
    let mut card = Card::open(transport)?;
    let certificate = card.read_auth_certificate()?;
    verify_pin(&mut card, source)?;
    Ok(Opened { card, certificate })
}

/// Opens the same card again once it is back in `reader`: another card is refused.
pub fn reopener(reader: &str, certificate: &[u8], source: &PinSource) -> Reopen {
    let (reader, certificate, source) = (reader.to_owned(), certificate.to_vec(), source.clone());
    Arc::new(move || {
        let ctx = pcsc_transport::establish()?;
        let mut card = Card::open(PcscTransport::connect(&ctx, &reader)?)?;
        if card.read_auth_certificate()? != certificate {
            return Err(UpError::Config(
                "this is another card; insert the card the session started with, or end the \
                 session with vigie down"
                    .into(),
            ));
        }
        verify_pin(&mut card, &source)?;
        Ok(card)
    })
}

/// Asks for the PIN and presents it; a person who mistyped is asked again, an unattended
/// source is not (each wrong PIN costs one of the card's tries).
fn verify_pin(card: &mut Card<PcscTransport>, source: &PinSource) -> Result<(), UpError> {
    let mut prompt = PinPrompt {
        description: format!(
            "Enter the PIN of the {} card in {}.",
            card.generation(),
            card.reader()
        ),
        error: None,
    };
    loop {
        match card.pin_state()? {
            PinState::Verified => return Ok(()),
            PinState::Blocked => return Err(CardError::PinBlocked.into()),
            _ => {}
        }
        let pin: Pin = pin_entry::read_pin(source, &prompt)?;
        match card.verify_pin(&pin) {
            Ok(()) => return Ok(()),
            Err(error @ CardError::WrongPin { .. }) if asks_a_person(source) => {
                prompt.error = Some(error.to_string());
            }
            Err(error) => return Err(error.into()),
        }
    }
}

fn asks_a_person(source: &PinSource) -> bool {
    matches!(source, PinSource::Terminal | PinSource::Pinentry(_))
}
