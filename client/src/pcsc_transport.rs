//! The real [`CardTransport`]: a card in a PC/SC reader, through the `pcsc` crate.
//!
//! The client connects in shared mode with `T0|T1` (the CPS3 is T=0 only), finds the reader
//! holding a card, and maps PC/SC failures to the [`CardError`]s a user understands (card
//! removed, reader unplugged, service not running).

use std::ffi::{CStr, CString};
use std::time::Duration;

use pcsc::{Context, Protocols, Scope, ShareMode};
use tracing::debug;

use crate::error::CardError;
use crate::transport::{CardStatus, CardTransport};

/// How often to ask the reader about a card that went silent.
const SILENT_CARD_POLL: Duration = Duration::from_millis(100);

/// A reader and whether it holds a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// The reader's PC/SC name.
    pub name: String,
    /// True when a card is in it.
    pub card_present: bool,
}

/// A connected card.
pub struct PcscTransport {
    card: pcsc::Card,
    reader: String,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

/// Opens a PC/SC context (the connection to pcscd).
pub fn establish() -> Result<Context, CardError> {
    Context::establish(Scope::User).map_err(map_error)
}

/// The readers known to pcscd, with card presence.
pub fn readers(ctx: &Context) -> Result<Vec<ReaderInfo>, CardError> {
    let names = match ctx.list_readers_owned() {
        Ok(names) => names,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(map_error(e)),
    };
    let mut states: Vec<pcsc::ReaderState> = names
        .into_iter()
        .map(|n| pcsc::ReaderState::new(n, pcsc::State::UNAWARE))
        .collect();
    ctx.get_status_change(Duration::ZERO, &mut states)
        .map_err(map_error)?;
    Ok(states
        .iter()
        .map(|s| ReaderInfo {
            name: s.name().to_string_lossy().into_owned(),
            card_present: s.event_state().contains(pcsc::State::PRESENT),
        })
        .collect())
}

impl PcscTransport {
    /// Lets go of a handle whose card was pulled out, without resetting the reader.
    ///
    /// Dropping a handle disconnects it with a card reset, which pcscd applies to whatever
    /// card is in the reader now: a card reinserted since would lose its verified PIN. A
    /// removed card's handle is released with this instead.
    pub fn release_removed(self) {
        if let Err((_, error)) = self.card.disconnect(pcsc::Disposition::LeaveCard) {
            debug!(%error, "the removed card's handle did not disconnect cleanly");
        }
    }

    /// Connects to the card in `reader`.
    pub fn connect(ctx: &Context, reader: &str) -> Result<Self, CardError> {
        let name = CString::new(reader).map_err(|_| CardError::Reader("bad reader name".into()))?;
        let card = ctx
            .connect(&name, ShareMode::Shared, Protocols::ANY)
            .map_err(|e| match e {
                pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => CardError::NoCard {
                    reader: reader.to_string(),
                },
                pcsc::Error::UnknownReader => no_such_reader(ctx, reader),
                other => map_error(other),
            })?;
        debug!(reader, "connected to the card");
        Ok(Self {
            card,
            reader: reader.to_string(),
        })
    }

    /// Connects to the card in `reader`, or in the first reader holding a card.
    pub fn connect_any(ctx: &Context, reader: Option<&str>) -> Result<Self, CardError> {
        if let Some(reader) = reader {
            return Self::connect(ctx, reader);
        }
        let readers = readers(ctx)?;
        let first = readers.first().ok_or(CardError::NoReader)?;
        match readers.iter().find(|r| r.card_present) {
            Some(with_card) => Self::connect(ctx, &with_card.name),
            None => Err(CardError::NoCard {
                reader: first.name.clone(),
            }),
        }
    }

    /// The reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// A card always ends its answer with a status word, so an empty answer means it stopped
    /// mid-command. The reader notices a removal at its next presence poll (pcscd polls about
    /// every 400 ms), so ask it for up to a second before calling it a removal.
    fn silent_card(&self) -> CardError {
        for _ in 0..10 {
            match self.card.status2_owned() {
                Err(e) => return map_error(e),
                Ok(status) if !status.status().contains(pcsc::Status::PRESENT) => {
                    return CardError::CardRemoved;
                }
                Ok(_) => std::thread::sleep(SILENT_CARD_POLL),
            }
        }
        CardError::Reader("the card stopped answering in the middle of a command".into())
    }
}

impl CardTransport for PcscTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let response = self.card.transmit(apdu, &mut buffer).map_err(map_error)?;
        if response.is_empty() {
            return Err(self.silent_card());
        }
        Ok(response.to_vec())
    }

    fn status(&mut self) -> Result<CardStatus, CardError> {
        let status = self.card.status2_owned().map_err(map_error)?;
        let reader = status
            .reader_names()
            .first()
            .map_or_else(|| self.reader.clone(), |n| lossy(n));
        Ok(CardStatus {
            reader,
            atr: status.atr().to_vec(),
        })
    }
}

fn no_such_reader(ctx: &Context, reader: &str) -> CardError {
    let names: Vec<String> = readers(ctx)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let available = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    CardError::NoSuchReader {
        reader: reader.to_string(),
        available,
    }
}

fn lossy(name: &CStr) -> String {
    name.to_string_lossy().into_owned()
}

/// Maps a PC/SC error to what it means for the user.
pub fn map_error(e: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match e {
        E::RemovedCard | E::NoSmartcard => CardError::CardRemoved,
        E::ResetCard => CardError::CardReset,
        E::ReaderUnavailable | E::UnknownReader => CardError::ReaderGone,
        E::NoReadersAvailable => CardError::NoReader,
        E::NoService | E::ServiceStopped => CardError::ServiceUnavailable,
        E::SharingViolation => CardError::CardBusy,
        E::UnresponsiveCard | E::UnpoweredCard | E::UnsupportedCard => {
            CardError::Reader("the card does not answer; it may be inserted the wrong way".into())
        }
        other => CardError::Reader(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcsc_failures_read_as_user_situations() {
        assert!(matches!(
            map_error(pcsc::Error::RemovedCard),
            CardError::CardRemoved
        ));
        assert!(matches!(
            map_error(pcsc::Error::ReaderUnavailable),
            CardError::ReaderGone
        ));
        assert!(matches!(
            map_error(pcsc::Error::NoService),
            CardError::ServiceUnavailable
        ));
        assert!(map_error(pcsc::Error::RemovedCard).is_card_gone());
    }
}
