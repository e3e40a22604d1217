//! The lab's error type, grouped by who is at fault: the machine (missing tool, no root), a
//! command the lab ran, a component that did not come up, or the caller's input.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while building or tearing down a test world.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A program could not be started at all (missing binary, exec failure).
    #[error("cannot start `{program}`: {source} (is it installed? see scripts/setup.sh)")]
    Spawn {
        /// The program the lab tried to run.
        program: String,
        /// Why the operating system refused.
        source: std::io::Error,
    },

    /// A command ran but failed.
    #[error("`{command}` failed with {status}: {stderr}")]
    Command {
        /// The command line, for the reader of the test log.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote on standard error, trimmed.
        stderr: String,
    },

    /// A component did not become ready in time.
    #[error("{what} not ready after {waited:?}{details}")]
    NotReady {
        /// What was awaited (a port, a daemon, a reader).
        what: String,
        /// How long the lab waited.
        waited: Duration,
        /// The tail of the component's log, if there is one, starting with a newline.
        details: String,
    },

    /// A file the lab needs or writes could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A card identity folder is incomplete or malformed.
    #[error("card identity {path}: {reason} (write it with `vigie-pki init DIR`)")]
    Identity {
        /// The folder or file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Entering a network namespace or another system call failed.
    #[error("{what}: {source}")]
    System {
        /// What the lab was doing.
        what: String,
        /// The error number the kernel returned.
        source: nix::Error,
    },

    /// A socket operation with the virtual reader failed.
    #[error("{what}: {source}")]
    Io {
        /// What the lab was doing.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The caller asked for something the lab cannot give.
    #[error("{0}")]
    Misuse(String),
}

impl LabError {
    pub(crate) fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::File {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// The lab's result type.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
