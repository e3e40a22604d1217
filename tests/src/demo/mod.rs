//! `vigie-lab demo`: Vigie's main job, end to end, for a person at a terminal.
//!
//! ```text
//!  lab pcscd (own netns) ◀── vpcd ── virtual CPS4 card (this process)
//!       ▲ Unix socket
//!  "laptop" netns: vigie card / up / status, curl ── veth ──▶ "connector" netns:
//!   TUN vigie0, routes to the apps only          :443 control   vigie-connector serve
//!                                                :51820 WireGuard       │ veth
//!                                                          "LAN" netns: DPI :80, Dovecot :143,
//!                                                                       staff portal :8000 (SSO),
//!                                                                       HR portal :8080
//! ```
//!
//! The steps, each narrated in plain sentences ([`narrate`]): a test PKI with the real
//! `vigie-pki` ([`site`]), the laptop and the lab's pcscd with the emulated CPS4 card
//! ([`laptop`]), the hospital's LAN with its real servers ([`lan`]), a hospital site
//! ([`hospital`]) seeded through the real `vigie-connector` CLI (HR export, cards, two apps
//! and their grants), the connector serving in its own network namespace, and the real
//! `vigie` reading the card and bringing the session and its tunnel up; curl on the laptop
//! then reaches the DPI and the mail by name, is signed in to the staff portal by the
//! connector's SSO without a prompt, and does not reach the HR portal; a suspended nurse's
//! card is refused. Then it stays up until Ctrl-C, pulling the card out and putting it back when
//! the person presses Enter ([`signals`]).
//!
//! What it is not: a test harness. It checks only that the apps answered through the tunnel
//! (it stops with an error otherwise); `tests/lab_demo.rs` runs it with [`DemoConfig::once`]
//! and checks what it printed and that it left nothing behind.
//!
//! Everything it starts sits behind the lab's guards ([`crate::NetNs`], [`crate::LabProcess`],
//! [`crate::Pcscd`]), dropped in reverse order when the demo ends, however it ends. Files stay
//! in the demo folder for the person to read; the next run replaces them.

pub mod binaries;
pub mod hospital;
pub mod lan;
pub mod laptop;
pub mod narrate;
pub mod signals;
pub mod site;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::LabError;

pub use binaries::Binaries;
use laptop::Laptop;
use signals::{Event, Interrupt};

/// The file that marks a folder as the demo's own, so a re-run may replace what is in it.
const MARKER: &str = ".vigie-lab-demo";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Where the PKI, the connector's site and the logs are written.
    pub dir: PathBuf,
    /// Where `vigie`, `vigie-connector` and `vigie-pki` are.
    pub binaries: Binaries,
    /// Run the steps, end the session and clean up, without waiting for the person.
    pub once: bool,
}

/// Why the demo stopped before its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A lab resource (namespace, pcscd, card, process) failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// A Vigie binary is not where the demo looks.
    #[error(
        "{path} is missing: build Vigie first (cargo build --workspace --bins), or name the \
         folder of the binaries with --bin-dir"
    )]
    MissingBinary {
        /// Where the binary was expected.
        path: PathBuf,
    },
    /// The folder given with `--dir` holds something that is not the demo's.
    #[error(
        "{dir} exists and was not made by vigie-lab demo; name an empty or new folder with --dir"
    )]
    ForeignDir {
        /// The folder.
        dir: PathBuf,
    },
    /// A step did not give what the demo needs.
    #[error("{step}: {detail}")]
    Step {
        /// The step, as narrated.
        step: &'static str,
        /// What went wrong, with the tool's own words.
        detail: String,
    },
    /// The person pressed Ctrl-C (or the demo got SIGTERM) during the steps.
    #[error("stopped by a signal before the demo was up")]
    Interrupted,
}

/// The demo's result type.
pub type Result<T, E = DemoError> = std::result::Result<T, E>;

/// Runs the demo: the steps, then (unless [`DemoConfig::once`]) the interactive part until
/// Ctrl-C; everything created is removed before it returns.
pub fn run(config: &DemoConfig) -> Result<()> {
    let interrupt = Interrupt::install();
    config.binaries.check()?;
    prepare_dir(&config.dir)?;
    let dir = std::path::absolute(&config.dir).map_err(|e| LabError::File {
        path: config.dir.clone(),
        source: e,
    })?;
    let result = run_steps(config, &dir, &interrupt);
    narrate::heading("Cleaned up");
    narrate::say(&format!(
        "The demo stopped the processes it started (by PID) and deleted its network namespaces \
         (by name). Its files stay in {} for you to read.",
        dir.display()
    ));
    result
}

