//! Appending records to the day files.
//!
//! Several processes append to one audit directory (the connector and the admin commands):
//! each append holds the directory's lock file, reads the chain's head, writes and syncs the
//! records, then writes the new head aside, syncs it and renames it into place. A log that
//! appends again and again (the connector's audit writer) keeps its lock file open, and
//! skips reading the head back when the head file is exactly the one it wrote last (same
//! inode, size and times), which no other writer can leave behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use rustix::fs::{FlockOperation, flock};
use serde_json::{Map, Value};

use super::event::AuditEvent;
use super::record::{Link, seal};
use super::{FILE_PREFIX, FILE_SUFFIX, GENESIS, HEAD_FILE, LOCK_FILE, day_files};

/// Why the audit log could not be written. Every variant is a local problem (disk, permissions,
/// a damaged head file): the connector must not admit anyone it cannot audit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading or writing a file of the audit directory failed.
    #[error(
        "audit log: cannot use {path}: {source}; check that the audit directory exists and \
             is writable by the connector's user"
    )]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The head file or the last record cannot be read back, so the chain cannot continue.
    #[error(
        "audit log: {path} is damaged ({detail}); run `vigie-connector audit verify` and \
             keep the directory aside for investigation before starting a new audit directory"
    )]
    Damaged {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

/// The audit log of one directory.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    /// The lock file, once opened.
    lock: Option<File>,
    /// The head this log wrote last, and what its file looked like just after.
    written: Option<(HeadStamp, Head)>,
}

/// What identifies one writing of the head file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeadStamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl HeadStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = fs::metadata(path).ok()?;
        Some(Self {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl AuditLog {
    /// Opens (creating it if needed) the audit directory `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, AuditError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| AuditError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            lock: None,
            written: None,
        })
    }

    /// The directory the day files live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record for `event` at time `now` and returns its sequence number once it is
    /// on disk.
    pub fn append(&mut self, event: &AuditEvent, now: DateTime<Utc>) -> Result<u64, AuditError> {
        self.append_all(std::slice::from_ref(event), now)
    }

    /// Appends records for `events`, in order, with one write and one `fdatasync` for all of
    /// them (an HR sync audits thousands of changes at once), and returns the last sequence
    /// number. Nothing is acknowledged before all of them are on disk.
    pub fn append_all(
        &mut self,
        events: &[AuditEvent],
        now: DateTime<Utc>,
    ) -> Result<u64, AuditError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = match self.lock.take() {
            Some(lock) => lock,
            None => OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|source| io_error(&lock_path, source))?,
        };
        flock(&lock, FlockOperation::LockExclusive)
            .map_err(|source| io_error(&lock_path, source.into()))?;
        let appended = self.append_locked(events, now);
        let unlocked = flock(&lock, FlockOperation::Unlock);
        self.lock = Some(lock);
        if let Err(source) = unlocked {
            // Closing the file releases the lock for sure.
            self.lock = None;
            tracing::warn!(error = %source, "audit lock not released; closing it");
        }
        appended
    }

    fn append_locked(
        &mut self,
        events: &[AuditEvent],
        now: DateTime<Utc>,
    ) -> Result<u64, AuditError> {
        let head = self.current_head()?;
        let day = head
            .day
            .map_or(now.date_naive(), |last| last.max(now.date_naive()));
        let mut link = head.link;
        let mut lines = String::new();
        for event in events {
            let (line, next) = seal(event, &link, now);
            lines.push_str(&line);
            lines.push('\n');
            link = next;
        }
        if events.is_empty() {
            return Ok(link.seq);
        }
        let file = self.dir.join(format!("{FILE_PREFIX}{day}{FILE_SUFFIX}"));
        self.written = None;
        append_lines(&file, &lines)?;
        self.write_head(&link, &file)?;
        let written = Head {
            link: link.clone(),
            day: day_of(&file),
        };
        self.written = HeadStamp::of(&self.dir.join(HEAD_FILE)).map(|stamp| (stamp, written));
        Ok(link.seq)
    }

    /// The chain's head: the one this log wrote last if the head file is still that one,
    /// else read from the directory.
    fn current_head(&self) -> Result<Head, AuditError> {
        if let Some((stamp, head)) = &self.written {
            if HeadStamp::of(&self.dir.join(HEAD_FILE)).as_ref() == Some(stamp) {
                return Ok(head.clone());
            }
        }
        self.head()
    }

    /// The last link of the chain: from the head file, or recovered from the last day file if
    /// the head file is missing.
    fn head(&self) -> Result<Head, AuditError> {
        let path = self.dir.join(HEAD_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => parse_head(&path, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.recover_head(),
            Err(source) => Err(io_error(&path, source)),
        }
    }

    fn recover_head(&self) -> Result<Head, AuditError> {
        let files = day_files(&self.dir).map_err(|source| io_error(&self.dir, source))?;
        let Some(last) = files.last() else {
            return Ok(Head::genesis());
        };
        tracing::warn!(file = %last.display(), "audit head file missing; continuing the chain \
                       from the last record");
        let text = fs::read_to_string(last).map_err(|source| io_error(last, source))?;
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        let object: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| damaged(last, e))?;
        let link = link_of(&object).ok_or_else(|| damaged(last, "last record has no seq/hash"))?;
        Ok(Head {
            link,
            day: day_of(last),
        })
    }

    fn write_head(&self, link: &Link, file: &Path) -> Result<(), AuditError> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let text = serde_json::json!({ "seq": link.seq, "hash": link.hash, "file": name });
        let path = self.dir.join(HEAD_FILE);
        let tmp = self.dir.join(format!("{HEAD_FILE}.tmp"));
        let write = || -> io::Result<()> {
            let mut out = File::create(&tmp)?;
            out.write_all(format!("{text}\n").as_bytes())?;
            out.sync_data()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|source| io_error(&path, source))
    }
}

