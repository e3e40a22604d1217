//! The hospital's side of the demo: the test PKI, the connector's folder (configuration, HR
//! export, directory, audit), seeded through the real `vigie-connector` CLI, and `serve`.

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::binaries::Binaries;
use super::hospital::{PORTAL_PORT, Person, WIREGUARD_PORT, config_text, hr_csv, people};
use super::narrate::{command, heading, indented, say};
use super::signals::Interrupt;
use super::{DemoError, Result};
use crate::error::LabError;
use crate::{LabProcess, NetNs};

/// The name in the connector's test certificate (`vigie-pki` writes it).
pub const SERVER_NAME: &str = "connector.vigie.test";
/// The port the connector listens on in its namespace (TCP and UDP).
pub const PORT: u16 = 443;

/// The test PKI on disk.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// The folder `vigie-pki init` wrote.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The identity folder of card `name`.
    pub fn card_dir(&self, name: &str) -> PathBuf {
        self.dir.join("cards").join(name)
    }

    /// The root that signed the connector's certificate (the client's `--server-ca`, and
    /// what browsers and apps trust for the SSO issuer).
    pub fn server_ca(&self) -> PathBuf {
        self.dir.join("trust/roots/racine-elementaire.pem")
    }
}

/// Step 1: `vigie-pki init DIR`.
pub fn write_pki(binaries: &Binaries, dir: &Path) -> Result<Pki> {
    heading("A test PKI shaped like IGC-Santé");
    say(
        "Real CPS cards chain to the IGC-Santé authorities. The demo makes test ones of the \
         same shape: root and PERSONNES CAs, revocation lists, the connector's TLS certificate, \
         and the identities of eight CPS3 and CPS4 cards (PIN 1234). This takes a few seconds.",
    );
    let mut init = Command::new(&binaries.pki);
    init.arg("init").arg(dir);
    let out = run_shown("making the test PKI", &mut init)?;
    indented(&out);
    Ok(Pki {
        dir: dir.to_owned(),
    })
}

/// The connector's folder, seeded.
#[derive(Debug)]
pub struct Site {
    dir: PathBuf,
    connector: PathBuf,
    people: Vec<Person>,
}

impl Site {
    /// Step 2: configuration, HR export and sync, cards, apps on `backend` and grants;
    /// clients reach the connector at `public`.
    pub fn seed(
        binaries: &Binaries,
        demo_dir: &Path,
        pki: &Pki,
        public: Ipv4Addr,
        (lan, backend): (Ipv4Addr, Ipv4Addr),
    ) -> Result<Self> {
        heading("The hospital's connector: people, cards and apps");
        let dir = demo_dir.join("connector");
        create_dir(&dir)?;
        let people = people(pki)?;
        let config = config_text(pki, public, lan, backend);
        write_file(&dir.join("connector.toml"), &config)?;
        write_file(&dir.join("hr.csv"), &hr_csv(&people))?;
        let site = Self {
            dir,
            connector: binaries.connector.clone(),
            people,
        };
        say(&format!(
            "The connector's configuration is {}; the hospital's HR system exports its staff \
             to hr.csv next to it. Three people: a doctor and a pharmacist at work, and a nurse \
             who is suspended. The connector reads the export into its directory:",
            site.dir.join("connector.toml").display()
        ));
        site.admin_shown(&["hr", "sync"])?;
        site.enrol_cards(pki)?;
        site.publish_apps(backend)?;
        say("What the directory says about the doctor, and why she may reach each app:");
        let doctor = site.people[0].id_nat.clone();
        site.admin_shown(&["user", "show", &doctor])?;
        Ok(site)
    }

    fn enrol_cards(&self, pki: &Pki) -> Result<()> {
        say("The enrolment desk binds each person's card to them:");
        for person in &self.people {
            let cert = pki.card_dir(person.card).join("auth.crt.der");
            let cert = cert.to_string_lossy();
            self.admin_shown(&["card", "enrol", "--idnat", &person.id_nat, "--cert", &cert])?;
        }
        Ok(())
    }

