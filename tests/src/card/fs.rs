//! The card's file system: a tree of DFs and transparent EFs, SELECT and READ BINARY.
//!
//! Sans-IO and generation-neutral; the personalities decide which P1/P2 they accept. Files are
//! addressed by index in an arena; index 0 is the root (the MF, or the applet's root on the
//! CPS4).

use super::apdu::{Command, Response, Sw};

/// Index of a file in the arena.
pub type FileId = usize;

/// The root DF.
pub const ROOT: FileId = 0;

#[derive(Debug, Clone)]
enum Kind {
    Df { aid: Option<Vec<u8>> },
    Ef { content: Vec<u8>, sfi: Option<u8> },
}

#[derive(Debug, Clone)]
struct File {
    fid: u16,
    parent: Option<FileId>,
    kind: Kind,
}

/// A file tree.
#[derive(Debug, Clone)]
pub struct FileSystem {
    files: Vec<File>,
}

/// Which DF and EF are selected, per logical channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// The current DF.
    pub df: FileId,
    /// The current EF, if one is selected.
    pub ef: Option<FileId>,
}

impl Default for Selection {
    fn default() -> Self {
        Self { df: ROOT, ef: None }
    }
}

impl FileSystem {
    /// A tree with only the root DF, file identifier `root_fid`.
    pub fn new(root_fid: u16) -> Self {
        let root = File {
            fid: root_fid,
            parent: None,
            kind: Kind::Df { aid: None },
        };
        Self { files: vec![root] }
    }

    /// Adds a DF (with an optional application identifier) under `parent`.
    pub fn add_df(&mut self, parent: FileId, fid: u16, aid: Option<&[u8]>) -> FileId {
        self.push(
            parent,
            fid,
            Kind::Df {
                aid: aid.map(<[u8]>::to_vec),
            },
        )
    }

    /// Adds a transparent EF under `parent`.
    pub fn add_ef(
        &mut self,
        parent: FileId,
        fid: u16,
        sfi: Option<u8>,
        content: Vec<u8>,
    ) -> FileId {
        self.push(parent, fid, Kind::Ef { content, sfi })
    }

    fn push(&mut self, parent: FileId, fid: u16, kind: Kind) -> FileId {
        self.files.push(File {
            fid,
            parent: Some(parent),
            kind,
        });
        self.files.len() - 1
    }

