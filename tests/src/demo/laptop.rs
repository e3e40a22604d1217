//! The clinician's side of the demo: a "laptop" network namespace joined to the connector's
//! by a veth on 198.18.0.0/15, the lab's pcscd with the emulated CPS4 card in its first
//! reader, and the real `vigie` run inside the laptop namespace.
//!
//! pcscd lives in a namespace of its own and is reached through its Unix socket
//! (`PCSCLITE_CSOCK_NAME`), which works from any network namespace.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::binaries::Binaries;
use super::hospital::Person;
use super::narrate::{command, heading, indented, say};
use super::signals::Interrupt;
use super::site::{PORT, Pki, SERVER_NAME, Serving, run_shown};
use super::{DemoError, Result};
use crate::card::{InsertedCard, VirtualCard};
use crate::error::LabError;
use crate::{LabProcess, NetNs, Pcscd, PcscdConfig, VethLink};

/// The card the demo puts in the reader.
pub const CARD: &str = "cps4-doctor";

/// The laptop, its reader and card, and the network to the connector. Dropped in field order:
/// the card, pcscd, the link, then the namespaces.
#[derive(Debug)]
pub struct Laptop {
    inserted: Mutex<Option<InsertedCard>>,
    card: VirtualCard,
    pcscd: Pcscd,
    link: VethLink,
    netns: NetNs,
    connector_netns: NetNs,
    vigie: PathBuf,
    state_dir: PathBuf,
    server_ca: PathBuf,
    pin: String,
}

impl Laptop {
    /// Step 3's network and step 4's reader: namespaces, veth, pcscd, the card inserted.
    pub fn start(
        binaries: &Binaries,
        demo_dir: &Path,
        pki: &Pki,
        people: &[Person],
    ) -> Result<Self> {
        heading("A laptop, a card reader and a CPS4 card");
        let connector_netns = NetNs::new()?;
        let netns = NetNs::new()?;
        // vigie up writes the apps' names in the laptop's /etc/hosts: its own copy.
        netns.private_etc_file("hosts", "127.0.0.1\tlocalhost\n")?;
        let link = VethLink::new(&netns, &connector_netns)?;
        say(&format!(
            "Two network namespaces stand for the clinician's laptop ({}, {}) and the \
             hospital's edge ({}, {}), joined by a virtual cable. A real pcscd runs with the \
             vpcd virtual reader, and the demo plays a CPS4 card in it: {}'s, idNat {}.",
            netns.name(),
            link.addr_a(),
            connector_netns.name(),
            link.addr_b(),
            people[0].given_name,
            people[0].id_nat,
        ));
        let pcscd = Pcscd::start(&PcscdConfig {
            debug: false,
            ..PcscdConfig::default()
        })?;
        let identity = crate::card::CardIdentity::load(&pki.card_dir(CARD))?;
        let pin = String::from_utf8_lossy(identity.pin.expose()).into_owned();
        let card = VirtualCard::from_identity(&identity);
        let laptop = Self {
            inserted: Mutex::new(None),
            card,
            pcscd,
            link,
            netns,
            connector_netns,
            vigie: binaries.vigie.clone(),
            state_dir: demo_dir.join("laptop/state"),
            server_ca: pki.server_ca(),
            pin,
        };
        laptop.insert()?;
        Ok(laptop)
    }

    /// The hospital edge's namespace, where the connector runs.
    pub fn connector_netns(&self) -> &NetNs {
        &self.connector_netns
    }

    /// `HOST:PORT` of the connector, as the laptop reaches it.
    pub fn connector_address(&self) -> String {
        format!("{}:{PORT}", self.connector_ip())
    }

    /// The connector's address, as the laptop reaches it.
    pub fn connector_ip(&self) -> std::net::Ipv4Addr {
        self.link.addr_b()
    }

    /// The laptop's namespace.
    pub fn netns(&self) -> &NetNs {
        &self.netns
    }

    fn reader(&self) -> String {
        Pcscd::reader_name(0)
    }

