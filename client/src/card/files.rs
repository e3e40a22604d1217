//! Selecting and reading files on the card (ISO 7816-4 SELECT and READ BINARY).
//!
//! Both generations use the same commands; only the class byte differs (`00` for the CPS3,
//! `01` — logical channel 1 — for the CPS4's ChipDoc applet).

use crate::apdu::Command;
use crate::error::{CardError, StatusWord};
use crate::tlv;
use crate::transport::{CardTransport, exchange};

/// How to address one card application: its class byte and its transmission habits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// Class byte, logical channel bits included.
    pub cla: u8,
    /// T=0 cards take case-4 commands without Le and announce the answer with `61 xx`.
    pub t0: bool,
}

impl Channel {
    /// A command on this channel.
    pub fn command(self, ins: u8, p1: u8, p2: u8) -> Command {
        Command::new(self.cla, ins, p1, p2)
    }

    /// Adapts a command to the transmission protocol (drops Le of case-4 commands on T=0).
    pub fn prepare(self, cmd: Command) -> Command {
        if self.t0 && !cmd.data().is_empty() {
            cmd.without_le()
        } else {
            cmd
        }
    }

    /// Sends a command, adapted to the protocol, and collects the response.
    pub fn exchange(
        self,
        t: &mut dyn CardTransport,
        cmd: Command,
    ) -> Result<crate::apdu::Response, CardError> {
        exchange(t, &self.prepare(cmd))
    }
}

/// Largest READ BINARY chunk; the ANS middleware reads at most `E7` bytes at a time.
const READ_CHUNK: u8 = 0xE7;
/// Largest file we accept to read (a certificate is about 2 KiB).
const MAX_FILE: usize = 16 * 1024;

/// Selects an application by its AID, without asking for its FCP.
pub fn select_aid(t: &mut dyn CardTransport, ch: Channel, aid: &[u8]) -> Result<(), CardError> {
    let response = ch.exchange(t, ch.command(0xA4, 0x04, 0x0C).with_data(aid))?;
    match response.sw {
        StatusWord::OK => Ok(()),
        sw if sw.sw1() == 0x62 || sw.sw1() == 0x63 => Ok(()),
        sw => Err(CardError::Unexpected {
            command: "select the CPS application",
            sw,
        }),
    }
}

/// Selects a file by path (absolute when it starts with `3F00`, else from the current DF),
/// and returns its size when the card's FCP tells it.
pub fn select_path(
    t: &mut dyn CardTransport,
    ch: Channel,
    path: &[u8],
) -> Result<Option<usize>, CardError> {
    if path.len() < 2 || path.len() % 2 != 0 {
        return Err(CardError::malformed(format!(
            "file path of {} bytes",
            path.len()
        )));
    }
    let (p1, data) = match path {
        [0x3F, 0x00] => (0x00, path),
        [0x3F, 0x00, rest @ ..] => (0x08, rest),
        [_, _] => (0x00, path),
        _ => (0x09, path),
    };
    let response = ch.exchange(t, ch.command(0xA4, p1, 0x04).with_data(data).with_le(0))?;
    if response.sw == StatusWord(0x6A82) {
        return Err(CardError::Unexpected {
            command: "find a file on the card",
            sw: response.sw,
        });
    }
    let fcp = response.ok_data("select a file")?;
    fcp_size(&fcp)
}

/// The file size from an FCP template (`62` with `80` or `81`), if present.
pub fn fcp_size(fcp: &[u8]) -> Result<Option<usize>, CardError> {
    let Some(template) = tlv::find(fcp, 0x62)? else {
        return Ok(None);
    };
    let size = match tlv::find(template, 0x80)? {
        Some(bytes) => Some(bytes),
        None => tlv::find(template, 0x81)?,
    };
    size.map(|bytes| tlv::uint(bytes).map(|n| n as usize))
        .transpose()
}