/// The last link and the day file it is in.
#[derive(Clone, Debug)]
struct Head {
    link: Link,
    day: Option<NaiveDate>,
}

impl Head {
    fn genesis() -> Self {
        Self {
            link: Link {
                seq: 0,
                hash: GENESIS.to_owned(),
            },
            day: None,
        }
    }
}

fn parse_head(path: &Path, text: &str) -> Result<Head, AuditError> {
    let object: Map<String, Value> = serde_json::from_str(text).map_err(|e| damaged(path, e))?;
    let link = link_of(&object).ok_or_else(|| damaged(path, "no seq/hash"))?;
    let day = object
        .get("file")
        .and_then(Value::as_str)
        .and_then(|f| day_of(Path::new(f)));
    Ok(Head { link, day })
}

/// The `seq` and `hash` members of a record or of the head file.
pub(crate) fn link_of(object: &Map<String, Value>) -> Option<Link> {
    Some(Link {
        seq: object.get("seq")?.as_u64()?,
        hash: object.get("hash")?.as_str()?.to_owned(),
    })
}

/// The date in a day file's name.
pub(crate) fn day_of(path: &Path) -> Option<NaiveDate> {
    let name = path.file_name()?.to_str()?;
    let date = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
    date.parse().ok()
}

fn append_lines(path: &Path, lines: &str) -> Result<(), AuditError> {
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(lines.as_bytes())?;
        file.sync_data()
    };
    write().map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: io::Error) -> AuditError {
    AuditError::Io {
        path: path.to_owned(),
        source,
    }
}

fn damaged(path: &Path, detail: impl ToString) -> AuditError {
    AuditError::Damaged {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditKind};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn records_chain_across_days_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let event = AuditEvent::new(AuditKind::HrSync, Actor::HrSync);
        let mut log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.append(&event, at(1_800_000_000)).unwrap(), 1);
        let mut log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.append(&event, at(1_800_000_000 + 86_400)).unwrap(), 2);
        assert_eq!(day_files(dir.path()).unwrap().len(), 2);
        fs::remove_file(dir.path().join(HEAD_FILE)).unwrap();
        assert_eq!(log.append(&event, at(1_800_000_000 + 86_401)).unwrap(), 3);
    }

    #[test]
    fn a_batch_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let event = AuditEvent::new(AuditKind::HrSync, Actor::HrSync);
        let mut log = AuditLog::open(dir.path()).unwrap();
        log.append(&event, at(1_800_000_000)).unwrap();
        let batch = vec![event.clone(); 5];
        assert_eq!(log.append_all(&batch, at(1_800_000_001)).unwrap(), 6);
        assert_eq!(log.append_all(&[], at(1_800_000_002)).unwrap(), 6);
        assert_eq!(log.append(&event, at(1_800_000_003)).unwrap(), 7);
        let report = crate::audit::verify(dir.path()).unwrap();
        assert_eq!((report.records, report.first_break), (7, None));
    }

    #[test]
    fn a_log_that_keeps_appending_sees_what_others_appended_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let event = AuditEvent::new(AuditKind::HrSync, Actor::HrSync);
        let mut connector = AuditLog::open(dir.path()).unwrap();
        assert_eq!(connector.append(&event, at(1_800_000_000)).unwrap(), 1);
        assert_eq!(connector.append(&event, at(1_800_000_001)).unwrap(), 2);
        let mut admin = AuditLog::open(dir.path()).unwrap();
        assert_eq!(admin.append(&event, at(1_800_000_002)).unwrap(), 3);
        assert_eq!(connector.append(&event, at(1_800_000_003)).unwrap(), 4);
        let report = crate::audit::verify(dir.path()).unwrap();
        assert_eq!((report.records, report.first_break), (4, None));
    }

    #[test]
    fn a_clock_going_back_does_not_write_into_an_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let event = AuditEvent::new(AuditKind::HrSync, Actor::HrSync);
        let mut log = AuditLog::open(dir.path()).unwrap();
        log.append(&event, at(1_800_000_000 + 86_400)).unwrap();
        log.append(&event, at(1_800_000_000)).unwrap();
        assert_eq!(day_files(dir.path()).unwrap().len(), 1);
    }
}