    fn children(&self, df: FileId) -> impl Iterator<Item = FileId> + '_ {
        (0..self.files.len()).filter(move |&i| self.files[i].parent == Some(df))
    }

    fn is_df(&self, id: FileId) -> bool {
        matches!(self.files[id].kind, Kind::Df { .. })
    }

    fn child_by_fid(&self, df: FileId, fid: u16) -> Option<FileId> {
        self.children(df).find(|&i| self.files[i].fid == fid)
    }

    /// SELECT (`A4`) with P1 `00`–`04`, `08`, `09`. Returns the new selection and the FCP.
    ///
    /// The caller checks P2 (`04` FCP, `0C` nothing) and decides whether to send the FCP.
    pub fn select(&self, current: Selection, cmd: &Command) -> Result<(Selection, Vec<u8>), Sw> {
        let target = match cmd.p1 {
            0x00 => self.select_by_fid(current, &cmd.data)?,
            0x01 | 0x02 => self.select_child(current.df, &cmd.data)?,
            0x03 => self.files[current.df].parent.ok_or(Sw::FILE_NOT_FOUND)?,
            0x04 => self.select_by_name(&cmd.data)?,
            0x08 => self.select_path(ROOT, &cmd.data)?,
            0x09 => self.select_path(current.df, &cmd.data)?,
            _ => return Err(Sw::WRONG_P1P2),
        };
        let selection = if self.is_df(target) {
            Selection {
                df: target,
                ef: None,
            }
        } else {
            let df = self.files[target].parent.unwrap_or(ROOT);
            Selection {
                df,
                ef: Some(target),
            }
        };
        Ok((selection, self.fcp(target)))
    }

    fn fid_of(data: &[u8]) -> Result<u16, Sw> {
        match data {
            [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
            _ => Err(Sw::WRONG_LENGTH),
        }
    }

    fn select_by_fid(&self, current: Selection, data: &[u8]) -> Result<FileId, Sw> {
        if data.is_empty() {
            return Ok(ROOT);
        }
        let fid = Self::fid_of(data)?;
        if fid == self.files[ROOT].fid || fid == 0x3F00 {
            return Ok(ROOT);
        }
        let parent = self.files[current.df].parent;
        self.child_by_fid(current.df, fid)
            .or_else(|| (self.files[current.df].fid == fid).then_some(current.df))
            .or_else(|| parent.and_then(|p| self.child_by_fid(p, fid)))
            .ok_or(Sw::FILE_NOT_FOUND)
    }

    /// P1 `01`/`02`: a child of the current DF. Like the IAS-ECC CPx, the lab accepts either
    /// kind of file for both P1 values, and `3F00` for the root (OpenSC selects the MF so).
    fn select_child(&self, df: FileId, data: &[u8]) -> Result<FileId, Sw> {
        let fid = Self::fid_of(data)?;
        if fid == 0x3F00 || fid == self.files[ROOT].fid {
            return Ok(ROOT);
        }
        self.child_by_fid(df, fid).ok_or(Sw::FILE_NOT_FOUND)
    }

    fn select_by_name(&self, name: &[u8]) -> Result<FileId, Sw> {
        if name.is_empty() || name.len() > 16 {
            return Err(Sw::WRONG_LENGTH);
        }
        (0..self.files.len())
            .find(|&i| matches!(&self.files[i].kind, Kind::Df { aid: Some(aid) } if aid.starts_with(name)))
            .ok_or(Sw::FILE_NOT_FOUND)
    }

    /// A path of file identifiers from `start`; a leading `3F00` (or the root's fid) means
    /// "from the root", as middleware sends it either way.
    fn select_path(&self, start: FileId, path: &[u8]) -> Result<FileId, Sw> {
        if path.is_empty() || path.len() % 2 != 0 {
            return Err(Sw::WRONG_LENGTH);
        }
        let mut fids = path
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .peekable();
        let mut at = start;
        if fids
            .peek()
            .is_some_and(|&f| f == 0x3F00 || f == self.files[ROOT].fid)
        {
            fids.next();
            at = ROOT;
        }
        for fid in fids {
            if !self.is_df(at) {
                return Err(Sw::FILE_NOT_FOUND);
            }
            at = self.child_by_fid(at, fid).ok_or(Sw::FILE_NOT_FOUND)?;
        }
        Ok(at)
    }

    /// The FCP template (`62`) of a file.
    pub fn fcp(&self, id: FileId) -> Vec<u8> {
        let file = &self.files[id];
        let mut body = Vec::new();
        match &file.kind {
            Kind::Ef { content, sfi } => {
                let size = u16::try_from(content.len()).unwrap_or(u16::MAX);
                tlv(&mut body, 0x80, &size.to_be_bytes());
                tlv(&mut body, 0x82, &[0x01]);
                tlv(&mut body, 0x83, &file.fid.to_be_bytes());
                if let Some(sfi) = sfi {
                    tlv(&mut body, 0x88, &[*sfi]);
                }
            }
            Kind::Df { aid } => {
                tlv(&mut body, 0x82, &[0x38]);
                tlv(&mut body, 0x83, &file.fid.to_be_bytes());
                if let Some(aid) = aid {
                    tlv(&mut body, 0x84, aid);
                }
            }
        }
        // IAS-ECC security attributes (compact form): every operation but READ is NEVER.
        let mut scb = Vec::new();
        tlv(&mut scb, 0x8C, &[0x7B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
        tlv(&mut body, 0xA1, &scb);
        tlv(&mut body, 0x8A, &[0x05]);
        let mut fcp = Vec::new();
        tlv(&mut fcp, 0x62, &body);
        fcp
    }

    /// READ BINARY (`B0`) on the current EF, or on the EF named by an SFI in P1.
    ///
    /// Fewer bytes left than Ne: the bytes left with `6282` (end of file reached). An offset
    /// past the end: `6B00`.
    pub fn read_binary(&self, current: &mut Selection, cmd: &Command) -> Response {
        let (ef, offset) = if cmd.p1 & 0x80 != 0 {
            let sfi = cmd.p1 & 0x1F;
            let found = self
                .children(current.df)
                .find(|&i| matches!(self.files[i].kind, Kind::Ef { sfi: Some(s), .. } if s == sfi));
            let Some(ef) = found else {
                return Sw::FILE_NOT_FOUND.into();
            };
            current.ef = Some(ef);
            (ef, usize::from(cmd.p2))
        } else {
            let Some(ef) = current.ef else {
                return Sw::NO_CURRENT_EF.into();
            };
            (ef, usize::from(u16::from_be_bytes([cmd.p1 & 0x7F, cmd.p2])))
        };
        let Kind::Ef { content, .. } = &self.files[ef].kind else {
            return Sw::NO_CURRENT_EF.into();
        };
        let ne = cmd.ne.unwrap_or(256);
        if offset > content.len() || (offset == content.len() && !content.is_empty()) {
            return Sw::OFFSET_OUTSIDE.into();
        }
        let end = content.len().min(offset + ne);
        let data = content[offset..end].to_vec();
        let sw = if end - offset < ne {
            Sw(0x6282)
        } else {
            Sw::OK
        };
        Response { data, sw }
    }
}

/// Appends a BER-TLV with a one- or two-byte tag and a length of up to 65,535 bytes.
pub fn tlv(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    if tag > 0xFF {
        tlv_tagged(out, &tag.to_be_bytes(), value);
    } else {
        tlv_tagged(out, &[tag as u8], value);
    }
}

/// Appends a TLV whose tag is given as bytes (IAS-ECC SDO headers are three bytes long).
pub fn tlv_tagged(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    out.extend_from_slice(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (FileSystem, FileId, FileId) {
        let mut fs = FileSystem::new(0x3F00);
        fs.add_ef(ROOT, 0xD003, Some(3), vec![1; 12]);
        let app = fs.add_df(ROOT, 0x5000, Some(&[0xE8, 0x28, 0xBD]));
        let cert = fs.add_ef(app, 0xC000, None, (0..=255u8).chain(0..44).collect());
        (fs, app, cert)
    }

    fn cmd(bytes: &[u8]) -> Command {
        Command::parse(bytes).unwrap()
    }

    #[test]
    fn select_by_path_with_or_without_3f00() {
        let (fs, app, cert) = sample();
        let from_mf = fs
            .select(
                Selection::default(),
                &cmd(&[0, 0xA4, 0x08, 0x04, 4, 0x50, 0, 0xC0, 0]),
            )
            .unwrap();
        assert_eq!(
            from_mf.0,
            Selection {
                df: app,
                ef: Some(cert)
            }
        );
        let with_mf = cmd(&[0, 0xA4, 0x09, 0x04, 6, 0x3F, 0, 0x50, 0, 0xC0, 0]);
        assert_eq!(
            fs.select(Selection::default(), &with_mf).unwrap().0,
            from_mf.0
        );
    }

    #[test]
    fn select_by_name_then_ef_and_read_in_chunks() {
        let (fs, app, _) = sample();
        let (mut sel, fcp) = fs
            .select(
                Selection::default(),
                &cmd(&[0, 0xA4, 4, 4, 3, 0xE8, 0x28, 0xBD]),
            )
            .unwrap();
        assert_eq!(sel.df, app);
        assert_eq!(fcp[0], 0x62);
        sel = fs
            .select(sel, &cmd(&[0, 0xA4, 2, 0x0C, 2, 0xC0, 0]))
            .unwrap()
            .0;
        let first = fs.read_binary(&mut sel, &cmd(&[0, 0xB0, 0, 0, 0]));
        assert_eq!((first.data.len(), first.sw), (256, Sw::OK));
        let rest = fs.read_binary(&mut sel, &cmd(&[0, 0xB0, 1, 0, 0]));
        assert_eq!((rest.data.len(), rest.sw), (44, Sw(0x6282)));
        let past = fs.read_binary(&mut sel, &cmd(&[0, 0xB0, 2, 0, 0]));
        assert_eq!(past.sw, Sw::OFFSET_OUTSIDE);
    }

    #[test]
    fn read_by_sfi_and_errors() {
        let (fs, _, _) = sample();
        let mut sel = Selection::default();
        let by_sfi = fs.read_binary(&mut sel, &cmd(&[0, 0xB0, 0x83, 0, 12]));
        assert_eq!((by_sfi.data, by_sfi.sw), (vec![1; 12], Sw::OK));
        let mut none = Selection::default();
        assert_eq!(
            fs.read_binary(&mut none, &cmd(&[0, 0xB0, 0, 0, 1])).sw,
            Sw::NO_CURRENT_EF
        );
        assert_eq!(
            fs.select(none, &cmd(&[0, 0xA4, 0, 4, 2, 0x12, 0x34]))
                .unwrap_err(),
            Sw::FILE_NOT_FOUND
        );
        assert_eq!(
            fs.select(none, &cmd(&[0, 0xA4, 0x07, 4, 2, 0x12, 0x34]))
                .unwrap_err(),
            Sw::WRONG_P1P2
        );
        assert_eq!(
            fs.select(none, &cmd(&[0, 0xA4, 0x08, 4, 3, 0x50, 0, 1]))
                .unwrap_err(),
            Sw::WRONG_LENGTH
        );
    }

    #[test]
    fn long_tlv_lengths() {
        let mut out = Vec::new();
        tlv(&mut out, 0x04, &[0; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2C]);
        let mut short = Vec::new();
        tlv(&mut short, 0xBF81, &[7]);
        assert_eq!(short, vec![0xBF, 0x81, 1, 7]);
    }
}