fn run_steps(config: &DemoConfig, dir: &Path, interrupt: &Interrupt) -> Result<()> {
    let world = site::write_pki(&config.binaries, &dir.join("pki"))?;
    interrupt.check()?;
    let people = hospital::people(&world)?;
    let laptop = Laptop::start(&config.binaries, dir, &world, &people)?;
    interrupt.check()?;
    let lan = lan::Lan::start(laptop.connector_netns(), &world, &dir.join("lan"))?;
    interrupt.check()?;
    let site = site::Site::seed(
        &config.binaries,
        dir,
        &world,
        laptop.connector_ip(),
        (lan.connector_side(), lan.host()),
    )?;
    let address = laptop.connector_address();
    let serving = site.serve(laptop.connector_netns(), &address, interrupt)?;
    laptop.show_card(interrupt)?;
    let mut session = laptop.up(&serving, interrupt)?;
    if !lan::show_reach(laptop.netns(), &lan, &dir.join("lan"))? {
        return Err(DemoError::Step {
            step: "through the tunnel",
            detail: format!(
                "the apps were not reached as they should be; see the connector's log in {} \
                 and vigie up's in {}",
                dir.join("connector").display(),
                dir.join("laptop/logs").display()
            ),
        });
    }
    laptop.show_refusal(&world, &serving.address, interrupt)?;
    site.show_audit()?;
    narrate::not_there_yet();
    if config.once {
        return session.down(&laptop);
    }
    narrate::things_to_try(&things_to_try(&site, &laptop, &lan));
    interact(&laptop, &mut session, interrupt)?;
    session.down(&laptop)
}

/// What the person may run in another terminal while the demo stays up.
fn things_to_try(
    site: &site::Site,
    laptop: &Laptop,
    lan: &lan::Lan,
) -> Vec<(&'static str, String)> {
    let doctor = site.people()[0].id_nat.as_str();
    let on_laptop = |line: &str| format!("ip netns exec {} {line}", laptop.netns().name());
    let (login, password) = lan::MAIL_LOGIN;
    vec![
        (
            "The session, its tunnel and its traffic, as the laptop sees it:",
            laptop.vigie_line("status"),
        ),
        (
            "The patient record, through the tunnel:",
            on_laptop("curl http://dpi.hopital.test/"),
        ),
        (
            "The doctor's mail, over IMAP through the tunnel:",
            on_laptop(&format!(
                "curl --user {login}:{password} imap://mail.hopital.test/INBOX"
            )),
        ),
        (
            "The staff portal, which signs her in with the hospital's SSO (no password):",
            on_laptop(&format!(
                "curl -L -c /tmp/portal.jar -b /tmp/portal.jar --cacert {} \
                 http://portal.hopital.test:{}/",
                lan.ca_file().display(),
                hospital::PORTAL_PORT
            )),
        ),
        (
            "The HR portal, published to nobody: refused at once.",
            on_laptop(&format!("curl http://dpi.hopital.test:{}/", lan::HR_PORT)),
        ),
        (
            "What the laptop's routes and names say (only the apps go to the tunnel):",
            on_laptop("sh -c 'ip route; cat /etc/hosts'"),
        ),
        (
            "The hospital's LAN, where the apps run:",
            format!("ip netns exec {} ss -tlnp", lan.name()),
        ),
        (
            "The card, its holder and its PIN tries:",
            laptop.vigie_line("card"),
        ),
        (
            "The doctor, as the connector's directory sees her:",
            site.admin_line(&["user", "show", doctor]),
        ),
        (
            "The audit log's hash chain:",
            site.admin_line(&["audit", "verify"]),
        ),
        (
            "The published apps and their grants:",
            site.admin_line(&["app", "list"]),
        ),
    ]
}

/// Enter pulls the card out or puts it back; Ctrl-C ends.
fn interact(laptop: &Laptop, session: &mut laptop::Session, interrupt: &Interrupt) -> Result<()> {
    let events = interrupt.with_keyboard();
    loop {
        match events.recv_timeout(Duration::from_millis(500)) {
            Ok(Event::Stop) => return Ok(()),
            Ok(Event::Enter) => laptop.toggle_card()?,
            Ok(Event::StdinClosed) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if !session.is_running() {
            narrate::say("vigie up has ended; its last words:");
            narrate::indented(&session.output());
            narrate::say("Press Ctrl-C to end the demo.");
            return interrupt.wait();
        }
    }
}

/// Creates `dir`, or empties the parts of it a previous run wrote; refuses anything else.
fn prepare_dir(dir: &Path) -> Result<()> {
    let foreign = || DemoError::ForeignDir {
        dir: dir.to_owned(),
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| LabError::File {
            path: dir.to_owned(),
            source: e,
        })?;
        if entries.next().is_some() && !dir.join(MARKER).is_file() {
            return Err(foreign());
        }
    }
    for part in ["pki", "connector", "laptop", "lan"] {
        let path = dir.join(part);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| LabError::File { path, source: e })?;
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| LabError::File {
        path: dir.to_owned(),
        source: e,
    })?;
    let marker = dir.join(MARKER);
    std::fs::write(
        &marker,
        "written by vigie-lab demo; the next run replaces this folder\n",
    )
    .map_err(|e| LabError::File {
        path: marker,
        source: e,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_folder_is_refused_and_the_demo_s_own_is_reused() {
        let dir = crate::process::log_root().join(format!("{}-demo", crate::names::unique_name()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        assert!(matches!(
            prepare_dir(&dir),
            Err(DemoError::ForeignDir { .. })
        ));
        std::fs::remove_file(dir.join("notes.txt")).unwrap();
        prepare_dir(&dir).unwrap();
        std::fs::create_dir_all(dir.join("pki/old")).unwrap();
        prepare_dir(&dir).unwrap();
        assert!(
            !dir.join("pki").exists(),
            "a previous run's PKI is replaced"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
