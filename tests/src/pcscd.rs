//! A real `pcscd` with the `vpcd` virtual reader driver, private to the lab.
//!
//! pcsc-lite 1.9 has fixed paths: the daemon always binds `/run/pcscd/pcscd.comm` and writes
//! `/run/pcscd/pcscd.pid` (only the *client* library reads `PCSCLITE_CSOCK_NAME`), and vpcd
//! listens on TCP ports of all interfaces. So each instance runs:
//! - in its own network namespace (`ip netns exec`), where vpcd's ports are private: several
//!   instances, or the machine's own pcscd, never collide on 35963;
//! - in the private mount namespace `ip netns exec` creates, where the instance's folder
//!   `/tmp/vigie-lab/<name>/` is bind-mounted on `/run/pcscd`: the socket and pid file land
//!   in that folder, visible from outside at [`Pcscd::socket_path`], and the host's
//!   `/run/pcscd` is untouched;
//! - with its own reader configuration (`-c`): one vpcd reader entry, whose two slots are
//!   named `Vigie Lab 0 00 00` and `Vigie Lab 0 00 01` and listen on 35963 and 35964.
//!
//! Why only two readers: Debian's vpcd (3.3) keeps its connection state in an array indexed
//! by slot number only, so a second `DEVICENAME` entry in the same pcscd overwrites the first
//! one's sockets (checked: with four entries only the last entry's ports answer). Two slots
//! per pcscd is what vpcd gives.
//!
//! A client reaches an instance by setting `PCSCLITE_CSOCK_NAME` to [`Pcscd::socket_path`]:
//! [`Pcscd::client_env`] gives the pair for a child process. The client library reads that
//! variable once per process, so a test binary uses one instance at a time: [`Pcscd::shared`]
//! starts it (or returns the live one), points this process's PC/SC library at it (through a
//! fixed symbolic link, `/tmp/vigie-lab/vg-<pid>-shared-pcscd.comm`), and hands out one
//! [`ReaderSlot`] per test, so tests running in parallel threads each get their own reader;
//! a third test waits in [`Pcscd::take_slot`] until a slot is given back.
//! The shared instance stops when the last handle to it drops; the next test starts a new
//! one, in its own folder, and moves the link to it.

mod env;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::card::VpcdTarget;
use crate::error::{LabError, Result};
use crate::netns::NetNs;
use crate::process::{LabProcess, log_root};

/// vpcd's first port (`0x8C7B`).
pub const VPCD_BASE_PORT: u16 = 35963;
/// Slots per vpcd reader entry (Debian's build).
pub const SLOTS_PER_READER: usize = 2;
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

/// How to start an instance.
#[derive(Debug, Clone)]
pub struct PcscdConfig {
    /// Start with `--debug --apdu` (verbose log, every APDU) instead of `--info`.
    pub debug: bool,
    /// How long to wait for "daemon ready".
    pub ready_timeout: Duration,
}

impl Default for PcscdConfig {
    fn default() -> Self {
        Self {
            debug: true,
            ready_timeout: Duration::from_secs(20),
        }
    }
}

/// A running pcscd. Stopped (by PID), with its namespace and files removed, on drop.
#[derive(Debug)]
pub struct Pcscd {
    process: Mutex<LabProcess>,
    dir: PathBuf,
    slots: Mutex<Vec<bool>>,
    slot_freed: Condvar,
    shared: bool,
    // Dropped after the process, so pcscd never outlives its namespace.
    netns: NetNs,
}

static SHARED: Mutex<Weak<Pcscd>> = Mutex::new(Weak::new());

impl Pcscd {
    /// Starts an instance whose socket is in a fresh folder.
    pub fn start(config: &PcscdConfig) -> Result<Self> {
        let dir = log_root().join(format!("{}-pcscd", crate::names::unique_name()));
        Self::start_in(dir, config)
    }

    /// The instance of this test process, started if none is running.
    ///
    /// The first call points this process's PC/SC client library at it (see the module
    /// docs): call it before any PC/SC call of the process.
    pub fn shared() -> Result<Arc<Self>> {
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(live) = shared.upgrade() {
            return Ok(live);
        }
        let link = shared_socket_link();
        env::point_client_library_at(&link);
        let mut pcscd = Self::start(&PcscdConfig::default())?;
        pcscd.shared = true;
        replace_symlink(&pcscd.socket_path(), &link)?;
        let pcscd = Arc::new(pcscd);
        *shared = Arc::downgrade(&pcscd);
        Ok(pcscd)
    }

