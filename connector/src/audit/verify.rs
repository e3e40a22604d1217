//! Checking the chain: `vigie-connector audit verify`.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::log::{AuditError, link_of};
use super::record::hash_of;
use super::{GENESIS, HEAD_FILE, day_files};

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Day files read.
    pub files: usize,
    /// Records read.
    pub records: u64,
    /// The first broken link, if any; `None` means the whole chain holds.
    pub first_break: Option<Break>,
}

/// Where the chain breaks first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// The day file.
    pub file: PathBuf,
    /// The line in it, from 1 (the line after the last one for a missing tail).
    pub line: usize,
    /// What is wrong there.
    pub kind: BreakKind,
}

/// The ways a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakKind {
    /// The line is not a complete JSON record (a truncated file, or garbage written in).
    Unreadable(String),
    /// The record's content does not match its own hash: it was edited.
    Edited,
    /// The record does not chain to the one before it: the one before was edited and rehashed,
    /// or records were replaced.
    BrokenLink,
    /// Records with these sequence numbers are gone (first, last).
    Deleted(u64, u64),
    /// The record with this sequence number is found later than where it belongs.
    Reordered(u64),
    /// The head file says the chain goes on to this sequence number, but the files stop earlier.
    TailMissing(u64),
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(why) => write!(f, "unreadable record ({why}): truncated or altered"),
            Self::Edited => f.write_str("record edited: its content no longer matches its hash"),
            Self::BrokenLink => f.write_str(
                "record does not chain to the previous one: the \
                                             previous record was altered or replaced",
            ),
            Self::Deleted(a, b) if a == b => write!(f, "record {a} was deleted"),
            Self::Deleted(a, b) => write!(f, "records {a} to {b} were deleted"),
            Self::Reordered(seq) => write!(f, "record {seq} was moved later in the log"),
            Self::TailMissing(seq) => {
                write!(
                    f,
                    "records up to {seq} were written but are missing at the end"
                )
            }
        }
    }
}

/// One record as read back.
struct Entry {
    file: PathBuf,
    line: usize,
    object: Map<String, Value>,
}

/// Verifies every day file of `dir`, oldest first, as one chain.
pub fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    let files = day_files(dir).map_err(|source| AuditError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut entries = Vec::new();
    for file in &files {
        if let Err(found) = read_entries(file, &mut entries)? {
            return Ok(report(&files, &entries, Some(found)));
        }
    }
    let first_break = walk(&entries).or_else(|| check_tail(dir, &entries));
    Ok(report(&files, &entries, first_break))
}

fn report(files: &[PathBuf], entries: &[Entry], first_break: Option<Break>) -> VerifyReport {
    VerifyReport {
        files: files.len(),
        records: entries.len() as u64,
        first_break,
    }
}

/// Reads a file's records; an unreadable line stops the reading and is the break.
fn read_entries(file: &Path, entries: &mut Vec<Entry>) -> Result<Result<(), Break>, AuditError> {
    let text = fs::read_to_string(file).map_err(|source| AuditError::Io {
        path: file.to_owned(),
        source,
    })?;
    let complete = text.is_empty() || text.ends_with('\n');
    for (index, line) in text.lines().enumerate() {
        let at = |why: String| Break {
            file: file.to_owned(),
            line: index + 1,
            kind: BreakKind::Unreadable(why),
        };
        let object = serde_json::from_str::<Map<String, Value>>(line).map_err(|e| e.to_string());
        match object {
            Ok(object) if link_of(&object).is_some() => entries.push(Entry {
                file: file.to_owned(),
                line: index + 1,
                object,
            }),
            Ok(_) => return Ok(Err(at("no seq or hash".into()))),
            Err(why) => return Ok(Err(at(why))),
        }
    }
    if !complete {
        let line = text.lines().count();
        return Ok(Err(Break {
            file: file.to_owned(),
            line,
            kind: BreakKind::Unreadable("the last line has no end: the file was cut".into()),
        }));
    }
    Ok(Ok(()))
}

