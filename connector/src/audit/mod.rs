//! The audit log: an append-only, hash-chained stream of JSON lines, one file per UTC day.
//!
//! Every admission verdict, session change and admin change becomes one [`AuditEvent`]. The
//! [`AuditLog`] turns it into a record with a sequence number, the time, the kind, who acted,
//! the event's fields, the SHA-256 of the previous record (`prev`) and its own (`hash`), and
//! appends it to `audit-YYYY-MM-DD.jsonl` in the audit directory. The chain runs across day
//! files, so [`verify`] finds an edited, deleted, reordered or truncated record anywhere.
//!
//! Identities (idNat, names, card serials) belong here: this is the structured stream an
//! auditor reads. Secrets never do: no PIN, key or token is ever a field.
//!
//! # Durability
//!
//! Each record, or each batch of records ([`AuditLog::append_all`]), is written with a single
//! `write`, then `fdatasync`ed before the append returns, so an acknowledged record survives a
//! crash or power loss. The head of the chain (last sequence number and hash) is kept in
//! `audit.head` beside the day files and replaced atomically after each append; it lets the next writer continue the chain
//! and lets [`verify`] notice records cut from the end. Writers from several processes (the
//! service and the admin CLI) take an exclusive lock on `audit.lock` around each append.
//!
//! Old day files are never rewritten; removing them (retention) is the operator's choice, and
//! [`verify`] then reports the first kept file as starting mid-chain.

mod event;
mod log;
mod record;
mod verify;

pub use event::{Actor, AuditEvent, AuditKind};
pub use log::{AuditError, AuditLog};
pub use verify::{Break, BreakKind, VerifyReport, verify};

/// The prefix and suffix of a day file's name: `audit-YYYY-MM-DD.jsonl`.
const FILE_PREFIX: &str = "audit-";
const FILE_SUFFIX: &str = ".jsonl";
/// The file that holds the chain's head.
const HEAD_FILE: &str = "audit.head";
/// The file writers lock around each append.
const LOCK_FILE: &str = "audit.lock";
/// The `prev` of the very first record.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The day files of `dir`, oldest first (their names sort by date).
fn day_files(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(FILE_PREFIX) && name.ends_with(FILE_SUFFIX) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
