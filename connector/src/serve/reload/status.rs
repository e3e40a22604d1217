//! How `vigie-connector reload` reaches a running `serve` and hears back, through two files
//! of the state folder: `serve` writes its process id in `connector.pid` while it runs, and
//! the outcome of each reload in `reload-status.json`. The command checks that the process
//! is `vigie-connector serve` (a stale file must not make it signal another program), sends
//! it SIGHUP, and waits for a status newer than the one it saw before.
//!
//! A signal and a file work whether or not `[admin]` is configured, from any network
//! namespace, for systemd's `ExecReload=` as for an administrator.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The process id file's name in the state folder.
pub const PID_FILE: &str = "connector.pid";

/// The reload status file's name in the state folder.
pub const STATUS_FILE: &str = "reload-status.json";

/// The outcome of one reload, as the command prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The `serve` process that reloaded.
    pub pid: u32,
    /// Reloads of that process so far, this one included.
    pub sequence: u64,
    /// Whether the new configuration is in force (else the running one stays whole).
    pub applied: bool,
    /// When, Unix seconds.
    pub at: u64,
    /// What was applied, or what is wrong with the file (`file:line:column: …`).
    pub lines: Vec<String>,
    /// Changed settings that take effect only at the next start.
    pub restart: Vec<String>,
}

/// `connector.pid`, removed when dropped (when `serve` stops).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's id in `state_dir` (a file left by a crash is replaced).
    pub fn create(state_dir: &Path) -> std::io::Result<Self> {
        let path = state_dir.join(PID_FILE);
        write_replacing(&path, format!("{}\n", std::process::id()).as_bytes())?;
        Ok(Self { path })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The process id in `state_dir`'s PID file, if it holds one.
pub fn read_pid(state_dir: &Path) -> std::io::Result<u32> {
    let path = state_dir.join(PID_FILE);
    let text = std::fs::read_to_string(&path)?;
    text.trim().parse().map_err(|_| {
        let why = format!("{} does not hold a process id", path.display());
        std::io::Error::new(std::io::ErrorKind::InvalidData, why)
    })
}

/// Whether process `pid` is a running `vigie-connector serve` (from its command line).
pub fn is_serve(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut args = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty());
    let program = args.next().map(|a| String::from_utf8_lossy(a).into_owned());
    let named = program.is_some_and(|p| Path::new(&p).ends_with("vigie-connector"));
    named && args.any(|a| a == b"serve")
}

/// Writes the outcome of a reload.
pub fn write_status(state_dir: &Path, status: &Status) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    write_replacing(&state_dir.join(STATUS_FILE), &json)
}

/// The last reload's outcome, if there was one and the file can be read.
pub fn read_status(state_dir: &Path) -> Option<Status> {
    let bytes = std::fs::read(state_dir.join(STATUS_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `path` whole: a reader sees the old content or the new, never half of it.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let staged = path.with_extension("partial");
    let mut file = std::fs::File::create(&staged)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&staged, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_file_names_this_process_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let pid = PidFile::create(dir.path()).unwrap();
        assert_eq!(read_pid(dir.path()).unwrap(), std::process::id());
        drop(pid);
        assert!(read_pid(dir.path()).is_err());
        std::fs::write(dir.path().join(PID_FILE), "not a pid").unwrap();
        let error = read_pid(dir.path()).unwrap_err().to_string();
        assert!(error.contains("does not hold a process id"), "{error}");
    }

    #[test]
    fn only_a_serve_process_is_taken_for_the_connector() {
        assert!(
            !is_serve(std::process::id()),
            "the test runner is not serve"
        );
        assert!(!is_serve(u32::MAX));
    }

    #[test]
    fn statuses_are_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_status(dir.path()), None);
        let status = Status {
            pid: 7,
            sequence: 2,
            applied: false,
            at: 1_000,
            lines: vec!["connector.toml:3:1: unknown key `x` in [listen]".into()],
            restart: Vec::new(),
        };
        write_status(dir.path(), &status).unwrap();
        assert_eq!(read_status(dir.path()), Some(status));
    }
}
