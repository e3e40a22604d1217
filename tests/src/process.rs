//! Processes the lab starts: output captured to files, stopped by PID with TERM, a grace
//! period, then KILL.
//!
//! Standard output and standard error go to `<dir>/<label>.out` and `<label>.err` under
//! [`log_root`], so a failing test can quote them ([`LabProcess::log_tail`]). The files are
//! removed when the guard drops, unless `VIGIE_LAB_KEEP_LOGS` is set in the environment.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cmd;
use crate::error::{LabError, Result};
use crate::names;

/// How long a process has to exit after TERM before it gets KILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// The folder under which the lab writes logs and configuration (`/tmp/vigie-lab`).
pub fn log_root() -> PathBuf {
    std::env::temp_dir().join("vigie-lab")
}

/// A program's log text without its terminal colour sequences (`ESC [ … m`), for reading
/// what it said.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// A running process, stopped (by its PID) when the guard drops.
#[derive(Debug)]
pub struct LabProcess {
    label: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    stopped: bool,
}

impl LabProcess {
    /// Starts `command`, with its output captured under a fresh folder of [`log_root`].
    ///
    /// `label` names the log files and appears in errors (`pcscd`, `connector`…).
    pub fn spawn(label: &str, command: Command) -> Result<Self> {
        let dir = log_root().join(names::unique_name());
        std::fs::create_dir_all(&dir).map_err(|e| LabError::file(&dir, e))?;
        Self::spawn_in(&dir, label, command)
    }

    /// Like [`LabProcess::spawn`], with the logs in `dir` (which must exist).
    pub fn spawn_in(dir: &Path, label: &str, mut command: Command) -> Result<Self> {
        let stdout = dir.join(format!("{label}.out"));
        let stderr = dir.join(format!("{label}.err"));
        let out = File::create(&stdout).map_err(|e| LabError::file(&stdout, e))?;
        let err = File::create(&stderr).map_err(|e| LabError::file(&stderr, e))?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command.spawn().map_err(|source| LabError::Spawn {
            program: cmd::describe(&command),
            source,
        })?;
        tracing::debug!(label, pid = child.id(), "lab process started");
        Ok(Self {
            label: label.to_owned(),
            child,
            stdout,
            stderr,
            stopped: false,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The label given at spawn.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The file receiving standard output.
    pub fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    /// The file receiving standard error.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// Whether the process is still running (a zombie counts as exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of standard output then standard error, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        for (name, path) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let content = std::fs::read_to_string(path).unwrap_or_default();
            let all: Vec<&str> = content.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            if !tail.is_empty() {
                text.push_str(&format!(
                    "\n--- {} {name} ({}) ---\n",
                    self.label,
                    path.display()
                ));
                text.push_str(&tail.join("\n"));
            }
        }
        text
    }

    /// Stops the process: TERM, up to `grace` to exit, then KILL. Idempotent.
    pub fn stop_with_grace(&mut self, grace: Duration) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if !self.is_running() {
            return Ok(());
        }
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        // ESRCH: it exited between the check and the signal; nothing to do.
        if kill(pid, Signal::SIGTERM).is_err() {
            return Ok(());
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.is_running() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(label = %self.label, pid = pid.as_raw(), "no exit after TERM; sending KILL");
        self.child
            .kill()
            .map_err(|e| LabError::io(format!("kill {} (pid {pid})", self.label), e))?;
        self.child
            .wait()
            .map_err(|e| LabError::io(format!("wait for {} (pid {pid})", self.label), e))?;
        Ok(())
    }

    /// Stops the process with the [`DEFAULT_GRACE`].
    pub fn stop(&mut self) -> Result<()> {
        self.stop_with_grace(DEFAULT_GRACE)
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(label = %self.label, %err, "could not stop lab process");
        }
        if std::env::var_os("VIGIE_LAB_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_file(&self.stdout);
            let _ = std::fs::remove_file(&self.stderr);
            if let Some(dir) = self.stdout.parent() {
                // Only succeeds when the folder is empty, i.e. it was ours alone.
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_captured_and_stop_ends_the_process() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo started; echo warn >&2; exec sleep 60"]);
        let mut process = LabProcess::spawn("sleeper", command).unwrap();
        let start = Instant::now();
        while !process.log_tail(5).contains("started") && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let tail = process.log_tail(5);
        assert!(tail.contains("started") && tail.contains("warn"), "{tail}");
        process.stop().unwrap();
        assert!(!process.is_running());
    }

    #[test]
    fn a_process_ignoring_term_is_killed_after_the_grace() {
        let mut command = Command::new("sh");
        command.args(["-c", "trap '' TERM; while true; do sleep 0.1; done"]);
        let mut process = LabProcess::spawn("stubborn", command).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        process.stop_with_grace(Duration::from_millis(300)).unwrap();
        assert!(!process.is_running());
    }
}
