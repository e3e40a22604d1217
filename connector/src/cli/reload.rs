//! `vigie-connector reload`: makes the running `serve` read its configuration file again,
//! and says what it did — what was applied, what needs a restart, or why the file was
//! refused — with exit status 0 when the new configuration is in force, 1 otherwise.
//!
//! The connector is found by its PID file in the state folder and told by SIGHUP
//! ([`vigie_connector::serve::reload::status`]); the outcome comes back in the state folder
//! too. systemd's `ExecReload=` calls this command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rustix::process::{Pid, Signal, kill_process};
use vigie_connector::config::ConnectorConfig;
use vigie_connector::serve::reload::status::{self, Status};

/// How long the connector has to answer.
const PATIENCE: Duration = Duration::from_secs(60);

/// Asks the connector to reload and reports its answer.
pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let state_dir = state_dir(config_path);
    let pid = status::read_pid(&state_dir).with_context(|| {
        format!(
            "no running connector found (no PID file in {}); start it with `systemctl start \
             vigie-connector`, or name its configuration with --config",
            state_dir.display()
        )
    })?;
    if !status::is_serve(pid) {
        bail!(
            "process {pid} named in {} is not a running `vigie-connector serve` (a stale \
             file?); start the connector",
            state_dir.join(status::PID_FILE).display()
        );
    }
    let before = status::read_status(&state_dir)
        .filter(|s| s.pid == pid)
        .map_or(0, |s| s.sequence);
    let target = i32::try_from(pid).ok().and_then(Pid::from_raw);
    let target = target.with_context(|| format!("{pid} is not a process id"))?;
    kill_process(target, Signal::HUP)
        .with_context(|| format!("cannot signal the connector (process {pid}); run as its user"))?;
    let status = wait_for(&state_dir, pid, before)?;
    Ok(report(&status))
}

/// Waits for the connector's answer to this reload.
fn wait_for(state_dir: &Path, pid: u32, before: u64) -> anyhow::Result<Status> {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Some(status) = status::read_status(state_dir) {
            if status.pid == pid && status.sequence > before {
                return Ok(status);
            }
        }
        if !status::is_serve(pid) {
            bail!(
                "the connector (process {pid}) stopped; see its log (journalctl -u vigie-connector)"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "the connector (process {pid}) did not answer within {} s; see its log \
         (journalctl -u vigie-connector)",
        PATIENCE.as_secs()
    )
}

/// Prints the outcome; the exit status.
fn report(status: &Status) -> ExitCode {
    if !status.applied {
        eprintln!(
            "vigie-connector: configuration refused; the running configuration stays in force:"
        );
        for line in &status.lines {
            eprintln!("  {line}");
        }
        return ExitCode::FAILURE;
    }
    println!("configuration reloaded (process {}):", status.pid);
    for line in &status.lines {
        println!("  {line}");
    }
    if !status.restart.is_empty() {
        println!(
            "changed, but taking effect only at the next start (systemctl restart \
             vigie-connector); the running values stay until then:"
        );
        for setting in &status.restart {
            println!("  {setting}");
        }
    }
    ExitCode::SUCCESS
}

/// The state folder of the configuration at `path`, even when the file has mistakes (the
/// connector is told anyway, and reports them): its `[state] dir`, or the default.
fn state_dir(path: &Path) -> PathBuf {
    if let Ok(config) = ConnectorConfig::load(path) {
        return config.state.dir;
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (root, _) = toml::de::DeTable::parse_recoverable(&text);
    let written = root.get_ref().get("state").and_then(|state| {
        state
            .get_ref()
            .as_table()?
            .get("dir")?
            .get_ref()
            .as_str()
            .map(PathBuf::from)
    });
    match written {
        Some(dir) if dir.is_relative() => base.join(dir),
        Some(dir) => dir,
        None => ConnectorConfig::default().state.dir,
    }
}