    /// `vigie ARGS` inside the laptop, with the lab's pcscd and the demo's state folder.
    fn vigie(&self, args: &[&str]) -> Command {
        let (key, socket) = self.pcscd.client_env();
        let mut vigie = self.netns.command(&self.vigie.to_string_lossy());
        vigie
            .args(args)
            .env(key, socket)
            .env("VIGIE_STATE_DIR", &self.state_dir)
            .env_remove("VIGIE_PIN")
            .env_remove("VIGIE_PIN_FILE")
            .env_remove("VIGIE_CONNECTOR")
            .env_remove("VIGIE_READER");
        vigie
    }

    /// Step 4c: the suspended nurse's CPS4 card in the second reader, and her `vigie up`,
    /// refused by the connector. Her session would have its own state folder.
    pub fn show_refusal(&self, pki: &Pki, address: &str, interrupt: &Interrupt) -> Result<()> {
        interrupt.check()?;
        heading("A suspended nurse tries");
        say(
            "HR suspended the nurse: her card is valid and enrolled, but the connector's \
             directory says she may not work today. Her card goes in the second reader:",
        );
        let nurse = VirtualCard::load(&pki.card_dir("cps4-nurse"))?;
        let _inserted = nurse.insert(self.pcscd.vpcd_target(1))?;
        let reader = Pcscd::reader_name(1);
        self.wait_for_reader(&reader, true)?;
        let ca = self.server_ca.to_string_lossy().into_owned();
        command(&format!(
            "vigie up --connector {address} ... --reader '{reader}'"
        ));
        let mut up = self.vigie(&["up", "--connector", address, "--server-ca", &ca]);
        up.args(["--server-name", SERVER_NAME, "--reader", &reader])
            .env(
                "VIGIE_STATE_DIR",
                self.state_dir.with_file_name("state-nurse"),
            )
            .env("VIGIE_PIN", &self.pin);
        let output = up.output().map_err(|source| LabError::Spawn {
            program: "vigie up".into(),
            source,
        })?;
        indented(&String::from_utf8_lossy(&output.stdout));
        indented(&String::from_utf8_lossy(&output.stderr));
        // `vigie up`'s exit status for a session the connector refused (see `vigie up --help`).
        const SESSION_REFUSED: i32 = 6;
        if output.status.code() != Some(SESSION_REFUSED) {
            return Err(DemoError::Step {
                step: "the suspended nurse",
                detail: format!("expected the connector's refusal, got {}", output.status),
            });
        }
        say("The refusal names its reason and its code, and the connector audited it.");
        Ok(())
    }

    /// `vigie ARGS` as a person types it in another terminal.
    pub fn vigie_line(&self, args: &str) -> String {
        let (key, socket) = self.pcscd.client_env();
        format!(
            "{key}={} VIGIE_STATE_DIR={} ip netns exec {} {} {args}",
            socket.display(),
            self.state_dir.display(),
            self.netns.name(),
            self.vigie.display()
        )
    }