    fn publish_apps(&self, backend: Ipv4Addr) -> Result<()> {
        say(
            "IT publishes three applications, the patient record (DPI, a web app), the mail \
             server and the staff portal (a web app that signs people in with the hospital's \
             SSO), and grants them: the DPI and the portal to doctors, mail to the emergency \
             and pharmacy departments. Each app gets a virtual address; clients never learn \
             the backend's.",
        );
        let backend = backend.to_string();
        let portal_port = format!("tcp/{PORTAL_PORT}");
        let apps = [
            ("dpi", "dpi.hopital.test", "tcp/80"),
            ("mail", "mail.hopital.test", "tcp/143"),
            ("portal", "portal.hopital.test", portal_port.as_str()),
        ];
        for (name, dns, port) in apps {
            self.admin_shown(&[
                "app",
                "publish",
                "--name",
                name,
                "--dns-name",
                dns,
                "--port",
                port,
                "--backend",
                &backend,
            ])?;
        }
        self.admin_shown(&["app", "grant", "dpi", "--profession", "Médecin"])?;
        self.admin_shown(&["app", "grant", "portal", "--profession", "Médecin"])?;
        self.admin_shown(&["app", "grant", "mail", "--group", "urgences"])?;
        self.admin_shown(&["app", "grant", "mail", "--group", "pharmacie"])?;
        Ok(())
    }

    /// The people of the HR export, the doctor first.
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// `vigie-connector --config … ARGS`, as a person would type it.
    pub fn admin_line(&self, args: &[&str]) -> String {
        format!(
            "{} --config {} {}",
            self.connector.display(),
            self.dir.join("connector.toml").display(),
            args.join(" ")
        )
    }

    fn admin(&self, args: &[&str]) -> Command {
        let mut admin = Command::new(&self.connector);
        admin
            .arg("--config")
            .arg(self.dir.join("connector.toml"))
            .args(args);
        admin
    }

    fn admin_shown(&self, args: &[&str]) -> Result<()> {
        command(&format!("vigie-connector {}", args.join(" ")));
        let out = run_shown("the connector's admin command", &mut self.admin(args))?;
        indented(&out);
        Ok(())
    }

    /// Step 3: `vigie-connector serve` in `netns`, until the returned guard drops.
    pub fn serve(&self, netns: &NetNs, address: &str, interrupt: &Interrupt) -> Result<Serving> {
        heading("The connector serves");
        say(&format!(
            "vigie-connector serve runs in its own network namespace ({}), as on the hospital's \
             edge, and listens on {address} for cards over QUIC (UDP) and TLS (TCP), and on UDP \
             port {WIREGUARD_PORT} for the tunnels (WireGuard). Its log: {}.",
            netns.name(),
            self.dir.join("serve.err").display()
        ));
        let mut serve = netns.command(&self.connector.to_string_lossy());
        serve
            .arg("--config")
            .arg(self.dir.join("connector.toml"))
            .args(["-v", "serve"])
            .process_group(0);
        super::signals::unblock_in_child(&mut serve);
        let mut process = LabProcess::spawn_in(&self.dir, "serve", serve)?;
        let line = wait_for_line(&mut process, "listening on", interrupt)?;
        indented(&line);
        Ok(Serving {
            process,
            address: address.to_owned(),
        })
    }

    /// `vigie-connector audit verify`, shown.
    pub fn show_audit(&self) -> Result<()> {
        heading("The audit log");
        say(
            "Every change and every admission decision above went into a hash-chained audit log; \
             the connector checks that no record was edited or removed:",
        );
        self.admin_shown(&["audit", "verify"])
    }
}

/// A running `vigie-connector serve`; stopped by PID when dropped.
#[derive(Debug)]
pub struct Serving {
    process: LabProcess,
    /// `HOST:PORT` clients connect to.
    pub address: String,
}

impl Serving {
    /// Whether the connector still runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

/// Runs a command to completion; its standard output, or an error quoting its standard error.
pub fn run_shown(step: &'static str, command: &mut Command) -> Result<String> {
    let output = crate::cmd::run(command).map_err(|e| DemoError::Step {
        step,
        detail: e.to_string(),
    })?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Waits until `process` prints a line containing `needle` on standard output.
pub fn wait_for_line(
    process: &mut LabProcess,
    needle: &str,
    interrupt: &Interrupt,
) -> Result<String> {
    let start = Instant::now();
    loop {
        let out = std::fs::read_to_string(process.stdout_path()).unwrap_or_default();
        if let Some(line) = out.lines().find(|l| l.contains(needle)) {
            return Ok(line.to_owned());
        }
        interrupt.check()?;
        if !process.is_running() || start.elapsed() > Duration::from_secs(120) {
            return Err(DemoError::Step {
                step: "waiting for a program to start",
                detail: format!(
                    "{} never printed {needle:?}{}",
                    process.label(),
                    process.log_tail(20)
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        DemoError::from(LabError::File {
            path: dir.to_owned(),
            source: e,
        })
    })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| {
        DemoError::from(LabError::File {
            path: path.to_owned(),
            source: e,
        })
    })
}
