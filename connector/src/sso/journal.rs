//! The issuer's sign-ins, kept across a restart of the connector.
//!
//! A restart keeps the card sessions ([`crate::serve`] parks them until their clients come
//! back), so it must keep what the issuer knows of them too: whose session an access token
//! speaks of (for userinfo and introspection), which apps hold tokens of a session (to send
//! them a back-channel logout when it ends) and which apps logged out of it. Without this, a
//! session ended after a restart would leave the apps signed in.
//!
//! The issuer ([`super::Issuer`]) says each change as a [`Record`]; the journal appends it, a
//! JSON line, to `<state>/sso-sessions.jsonl` (mode 0600) before the issuer answers anyone.
//! The line is written, not synced: it survives the connector crashing or being killed, as
//! the session rows do, not a power cut. At start the file is read back, then written again
//! with only what still stands ([`Journal::compact`]), as it is when it has grown to several
//! times that. Codes (one minute) and client assertions already seen are not kept: an app
//! whose code was lost asks for another.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{SsoError, Subject};

/// The file's name under the state folder.
pub const FILE_NAME: &str = "sso-sessions.jsonl";

/// The fewest lines in the file before it is written again; beyond that, when it holds four
/// times what stood at its last writing.
const COMPACT_AFTER: usize = 10_000;

/// A change of the issuer's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// A session's person, first seen when its browser asked for a code.
    Subject {
        /// The person and the session.
        subject: Subject,
    },
    /// An app received tokens for a session.
    Holder {
        /// The session (hex).
        session: String,
        /// The app's client id.
        client: String,
    },
    /// An app logged out of a session.
    LoggedOut {
        /// The session (hex).
        session: String,
        /// The app's client id.
        client: String,
    },
    /// A session ended: everything about it is forgotten.
    Ended {
        /// The session (hex).
        session: String,
    },
}

/// The open file, appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Lines in the file.
    lines: usize,
    /// How many lines make it worth writing again.
    compact_beyond: usize,
}

impl Journal {
    /// Opens the journal of state folder `dir`, creating it empty if there is none, and
    /// returns it with the records it holds. A line that cannot be read (a crash in the
    /// middle of a write, a hand edit) is skipped and counted in the second value.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Record>, usize), SsoError> {
        let path = dir.join(FILE_NAME);
        let mut records = Vec::new();
        let mut unreadable = 0;
        match File::open(&path) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(|e| SsoError::file(&path, e))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str(&line) {
                        Ok(record) => records.push(record),
                        Err(_) => unreadable += 1,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SsoError::file(&path, e)),
        }
        let file = append_to(&path)?;
        let journal = Self {
            path,
            file,
            lines: records.len() + unreadable,
            compact_beyond: COMPACT_AFTER,
        };
        Ok((journal, records, unreadable))
    }

    /// Appends `records`, one line each, in one write.
    pub fn append(&mut self, records: &[Record]) -> Result<(), SsoError> {
        if records.is_empty() {
            return Ok(());
        }
        let text = as_lines(records)?;
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| SsoError::file(&self.path, e))?;
        self.lines += records.len();
        Ok(())
    }

    /// Whether the file has grown enough since it was last written whole to be written again
    /// with what still stands.
    pub fn compaction_due(&self) -> bool {
        self.lines > self.compact_beyond
    }

    /// Replaces the file with `records` (what still stands): written aside, synced, renamed
    /// over the old one, then appended to.
    pub fn compact(&mut self, records: &[Record]) -> Result<(), SsoError> {
        let aside = self.path.with_extension("jsonl.new");
        let _ = std::fs::remove_file(&aside);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&aside)
            .map_err(|e| SsoError::file(&aside, e))?;
        let text = as_lines(records)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| SsoError::file(&aside, e))?;
        std::fs::rename(&aside, &self.path).map_err(|e| SsoError::file(&self.path, e))?;
        self.file = append_to(&self.path)?;
        self.lines = records.len();
        self.compact_beyond = COMPACT_AFTER.max(4 * records.len());
        Ok(())
    }
}

