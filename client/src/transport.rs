//! The seam between the card logic and the platform: a [`CardTransport`] sends raw APDUs.
//!
//! [`exchange`] adds what every card flow needs on top of a raw transport: command chaining
//! for long data, `61 xx` (more data: GET RESPONSE) and `6C xx` (wrong Le: resend with the
//! right one). It works the same over the real PC/SC reader and over the fakes of the tests.

use tracing::trace;

use crate::apdu::{Command, Response};
use crate::error::CardError;

/// How many `61 xx` rounds one command may take before we call the card broken.
const MAX_GET_RESPONSE_ROUNDS: usize = 32;

/// What the reader says about the card it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStatus {
    /// The reader's name.
    pub reader: String,
    /// The card's answer to reset.
    pub atr: Vec<u8>,
}

/// A channel to one card: send an APDU, get the raw response; ask for the card's status.
///
/// Implementations map their platform errors to [`CardError`] (card removed, reader gone…).
pub trait CardTransport: Send {
    /// Sends one short APDU and returns the raw response (data and status word).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError>;

    /// The reader name and the card's ATR.
    fn status(&mut self) -> Result<CardStatus, CardError>;
}

impl<T: CardTransport + ?Sized> CardTransport for Box<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        (**self).transmit(apdu)
    }

    fn status(&mut self) -> Result<CardStatus, CardError> {
        (**self).status()
    }
}

/// Sends `cmd` (chained if long) and collects the complete response.
///
/// Intermediate links of a chain must answer `90 00`; otherwise their response is returned as
/// is, so the caller sees the refusal.
pub fn exchange(transport: &mut dyn CardTransport, cmd: &Command) -> Result<Response, CardError> {
    let chain = cmd.chained();
    let (last, links) = chain
        .split_last()
        .ok_or_else(|| CardError::malformed("empty chain"))?;
    for link in links {
        let response = Response::parse(&transport.transmit(&link.to_bytes())?)?;
        if !response.sw.is_ok() {
            return Ok(response);
        }
    }
    let response = transmit_one(transport, last)?;
    // The command's Debug shows its header and data length only, never the data (a PIN).
    trace!(?cmd, sw = %response.sw, bytes = response.data.len(), "APDU");
    Ok(response)
}

fn transmit_one(transport: &mut dyn CardTransport, cmd: &Command) -> Result<Response, CardError> {
    let mut response = Response::parse(&transport.transmit(&cmd.to_bytes())?)?;
    if response.sw.sw1() == 0x6C {
        let retry = cmd.clone().with_le(response.sw.sw2());
        response = Response::parse(&transport.transmit(&retry.to_bytes())?)?;
    }
    collect_remaining(transport, cmd.cla, response)
}

/// Follows `61 xx` with GET RESPONSE on the same logical channel until the card is done.
fn collect_remaining(
    transport: &mut dyn CardTransport,
    cla: u8,
    mut response: Response,
) -> Result<Response, CardError> {
    let mut data = std::mem::take(&mut response.data);
    for _ in 0..MAX_GET_RESPONSE_ROUNDS {
        if response.sw.sw1() != 0x61 {
            response.data = data;
            return Ok(response);
        }
        let get = Command::new(cla & 0x03, 0xC0, 0, 0).with_le(response.sw.sw2());
        response = Response::parse(&transport.transmit(&get.to_bytes())?)?;
        data.append(&mut response.data);
    }
    Err(CardError::malformed(
        "the card kept announcing more data (61 xx) without end",
    ))
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted transport for unit tests.

    use std::collections::VecDeque;

    use super::*;

    /// Answers each transmitted APDU with the next scripted response, and records the APDUs.
    pub struct Scripted {
        pub atr: Vec<u8>,
        pub replies: VecDeque<Result<Vec<u8>, CardError>>,
        pub sent: Vec<Vec<u8>>,
    }

    impl Scripted {
        pub fn new(atr: &[u8], replies: Vec<Vec<u8>>) -> Self {
            Self {
                atr: atr.to_vec(),
                replies: replies.into_iter().map(Ok).collect(),
                sent: vec![],
            }
        }
    }

    impl CardTransport for Scripted {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
            self.sent.push(apdu.to_vec());
            self.replies
                .pop_front()
                .unwrap_or(Err(CardError::CardRemoved))
        }

        fn status(&mut self) -> Result<CardStatus, CardError> {
            Ok(CardStatus {
                reader: "Fake Reader 00".into(),
                atr: self.atr.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Scripted;
    use super::*;
    use crate::error::StatusWord;

    #[test]
    fn follows_61xx_with_get_response_on_the_same_channel() {
        let mut t = Scripted::new(
            &[],
            vec![vec![0x61, 0x03], vec![1, 2, 0x61, 0x01], vec![3, 0x90, 0]],
        );
        let cmd = Command::new(0x01, 0x88, 0, 0).with_data(&[9]);
        let r = exchange(&mut t, &cmd).expect("exchange");
        assert_eq!((r.data, r.sw), (vec![1, 2, 3], StatusWord::OK));
        assert_eq!(t.sent[1], [0x01, 0xC0, 0, 0, 0x03]);
        assert_eq!(t.sent[2], [0x01, 0xC0, 0, 0, 0x01]);
    }

    #[test]
    fn resends_with_the_length_the_card_asked_for() {
        let mut t = Scripted::new(&[], vec![vec![0x6C, 0x0C], vec![5; 14]]);
        let cmd = Command::new(0, 0xB0, 0, 0).with_le(0);
        let r = exchange(&mut t, &cmd).expect("exchange");
        assert_eq!(t.sent[1], [0, 0xB0, 0, 0, 0x0C]);
        assert_eq!(r.data.len(), 12);
    }

    #[test]
    fn stops_a_chain_at_the_first_refusal() {
        let mut t = Scripted::new(&[], vec![vec![0x69, 0x82]]);
        let cmd = Command::new(0x01, 0x2A, 0x80, 0x86).with_data(&[0; 256]);
        let r = exchange(&mut t, &cmd).expect("exchange");
        assert_eq!(r.sw, StatusWord(0x6982));
        assert_eq!(t.sent.len(), 1);
        assert_eq!(t.sent[0][0], 0x11);
    }

    #[test]
    fn an_endless_61xx_card_is_an_error_not_a_hang() {
        let replies = vec![vec![0x61, 0x01]; MAX_GET_RESPONSE_ROUNDS + 2];
        let mut t = Scripted::new(&[], replies);
        let err = exchange(&mut t, &Command::new(0, 0xCA, 0, 0)).expect_err("must fail");
        assert!(matches!(err, CardError::Malformed { .. }));
    }

    #[test]
    fn removal_mid_operation_surfaces_as_card_removed() {
        let mut t = Scripted::new(&[], vec![vec![0x61, 0x10]]);
        let err = exchange(&mut t, &Command::new(0, 0x88, 0, 0)).expect_err("removed");
        assert!(err.is_card_gone());
    }
}
