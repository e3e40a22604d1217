//! A fresh Debian 12 system booted under its own systemd, to install Vigie's packages in.
//!
//! - [`DebianRoot`]: a root folder made by `debootstrap` (bookworm, from deb.debian.org),
//!   with systemd. The first one is kept for 30 days as a base under the cache folder the
//!   caller names (the project's `target/`) and copied for each test; the copy is deleted
//!   when its guard drops. [`DebianRoot::run`] runs a command in it with the host's network, for `apt-get`
//!   downloads.
//! - [`Container`]: that root booted with `systemd-nspawn --boot`: real systemd as PID 1, in
//!   a private network namespace holding only `lo`, so the units run as on a server and no
//!   test traffic leaves it. [`Container::exec`] enters it with `nsenter`; it is powered off
//!   (its `systemd-nspawn`, by PID, told to stop, then killed if need be) when dropped.
//!
//! The host needs no systemd of its own: the container is not registered with machined and
//! runs in the caller's cgroup (`--register=no --keep-unit`). It gets the unified cgroup
//! hierarchy, as Debian 12 has, even on a host with the hybrid one, so that systemd's device
//! and address policies work inside as they would on a server.
//!
//! What it is not: a way to run anything but a test's own commands, or to reach the network
//! from a booted container (`apt-get --download-only` on the root first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::process::LabProcess;
use crate::{cmd, names};

/// What the base system holds beyond debootstrap's minimal one: systemd as init.
const INCLUDE: &str = "systemd,systemd-sysv,dbus";
/// The Debian release and mirror.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// The PATH commands get inside the root.
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// A base older than this is made again, so the tests do not drift from Debian 12 as it is.
const BASE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a boot or a power-off may take.
const BOOT_PATIENCE: Duration = Duration::from_secs(90);

/// A Debian root folder, deleted when dropped.
#[derive(Debug)]
pub struct DebianRoot {
    path: PathBuf,
}

impl DebianRoot {
    /// A fresh copy of the base system kept in `cache` (made there by debootstrap first if
    /// it is missing), at `cache/<unique name>`.
    pub fn create(cache: &Path) -> Result<Self> {
        let base = cache.join(format!("debian-{SUITE}-base"));
        if !is_fresh(&base.join(".complete")) {
            bootstrap(&base)?;
        }
        let path = cache.join(names::unique_name());
        cmd::run(Command::new("cp").arg("-a").arg(&base).arg(&path))?;
        tracing::debug!(path = %path.display(), "debian root copied");
        Ok(Self { path })
    }

    /// The root folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `args` inside the root (not booted), with the host's network; must succeed.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let mut command = Command::new("systemd-nspawn");
        command
            .args(["--quiet", "--register=no", "--keep-unit", "--directory"])
            .arg(&self.path)
            .args(["--setenv=DEBIAN_FRONTEND=noninteractive", "--"])
            .args(args);
        cmd::run(&mut command)
    }
}

impl Drop for DebianRoot {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "debian root left behind");
        }
    }
}

/// Whether the base's marker exists and is younger than [`BASE_LIFETIME`].
fn is_fresh(marker: &Path) -> bool {
    let age = std::fs::metadata(marker)
        .and_then(|m| m.modified())
        .map(|modified| modified.elapsed().unwrap_or_default());
    age.is_ok_and(|age| age < BASE_LIFETIME)
}

