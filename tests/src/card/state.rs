//! The card as a state machine: bytes of a command APDU in, bytes of a response out.
//!
//! This layer is shared by both generations: parsing, logical channels, command chaining
//! (CLA bit `10`), the T=0 `61xx`/GET RESPONSE dance, power and reset. It hands each complete
//! command to the personality ([`super::cps3`], [`super::cps4`]). Persistent state (files,
//! keys, PIN counter) survives power cycles; volatile state (PIN verified, selections,
//! security environment, pending response) does not.

use rsa::RsaPrivateKey;

use super::apdu::{Command, Response, Sw};
use super::fs::{FileSystem, Selection};
use super::identity::{CardIdentity, Generation};
use super::layout;
use super::meter::CardMeter;
use super::pin::PinState;
use super::security::Mse;
use super::{cps3, cps4};

/// Logical channels a CPS4 offers (0 to 3); a CPS3 only has the basic channel.
pub const CHANNELS: usize = 4;

/// What a logical channel has selected.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    /// The current DF and EF.
    pub selection: Selection,
    /// The security environment set by MSE.
    pub mse: Mse,
    /// CPS4: the ChipDoc applet is selected on this channel.
    pub chipdoc: bool,
}

#[derive(Debug, Clone)]
struct Chain {
    header: [u8; 4],
    data: Vec<u8>,
}

/// The whole card. `Debug` leaves out the keys.
pub struct CardState {
    /// The personality.
    pub generation: Generation,
    /// The file tree.
    pub fs: FileSystem,
    /// The holder PIN.
    pub pin: PinState,
    /// The authentication key.
    pub auth_key: RsaPrivateKey,
    /// The signature key.
    pub sign_key: RsaPrivateKey,
    /// Open logical channels.
    pub channels: [Option<Channel>; CHANNELS],
    atr: Vec<u8>,
    chain: Option<Chain>,
    pending: Vec<u8>,
    meter: CardMeter,
}

/// CPS3 contact ATR: T=0 only.
pub const CPS3_ATR: [u8; 17] = [
    0x3B, 0xAC, 0x00, 0x40, 0x2A, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x03, 0x10, 0x00, 0x90,
    0x00,
];
/// CPS4 contact ATR: T=0 and T=1.
pub const CPS4_ATR: [u8; 17] = [
    0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x04, 0x01, 0x00, 0x00, 0x90,
    0x44,
];

impl std::fmt::Debug for CardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardState")
            .field("generation", &self.generation)
            .field("pin", &self.pin)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl CardState {
    /// A freshly personalised card for `identity`.
    pub fn new(identity: &CardIdentity) -> Self {
        let atr = match identity.generation {
            Generation::Cps3 => CPS3_ATR.to_vec(),
            Generation::Cps4 => CPS4_ATR.to_vec(),
        };
        let historical = match identity.generation {
            Generation::Cps3 => &atr[5..17],
            Generation::Cps4 => &atr[5..16],
        };
        Self {
            generation: identity.generation,
            fs: layout::file_system(identity, historical),
            pin: PinState::new(identity.pin.clone(), identity.puk.clone()),
            auth_key: identity.auth_key.clone(),
            sign_key: identity.sign_key.clone(),
            channels: fresh_channels(),
            atr,
            chain: None,
            pending: Vec::new(),
            meter: CardMeter::default(),
        }
    }

    /// The answer to reset.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// Power-on, power-off and reset all end the session: the PIN must be presented again.
    pub fn reset_session(&mut self) {
        self.pin.clear_verified();
        self.channels = fresh_channels();
        self.chain = None;
        self.pending.clear();
    }

    /// Processes one command APDU and returns the response bytes. Never panics.
    pub fn transmit(&mut self, bytes: &[u8]) -> Vec<u8> {
        let start = std::time::Instant::now();
        let response = match Command::parse(bytes) {
            Ok(cmd) => self.process(cmd),
            Err(sw) => sw.into(),
        };
        let bytes = response.to_bytes();
        self.meter.add_apdu(start.elapsed());
        bytes
    }

    /// Where the card's time went so far.
    pub fn meter(&self) -> &CardMeter {
        &self.meter
    }

    fn process(&mut self, cmd: Command) -> Response {
        if cmd.is_proprietary() {
            return Sw::CLA_NOT_SUPPORTED.into();
        }
        if cmd.ins == 0xC0 {
            return self.get_response(&cmd);
        }
        self.pending.clear();
        let cmd = match self.unchain(cmd) {
            Ok(Some(cmd)) => cmd,
            Ok(None) => return Sw::OK.into(),
            Err(sw) => return sw.into(),
        };
        let ne = cmd.ne;
        let response = match self.generation {
            Generation::Cps3 => cps3::handle(self, &cmd),
            Generation::Cps4 => cps4::handle(self, &cmd),
        };
        self.shape_for_t0(response, ne)
    }

    /// Collects chained commands; returns the whole command when the last link arrives.
    fn unchain(&mut self, cmd: Command) -> Result<Option<Command>, Sw> {
        let header = [cmd.cla & !0x10, cmd.ins, cmd.p1, cmd.p2];
        if let Some(chain) = self.chain.take() {
            if chain.header != header {
                return Err(Sw::CHAIN_EXPECTED);
            }
            let chained = cmd.is_chained();
            let data = [chain.data, cmd.data].concat();
            if chained {
                self.chain = Some(Chain { header, data });
                return Ok(None);
            }
            return Ok(Some(Command {
                cla: header[0],
                data,
                ..cmd
            }));
        }
        if cmd.is_chained() {
            self.chain = Some(Chain {
                header,
                data: cmd.data,
            });
            return Ok(None);
        }
        Ok(Some(cmd))
    }

    /// CPS3 (T=0): data the host did not ask for with Le waits behind `61xx`.
    fn shape_for_t0(&mut self, mut response: Response, ne: Option<usize>) -> Response {
        if self.generation != Generation::Cps3 || response.data.is_empty() {
            return response;
        }
        let Some(ne) = ne else {
            self.pending = std::mem::take(&mut response.data);
            return Sw::bytes_available(self.pending.len()).into();
        };
        if response.data.len() > ne && response.sw == Sw::OK {
            self.pending = response.data.split_off(ne);
            response.sw = Sw::bytes_available(self.pending.len());
        }
        response
    }

    fn get_response(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Sw::WRONG_P1P2.into();
        }
        if self.pending.is_empty() {
            return Sw::CONDITIONS_NOT_SATISFIED.into();
        }
        let take = cmd.ne.unwrap_or(256).min(self.pending.len());
        let rest = self.pending.split_off(take);
        let data = std::mem::replace(&mut self.pending, rest);
        let sw = if self.pending.is_empty() {
            Sw::OK
        } else {
            Sw::bytes_available(self.pending.len())
        };
        Response { data, sw }
    }

    /// The channel a command addresses, if it is open.
    pub fn channel_mut(&mut self, cmd: &Command) -> Option<&mut Channel> {
        self.channels.get_mut(usize::from(cmd.channel()))?.as_mut()
    }
}

fn fresh_channels() -> [Option<Channel>; CHANNELS] {
    [Some(Channel::default()), None, None, None]
}