    fn start_in(dir: PathBuf, config: &PcscdConfig) -> Result<Self> {
        let conf_dir = dir.join("reader.conf.d");
        std::fs::create_dir_all(&conf_dir).map_err(|e| LabError::file(&conf_dir, e))?;
        let conf = conf_dir.join("vpcd");
        std::fs::write(&conf, reader_conf(1)).map_err(|e| LabError::file(&conf, e))?;
        std::fs::create_dir_all("/run/pcscd").map_err(|e| LabError::file("/run/pcscd", e))?;
        let netns = NetNs::new()?;
        let mut command = netns.command("sh");
        let verbosity = if config.debug {
            "--debug --apdu"
        } else {
            "--info"
        };
        let script = format!(
            "mount --bind \"$0\" /run/pcscd && exec pcscd --foreground {verbosity} -c \"$1\""
        );
        command.args(["-c", &script]).arg(&dir).arg(&conf_dir);
        let process = LabProcess::spawn_in(&dir, "pcscd", command)?;
        let pcscd = Self {
            process: Mutex::new(process),
            dir,
            slots: Mutex::new(vec![false; SLOTS_PER_READER]),
            slot_freed: Condvar::new(),
            shared: false,
            netns,
        };
        pcscd.wait_ready(config.ready_timeout)?;
        Ok(pcscd)
    }

    fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut process = self.process.lock().unwrap_or_else(PoisonError::into_inner);
            let log = std::fs::read_to_string(process.stdout_path()).unwrap_or_default();
            if log.contains("daemon ready") && self.socket_path().exists() {
                tracing::debug!(pid = process.pid(), socket = %self.socket_path().display(), "pcscd ready");
                return Ok(());
            }
            if !process.is_running() || start.elapsed() >= timeout {
                return Err(LabError::NotReady {
                    what: format!("pcscd (pid {})", process.pid()),
                    waited: start.elapsed(),
                    details: process.log_tail(20),
                });
            }
            drop(process);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The socket clients connect to; put it in `PCSCLITE_CSOCK_NAME`.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("pcscd.comm")
    }

    /// The environment variable a child process needs to use this instance.
    pub fn client_env(&self) -> (&'static str, PathBuf) {
        ("PCSCLITE_CSOCK_NAME", self.socket_path())
    }

    /// The network namespace pcscd (and so vpcd's ports) lives in.
    pub fn netns(&self) -> &NetNs {
        &self.netns
    }

    /// The folder with the configuration, the socket and the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// pcscd's process id.
    pub fn pid(&self) -> u32 {
        self.process
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pid()
    }

    /// The last lines of pcscd's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log_tail(lines)
    }

    /// How many slots (readers) the instance has.
    pub fn slot_count(&self) -> usize {
        SLOTS_PER_READER
    }

    /// Takes a free reader slot, waiting for one if all are in use.
    ///
    /// On the shared instance, also waits until pcscd shows the reader empty, so the test
    /// never sees the previous test's card (vpcd notices a removal only at its next presence
    /// poll, every 400 ms, and the previous holder may drop the slot before its card).
    pub fn take_slot(self: &Arc<Self>) -> ReaderSlot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let index = loop {
            if let Some(index) = slots.iter().position(|used| !used) {
                slots[index] = true;
                break index;
            }
            slots = self
                .slot_freed
                .wait(slots)
                .unwrap_or_else(PoisonError::into_inner);
        };
        drop(slots);
        if self.shared {
            wait_until_empty(&Self::reader_name(index), Duration::from_secs(20));
        }
        ReaderSlot {
            pcscd: Arc::clone(self),
            index,
        }
    }

    /// The PC/SC name of slot `index`.
    pub fn reader_name(index: usize) -> String {
        format!(
            "Vigie Lab {} 00 {:02X}",
            index / SLOTS_PER_READER,
            index % SLOTS_PER_READER
        )
    }

    /// Where vpcd listens for slot `index`, inside this instance's namespace.
    pub fn vpcd_target(&self, index: usize) -> VpcdTarget {
        let port = VPCD_BASE_PORT + u16::try_from(index).unwrap_or(u16::MAX);
        VpcdTarget {
            netns: Some(self.netns.name().to_owned()),
            addr: ([127, 0, 0, 1], port).into(),
        }
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        let process = self
            .process
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = process.stop() {
            tracing::warn!(%err, "could not stop pcscd");
        }
        if std::env::var_os("VIGIE_LAB_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(self.dir.join("reader.conf.d"));
        }
        if self.shared {
            // Under the lock, so a newer shared instance's link is never the one removed.
            let _shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
            let link = shared_socket_link();
            if std::fs::read_link(&link).is_ok_and(|target| target == self.socket_path()) {
                let _ = std::fs::remove_file(&link);
            }
        }
    }
}