/// Reads the whole current EF. With no known size, a DER header or the card's end-of-file
/// status tells where to stop.
pub fn read_file(
    t: &mut dyn CardTransport,
    ch: Channel,
    size: Option<usize>,
) -> Result<Vec<u8>, CardError> {
    let mut data = Vec::new();
    let mut target = size.map(|s| s.min(MAX_FILE));
    loop {
        if target.is_some_and(|want| data.len() >= want) {
            break;
        }
        let want = target.map_or(READ_CHUNK, |t| remaining_chunk(t - data.len()));
        match read_chunk(t, ch, data.len(), want)? {
            Some(chunk) if !chunk.is_empty() => data.extend_from_slice(&chunk),
            _ => break,
        }
        if target.is_none() {
            target = der_total_len(&data);
        }
        if data.len() >= MAX_FILE {
            return Err(CardError::malformed("a file larger than 16 KiB"));
        }
    }
    if let Some(want) = target {
        data.truncate(want);
    }
    Ok(data)
}

fn remaining_chunk(left: usize) -> u8 {
    u8::try_from(left).map_or(READ_CHUNK, |l| l.min(READ_CHUNK))
}

/// One READ BINARY; `None` at the end of the file.
fn read_chunk(
    t: &mut dyn CardTransport,
    ch: Channel,
    offset: usize,
    len: u8,
) -> Result<Option<Vec<u8>>, CardError> {
    let offset = u16::try_from(offset)
        .ok()
        .filter(|o| *o < 0x8000)
        .ok_or_else(|| CardError::malformed("file offset beyond 32 KiB"))?;
    let [hi, lo] = offset.to_be_bytes();
    let response = ch.exchange(t, ch.command(0xB0, hi, lo).with_le(len))?;
    match response.sw {
        StatusWord::OK => Ok(Some(response.data)),
        StatusWord(0x6282) => Ok(Some(response.data).filter(|d| !d.is_empty())),
        StatusWord(0x6B00) => Ok(None),
        sw => Err(CardError::Unexpected {
            command: "read a file",
            sw,
        }),
    }
}

/// Total length of a DER element from its header, once enough bytes are known.
fn der_total_len(data: &[u8]) -> Option<usize> {
    if data.first() != Some(&0x30) {
        return None;
    }
    let first = *data.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7F);
    let bytes = data
        .get(2..2 + count)
        .filter(|_| (1..=3).contains(&count))?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some(2 + count + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::fake::Scripted;

    const CPS4: Channel = Channel {
        cla: 0x01,
        t0: false,
    };
    const CPS3: Channel = Channel {
        cla: 0x00,
        t0: true,
    };

    fn ok(data: &[u8]) -> Vec<u8> {
        [data, &[0x90, 0x00]].concat()
    }

    #[test]
    fn reads_a_der_file_of_unknown_size_in_chunks() {
        let mut cert = vec![0x30, 0x82, 0x01, 0x2C];
        cert.extend((0..0x12C).map(|i| i as u8));
        let chunks: Vec<Vec<u8>> = cert.chunks(0xE7).map(ok).collect();
        let mut t = Scripted::new(&[], chunks);
        let read = read_file(&mut t, CPS4, None).expect("read");
        assert_eq!(read, cert);
        assert_eq!(t.sent[1], [0x01, 0xB0, 0x00, 0xE7, 0x49]);
    }

    #[test]
    fn stops_at_end_of_file_status() {
        let mut t = Scripted::new(&[], vec![ok(&[0xAA; 0xE7]), vec![0x6B, 0x00]]);
        assert_eq!(read_file(&mut t, CPS3, None).expect("read").len(), 0xE7);
    }

    #[test]
    fn select_reads_the_size_from_the_fcp() {
        let fcp = [0x62, 0x08, 0x80, 0x02, 0x00, 0x0C, 0x82, 0x01, 0x01, 0x00];
        let mut t = Scripted::new(&[], vec![vec![0x61, 0x0A], ok(&fcp)]);
        let size = select_path(&mut t, CPS3, &[0x3F, 0x00, 0xD0, 0x03]).expect("select");
        assert_eq!(size, Some(12));
        assert_eq!(t.sent[0], [0x00, 0xA4, 0x08, 0x04, 0x02, 0xD0, 0x03]);
    }

    #[test]
    fn rejects_odd_paths_and_missing_files() {
        let mut t = Scripted::new(&[], vec![vec![0x6A, 0x82]]);
        assert!(select_path(&mut t, CPS3, &[0x3F]).is_err());
        assert!(matches!(
            select_path(&mut t, CPS3, &[0x50, 0x31]),
            Err(CardError::Unexpected {
                sw: StatusWord(0x6A82),
                ..
            })
        ));
    }
}