/// Walks the records in file order and returns the first broken link.
fn walk(entries: &[Entry]) -> Option<Break> {
    // Retention may have removed the oldest files: the chain then starts at the lowest number.
    let first_seq = entries
        .iter()
        .filter_map(|e| link_of(&e.object))
        .map(|l| l.seq)
        .min();
    let first_seq = first_seq.unwrap_or(1);
    let mut prev_hash = if first_seq == 1 {
        Some(GENESIS.to_owned())
    } else {
        None
    };
    for (index, entry) in entries.iter().enumerate() {
        let link = link_of(&entry.object)?;
        let expected = first_seq + index as u64;
        let at = |kind| {
            Some(Break {
                file: entry.file.clone(),
                line: entry.line,
                kind,
            })
        };
        if link.seq != expected {
            return at(misplaced(entries, index, expected, link.seq));
        }
        if hash_of(&entry.object) != link.hash {
            return at(BreakKind::Edited);
        }
        let prev = entry.object.get("prev").and_then(Value::as_str);
        if prev_hash.as_deref().is_some_and(|want| prev != Some(want)) {
            return at(BreakKind::BrokenLink);
        }
        prev_hash = Some(link.hash);
    }
    None
}

/// Names a sequence break: the expected record found later means a move, otherwise a deletion.
fn misplaced(entries: &[Entry], index: usize, expected: u64, found: u64) -> BreakKind {
    let later = entries[index..]
        .iter()
        .any(|e| link_of(&e.object).is_some_and(|l| l.seq == expected));
    if later {
        BreakKind::Reordered(expected)
    } else if found > expected {
        BreakKind::Deleted(expected, found - 1)
    } else {
        BreakKind::Reordered(found)
    }
}

/// Compares the last record with the head file, which catches records cut from the end.
fn check_tail(dir: &Path, entries: &[Entry]) -> Option<Break> {
    let text = fs::read_to_string(dir.join(HEAD_FILE)).ok()?;
    let head = link_of(&serde_json::from_str(&text).ok()?)?;
    let last = entries.last();
    let last_seq = last.and_then(|e| link_of(&e.object)).map_or(0, |l| l.seq);
    if head.seq <= last_seq {
        return None;
    }
    Some(Break {
        file: last.map_or_else(|| dir.join(HEAD_FILE), |e| e.file.clone()),
        line: last.map_or(1, |e| e.line + 1),
        kind: BreakKind::Deleted(last_seq + 1, head.seq),
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::audit::{Actor, AuditEvent, AuditKind, AuditLog};

    /// Writes `count` records over two days and returns the directory and the day files.
    fn log_with(count: i64) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path()).unwrap();
        for i in 0..count {
            let event = AuditEvent::new(AuditKind::PersonChanged, Actor::HrSync).field("i", i);
            let now = DateTime::from_timestamp(1_800_000_000 + i * 30_000, 0).unwrap();
            log.append(&event, now).unwrap();
        }
        let files = day_files(dir.path()).unwrap();
        (dir, files)
    }

    fn rewrite(file: &Path, change: impl FnOnce(&mut Vec<String>)) {
        let mut lines: Vec<String> = fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        change(&mut lines);
        fs::write(
            file,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    fn first_break(dir: &Path) -> Break {
        verify(dir)
            .unwrap()
            .first_break
            .expect("the chain should be broken")
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (dir, files) = log_with(8);
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.files), (8, files.len()));
        assert!(files.len() > 1);
        assert_eq!(report.first_break, None);
    }

    #[test]
    fn an_edited_record_is_found_at_its_line() {
        let (dir, files) = log_with(4);
        rewrite(&files[0], |lines| {
            lines[1] = lines[1].replace("\"i\":1", "\"i\":7")
        });
        let found = first_break(dir.path());
        assert_eq!((found.line, found.kind), (2, BreakKind::Edited));
    }

    #[test]
    fn deleted_reordered_and_cut_records_are_found() {
        let (dir, files) = log_with(4);
        rewrite(&files[0], |lines| drop(lines.remove(1)));
        assert_eq!(first_break(dir.path()).kind, BreakKind::Deleted(2, 2));

        let (dir, files) = log_with(4);
        rewrite(&files[0], |lines| lines.swap(0, 1));
        assert_eq!(first_break(dir.path()).kind, BreakKind::Reordered(1));

        let (dir, files) = log_with(8);
        let last = files.last().unwrap();
        rewrite(last, |lines| drop(lines.pop()));
        assert_eq!(first_break(dir.path()).kind, BreakKind::Deleted(8, 8));

        let (dir, files) = log_with(2);
        let text = fs::read_to_string(&files[0]).unwrap();
        fs::write(&files[0], &text[..text.len() - 10]).unwrap();
        assert!(matches!(
            first_break(dir.path()).kind,
            BreakKind::Unreadable(_)
        ));
    }
}
