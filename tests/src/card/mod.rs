//! The virtual CPS card: one CPS3 or CPS4, inserted into a `vpcd` reader of a real `pcscd`.
//!
//! ```text
//! VirtualCard (persistent: files, keys, PIN counter)  ──insert()──▶  InsertedCard
//!      │                                                   a thread holding one TCP
//!      └── CardState::transmit(APDU) -> R-APDU             connection to vpcd; remove()
//!            ├─ apdu     ISO 7816-4 short APDUs              or drop closes it = card out
//!            ├─ fs       SELECT / READ BINARY
//!            ├─ pin      VERIFY, 3 tries, PUK
//!            ├─ security MSE
//!            ├─ keys     RSA: card-padded PKCS#1, raw, PSS
//!            ├─ meter    time in private-key operations and in all APDUs
//!            └─ cps3 / cps4 personalities, layout (files and PKCS#15)
//! ```
//!
//! Inserting is connecting to vpcd's port, removing is closing the connection, so a test can
//! pull the card at any moment, and insert the same [`VirtualCard`] again (into the same or
//! another reader) with its PIN counter as it was; the PIN's *verified* state is lost, as on
//! a real card losing power.
//!
//! How to talk to it: see [`layout`] for files, AIDs and key references.
//! - CPS3 (connect with `T0` or `T0|T1`): `00 A4 04 04 0D <PKCS#15 AID>`, then `00 A4 02 0C
//!   02 C0 00` and READ BINARY for the authentication certificate; `00 20 00 01 04 <PIN>`;
//!   `00 22 41 A4 06 80 01 02 84 01 82`; `00 88 00 00 <len> <DigestInfo>`. Data asked
//!   without Le comes back as `61xx`, to fetch with GET RESPONSE `00 C0 00 00 xx`.
//! - CPS4 (`T1`): `01 A4 04 0C 08 80 25 00 00 01 FF 01 00` opens channel 1 on ChipDoc; then
//!   the same file and PIN commands with CLA `01`; PKCS#1 v1.5: `01 22 41 B8 03 83 01 20`
//!   and PSO:DECIPHER `11 2A 80 86 FF …` / `01 2A 80 86 01 …` (chained) with the host-padded
//!   block; PSS: `01 22 81 B6 04 91 02 2C A0` then `01 2A 9E 9A 20 <SHA-256> 00`.
//!
//! Choices made where the public record is silent (ISO 7816-4 / IAS-ECC behaviour):
//! - READ BINARY past the end: `6B00`; fewer bytes left than Le: those bytes with `6282`.
//! - GET RESPONSE with nothing pending: `6985`. Any other command drops pending data.
//! - Extended APDUs: `6700`. Proprietary classes: `6E00`. Unknown instructions: `6D00`.
//! - Chaining: a link whose header differs from the chain's answers `6883` and drops it.
//! - PIN: reference `01` on both generations, ASCII digits, trailing `FF`/`00` padding
//!   ignored; `63Cx` counts down, `6983` when blocked; the PUK (8 digits, 10 tries) unblocks
//!   with RESET RETRY COUNTER P1 `00` (PUK ‖ new PIN) or `01` (PUK).
//! - Signing without a verified PIN: `6982`. Without a matching MSE: `6985`. Unknown key
//!   reference: `6A88`.
//! - CPS4 PSS salt length: 32 bytes (SHA-256 output; what TLS 1.3 requires).
//! - CPS4 signature key reference `21` (the real one is read from the PrKDF and not public).
//! - CPS3 PSO:HASH is not emulated (`6A81`); PSO:CDS takes a DigestInfo instead.
//! - The CPS4 basic-channel CPS2ter applet answers SELECT only.
//! - SELECT P1 `01` and `02` accept a DF or an EF, and `3F00` for the MF (OpenSC's IAS-ECC
//!   driver selects the MF so on a CPx).
//! - CPS3 GET DATA answers the PIN SDO (`BF 81 01`) and the private keys' SDOs (`BF 90 01`,
//!   `BF 90 02`: size, access rules), whatever tag the request asks for; the security
//!   environment SDO (`BF FB 05`) answers `6A88`.
//! - Files carry IAS-ECC compact access rules in their FCP: read always, nothing else.
//!
//! Checked against OpenSC 0.23 ("IAS/ECC CPx" driver): `pkcs15-tool -D` and
//! `--read-certificate`, and `pkcs11-tool --sign -m RSA-PKCS` (MSE SET AT then INTERNAL
//! AUTHENTICATE) work on the emulated CPS3 (`tests/card_opensc.rs`).
//!
//! Time accounting ([`meter`]): [`VirtualCard::time_spent`] says how long the card spent in
//! its private-key operations (what a real card's chip does slowly) and answering APDUs, so a
//! benchmark can report the card's part apart; [`VirtualCard::set_signing_floor`] makes those
//! operations as slow as a real chip's.
//!
//! Fault injection ([`Faults`]): a delay before every answer, and "pull the card when the next
//! APDU arrives" (the connection closes without an answer).