/// debootstrap into a staging folder, renamed to `base` once complete.
fn bootstrap(base: &Path) -> Result<()> {
    let staging = base.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    tracing::debug!(path = %base.display(), "debootstrap {SUITE}");
    let mut command = Command::new("debootstrap");
    command
        .args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
        .arg(&staging)
        .arg(MIRROR);
    if let Err(error) = cmd::run(&mut command) {
        // debootstrap unmounts what it mounted inside when it fails, unless it was killed.
        for mount in ["proc", "sys", "dev/pts"] {
            let _ = Command::new("umount")
                .arg("--lazy")
                .arg(staging.join(mount))
                .output();
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    let marker = staging.join(".complete");
    std::fs::write(&marker, "").map_err(|e| LabError::file(&marker, e))?;
    let _ = std::fs::remove_dir_all(base);
    std::fs::rename(&staging, base).map_err(|e| LabError::file(base, e))
}

/// A booted container; powered off when dropped.
#[derive(Debug)]
pub struct Container {
    name: String,
    nspawn: LabProcess,
    leader: u32,
}

impl Container {
    /// Boots `root` and waits until systemd says the system is running.
    pub fn boot(root: &DebianRoot) -> Result<Self> {
        let name = names::unique_name();
        let mut command = Command::new("systemd-nspawn");
        command
            .env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1")
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
            ])
            .args(["--console=passive", "--machine", &name, "--directory"])
            .arg(root.path());
        let nspawn = LabProcess::spawn(&format!("nspawn-{name}"), command)?;
        let mut container = Self {
            name,
            nspawn,
            leader: 0,
        };
        container.leader = container.wait_for_leader()?;
        match container.wait_for_boot()?.as_str() {
            "running" => Ok(container),
            other => Err(container.not_ready(&format!("systemd says {other:?}"))),
        }
    }

    /// systemd's answer once the boot is over. Until its socket is up, systemctl answers
    /// nothing or "offline"; "degraded" (a unit failed) is an answer, and an error for the
    /// caller: a clean boot is the baseline the packages are judged against.
    fn wait_for_boot(&mut self) -> Result<String> {
        let start = Instant::now();
        while start.elapsed() < BOOT_PATIENCE && self.nspawn.is_running() {
            let state = self.output(&["systemctl", "is-system-running", "--wait"])?;
            let state = stdout(&state).trim().to_owned();
            if !["", "offline", "initializing", "starting"].contains(&state.as_str()) {
                return Ok(state);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(self.not_ready("systemd never answered"))
    }

    /// The container's name (`vg-<pid>-<n>`), its host name too.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's PID of the container's systemd.
    pub fn leader(&self) -> u32 {
        self.leader
    }

    /// Runs `args` in the container as root, with a clean environment; the output, whatever
    /// the exit status.
    pub fn output(&self, args: &[&str]) -> Result<Output> {
        let mut command = self.command(args);
        command.output().map_err(|source| LabError::Spawn {
            program: cmd::describe(&command),
            source,
        })
    }

    /// Runs `args` in the container as root; it must succeed.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        cmd::run(&mut self.command(args))
    }

    /// A host program run in the container's network namespace only (its files are the
    /// host's): `ip`, `nft`.
    pub fn net_command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["--target", &self.leader.to_string(), "--net", "--"])
            .arg(program);
        command
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .env_clear()
            .env("PATH", PATH)
            .env("LANG", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["--target", &self.leader.to_string(), "--all", "--"])
            .args(args);
        command
    }

    /// The child of `systemd-nspawn` is the container's init.
    fn wait_for_leader(&mut self) -> Result<u32> {
        let children = format!(
            "/proc/{}/task/{}/children",
            self.nspawn.pid(),
            self.nspawn.pid()
        );
        let start = Instant::now();
        while start.elapsed() < BOOT_PATIENCE && self.nspawn.is_running() {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(pid) = text.split_whitespace().find_map(|p| p.parse().ok()) {
                if is_systemd(pid) {
                    return Ok(pid);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(self.not_ready("no init process"))
    }

    fn not_ready(&self, why: &str) -> LabError {
        LabError::NotReady {
            what: format!("container {} ({why})", self.name),
            waited: BOOT_PATIENCE,
            details: self.nspawn.log_tail(30),
        }
    }

    /// Powers the container off: systemd-nspawn turns TERM into an orderly shutdown of the
    /// container's systemd, and is killed if that takes too long.
    pub fn power_off(&mut self) -> Result<()> {
        self.nspawn.stop_with_grace(BOOT_PATIENCE)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Err(error) = self.power_off() {
            tracing::warn!(%error, name = %self.name, "the container could not be stopped");
        }
        // systemd-nspawn cannot delete this folder of its own where /run is not a tmpfs.
        let _ = std::fs::remove_dir(Path::new("/run/systemd/nspawn/propagate").join(&self.name));
    }
}

fn is_systemd(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "systemd")
}

/// A command's standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
