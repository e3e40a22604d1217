//! The hospital side: a configuration, an HR export synchronised into the directory, the
//! doctor's and the nurse's cards enrolled, and `vigie-connector serve` on 127.0.0.1.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigie_certs::pki::World;
use vigie_lab::NetNs;
use vigie_lab::process::plain;

use super::{PATIENCE, TempDir, binaries};

const HR_HEADER: &str = "IDNAT;NOM;PRENOM;PROFESSION;SERVICES;STATUT;ENTREE;SORTIE";
const HR_ROWS: &[&str] = &[
    "899700123450;DOCTEUR;Jean;Médecin;urgences;ACTIF;01/01/2020;",
    "0751234567;INFIRMIERE;Claire;Infirmier;soins;ACTIF;01/01/2020;",
    "899700075122;PHARMACIEN;Paul;Pharmacien;pharmacie;SUSPENDU;01/01/2020;",
];
const ENROLLED: &[(&str, &str)] = &[
    ("cps3-doctor", "899700123450"),
    ("cps4-nurse", "0751234567"),
];

const DIRECTORY_AND_HR: &str = r#"
[directory]
path = "state/connector.db"
[audit]
dir = "audit"
[hr.csv]
path = "hr.csv"
date_format = "%d/%m/%Y"
[hr.csv.columns]
id_nat = "IDNAT"
surname = "NOM"
given_name = "PRENOM"
professions = "PROFESSION"
groups = "SERVICES"
status = "STATUT"
start_date = "ENTREE"
end_date = "SORTIE"
[hr.csv.status_values]
active = ["ACTIF"]
suspended = ["SUSPENDU"]
departed = ["SORTI"]
"#;

/// The apps of the admission tests: backends that need not exist.
pub const APPS: &str = r#"
[[app]]
name = "dpi"
dns_name = "dpi.hopital.example"
ports = ["tcp/443"]
backend = "198.18.10.1"
professions = ["Médecin"]

[[app]]
name = "mail"
dns_name = "mail.hopital.example"
ports = ["tcp/993", "tcp/587"]
backend = "198.18.10.2"
groups = ["urgences", "soins"]

[[app]]
name = "soins"
dns_name = "soins.hopital.example"
ports = ["tcp/8000-8010", "udp/5060"]
backend = "198.18.10.3"
groups = ["soins"]

[[app]]
name = "pharma"
dns_name = "pharma.hopital.example"
ports = ["tcp/8443"]
backend = "198.18.10.4"
professions = ["Pharmacien"]
"#;

/// What a test changes of the site's configuration.
pub struct Site {
    /// The `[listen]` section's lines.
    pub listen: String,
    /// Lines added to `[session]`.
    pub session: String,
    /// `[session] endpoints`, a TOML array.
    pub endpoints: String,
    /// Further sections (`[dataplane]`…).
    pub extra: String,
    /// The `[[app]]` sections.
    pub apps: String,
}

impl Default for Site {
    fn default() -> Self {
        Self {
            listen: "address = \"127.0.0.1\"\nport = 0".into(),
            session: String::new(),
            endpoints: "[\"198.18.0.2:443\"]".into(),
            extra: String::new(),
            apps: APPS.into(),
        }
    }
}

/// A running connector; stopped (by its PID) when dropped.
pub struct Connector {
    pub address: SocketAddr,
    dir: TempDir,
    child: Child,
}

impl Connector {
    /// Seeds a site for `world` and starts serving it on 127.0.0.1.
    pub fn start(world: &World) -> Self {
        Self::start_with(world, "", None)
    }

    /// Like [`start`](Self::start), with `session` lines added to `[session]`, and inside
    /// `netns` when given.
    pub fn start_with(world: &World, session: &str, netns: Option<&NetNs>) -> Self {
        let site = Site {
            session: session.into(),
            ..Site::default()
        };
        Self::start_site(world, &site, netns)
    }

    /// Seeds `site` for `world` and starts serving it, inside `netns` when given.
    pub fn start_site(world: &World, site: &Site, netns: Option<&NetNs>) -> Self {
        let dir = TempDir::new("-connector");
        let config = config(world, site);
        std::fs::write(dir.path().join("connector.toml"), config).expect("config");
        let hr: Vec<&str> = std::iter::once(HR_HEADER)
            .chain(HR_ROWS.iter().copied())
            .collect();
        std::fs::write(dir.path().join("hr.csv"), hr.join("\n") + "\n").expect("HR export");
        admin(&dir, &["hr", "sync"]);
        for (card, id_nat) in ENROLLED {
            let cert = world.card_dir(card).expect("card").join("auth.crt.der");
            let cert = cert.to_string_lossy();
            admin(&dir, &["card", "enrol", "--idnat", id_nat, "--cert", &cert]);
        }
        let (child, address) = spawn(&dir, netns);
        Self {
            address,
            dir,
            child,
        }
    }

