//! The CPS3 personality: an IAS-ECC card on the basic channel, T=0.
//!
//! Commands: SELECT (P1 `00`–`04`, `08`, `09`; P2 `04` or `0C`, and `00` refused with `6A86`
//! for DF names as the real CPx does), READ BINARY, GET DATA of the PIN SDO (`3F FF`, `BF 81
//! 01`), VERIFY / CHANGE REFERENCE DATA / RESET RETRY COUNTER on PIN `01`, MSE, INTERNAL
//! AUTHENTICATE over a DigestInfo (the card pads, PKCS#1 v1.5), PSO:CDS over a DigestInfo with
//! the signature key, PSO:DECIPHER (`81` padding indicator, PKCS#1 v1.5 type 02 removed by the
//! card), GET CHALLENGE. No PSS: PSO:CDS with any other algorithm answers `6A80`.

use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};

use super::apdu::{Command, Response, Sw};
use super::fs;
use super::keys;
use super::layout::{CPS3_AUTH_KEY, CPS3_SIGN_KEY, PIN_REF};
use super::security::Template;
use super::state::CardState;

/// IAS-ECC algorithm reference for RSA PKCS#1 v1.5 with the DigestInfo given by the host.
pub const ALGO_RSA_PKCS1: u8 = 0x02;

/// Handles one complete command on a CPS3.
pub fn handle(card: &mut CardState, cmd: &Command) -> Response {
    if cmd.channel() != 0 {
        return Sw::CHANNEL_NOT_SUPPORTED.into();
    }
    match cmd.ins {
        0xA4 => select(card, cmd),
        0xB0 => read_binary(card, cmd),
        0xCB => get_data(card, cmd),
        0x20 | 0x24 | 0x2C => pin_command(card, cmd),
        0x22 => with_channel(card, cmd, |ch| ch.mse.handle(cmd)),
        0x88 => internal_authenticate(card, cmd),
        0x2A => perform_security_operation(card, cmd),
        0x84 => get_challenge(cmd),
        0x70 => Sw::CHANNEL_NOT_SUPPORTED.into(),
        _ => Sw::INS_NOT_SUPPORTED.into(),
    }
}

fn with_channel(
    card: &mut CardState,
    cmd: &Command,
    f: impl FnOnce(&mut super::state::Channel) -> Response,
) -> Response {
    match card.channel_mut(cmd) {
        Some(channel) => f(channel),
        None => Sw::CHANNEL_NOT_SUPPORTED.into(),
    }
}

fn select(card: &mut CardState, cmd: &Command) -> Response {
    let fcp_wanted = match cmd.p2 {
        0x04 => true,
        0x0C => false,
        0x00 if cmd.p1 != 0x04 => true,
        _ => return Sw::WRONG_P1P2.into(),
    };
    let Some(channel) = card.channels[0].as_mut() else {
        return Sw::CHANNEL_NOT_SUPPORTED.into();
    };
    match card.fs.select(channel.selection, cmd) {
        Ok((selection, fcp)) => {
            channel.selection = selection;
            if fcp_wanted {
                Response::ok(fcp)
            } else {
                Sw::OK.into()
            }
        }
        Err(sw) => sw.into(),
    }
}

/// READ BINARY on the current channel's selection; shared with the CPS4.
pub fn read_binary(card: &mut CardState, cmd: &Command) -> Response {
    let fs = &card.fs;
    match card
        .channels
        .get_mut(usize::from(cmd.channel()))
        .and_then(Option::as_mut)
    {
        Some(channel) => fs.read_binary(&mut channel.selection, cmd),
        None => Sw::CHANNEL_NOT_SUPPORTED.into(),
    }
}

/// GET DATA (`CB 3F FF`) of an IAS-ECC security data object, named in the request by its
/// header `BF <class|80> <reference>`: the PIN (`BF 81 01`) or a private key (`BF 90 01`,
/// `BF 90 02`).
fn get_data(card: &CardState, cmd: &Command) -> Response {
    if (cmd.p1, cmd.p2) != (0x3F, 0xFF) {
        return Sw::WRONG_P1P2.into();
    }
    let Some(header) = cmd.data.windows(3).find(|w| w[0] == 0xBF) else {
        return Sw::WRONG_DATA.into();
    };
    match (header[1] & 0x7F, header[2]) {
        (0x01, PIN_REF) => Response::ok(card.pin.sdo()),
        (0x10, reference) => match key_for(card, Some(reference)) {
            Ok((key_ref, key)) => Response::ok(private_key_sdo(key_ref, key)),
            Err(sw) => sw.into(),
        },
        _ => Sw::REF_NOT_FOUND.into(),
    }
}