    fn insert(&self) -> Result<()> {
        let inserted = self.card.insert(self.pcscd.vpcd_target(0))?;
        *self.lock() = Some(inserted);
        self.wait_for_reader(&self.reader(), true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<InsertedCard>> {
        self.inserted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pulls the card out if it is in, puts it back otherwise.
    pub fn toggle_card(&self) -> Result<()> {
        let taken = self.lock().take();
        if let Some(inserted) = taken {
            inserted.remove();
            self.wait_for_reader(&self.reader(), false)?;
            say(
                "The card is out of the reader. vigie up pauses the session; `vigie status` \
                 says so. Press Enter to put the card back.",
            );
            return Ok(());
        }
        self.insert()?;
        say(
            "The card is back. vigie up checks it again (the PIN, here from VIGIE_PIN) and the \
             session goes on.",
        );
        Ok(())
    }

    /// Waits until pcscd shows the card in (or out of) the reader.
    fn wait_for_reader(&self, reader: &str, present: bool) -> Result<()> {
        let wanted = format!(
            "{reader}\t{}",
            if present { "card inserted" } else { "empty" }
        );
        let start = Instant::now();
        loop {
            let out = crate::cmd::run(&mut self.vigie(&["readers"]));
            let listing = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            if listing
                .as_ref()
                .is_ok_and(|l| l.lines().any(|l| l == wanted))
            {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(DemoError::Step {
                    step: "waiting for the reader",
                    detail: format!(
                        "pcscd never showed {wanted:?}: {listing:?}{}",
                        self.pcscd.log_tail(20)
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Step 4a: `vigie card`.
    pub fn show_card(&self, interrupt: &Interrupt) -> Result<()> {
        interrupt.check()?;
        heading("The laptop reads the card");
        say(
            "vigie card is what the help desk asks for first: the reader, the card's \
             generation, and whose card it is, read from the card itself.",
        );
        command(&format!("vigie card --reader '{}'", self.reader()));
        let out = run_shown(
            "vigie card",
            &mut self.vigie(&["card", "--reader", &self.reader()]),
        )?;
        indented(&out);
        Ok(())
    }

    /// Step 4b: `vigie up`, until the session is connected.
    pub fn up(&self, serving: &Serving, interrupt: &Interrupt) -> Result<Session> {
        interrupt.check()?;
        heading("vigie up: the card opens the session");
        say(&format!(
            "vigie up connects to the connector at {} (over QUIC: a CPS4 card signs TLS 1.3). \
             The card signs the handshake after the PIN: a real user types it; here the \
             environment variable VIGIE_PIN answers for them. The connector checks the \
             certificate chain, the revocation lists and the directory, then grants the \
             session and the apps, and vigie up brings the tunnel up: a network device with \
             routes for those apps only, WireGuard to the connector, and the apps' names.",
            serving.address
        ));
        let mut session = self.spawn_up(&serving.address)?;
        self.wait_connected(&mut session, interrupt)?;
        say("vigie up printed the grant, the apps this doctor may reach:");
        indented(&session.output());
        say("And vigie status, from any terminal of the laptop:");
        command("vigie status");
        indented(&run_shown("vigie status", &mut self.vigie(&["status"]))?);
        Ok(session)
    }

    /// Starts `vigie up` against `address`, with the PIN from `VIGIE_PIN`.
    fn spawn_up(&self, address: &str) -> Result<Session> {
        let ca = self.server_ca.to_string_lossy().into_owned();
        let reader = self.reader();
        command(&format!(
            "vigie up --connector {address} --server-ca {ca} --server-name {SERVER_NAME} \
             --reader '{reader}'"
        ));
        let mut up = self.vigie(&["up", "--connector", address, "--server-ca", &ca]);
        up.args(["--server-name", SERVER_NAME, "--reader", &reader])
            .env("VIGIE_PIN", &self.pin)
            .process_group(0);
        super::signals::unblock_in_child(&mut up);
        let log_dir = self.state_dir.with_file_name("logs");
        std::fs::create_dir_all(&log_dir).map_err(|e| LabError::File {
            path: log_dir.clone(),
            source: e,
        })?;
        Ok(Session {
            process: LabProcess::spawn_in(&log_dir, "vigie-up", up)?,
        })
    }

    fn wait_connected(&self, session: &mut Session, interrupt: &Interrupt) -> Result<()> {
        let start = Instant::now();
        loop {
            let status = crate::cmd::run(&mut self.vigie(&["status"]));
            let status = status.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            if status.is_ok_and(|s| s.contains("Session:      connected")) {
                return Ok(());
            }
            interrupt.check()?;
            if !session.is_running() || start.elapsed() > Duration::from_secs(120) {
                return Err(DemoError::Step {
                    step: "vigie up",
                    detail: format!("no session{}", session.process.log_tail(30)),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A running `vigie up`; stopped by PID when dropped.
#[derive(Debug)]
pub struct Session {
    process: LabProcess,
}

impl Session {
    /// Whether `vigie up` still runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// What `vigie up` printed on standard output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.process.stdout_path()).unwrap_or_default()
    }

    /// `vigie down`, shown, then waits for `vigie up` to end.
    pub fn down(mut self, laptop: &Laptop) -> Result<()> {
        heading("vigie down: the session ends");
        command("vigie down");
        let out = run_shown("vigie down", &mut laptop.vigie(&["down"]))?;
        indented(&out);
        let start = Instant::now();
        while self.is_running() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.is_running() {
            return Err(DemoError::Step {
                step: "vigie down",
                detail: format!("vigie up still runs{}", self.process.log_tail(20)),
            });
        }
        Ok(())
    }
}