    /// Stops the connector as systemd does (SIGTERM), waits for it, and starts it again on
    /// the same site, inside `netns` when given.
    pub fn restart(&mut self, netns: Option<&NetNs>) {
        self.stop();
        self.start_again(netns);
    }

    /// Stops the connector as systemd does (SIGTERM) and waits for it; it must exit cleanly.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let stopped = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(stopped.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = self.child.wait().expect("the connector exits");
        assert!(
            status.success(),
            "the connector stopped badly: {status}\n{}",
            self.log()
        );
    }

    /// Starts a stopped connector again on the same site, inside `netns` when given.
    pub fn start_again(&mut self, netns: Option<&NetNs>) {
        let (child, address) = spawn(&self.dir, netns);
        self.child = child;
        self.address = address;
    }

    /// Rewrites the site's configuration file for `world` and `site` (the running connector
    /// reads it again on `vigie-connector reload`).
    pub fn reconfigure(&self, world: &World, site: &Site) {
        let path = self.dir.path().join("connector.toml");
        std::fs::write(path, config(world, site)).expect("config");
    }

    /// Runs an admin command on the site while it serves; it must succeed. Its output.
    pub fn admin(&self, args: &[&str]) -> String {
        admin(&self.dir, args)
    }

    /// The connector's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Waits until the connector's log (debug level) has `count` lines with `text`.
    pub fn wait_log(&self, text: &str, count: usize) {
        let start = Instant::now();
        while plain(&self.log())
            .lines()
            .filter(|l| l.contains(text))
            .count()
            < count
        {
            assert!(
                start.elapsed() < PATIENCE,
                "the log never said {text:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every audit record so far.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("audit")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .map(|line| serde_json::from_str(&line).expect("an audit record is JSON"))
            .collect()
    }

    /// The audit records of `kind`, once there are `count` (the audit writer is a thread).
    pub fn wait_audit(&self, kind: &str, count: usize) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let records: Vec<_> = self
                .audit()
                .into_iter()
                .filter(|r| r["kind"] == kind)
                .collect();
            if records.len() >= count || start.elapsed() > PATIENCE {
                return records;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vigie-connector serve` on the site in `dir`; the process and its address.
fn spawn(dir: &TempDir, netns: Option<&NetNs>) -> (Child, SocketAddr) {
    let program = binaries().connector.to_str().expect("a UTF-8 path");
    let mut command = match netns {
        Some(netns) => netns.command(program),
        None => Command::new(program),
    };
    let mut child = command
        .current_dir(dir.path())
        .arg("--config")
        .arg(dir.path().join("connector.toml"))
        .args(["-vv", "serve"])
        .stdout(Stdio::piped())
        .stderr(log_file(dir))
        .spawn()
        .expect("start vigie-connector serve");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the listening line");
    let address = line
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, address)
}

/// The connector's log file, appended to across restarts.
fn log_file(dir: &TempDir) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("serve.log"))
        .expect("the connector's log")
}

fn config(world: &World, site: &Site) -> String {
    let dir = world.dir().display();
    let Site {
        listen,
        session,
        endpoints,
        extra,
        apps,
    } = site;
    format!(
        "{DIRECTORY_AND_HR}\n[listen]\n{listen}\n\
         [tls]\ncertificate = \"{dir}/connector/server-chain.pem\"\n\
         key = \"{dir}/connector/server.key.pem\"\n\
         [trust]\nroots = [\"{dir}/trust/roots\"]\n\
         intermediates = [\"{dir}/trust/intermediates\"]\ncrls = [\"{dir}/crl\"]\n\
         [session]\ndns_server = \"100.80.0.53\"\nendpoints = {endpoints}\n{session}\n\
         [state]\ndir = \"state\"\n{extra}\n{apps}"
    )
}

/// Runs an admin command of `vigie-connector` on the site; it must succeed. Its output.
fn admin(dir: &TempDir, args: &[&str]) -> String {
    let output = Command::new(&binaries().connector)
        .current_dir(dir.path())
        .arg("--config")
        .arg(dir.path().join("connector.toml"))
        .args(args)
        .env("USER", "e2e-admin")
        .env_remove("SUDO_USER")
        .output()
        .expect("run vigie-connector");
    assert!(
        output.status.success(),
        "vigie-connector {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