pub mod apdu;
pub mod cps3;
pub mod cps4;
pub mod fs;
pub mod identity;
pub mod keys;
pub mod layout;
mod link;
pub mod meter;
pub mod pin;
pub mod security;
pub mod state;
pub mod vpcd;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use identity::{CardIdentity, Generation, Secret};
pub use link::{Faults, InsertedCard};
pub use meter::{CardMeter, CardTime};
pub use state::{CPS3_ATR, CPS4_ATR, CardState};

use crate::error::Result;

/// Where a card is inserted: a vpcd port, in a network namespace or in the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcdTarget {
    /// The namespace vpcd listens in (`None`: the host's).
    pub netns: Option<String>,
    /// vpcd's address for the slot (port 35963 + slot by default).
    pub addr: SocketAddr,
}

impl From<SocketAddr> for VpcdTarget {
    fn from(addr: SocketAddr) -> Self {
        Self { netns: None, addr }
    }
}

/// A card: its persistent state, shared by every insertion.
#[derive(Debug, Clone)]
pub struct VirtualCard {
    state: Arc<Mutex<CardState>>,
    faults: Arc<Faults>,
    generation: Generation,
}

impl VirtualCard {
    /// Loads a card identity folder (`DIR/cards/<name>`).
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self::from_identity(&CardIdentity::load(dir)?))
    }

    /// A card personalised with `identity`.
    pub fn from_identity(identity: &CardIdentity) -> Self {
        Self {
            state: Arc::new(Mutex::new(CardState::new(identity))),
            faults: Arc::new(Faults::default()),
            generation: identity.generation,
        }
    }

    /// CPS3 or CPS4.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The ATR the card answers.
    pub fn atr(&self) -> Vec<u8> {
        self.lock().atr().to_vec()
    }

    /// PIN tries left (3 when fresh, 0 when blocked).
    pub fn pin_tries_left(&self) -> u8 {
        self.lock().pin.tries_left()
    }

    /// Where the card's time went since it was loaded, all insertions together.
    pub fn time_spent(&self) -> CardTime {
        self.lock().meter().total()
    }

    /// Makes each private-key operation last at least `floor`, as on a real card's chip (see
    /// [`CardMeter::set_signing_floor`]); `None` for the emulator's own speed.
    pub fn set_signing_floor(&self, floor: Option<Duration>) {
        self.lock().meter().set_signing_floor(floor);
    }

    /// The fault-injection switches, shared by all insertions of this card.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Inserts the card: connects to vpcd (retrying until `timeout`, as pcscd may still be
    /// starting) and serves it from a thread until [`InsertedCard::remove`] or drop.
    pub fn insert_with_timeout(
        &self,
        target: impl Into<VpcdTarget>,
        timeout: Duration,
    ) -> Result<InsertedCard> {
        link::insert(self.clone(), target.into(), timeout)
    }

    /// [`VirtualCard::insert_with_timeout`] with 10 seconds.
    pub fn insert(&self, target: impl Into<VpcdTarget>) -> Result<InsertedCard> {
        self.insert_with_timeout(target, Duration::from_secs(10))
    }

    /// Runs one APDU directly, without pcscd (unit tests, fuzzing).
    pub fn transmit(&self, apdu: &[u8]) -> Vec<u8> {
        self.lock().transmit(apdu)
    }

    /// Simulates power-off and power-on without a reader.
    pub fn power_cycle(&self) {
        self.lock().reset_session();
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, CardState> {
        // A panic while holding the lock cannot leave the card half-updated in a way that
        // matters to a test; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