/// A private key's SDO as GET DATA returns it: its size, and its access rules (compact form:
/// PSO:CDS, INTERNAL AUTHENTICATE, PSO:DECIPHER), each either never (`FF`) or after the
/// holder PIN (`11`: user authentication, reference 1).
fn private_key_sdo(key_ref: u8, key: &RsaPrivateKey) -> Vec<u8> {
    use rsa::traits::PublicKeyParts;
    let bits = u16::try_from(key.size() * 8).unwrap_or(u16::MAX);
    let rules = if key_ref == CPS3_AUTH_KEY {
        [0xFF, 0x11, 0x11]
    } else {
        [0x11, 0xFF, 0xFF]
    };
    let mut acl = Vec::new();
    fs::tlv(&mut acl, 0x8C, &[&[0x70][..], &rules].concat());
    let mut docp = Vec::new();
    fs::tlv(&mut docp, 0x80, &bits.to_be_bytes());
    fs::tlv(&mut docp, 0xA1, &acl);
    let mut body = Vec::new();
    fs::tlv(&mut body, 0xA0, &docp);
    let mut sdo = Vec::new();
    fs::tlv_tagged(&mut sdo, &[0xBF, 0x90, key_ref & 0x7F], &body);
    sdo
}

/// VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER on the holder PIN; shared with the CPS4.
pub fn pin_command(card: &mut CardState, cmd: &Command) -> Response {
    if cmd.p2 & 0x7F != PIN_REF {
        return Sw::REF_NOT_FOUND.into();
    }
    match cmd.ins {
        0x20 if cmd.p1 == 0x00 => card.pin.verify(cmd),
        0x20 => Sw::WRONG_P1P2.into(),
        0x24 => card.pin.change(cmd),
        _ => card.pin.unblock(cmd),
    }
}

/// The key an MSE named, normalised to the IAS-ECC local-key form (bit `80` set).
fn key_for(card: &CardState, reference: Option<u8>) -> Result<(u8, &RsaPrivateKey), Sw> {
    match reference.map(|k| k | 0x80) {
        Some(CPS3_AUTH_KEY) => Ok((CPS3_AUTH_KEY, &card.auth_key)),
        Some(CPS3_SIGN_KEY) => Ok((CPS3_SIGN_KEY, &card.sign_key)),
        _ => Err(Sw::REF_NOT_FOUND),
    }
}

fn internal_authenticate(card: &mut CardState, cmd: &Command) -> Response {
    if (cmd.p1, cmd.p2) != (0x00, 0x00) {
        return Sw::WRONG_P1P2.into();
    }
    let result = (|| {
        let channel = card.channels[0].as_ref().ok_or(Sw::CHANNEL_NOT_SUPPORTED)?;
        let (algo, key_ref) = channel.mse.expect(Template::Authentication)?;
        let (key_ref, key) = key_for(card, key_ref)?;
        if key_ref != CPS3_AUTH_KEY || algo.is_some_and(|a| a != ALGO_RSA_PKCS1) {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        if !card.pin.is_verified() {
            return Err(Sw::SECURITY_NOT_SATISFIED);
        }
        card.meter()
            .signing(|| keys::sign_digest_info(key, &cmd.data))
    })();
    result.map_or_else(Response::from, Response::ok)
}

fn perform_security_operation(card: &mut CardState, cmd: &Command) -> Response {
    let template = match (cmd.p1, cmd.p2) {
        (0x9E, 0x9A) => Template::Signature,
        (0x80, 0x86) => Template::Decipher,
        (0x90, 0xA0) => return Sw::FUNC_NOT_SUPPORTED.into(),
        _ => return Sw::WRONG_P1P2.into(),
    };
    let result = (|| {
        let channel = card.channels[0].as_ref().ok_or(Sw::CHANNEL_NOT_SUPPORTED)?;
        let (algo, key_ref) = channel.mse.expect(template)?;
        let (_, key) = key_for(card, key_ref)?;
        if !card.pin.is_verified() {
            return Err(Sw::SECURITY_NOT_SATISFIED);
        }
        let meter = card.meter();
        match template {
            Template::Signature if algo.is_none_or(|a| a == ALGO_RSA_PKCS1 || a == 0x12) => {
                meter.signing(|| keys::sign_digest_info(key, &cmd.data))
            }
            Template::Signature => Err(Sw::WRONG_DATA),
            _ => meter.signing(|| decipher(key, &cmd.data)),
        }
    })();
    result.map_or_else(Response::from, Response::ok)
}

fn decipher(key: &RsaPrivateKey, data: &[u8]) -> Result<Vec<u8>, Sw> {
    let [0x81, cryptogram @ ..] = data else {
        return Err(Sw::WRONG_DATA);
    };
    key.decrypt(Pkcs1v15Encrypt, cryptogram)
        .map_err(|_| Sw::WRONG_DATA)
}

/// GET CHALLENGE: Ne random bytes (8 if Le is absent).
pub fn get_challenge(cmd: &Command) -> Response {
    use rand::RngCore;
    let mut challenge = vec![0; cmd.ne.unwrap_or(8)];
    rand::rngs::OsRng.fill_bytes(&mut challenge);
    Response::ok(challenge)
}
