//! The CPS4 personality: the ChipDoc applet, reached on a logical channel (CLA `01`).
//!
//! The basic channel starts on the CPS2ter applet, which this lab does not emulate beyond
//! SELECT. A SELECT of the ChipDoc AID opens the channel it is sent on (implicit opening, ISO
//! 7816-4) and makes the applet's file tree current there; so does a SELECT of the CPS2ter
//! or GlobalPlatform helper AID, which leaves ChipDoc. On a channel where ChipDoc is not
//! selected (never was, or another applet was selected since), every command but SELECT,
//! MANAGE CHANNEL and GET RESPONSE answers `6985`. An unknown AID answers `6A82` and changes
//! nothing.
//!
//! Private-key commands: no INTERNAL AUTHENTICATE (`6D00`). PSO:DECIPHER (`2A 80 86`) applies
//! raw RSA to the host-padded block (an optional leading `00` padding indicator is stripped),
//! which is how PKCS#1 v1.5 signatures are made. PSO:CDS (`2A 9E 9A`) signs a SHA-256 hash:
//! algorithm `2C` is RSA-PSS (salt 32), `28` is PKCS#1 v1.5; SHA-1 algorithms answer `6A80`.

use rsa::RsaPrivateKey;
use rsa::traits::PublicKeyParts;

use super::apdu::{Command, Response, Sw};
use super::cps3;
use super::keys;
use super::layout::{CHIPDOC_AID, CPS2TER_AID, CPS4_AUTH_KEY, CPS4_SIGN_KEY};
use super::security::Template;
use super::state::{CHANNELS, CardState, Channel};

/// PSO:CDS algorithm: RSA-PSS with SHA-256.
pub const ALGO_PSS_SHA256: u8 = 0x2C;
/// PSO:CDS algorithm: RSA PKCS#1 v1.5 with SHA-256.
pub const ALGO_PKCS1_SHA256: u8 = 0x28;

/// Handles one complete command on a CPS4.
pub fn handle(card: &mut CardState, cmd: &Command) -> Response {
    let index = usize::from(cmd.channel());
    if index >= CHANNELS {
        return Sw::CHANNEL_NOT_SUPPORTED.into();
    }
    match cmd.ins {
        0x70 => return manage_channel(card, cmd),
        0xA4 => return select(card, cmd),
        _ => {}
    }
    match &card.channels[index] {
        None => return Sw::CHANNEL_NOT_SUPPORTED.into(),
        Some(channel) if !channel.chipdoc => return Sw::CONDITIONS_NOT_SATISFIED.into(),
        Some(_) => {}
    }
    match cmd.ins {
        0xB0 => cps3::read_binary(card, cmd),
        0x20 | 0x24 | 0x2C => cps3::pin_command(card, cmd),
        0x22 => card.channels[index]
            .as_mut()
            .map_or(Sw::CHANNEL_NOT_SUPPORTED.into(), |c| c.mse.handle(cmd)),
        0x2A => perform_security_operation(card, cmd, index),
        0x84 => cps3::get_challenge(cmd),
        _ => Sw::INS_NOT_SUPPORTED.into(),
    }
}

fn manage_channel(card: &mut CardState, cmd: &Command) -> Response {
    match (cmd.p1, cmd.p2) {
        (0x00, 0x00) => match (1..CHANNELS).find(|&i| card.channels[i].is_none()) {
            Some(free) => {
                card.channels[free] = Some(Channel::default());
                Response::ok(vec![free as u8])
            }
            None => Sw::FUNC_NOT_SUPPORTED.into(),
        },
        (0x80, n) => {
            let n = if n == 0 {
                usize::from(cmd.channel())
            } else {
                usize::from(n)
            };
            if n == 0 || n >= CHANNELS {
                return Sw::WRONG_P1P2.into();
            }
            card.channels[n] = None;
            Sw::OK.into()
        }
        _ => Sw::WRONG_P1P2.into(),
    }
}