/// The fixed socket path this process's PC/SC library uses: a symbolic link to the socket of
/// the shared instance of the moment. Each instance has its own folder, so one that is
/// still stopping never deletes the files of the next.
fn shared_socket_link() -> PathBuf {
    log_root().join(format!("vg-{}-shared-pcscd.comm", std::process::id()))
}

/// Points `link` at `target`, atomically (a new link renamed over the old one).
fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    let staging = link.with_extension(format!("new-{}", crate::names::unique_name()));
    std::os::unix::fs::symlink(target, &staging).map_err(|e| LabError::file(&staging, e))?;
    std::fs::rename(&staging, link).map_err(|e| LabError::file(link, e))
}

fn reader_conf(readers: usize) -> String {
    let mut conf = String::new();
    for r in 0..readers {
        let port = usize::from(VPCD_BASE_PORT) + r * SLOTS_PER_READER;
        conf.push_str(&format!(
            "FRIENDLYNAME \"Vigie Lab {r}\"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n\n"
        ));
    }
    conf
}

/// Waits until pcscd reports no card in `reader`.
fn wait_until_empty(reader: &str, timeout: Duration) {
    use pcsc::{Context, ReaderState, Scope, State};
    let ctx = match Context::establish(Scope::User) {
        Ok(ctx) => ctx,
        Err(err) => {
            tracing::warn!(reader, %err, "cannot ask pcscd whether the reader is empty");
            return;
        }
    };
    let Ok(name) = std::ffi::CString::new(reader) else {
        return;
    };
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ctx
            .get_status_change(Some(Duration::from_millis(200)), &mut states)
            .is_ok()
            && states[0].event_state().contains(State::EMPTY)
        {
            return;
        }
        states[0].sync_current_state();
    }
    tracing::warn!(
        reader,
        "a card is still present in the reader after the test released it"
    );
}

/// One reader (vpcd slot) of a [`Pcscd`], reserved for one test until dropped.
///
/// Remove (drop) the card inserted in it by the end of the test: the next test to take the
/// slot waits until pcscd shows it empty.
#[derive(Debug)]
pub struct ReaderSlot {
    pcscd: Arc<Pcscd>,
    index: usize,
}

impl ReaderSlot {
    /// The reader's PC/SC name (what `SCardListReaders` shows).
    pub fn reader_name(&self) -> String {
        Pcscd::reader_name(self.index)
    }

    /// Where a [`crate::card::VirtualCard`] connects to be inserted in this reader.
    pub fn vpcd_target(&self) -> VpcdTarget {
        self.pcscd.vpcd_target(self.index)
    }

    /// The pcscd this slot belongs to.
    pub fn pcscd(&self) -> &Arc<Pcscd> {
        &self.pcscd
    }
}

impl From<&ReaderSlot> for VpcdTarget {
    fn from(slot: &ReaderSlot) -> Self {
        slot.vpcd_target()
    }
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        let mut slots = self
            .pcscd
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slots[self.index] = false;
        self.pcscd.slot_freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_conf_has_one_entry_per_reader_two_ports_apart() {
        let conf = reader_conf(3);
        assert_eq!(conf.matches("FRIENDLYNAME").count(), 3);
        assert!(conf.contains("DEVICENAME /dev/null:35963\n"));
        assert!(conf.contains("DEVICENAME /dev/null:35967\n"));
        assert_eq!(reader_conf(1).matches("DEVICENAME").count(), 1);
    }

    #[test]
    fn reader_names_follow_pcscd_numbering() {
        assert_eq!(Pcscd::reader_name(0), "Vigie Lab 0 00 00");
        assert_eq!(Pcscd::reader_name(3), "Vigie Lab 1 00 01");
    }
}