/// `records` as JSON lines.
fn as_lines(records: &[Record]) -> Result<String, SsoError> {
    let mut text = String::new();
    for record in records {
        let line = serde_json::to_string(record)
            .map_err(|e| SsoError::Internal(format!("cannot write a sign-in record: {e}")))?;
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

fn append_to(path: &Path) -> Result<File, SsoError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SsoError::file(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(session: &str) -> Subject {
        Subject {
            id_nat: "899700123450".into(),
            family_name: "DOCTEUR".into(),
            given_name: "Jean".into(),
            professions: vec!["Médecin".into()],
            session: session.into(),
            auth_time: 1_700_000_000,
        }
    }

    fn holder(session: &str, client: &str) -> Record {
        Record::Holder {
            session: session.into(),
            client: client.into(),
        }
    }

    #[test]
    fn records_appended_are_read_back_in_order_after_a_restart() {
        let dir = tempfile::tempdir().expect("a folder");
        let (mut journal, found, unreadable) = Journal::open(dir.path()).expect("open");
        assert!(found.is_empty());
        assert_eq!(unreadable, 0);
        let written = vec![
            Record::Subject {
                subject: subject("aa"),
            },
            holder("aa", "portal"),
            Record::LoggedOut {
                session: "aa".into(),
                client: "portal".into(),
            },
            Record::Ended {
                session: "aa".into(),
            },
        ];
        journal.append(&written[..2]).expect("append");
        journal.append(&written[2..]).expect("append");
        drop(journal);
        let (_, found, unreadable) = Journal::open(dir.path()).expect("open again");
        assert_eq!(found, written);
        assert_eq!(unreadable, 0);
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .expect("the file")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_torn_or_foreign_line_is_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("a folder");
        let good = serde_json::to_string(&holder("bb", "mail")).expect("JSON");
        let text = format!("{good}\n{{\"record\":\"holder\",\"sess\n\n[1,2]\n{good}\n");
        std::fs::write(dir.path().join(FILE_NAME), text).expect("write");
        let (_, found, unreadable) = Journal::open(dir.path()).expect("open");
        assert_eq!(found, [holder("bb", "mail"), holder("bb", "mail")]);
        assert_eq!(unreadable, 2);
    }

    #[test]
    fn compaction_keeps_only_what_it_is_given_and_appending_goes_on() {
        let dir = tempfile::tempdir().expect("a folder");
        let (mut journal, _, _) = Journal::open(dir.path()).expect("open");
        let history: Vec<Record> = (0..50).map(|i| holder(&format!("{i:02x}"), "p")).collect();
        journal.append(&history).expect("append");
        assert!(!journal.compaction_due(), "too small to bother");
        journal.compact(&[holder("31", "p")]).expect("compact");
        journal.append(&[holder("32", "p")]).expect("append after");
        drop(journal);
        let (journal, found, _) = Journal::open(dir.path()).expect("open again");
        assert_eq!(found, [holder("31", "p"), holder("32", "p")]);
        assert_eq!(journal.lines, 2);
        assert!(!dir.path().join("sso-sessions.jsonl.new").exists());
    }

    #[test]
    fn a_journal_mostly_history_asks_to_be_compacted() {
        let dir = tempfile::tempdir().expect("a folder");
        let (mut journal, _, _) = Journal::open(dir.path()).expect("open");
        let many: Vec<Record> = (0..COMPACT_AFTER)
            .map(|i| holder(&i.to_string(), "p"))
            .collect();
        journal.append(&many).expect("append");
        assert!(!journal.compaction_due());
        journal.append(&[holder("x", "p")]).expect("append");
        assert!(journal.compaction_due());
        // Much still stands: the next writing waits for four times as much.
        journal.compact(&many).expect("compact");
        assert!(!journal.compaction_due());
        journal.append(&many[..COMPACT_AFTER / 2]).expect("append");
        assert!(!journal.compaction_due());
    }
}