fn select(card: &mut CardState, cmd: &Command) -> Response {
    let index = usize::from(cmd.channel());
    let fcp_wanted = match cmd.p2 {
        0x00 | 0x04 => true,
        0x0C => false,
        _ => return Sw::WRONG_P1P2.into(),
    };
    if cmd.p1 == 0x04 && CHIPDOC_AID.starts_with(&cmd.data) && !cmd.data.is_empty() {
        let channel = card.channels[index].get_or_insert_with(Channel::default);
        *channel = Channel {
            chipdoc: true,
            ..Channel::default()
        };
        return if fcp_wanted {
            Response::ok(card.fs.fcp(0))
        } else {
            Sw::OK.into()
        };
    }
    if cmd.p1 == 0x04 && is_other_applet(&cmd.data) {
        // CPS2ter or the GlobalPlatform helper: selectable (the Cryptolib does so when it
        // recovers), idle, and ChipDoc is no longer selected on this channel.
        *card.channels[index].get_or_insert_with(Channel::default) = Channel::default();
        return Sw::OK.into();
    }
    let Some(channel) = card.channels[index].as_mut() else {
        return Sw::CHANNEL_NOT_SUPPORTED.into();
    };
    if !channel.chipdoc {
        return if cmd.p1 == 0x04 {
            Sw::FILE_NOT_FOUND
        } else {
            Sw::CONDITIONS_NOT_SATISFIED
        }
        .into();
    }
    match card.fs.select(channel.selection, cmd) {
        Ok((selection, fcp)) => {
            channel.selection = selection;
            if fcp_wanted {
                Response::ok(fcp)
            } else {
                Sw::OK.into()
            }
        }
        // A failed SELECT leaves the current selection as it was (ISO 7816-4).
        Err(sw) => sw.into(),
    }
}

/// The card's other applets, which the lab does not emulate beyond SELECT.
fn is_other_applet(aid: &[u8]) -> bool {
    const IDS_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00];
    !aid.is_empty() && (CPS2TER_AID.starts_with(aid) || IDS_AID.starts_with(aid))
}

fn key_for(card: &CardState, reference: Option<u8>) -> Result<&RsaPrivateKey, Sw> {
    match reference.map(|k| k & 0x7F) {
        Some(CPS4_AUTH_KEY) => Ok(&card.auth_key),
        Some(CPS4_SIGN_KEY) => Ok(&card.sign_key),
        _ => Err(Sw::REF_NOT_FOUND),
    }
}

fn perform_security_operation(card: &mut CardState, cmd: &Command, index: usize) -> Response {
    let template = match (cmd.p1, cmd.p2) {
        (0x9E, 0x9A) => Template::Signature,
        (0x80, 0x86) => Template::Decipher,
        _ => return Sw::WRONG_P1P2.into(),
    };
    let result = (|| {
        let channel = card.channels[index]
            .as_ref()
            .ok_or(Sw::CHANNEL_NOT_SUPPORTED)?;
        let (algo, key_ref) = channel.mse.expect(template)?;
        let key = key_for(card, key_ref)?;
        if !card.pin.is_verified() {
            return Err(Sw::SECURITY_NOT_SATISFIED);
        }
        let meter = card.meter();
        match (template, algo) {
            (Template::Signature, Some(ALGO_PSS_SHA256) | None) => {
                meter.signing(|| keys::sign_pss_sha256(key, &cmd.data))
            }
            (Template::Signature, Some(ALGO_PKCS1_SHA256)) => {
                meter.signing(|| keys::sign_sha256_pkcs1(key, &cmd.data))
            }
            (Template::Signature, Some(_)) => Err(Sw::WRONG_DATA),
            _ => {
                let block = match cmd.data.as_slice() {
                    [0x00, rest @ ..] if rest.len() == key.size() => rest,
                    all => all,
                };
                meter.signing(|| keys::raw_private(key, block))
            }
        }
    })();
    result.map_or_else(Response::from, Response::ok)
}
